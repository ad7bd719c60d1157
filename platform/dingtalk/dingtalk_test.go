package dingtalk

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/platform/dingtalk/dingtalktest"
	"github.com/heraldhq/herald/platform/platformtest"
)

const (
	testToken  = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	testSecret = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

func TestCheckURL(t *testing.T) {
	platformtest.CheckURLs(t, New().CheckURL, []string{testToken[:16]}, []platformtest.URLCase{
		{URL: "https://oapi.dingtalk.com/robot/send?access_token=" + testToken},
		{URL: "https://OAPI.DingTalk.com:443/robot/send?access_token=" + testToken},
		{URL: "https://oapi.dingtalk.com/robot/send?access_token=" + testToken + "&timestamp=1&sign=x"},
		{URL: "https://dingtalk.com/robot/send?access_token=" + testToken, WantErr: `host "dingtalk.com" is not accepted for DINGTALK webhooks (accepted: oapi.dingtalk.com)`},
		{URL: "https://oapi.dingtalk.com.evil.example/robot/send?access_token=" + testToken, WantErr: `host "oapi.dingtalk.com.evil.example" is not accepted`},
		{URL: "https://oapi.dingtalk.io/robot/send?access_token=" + testToken, WantErr: `host "oapi.dingtalk.io" is not accepted`},
		{URL: "https://oapi.dingtalk.com/robot/send/" + testToken + "?access_token=" + testToken, WantErr: "path must be /robot/send for DINGTALK webhooks"},
		{URL: "https://oapi.dingtalk.com/topapi/message?access_token=" + testToken, WantErr: "path must be /robot/send"},
		{URL: "https://oapi.dingtalk.com/robot/send", WantErr: "must carry the robot's access_token query parameter"},
		{URL: "https://oapi.dingtalk.com/robot/send?access_token=", WantErr: "must carry the robot's access_token"},
		{URL: "https://oapi.dingtalk.com/robot/send?token=" + testToken, WantErr: "must carry the robot's access_token"},
	})
}

func TestTypeAndLimits(t *testing.T) {
	platformtest.CheckTypeAndLimits(t, New(), herald.DingTalk, platform.Limit{N: 20, Per: time.Minute})
}

// sendTo sends m to hook as a webhook with the given secret, at now (zero:
// the real clock).
func sendTo(hook, secret string, m *message.Message, now time.Time) platform.Result {
	return platformtest.SendRequest(New(), &platform.Request{
		Webhook: &herald.Webhook{Type: herald.DingTalk, URL: hook, SigningSecret: secret},
		Message: m,
		Now:     now,
	})
}

func TestSend(t *testing.T) {
	tests := []struct {
		name string
		// opts are the robot's security settings; secret is what Herald
		// signs with (the robot's, unless the test means it to be wrong).
		opts    platformtest.HookOptions
		secret  string
		hook    func(s *dingtalktest.Server, hook string) string
		setup   func(*dingtalktest.Server)
		outcome herald.Outcome
		status  int
		code    string
		err     string
	}{
		{name: "accepted", outcome: herald.OutcomeSuccess, status: 200, code: "0"},
		{
			name: "accepted, signed and with a keyword", opts: platformtest.HookOptions{Secret: testSecret, Keyword: "Herald"}, secret: testSecret,
			outcome: herald.OutcomeSuccess, status: 200, code: "0",
		},
		{
			name: "send too fast", setup: func(s *dingtalktest.Server) { s.RateLimitNext(1) },
			outcome: herald.OutcomeRateLimited, status: 200, code: "130101", err: "DingTalk answered errcode 130101: send too fast, exceed 20 times per minute",
		},
		{
			name: "too many per minute", setup: func(s *dingtalktest.Server) { s.AnswerNext(1, 660026, "sending too many messages per minute") },
			outcome: herald.OutcomeRateLimited, status: 200, code: "660026", err: "errcode 660026: sending too many messages per minute",
		},
		{
			name: "keyword missing", opts: platformtest.HookOptions{Keyword: "告警"},
			outcome: herald.OutcomePermanent, status: 200, code: "310000", err: "DingTalk answered errcode 310000: keywords not in content",
		},
		{
			name: "wrong secret", opts: platformtest.HookOptions{Secret: testSecret}, secret: testSecret + "x",
			outcome: herald.OutcomePermanent, status: 200, code: "310000", err: "errcode 310000: sign not match",
		},
		{
			name: "not signed", opts: platformtest.HookOptions{Secret: testSecret},
			outcome: herald.OutcomePermanent, status: 200, code: "310000", err: "sign not match",
		},
		{
			name: "unknown token", hook: func(s *dingtalktest.Server, _ string) string { return s.URL + "/robot/send?access_token=revoked" },
			outcome: herald.OutcomePermanent, status: 200, code: "300005", err: "errcode 300005: token is not exist",
		},
		{
			name: "missing token", hook: func(s *dingtalktest.Server, _ string) string { return s.URL + "/robot/send" },
			outcome: herald.OutcomePermanent, status: 200, code: "40035", err: "errcode 40035: 缺少参数 access_token",
		},
		{
			name: "older unknown token", setup: func(s *dingtalktest.Server) { s.AnswerNext(1, 300001, "token is not exist") },
			outcome: herald.OutcomePermanent, status: 200, code: "300001",
		},
		{
			name: "robot disabled", setup: func(s *dingtalktest.Server) { s.AnswerNext(1, 400102, "robot is stopped") },
			outcome: herald.OutcomePermanent, status: 200, code: "400102", err: "errcode 400102: robot is stopped",
		},
		{
			name: "system busy", setup: func(s *dingtalktest.Server) { s.BusyNext(1) },
			outcome: herald.OutcomeRetryable, status: 200, code: "-1", err: "DingTalk answered errcode -1: 系统繁忙",
		},
		{
			name: "200 without errcode", setup: func(s *dingtalktest.Server) { s.FailNext(1, 200, "<html>gateway</html>", nil) },
			outcome: herald.OutcomeRetryable, status: 200, err: "DingTalk answered HTTP 200 without an errcode",
		},
		{
			name: "server error", setup: func(s *dingtalktest.Server) { s.FailNext(1, 502, "Bad Gateway", nil) },
			outcome: herald.OutcomeRetryable, status: 502, err: "DingTalk answered HTTP 502",
		},
		{
			name: "client error with errcode", setup: func(s *dingtalktest.Server) { s.FailNext(1, 403, `{"errcode":88,"errmsg":"forbidden"}`, nil) },
			outcome: herald.OutcomePermanent, status: 403, code: "88", err: "DingTalk answered HTTP 403 errcode 88: forbidden",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := dingtalktest.NewServer(t)
			hook := srv.NewHook(tt.opts)
			if tt.hook != nil {
				hook = tt.hook(srv, hook)
			}
			if tt.setup != nil {
				tt.setup(srv)
			}
			m := platformtest.FixtureMessage(herald.IssueApprovalRequested)
			res := sendTo(hook, tt.secret, m, time.Time{})
			platformtest.CheckResult(t, res, platformtest.Want{Outcome: tt.outcome, Status: tt.status, Code: tt.code, Err: tt.err})
			rendered, _ := Render(m)
			platformtest.CheckSent(t, res, srv.Requests(), "application/json; charset=utf-8", rendered)
			platformtest.CheckSecrets(t, res, "access_token=", token(hook), testSecret)
			platformtest.CheckAccepted(t, srv, hook, tt.outcome == herald.OutcomeSuccess)
		})
	}
}

