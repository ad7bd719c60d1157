package wecom

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/platform/platformtest"
	"github.com/heraldhq/herald/platform/wecom/wecomtest"
)

const secretKey = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"

func TestCheckURL(t *testing.T) {
	platformtest.CheckURLs(t, New().CheckURL, []string{secretKey[:8]}, []platformtest.URLCase{
		{URL: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + secretKey},
		{URL: "https://QYAPI.weixin.qq.com/cgi-bin/webhook/send?key=" + secretKey},
		{URL: "https://qyapi.weixin.qq.com:443/cgi-bin/webhook/send?key=" + secretKey + "&debug=1"},
		{URL: "https://weixin.qq.com/cgi-bin/webhook/send?key=" + secretKey, WantErr: `host "weixin.qq.com" is not accepted for WECOM webhooks (accepted: qyapi.weixin.qq.com)`},
		{URL: "https://qyapi.weixin.qq.com.evil.example/cgi-bin/webhook/send?key=" + secretKey, WantErr: `host "qyapi.weixin.qq.com.evil.example" is not accepted`},
		{URL: "https://evil.example/cgi-bin/webhook/send?key=" + secretKey + "&h=qyapi.weixin.qq.com", WantErr: `host "evil.example" is not accepted`},
		{URL: "https://qyapi.weixin.qq.com/cgi-bin/message/send?key=" + secretKey, WantErr: "path must be /cgi-bin/webhook/send for WECOM webhooks"},
		{URL: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send/?key=" + secretKey, WantErr: "path must be /cgi-bin/webhook/send"},
		{URL: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send/" + secretKey, WantErr: "path must be /cgi-bin/webhook/send"},
		{URL: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send", WantErr: "must carry the robot's key query parameter"},
		{URL: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=&token=" + secretKey, WantErr: "must carry the robot's key query parameter"},
	})
}

func TestTypeAndLimits(t *testing.T) {
	platformtest.CheckTypeAndLimits(t, New(), herald.WeCom, platform.Limit{N: 20, Per: time.Minute})
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
			res := platformtest.Send(New(), hook, m)
			platformtest.CheckResult(t, res, platformtest.Want{Outcome: tt.outcome, Status: tt.status, Code: tt.code, RetryAfter: tt.retryAfter, Err: tt.err})
			for _, noise := range []string{"hint", "from ip", "more info", "127.0.0.1"} {
				if strings.Contains(res.Error, noise) {
					t.Errorf("error %q contains %q", res.Error, noise)
				}
			}
			rendered, _ := Render(m)
			platformtest.CheckSent(t, res, srv.Requests(), "application/json", rendered)
			platformtest.CheckSecrets(t, res, wecomtest.Key(hook))
			platformtest.CheckAccepted(t, srv, hook, tt.outcome == herald.OutcomeSuccess)
		})
	}
}

// TestSendFakeRules drives the fake's own rules, not injected answers: an
// unknown key and its rate limit of 20 a minute.
func TestSendFakeRules(t *testing.T) {
	srv := wecomtest.NewServer(t)
	res := platformtest.Send(New(), srv.URL+"/cgi-bin/webhook/send?key=removed-robot", platformtest.FixtureMessage(herald.IssueCreated))
	if res.Outcome != herald.OutcomePermanent || res.PlatformCode != "93000" || res.Error != "WeCom answered errcode 93000: invalid webhook url" {
		t.Errorf("unknown key: %s %q %q", res.Outcome, res.PlatformCode, res.Error)
	}

	fixed := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	srv.SetClock(func() time.Time { return fixed })
	hook := srv.NewHook(platformtest.HookOptions{})
	for i := range 20 {
		if res := platformtest.Send(New(), hook, platformtest.FixtureMessage(herald.PipelineFailed)); res.Outcome != herald.OutcomeSuccess {
			t.Fatalf("message %d: %s %s", i+1, res.Outcome, res.Error)
		}
	}
	res = platformtest.Send(New(), hook, platformtest.FixtureMessage(herald.PipelineFailed))
	if res.Outcome != herald.OutcomeRateLimited || res.PlatformCode != "45009" || res.RetryAfter != RateLimitDelay {
		t.Errorf("the 21st message in a minute: %s %q after %v", res.Outcome, res.PlatformCode, res.RetryAfter)
	}
}

func TestSendConnectionRefused(t *testing.T) {
	srv := wecomtest.NewServer(t)
	hook := srv.NewHook(platformtest.HookOptions{})
	srv.Close()
	res := platformtest.Send(New(), hook, platformtest.FixtureMessage(herald.IssueCreated))
	platformtest.CheckUnreachable(t, res, wecomtest.Key(hook), "key=", "/cgi-bin/")
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
