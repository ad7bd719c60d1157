package wecom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/platform/platformtest"
	"github.com/heraldhq/herald/platform/wecom/wecomtest"
)

// imPair is a fake WeCom app API and a Messenger with its credentials,
// over a transport of its own (closed when the test ends).
type imPair struct {
	api *wecomtest.IMAPI
	m   *Messenger
	tr  *http.Transport
}

func newIMPair(t *testing.T, edit ...func(*herald.IMSettings)) *imPair {
	t.Helper()
	api := wecomtest.NewIMAPI(t)
	s := api.Settings()
	for _, f := range edit {
		f(&s)
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	var e platform.IMEndpoints
	api.Endpoints(&e)
	return &imPair{api: api, m: NewMessenger(&s, &http.Client{Transport: tr, Timeout: 30 * time.Second}, e).(*Messenger), tr: tr}
}

func approvalMessage() *message.Message {
	return platformtest.FixtureMessage(herald.IssueApprovalRequested)
}

// imError returns err's *platform.IMError, failing the test when it is
// not one of kind.
func imError(t *testing.T, err error, kind platform.IMErrorKind) *platform.IMError {
	t.Helper()
	var ie *platform.IMError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v (%T), want an *IMError", err, err)
	}
	if ie.Kind != kind {
		t.Fatalf("error %q of kind %d, want %d", ie.Error(), ie.Kind, kind)
	}
	return ie
}

// callsTo returns the bodies of the requests the fake received for call.
func callsTo(api *wecomtest.IMAPI, call string) []string {
	var out []string
	for _, r := range api.Requests() {
		if r.Path == "/cgi-bin/"+call {
			out = append(out, string(r.Body))
		}
	}
	return out
}