func token(hook string) string {
	u, _ := url.Parse(hook)
	if t := u.Query().Get("access_token"); t != "" {
		return t
	}
	return "no token"
}

func TestSendRateLimitOfTheFake(t *testing.T) {
	srv := dingtalktest.NewServer(t)
	hook := srv.NewHook(platformtest.HookOptions{})
	srv.SetRateLimit(2)
	m := platformtest.FixtureMessage(herald.IssueCreated)
	var outcomes []herald.Outcome
	for range 3 {
		outcomes = append(outcomes, sendTo(hook, "", m, time.Time{}).Outcome)
	}
	if outcomes[0] != herald.OutcomeSuccess || outcomes[1] != herald.OutcomeSuccess || outcomes[2] != herald.OutcomeRateLimited {
		t.Errorf("outcomes %v, want SUCCESS, SUCCESS, RATE_LIMITED", outcomes)
	}
}

func TestSendConnectionRefused(t *testing.T) {
	srv := dingtalktest.NewServer(t)
	hook := srv.NewHook(platformtest.HookOptions{Secret: testSecret})
	srv.Close()
	res := sendTo(hook, testSecret, platformtest.FixtureMessage(herald.IssueCreated), time.Time{})
	platformtest.CheckUnreachable(t, res, token(hook), "access_token", "/robot/send", "sign=", testSecret)
}

