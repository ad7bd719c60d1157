package slack

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/platform/platformtest"
	"github.com/heraldhq/herald/platform/slack/slacktest"
)

func TestTypeAndLimits(t *testing.T) {
	platformtest.CheckTypeAndLimits(t, New(), herald.Slack, platform.Limit{N: 1, Per: time.Second})
}

func TestCheckURL(t *testing.T) {
	platformtest.CheckURLs(t, New().CheckURL, []string{"XXXX"}, []platformtest.URLCase{
		{URL: "https://hooks.slack.com/services/T000/B000/XXXX"},
		{URL: "https://HOOKS.Slack.com/services/T000/B000/XXXX"},
		{URL: "https://hooks.slack-gov.com/services/T000/B000/XXXX"},
		{URL: "https://hooks.slack.com:443/services/T000/B000/XXXX"},
		{URL: "https://slack.com/services/T000/B000/XXXX", WantErr: `host "slack.com" is not accepted for SLACK webhooks (accepted: hooks.slack.com, hooks.slack-gov.com)`},
		{URL: "https://hooks.slack.com.evil.example/services/T/B/X", WantErr: `host "hooks.slack.com.evil.example" is not accepted`},
		{URL: "https://evil.example/services/hooks.slack.com", WantErr: `host "evil.example" is not accepted`},
		{URL: "https://hooks.slack.com/api/chat.postMessage", WantErr: "path must start with /services/ for SLACK webhooks"},
		{URL: "https://hooks.slack.com/services", WantErr: "path must start with /services/"},
	})
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
	res := platformtest.Send(New(), hook, m)
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
			platformtest.CheckResult(t, res, platformtest.Want{Outcome: tt.outcome, Status: tt.status, Code: tt.code, RetryAfter: tt.retryAfter, Err: tt.err})
			rendered, _ := Render(m)
			platformtest.CheckSent(t, res, srv.Requests(), "application/json", rendered)
			platformtest.CheckAccepted(t, srv, hook, tt.outcome == herald.OutcomeSuccess)
		})
	}
}

func TestSendConnectionRefused(t *testing.T) {
	srv := slacktest.NewServer(t)
	hook := srv.NewHook(platformtest.HookOptions{})
	srv.Close()
	res := platformtest.Send(New(), hook, platformtest.FixtureMessage(herald.IssueCreated))
	platformtest.CheckUnreachable(t, res, strings.TrimPrefix(hook, srv.URL+"/services/"), "/services/")
}

func TestSendUnknownHook(t *testing.T) {
	srv := slacktest.NewServer(t)
	res := platformtest.Send(New(), srv.URL+"/services/T1/B1/revoked", platformtest.FixtureMessage(herald.IssueCreated))
	if res.Outcome != herald.OutcomePermanent || res.PlatformCode != "no_service" {
		t.Errorf("got %s %q, want PERMANENT no_service", res.Outcome, res.PlatformCode)
	}
}