func TestValidate(t *testing.T) {
	p := newIMPair(t)
	if err := p.m.Validate(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Each Validate fetches a token: it checks the credentials now.
	if err := p.m.Validate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := p.api.TokenFetches(); n != 2 {
		t.Fatalf("%d gettoken calls for two validations, want 2", n)
	}
	if n := len(callsTo(p.api, wecomtest.CallAgentGet)); n != 2 {
		t.Fatalf("%d agent/get calls, want 2", n)
	}
}

func TestValidateRejected(t *testing.T) {
	const wrong = "wrong-value-4f3c9a"
	tests := []struct {
		name  string
		edit  func(*herald.IMSettings)
		setup func(*wecomtest.IMAPI)
		code  string
		say   []string
	}{
		{name: "wrong secret", edit: func(s *herald.IMSettings) { s.Secret = wrong }, code: "40001", say: []string{"secret", "App Management"}},
		{name: "wrong corpId", edit: func(s *herald.IMSettings) { s.CorpID = wrong }, code: "40013", say: []string{"corpId", "My Company"}},
		{name: "secret reset", setup: func(a *wecomtest.IMAPI) { a.RejectCredentials() }, code: "40001", say: []string{"secret"}},
		{name: "untrusted IP", setup: func(a *wecomtest.IMAPI) { a.SetTrustedIP(false) }, code: "60020", say: []string{"trusted IPs", "127.0.0.1"}},
		{name: "wrong agentId", edit: func(s *herald.IMSettings) { s.AgentID = 1000099 }, code: "301002", say: []string{"agentId 1000099"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var edits []func(*herald.IMSettings)
			if tt.edit != nil {
				edits = append(edits, tt.edit)
			}
			p := newIMPair(t, edits...)
			if tt.setup != nil {
				tt.setup(p.api)
			}
			err := p.m.Validate(t.Context())
			ie := imError(t, err, platform.IMRejected)
			if ie.Code != tt.code {
				t.Errorf("code %q, want %q (%v)", ie.Code, tt.code, err)
			}
			for _, s := range tt.say {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			secrets := append(p.api.Tokens(), p.api.Settings().Secret, wrong)
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) && s != p.api.Settings().CorpID {
					t.Errorf("error %q reveals %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "hint:") || strings.Contains(err.Error(), "more info at") {
				t.Errorf("error %q keeps WeCom's errmsg decoration", err)
			}
		})
	}
}

func TestLookupByEmail(t *testing.T) {
	p := newIMPair(t)
	u := herald.User{Email: "alice@example.com", Phone: "+8613800138000"}
	want := p.api.AddUser(u)
	got, err := p.m.Lookup(t.Context(), herald.User{Email: "Alice@Example.com", Phone: u.Phone})
	if err != nil || got != want {
		t.Fatalf("Lookup = %q, %v; want %q", got, err, want)
	}
	calls := callsTo(p.api, wecomtest.CallUserByEmail)
	if len(calls) != 1 || !strings.Contains(calls[0], `"email_type":2`) || len(callsTo(p.api, wecomtest.CallUserByMobile)) != 0 {
		t.Fatalf("calls %q, want one get_userid_by_email with email_type 2 and no mobile lookup", calls)
	}
}

func TestLookupByCorporateEmail(t *testing.T) {
	p := newIMPair(t)
	want := p.api.AddMember(wecomtest.Member{BizMail: "bob@corp.wecom.work"})
	got, err := p.m.Lookup(t.Context(), herald.User{Email: "bob@corp.wecom.work"})
	if err != nil || got != want {
		t.Fatalf("Lookup = %q, %v; want %q", got, err, want)
	}
	calls := callsTo(p.api, wecomtest.CallUserByEmail)
	if len(calls) != 2 || !strings.Contains(calls[0], `"email_type":2`) || !strings.Contains(calls[1], `"email_type":1`) {
		t.Fatalf("calls %q, want email_type 2 then 1", calls)
	}
}

func TestLookupByMobileWhenTheEmailIsUnknown(t *testing.T) {
	p := newIMPair(t)
	want := p.api.AddUser(herald.User{Email: "carol@example.com", Phone: "+8613900139000"})
	got, err := p.m.Lookup(t.Context(), herald.User{Email: "carol.old@example.com", Phone: "+86 139-0013-9000"})
	if err != nil || got != want {
		t.Fatalf("Lookup = %q, %v; want %q", got, err, want)
	}
	if calls := callsTo(p.api, wecomtest.CallUserByMobile); len(calls) != 1 || calls[0] != `{"mobile":"13900139000"}` {
		t.Fatalf("mobile lookups %q, want one with the national number", calls)
	}
	// A phone alone is looked up by mobile only.
	got, err = p.m.Lookup(t.Context(), herald.User{Phone: "+8613900139000"})
	if err != nil || got != want {
		t.Fatalf("Lookup by phone = %q, %v; want %q", got, err, want)
	}
	if n := len(callsTo(p.api, wecomtest.CallUserByEmail)); n != 2 {
		t.Fatalf("%d email lookups, want 2 (from the first Lookup only)", n)
	}
}

func TestMobile(t *testing.T) {
	for in, want := range map[string]string{
		"+8613800138000":    "13800138000",
		"+86 138 0013 8000": "13800138000",
		"+1 (415) 555-0100": "+14155550100",
		"13800138000":       "13800138000",
		"":                  "",
	} {
		if got := Mobile(in); got != want {
			t.Errorf("Mobile(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLookupNotFound(t *testing.T) {
	p := newIMPair(t)
	p.api.AddUser(herald.User{Email: "someone@example.com", Phone: "+8613700137000"})
	_, err := p.m.Lookup(t.Context(), herald.User{Email: "nobody@example.com", Phone: "+8613600136000"})
	ie := imError(t, err, platform.IMUnmatched)
	if ie.Code != "46004" || !strings.Contains(ie.Message, "visible range") {
		t.Errorf("error %q, want 46004 naming the visible range", ie)
	}
	if n, m := len(callsTo(p.api, wecomtest.CallUserByEmail)), len(callsTo(p.api, wecomtest.CallUserByMobile)); n != 2 || m != 1 {
		t.Errorf("%d email and %d mobile lookups, want 2 and 1", n, m)
	}
}

func TestLookupWithoutEmailOrPhone(t *testing.T) {
	p := newIMPair(t)
	_, err := p.m.Lookup(t.Context(), herald.User{Name: "Dana"})
	imError(t, err, platform.IMUnmatched)
	if n := len(p.api.Requests()); n != 0 {
		t.Fatalf("%d requests for a recipient without email or phone, want none", n)
	}
}

func TestLookupFailures(t *testing.T) {
	tests := []struct {
		code int
		kind platform.IMErrorKind
	}{
		{60011, platform.IMRejected},
		{48002, platform.IMRejected},
		{301002, platform.IMRejected},
		{60020, platform.IMRejected},
		{45009, platform.IMRateLimited},
		{45033, platform.IMRateLimited},
		{-1, platform.IMTransient},
		{99999, platform.IMPermanent}, // an errcode Herald does not know
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			p := newIMPair(t)
			u := herald.User{Email: "erin@example.com", Phone: "+8613500135000"}
			p.api.AddUser(u)
			p.api.FailNext(wecomtest.CallUserByEmail, tt.code, "injected")
			_, err := p.m.Lookup(t.Context(), u)
			ie := imError(t, err, tt.kind)
			if ie.Code != fmt.Sprint(tt.code) {
				t.Errorf("code %q, want %d", ie.Code, tt.code)
			}
			if tt.kind == platform.IMRateLimited && ie.RetryAfter != RateLimitDelay {
				t.Errorf("RetryAfter %s, want %s", ie.RetryAfter, RateLimitDelay)
			}
			// A failure other than "not found" ends the lookup.
			if n := len(callsTo(p.api, wecomtest.CallUserByMobile)); n != 0 {
				t.Errorf("%d mobile lookups after errcode %d, want none", n, tt.code)
			}
		})
	}
}

// An "invalid parameter" answer to one key (an address WeCom does not take
// as that type of email, a malformed mobile) is a miss: the next key is
// tried, and a recipient no key finds is unmatched.
func TestLookupInvalidParameterIsAMiss(t *testing.T) {
	p := newIMPair(t)
	want := p.api.AddMember(wecomtest.Member{BizMail: "erin@example.com", Mobile: "13500135000"})
	p.api.FailNext(wecomtest.CallUserByEmail, 40058, "invalid parameter")
	if got, err := p.m.Lookup(t.Context(), herald.User{Email: "erin@example.com"}); err != nil || got != want {
		t.Fatalf("Lookup = %q, %v; want %q by the other email type", got, err, want)
	}
	p.api.FailNext(wecomtest.CallUserByMobile, 40035, "invalid parameter")
	_, err := p.m.Lookup(t.Context(), herald.User{Phone: "+8613500135000"})
	imError(t, err, platform.IMUnmatched)
}

func TestLookupRefreshesAnExpiredToken(t *testing.T) {
	p := newIMPair(t)
	want := p.api.AddUser(herald.User{Email: "frank@example.com"})
	if err := p.m.Validate(t.Context()); err != nil {
		t.Fatal(err)
	}
	p.api.ExpireTokens()
	got, err := p.m.Lookup(t.Context(), herald.User{Email: "frank@example.com"})
	if err != nil || got != want {
		t.Fatalf("Lookup = %q, %v; want %q", got, err, want)
	}
	if n := p.api.TokenFetches(); n != 2 {
		t.Fatalf("%d gettoken calls, want 2", n)
	}
}

func TestLookupWithRejectedCredentials(t *testing.T) {
	p := newIMPair(t)
	p.api.AddUser(herald.User{Email: "gina@example.com"})
	if err := p.m.Validate(t.Context()); err != nil {
		t.Fatal(err)
	}
	p.api.RejectCredentials() // the cached token now gets 40014, gettoken 40001
	_, err := p.m.Lookup(t.Context(), herald.User{Email: "gina@example.com"})
	if ie := imError(t, err, platform.IMRejected); ie.Code != "40001" || ie.Call != "gettoken" {
		t.Fatalf("error %q, want gettoken 40001", ie)
	}
}

// sentDM is the part of a recorded message/send body a test reads.
type sentDM struct {
	ToUser   string      `json:"touser"`
	MsgType  string      `json:"msgtype"`
	AgentID  json.Number `json:"agentid"`
	Markdown struct {
		Content string `json:"content"`
	} `json:"markdown"`
	EnableDuplicateCheck int `json:"enable_duplicate_check"`
}

func TestSendDirectMessage(t *testing.T) {
	p := newIMPair(t)
	id := p.api.AddUser(herald.User{Email: "hana@example.com"})
	msg := approvalMessage()
	res := p.m.Send(t.Context(), id, msg, "d1/"+id)
	if res.Outcome != herald.OutcomeSuccess || res.HTTPStatus != http.StatusOK || res.PlatformCode != "0" || res.CredentialsRejected {
		t.Fatalf("result %+v", res)
	}
	dms := p.api.DMs(id)
	if len(dms) != 1 {
		t.Fatalf("%d DMs, want 1", len(dms))
	}
	if res.RequestBody != string(dms[0]) || !strings.Contains(res.ResponseBody, `"errcode":0`) {
		t.Errorf("request body %s, response body %s; delivered %s", res.RequestBody, res.ResponseBody, dms[0])
	}
	// agentid is a JSON number, not a string.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(dms[0], &raw); err != nil || !bytes.Equal(raw["agentid"], []byte(fmt.Sprint(p.api.Settings().AgentID))) {
		t.Fatalf("agentid %s, want the integer %d", raw["agentid"], p.api.Settings().AgentID)
	}
	dm := platformtest.Parse[sentDM](t, dms[0])
	if dm.ToUser != id || dm.MsgType != "markdown" || dm.Markdown.Content != AppMarkdown(msg, "d1/"+id) || dm.EnableDuplicateCheck != 1 {
		t.Fatalf("DM %+v", dm)
	}
	if !strings.Contains(dm.Markdown.Content, "Herald") || !strings.Contains(dm.Markdown.Content, msg.Title) {
		t.Errorf("content %q lacks the title or Herald", dm.Markdown.Content)
	}
}

func TestSendDirectMessageAnswers(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(a *wecomtest.IMAPI)
		to       string // a userid not in the directory, instead of the member
		outcome  herald.Outcome
		rejected bool
		code     string
		say      string
	}{
		{name: "invaliduser", setup: func(a *wecomtest.IMAPI) { a.InvalidUserNext(1) }, outcome: herald.OutcomePermanent, code: "0", say: "invaliduser"},
		{name: "unlicenseduser", setup: func(a *wecomtest.IMAPI) { a.UnlicensedUserNext(1) }, outcome: herald.OutcomePermanent, code: "0", say: "unlicenseduser"},
		{name: "not a member", to: "ghost", outcome: herald.OutcomePermanent, code: "81013"},
		{name: "45009", setup: failSend(45009), outcome: herald.OutcomeRateLimited, code: "45009"},
		{name: "45033", setup: failSend(45033), outcome: herald.OutcomeRateLimited, code: "45033"},
		{name: "system busy", setup: func(a *wecomtest.IMAPI) { a.FailNextSends(1) }, outcome: herald.OutcomeRetryable, code: "-1"},
		{name: "40056", setup: failSend(40056), outcome: herald.OutcomePermanent, rejected: true, code: "40056", say: "agentId"},
		{name: "301002", setup: failSend(301002), outcome: herald.OutcomePermanent, rejected: true, code: "301002", say: "agentId"},
		{name: "48002", setup: failSend(48002), outcome: herald.OutcomePermanent, rejected: true, code: "48002"},
		{name: "untrusted IP", setup: func(a *wecomtest.IMAPI) { a.SetTrustedIP(false) }, outcome: herald.OutcomePermanent, rejected: true, code: "60020", say: "trusted IPs"},
		{name: "44004", setup: failSend(44004), outcome: herald.OutcomePermanent, code: "44004"},
		{name: "45002", setup: failSend(45002), outcome: herald.OutcomePermanent, code: "45002"},
		{name: "40058", setup: failSend(40058), outcome: herald.OutcomePermanent, code: "40058"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newIMPair(t)
			id := p.api.AddUser(herald.User{Email: "ivan@example.com"})
			if tt.setup != nil {
				tt.setup(p.api)
			}
			to := id
			if tt.to != "" {
				to = tt.to
			}
			res := p.m.Send(t.Context(), to, approvalMessage(), "key")
			if res.Outcome != tt.outcome || res.CredentialsRejected != tt.rejected || res.PlatformCode != tt.code {
				t.Fatalf("result %s rejected=%v code %q (%s), want %s rejected=%v code %q", res.Outcome, res.CredentialsRejected, res.PlatformCode, res.Error,
					tt.outcome, tt.rejected, tt.code)
			}
			if res.HTTPStatus != http.StatusOK || res.RequestBody == "" || res.ResponseBody == "" || res.Error == "" {
				t.Errorf("result %+v lacks its status, bodies or error", res)
			}
			if !strings.Contains(res.Error, tt.say) {
				t.Errorf("error %q does not say %q", res.Error, tt.say)
			}
			if tt.outcome == herald.OutcomeRateLimited && res.RetryAfter != RateLimitDelay {
				t.Errorf("RetryAfter %s, want %s", res.RetryAfter, RateLimitDelay)
			}
			if n := len(p.api.DMs(id)); n != 0 {
				t.Errorf("%d DMs delivered, want none", n)
			}
			checkNoSecrets(t, p.api, res, nil)
		})
	}
}