// TestSignKnownVector checks the signature against one computed outside
// Go (Python's hmac, base64 and urllib.parse.quote_plus).
func TestSignKnownVector(t *testing.T) {
	const ts = 1599360473000
	if got, want := sign(testSecret, ts), "as5a1o/ou4Vy23y51QmO2lHrMOtTd3wHkQWOqJ6ydrs="; got != want {
		t.Errorf("sign = %s, want %s", got, want)
	}
	target, err := signedURL("https://oapi.dingtalk.com/robot/send?access_token="+testToken, testSecret, time.UnixMilli(ts))
	if err != nil {
		t.Fatal(err)
	}
	if want := "&sign=as5a1o%2Fou4Vy23y51QmO2lHrMOtTd3wHkQWOqJ6ydrs%3D"; !strings.Contains(target, want) {
		t.Errorf("URL %s lacks %s", target, want)
	}
	if !strings.Contains(target, "access_token="+testToken) || !strings.Contains(target, "timestamp=1599360473000") {
		t.Errorf("URL %s lost the token or lacks the timestamp", target)
	}
}

func TestSignedURL(t *testing.T) {
	now := time.UnixMilli(1700000000123)
	got, err := signedURL("https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1&sign=old", testSecret, now)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(got)
	q := u.Query()
	if q.Get("access_token") != "abc" || q.Get("timestamp") != "1700000000123" || len(q["sign"]) != 1 || len(q["timestamp"]) != 1 {
		t.Errorf("query %v: want the token kept and one fresh timestamp and sign", q)
	}
	if unsigned, _ := signedURL("https://oapi.dingtalk.com/robot/send?access_token=abc", "", now); unsigned != "https://oapi.dingtalk.com/robot/send?access_token=abc" {
		t.Errorf("without a secret the URL became %s", unsigned)
	}
	if _, err := signedURL("https://oapi.dingtalk.com/robot/send?access_token=abc\x7f%zz", testSecret, now); err == nil || strings.Contains(err.Error(), "abc") {
		t.Errorf("a bad URL gave %v", err)
	}
}

// TestSendSigned checks what Herald puts in the query against the HMAC the
// test computes itself, at the request's clock.
func TestSendSigned(t *testing.T) {
	srv := dingtalktest.NewServer(t)
	hook := srv.NewHook(platformtest.HookOptions{Secret: testSecret})
	now := time.Now().Add(-30 * time.Minute).Truncate(time.Millisecond)
	res := sendTo(hook, testSecret, platformtest.FixtureMessage(herald.IssueCreated), now)
	if res.Outcome != herald.OutcomeSuccess {
		t.Fatalf("outcome %s (%s), want SUCCESS", res.Outcome, res.Error)
	}
	q := srv.Requests()[0].Query
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte(testSecret))
	mac.Write([]byte(ts + "\n" + testSecret))
	if q.Get("timestamp") != ts || q.Get("sign") != base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
		t.Errorf("query timestamp %s sign %s, want %s and the HMAC", q.Get("timestamp"), q.Get("sign"), ts)
	}
	if q.Get("access_token") != token(hook) {
		t.Error("the access_token was not kept")
	}
}

