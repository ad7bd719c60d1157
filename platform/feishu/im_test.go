package feishu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/platform/feishu/feishutest"
	"github.com/heraldhq/herald/platform/platformtest"
)

// imHosts are the two IM platforms: each Messenger constructor with the
// fake of its own host.
var imHosts = []struct {
	name      string
	fake      func(testing.TB) *feishutest.IMAPI
	messenger platform.NewMessenger
}{
	{"Feishu", feishutest.NewFeishuIMAPI, NewFeishuMessenger},
	{"Lark", feishutest.NewLarkIMAPI, NewLarkMessenger},
}

// imEnv is one Messenger and the fake it talks to.
type imEnv struct {
	api *feishutest.IMAPI
	m   *Messenger
	// results and errs collect everything the Messenger returned, for
	// leakCheck.
	mu      sync.Mutex
	results []platform.Result
	errs    []error
}

// forEachHost runs f against a fresh fake for Feishu and for Lark. The
// endpoints start empty: only the one the fake sets is usable, so each
// constructor is seen to use its own base URL.
func forEachHost(t *testing.T, f func(t *testing.T, env *imEnv)) {
	for _, h := range imHosts {
		t.Run(h.name, func(t *testing.T) {
			api := h.fake(t)
			var e platform.IMEndpoints
			api.Endpoints(&e)
			s := api.Settings()
			env := &imEnv{api: api, m: h.messenger(&s, api.Client(), e).(*Messenger)}
			t.Cleanup(func() { env.leakCheck(t) })
			f(t, env)
		})
	}
}

func (env *imEnv) send(t *testing.T, userID string, m *message.Message, key string) platform.Result {
	t.Helper()
	r := env.m.Send(t.Context(), userID, m, key)
	env.mu.Lock()
	env.results = append(env.results, r)
	env.mu.Unlock()
	return r
}

func (env *imEnv) lookup(t *testing.T, u herald.User) (string, error) {
	t.Helper()
	id, err := env.m.Lookup(t.Context(), u)
	env.keep(err)
	return id, err
}

func (env *imEnv) validate(t *testing.T) error {
	t.Helper()
	err := env.m.Validate(t.Context())
	env.keep(err)
	return err
}

func (env *imEnv) keep(err error) {
	if err != nil {
		env.mu.Lock()
		env.errs = append(env.errs, err)
		env.mu.Unlock()
	}
}