func failSend(code int) func(*wecomtest.IMAPI) {
	return func(a *wecomtest.IMAPI) { a.FailNext(wecomtest.CallMessageSend, code, "injected") }
}

// checkNoSecrets fails t when a field of res or err quotes the app's secret
// or any token the fake issued.
func checkNoSecrets(t *testing.T, api *wecomtest.IMAPI, res platform.Result, err error) {
	t.Helper()
	secrets := append(api.Tokens(), api.Settings().Secret)
	platformtest.CheckSecrets(t, res, secrets...)
	if err != nil {
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error %q reveals %q", err, s)
			}
		}
	}
	for _, f := range []string{res.Error, res.RequestBody, res.ResponseBody} {
		if strings.Contains(f, "access_token=") || strings.Contains(f, "corpsecret") {
			t.Errorf("result quotes a URL's credentials: %q", f)
		}
	}
}

func TestSendRefreshesAnExpiredToken(t *testing.T) {
	p := newIMPair(t)
	id := p.api.AddUser(herald.User{Email: "jun@example.com"})
	if err := p.m.Validate(t.Context()); err != nil {
		t.Fatal(err)
	}
	p.api.ExpireTokens()
	res := p.m.Send(t.Context(), id, approvalMessage(), "key")
	if res.Outcome != herald.OutcomeSuccess {
		t.Fatalf("result %+v", res)
	}
	if n := len(p.api.DMs(id)); n != 1 {
		t.Fatalf("%d DMs, want exactly 1", n)
	}
	if s, f := p.api.Sends(), p.api.TokenFetches(); s != 2 || f != 2 {
		t.Fatalf("%d sends and %d gettoken calls, want 2 and 2", s, f)
	}
}

