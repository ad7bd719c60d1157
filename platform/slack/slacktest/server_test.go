package slacktest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/platform/platformtest"
)

const valid = `{"text":"fallback","attachments":[{"color":"#439FE0","blocks":[
{"type":"header","text":{"type":"plain_text","text":"ℹ️ Title","emoji":true}},
{"type":"section","text":{"type":"mrkdwn","text":"description"}},
{"type":"section","fields":[{"type":"mrkdwn","text":"*Project*\nPayments"}]},
{"type":"context","elements":[{"type":"mrkdwn","text":"Herald"}]},
{"type":"actions","elements":[{"type":"button","text":{"type":"plain_text","text":"View"},"url":"https://x.example/"}]}]}]}`

func post(t *testing.T, url, contentType, body string) (int, string) {
	t.Helper()
	resp, reply := platformtest.Do(t, http.MethodPost, url, http.Header{"Content-Type": {contentType}}, body)
	return resp.StatusCode, reply
}

func TestServerAccepts(t *testing.T) {
	s := NewServer(t)
	hook := s.NewHook(platformtest.HookOptions{})
	if !strings.HasPrefix(hook, s.URL+"/services/T") {
		t.Errorf("hook URL %s", hook)
	}
	resp, reply := platformtest.Do(t, http.MethodPost, hook, http.Header{"Content-Type": {"application/json; charset=utf-8"}}, valid)
	if resp.StatusCode != 200 || reply != "ok" || resp.Header.Get("Content-Type") != "text/html" {
		t.Errorf("got %d %q %s, want 200 ok text/html", resp.StatusCode, reply, resp.Header.Get("Content-Type"))
	}
	if got := s.WaitMessages(t, hook, 1, time.Second); string(got[0]) != valid {
		t.Errorf("recorded %s", got[0])
	}
	if other := s.NewHook(platformtest.HookOptions{}); len(s.Messages(other)) != 0 {
		t.Errorf("another hook has messages")
	}
	reqs := s.Requests()
	if len(reqs) != 1 || reqs[0].Status != 200 || string(reqs[0].Body) != valid || reqs[0].Path != strings.TrimPrefix(hook, s.URL) {
		t.Errorf("requests %+v", reqs)
	}
}

func TestServerRefuses(t *testing.T) {
	replace := func(old, new string) string { return strings.Replace(valid, old, new, 1) }
	many := func(item string, n int) string { return strings.TrimSuffix(strings.Repeat(item+",", n), ",") }
	tests := []struct {
		name, contentType, body string
		status                  int
		code                    string
	}{
		{"form body", "application/x-www-form-urlencoded", valid, 400, "invalid_payload"},
		{"not JSON", "application/json", `{"text":`, 400, "invalid_payload"},
		{"not UTF-8", "application/json", "{\"text\":\"\xff\"}", 400, "invalid_payload"},
		{"empty", "application/json", `{}`, 400, "no_text"},
		{"header too long", "application/json", replace("ℹ️ Title", strings.Repeat("界", 151)), 400, "invalid_payload"},
		{"header mrkdwn", "application/json", replace(`"plain_text","text":"ℹ️`, `"mrkdwn","text":"ℹ️`), 400, "invalid_payload"},
		{"empty section", "application/json", replace(`"text":"description"`, `"text":""`), 400, "invalid_payload"},
		{"section too long", "application/json", replace("description", strings.Repeat("a", 3001)), 400, "invalid_payload"},
		{"bad text type", "application/json", replace(`"mrkdwn","text":"description"`, `"markdown","text":"description"`), 400, "invalid_payload"},
		{"field too long", "application/json", replace("Payments", strings.Repeat("b", 2000)), 400, "invalid_payload"},
		{"too many fields", "application/json", replace(`{"type":"mrkdwn","text":"*Project*\nPayments"}`, many(`{"type":"mrkdwn","text":"f"}`, 11)), 400, "invalid_payload"},
		{"button text too long", "application/json", replace(`"View"`, `"`+strings.Repeat("v", 76)+`"`), 400, "invalid_payload"},
		{"button URL too long", "application/json", replace("https://x.example/", "https://x.example/"+strings.Repeat("u", 3000)), 400, "invalid_payload"},
		{"too many actions", "application/json", replace(`{"type":"button","text":{"type":"plain_text","text":"View"},"url":"https://x.example/"}`, many(`{"type":"button","text":{"type":"plain_text","text":"V"}}`, 26)), 400, "invalid_payload"},
		{"too many blocks", "application/json", `{"blocks":[` + many(`{"type":"divider"}`, 51) + `]}`, 400, "invalid_payload"},
		{"too many blocks in all", "application/json", `{"blocks":[` + many(`{"type":"divider"}`, 30) + `],"attachments":[{"blocks":[` + many(`{"type":"divider"}`, 30) + `]}]}`, 400, "invalid_payload"},
		{"too many attachments", "application/json", `{"attachments":[` + many(`{"color":"#fff"}`, 101) + `]}`, 400, "too_many_attachments"},
		{"emoji on mrkdwn", "application/json", replace(`"text":"description"`, `"text":"description","emoji":true`), 400, "invalid_payload"},
		{"wrong JSON type", "application/json", replace(`"text":"fallback"`, `"text":7`), 400, "invalid_payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t)
			hook := s.NewHook(platformtest.HookOptions{})
			status, body := post(t, hook, tt.contentType, tt.body)
			if status != tt.status || body != tt.code {
				t.Errorf("got %d %q, want %d %q (%s)", status, body, tt.status, tt.code, s.Requests()[0].Refusal)
			}
			if len(s.Messages(hook)) != 0 {
				t.Errorf("the refused message was recorded as accepted")
			}
		})
	}
}

// TestServerPathsAndMethods checks that unknown hooks and other methods are
// refused before an injected failure is used up.
func TestServerPathsAndMethods(t *testing.T) {
	s := NewServer(t)
	hook := s.NewHook(platformtest.HookOptions{})
	s.FailNext(1, 500, "rollup_error", nil)
	if status, body := post(t, s.URL+"/services/T1/B1/unknown", "application/json", valid); status != 404 || body != "no_service" {
		t.Errorf("unknown hook: %d %q", status, body)
	}
	if resp, body := platformtest.Do(t, http.MethodGet, hook, nil, ""); resp.StatusCode != 405 || body != "invalid_method" {
		t.Errorf("GET: %d %q", resp.StatusCode, body)
	}
	if status, body := post(t, hook, "application/json", valid); status != 500 || body != "rollup_error" {
		t.Errorf("the injected failure: %d %q", status, body)
	}
}

func TestServerRateLimit(t *testing.T) {
	s := NewServer(t)
	s.SetRateLimit(2)
	hook, other := s.NewHook(platformtest.HookOptions{}), s.NewHook(platformtest.HookOptions{})
	var statuses []int
	for range 3 {
		status, _ := post(t, hook, "application/json", valid)
		statuses = append(statuses, status)
	}
	if statuses[0] != 200 || statuses[1] != 200 || statuses[2] != 429 {
		t.Errorf("statuses %v, want 200 200 429", statuses)
	}
	if r := s.Requests()[2]; r.Reply != "rate_limited" {
		t.Errorf("rate-limited reply %q", r.Reply)
	}
	if status, _ := post(t, other, "application/json", valid); status != 200 {
		t.Errorf("another hook was limited too: %d", status)
	}
}
