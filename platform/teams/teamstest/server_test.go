package teamstest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/heraldhq/herald/platform/platformtest"
)

const validCard = `{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.4",
"body":[{"type":"TextBlock","text":"ℹ️ Title","weight":"Bolder","size":"Large","color":"Accent","wrap":true},
{"type":"FactSet","facts":[{"title":"Project","value":"Payments"}]},
{"type":"TextBlock","text":"Herald","size":"Small","isSubtle":true,"spacing":"Medium"}],
"actions":[{"type":"Action.OpenUrl","title":"View","url":"https://x.example/"}],"msteams":{"width":"Full"}}`

const validWorkflows = `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":` + validCard + `}]}`

const validMessageCard = `{"@type":"MessageCard","@context":"http://schema.org/extensions","themeColor":"0076D7","summary":"Title","title":"Title",
"sections":[{"activityTitle":"Herald","facts":[{"name":"Project","value":"Payments"}],"markdown":true}],
"potentialAction":[{"@type":"OpenUri","name":"View","targets":[{"os":"default","uri":"https://x.example/"}]}]}`

func post(t *testing.T, url, contentType, body string) (*http.Response, string) {
	t.Helper()
	return platformtest.Do(t, http.MethodPost, url, http.Header{"Content-Type": {contentType}}, body)
}

// errorCode reads the code of a Power Automate error body.
func errorCode(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Error struct {
			Code, Message string
		}
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Message == "" {
		t.Errorf("not a Power Automate error body: %q", body)
	}
	return e.Error.Code
}

func TestNewHook(t *testing.T) {
	s := NewServer(t)
	hook := s.NewHook(platformtest.HookOptions{})
	workflows := regexp.MustCompile(`^/powerautomate/automations/direct/workflows/[0-9a-f]{32}/triggers/manual/paths/invoke\?` +
		`api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1\.0&sig=[A-Za-z0-9_-]{43}$`)
	if !workflows.MatchString(strings.TrimPrefix(hook, s.URL)) {
		t.Errorf("Workflows hook %s", hook)
	}
	legacy := s.NewHook(platformtest.HookOptions{Legacy: true})
	connector := regexp.MustCompile(`^/webhookb2/[0-9a-f-]{36}@[0-9a-f-]{36}/IncomingWebhook/[0-9a-f]{32}/[0-9a-f-]{36}$`)
	if !connector.MatchString(strings.TrimPrefix(legacy, s.URL)) {
		t.Errorf("connector hook %s", legacy)
	}
	if other := s.NewHook(platformtest.HookOptions{}); other == hook {
		t.Errorf("two hooks share a URL")
	}
}

func TestWorkflowsAccepts(t *testing.T) {
	s := NewServer(t)
	hook := s.NewHook(platformtest.HookOptions{})
	resp, body := post(t, hook, "application/json; charset=utf-8", validWorkflows)
	if resp.StatusCode != http.StatusAccepted || body != "" {
		t.Errorf("got %d %q, want 202 and no body", resp.StatusCode, body)
	}
	if got := s.Accepted(hook); len(got) != 1 || string(got[0]) != validWorkflows {
		t.Errorf("accepted %q", got)
	}
	if runs := s.FailedRuns(hook); len(runs) != 0 {
		t.Errorf("failed runs %q", runs)
	}
	if other := s.NewHook(platformtest.HookOptions{}); len(s.Accepted(other)) != 0 {
		t.Errorf("another hook has messages")
	}
}