// leakCheck fails when a Result or error holds the app secret or a tenant
// token.
func (env *imEnv) leakCheck(t *testing.T) {
	secrets := append(env.api.IssuedTokens(), env.api.Settings().AppSecret, env.m.appSecret)
	var texts []string
	for _, r := range env.results {
		texts = append(texts, r.Error, r.PlatformCode, r.RequestBody, r.ResponseBody, r.DisableReason)
	}
	for _, err := range env.errs {
		texts = append(texts, err.Error())
	}
	for _, s := range texts {
		for _, secret := range secrets {
			if secret != "" && strings.Contains(s, secret) {
				t.Errorf("a secret or token leaked: %q", s)
			}
		}
	}
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

func TestMessengerValidate(t *testing.T) {
	forEachHost(t, func(t *testing.T, env *imEnv) {
		if err := env.validate(t); err != nil {
			t.Fatalf("valid credentials: %v", err)
		}
		// Validate fetches a token now, even with one cached.
		if err := env.validate(t); err != nil || env.api.TokenFetches() != 2 {
			t.Fatalf("second validate: %v, %d token fetches, want 2", err, env.api.TokenFetches())
		}
		env.api.RejectCredentials()
		err := env.validate(t)
		e := imError(t, err)
		if e.Kind != platform.IMRejected || e.Code != "10014" || !strings.Contains(e.Error(), "App Secret") {
			t.Fatalf("rejected credentials: %v (kind %d)", err, e.Kind)
		}
	})
	for _, h := range imHosts {
		t.Run(h.name+"/bad settings", func(t *testing.T) {
			api := h.fake(t)
			var e platform.IMEndpoints
			api.Endpoints(&e)
			good := api.Settings()
			for _, tc := range []struct {
				name     string
				settings herald.IMSettings
				code     string
			}{
				{"wrong secret", herald.IMSettings{AppID: good.AppID, AppSecret: "wrong-secret-0123456789"}, "10014"},
				{"unknown app", herald.IMSettings{AppID: "cli_unknown", AppSecret: good.AppSecret}, "10003"},
				{"missing secret", herald.IMSettings{AppID: good.AppID}, ""},
			} {
				err := h.messenger(&tc.settings, api.Client(), e).Validate(t.Context())
				ie := imError(t, err)
				if ie.Kind != platform.IMRejected || ie.Code != tc.code {
					t.Errorf("%s: %v (kind %d), want rejected with code %q", tc.name, err, ie.Kind, tc.code)
				}
				if tc.settings.AppSecret != "" && strings.Contains(err.Error(), tc.settings.AppSecret) {
					t.Errorf("%s: the error shows the secret: %v", tc.name, err)
				}
			}
			if api.TokenFetches() != 0 {
				t.Fatalf("%d tokens issued for bad credentials", api.TokenFetches())
			}
		})
	}
}

func TestMessengerLookup(t *testing.T) {
	forEachHost(t, func(t *testing.T, env *imEnv) {
		byEmail := env.api.AddUser(herald.User{Email: "Ada@Example.com", Phone: "+8613800138000"})
		mainland := env.api.AddUser(herald.User{Email: "other@example.com", Phone: "+86 138-0013-8001"})
		abroad := env.api.AddUser(herald.User{Phone: "+14155550100"})
		tests := []struct {
			name string
			user herald.User
			want string
		}{
			{"by email", herald.User{Email: "ada@example.com"}, byEmail},
			{"by email before phone", herald.User{Email: "ada@example.com", Phone: "+8613800138001"}, byEmail},
			{"by mainland mobile when the email is unknown", herald.User{Email: "nobody@example.com", Phone: "+8613800138001"}, mainland},
			{"by mobile without an email", herald.User{Phone: "+86 138 0013 8001"}, mainland},
			{"by a mobile outside mainland China", herald.User{Email: "nobody@example.com", Phone: "+1 415-555-0100"}, abroad},
		}
		for _, tc := range tests {
			if id, err := env.lookup(t, tc.user); err != nil || id != tc.want {
				t.Errorf("%s: %q, %v; want %q", tc.name, id, err, tc.want)
			}
		}
		for _, u := range []herald.User{{Email: "nobody@example.com"}, {Email: "nobody@example.com", Phone: "+8613900000000"}, {Phone: "+14155550199"}} {
			_, err := env.lookup(t, u)
			if e := imError(t, err); e.Kind != platform.IMUnmatched {
				t.Errorf("%+v: %v, want unmatched", u, err)
			}
		}
		fetches := env.api.TokenFetches()
		_, err := env.lookup(t, herald.User{Name: "No Contact"})
		if e := imError(t, err); e.Kind != platform.IMUnmatched || env.api.TokenFetches() != fetches {
			t.Errorf("no email and no phone: %v, want unmatched without a request", err)
		}
		if fetches != 1 {
			t.Errorf("%d token fetches for the lookups, want 1 (cached)", fetches)
		}
	})
}

func TestMessengerLookupFailures(t *testing.T) {
	forEachHost(t, func(t *testing.T, env *imEnv) {
		u := herald.User{Email: "ada@example.com"}
		env.api.AddUser(u)
		env.api.FailNext(feishutest.BatchGetIDPath, feishutest.IMFailure{Status: 429, Code: feishutest.CodeGatewayLimit,
			Msg: "request trigger frequency limit", Header: http.Header{"X-Ogw-Ratelimit-Reset": {"3"}}})
		_, err := env.lookup(t, u)
		if e := imError(t, err); e.Kind != platform.IMRateLimited || e.RetryAfter != 3*time.Second {
			t.Errorf("rate limited: %v (kind %d, retry after %v)", err, e.Kind, e.RetryAfter)
		}
		env.api.FailNext(feishutest.BatchGetIDPath, feishutest.IMFailure{Status: 503, Code: feishutest.CodeInternal, Msg: "internal error"})
		_, err = env.lookup(t, u)
		if e := imError(t, err); e.Kind != platform.IMTransient || e.HTTPStatus != 503 {
			t.Errorf("503: %v (kind %d)", err, e.Kind)
		}
		env.api.RevokeScope(feishutest.ScopeUserID)
		_, err = env.lookup(t, u)
		if e := imError(t, err); e.Kind != platform.IMRejected || e.Code != "99991672" || !strings.Contains(err.Error(), feishutest.ScopeUserID) {
			t.Errorf("missing scope: %v (kind %d), want rejected naming the scope", err, e.Kind)
		}
	})
}

func TestMessengerSend(t *testing.T) {
	forEachHost(t, func(t *testing.T, env *imEnv) {
		id := env.api.AddUser(herald.User{Email: "ada@example.com"})
		m := testMessage()
		r := env.send(t, id, m, "delivery-1/"+id)
		if r.Outcome != herald.OutcomeSuccess || r.HTTPStatus != 200 || r.PlatformCode != "0" || r.Error != "" || r.CredentialsRejected {
			t.Fatalf("send: %+v", r)
		}
		dms := env.api.DMs(id)
		if len(dms) != 1 {
			t.Fatalf("%d DMs, want 1", len(dms))
		}
		// The DM is the webhook's card, as it is.
		if want := encode(Card(m)); string(dms[0]) != string(want) {
			t.Errorf("the DM is\n%s\nwant the webhook's card\n%s", dms[0], want)
		}
		var sent struct {
			ReceiveID string `json:"receive_id"`
			MsgType   string `json:"msg_type"`
			Content   string `json:"content"`
			UUID      string `json:"uuid"`
		}
		if err := json.Unmarshal([]byte(r.RequestBody), &sent); err != nil || sent.ReceiveID != id || sent.MsgType != "interactive" ||
			sent.Content != string(dms[0]) || sent.UUID != UUID("delivery-1/"+id) {
			t.Errorf("request body %s (%v)", r.RequestBody, err)
		}
		if !strings.Contains(r.ResponseBody, `"message_id":"om_`) {
			t.Errorf("response body %s", r.ResponseBody)
		}
	})
}

// A key sent again (a resend after a crash) is answered success and not
// shown twice; the uuid of a long key is its hash, the same each time.
func TestMessengerSendDedup(t *testing.T) {
	forEachHost(t, func(t *testing.T, env *imEnv) {
		id := env.api.AddUser(herald.User{Email: "ada@example.com"})
		long := "0b8f6d4e-3c1a-4f7e-9a2b-5d6c7e8f9a0b/" + id // 72 characters
		for _, key := range []string{"d1", "d1", long, long} {
			if r := env.send(t, id, testMessage(), key); r.Outcome != herald.OutcomeSuccess {
				t.Fatalf("send %q: %+v", key, r)
			}
		}
		if n := len(env.api.DMs(id)); n != 2 {
			t.Fatalf("%d DMs after sending two keys twice each, want 2", n)
		}
	})
}

func TestUUID(t *testing.T) {
	short := strings.Repeat("k", 50)
	if UUID(short) != short {
		t.Errorf("a 50-character key is changed: %q", UUID(short))
	}
	a, b := UUID(short+"a"), UUID(short+"b")
	if len(a) != 40 || a != UUID(short+"a") || a == b {
		t.Errorf("hashed uuids %q %q: want 40 characters, stable, distinct", a, b)
	}
}

func TestMessengerSendFailures(t *testing.T) {
	fail := func(status, code int, msg string, header http.Header) func(*feishutest.IMAPI) {
		return func(a *feishutest.IMAPI) {
			a.FailNext(feishutest.MessagesPath, feishutest.IMFailure{Status: status, Code: code, Msg: msg, Header: header})
		}
	}
	tests := []struct {
		name       string
		prepare    func(*feishutest.IMAPI)
		outcome    herald.Outcome
		status     int
		code       string
		retryAfter time.Duration
		rejected   bool
	}{
		{"IM rate limit", fail(400, 230020, "The message frequency exceeds the limit", nil), herald.OutcomeRateLimited, 400, "230020", 0, false},
		{"gateway rate limit", fail(429, 99991400, "request trigger frequency limit", http.Header{"X-Ogw-Ratelimit-Limit": {"50"}, "X-Ogw-Ratelimit-Reset": {"7"}}),
			herald.OutcomeRateLimited, 429, "99991400", 7 * time.Second, false},
		{"invalid parameter", fail(400, 230001, "Your request contains an invalid request parameter", nil), herald.OutcomePermanent, 400, "230001", 0, false},
		{"too long", fail(400, 230025, "The length of the message content reaches its limit", nil), herald.OutcomePermanent, 400, "230025", 0, false},
		{"outside availability", fail(400, 230013, "Bot has NO availability to this user", nil), herald.OutcomePermanent, 400, "230013", 0, false},
		{"missing permission", fail(400, 230027, "Lack of necessary permissions", nil), herald.OutcomePermanent, 400, "230027", 0, true},
		{"bot not enabled", fail(400, 230006, "Bot ability is not activated", nil), herald.OutcomePermanent, 400, "230006", 0, true},
		{"scope revoked", func(a *feishutest.IMAPI) { a.RevokeScope(feishutest.ScopeSend) }, herald.OutcomePermanent, 400, "230027", 0, true},
		{"transient", func(a *feishutest.IMAPI) { a.FailNextSends(1) }, herald.OutcomeRetryable, 500, "1500", 0, false},
		{"credentials rejected", func(a *feishutest.IMAPI) { a.RejectCredentials() }, herald.OutcomePermanent, 200, "10014", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			forEachHost(t, func(t *testing.T, env *imEnv) {
				id := env.api.AddUser(herald.User{Email: "ada@example.com"})
				if err := env.validate(t); err != nil {
					t.Fatal(err)
				}
				tc.prepare(env.api)
				r := env.send(t, id, testMessage(), "k")
				if r.Outcome != tc.outcome || r.HTTPStatus != tc.status || r.PlatformCode != tc.code || r.RetryAfter != tc.retryAfter ||
					r.CredentialsRejected != tc.rejected || r.Error == "" || !strings.Contains(r.RequestBody, `"msg_type":"interactive"`) {
					t.Fatalf("%+v", r)
				}
				if n := len(env.api.DMs(id)); n != 0 {
					t.Fatalf("%d DMs after a failed send", n)
				}
			})
		})
	}
}

