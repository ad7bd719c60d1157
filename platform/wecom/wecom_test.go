package wecom

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
	"github.com/heraldhq/herald/platform/wecom/wecomtest"
)

const secretKey = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url     string
		wantErr string
	}{
		{"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + secretKey, ""},
		{"https://QYAPI.weixin.qq.com/cgi-bin/webhook/send?key=" + secretKey, ""},
		{"https://qyapi.weixin.qq.com:443/cgi-bin/webhook/send?key=" + secretKey + "&debug=1", ""},
		{"https://weixin.qq.com/cgi-bin/webhook/send?key=" + secretKey, `host "weixin.qq.com" is not accepted for WECOM webhooks (accepted: qyapi.weixin.qq.com)`},
		{"https://qyapi.weixin.qq.com.evil.example/cgi-bin/webhook/send?key=" + secretKey, `host "qyapi.weixin.qq.com.evil.example" is not accepted`},
		{"https://evil.example/cgi-bin/webhook/send?key=" + secretKey + "&h=qyapi.weixin.qq.com", `host "evil.example" is not accepted`},
		{"https://qyapi.weixin.qq.com/cgi-bin/message/send?key=" + secretKey, "path must be /cgi-bin/webhook/send for WECOM webhooks"},
		{"https://qyapi.weixin.qq.com/cgi-bin/webhook/send/?key=" + secretKey, "path must be /cgi-bin/webhook/send"},
		{"https://qyapi.weixin.qq.com/cgi-bin/webhook/send/" + secretKey, "path must be /cgi-bin/webhook/send"},
		{"https://qyapi.weixin.qq.com/cgi-bin/webhook/send", "must carry the robot's key query parameter"},
		{"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=&token=" + secretKey, "must carry the robot's key query parameter"},
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
		case err != nil && strings.Contains(err.Error(), secretKey[:8]):
			t.Errorf("CheckURL(%s) = %v quotes the key", tt.url, err)
		}
	}
}

func TestTypeAndLimits(t *testing.T) {
	p := New()
	if p.Type() != herald.WeCom {
		t.Errorf("type %s", p.Type())
	}
	if l := p.Limits(); len(l) != 1 || l[0] != (platform.Limit{N: 20, Per: time.Minute}) {
		t.Errorf("limits %v, want 20 a minute", l)
	}
}

// send posts m to hook (a new robot of srv when empty).
func send(t *testing.T, srv *wecomtest.Server, hook string, m *message.Message) platform.Result {
	t.Helper()
	return New().Send(context.Background(), &http.Client{Timeout: 5 * time.Second}, &platform.Request{
		Webhook: &herald.Webhook{Type: herald.WeCom, URL: hook},
		Message: m,
	})
}

