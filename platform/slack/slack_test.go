package slack

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/platform/platformtest"
	"github.com/heraldhq/herald/platform/slack/slacktest"
)

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url     string
		wantErr string
	}{
		{"https://hooks.slack.com/services/T000/B000/XXXX", ""},
		{"https://HOOKS.Slack.com/services/T000/B000/XXXX", ""},
		{"https://hooks.slack-gov.com/services/T000/B000/XXXX", ""},
		{"https://hooks.slack.com:443/services/T000/B000/XXXX", ""},
		{"https://slack.com/services/T000/B000/XXXX", `host "slack.com" is not accepted for SLACK webhooks (accepted: hooks.slack.com, hooks.slack-gov.com)`},
		{"https://hooks.slack.com.evil.example/services/T/B/X", `host "hooks.slack.com.evil.example" is not accepted`},
		{"https://evil.example/services/hooks.slack.com", `host "evil.example" is not accepted`},
		{"https://hooks.slack.com/api/chat.postMessage", "path must start with /services/ for SLACK webhooks"},
		{"https://hooks.slack.com/services", "path must start with /services/"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		err = New().CheckURL(u)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("CheckURL(%s) = %v, want nil", tt.url, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("CheckURL(%s) = %v, want an error containing %q", tt.url, err, tt.wantErr)
		case err != nil && strings.Contains(err.Error(), "XXXX"):
			t.Errorf("CheckURL(%s) = %v quotes the secret path", tt.url, err)
		}
	}
}

// send posts m to a new hook of a new fake Slack, after fail (if any) has
// set the fake up.
func send(t *testing.T, m *message.Message, fail func(*slacktest.Server)) (platform.Result, *slacktest.Server, string) {
	t.Helper()
	srv := slacktest.NewServer(t)
	hook := srv.NewHook(platformtest.HookOptions{})
	if fail != nil {
		fail(srv)
	}
	res := New().Send(context.Background(), &http.Client{Timeout: 5 * time.Second}, &platform.Request{
		Webhook: &herald.Webhook{Type: herald.Slack, URL: hook},
		Message: m,
	})
	return res, srv, hook
}

func TestSend(t *testing.T) {
	failNext := func(status int, body string, header http.Header) func(*slacktest.Server) {
		return func(s *slacktest.Server) { s.FailNext(1, status, body, header) }
	}
	tests := []struct {
		name       string
		fail       func(*slacktest.Server)
		outcome    herald.Outcome
		status     int
		code       string
		retryAfter time.Duration
		err        string
	}{
		{name: "accepted", outcome: herald.OutcomeSuccess, status: 200, code: "ok"},
		{
			name:    "rate limited",
			fail:    failNext(429, "rate_limited", http.Header{"Retry-After": {"2"}}),
			outcome: herald.OutcomeRateLimited, status: 429, code: "rate_limited", retryAfter: 2 * time.Second,
			err: "Slack answered 429 rate_limited",
		},
		{
			name:    "server error",
			fail:    failNext(500, "rollup_error", nil),
			outcome: herald.OutcomeRetryable, status: 500, code: "rollup_error", err: "Slack answered 500 rollup_error",
		},
		{
			name:    "channel not found",
			fail:    failNext(404, "channel_not_found\n", nil),
			outcome: herald.OutcomePermanent, status: 404, code: "channel_not_found", err: "Slack answered 404 channel_not_found",
		},
		{
			name:    "archived channel",
			fail:    failNext(410, "channel_is_archived", nil),
			outcome: herald.OutcomePermanent, status: 410, code: "channel_is_archived",
		},
		{
			name:    "200 without ok",
			fail:    failNext(200, "invalid_token", nil),
			outcome: herald.OutcomePermanent, status: 200, code: "invalid_token", err: "Slack answered 200 invalid_token",
		},
		{
			name:    "200 with ok and more",
			fail:    failNext(200, "ok, but", nil),
			outcome: herald.OutcomePermanent, status: 200, code: "ok, but",
		},
		{
			name:    "2xx other than 200",
			fail:    failNext(204, "", nil),
			outcome: herald.OutcomePermanent, status: 204, err: "Slack answered 204",
		},
		{
			name:    "long error body",
			fail:    failNext(400, strings.Repeat("x", 500), nil),
			outcome: herald.OutcomePermanent, status: 400, code: strings.Repeat("x", 99) + message.Ellipsis,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := platformtest.FixtureMessage(herald.IssueCreated)
			res, srv, hook := send(t, m, tt.fail)
			if res.Outcome != tt.outcome || res.HTTPStatus != tt.status || res.PlatformCode != tt.code || res.RetryAfter != tt.retryAfter {
				t.Errorf("got %s %d %q retry after %v, want %s %d %q retry after %v (error %q)",
					res.Outcome, res.HTTPStatus, res.PlatformCode, res.RetryAfter, tt.outcome, tt.status, tt.code, tt.retryAfter, res.Error)
			}
			if (tt.outcome == herald.OutcomeSuccess) != (res.Error == "") || !strings.Contains(res.Error, tt.err) {
				t.Errorf("error %q, want one containing %q", res.Error, tt.err)
			}
			want, _ := Render(m)
			if res.RequestBody != string(want) {
				t.Errorf("request body %s, want the rendered message", res.RequestBody)
			}
			reqs := srv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("the fake got %d requests, want 1", len(reqs))
			}
			if res.ResponseBody != reqs[0].Reply {
				t.Errorf("response body %q not recorded", res.ResponseBody)
			}
			if ct := reqs[0].Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			wantAccepted := 0
			if tt.outcome == herald.OutcomeSuccess {
				wantAccepted = 1
			}
			if accepted := len(srv.Messages(hook)); accepted != wantAccepted {
				t.Errorf("the fake accepted %d messages, want %d", accepted, wantAccepted)
			}
		})
	}
}

func TestSendConnectionRefused(t *testing.T) {
	srv := slacktest.NewServer(t)
	hook := srv.NewHook(platformtest.HookOptions{})
	srv.Close()
	res := New().Send(context.Background(), &http.Client{Timeout: 5 * time.Second}, &platform.Request{
		Webhook: &herald.Webhook{Type: herald.Slack, URL: hook},
		Message: platformtest.FixtureMessage(herald.IssueCreated),
	})
	if res.Outcome != herald.OutcomeRetryable || res.HTTPStatus != 0 || res.Error == "" {
		t.Fatalf("got %s %d %q, want RETRYABLE with no status and an error", res.Outcome, res.HTTPStatus, res.Error)
	}
	secret := strings.TrimPrefix(hook, srv.URL+"/services/")
	if strings.Contains(res.Error, secret) || strings.Contains(res.Error, "/services/") {
		t.Errorf("error %q reveals the hook path", res.Error)
	}
}

func TestSendUnknownHook(t *testing.T) {
	srv := slacktest.NewServer(t)
	res := New().Send(context.Background(), &http.Client{Timeout: 5 * time.Second}, &platform.Request{
		Webhook: &herald.Webhook{Type: herald.Slack, URL: srv.URL + "/services/T1/B1/revoked"},
		Message: platformtest.FixtureMessage(herald.IssueCreated),
	})
	if res.Outcome != herald.OutcomePermanent || res.PlatformCode != "no_service" {
		t.Errorf("got %s %q, want PERMANENT no_service", res.Outcome, res.PlatformCode)
	}
}
