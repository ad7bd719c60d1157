package feishu

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/platform/feishu/feishutest"
	"github.com/heraldhq/herald/platform/platformtest"
)

// platforms are the two values of this package's Platform.
var platforms = []struct {
	name string
	p    *Platform
}{{"Feishu", NewFeishu()}, {"Lark", NewLark()}}

func TestTypesAndLimits(t *testing.T) {
	limits := []platform.Limit{{N: 5, Per: time.Second}, {N: 100, Per: time.Minute}}
	platformtest.CheckTypeAndLimits(t, NewFeishu(), herald.Feishu, limits...)
	platformtest.CheckTypeAndLimits(t, NewLark(), herald.Lark, limits...)
}

func TestCheckURL(t *testing.T) {
	const token = "/open-apis/bot/v2/hook/3f0c2a4e-secret-token"
	secrets := []string{"secret-token"}
	platformtest.CheckURLs(t, NewFeishu().CheckURL, secrets, []platformtest.URLCase{
		{URL: "https://open.feishu.cn" + token},
		{URL: "https://OPEN.Feishu.cn:443" + token},
		{URL: "https://open.feishu.cn" + token + "?x=1"},
		{URL: "https://open.larksuite.com" + token, WantErr: `host "open.larksuite.com" is not accepted for FEISHU webhooks (accepted: open.feishu.cn)`},
		{URL: "https://open.feishu.cn.evil.example" + token, WantErr: `host "open.feishu.cn.evil.example" is not accepted`},
		{URL: "https://feishu.cn" + token, WantErr: `host "feishu.cn" is not accepted`},
		{URL: "https://open.feishu.cn/open-apis/bot/v2/hook/", WantErr: "path must be /open-apis/bot/v2/hook/{token} for FEISHU webhooks"},
		{URL: "https://open.feishu.cn/open-apis/bot/v1/hook/secret-token", WantErr: "path must be /open-apis/bot/v2/hook/{token}"},
		{URL: "https://open.feishu.cn", WantErr: "path must be"},
	})
	platformtest.CheckURLs(t, NewLark().CheckURL, secrets, []platformtest.URLCase{
		{URL: "https://open.larksuite.com" + token},
		{URL: "https://open.feishu.cn" + token, WantErr: `host "open.feishu.cn" is not accepted for LARK webhooks (accepted: open.larksuite.com)`},
		{URL: "https://open.larkoffice.com" + token, WantErr: `host "open.larkoffice.com" is not accepted`},
		{URL: "https://open.larksuite.com/open-apis/im/v1/messages?secret-token", WantErr: "path must be /open-apis/bot/v2/hook/{token} for LARK webhooks"},
		{URL: "https://open.larksuite.com" + token + "/extra", WantErr: "path must be /open-apis/bot/v2/hook/{token}"},
	})
}

