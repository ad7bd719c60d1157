package teams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/platform/platformtest"
	"github.com/heraldhq/herald/platform/teams/teamstest"
)

// newIM starts a fake and returns a Messenger with its settings, edited by
// edit.
func newIM(t *testing.T, edit ...func(*herald.IMSettings)) (*teamstest.IMAPI, *Messenger) {
	t.Helper()
	a := teamstest.NewIMAPI(t)
	var e platform.IMEndpoints
	a.Endpoints(&e)
	s := a.Settings()
	for _, f := range edit {
		f(&s)
	}
	return a, NewMessenger(&s, &http.Client{Timeout: 10 * time.Second}, e).(*Messenger)
}

var fixtureUser = herald.User{Name: "Alice", Email: "alice@example.com"}

// imErr returns err's *IMError, failing t when it is none.
func imErr(t *testing.T, err error) *platform.IMError {
	t.Helper()
	var e *platform.IMError
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *IMError", err, err)
	}
	return e
}

// noSecrets fails t when any text holds the app's secret or a token the
// fake issued.
func noSecrets(t *testing.T, a *teamstest.IMAPI, texts ...string) {
	t.Helper()
	secrets := append(a.Tokens(), a.Settings().ClientSecret)
	for _, s := range secrets {
		for _, text := range texts {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("%.300q reveals a secret", text)
			}
		}
	}
}

func resultTexts(r platform.Result) []string {
	return []string{r.Error, r.PlatformCode, r.RequestBody, r.ResponseBody}
}

func TestIMValidate(t *testing.T) {
	t.Run("ok, with fresh tokens each time", func(t *testing.T) {
		a, m := newIM(t)
		for i := 1; i <= 2; i++ {
			if err := m.Validate(t.Context()); err != nil {
				t.Fatal(err)
			}
			if g, b := a.TokenFetches(teamstest.GraphScope), a.TokenFetches(teamstest.BotScope); g != i || b != i {
				t.Fatalf("validate %d fetched %d Graph and %d Bot Connector tokens, want %d each", i, g, b, i)
			}
		}
		// Validate warmed the cache: a lookup needs no token.
		if _, err := m.Lookup(t.Context(), herald.User{Email: "nobody@example.com"}); imErr(t, err).Kind != platform.IMUnmatched {
			t.Fatalf("lookup: %v", err)
		}
		if n := a.TokenFetches(teamstest.GraphScope); n != 2 {
			t.Errorf("the lookup fetched a token: %d", n)
		}
	})
	tests := []struct {
		name  string
		edit  func(*herald.IMSettings)
		fake  func(*teamstest.IMAPI)
		kind  platform.IMErrorKind
		texts []string
	}{
		{name: "wrong secret", edit: func(s *herald.IMSettings) { s.ClientSecret = "abc8Q~wrong" },
			kind: platform.IMRejected, texts: []string{"invalid_client", "AADSTS7000215", "clientSecret"}},
		{name: "unknown tenant", edit: func(s *herald.IMSettings) { s.TenantID = "00000000-0000-0000-0000-000000000000" },
			kind: platform.IMRejected, texts: []string{"invalid_request", "AADSTS90002", "tenantId"}},
		{name: "unknown client", edit: func(s *herald.IMSettings) { s.ClientID = "00000000-0000-0000-0000-000000000001" },
			kind: platform.IMRejected, texts: []string{"unauthorized_client", "AADSTS700016"}},
		{name: "revoked", fake: func(a *teamstest.IMAPI) { a.RejectCredentials() },
			kind: platform.IMRejected, texts: []string{"AADSTS7000215"}},
		{name: "app not in the catalog", fake: func(a *teamstest.IMAPI) { a.RemoveCatalogApp() },
			kind: platform.IMRejected, texts: []string{"not in the organisation's app catalog"}},
		{name: "no AppCatalog.Read.All", fake: func(a *teamstest.IMAPI) { a.SetRoles("User.Read.All", "TeamsAppInstallation.ReadWriteForUser.All") },
			kind: platform.IMRejected, texts: []string{"Forbidden", "AppCatalog.Read.All"}},
		{name: "token endpoint down", fake: func(a *teamstest.IMAPI) {
			a.FailNext(teamstest.APIToken, http.StatusServiceUnavailable, "temporarily_unavailable", nil)
		},
			kind: platform.IMTransient, texts: []string{"HTTP 503"}},
		{name: "token endpoint busy", fake: func(a *teamstest.IMAPI) {
			a.FailNext(teamstest.APIToken, http.StatusTooManyRequests, "temporarily_unavailable", http.Header{"Retry-After": {"4"}})
		}, kind: platform.IMRateLimited, texts: []string{"HTTP 429"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			edit := []func(*herald.IMSettings){}
			if tt.edit != nil {
				edit = append(edit, tt.edit)
			}
			a, m := newIM(t, edit...)
			if tt.fake != nil {
				tt.fake(a)
			}
			err := m.Validate(t.Context())
			e := imErr(t, err)
			if e.Kind != tt.kind {
				t.Fatalf("kind %v, want %v: %v", e.Kind, tt.kind, err)
			}
			for _, s := range tt.texts {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "Trace ID") {
				t.Errorf("error %q keeps Entra's trace", err)
			}
			noSecrets(t, a, err.Error())
			if strings.Contains(err.Error(), m.settings.ClientSecret) {
				t.Errorf("error %q reveals the secret sent", err)
			}
		})
	}
}