func TestSend(t *testing.T) {
	code := func(n, errcode int, errmsg string) func(*wecomtest.Server) {
		return func(s *wecomtest.Server) { s.FailNextCode(n, errcode, errmsg) }
	}
	tests := []struct {
		name       string
		fail       func(*wecomtest.Server)
		outcome    herald.Outcome
		status     int
		code       string
		retryAfter time.Duration
		err        string
	}{
		{name: "accepted", outcome: herald.OutcomeSuccess, status: 200, code: "0"},
		{
			name: "rate limited", fail: func(s *wecomtest.Server) { s.RateLimitNext(1) },
			outcome: herald.OutcomeRateLimited, status: 200, code: "45009", retryAfter: time.Minute,
			err: "WeCom answered errcode 45009: api freq out of limit",
		},
		{
			name: "robot removed", fail: func(s *wecomtest.Server) { s.RejectNext(1) },
			outcome: herald.OutcomePermanent, status: 200, code: "93000", err: "WeCom answered errcode 93000: invalid webhook url",
		},
		{name: "robot disabled", fail: code(1, 93004, "robot disabled"), outcome: herald.OutcomePermanent, status: 200, code: "93004"},
		{name: "not in the group", fail: code(1, 93008, "not in group"), outcome: herald.OutcomePermanent, status: 200, code: "93008"},
		{name: "content too long", fail: code(1, 40058, "markdown.content exceed max length 4096"), outcome: herald.OutcomePermanent, status: 200, code: "40058",
			err: "WeCom answered errcode 40058: markdown.content exceed max length 4096"},
		{name: "empty content", fail: code(1, 44004, "empty content"), outcome: herald.OutcomePermanent, status: 200, code: "44004"},
		{name: "invalid msgtype", fail: code(1, 40008, "invalid message type"), outcome: herald.OutcomePermanent, status: 200, code: "40008"},
		{name: "content too large", fail: code(1, 45002, "content size out of limit"), outcome: herald.OutcomePermanent, status: 200, code: "45002"},
		{name: "invalid parameter", fail: code(1, 40035, "invalid parameter"), outcome: herald.OutcomePermanent, status: 200, code: "40035"},
		{name: "unknown errcode", fail: code(1, 60020, "not allow to access from your ip"), outcome: herald.OutcomePermanent, status: 200, code: "60020"},
		{
			name: "system busy", fail: code(1, -1, "system busy"),
			outcome: herald.OutcomeRetryable, status: 200, code: "-1", err: "WeCom answered errcode -1: system busy",
		},
		{
			name: "server error", fail: func(s *wecomtest.Server) { s.FailNext(1, 502, "<html>bad gateway</html>", nil) },
			outcome: herald.OutcomeRetryable, status: 502, err: "WeCom answered HTTP 502",
		},
		{
			name: "429 from a proxy", fail: func(s *wecomtest.Server) { s.FailNext(1, 429, "", http.Header{"Retry-After": {"7"}}) },
			outcome: herald.OutcomeRateLimited, status: 429, retryAfter: 7 * time.Second, err: "WeCom answered HTTP 429",
		},
		{
			name: "200 that is not WeCom's", fail: func(s *wecomtest.Server) { s.FailNext(1, 200, "<html>portal</html>", nil) },
			outcome: herald.OutcomeRetryable, status: 200, err: "WeCom answered HTTP 200 without an errcode",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := wecomtest.NewServer(t)
			hook := srv.NewHook(platformtest.HookOptions{})
			if tt.fail != nil {
				tt.fail(srv)
			}
			m := platformtest.FixtureMessage(herald.IssueCreated)
			res := send(t, srv, hook, m)
			if res.Outcome != tt.outcome || res.HTTPStatus != tt.status || res.PlatformCode != tt.code || res.RetryAfter != tt.retryAfter {
				t.Errorf("got %s %d %q retry after %v, want %s %d %q retry after %v (error %q)",
					res.Outcome, res.HTTPStatus, res.PlatformCode, res.RetryAfter, tt.outcome, tt.status, tt.code, tt.retryAfter, res.Error)
			}
			if (tt.outcome == herald.OutcomeSuccess) != (res.Error == "") || !strings.Contains(res.Error, tt.err) {
				t.Errorf("error %q, want one containing %q", res.Error, tt.err)
			}
			for _, noise := range []string{"hint", "from ip", "more info", "127.0.0.1", wecomtest.Key(hook)} {
				if strings.Contains(res.Error, noise) {
					t.Errorf("error %q contains %q", res.Error, noise)
				}
			}
			want, _ := Render(m)
			if res.RequestBody != string(want) || strings.Contains(res.RequestBody, wecomtest.Key(hook)) {
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
			if accepted := len(srv.Messages(hook)); accepted != map[bool]int{true: 1}[tt.outcome == herald.OutcomeSuccess] {
				t.Errorf("the fake accepted %d messages", accepted)
			}
		})
	}
}

