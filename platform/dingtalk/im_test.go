package dingtalk

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/platform/dingtalk/dingtalktest"
	"github.com/heraldhq/herald/platform/platformtest"
)

// newIM starts a fake of DingTalk's app APIs and a Messenger with its
// credentials.
func newIM(t *testing.T) (*dingtalktest.IMAPI, *Messenger) {
	t.Helper()
	f := dingtalktest.NewIMAPI(t)
	s := f.Settings()
	return f, messengerFor(f, &s)
}

func messengerFor(f *dingtalktest.IMAPI, s *herald.IMSettings) *Messenger {
	var e platform.IMEndpoints
	f.Endpoints(&e)
	return NewMessenger(s, &http.Client{Timeout: 10 * time.Second}, e).(*Messenger)
}

func imError(t *testing.T, err error) *platform.IMError {
	t.Helper()
	var e *platform.IMError
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *IMError", err, err)
	}
	return e
}

func testMessage() *message.Message {
	return platformtest.FixtureMessage(herald.IssueApprovalRequested)
}

// sampleMarkdownOf decodes a recorded msgParam.
func sampleMarkdownOf(t *testing.T, raw json.RawMessage) sampleMarkdown {
	t.Helper()
	var p sampleMarkdown
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("msgParam %s: %v", raw, err)
	}
	return p
}

func TestMessengerValidate(t *testing.T) {
	f, m := newIM(t)
	if err := m.Validate(t.Context()); err != nil {
		t.Fatalf("valid credentials: %v", err)
	}
	// Validate fetches a token every time: it checks the stored
	// credentials, not the cache.
	if err := m.Validate(t.Context()); err != nil || f.TokenFetches() != 2 {
		t.Fatalf("second validate: %v, %d token fetches, want 2", err, f.TokenFetches())
	}
	// Validate keeps the token it fetched.
	if _, err := m.Lookup(t.Context(), herald.User{Phone: "+8613800138000"}); imError(t, err).Kind != platform.IMUnmatched || f.TokenFetches() != 2 {
		t.Fatalf("lookup after validate: %v, %d token fetches, want 2", err, f.TokenFetches())
	}

	f.RejectCredentials()
	err := m.Validate(t.Context())
	e := imError(t, err)
	if e.Kind != platform.IMRejected || e.Code != dingtalktest.CodeBadCredentials || e.HTTPStatus != http.StatusBadRequest ||
		!strings.Contains(err.Error(), "Client Secret") {
		t.Fatalf("rejected credentials: %+v (%v)", e, err)
	}

	wrong := f.Settings()
	wrong.ClientSecret = "not-" + wrong.ClientSecret
	if err := messengerFor(f, &wrong).Validate(t.Context()); imError(t, err).Kind != platform.IMRejected {
		t.Fatalf("a wrong secret: %v", err)
	}
}

func TestMessengerLookup(t *testing.T) {
	f, m := newIM(t)
	cases := []struct {
		name, phone, asked string
	}{
		{"mainland by its national number", "+8613800138000", "13800138000"},
		{"Hong Kong as +852-number", "+85251234567", "+852-51234567"},
		{"North America as +1-number", "+14155550123", "+1-4155550123"},
		{"Singapore as +65-number", "+6581234567", "+65-81234567"},
		{"digits only as given", "13900139000", "13900139000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := f.AddUser(herald.User{Name: c.name, Phone: c.phone})
			got, err := m.Lookup(t.Context(), herald.User{Email: "x@example.com", Phone: c.phone})
			if err != nil || got != want {
				t.Fatalf("Lookup(%s) = %q, %v; want %q", c.phone, got, err, want)
			}
			if asked := f.Lookups(); asked[len(asked)-1] != c.asked {
				t.Fatalf("asked DingTalk for %q, want %q", asked[len(asked)-1], c.asked)
			}
		})
	}

	t.Run("not found", func(t *testing.T) {
		_, err := m.Lookup(t.Context(), herald.User{Phone: "+8613700137000"})
		if e := imError(t, err); e.Kind != platform.IMUnmatched || e.Code != "60121" {
			t.Fatalf("unknown mobile: %+v", e)
		}
	})
	t.Run("no usable phone", func(t *testing.T) {
		before := len(f.Lookups())
		for _, u := range []herald.User{{Email: "only@example.com"}, {Phone: "0800 123"}, {Phone: "+86"}} {
			_, err := m.Lookup(t.Context(), u)
			if e := imError(t, err); e.Kind != platform.IMUnmatched {
				t.Fatalf("%+v: %+v", u, e)
			}
		}
		if n := len(f.Lookups()) - before; n != 0 {
			t.Fatalf("asked DingTalk %d times about recipients without a usable phone", n)
		}
	})
}

