package discord

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/platform/discord/discordtest"
	"github.com/heraldhq/herald/platform/platformtest"
)

const token = "aBcD_eFgH-1234567890aBcD_eFgH-1234567890aBcD_eFgH-1234567890aBcD_eF"

func TestCheckURL(t *testing.T) {
	platformtest.CheckURLs(t, New().CheckURL, []string{token[:10]}, []platformtest.URLCase{
		{URL: "https://discord.com/api/webhooks/1234567890123456789/" + token},
		{URL: "https://discordapp.com/api/webhooks/1234567890123456789/" + token},
		{URL: "https://Discord.com/api/v10/webhooks/1234567890123456789/" + token},
		{URL: "https://discord.com:443/api/v9/webhooks/1234567890123456789/" + token + "?thread_id=42"},
		{URL: "https://ptb.discord.com/api/webhooks/1/" + token, WantErr: `host "ptb.discord.com" is not accepted for DISCORD webhooks (accepted: discord.com, discordapp.com)`},
		{URL: "https://discord.com.evil.example/api/webhooks/1/" + token, WantErr: `host "discord.com.evil.example" is not accepted`},
		{URL: "https://evil.example/api/webhooks/1/" + token, WantErr: `host "evil.example" is not accepted`},
		{URL: "https://discord.com/api/webhooks/1234/" + token + "/slack", WantErr: "path must be /api/webhooks/{id}/{token} for DISCORD webhooks"},
		{URL: "https://discord.com/api/webhooks/1234/" + token + "/github", WantErr: "path must be /api/webhooks/{id}/{token}"},
		{URL: "https://discord.com/api/webhooks/1234", WantErr: "path must be /api/webhooks/{id}/{token}"},
		{URL: "https://discord.com/api/webhooks/1234/", WantErr: "path must be /api/webhooks/{id}/{token}"},
		{URL: "https://discord.com/api/webhooks/general/" + token, WantErr: "path must be /api/webhooks/{id}/{token}"},
		{URL: "https://discord.com/webhooks/1234/" + token, WantErr: "path must be /api/webhooks/{id}/{token}"},
		{URL: "https://discord.com/api/channels/1234/messages", WantErr: "path must be /api/webhooks/{id}/{token}"},
	})
}

// send posts m to a new hook of a new fake Discord, after fail (if any)
// has set the fake up.
func send(t *testing.T, m *message.Message, fail func(*discordtest.Server)) (platform.Result, *discordtest.Server, string) {
	t.Helper()
	srv := discordtest.NewServer(t)
	hook := srv.NewHook(platformtest.HookOptions{})
	if fail != nil {
		fail(srv)
	}
	res := platformtest.Send(New(), hook, m)
	return res, srv, hook
}

