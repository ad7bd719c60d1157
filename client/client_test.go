package client_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/client"
)

// A fake API that checks what the client sends.
func TestClient(t *testing.T) {
	var gotAuth, gotPath, gotQuery, gotType string
	var gotBody map[string]any
	status := http.StatusAccepted
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotPath, gotQuery, gotType = r.Header.Get("Authorization"), r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Content-Type")
		b, _ := io.ReadAll(r.Body)
		gotBody = nil
		_ = json.Unmarshal(b, &gotBody)
		switch r.URL.Path {
		case "/v1/projects/p/events":
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"name":"projects/p/events/e1","eventId":"e1","type":"ISSUE_CREATED","deliveries":[{"name":"projects/p/deliveries/d1","state":"PENDING"}]}`))
		case "/v1/projects/missing":
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"code":404,"status":"NOT_FOUND","message":"project \"missing\" not found"}}`))
		case "/v1/projects/p/deliveries":
			_, _ = w.Write([]byte(`{"deliveries":[{"name":"projects/p/deliveries/d1"}],"nextPageToken":"tok"}`))
		default:
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("upstream broke"))
		}
	}))
	defer srv.Close()
	c := client.New(srv.URL+"/", "s3cret")

	ev, created, err := c.Publish(t.Context(), "p", &herald.Event{Type: herald.IssueCreated, Issue: &herald.Issue{ID: "1", Title: "t"}})
	if err != nil || !created || ev.EventID != "e1" || client.ID(ev.Deliveries[0].Name) != "d1" {
		t.Fatalf("publish: %v %v %+v", err, created, ev)
	}
	if gotAuth != "Bearer s3cret" || gotPath != "/v1/projects/p/events" || gotType != "application/json" || gotBody["type"] != "ISSUE_CREATED" {
		t.Fatalf("sent %s %s %s %v", gotAuth, gotPath, gotType, gotBody)
	}
	status = http.StatusOK
	if _, created, _ := c.Publish(t.Context(), "p", &herald.Event{Type: herald.IssueCreated}); created {
		t.Fatal("a 200 answer is a repeated eventId: created must be false")
	}

	_, err = c.GetProject(t.Context(), "missing")
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.Code != 404 || apiErr.Status != "NOT_FOUND" {
		t.Fatalf("error answer: %v", err)
	}

	ds, next, err := c.ListDeliveries(t.Context(), "p", client.DeliveryFilter{Webhook: "projects/p/webhooks/w", State: herald.StateFailed}, client.Page{Size: 5, Token: "abc"})
	if err != nil || len(ds) != 1 || next != "tok" {
		t.Fatalf("list: %v %v %q", err, ds, next)
	}
	if gotQuery != "pageSize=5&pageToken=abc&state=FAILED&webhook=projects%2Fp%2Fwebhooks%2Fw" {
		t.Fatalf("query %q", gotQuery)
	}

	_, err = c.GetEvent(t.Context(), "p", "e")
	if !errors.As(err, &apiErr) || apiErr.Code != 502 || apiErr.Message != "upstream broke" {
		t.Fatalf("a non-JSON error answer: %v", err)
	}
}

func TestID(t *testing.T) {
	if got := client.ID("projects/p/deliveries/d-1"); got != "d-1" {
		t.Fatal(got)
	}
}