func TestMessengerLookupErrors(t *testing.T) {
	f, m := newIM(t)
	phone := "+8613800138000"
	f.AddUser(herald.User{Phone: phone})
	cases := []struct {
		errcode int
		subCode string
		kind    platform.IMErrorKind
		code    string
	}{
		{dingtalktest.ErrcodeBusy, "", platform.IMTransient, "-1"},
		{dingtalktest.ErrcodeQPSLimit, "", platform.IMRateLimited, "90018"},
		{dingtalktest.ErrcodeAuth, "60011", platform.IMRejected, "60011"},
		{60011, "", platform.IMRejected, "60011"},
		{60020, "", platform.IMRejected, "60020"},
		{dingtalktest.ErrcodeBadMobile, "", platform.IMUnmatched, "40104"},
		{dingtalktest.ErrcodeNoUser, "", platform.IMUnmatched, "60121"},
		{dingtalktest.ErrcodeBadParam, "", platform.IMPermanent, "400002"},
	}
	for _, c := range cases {
		f.AnswerNextLookup(c.errcode, c.subCode, "injected")
		_, err := m.Lookup(t.Context(), herald.User{Phone: phone})
		if e := imError(t, err); e.Kind != c.kind || e.Code != c.code || e.Call != "user/getbymobile" {
			t.Errorf("errcode %d/%s: %+v, want kind %d code %s", c.errcode, c.subCode, e, c.kind, c.code)
		} else if c.code == "60011" && !strings.Contains(e.Error(), "qyapi_get_member_by_mobile") {
			t.Errorf("a missing permission does not name it: %v", e)
		}
	}
	// After the injected answers, the same lookup works.
	if _, err := m.Lookup(t.Context(), herald.User{Phone: phone}); err != nil {
		t.Fatal(err)
	}
}

func TestMessengerSend(t *testing.T) {
	f, m := newIM(t)
	id := f.AddUser(herald.User{Phone: "+8613800138000"})
	msg := testMessage()
	r := m.Send(t.Context(), id, msg, "dlv/1")
	if r.Outcome != herald.OutcomeSuccess || r.HTTPStatus != http.StatusOK || r.CredentialsRejected || r.Error != "" {
		t.Fatalf("send: %+v", r)
	}
	got := f.Received(id)
	if len(got) != 1 || got[0].MsgKey != "sampleMarkdown" || got[0].RobotCode != f.Settings().RobotCode {
		t.Fatalf("received %+v", got)
	}
	title, text := Markdown(msg)
	if p := sampleMarkdownOf(t, got[0].Param); p.Title != title || p.Text != text || !strings.Contains(p.Text, "Herald") {
		t.Fatalf("message %+v, want the title and text of Markdown: %q", p, title)
	}
	// The request body in the log is what went over the wire: msgParam a
	// JSON string.
	var body struct {
		RobotCode string   `json:"robotCode"`
		UserIDs   []string `json:"userIds"`
		MsgKey    string   `json:"msgKey"`
		MsgParam  string   `json:"msgParam"`
	}
	if err := json.Unmarshal([]byte(r.RequestBody), &body); err != nil || body.MsgKey != "sampleMarkdown" ||
		len(body.UserIDs) != 1 || body.UserIDs[0] != id || sampleMarkdownOf(t, json.RawMessage(body.MsgParam)).Text != text {
		t.Fatalf("request body %s: %v", r.RequestBody, err)
	}
	if !strings.Contains(r.ResponseBody, "processQueryKey") {
		t.Fatalf("response body %s", r.ResponseBody)
	}
	if n := len(f.DMs(id)); n != 1 {
		t.Fatalf("%d DMs, want 1", n)
	}
}