// A token that expired before the first send is dropped and replaced: the
// send is retried once and delivered once.
func TestMessengerRefreshesExpiredToken(t *testing.T) {
	forEachHost(t, func(t *testing.T, env *imEnv) {
		id := env.api.AddUser(herald.User{Email: "ada@example.com"})
		if err := env.validate(t); err != nil {
			t.Fatal(err)
		}
		env.api.ExpireTokens()
		r := env.send(t, id, testMessage(), "k")
		if r.Outcome != herald.OutcomeSuccess || len(env.api.DMs(id)) != 1 || env.api.Sends() != 2 || env.api.TokenFetches() != 2 {
			t.Fatalf("%+v: %d DMs, %d sends, %d token fetches; want SUCCESS, 1, 2, 2", r, len(env.api.DMs(id)), env.api.Sends(), env.api.TokenFetches())
		}
		// A token refused again right after its refresh is not retried
		// forever: the app is refused.
		for range 2 {
			env.api.FailNext(feishutest.MessagesPath, feishutest.IMFailure{Status: 400, Code: feishutest.CodeBadTenantToken, Msg: feishutest.MsgBadTenantToken})
		}
		r = env.send(t, id, testMessage(), "k2")
		if r.Outcome != herald.OutcomePermanent || !r.CredentialsRejected || r.PlatformCode != "99991663" || env.api.Sends() != 4 {
			t.Fatalf("token refused twice: %+v, %d sends", r, env.api.Sends())
		}
	})
}