func TestSendRetriesARefusedTokenOnce(t *testing.T) {
	p := newIMPair(t)
	id := p.api.AddUser(herald.User{Email: "kai@example.com"})
	p.api.FailNext(wecomtest.CallMessageSend, 42001, "access_token expired")
	p.api.FailNext(wecomtest.CallMessageSend, 40014, "invalid access_token")
	res := p.m.Send(t.Context(), id, approvalMessage(), "key")
	if !res.CredentialsRejected || res.PlatformCode != "40014" {
		t.Fatalf("result %+v, want the second refusal to reject the credentials", res)
	}
	if s := p.api.Sends(); s != 2 {
		t.Fatalf("%d sends, want 2 (one retry)", s)
	}
	checkNoSecrets(t, p.api, res, nil)
}

func TestSendWithRejectedCredentials(t *testing.T) {
	p := newIMPair(t)
	id := p.api.AddUser(herald.User{Email: "lea@example.com"})
	if err := p.m.Validate(t.Context()); err != nil {
		t.Fatal(err)
	}
	p.api.RejectCredentials()
	res := p.m.Send(t.Context(), id, approvalMessage(), "key")
	if !res.CredentialsRejected || res.PlatformCode != "40001" || res.RequestBody == "" {
		t.Fatalf("result %+v, want rejected with 40001 and the request body", res)
	}
	if n := len(p.api.DMs(id)); n != 0 {
		t.Fatalf("%d DMs, want none", n)
	}
	checkNoSecrets(t, p.api, res, nil)
}