func TestIMLookup(t *testing.T) {
	a, m := newIM(t)
	member := a.AddUser(fixtureUser)
	guestUser := herald.User{Email: "O'Brien+ops@partner.example"}
	guest := a.AddGuest(guestUser)

	if id, err := m.Lookup(t.Context(), herald.User{Email: "ALICE@example.com"}); err != nil || id != member {
		t.Fatalf("member: %q %v, want %q", id, err, member)
	}
	if n := a.Calls(teamstest.APIUsers); n != 0 {
		t.Errorf("a member was looked up with $filter (%d calls)", n)
	}
	if id, err := m.Lookup(t.Context(), guestUser); err != nil || id != guest {
		t.Fatalf("guest: %q %v, want %q", id, err, guest)
	}
	if n := a.Calls(teamstest.APIUsers); n != 1 {
		t.Errorf("the guest took %d $filter calls, want 1", n)
	}
	_, err := m.Lookup(t.Context(), herald.User{Email: "nobody@example.com"})
	if e := imErr(t, err); e.Kind != platform.IMUnmatched {
		t.Fatalf("unknown: %v", err)
	}
	calls := a.Calls(teamstest.APIUser) + a.Calls(teamstest.APIUsers)
	_, err = m.Lookup(t.Context(), herald.User{Name: "No email", Phone: "+8613800000000"})
	if e := imErr(t, err); e.Kind != platform.IMUnmatched {
		t.Fatalf("no email: %v", err)
	}
	if a.Calls(teamstest.APIUser)+a.Calls(teamstest.APIUsers) != calls {
		t.Errorf("a recipient without email was looked up")
	}

	a.FailNext(teamstest.APIUser, http.StatusTooManyRequests, "TooManyRequests", http.Header{"Retry-After": {"5"}})
	_, err = m.Lookup(t.Context(), fixtureUser)
	if e := imErr(t, err); e.Kind != platform.IMRateLimited || e.RetryAfter != 5*time.Second || e.HTTPStatus != 429 {
		t.Fatalf("throttled: %+v", e)
	}
	a.FailNext(teamstest.APIUser, http.StatusServiceUnavailable, "serviceNotAvailable", nil)
	if _, err = m.Lookup(t.Context(), fixtureUser); imErr(t, err).Kind != platform.IMTransient {
		t.Fatalf("Graph down: %v", err)
	}
	a.FailNext(teamstest.APIUsers, http.StatusBadRequest, "Request_UnsupportedQuery", nil)
	if _, err = m.Lookup(t.Context(), herald.User{Email: "x@example.com"}); imErr(t, err).Kind != platform.IMPermanent {
		t.Fatalf("a filter Graph refuses: %v", err)
	}

	a.SetRoles("AppCatalog.Read.All", "TeamsAppInstallation.ReadWriteForUser.All")
	_, err = m.Lookup(t.Context(), fixtureUser)
	if e := imErr(t, err); e.Kind != platform.IMRejected || e.Code != "Authorization_RequestDenied" || !strings.Contains(e.Error(), "User.Read.All") {
		t.Fatalf("without User.Read.All: %v", err)
	}
	noSecrets(t, a, err.Error())
}