// The token is used until three minutes before it expires, then replaced
// before it is refused.
func TestMessengerRenewsTokenBeforeExpiry(t *testing.T) {
	forEachHost(t, func(t *testing.T, env *imEnv) {
		env.api.AddUser(herald.User{Email: "ada@example.com"})
		now := time.Now()
		env.m.now = func() time.Time { return now }
		lookup := func() {
			t.Helper()
			if _, err := env.lookup(t, herald.User{Email: "ada@example.com"}); err != nil {
				t.Fatal(err)
			}
		}
		lookup()
		now = now.Add(feishutest.TokenLifetime - 3*time.Minute - time.Second)
		lookup()
		if n := env.api.TokenFetches(); n != 1 {
			t.Fatalf("%d token fetches before the renewal time, want 1", n)
		}
		now = now.Add(2 * time.Second)
		lookup()
		if n := env.api.TokenFetches(); n != 2 {
			t.Fatalf("%d token fetches after the renewal time, want 2", n)
		}
	})
}

// Concurrent sends wait for one token fetch.
func TestMessengerConcurrentSendsShareOneToken(t *testing.T) {
	for _, h := range imHosts {
		t.Run(h.name, func(t *testing.T) {
			api := h.fake(t)
			var fake platform.IMEndpoints
			api.Endpoints(&fake)
			target, _ := url.Parse(fake.FeishuAPI + fake.LarkAPI)
			// Token requests are held until every send has started, so that
			// the sends overlap the fetch.
			gate := make(chan struct{})
			proxy := httputil.NewSingleHostReverseProxy(target)
			front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == feishutest.TokenPath {
					<-gate
				}
				proxy.ServeHTTP(w, r)
			}))
			t.Cleanup(front.Close)
			e := platform.IMEndpoints{FeishuAPI: front.URL, LarkAPI: front.URL}
			s := api.Settings()
			env := &imEnv{api: api, m: h.messenger(&s, front.Client(), e).(*Messenger)}
			t.Cleanup(func() { env.leakCheck(t) })

			const n = 8
			var ids []string
			for i := range n {
				ids = append(ids, api.AddUser(herald.User{Email: fmt.Sprintf("user%d@example.com", i)}))
			}
			var started, done sync.WaitGroup
			results := make([]platform.Result, n)
			for i := range n {
				started.Add(1)
				done.Add(1)
				go func() {
					defer done.Done()
					started.Done()
					results[i] = env.m.Send(context.Background(), ids[i], testMessage(), fmt.Sprintf("k%d", i))
				}()
			}
			started.Wait()
			close(gate)
			done.Wait()
			env.results = results
			for i, r := range results {
				if r.Outcome != herald.OutcomeSuccess || len(api.DMs(ids[i])) != 1 {
					t.Fatalf("send %d: %+v", i, r)
				}
			}
			if f := api.TokenFetches(); f != 1 {
				t.Fatalf("%d token fetches for %d concurrent sends, want 1", f, n)
			}
		})
	}
}

