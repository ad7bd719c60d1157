package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/server"
	"github.com/heraldhq/herald/service"
)

// call sends a raw request to the API and returns the status and the
// decoded error (if any).
func (e *env) call(method, path, contentType string, body []byte, auth string) (int, *client.Error) {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.url+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode < 400 {
		return resp.StatusCode, nil
	}
	var out struct {
		Error *client.Error `json:"error"`
	}
	if err := json.Unmarshal(data, &out); err != nil || out.Error == nil {
		e.t.Fatalf("%s %s: %d with a body not in the error shape: %s", method, path, resp.StatusCode, data)
	}
	if out.Error.Code != resp.StatusCode {
		e.t.Fatalf("%s %s: error code %d in a %d answer", method, path, out.Error.Code, resp.StatusCode)
	}
	return resp.StatusCode, out.Error
}

// snapshot is what Herald has stored, as the API shows it.
func (e *env) snapshot() string {
	e.t.Helper()
	var b strings.Builder
	ps, _, err := e.c.ListProjects(e.t.Context(), client.Page{Size: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, p := range ps {
		ws, _, err := e.c.ListWebhooks(e.t.Context(), p.ProjectID, client.Page{Size: 1000})
		if err != nil {
			e.t.Fatal(err)
		}
		ds, _, err := e.c.ListDeliveries(e.t.Context(), p.ProjectID, client.DeliveryFilter{}, client.Page{Size: 1000})
		if err != nil {
			e.t.Fatal(err)
		}
		j, _ := json.Marshal([]any{p, ws, ds})
		b.Write(j)
	}
	return b.String()
}

// Bad input gets the documented status and error and changes nothing: no
// row is stored and no request reaches a platform.
func TestBadInputChangesNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		e := start(t, backend, func(c *server.Config) { c.Network.AllowPrivate = false; c.Network.AllowedHosts = nil })
		e.project("p")
		e.project("q")
		// A webhook of project q, created while private targets were allowed
		// would be refused now, so use a public-looking URL that is never
		// dialled in this test.
		other, err := e.c.CreateWebhook(t.Context(), "q", webhookJSON(herald.Custom, "https://example.com/q-hook"))
		if err != nil {
			t.Fatal(err)
		}
		before := e.snapshot()
		slackRequests, customRequests := len(e.slack.Requests()), len(e.custom.Requests())

		const json1 = "application/json"
		bearer := "Bearer " + token
		issue := `"issue":{"id":"1","title":"t"}`
		big := `{"type":"ISSUE_CREATED",` + issue + `,"description":"` + strings.Repeat("x", 2<<20) + `"}`
		hook := func(typ, url string) string {
			return `{"type":"` + typ + `","title":"t","url":"` + url + `","notificationTypes":["ISSUE_CREATED"]}`
		}
		cases := []struct {
			name, method, path, body, auth string
			status                         int
			errStatus, contains            string
		}{
			{"no token", "POST", "/v1/projects", `{"projectId":"x","title":"x"}`, "", 401, "UNAUTHENTICATED", "bearer"},
			{"wrong token", "POST", "/v1/projects", `{"projectId":"x","title":"x"}`, "Bearer nope", 401, "UNAUTHENTICATED", "bearer"},
			{"malformed JSON", "POST", "/v1/projects/p/events", `{"type":`, bearer, 400, "INVALID_ARGUMENT", "JSON"},
			{"unknown field", "POST", "/v1/projects/p/events", `{"type":"ISSUE_CREATED",` + issue + `,"colour":"red"}`, bearer, 400, "INVALID_ARGUMENT", "colour"},
			{"2 MiB body", "POST", "/v1/projects/p/events", big, bearer, 413, "RESOURCE_EXHAUSTED", "1 MiB"},
			{"unknown event type", "POST", "/v1/projects/p/events", `{"type":"ISSUE_EXPLODED",` + issue + `}`, bearer, 400, "INVALID_ARGUMENT", "type"},
			{"issue event without issue", "POST", "/v1/projects/p/events", `{"type":"ISSUE_APPROVAL_REQUESTED"}`, bearer, 400, "INVALID_ARGUMENT", "issue"},
			{"issue without title", "POST", "/v1/projects/p/events", `{"type":"ISSUE_CREATED","issue":{"id":"1","title":""}}`, bearer, 400, "INVALID_ARGUMENT", "issue.title"},
			{"pipeline event without rollout", "POST", "/v1/projects/p/events", `{"type":"PIPELINE_FAILED"}`, bearer, 400, "INVALID_ARGUMENT", "rollout"},
			{"bad recipient phone", "POST", "/v1/projects/p/events", `{"type":"ISSUE_APPROVED",` + issue + `,"recipients":[{"phone":"12345"}]}`, bearer, 400, "INVALID_ARGUMENT", "recipients[0].phone"},
			{"unknown project event", "POST", "/v1/projects/nope/events", `{"type":"ISSUE_CREATED",` + issue + `}`, bearer, 404, "NOT_FOUND", "nope"},
			{"unknown project webhook", "POST", "/v1/projects/nope/webhooks", hook("CUSTOM", "https://example.com/h"), bearer, 404, "NOT_FOUND", "nope"},
			{"another project's webhook", "GET", "/v1/projects/p/webhooks/" + other.ID, "", bearer, 404, "NOT_FOUND", other.ID},
			{"another project's webhook patch", "PATCH", "/v1/projects/p/webhooks/" + other.ID, `{"title":"mine"}`, bearer, 404, "NOT_FOUND", other.ID},
			{"another project's webhook delete", "DELETE", "/v1/projects/p/webhooks/" + other.ID, "", bearer, 404, "NOT_FOUND", other.ID},
			{"another project's webhook test", "POST", "/v1/projects/p/webhooks/" + other.ID + ":test", "", bearer, 404, "NOT_FOUND", other.ID},
			{"wrong host for SLACK", "POST", "/v1/projects/p/webhooks", hook("SLACK", "https://hooks.example.com/services/T1/B1/XYZ"), bearer, 400, "INVALID_ARGUMENT", `host "hooks.example.com" is not accepted for SLACK`},
			{"unknown webhook type", "POST", "/v1/projects/p/webhooks", hook("PAGER", "https://example.com/h"), bearer, 400, "INVALID_ARGUMENT", "type"},
			{"loopback URL", "POST", "/v1/projects/p/webhooks", hook("CUSTOM", "http://127.0.0.1:9/h"), bearer, 400, "INVALID_ARGUMENT", "127.0.0.1"},
			{"metadata URL", "POST", "/v1/projects/p/webhooks", hook("CUSTOM", "http://169.254.169.254/latest/meta-data"), bearer, 400, "INVALID_ARGUMENT", "169.254.169.254"},
			{"localhost URL", "POST", "/v1/projects/p/webhooks", hook("CUSTOM", "http://localhost:8080/h"), bearer, 400, "INVALID_ARGUMENT", "localhost"},
			{"ftp URL", "POST", "/v1/projects/p/webhooks", hook("CUSTOM", "ftp://example.com/h"), bearer, 400, "INVALID_ARGUMENT", "ftp"},
			{"no notification types", "POST", "/v1/projects/p/webhooks", `{"type":"CUSTOM","title":"t","url":"https://example.com/h","notificationTypes":[]}`, bearer, 400, "INVALID_ARGUMENT", "notificationTypes"},
			{"duplicate notification types", "POST", "/v1/projects/p/webhooks", `{"type":"CUSTOM","title":"t","url":"https://example.com/h","notificationTypes":["ISSUE_CREATED","ISSUE_CREATED"]}`, bearer, 400, "INVALID_ARGUMENT", "notificationTypes"},
			{"direct messages on CUSTOM", "POST", "/v1/projects/p/webhooks", `{"type":"CUSTOM","title":"t","url":"https://example.com/h","notificationTypes":["ISSUE_CREATED"],"directMessage":true}`, bearer, 400, "INVALID_ARGUMENT", "directMessage"},
			{"bad CUSTOM secret", "POST", "/v1/projects/p/webhooks", `{"type":"CUSTOM","title":"t","url":"https://example.com/h","notificationTypes":["ISSUE_CREATED"],"signingSecret":"hunter2"}`, bearer, 400, "INVALID_ARGUMENT", "signingSecret"},
			{"type change", "PATCH", "/v1/projects/q/webhooks/" + other.ID, `{"type":"SLACK"}`, bearer, 400, "INVALID_ARGUMENT", "immutable"},
			{"patch to a private URL", "PATCH", "/v1/projects/q/webhooks/" + other.ID, `{"url":"http://10.0.0.1/h"}`, bearer, 400, "INVALID_ARGUMENT", "10.0.0.1"},
			{"bad project id", "POST", "/v1/projects", `{"projectId":"Bad_ID","title":"x"}`, bearer, 400, "INVALID_ARGUMENT", "projectId"},
			{"duplicate project", "POST", "/v1/projects", `{"projectId":"p","title":"x"}`, bearer, 409, "ALREADY_EXISTS", `"p"`},
			{"empty title", "PATCH", "/v1/projects/p", `{"title":""}`, bearer, 400, "INVALID_ARGUMENT", "title"},
			{"page too large", "GET", "/v1/projects?pageSize=5000", "", bearer, 400, "INVALID_ARGUMENT", "pageSize"},
			{"bad page token", "GET", "/v1/projects/p/deliveries?pageToken=%25%25", "", bearer, 400, "INVALID_ARGUMENT", "pageToken"},
			{"bad state filter", "GET", "/v1/projects/p/deliveries?state=DONE", "", bearer, 400, "INVALID_ARGUMENT", "state"},
			{"unknown delivery", "POST", "/v1/projects/p/deliveries/nope:retry", "", bearer, 404, "NOT_FOUND", "nope"},
			{"unknown event", "GET", "/v1/projects/p/events/nope", "", bearer, 404, "NOT_FOUND", "nope"},
		}
		for _, tc := range cases {
			status, apiErr := e.call(tc.method, tc.path, json1, []byte(tc.body), tc.auth)
			if status != tc.status {
				t.Errorf("%s: status %d, want %d (%+v)", tc.name, status, tc.status, apiErr)
				continue
			}
			if apiErr.Status != tc.errStatus || !strings.Contains(apiErr.Message, tc.contains) {
				t.Errorf("%s: error %s %q, want %s containing %q", tc.name, apiErr.Status, apiErr.Message, tc.errStatus, tc.contains)
			}
		}
		if after := e.snapshot(); after != before {
			t.Errorf("bad input changed what is stored:\nbefore %s\nafter  %s", before, after)
		}
		if len(e.slack.Requests()) != slackRequests || len(e.custom.Requests()) != customRequests {
			t.Error("bad input sent requests to platforms")
		}
	})
}

func webhookJSON(t herald.WebhookType, url string) service.WebhookCreate {
	return service.WebhookCreate{Type: t, Title: "t", URL: url, NotificationTypes: []herald.EventType{herald.IssueCreated}}
}