// TestSign checks Sign against a vector computed independently (Python's
// hmac module) and by hand with crypto/hmac: the key is timestamp + "\n" +
// secret, the message is empty.
func TestSign(t *testing.T) {
	const ts, secret = "1599360473", "demo-secret"
	const want = "3/MaVZ8JLIy4TUG+7KSFJqvUkTKd+HWY8g+56DZWq8s="
	mac := hmac.New(sha256.New, []byte(ts+"\n"+secret))
	if byHand := base64.StdEncoding.EncodeToString(mac.Sum(nil)); byHand != want {
		t.Fatalf("the vector is wrong: %s", byHand)
	}
	if got := Sign(ts, secret); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

// TestSendSigns checks the signed body: timestamp (seconds of req.Now, a
// string) and sign next to msg_type, the sign not URL-encoded, the rest
// as Render makes it, and no secret anywhere.
func TestSendSigns(t *testing.T) {
	srv := feishutest.NewServer(t)
	const secret = "demo-secret"
	hook := srv.NewHook(platformtest.HookOptions{Secret: secret})
	now := time.Unix(1599360473, 0)
	srv.SetClock(func() time.Time { return now.Add(time.Minute) })
	m := platformtest.FixtureMessage(herald.IssueCreated)
	res := platformtest.SendRequest(NewFeishu(), &platform.Request{
		Webhook: &herald.Webhook{Type: herald.Feishu, URL: hook, SigningSecret: secret},
		Message: m,
		Now:     now,
	})
	if res.Outcome != herald.OutcomeSuccess {
		t.Fatalf("outcome %s (%s); fake: %+v", res.Outcome, res.Error, srv.Requests())
	}
	unsigned, _ := Render(m)
	want := `{"timestamp":"1599360473","sign":"3/MaVZ8JLIy4TUG+7KSFJqvUkTKd+HWY8g+56DZWq8s=",` + strings.TrimPrefix(string(unsigned), "{")
	if res.RequestBody != want {
		t.Errorf("request body\n%s\nwant\n%s", res.RequestBody, want)
	}
	if got := srv.Messages(hook); len(got) != 1 || string(got[0]) != want {
		t.Errorf("the fake accepted %q", got)
	}
	if strings.Contains(res.RequestBody, secret) || strings.Contains(res.RequestBody, hook) {
		t.Error("the request body holds the secret or the URL")
	}
}

// setup prepares a fake and the request of one Send test case.
type setup struct {
	hook    platformtest.HookOptions
	secret  string        // the webhook's signing secret in Herald
	now     time.Duration // req.Now relative to the real clock
	url     func(srv *feishutest.Server, hook string) string
	prepare func(srv *feishutest.Server)
	// sendFirst sends the message once before the request under test.
	sendFirst bool
}

func TestSend(t *testing.T) {
	inject := func(status int, body string, header http.Header) func(*feishutest.Server) {
		return func(s *feishutest.Server) { s.FailNext(1, status, body, header) }
	}
	tests := []struct {
		name       string
		setup      setup
		outcome    herald.Outcome
		status     int
		code       string
		retryAfter time.Duration
		err        string // with {name} for Feishu or Lark
	}{
		{name: "accepted", outcome: herald.OutcomeSuccess, status: 200, code: "0"},
		{name: "signed", setup: setup{hook: platformtest.HookOptions{Secret: "s3cr3t"}, secret: "s3cr3t"}, outcome: herald.OutcomeSuccess, status: 200, code: "0"},
		{name: "keyword present", setup: setup{hook: platformtest.HookOptions{Keyword: "Herald"}}, outcome: herald.OutcomeSuccess, status: 200, code: "0"},
		{
			name: "rate limited", setup: setup{prepare: func(s *feishutest.Server) { s.RateLimitNext(1) }},
			outcome: herald.OutcomeRateLimited, status: 200, code: "11232", err: "{name} answered code 11232: frequency limited",
		},
		{
			name: "rate limited by the fake's own limit",
			setup: setup{sendFirst: true, prepare: func(s *feishutest.Server) {
				s.SetRateLimits(1, 100)
				s.SetClock(func() time.Time { return time.Unix(1e9, 0) }) // frozen: the first request stays in the window
			}},
			outcome: herald.OutcomeRateLimited, status: 200, code: "11232",
		},
		{
			name: "429 with Retry-After", setup: setup{prepare: inject(429, `{"code":99991400,"msg":"request trigger frequency limit"}`, http.Header{"Retry-After": {"3"}})},
			outcome: herald.OutcomeRateLimited, status: 429, code: "99991400", retryAfter: 3 * time.Second, err: "{name} answered code 99991400: request trigger frequency limit (HTTP 429)",
		},
		{
			name: "429 with x-ogw-ratelimit-reset", setup: setup{prepare: inject(429, "", http.Header{"X-Ogw-Ratelimit-Reset": {"7"}})},
			outcome: herald.OutcomeRateLimited, status: 429, retryAfter: 7 * time.Second, err: "{name} answered HTTP 429",
		},
		{
			name: "wrong secret", setup: setup{hook: platformtest.HookOptions{Secret: "right"}, secret: "wrong"},
			outcome: herald.OutcomePermanent, status: 200, code: "19021", err: "{name} answered code 19021: sign match fail or timestamp is not within one hour from current time",
		},
		{
			name: "no secret in Herald", setup: setup{hook: platformtest.HookOptions{Secret: "right"}},
			outcome: herald.OutcomePermanent, status: 200, code: "19021",
		},
		{
			name: "stale timestamp", setup: setup{hook: platformtest.HookOptions{Secret: "right"}, secret: "right", now: -61 * time.Minute},
			outcome: herald.OutcomePermanent, status: 200, code: "19021",
		},
		{
			name: "timestamp from the future", setup: setup{hook: platformtest.HookOptions{Secret: "right"}, secret: "right", now: 61 * time.Minute},
			outcome: herald.OutcomePermanent, status: 200, code: "19021",
		},
		{
			name: "keyword missing", setup: setup{hook: platformtest.HookOptions{Keyword: "deploy-bot"}},
			outcome: herald.OutcomePermanent, status: 200, code: "19024", err: "{name} answered code 19024: Key Words Not Found",
		},
		{
			name: "unknown token", setup: setup{url: func(s *feishutest.Server, _ string) string { return s.URL + feishutest.PathPrefix + "deleted-token" }},
			outcome: herald.OutcomePermanent, status: 200, code: "19001", err: "{name} answered code 19001: param invalid: incoming webhook access token invalid",
		},
		{
			name: "bad request", setup: setup{prepare: func(s *feishutest.Server) { s.FailNextCode(1, 9499, "Bad Request") }},
			outcome: herald.OutcomePermanent, status: 200, code: "9499", err: "{name} answered code 9499: Bad Request",
		},
		{
			name: "IP not allowed", setup: setup{prepare: func(s *feishutest.Server) { s.FailNextCode(1, 19022, "Ip Not Allowed") }},
			outcome: herald.OutcomePermanent, status: 200, code: "19022", err: "Ip Not Allowed",
		},
		{
			name: "unknown code", setup: setup{prepare: func(s *feishutest.Server) { s.FailNextCode(1, 12345, "") }},
			outcome: herald.OutcomePermanent, status: 200, code: "12345", err: "{name} answered code 12345",
		},
		{
			name: "legacy success", setup: setup{prepare: inject(200, `{"StatusCode":0,"StatusMessage":"success"}`, nil)},
			outcome: herald.OutcomeSuccess, status: 200, code: "0",
		},
		{
			name: "legacy failure", setup: setup{prepare: inject(200, `{"StatusCode":19024,"StatusMessage":"Key Words Not Found"}`, nil)},
			outcome: herald.OutcomePermanent, status: 200, code: "19024", err: "{name} answered code 19024: Key Words Not Found",
		},
		{
			name: "code wins over StatusCode", setup: setup{prepare: inject(200, `{"StatusCode":0,"StatusMessage":"success","code":19024,"msg":"Key Words Not Found"}`, nil)},
			outcome: herald.OutcomePermanent, status: 200, code: "19024",
		},
		{
			name: "200 without a code", setup: setup{prepare: inject(200, `{"data":{}}`, nil)},
			outcome: herald.OutcomePermanent, status: 200, err: `{name} answered HTTP 200: {"data":{}}`,
		},
		{
			name: "200 not JSON", setup: setup{prepare: inject(200, "ok", nil)},
			outcome: herald.OutcomePermanent, status: 200, err: "{name} answered HTTP 200: ok",
		},
		{
			name: "server error", setup: setup{prepare: inject(502, "<html>Bad Gateway</html>", http.Header{"Retry-After": {"4"}})},
			outcome: herald.OutcomeRetryable, status: 502, retryAfter: 4 * time.Second, err: "{name} answered HTTP 502: <html>Bad Gateway</html>",
		},
		{
			name: "server error with a code", setup: setup{prepare: inject(500, `{"code":1000,"msg":"internal error"}`, nil)},
			outcome: herald.OutcomeRetryable, status: 500, code: "1000", err: "{name} answered code 1000: internal error (HTTP 500)",
		},
		{
			name: "wrong path", setup: setup{url: func(s *feishutest.Server, _ string) string { return s.URL + "/open-apis/bot/v1/hook/x" }},
			outcome: herald.OutcomePermanent, status: 404, err: "{name} answered HTTP 404: 404 page not found",
		},
	}
	for _, pl := range platforms {
		for _, tt := range tests {
			t.Run(pl.name+"/"+tt.name, func(t *testing.T) {
				srv := feishutest.NewServer(t)
				hook := srv.NewHook(tt.setup.hook)
				target := hook
				if tt.setup.url != nil {
					target = tt.setup.url(srv, hook)
				}
				if tt.setup.prepare != nil {
					tt.setup.prepare(srv)
				}
				m := platformtest.FixtureMessage(herald.IssueCreated)
				req := &platform.Request{
					Webhook: &herald.Webhook{Type: pl.p.Type(), URL: target, SigningSecret: tt.setup.secret},
					Message: m,
				}
				if tt.setup.now != 0 {
					req.Now = time.Now().Add(tt.setup.now)
				}
				if tt.setup.sendFirst {
					if first := platformtest.SendRequest(pl.p, req); first.Outcome != herald.OutcomeSuccess {
						t.Fatalf("first request: %s %s", first.Outcome, first.Error)
					}
				}
				before := len(srv.Requests())
				res := platformtest.SendRequest(pl.p, req)
				platformtest.CheckResult(t, res, platformtest.Want{
					Outcome: tt.outcome, Status: tt.status, Code: tt.code, RetryAfter: tt.retryAfter,
					Err: strings.ReplaceAll(tt.err, "{name}", pl.name),
				})
				var rendered []byte // a signed body is not the rendered message
				if tt.setup.secret == "" {
					rendered, _ = Render(m)
				}
				platformtest.CheckSent(t, res, srv.Requests()[before:], "application/json", rendered)
				platformtest.CheckSecrets(t, res, target, tt.setup.secret)
				// Only messages the fake itself took count: an injected
				// success answer is not one.
				platformtest.CheckAccepted(t, srv, hook, tt.setup.sendFirst || (tt.outcome == herald.OutcomeSuccess && tt.setup.prepare == nil))
			})
		}
	}
}

func TestSendConnectionRefused(t *testing.T) {
	for _, pl := range platforms {
		t.Run(pl.name, func(t *testing.T) {
			srv := feishutest.NewServer(t)
			hook := srv.NewHook(platformtest.HookOptions{})
			srv.Close()
			res := platformtest.Send(pl.p, hook, platformtest.FixtureMessage(herald.IssueCreated))
			platformtest.CheckUnreachable(t, res, strings.TrimPrefix(hook, srv.URL+feishutest.PathPrefix), "/open-apis/")
		})
	}
}

// markup is text that stresses escaping and byte counting.
const markup = "<at id=all></at>*_~`[x](y):中文字符😀&#60; "

// TestSendLongMarkupDescriptionIsAccepted sends a 10,000-character
// description (and details) of markup and Chinese to a signed bot with a
// keyword, which checks the size, schema, signature and keyword.
func TestSendLongMarkupDescriptionIsAccepted(t *testing.T) {
	for _, pl := range platforms {
		t.Run(pl.name, func(t *testing.T) {
			srv := feishutest.NewServer(t)
			hook := srv.NewHook(platformtest.HookOptions{Secret: "s", Keyword: platformtest.FixtureKeyword})
			m := platformtest.LongMessage(herald.IssueApprovalRequested, markup)
			res := platformtest.SendRequest(pl.p, &platform.Request{
				Webhook: &herald.Webhook{Type: pl.p.Type(), URL: hook, SigningSecret: "s", Keyword: platformtest.FixtureKeyword},
				Message: m,
			})
			msg := platformtest.CheckDelivered(t, res, srv, hook)
			if len(msg) > feishutest.MaxBody {
				t.Fatalf("%s: the message has %d bytes", pl.name, len(msg))
			}
			r := parse(t, msg)
			d := r.texts()["div"][0]
			if !strings.HasPrefix(d, "&#60;at id=all&#62;&#60;/at&#62;&#42;&#95;&#126;&#96;&#91;x&#93;&#40;y&#41;&#58;中文字符😀&#38;#60;") ||
				!strings.HasSuffix(d, message.Ellipsis) {
				t.Errorf("%s: description not escaped and cut: %q…", pl.name, message.Truncate(d, 80))
			}
			if strings.Contains(string(msg), "<at") {
				t.Errorf("%s: an unescaped mention went out", pl.name)
			}
			if _, err := strconv.ParseInt(r.Timestamp, 10, 64); err != nil || r.Sign == "" {
				t.Errorf("%s: not signed: timestamp %q sign %q", pl.name, r.Timestamp, r.Sign)
			}
		})
	}
}