// TestWorkflowsFailedRuns: the flow answers 202 to every message it can
// read; a message it cannot post fails its run, which only FailedRuns shows.
func TestWorkflowsFailedRuns(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(validWorkflows, old) {
			t.Fatalf("no %q in the valid message", old)
		}
		return strings.Replace(validWorkflows, old, new, 1)
	}
	tests := []struct{ name, body, reason string }{
		{"no attachments", `{"type":"message","text":"hi"}`, "'foreach' expression '@triggerOutputs()?['body']?['attachments']' is of type 'Null'"},
		{"null attachments", `{"type":"message","attachments":null}`, "is of type 'Null'"},
		{"a MessageCard", validMessageCard, "is of type 'Null'"},
		{"attachments not an array", `{"attachments":{"a":1}}`, "not a valid array"},
		{"no attachment", `{"type":"message","attachments":[]}`, "posted nothing"},
		{"wrong content type", replace("application/vnd.microsoft.card.adaptive", "application/vnd.microsoft.teams.card.o365connector"), "contentType"},
		{"not an AdaptiveCard", replace(`"type":"AdaptiveCard"`, `"type":"MessageCard"`), `type is "MessageCard"`},
		{"no version", replace(`"version":"1.4",`, ``), "no version"},
		{"version 1.6", replace(`"version":"1.4"`, `"version":"1.6"`), `version "1.6"`},
		{"version 2.0", replace(`"version":"1.4"`, `"version":"2.0"`), `version "2.0"`},
		{"version not a number", replace(`"version":"1.4"`, `"version":"latest"`), `version "latest"`},
		{"unknown element", replace(`{"type":"FactSet"`, `{"type":"Fancy"`), `unknown element type "Fancy"`},
		{"Action.Submit", replace(`"type":"Action.OpenUrl"`, `"type":"Action.Submit"`), `"Action.Submit" cannot be used`},
		{"TextBlock without text", replace(`"text":"Herald",`, ``), "required property text"},
		{"TextBlock with empty text", replace(`"text":"Herald"`, `"text":""`), "required property text"},
		{"fact without value", replace(`,"value":"Payments"`, ``), "a fact needs a title and a value"},
		{"FactSet without facts", replace(`"facts":[{"title":"Project","value":"Payments"}]`, `"facts":[]`), "needs facts"},
		{"relative OpenUrl", replace(`"url":"https://x.example/"`, `"url":"/view"`), "absolute url"},
		{"bad colour", replace(`"color":"Accent"`, `"color":"Blue"`), `color "Blue"`},
		{"bad size", replace(`"size":"Large"`, `"size":"Huge"`), `size "Huge"`},
		{"nested unknown element", replace(`{"type":"FactSet"`, `{"type":"Container","items":[{"type":"Fancy"}]},{"type":"FactSet"`), "body[1].items[0]"},
		{"not UTF-8", replace("Payments", "Pay\xffments"), "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t)
			hook := s.NewHook(platformtest.HookOptions{})
			resp, body := post(t, hook, "application/json", tt.body)
			if resp.StatusCode != http.StatusAccepted || body != "" {
				t.Errorf("got %d %q, want 202 and no body", resp.StatusCode, body)
			}
			if n := len(s.Accepted(hook)); n != 0 {
				t.Errorf("%d accepted, want none", n)
			}
			runs := s.FailedRuns(hook)
			if len(runs) != 1 || !strings.Contains(runs[0], tt.reason) {
				t.Errorf("failed runs %q, want one saying %q", runs, tt.reason)
			}
			if r := s.Requests(); len(r) != 1 || !strings.Contains(r[0].Refusal, tt.reason) {
				t.Errorf("requests %+v", r)
			}
		})
	}
}

// TestWorkflowsRefuses checks the answers given before a run starts.
func TestWorkflowsRefuses(t *testing.T) {
	withQuery := func(hook string, edit func(url.Values)) string {
		u, _ := url.Parse(hook)
		q := u.Query()
		edit(q)
		u.RawQuery = q.Encode()
		return u.String()
	}
	tests := []struct {
		name                     string
		method, contentType, url func(hook string) string
		body                     string
		status                   int
		code                     string
	}{
		{name: "GET", method: func(string) string { return http.MethodGet }, status: 400, code: "TriggerRequestMethodNotValid"},
		{name: "no signature", url: func(h string) string { return withQuery(h, func(q url.Values) { q.Del("sig") }) }, status: 401, code: "DirectApiAuthorizationRequired"},
		{name: "wrong signature", url: func(h string) string { return withQuery(h, func(q url.Values) { q.Set("sig", "not-"+q.Get("sig")) }) }, status: 401, code: "DirectApiInvalidAuthorizationSignature"},
		{name: "unknown workflow", url: func(h string) string { return strings.Replace(h, "/workflows/", "/workflows/f", 1) }, status: 404, code: "WorkflowNotFound"},
		{name: "not JSON", contentType: func(string) string { return "text/plain" }, status: 400, code: "TriggerInputSchemaMismatch"},
		{name: "malformed JSON", body: `{"type":`, status: 400, code: "InvalidRequestContent"},
		{name: "JSON array", body: `[1]`, status: 400, code: "InvalidRequestContent"},
		{name: "over 28 KB", body: `{"type":"message","x":"` + strings.Repeat("a", MaxMessageBytes) + `"}`, status: 413, code: "RequestEntityTooLarge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t)
			hook := s.NewHook(platformtest.HookOptions{})
			method, contentType, target, body := http.MethodPost, "application/json", hook, validWorkflows
			if tt.method != nil {
				method = tt.method(hook)
			}
			if tt.contentType != nil {
				contentType = tt.contentType(hook)
			}
			if tt.url != nil {
				target = tt.url(hook)
			}
			if tt.body != "" {
				body = tt.body
			}
			resp, reply := platformtest.Do(t, method, target, http.Header{"Content-Type": {contentType}}, body)
			if resp.StatusCode != tt.status || errorCode(t, reply) != tt.code {
				t.Errorf("got %d %s, want %d %s", resp.StatusCode, reply, tt.status, tt.code)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			if len(s.Accepted(hook)) != 0 || len(s.FailedRuns(hook)) != 0 {
				t.Errorf("a refused request started a run")
			}
		})
	}
}