func TestConcurrentSendsShareOneTokenFetch(t *testing.T) {
	p := newIMPair(t)
	const n = 8
	ids := make([]string, n)
	for i := range ids {
		ids[i] = p.api.AddUser(herald.User{Email: fmt.Sprintf("user%d@example.com", i)})
	}
	results := make([]platform.Result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			<-start
			results[i] = p.m.Send(t.Context(), ids[i], approvalMessage(), "key")
		})
	}
	close(start)
	wg.Wait()
	for i, r := range results {
		if r.Outcome != herald.OutcomeSuccess || len(p.api.DMs(ids[i])) != 1 {
			t.Fatalf("send %d: %+v", i, r)
		}
	}
	if f := p.api.TokenFetches(); f != 1 {
		t.Fatalf("%d gettoken calls for %d concurrent sends, want 1", f, n)
	}
}

func TestTokenIsCachedUntilShortlyBeforeItExpires(t *testing.T) {
	p := newIMPair(t)
	var mu sync.Mutex
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	p.api.SetClock(clock)
	p.m.now = clock
	u := herald.User{Email: "mia@example.com"}
	p.api.AddUser(u)
	lookup := func() {
		t.Helper()
		if _, err := p.m.Lookup(t.Context(), u); err != nil {
			t.Fatal(err)
		}
	}
	lookup()
	advance(wecomtest.DefaultTokenLifetime - tokenMargin - time.Second)
	lookup()
	if f := p.api.TokenFetches(); f != 1 {
		t.Fatalf("%d gettoken calls within the token's lifetime, want 1", f)
	}
	advance(2 * time.Second) // inside the margin: the token is not used any more
	lookup()
	if f := p.api.TokenFetches(); f != 2 {
		t.Fatalf("%d gettoken calls after the token's use-by time, want 2", f)
	}
}