func TestMessengerSendAnswers(t *testing.T) {
	cases := []struct {
		name     string
		prepare  func(f *dingtalktest.IMAPI, id string)
		outcome  herald.Outcome
		status   int
		code     string
		rejected bool
	}{
		{"invalidStaffIdList", func(f *dingtalktest.IMAPI, id string) { f.MarkInvalid(id) },
			herald.OutcomePermanent, 200, "invalidStaffIdList", false},
		{"flowControlledStaffIdList", func(f *dingtalktest.IMAPI, id string) { f.FlowControlNext(id, 1) },
			herald.OutcomeRateLimited, 200, "flowControlledStaffIdList", false},
		{"transient", func(f *dingtalktest.IMAPI, _ string) { f.FailNextSends(1) },
			herald.OutcomeRetryable, 500, dingtalktest.CodeSystemError, false},
		{"QPS limit for the API", func(f *dingtalktest.IMAPI, _ string) { f.RateLimitNextSends(1) },
			herald.OutcomeRateLimited, 403, dingtalktest.CodeQPSLimit, false},
		{"QPS limit for the app", func(f *dingtalktest.IMAPI, _ string) {
			f.AnswerNextSend(403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi", "too fast")
		}, herald.OutcomeRateLimited, 403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi", false},
		{"invalid parameter", func(f *dingtalktest.IMAPI, _ string) {
			f.AnswerNextSend(400, dingtalktest.CodeMsgKeyInvalid, "msgKey无效")
		}, herald.OutcomePermanent, 400, dingtalktest.CodeMsgKeyInvalid, false},
		{"missing permission", func(f *dingtalktest.IMAPI, _ string) {
			f.AnswerNextSend(403, dingtalktest.CodeNoPermission, "没有调用该接口的权限")
		}, herald.OutcomePermanent, 403, dingtalktest.CodeNoPermission, true},
		{"robot of another app", func(f *dingtalktest.IMAPI, _ string) {
			f.AnswerNextSend(400, dingtalktest.CodeRobotCodeAuth, "不匹配")
		}, herald.OutcomePermanent, 400, dingtalktest.CodeRobotCodeAuth, true},
		{"bad gateway", func(f *dingtalktest.IMAPI, _ string) { f.AnswerNextSend(502, "", "") },
			herald.OutcomeRetryable, 502, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, m := newIM(t)
			id := f.AddUser(herald.User{Phone: "+8613800138000"})
			c.prepare(f, id)
			r := m.Send(t.Context(), id, testMessage(), "k")
			if r.Outcome != c.outcome || r.HTTPStatus != c.status || r.PlatformCode != c.code || r.CredentialsRejected != c.rejected ||
				r.Error == "" || r.RequestBody == "" {
				t.Fatalf("%+v\nwant %s, HTTP %d, code %q, rejected %v", r, c.outcome, c.status, c.code, c.rejected)
			}
			if n := len(f.DMs(id)); n != 0 {
				t.Fatalf("%d DMs recorded for a failed send", n)
			}
			// The next send goes through, except to someone DingTalk
			// will never message.
			if r := m.Send(t.Context(), id, testMessage(), "k"); (r.Outcome == herald.OutcomeSuccess) == (c.code == "invalidStaffIdList") {
				t.Fatalf("the next send: %+v", r)
			}
		})
	}
}

// A robot code the app does not own is the settings' fault: the delivery
// falls back to the channel.
func TestMessengerWrongRobot(t *testing.T) {
	f, _ := newIM(t)
	s := f.Settings()
	s.RobotCode = "dingnotmine"
	m := messengerFor(f, &s)
	id := f.AddUser(herald.User{Phone: "+8613800138000"})
	r := m.Send(t.Context(), id, testMessage(), "k")
	if !r.CredentialsRejected || r.Outcome != herald.OutcomePermanent || r.PlatformCode != dingtalktest.CodeRobotCodeAuth {
		t.Fatalf("%+v", r)
	}
}

// A token that expired after it was cached is refreshed, once, on each
// API: exactly one message, one lookup answered.
func TestMessengerTokenExpiry(t *testing.T) {
	f, m := newIM(t)
	phone := "+8613800138000"
	id := f.AddUser(herald.User{Phone: phone})
	if err := m.Validate(t.Context()); err != nil {
		t.Fatal(err)
	}

	f.ExpireTokens()
	if got, err := m.Lookup(t.Context(), herald.User{Phone: phone}); err != nil || got != id {
		t.Fatalf("lookup with an expired token: %q, %v", got, err)
	}
	if n := f.TokenFetches(); n != 2 {
		t.Fatalf("%d token fetches, want 2", n)
	}

	f.ExpireTokens()
	if r := m.Send(t.Context(), id, testMessage(), "k"); r.Outcome != herald.OutcomeSuccess {
		t.Fatalf("send with an expired token: %+v", r)
	}
	if n, sends := len(f.DMs(id)), f.Sends(); n != 1 || sends != 2 {
		t.Fatalf("%d DMs after %d sends, want 1 after 2 (one refused, one sent)", n, sends)
	}
	if n := f.TokenFetches(); n != 3 {
		t.Fatalf("%d token fetches, want 3", n)
	}
}

// Credentials revoked after a token was cached: the token is refused, the
// new one cannot be had, and the answer says the credentials were
// rejected.
func TestMessengerRevokedCredentials(t *testing.T) {
	f, m := newIM(t)
	phone := "+8613800138000"
	id := f.AddUser(herald.User{Phone: phone})
	if err := m.Validate(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.RejectCredentials()
	if _, err := m.Lookup(t.Context(), herald.User{Phone: phone}); imError(t, err).Kind != platform.IMRejected {
		t.Fatalf("lookup: %v", err)
	}
	r := m.Send(t.Context(), id, testMessage(), "k")
	if !r.CredentialsRejected || r.Outcome != herald.OutcomePermanent || r.PlatformCode != dingtalktest.CodeBadCredentials || r.RequestBody == "" {
		t.Fatalf("send: %+v", r)
	}
}

// A token DingTalk keeps refusing is tried with one new token, not more.
func TestMessengerTokenRefusedTwice(t *testing.T) {
	f, m := newIM(t)
	id := f.AddUser(herald.User{Phone: "+8613800138000"})
	f.AnswerNextSend(400, dingtalktest.CodeBadToken, "不合法的access_token")
	f.AnswerNextSend(400, dingtalktest.CodeBadToken, "不合法的access_token")
	r := m.Send(t.Context(), id, testMessage(), "k")
	if !r.CredentialsRejected || r.PlatformCode != dingtalktest.CodeBadToken || f.Sends() != 2 || f.TokenFetches() != 2 {
		t.Fatalf("%+v after %d sends, %d token fetches", r, f.Sends(), f.TokenFetches())
	}
}

// Concurrent calls share one token fetch.
func TestMessengerConcurrentSendsShareOneToken(t *testing.T) {
	f, m := newIM(t)
	const n = 20
	ids := make([]string, n)
	for i := range ids {
		ids[i] = f.AddUser(herald.User{})
	}
	var wg sync.WaitGroup
	results := make([]platform.Result, n)
	for i := range n {
		wg.Go(func() { results[i] = m.Send(t.Context(), ids[i], testMessage(), "k") })
	}
	wg.Wait()
	for i, r := range results {
		if r.Outcome != herald.OutcomeSuccess || len(f.DMs(ids[i])) != 1 {
			t.Fatalf("send %d: %+v", i, r)
		}
	}
	if got := f.TokenFetches(); got != 1 {
		t.Fatalf("%d token fetches for %d concurrent sends, want 1", got, n)
	}
}

// The token is cached until shortly before it expires, then replaced.
func TestMessengerTokenCachedUntilShortlyBeforeExpiry(t *testing.T) {
	f, m := newIM(t)
	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return now }
	lookup := func() {
		t.Helper()
		if _, err := m.Lookup(t.Context(), herald.User{Phone: "+8613800138000"}); imError(t, err).Kind != platform.IMUnmatched {
			t.Fatal(err)
		}
	}
	lookup()
	now = now.Add(dingtalktest.TokenLifetime - tokenMargin - time.Second)
	lookup()
	if n := f.TokenFetches(); n != 1 {
		t.Fatalf("%d token fetches before the margin, want 1", n)
	}
	now = now.Add(2 * time.Second)
	lookup()
	if n := f.TokenFetches(); n != 2 {
		t.Fatalf("%d token fetches past the margin, want 2", n)
	}
	if tokenMargin < time.Minute {
		t.Fatalf("tokens are replaced %v before they expire; a minute or more is wanted", tokenMargin)
	}
}

// A held send answered only when the fake is released: the message is not
// delivered and the attempt is retryable.
func TestMessengerHeldSend(t *testing.T) {
	f, m := newIM(t)
	id := f.AddUser(herald.User{})
	f.HoldSendsAfter(0)
	done := make(chan platform.Result)
	go func() { done <- m.Send(t.Context(), id, testMessage(), "k") }()
	for f.Sends() == 0 {
		time.Sleep(time.Millisecond)
	}
	f.Release()
	if r := <-done; r.Outcome != herald.OutcomeRetryable || r.HTTPStatus != http.StatusServiceUnavailable || len(f.DMs(id)) != 0 {
		t.Fatalf("held send: %+v, %d DMs", r, len(f.DMs(id)))
	}
}

// No network answer: transient, and nothing secret in the error.
func TestMessengerUnreachable(t *testing.T) {
	f, m := newIM(t)
	f.Close()
	_, err := m.Lookup(t.Context(), herald.User{Phone: "+8613800138000"})
	if e := imError(t, err); e.Kind != platform.IMTransient {
		t.Fatalf("lookup: %+v", e)
	}
	if r := m.Send(t.Context(), "u1", testMessage(), "k"); r.Outcome != herald.OutcomeRetryable || r.Error == "" {
		t.Fatalf("send: %+v", r)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := m.Validate(ctx); imError(t, err).Kind != platform.IMTransient {
		t.Fatalf("validate, cancelled: %v", err)
	}
}

// Nothing a caller gets back — errors, Results — holds a token or the
// client secret, whatever happened.
func TestMessengerNoSecretInResults(t *testing.T) {
	f, m := newIM(t)
	phone := "+8613800138000"
	id := f.AddUser(herald.User{Phone: phone})
	var seen []string
	lookup := func() {
		if _, err := m.Lookup(t.Context(), herald.User{Phone: phone}); err != nil {
			seen = append(seen, err.Error())
		}
	}
	send := func() {
		r := m.Send(t.Context(), id, testMessage(), "k")
		seen = append(seen, r.Error, r.RequestBody, r.ResponseBody, r.PlatformCode)
	}
	if err := m.Validate(t.Context()); err != nil {
		t.Fatal(err)
	}
	send()
	lookup()
	f.ExpireTokens()
	send()
	f.ExpireTokens()
	lookup()
	f.FailNextSends(1)
	send()
	f.AnswerNextLookup(dingtalktest.ErrcodeAuth, "60011", "没有调用该接口的权限")
	lookup()
	f.AnswerNextSend(403, dingtalktest.CodeNoPermission, "没有调用该接口的权限")
	send()
	f.RejectCredentials()
	send()
	lookup()
	if err := m.Validate(t.Context()); err != nil {
		seen = append(seen, err.Error())
	}
	secrets := append(f.Tokens(), f.Settings().ClientSecret)
	if len(secrets) < 4 {
		t.Fatalf("only %d secrets to look for", len(secrets))
	}
	for _, s := range seen {
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				t.Fatalf("a secret shows in %q", s)
			}
		}
	}
}