// dmCard reads the Adaptive Card of a recorded activity.
func dmCard(t *testing.T, dm json.RawMessage) AdaptiveCard {
	t.Helper()
	var act struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string       `json:"contentType"`
			Content     AdaptiveCard `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(dm, &act); err != nil || act.Type != "message" || len(act.Attachments) != 1 ||
		act.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("not a message with one Adaptive Card: %s", dm)
	}
	return act.Attachments[0].Content
}

func TestIMSend(t *testing.T) {
	a, m := newIM(t)
	id := a.AddUser(fixtureUser)
	msg := platformtest.FixtureMessage(herald.IssueApprovalRequested)

	res := m.Send(t.Context(), id, msg, "d1/"+id)
	if res.Outcome != herald.OutcomeSuccess || res.HTTPStatus != http.StatusCreated || res.Error != "" {
		t.Fatalf("send: %+v", res)
	}
	if !a.Installed(id) || a.Calls(teamstest.APIInstallApp) != 1 {
		t.Fatalf("the app was not installed for the user (%d installs)", a.Calls(teamstest.APIInstallApp))
	}
	dms := a.DMs(id)
	if len(dms) != 1 {
		t.Fatalf("%d DMs, want 1", len(dms))
	}
	if got, want := dmCard(t, dms[0]), Card(msg); got.Version != "1.4" || len(got.Body) != len(want.Body) || got.Body[0].Text != want.Body[0].Text {
		t.Errorf("the DM's card is not Card(m): %s", dms[0])
	}
	if res.RequestBody != string(dms[0]) {
		t.Errorf("RequestBody is not what was sent:\n%s\n%s", res.RequestBody, dms[0])
	}
	if !strings.Contains(res.ResponseBody, `"id"`) {
		t.Errorf("ResponseBody %q", res.ResponseBody)
	}
	noSecrets(t, a, resultTexts(res)...)

	// The chat is remembered: a second message is one request.
	graphCalls := func() int {
		n := 0
		for _, api := range []string{teamstest.APITeamsApps, teamstest.APIInstalledApps, teamstest.APIInstallApp, teamstest.APIChat} {
			n += a.Calls(api)
		}
		return n
	}
	before := graphCalls()
	if res := m.Send(t.Context(), id, msg, "d2/"+id); res.Outcome != herald.OutcomeSuccess {
		t.Fatalf("second send: %+v", res)
	}
	if graphCalls() != before || len(a.DMs(id)) != 2 || a.Sends() != 2 {
		t.Fatalf("the second send made %d Graph calls, %d DMs, %d sends", graphCalls()-before, len(a.DMs(id)), a.Sends())
	}

	// The app removed since: the cached chat is refused, found again, the
	// app installed again, one message.
	a.UninstallApp(id)
	if res := m.Send(t.Context(), id, msg, "d3/"+id); res.Outcome != herald.OutcomeSuccess {
		t.Fatalf("after the app was removed: %+v", res)
	}
	if !a.Installed(id) || len(a.DMs(id)) != 3 {
		t.Fatalf("after the app was removed: installed %v, %d DMs", a.Installed(id), len(a.DMs(id)))
	}
}

func TestIMSendAlreadyInstalled(t *testing.T) {
	a, m := newIM(t)
	id := a.AddUser(fixtureUser)
	a.InstallApp(id)
	if res := m.Send(t.Context(), id, platformtest.FixtureMessage(herald.PipelineFailed), ""); res.Outcome != herald.OutcomeSuccess {
		t.Fatalf("send: %+v", res)
	}
	if n := a.Calls(teamstest.APIInstallApp); n != 0 || len(a.DMs(id)) != 1 {
		t.Fatalf("%d installs, %d DMs", n, len(a.DMs(id)))
	}
}

func TestIMSendFailures(t *testing.T) {
	tests := []struct {
		name       string
		fake       func(a *teamstest.IMAPI)
		outcome    herald.Outcome
		status     int
		code       string
		rejected   bool
		retryAfter time.Duration
	}{
		{name: "Bot Connector 502", fake: func(a *teamstest.IMAPI) { a.FailNextSends(1) },
			outcome: herald.OutcomeRetryable, status: 502, code: "BadGateway"},
		{name: "Bot Connector 504", fake: func(a *teamstest.IMAPI) { a.FailNext(teamstest.APIActivities, 504, "GatewayTimeout", nil) },
			outcome: herald.OutcomeRetryable, status: 504, code: "GatewayTimeout"},
		{name: "412 PreconditionFailed", fake: func(a *teamstest.IMAPI) { a.FailNext(teamstest.APIActivities, 412, "PreconditionFailed", nil) },
			outcome: herald.OutcomeRetryable, status: 412, code: "PreconditionFailed"},
		{name: "429 Throttled", fake: func(a *teamstest.IMAPI) {
			a.FailNext(teamstest.APIActivities, 429, "Throttled", http.Header{"Retry-After": {"7"}})
		}, outcome: herald.OutcomeRateLimited, status: 429, code: "Throttled", retryAfter: 7 * time.Second},
		{name: "400 BadArgument", fake: func(a *teamstest.IMAPI) { a.FailNext(teamstest.APIActivities, 400, "BadArgument", nil) },
			outcome: herald.OutcomePermanent, status: 400, code: "BadArgument"},
		{name: "403 ConversationBlockedByUser", fake: func(a *teamstest.IMAPI) {
			a.FailNext(teamstest.APIActivities, 403, "ConversationBlockedByUser", nil)
		}, outcome: herald.OutcomePermanent, status: 403, code: "ConversationBlockedByUser"},
		{name: "413 MessageSizeTooBig", fake: func(a *teamstest.IMAPI) { a.FailNext(teamstest.APIActivities, 413, "MessageSizeTooBig", nil) },
			outcome: herald.OutcomePermanent, status: 413, code: "MessageSizeTooBig"},
		{name: "401 after a refresh", fake: func(a *teamstest.IMAPI) {
			a.FailNext(teamstest.APIActivities, 401, "", nil)
			a.FailNext(teamstest.APIActivities, 401, "", nil)
		}, outcome: herald.OutcomePermanent, status: 401, rejected: true},
		{name: "Graph 429 on installedApps", fake: func(a *teamstest.IMAPI) {
			a.FailNext(teamstest.APIInstalledApps, 429, "TooManyRequests", http.Header{"Retry-After": {"3"}})
		}, outcome: herald.OutcomeRateLimited, status: 429, code: "TooManyRequests", retryAfter: 3 * time.Second},
		{name: "Graph 503 on the chat", fake: func(a *teamstest.IMAPI) { a.FailNext(teamstest.APIChat, 503, "ServiceUnavailable", nil) },
			outcome: herald.OutcomeRetryable, status: 503, code: "ServiceUnavailable"},
		{name: "no permission to install", fake: func(a *teamstest.IMAPI) { a.SetRoles("User.Read.All", "AppCatalog.Read.All") },
			outcome: herald.OutcomePermanent, status: 403, code: "Forbidden", rejected: true},
		{name: "app not in the catalog", fake: func(a *teamstest.IMAPI) { a.RemoveCatalogApp() },
			outcome: herald.OutcomePermanent, status: 200, rejected: true},
		{name: "credentials revoked", fake: func(a *teamstest.IMAPI) { a.RejectCredentials() },
			outcome: herald.OutcomePermanent, status: 401, code: "invalid_client", rejected: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, m := newIM(t)
			id := a.AddUser(fixtureUser)
			if err := m.Validate(t.Context()); err != nil {
				t.Fatal(err)
			}
			tt.fake(a)
			res := m.Send(t.Context(), id, platformtest.FixtureMessage(herald.IssueApprovalRequested), "")
			if res.Outcome != tt.outcome || res.HTTPStatus != tt.status || res.PlatformCode != tt.code ||
				res.CredentialsRejected != tt.rejected || res.RetryAfter != tt.retryAfter {
				t.Fatalf("got %s %d %q rejected=%v retry after %v (%s)", res.Outcome, res.HTTPStatus, res.PlatformCode, res.CredentialsRejected, res.RetryAfter, res.Error)
			}
			if res.Error == "" || res.RequestBody == "" {
				t.Errorf("no error or request body: %+v", res)
			}
			if n := len(a.DMs(id)); n != 0 {
				t.Errorf("%d DMs recorded", n)
			}
			noSecrets(t, a, resultTexts(res)...)
		})
	}
}

// A transient failure, then the retry: one message.
func TestIMSendRetry(t *testing.T) {
	a, m := newIM(t)
	id := a.AddUser(fixtureUser)
	a.FailNextSends(1)
	msg := platformtest.FixtureMessage(herald.IssueApprovalRequested)
	if res := m.Send(t.Context(), id, msg, "k"); res.Outcome != herald.OutcomeRetryable {
		t.Fatalf("first: %+v", res)
	}
	if res := m.Send(t.Context(), id, msg, "k"); res.Outcome != herald.OutcomeSuccess {
		t.Fatalf("retry: %+v", res)
	}
	if n := len(a.DMs(id)); n != 1 {
		t.Fatalf("%d DMs, want 1", n)
	}
}

// Tokens that expired after the cache took them are refreshed on the 401:
// one message, one new token of each audience.
func TestIMTokenExpiry(t *testing.T) {
	a, m := newIM(t)
	id := a.AddUser(fixtureUser)
	if err := m.Validate(t.Context()); err != nil {
		t.Fatal(err)
	}
	a.ExpireTokens()
	got, err := m.Lookup(t.Context(), fixtureUser)
	if err != nil || got != id {
		t.Fatalf("lookup after expiry: %q %v", got, err)
	}
	res := m.Send(t.Context(), id, platformtest.FixtureMessage(herald.IssueApprovalRequested), "")
	if res.Outcome != herald.OutcomeSuccess {
		t.Fatalf("send after expiry: %+v", res)
	}
	if n := len(a.DMs(id)); n != 1 {
		t.Fatalf("%d DMs, want 1", n)
	}
	if g, b := a.TokenFetches(teamstest.GraphScope), a.TokenFetches(teamstest.BotScope); g != 2 || b != 2 {
		t.Fatalf("%d Graph and %d Bot Connector tokens, want 2 each", g, b)
	}
	if n := a.Sends(); n != 2 {
		t.Errorf("%d activities posted, want the refused one and the one sent", n)
	}
}

// A token is replaced a minute before it expires, not later.
func TestIMTokenRefreshedEarly(t *testing.T) {
	a, m := newIM(t)
	a.AddUser(fixtureUser)
	if _, err := m.Lookup(t.Context(), fixtureUser); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	m.now = func() time.Time { return start.Add(teamstest.TokenLifetime - refreshEarly - 5*time.Second) }
	if _, err := m.Lookup(t.Context(), fixtureUser); err != nil {
		t.Fatal(err)
	}
	if n := a.TokenFetches(teamstest.GraphScope); n != 1 {
		t.Fatalf("a token with over a minute left was replaced (%d fetches)", n)
	}
	m.now = func() time.Time { return start.Add(teamstest.TokenLifetime - refreshEarly + 5*time.Second) }
	if _, err := m.Lookup(t.Context(), fixtureUser); err != nil {
		t.Fatal(err)
	}
	if n := a.TokenFetches(teamstest.GraphScope); n != 2 {
		t.Fatalf("a token in its last minute was used (%d fetches)", n)
	}
}

// Concurrent first sends share one fetch of each token.
func TestIMConcurrentSendsShareTokens(t *testing.T) {
	a, m := newIM(t)
	const n = 8
	ids := make([]string, n)
	for i := range ids {
		ids[i] = a.AddUser(herald.User{Email: fmt.Sprintf("user%d@example.com", i)})
	}
	msg := platformtest.FixtureMessage(herald.IssueApprovalRequested)
	var wg sync.WaitGroup
	results := make([]platform.Result, n)
	for i := range ids {
		wg.Go(func() { results[i] = m.Send(t.Context(), ids[i], msg, "") })
	}
	wg.Wait()
	for i, r := range results {
		if r.Outcome != herald.OutcomeSuccess || len(a.DMs(ids[i])) != 1 {
			t.Fatalf("send %d: %+v", i, r)
		}
	}
	if g, b := a.TokenFetches(teamstest.GraphScope), a.TokenFetches(teamstest.BotScope); g != 1 || b != 1 {
		t.Fatalf("%d Graph and %d Bot Connector token fetches, want 1 each", g, b)
	}
	if c := a.Calls(teamstest.APITeamsApps); c < 1 || c > n {
		t.Errorf("%d catalog calls", c)
	}
}

// Many sends racing a token expiry refresh it once.
func TestIMConcurrentRefresh(t *testing.T) {
	a, m := newIM(t)
	const n = 6
	ids := make([]string, n)
	msg := platformtest.FixtureMessage(herald.IssueApprovalRequested)
	for i := range ids {
		ids[i] = a.AddUser(herald.User{Email: fmt.Sprintf("user%d@example.com", i)})
		if r := m.Send(t.Context(), ids[i], msg, ""); r.Outcome != herald.OutcomeSuccess {
			t.Fatalf("warm-up %d: %+v", i, r)
		}
	}
	a.ExpireTokens()
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			if r := m.Send(t.Context(), ids[i], msg, ""); r.Outcome != herald.OutcomeSuccess {
				t.Errorf("send %d: %+v", i, r)
			}
		})
	}
	wg.Wait()
	if b := a.TokenFetches(teamstest.BotScope); b != 2 {
		t.Fatalf("%d Bot Connector token fetches, want 2", b)
	}
	for i, id := range ids {
		if len(a.DMs(id)) != 2 {
			t.Errorf("user %d got %d DMs, want 2", i, len(a.DMs(id)))
		}
	}
}

// A Send whose context ends gets a retryable Result, and waiters on its
// token fetch are not stuck.
func TestIMSendCanceled(t *testing.T) {
	a, m := newIM(t)
	id := a.AddUser(fixtureUser)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res := m.Send(ctx, id, platformtest.FixtureMessage(herald.IssueApprovalRequested), "")
	if res.Outcome != herald.OutcomeRetryable || res.CredentialsRejected {
		t.Fatalf("canceled: %+v", res)
	}
	if res := m.Send(t.Context(), id, platformtest.FixtureMessage(herald.IssueApprovalRequested), ""); res.Outcome != herald.OutcomeSuccess {
		t.Fatalf("after: %+v", res)
	}
}