// A resend of the same message to the same member (after a crash) is the
// same request, which WeCom's duplicate check drops.
func TestResendIsNotShownTwice(t *testing.T) {
	p := newIMPair(t)
	id := p.api.AddUser(herald.User{Email: "noa@example.com"})
	for range 2 {
		if res := p.m.Send(t.Context(), id, approvalMessage(), "key"); res.Outcome != herald.OutcomeSuccess {
			t.Fatalf("result %+v", res)
		}
	}
	if n := len(p.api.DMs(id)); n != 1 {
		t.Fatalf("%d DMs after a resend, want 1", n)
	}
	// Another delivery of a message that reads the same (an approval
	// requested again) is a new message: WeCom must not drop it.
	if res := p.m.Send(t.Context(), id, approvalMessage(), "another key"); res.Outcome != herald.OutcomeSuccess {
		t.Fatalf("result %+v", res)
	}
	if n := len(p.api.DMs(id)); n != 2 {
		t.Fatalf("%d DMs after a second delivery of the same message, want 2", n)
	}
}

// The token travels in the query and nowhere else, and Herald says who it
// is.
func TestTokenOnlyInTheQuery(t *testing.T) {
	p := newIMPair(t)
	id := p.api.AddUser(herald.User{Email: "omar@example.com"})
	if _, err := p.m.Lookup(t.Context(), herald.User{Email: "omar@example.com"}); err != nil {
		t.Fatal(err)
	}
	if res := p.m.Send(t.Context(), id, approvalMessage(), "key"); res.Outcome != herald.OutcomeSuccess {
		t.Fatalf("result %+v", res)
	}
	tokens := p.api.Tokens()
	for _, r := range p.api.Requests() {
		if r.Path != "/cgi-bin/gettoken" && r.Query.Get("access_token") == "" {
			t.Errorf("%s without access_token in the query", r.Path)
		}
		if r.Header.Get("Authorization") != "" || r.Header.Get("User-Agent") != "Herald" {
			t.Errorf("%s headers %v", r.Path, r.Header)
		}
		for _, tok := range tokens {
			if bytes.Contains(r.Body, []byte(tok)) {
				t.Errorf("%s body carries the token", r.Path)
			}
		}
	}
}

// failingTransport fails every request to a path ending in suffix, as a
// network failure does (net/http quotes the URL, token included, in it).
type failingTransport struct {
	suffix string
	next   http.RoundTripper
}

func (f failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, f.suffix) {
		return nil, errors.New("connection reset by peer")
	}
	return f.next.RoundTrip(r)
}