// TestSendFakeRules drives the fake's own rules, not injected answers: an
// unknown key and its rate limit of 20 a minute.
func TestSendFakeRules(t *testing.T) {
	srv := wecomtest.NewServer(t)
	res := send(t, srv, srv.URL+"/cgi-bin/webhook/send?key=removed-robot", platformtest.FixtureMessage(herald.IssueCreated))
	if res.Outcome != herald.OutcomePermanent || res.PlatformCode != "93000" || res.Error != "WeCom answered errcode 93000: invalid webhook url" {
		t.Errorf("unknown key: %s %q %q", res.Outcome, res.PlatformCode, res.Error)
	}

	fixed := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	srv.SetClock(func() time.Time { return fixed })
	hook := srv.NewHook(platformtest.HookOptions{})
	for i := range 20 {
		if res := send(t, srv, hook, platformtest.FixtureMessage(herald.PipelineFailed)); res.Outcome != herald.OutcomeSuccess {
			t.Fatalf("message %d: %s %s", i+1, res.Outcome, res.Error)
		}
	}
	res = send(t, srv, hook, platformtest.FixtureMessage(herald.PipelineFailed))
	if res.Outcome != herald.OutcomeRateLimited || res.PlatformCode != "45009" || res.RetryAfter != RateLimitDelay {
		t.Errorf("the 21st message in a minute: %s %q after %v", res.Outcome, res.PlatformCode, res.RetryAfter)
	}
}

func TestSendConnectionRefused(t *testing.T) {
	srv := wecomtest.NewServer(t)
	hook := srv.NewHook(platformtest.HookOptions{})
	srv.Close()
	res := send(t, srv, hook, platformtest.FixtureMessage(herald.IssueCreated))
	if res.Outcome != herald.OutcomeRetryable || res.HTTPStatus != 0 || res.Error == "" {
		t.Fatalf("got %s %d %q, want RETRYABLE with no status and an error", res.Outcome, res.HTTPStatus, res.Error)
	}
	for _, secret := range []string{wecomtest.Key(hook), "key=", "/cgi-bin/"} {
		if strings.Contains(res.Error, secret) {
			t.Errorf("error %q reveals the hook URL (%s)", res.Error, secret)
		}
	}
}

// TestClassify covers answers the fake never gives.
func TestClassify(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		outcome herald.Outcome
		code    string
		err     string
	}{
		{"ok", 200, `{"errcode":0,"errmsg":"ok"}`, herald.OutcomeSuccess, "0", ""},
		{"other 2xx with errcode 0", 202, `{"errcode":0,"errmsg":"ok"}`, herald.OutcomeSuccess, "0", ""},
		{"other 2xx without a body", 204, ``, herald.OutcomeRetryable, "", "WeCom answered HTTP 204 without an errcode"},
		{"no errcode", 200, `{"errmsg":"ok"}`, herald.OutcomeRetryable, "", "without an errcode"},
		{"errcode of the wrong type", 200, `{"errcode":"0"}`, herald.OutcomeRetryable, "", "without an errcode"},
		{"not JSON", 200, `ok`, herald.OutcomeRetryable, "", "without an errcode"},
		{
			"suffix removed", 200,
			`{"errcode":93000,"errmsg":"invalid webhook url, hint: [1708397705432012366598976], from ip: 218.72.126.124, more info at https://open.work.weixin.qq.com/devtool/query?e=93000"}`,
			herald.OutcomePermanent, "93000", "WeCom answered errcode 93000: invalid webhook url",
		},
		{"no errmsg", 200, `{"errcode":93004}`, herald.OutcomePermanent, "93004", "WeCom answered errcode 93004"},
		{"long errmsg", 200, `{"errcode":40058,"errmsg":"` + strings.Repeat("x", 500) + `"}`, herald.OutcomePermanent, "40058", strings.Repeat("x", 199) + "…"},
		{"5xx with errcode", 503, `{"errcode":-1,"errmsg":"system busy"}`, herald.OutcomeRetryable, "-1", "WeCom answered HTTP 503 errcode -1: system busy"},
		{"4xx", 404, `not found`, herald.OutcomePermanent, "", "WeCom answered HTTP 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Classify(&platform.Response{Status: tt.status, Body: []byte(tt.body)}, []byte("{}"), time.Now())
			if res.Outcome != tt.outcome || res.PlatformCode != tt.code || res.HTTPStatus != tt.status || res.ResponseBody != tt.body {
				t.Errorf("got %s %q %d %q, want %s %q", res.Outcome, res.PlatformCode, res.HTTPStatus, res.ResponseBody, tt.outcome, tt.code)
			}
			if (tt.err == "") != (res.Error == "") || !strings.Contains(res.Error, tt.err) {
				t.Errorf("error %q, want one containing %q", res.Error, tt.err)
			}
		})
	}
}