// A card whose request would pass 30 KB (quotes count twice in the
// content string) is cut to fit; an ordinary one is the webhook's card.
func TestMessageBodyFits(t *testing.T) {
	m := testMessage()
	m.Description = strings.Repeat(`"`, 20000)
	m.Details = strings.Repeat(`"`, 3000)
	body := MessageBody("ou_1", m, "k")
	wire := encode(body)
	if len(wire) > maxIMBody {
		t.Fatalf("the request body has %d bytes, more than %d", len(wire), maxIMBody)
	}
	if full := encode(Card(m)); *body.Content == string(full) {
		t.Fatal("the card was not cut, yet the test expects the webhook's card to be too big")
	}
	forEachHost(t, func(t *testing.T, env *imEnv) {
		id := env.api.AddUser(herald.User{Email: "ada@example.com"})
		if r := env.send(t, id, m, "k"); r.Outcome != herald.OutcomeSuccess || len(r.RequestBody) > maxIMBody {
			t.Fatalf("%+v", r)
		}
	})
}

// Answers that are not the Open API's (a proxy's HTML 502, a wrong base
// path's plain-text 404) and no answer at all are classified by what is
// known.
func TestMessengerNonAPIAnswers(t *testing.T) {
	api := feishutest.NewFeishuIMAPI(t)
	var fake platform.IMEndpoints
	api.Endpoints(&fake)
	target, _ := url.Parse(fake.FeishuAPI)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == feishutest.MessagesPath {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<html><body>502 Bad Gateway</body></html>"))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	s := api.Settings()
	id := api.AddUser(herald.User{Email: "ada@example.com"})

	r := NewFeishuMessenger(&s, front.Client(), platform.IMEndpoints{FeishuAPI: front.URL}).Send(t.Context(), id, testMessage(), "k")
	if r.Outcome != herald.OutcomeRetryable || r.HTTPStatus != 502 || !strings.Contains(r.ResponseBody, "502 Bad Gateway") {
		t.Errorf("HTML 502: %+v", r)
	}
	r = NewFeishuMessenger(&s, api.Client(), platform.IMEndpoints{FeishuAPI: api.URL + "/wrong"}).Send(t.Context(), id, testMessage(), "k")
	if r.Outcome != herald.OutcomePermanent || !r.CredentialsRejected || r.HTTPStatus != 404 {
		t.Errorf("404 from the token endpoint: %+v", r)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	_, err := NewFeishuMessenger(&s, closed.Client(), platform.IMEndpoints{FeishuAPI: closed.URL}).Lookup(t.Context(), herald.User{Email: "ada@example.com"})
	if e := imError(t, err); e.Kind != platform.IMTransient || strings.Contains(err.Error(), closed.URL) {
		t.Errorf("connection refused: %v (kind %d)", err, e.Kind)
	}
}

func TestMobile(t *testing.T) {
	for in, want := range map[string]string{
		"+8613800138000":    "13800138000",
		"+86 138-0013-8000": "13800138000",
		"13800138000":       "13800138000",
		"+1 (415) 555-0100": "+14155550100",
		"+852 9123 4567":    "+85291234567",
	} {
		if got := Mobile(in); got != want {
			t.Errorf("Mobile(%q) = %q, want %q", in, got, want)
		}
	}
}