func TestConnectorAnswers(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(validMessageCard, old) {
			t.Fatalf("no %q in the valid card", old)
		}
		return strings.Replace(validMessageCard, old, new, 1)
	}
	tests := []struct {
		name, contentType, body string
		status                  int
		reply                   string
		accepted                bool
	}{
		{"a MessageCard", "application/json", validMessageCard, 200, Delivered, true},
		{"text only", "application/json", `{"text":"hello"}`, 200, Delivered, true},
		{"a Workflows message", "application/json", validWorkflows, 200, Delivered, true},
		{"neither summary nor text", "application/json", replace(`"summary":"Title",`, ``), 400, SummaryRequired, false},
		{"blank summary", "application/json", replace(`"summary":"Title"`, `"summary":"  "`), 400, SummaryRequired, false},
		{"malformed JSON", "application/json", `{"summary":`, 400, BadPayload, false},
		{"not JSON", "text/plain", validMessageCard, 400, BadPayload, false},
		{"another @type", "application/json", replace(`"@type":"MessageCard"`, `"@type":"AdaptiveCard"`), 400, BadPayload, false},
		{"fact without value", "application/json", replace(`,"value":"Payments"`, ``), 400, BadPayload, false},
		{"OpenUri without targets", "application/json", replace(`"targets":[{"os":"default","uri":"https://x.example/"}]`, `"targets":[]`), 400, BadPayload, false},
		{"relative OpenUri", "application/json", replace(`"uri":"https://x.example/"`, `"uri":"x"`), 400, BadPayload, false},
		{"an invalid Adaptive Card", "application/json", strings.Replace(validWorkflows, `"version":"1.4"`, `"version":"9.0"`, 1), 200, TeamsError(400), false},
		{"over 28 KB", "application/json", `{"text":"` + strings.Repeat("a", MaxMessageBytes) + `"}`, 200, TeamsError(413), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t)
			hook := s.NewHook(platformtest.HookOptions{Legacy: true})
			resp, reply := post(t, hook, tt.contentType, tt.body)
			if resp.StatusCode != tt.status || reply != tt.reply {
				t.Errorf("got %d %q, want %d %q (%s)", resp.StatusCode, reply, tt.status, tt.reply, s.Requests()[0].Refusal)
			}
			if accepted := len(s.Accepted(hook)) == 1; accepted != tt.accepted {
				t.Errorf("accepted %v, want %v", accepted, tt.accepted)
			}
		})
	}
}

func TestConnectorPathsAndMethods(t *testing.T) {
	s := NewServer(t)
	hook := s.NewHook(platformtest.HookOptions{Legacy: true})
	s.FailNext(1, 500, "boom", nil)
	if resp, _ := post(t, hook+"0", "application/json", validMessageCard); resp.StatusCode != http.StatusGone {
		t.Errorf("unknown connector: %d, want 410", resp.StatusCode)
	}
	if resp, _ := platformtest.Do(t, http.MethodGet, hook, nil, ""); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", resp.StatusCode)
	}
	if resp, body := post(t, hook, "application/json", validMessageCard); resp.StatusCode != 500 || body != "boom" {
		t.Errorf("the injected failure: %d %q", resp.StatusCode, body)
	}
	if resp, _ := post(t, s.URL+"/elsewhere", "application/json", validMessageCard); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path: %d, want 404", resp.StatusCode)
	}
}