func TestNetworkFailuresRevealNoSecret(t *testing.T) {
	for _, call := range []string{wecomtest.CallGetToken, wecomtest.CallUserByEmail, wecomtest.CallMessageSend, wecomtest.CallAgentGet} {
		t.Run(call, func(t *testing.T) {
			api := wecomtest.NewIMAPI(t)
			s := api.Settings()
			var e platform.IMEndpoints
			api.Endpoints(&e)
			tr := &http.Transport{}
			t.Cleanup(tr.CloseIdleConnections)
			m := NewMessenger(&s, &http.Client{Transport: failingTransport{suffix: call, next: tr}}, e).(*Messenger)
			id := api.AddUser(herald.User{Email: "pia@example.com"})
			var res platform.Result
			var err error
			switch call {
			case wecomtest.CallAgentGet:
				err = m.Validate(t.Context())
				imError(t, err, platform.IMTransient)
			case wecomtest.CallUserByEmail:
				_, err = m.Lookup(t.Context(), herald.User{Email: "pia@example.com"})
				imError(t, err, platform.IMTransient)
			default:
				res = m.Send(t.Context(), id, approvalMessage(), "key")
				if res.Outcome != herald.OutcomeRetryable || res.CredentialsRejected || res.RequestBody == "" {
					t.Fatalf("result %+v, want RETRYABLE with the request body", res)
				}
			}
			checkNoSecrets(t, api, res, err)
			if err != nil && strings.Contains(err.Error(), "access_token") {
				t.Errorf("error %q quotes the URL", err)
			}
		})
	}
}

// A Messenger starts no goroutine: none of its own, and not the SDK's
// token refresher (SpawnAccessTokenRefresher), which only a context could
// stop. After it is used and dropped, no goroutine runs its code or the
// SDK's.
func TestMessengerLeavesNoGoroutine(t *testing.T) {
	p := newIMPair(t)
	id := p.api.AddUser(herald.User{Email: "quinn@example.com"})
	if err := p.m.Validate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.m.Lookup(t.Context(), herald.User{Email: "quinn@example.com"}); err != nil {
		t.Fatal(err)
	}
	p.api.ExpireTokens()
	if res := p.m.Send(t.Context(), id, approvalMessage(), "key"); res.Outcome != herald.OutcomeSuccess {
		t.Fatalf("result %+v", res)
	}
	p.m = nil
	p.tr.CloseIdleConnections()
	runtime.GC()
	var leaked []string
	for range 100 { // connection goroutines may take a moment to end
		leaked = leakedGoroutines()
		if len(leaked) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("goroutines still run the Messenger's or the SDK's code:\n%s", strings.Join(leaked, "\n\n"))
}

// leakedGoroutines returns the stacks of the goroutines, other than the
// caller's, that run code of package wecom or of go-workwx.
func leakedGoroutines() []string {
	buf := make([]byte, 1<<20)
	blocks := strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")
	var out []string
	for _, b := range blocks[1:] { // the first is the caller's
		if strings.Contains(b, "github.com/heraldhq/herald/platform/wecom.") || strings.Contains(b, "github.com/xen0n/go-workwx") {
			out = append(out, b)
		}
	}
	return out
}

// An API base URL with a path (a proxy's) keeps it in every call, the
// SDK's included.
func TestBaseURLWithAPath(t *testing.T) {
	api := wecomtest.NewIMAPI(t)
	proxy := httptest.NewServer(http.StripPrefix("/wecom", api.Config.Handler))
	t.Cleanup(proxy.Close)
	s := api.Settings()
	m := NewMessenger(&s, proxy.Client(), platform.IMEndpoints{WeComAPI: proxy.URL + "/wecom/"})
	id := api.AddUser(herald.User{Email: "sam@example.com"})
	if err := m.Validate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, err := m.Lookup(t.Context(), herald.User{Email: "sam@example.com"}); err != nil || got != id {
		t.Fatalf("Lookup = %q, %v", got, err)
	}
	if res := m.Send(t.Context(), id, approvalMessage(), "key"); res.Outcome != herald.OutcomeSuccess {
		t.Fatalf("result %+v", res)
	}
}

func TestAppMarkdownWithinTheLimit(t *testing.T) {
	p := newIMPair(t)
	id := p.api.AddUser(herald.User{Email: "rui@example.com"})
	long := platformtest.LongMessage(herald.PipelineFailed, "<font>*[x](y)*</font> 数据库 🚀 ")
	if res := p.m.Send(t.Context(), id, long, "key"); res.Outcome != herald.OutcomeSuccess {
		t.Fatalf("a long message: %+v", res)
	}
	platformtest.RandomMessages(t, 100, func(t *testing.T, name string, m *message.Message) {
		c := AppMarkdown(m, name)
		if len(c) > MaxAppMarkdownBytes || !utf8.ValidString(c) || !strings.Contains(c, "Herald") {
			t.Fatalf("%s: %d bytes, valid UTF-8 %v, %q", name, len(c), utf8.ValidString(c), c)
		}
	})
}