// The scrubber removes secrets should DingTalk ever quote them.
func TestMessengerScrub(t *testing.T) {
	_, m := newIM(t)
	got := m.scrub(`{"message":"bad token tok123 for secret `+m.clientSecret+`"}`, "tok123")
	if strings.Contains(got, "tok123") || strings.Contains(got, m.clientSecret) {
		t.Fatalf("scrubbed: %s", got)
	}
}

// Every message fits in msgParam, and messages that fit anyway are
// Markdown's title and text unchanged.
func TestMessengerParamFits(t *testing.T) {
	platformtest.RandomMessages(t, 200, func(t *testing.T, name string, m *message.Message) {
		param, err := markdownParam(m)
		if err != nil || len(param) > MaxParam {
			t.Fatalf("%s: %d bytes of msgParam, %v", name, len(param), err)
		}
		var p sampleMarkdown
		if err := json.Unmarshal(param, &p); err != nil || p.Title == "" || !strings.Contains(p.Text, "Herald") {
			t.Fatalf("%s: msgParam %.200s: %v", name, param, err)
		}
		if title, text := Markdown(m); len(text) < MaxParam/2 && (p.Title != title || p.Text != text) {
			t.Fatalf("%s: a short message was changed", name)
		}
	})
	quoted := strings.Repeat(`"`, 20000) // each quote is two bytes in JSON
	big := platformtest.FuzzMessage(quoted, quoted, quoted, "https://console.example.com/x", quoted, quoted, 40)
	param, _ := markdownParam(big)
	title, text := Markdown(big)
	whole, _ := platform.JSON(sampleMarkdown{Title: title, Text: text})
	if len(whole) <= MaxParam || len(param) > MaxParam {
		t.Fatalf("a long message: %d bytes of msgParam, %d bytes uncut (want more than %d)", len(param), len(whole), MaxParam)
	}
}