func TestSendStaleTimestamp(t *testing.T) {
	srv := dingtalktest.NewServer(t)
	hook := srv.NewHook(platformtest.HookOptions{Secret: testSecret})
	res := sendTo(hook, testSecret, platformtest.FixtureMessage(herald.IssueCreated), time.Now().Add(-2*time.Hour))
	if res.Outcome != herald.OutcomePermanent || res.PlatformCode != "310000" || !strings.Contains(res.Error, "invalid timestamp") {
		t.Errorf("got %s %q %q, want PERMANENT 310000 invalid timestamp", res.Outcome, res.PlatformCode, res.Error)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		status int
		body   string
		header http.Header
		want   herald.Outcome
		code   string
		retry  time.Duration
	}{
		{200, `{"errcode":0,"errmsg":"ok"}`, nil, herald.OutcomeSuccess, "0", 0},
		{200, `{"errcode":130101,"errmsg":"send too fast"}`, nil, herald.OutcomeRateLimited, "130101", 0},
		{200, `{"errcode":130101,"errmsg":"send too fast"}`, http.Header{"Retry-After": {"7"}}, herald.OutcomeRateLimited, "130101", 7 * time.Second},
		{200, `{"errcode":660026,"errmsg":"sending too many messages per minute"}`, nil, herald.OutcomeRateLimited, "660026", 0},
		{200, `{"errcode":-1,"errmsg":"system busy"}`, nil, herald.OutcomeRetryable, "-1", 0},
		{200, `{"errcode":310000,"errmsg":"ip 1.2.3.4 not in whitelist"}`, nil, herald.OutcomePermanent, "310000", 0},
		{200, `{"errcode":300001,"errmsg":"token is not exist"}`, nil, herald.OutcomePermanent, "300001", 0},
		{200, `{"errcode":300005,"errmsg":"token is not exist"}`, nil, herald.OutcomePermanent, "300005", 0},
		{200, `{"errcode":40035,"errmsg":"缺少参数 json"}`, nil, herald.OutcomePermanent, "40035", 0},
		{200, `{"errcode":460101,"errmsg":"message too long, exceed 20000 bytes"}`, nil, herald.OutcomePermanent, "460101", 0},
		{200, `{"errcode":430104,"errmsg":"unsafe content"}`, nil, herald.OutcomePermanent, "430104", 0},
		{200, `{"errmsg":"ok"}`, nil, herald.OutcomeRetryable, "", 0},
		{200, ``, nil, herald.OutcomeRetryable, "", 0},
		{204, ``, nil, herald.OutcomeRetryable, "", 0},
		{429, `{"errcode":130101}`, http.Header{"Retry-After": {"3"}}, herald.OutcomeRateLimited, "130101", 3 * time.Second},
		{503, `busy`, nil, herald.OutcomeRetryable, "", 0},
		{404, `Not Found`, nil, herald.OutcomePermanent, "", 0},
	}
	for _, tt := range tests {
		r := classify(&platform.Response{Status: tt.status, Header: tt.header, Body: []byte(tt.body)}, []byte("{}"), time.Now())
		if r.Outcome != tt.want || r.PlatformCode != tt.code || r.RetryAfter != tt.retry || r.HTTPStatus != tt.status {
			t.Errorf("%d %s: got %s %q %v, want %s %q %v", tt.status, tt.body, r.Outcome, r.PlatformCode, r.RetryAfter, tt.want, tt.code, tt.retry)
		}
		if (r.Outcome == herald.OutcomeSuccess) != (r.Error == "") {
			t.Errorf("%d %s: error %q", tt.status, tt.body, r.Error)
		}
	}
	long := `{"errcode":310000,"errmsg":"` + strings.Repeat("描述", 300) + `"}`
	if r := classify(&platform.Response{Status: 200, Body: []byte(long)}, nil, time.Now()); len([]rune(r.Error)) > 250 {
		t.Errorf("a long errmsg was kept whole: %d characters", len([]rune(r.Error)))
	}
}