func TestSend(t *testing.T) {
	failNext := func(status int, body string, header http.Header) func(*discordtest.Server) {
		return func(s *discordtest.Server) { s.FailNext(1, status, body, header) }
	}
	jsonType := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name       string
		fail       func(*discordtest.Server)
		outcome    herald.Outcome
		status     int
		code       string
		retryAfter time.Duration
		err        string
	}{
		{name: "saved", outcome: herald.OutcomeSuccess, status: 200},
		{name: "204 No Content", fail: failNext(204, "", nil), outcome: herald.OutcomeSuccess, status: 204},
		{
			name:    "rate limited",
			fail:    func(s *discordtest.Server) { s.RateLimitNext(1) },
			outcome: herald.OutcomeRateLimited, status: 429, retryAfter: time.Second,
			err: "Discord answered 429 You are being rate limited.",
		},
		{
			name:    "the body's retry_after is more precise than Retry-After",
			fail:    failNext(429, `{"message":"You are being rate limited.","retry_after":0.25,"global":false}`, http.Header{"Retry-After": {"1"}}),
			outcome: herald.OutcomeRateLimited, status: 429, retryAfter: 250 * time.Millisecond,
		},
		{
			name:    "global rate limit",
			fail:    failNext(429, `{"message":"You are being rate limited.","retry_after":64.57,"global":true,"code":0}`, http.Header{"X-RateLimit-Global": {"true"}}),
			outcome: herald.OutcomeRateLimited, status: 429, code: "0", retryAfter: 64570 * time.Millisecond, err: "(global rate limit)",
		},
		{
			name:    "Cloudflare 429 with only a header",
			fail:    failNext(429, "error code: 1015", http.Header{"Retry-After": {"30"}}),
			outcome: herald.OutcomeRateLimited, status: 429, retryAfter: 30 * time.Second, err: "Discord answered 429",
		},
		{
			name:    "429 with only X-RateLimit-Reset-After",
			fail:    failNext(429, `{"message":"You are being rate limited.","global":false}`, http.Header{"X-RateLimit-Reset-After": {"1.5"}}),
			outcome: herald.OutcomeRateLimited, status: 429, retryAfter: 1500 * time.Millisecond,
		},
		{
			name:    "unknown webhook",
			fail:    func(s *discordtest.Server) { s.RejectNext(1) },
			outcome: herald.OutcomePermanent, status: 404, code: "10015", err: "Discord answered 404 10015 Unknown Webhook",
		},
		{
			name:    "invalid token",
			fail:    failNext(401, `{"message": "Invalid Webhook Token", "code": 50027}`, jsonType),
			outcome: herald.OutcomePermanent, status: 401, code: "50027", err: "Discord answered 401 50027 Invalid Webhook Token",
		},
		{
			name:    "invalid form body",
			fail:    failNext(400, `{"code":50035,"errors":{"embeds":{"0":{"description":{"_errors":[{"code":"BASE_TYPE_MAX_LENGTH","message":"Must be 4096 or fewer in length."}]}}}},"message":"Invalid Form Body"}`, jsonType),
			outcome: herald.OutcomePermanent, status: 400, code: "50035", err: "Invalid Form Body",
		},
		{
			name:    "empty message",
			fail:    failNext(400, `{"message": "Cannot send an empty message", "code": 50006}`, jsonType),
			outcome: herald.OutcomePermanent, status: 400, code: "50006",
		},
		{
			name:    "entity too large",
			fail:    failNext(413, `{"message": "Request entity too large", "code": 40005}`, jsonType),
			outcome: herald.OutcomePermanent, status: 413, code: "40005",
		},
		{
			name:    "missing permissions",
			fail:    failNext(403, `{"message": "Missing Permissions", "code": 50013}`, jsonType),
			outcome: herald.OutcomePermanent, status: 403, code: "50013",
		},
		{
			name:    "API overloaded",
			fail:    failNext(503, `{"message": "API resource is currently overloaded. Try again a little later.", "code": 130000}`, http.Header{"Retry-After": {"5"}}),
			outcome: herald.OutcomeRetryable, status: 503, code: "130000", retryAfter: 5 * time.Second, err: "Discord answered 503 130000 API resource",
		},
		{
			name:    "bad gateway page",
			fail:    failNext(502, "<html><body>502 Bad Gateway</body></html>", http.Header{"Content-Type": {"text/html"}}),
			outcome: herald.OutcomeRetryable, status: 502, err: "Discord answered 502",
		},
		{
			name:    "Cloudflare block",
			fail:    failNext(403, `{"message": "internal network error", "code": 40333}`, jsonType),
			outcome: herald.OutcomeRetryable, status: 403, code: "40333", err: "Discord answered 403 40333 internal network error",
		},
		{
			name:    "Cloudflare page",
			fail:    failNext(403, "<!DOCTYPE html><title>Access denied | discord.com used Cloudflare to restrict access</title>", http.Header{"Content-Type": {"text/html"}}),
			outcome: herald.OutcomeRetryable, status: 403,
		},
		{
			name:    "long error message",
			fail:    failNext(400, `{"code":50035,"message":"`+strings.Repeat("x", 500)+"\\n\\tend"+`"}`, jsonType),
			outcome: herald.OutcomePermanent, status: 400, code: "50035", err: "50035 " + strings.Repeat("x", 199) + message.Ellipsis,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := platformtest.FixtureMessage(herald.IssueCreated)
			res, srv, hook := send(t, m, tt.fail)
			platformtest.CheckResult(t, res, platformtest.Want{Outcome: tt.outcome, Status: tt.status, Code: tt.code, RetryAfter: tt.retryAfter, Err: tt.err})
			rendered, _ := Render(m)
			req := platformtest.CheckSent(t, res, srv.Requests(), "application/json", rendered)
			if w := req.Query.Get("wait"); w != "true" {
				t.Errorf("wait=%q, want true", w)
			}
			platformtest.CheckAccepted(t, srv, hook, tt.outcome == herald.OutcomeSuccess && tt.fail == nil)
		})
	}
}