func TestConnectorRateLimit(t *testing.T) {
	for _, tt := range []struct {
		name              string
		perSecond, per30s int
	}{{"per second", 2, 0}, {"per 30 seconds", 0, 2}} {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t)
			s.SetConnectorLimits(tt.perSecond, tt.per30s)
			hook, other := s.NewHook(platformtest.HookOptions{Legacy: true}), s.NewHook(platformtest.HookOptions{Legacy: true})
			var replies []string
			for range 3 {
				resp, body := post(t, hook, "application/json", validMessageCard)
				if resp.StatusCode != 200 {
					t.Errorf("status %d, want 200 even when limited", resp.StatusCode)
				}
				replies = append(replies, body)
			}
			if replies[0] != Delivered || replies[1] != Delivered || replies[2] != TeamsError(429) {
				t.Errorf("replies %q, want 1, 1 and the 429 text", replies)
			}
			if n := len(s.Accepted(hook)); n != 2 {
				t.Errorf("%d accepted, want 2", n)
			}
			if _, body := post(t, other, "application/json", validMessageCard); body != Delivered {
				t.Errorf("another hook was limited too: %q", body)
			}
		})
	}
}

// TestInjectedAnswers checks that RateLimitNext and RejectNext answer for
// the kind of hook hit, from one queue with FailNext.
func TestInjectedAnswers(t *testing.T) {
	s := NewServer(t)
	workflows := s.NewHook(platformtest.HookOptions{})
	if code := s.RejectNext(1); code != "WorkflowNotFound" {
		t.Errorf("RejectNext after a Workflows hook = %q", code)
	}
	connector := s.NewHook(platformtest.HookOptions{Legacy: true})
	if code := s.RejectNext(1); code != BadPayload {
		t.Errorf("RejectNext after a connector hook = %q", code)
	}
	s.RateLimitNext(2)
	s.FailNext(1, 503, "busy", nil)

	// Each rejection takes the form of the hook it hits, whichever hook
	// was issued when it was queued.
	if resp, body := post(t, connector, "application/json", validMessageCard); resp.StatusCode != 400 || body != BadPayload {
		t.Errorf("first rejection on a connector: %d %q", resp.StatusCode, body)
	}
	if resp, body := post(t, workflows, "application/json", validWorkflows); resp.StatusCode != 404 || errorCode(t, body) != "WorkflowNotFound" {
		t.Errorf("second rejection on a Workflows hook: %d %q", resp.StatusCode, body)
	}
	if resp, body := post(t, workflows, "application/json", validWorkflows); resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" || errorCode(t, body) == "" {
		t.Errorf("rate limit on a Workflows hook: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if resp, body := post(t, connector, "application/json", validMessageCard); resp.StatusCode != 200 || body != TeamsError(429) {
		t.Errorf("rate limit on a connector: %d %q", resp.StatusCode, body)
	}
	if resp, body := post(t, connector, "application/json", validMessageCard); resp.StatusCode != 503 || body != "busy" {
		t.Errorf("FailNext: %d %q", resp.StatusCode, body)
	}
	if resp, body := post(t, connector, "application/json", validMessageCard); resp.StatusCode != 200 || body != Delivered {
		t.Errorf("after the injections: %d %q", resp.StatusCode, body)
	}
	if n := len(s.Accepted(workflows)) + len(s.FailedRuns(workflows)); n != 0 {
		t.Errorf("an injected answer started %d runs", n)
	}
}

func TestCheckCardVersions(t *testing.T) {
	for v, ok := range map[string]bool{"1.0": true, "1.2": true, "1.4": true, "1.5": true, "1.6": false, "2.0": false, "1": false, "1.x": false, "": false, "-1.0": false} {
		card := strings.Replace(validCard, `"version":"1.4"`, `"version":"`+v+`"`, 1)
		if err := CheckCard([]byte(card)); (err == nil) != ok {
			t.Errorf("version %q: %v, want accepted %v", v, err, ok)
		}
	}
}