// TestSendKeepsQuery checks that wait=true joins the URL's own parameters
// (a thread) and replaces a wait=false.
func TestSendKeepsQuery(t *testing.T) {
	srv := discordtest.NewServer(t)
	hook := srv.NewHook(platformtest.HookOptions{})
	versioned := strings.Replace(hook, "/api/", "/api/v10/", 1) + "?thread_id=1234567890123456789&wait=false"
	res := platformtest.Send(New(), versioned, platformtest.FixtureMessage(herald.PipelineFailed))
	if res.Outcome != herald.OutcomeSuccess || res.HTTPStatus != 200 || !strings.Contains(res.ResponseBody, `"channel_id":"1234567890123456789"`) {
		t.Fatalf("got %s %d %s", res.Outcome, res.HTTPStatus, res.ResponseBody)
	}
	q := srv.Requests()[0].Query
	if q.Get("thread_id") != "1234567890123456789" || q.Get("wait") != "true" || len(q["wait"]) != 1 {
		t.Errorf("query %v", q)
	}
	if n := len(srv.Messages(hook)); n != 1 {
		t.Errorf("the hook accepted %d messages, want 1", n)
	}
}

func TestSendRealRefusals(t *testing.T) {
	srv := discordtest.NewServer(t)
	hook := srv.NewHook(platformtest.HookOptions{})
	id := strings.Split(strings.TrimPrefix(hook, srv.URL+"/api/webhooks/"), "/")[0]
	tests := []struct {
		name, url string
		status    int
		code      string
	}{
		{"unknown webhook", srv.URL + "/api/webhooks/42/" + token, 404, "10015"},
		{"wrong token", srv.URL + "/api/webhooks/" + id + "/" + token, 401, "50027"},
	}
	for _, tt := range tests {
		res := platformtest.Send(New(), tt.url, platformtest.FixtureMessage(herald.IssueCreated))
		if res.Outcome != herald.OutcomePermanent || res.HTTPStatus != tt.status || res.PlatformCode != tt.code {
			t.Errorf("%s: got %s %d %q (%s)", tt.name, res.Outcome, res.HTTPStatus, res.PlatformCode, res.Error)
		}
		if strings.Contains(res.Error, token[:10]) {
			t.Errorf("%s: error %q quotes the token", tt.name, res.Error)
		}
	}
}

// TestSendOverTheFakesLimit sends past the fake's own limit: the answer is
// Discord's 429 with the time left in the bucket.
func TestSendOverTheFakesLimit(t *testing.T) {
	srv := discordtest.NewServer(t)
	srv.SetRateLimit(1, time.Hour)
	hook := srv.NewHook(platformtest.HookOptions{})
	req := &platform.Request{Webhook: &herald.Webhook{Type: herald.Discord, URL: hook}, Message: platformtest.FixtureMessage(herald.IssueCreated)}
	if res := platformtest.SendRequest(New(), req); res.Outcome != herald.OutcomeSuccess {
		t.Fatalf("first: %s %s", res.Outcome, res.Error)
	}
	res := platformtest.SendRequest(New(), req)
	if res.Outcome != herald.OutcomeRateLimited || res.RetryAfter < 59*time.Minute || res.RetryAfter > time.Hour {
		t.Errorf("second: %s retry after %v (%s)", res.Outcome, res.RetryAfter, res.Error)
	}
}

func TestSendConnectionRefused(t *testing.T) {
	srv := discordtest.NewServer(t)
	hook := srv.NewHook(platformtest.HookOptions{})
	srv.Close()
	res := platformtest.Send(New(), hook, platformtest.FixtureMessage(herald.IssueCreated))
	platformtest.CheckUnreachable(t, res, hook[strings.LastIndex(hook, "/")+1:], "/webhooks/")
}

func TestSendBadURL(t *testing.T) {
	res := platformtest.Send(New(), "https://discord.com/api/webhooks/1/%zz"+token, platformtest.FixtureMessage(herald.IssueCreated))
	if res.Outcome != herald.OutcomePermanent || strings.Contains(res.Error, token[:10]) {
		t.Errorf("got %s %q", res.Outcome, res.Error)
	}
}

func TestTypeAndLimits(t *testing.T) {
	platformtest.CheckTypeAndLimits(t, New(), herald.Discord, platform.Limit{N: 5, Per: 2 * time.Second})
}
