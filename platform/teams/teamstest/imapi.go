package teamstest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/platform/platformtest"
)

// IMAPI is a fake of the three Microsoft APIs that Teams direct messages
// go through (platforms.md C3), on one loopback listener with a root for
// each: Entra ID's token endpoint under /login, Microsoft Graph under
// /graph and the Bot Connector under /bot.
//
//   - /login/{tenant}/oauth2/v2.0/token issues client-credentials tokens
//     for two audiences, Graph and the Bot Connector, to the one app
//     registration it knows (Settings), the client id and secret in the
//     form body. It refuses as Entra ID does: 400 invalid_request
//     AADSTS90002 for another tenant, 400 unauthorized_client AADSTS700016
//     for another client, 401 invalid_client AADSTS7000215 for another
//     secret, AADSTS7000218 when the secret is not in the body.
//   - Graph wants a Graph token in the Authorization header (Bearer) and
//     answers 401 InvalidAuthenticationToken to a missing, unknown,
//     expired, revoked or Bot Connector token, and 403 to an app without
//     the application permission a call needs. It holds a user directory
//     (members, found by user principal name, and guests, found by
//     $filter=mail eq '…'), the org's app catalog with the Herald app
//     (its externalId is the client id), each user's installed apps, and
//     the chat each installation opens with the bot.
//   - The Bot Connector wants a Bot Connector token in the Authorization
//     header and answers 401 {"message":"Authorization has been denied for
//     this request."} to any other. It takes message activities whose
//     attachments are Adaptive Cards (CheckCard, a body, at most
//     MaxMessageBytes) in a chat of an installation, and records each as
//     a DM of the chat's user.
//
// Its SendGate counts the activities received, answered or not (Sends,
// and Calls(APIActivities)). A failed one (FailNextSends) answers 502
// BadGateway, which the Bot Connector asks callers to retry, once its
// token is checked and after any FailNext answer; a held one
// (HoldSendsAfter) is answered 503 ServiceUnavailable on Release, and is
// not recorded.
//
// It is independent of package teams, so that it checks Herald's requests
// against Microsoft's rules rather than Herald's own. All its methods are
// safe for concurrent use.
type IMAPI struct {
	*httptest.Server
	platformtest.SendGate

	mu           sync.Mutex
	tenant       string
	clientID     string
	secret       string
	rejected     bool
	lifetime     time.Duration
	tokens       map[string]*issuedToken
	fetches      map[string]int // by scope
	roles        []string
	catalog      []catalogApp
	users        map[string]*dirUser          // by id
	installs     map[string]map[string]string // user id → catalog app id → installation id
	chats        map[string]string            // chat id → user id
	dms          map[string][]json.RawMessage // by user id
	calls        map[string]int               // by API
	failNext     map[string][]imFailure       // by API
	activitySeq  int64
	installedSeq int
}

// The APIs of the fake, for FailNext and Calls.
const (
	APIToken         = "token"         // POST /login/{tenant}/oauth2/v2.0/token
	APIUser          = "user"          // GET /graph/v1.0/users/{id or userPrincipalName}
	APIUsers         = "users"         // GET /graph/v1.0/users?$filter=…
	APITeamsApps     = "teamsApps"     // GET /graph/v1.0/appCatalogs/teamsApps?$filter=…
	APIInstalledApps = "installedApps" // GET /graph/v1.0/users/{id}/teamwork/installedApps?$filter=…
	APIInstallApp    = "installApp"    // POST /graph/v1.0/users/{id}/teamwork/installedApps
	APIChat          = "chat"          // GET /graph/v1.0/users/{id}/teamwork/installedApps/{installation}/chat
	APIActivities    = "activities"    // POST /bot/v3/conversations/{chat}/activities
)

// Scopes of the two tokens, as the token endpoint takes them.
const (
	GraphScope = "https://graph.microsoft.com/.default"
	BotScope   = "https://api.botframework.com/.default"
)

// Graph application permissions the fake's app registration has by
// default: what Herald needs.
var DefaultRoles = []string{"User.Read.All", "AppCatalog.Read.All", "TeamsAppInstallation.ReadWriteForUser.All"}

// TokenLifetime is how long the fake's tokens last, as Entra ID's do
// (expires_in 3599).
const TokenLifetime = 3599 * time.Second

type issuedToken struct {
	audience string // GraphScope or BotScope
	expiry   time.Time
	revoked  bool
}

type catalogApp struct {
	ID, ExternalID, DisplayName, DistributionMethod string
}

type dirUser struct {
	id, upn, mail, name string
}

type imFailure struct {
	status int
	code   string
	header http.Header
}

// NewIMAPI starts the fake with one tenant, one app registration with
// DefaultRoles, and the Herald app in the org catalog; it closes when the
// test ends.
func NewIMAPI(t testing.TB) *IMAPI {
	a := &IMAPI{
		tenant: uuid.NewString(), clientID: uuid.NewString(),
		secret:   platformtest.RandomString(3, "abcdefghijklmnopqrstuvwxyz") + "8Q~" + platformtest.RandomString(34, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"),
		lifetime: TokenLifetime, tokens: map[string]*issuedToken{}, fetches: map[string]int{},
		roles: slices.Clone(DefaultRoles), users: map[string]*dirUser{}, installs: map[string]map[string]string{},
		chats: map[string]string{}, dms: map[string][]json.RawMessage{}, calls: map[string]int{}, failNext: map[string][]imFailure{},
		activitySeq: time.Now().UnixMilli(),
	}
	a.catalog = []catalogApp{{ID: uuid.NewString(), ExternalID: a.clientID, DisplayName: "Herald", DistributionMethod: "organization"}}
	a.Server = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(func() { a.Release(); a.Close() })
	return a
}

var _ platformtest.IMFake = (*IMAPI)(nil)

// Endpoints points Herald's Teams login, Graph and Bot Connector base URLs
// at the fake.
func (a *IMAPI) Endpoints(e *platform.IMEndpoints) {
	e.TeamsLogin, e.TeamsGraph, e.TeamsBot = a.URL+"/login", a.URL+"/graph", a.URL+"/bot"
}

// Settings returns the app registration: tenant, client id and secret.
func (a *IMAPI) Settings() herald.IMSettings {
	a.mu.Lock()
	defer a.mu.Unlock()
	return herald.IMSettings{TenantID: a.tenant, ClientID: a.clientID, ClientSecret: a.secret}
}

// AddUser adds a member of the tenant, whose user principal name is their
// email, and returns their Entra ID object id. The Herald app is not
// installed for them.
func (a *IMAPI) AddUser(u herald.User) string {
	return a.addUser(u, u.Email)
}

// AddGuest adds a guest, whose user principal name is made from their
// email (alice_example.com#EXT#@…): GET /users/{email} does not find them,
// $filter=mail eq '{email}' does. It returns their object id.
func (a *IMAPI) AddGuest(u herald.User) string {
	return a.addUser(u, strings.ReplaceAll(u.Email, "@", "_")+"#EXT#@herald.onmicrosoft.com")
}

func (a *IMAPI) addUser(u herald.User, upn string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	id := uuid.NewString()
	a.users[id] = &dirUser{id: id, upn: upn, mail: u.Email, name: u.Name}
	return id
}

// InstallApp installs the Herald app for the user, as the user or an admin
// would.
func (a *IMAPI) InstallApp(userID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.install(userID, a.catalog[0].ID)
}

// UninstallApp removes the Herald app from the user: its chat stays, but
// the bot is no longer in it.
func (a *IMAPI) UninstallApp(userID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.installs, userID)
}

// Installed reports whether the Herald app is installed for the user.
func (a *IMAPI) Installed(userID string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.catalog) > 0 && a.installs[userID][a.catalog[0].ID] != ""
}

// RemoveCatalogApp removes the Herald app from the org catalog.
func (a *IMAPI) RemoveCatalogApp() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.catalog = nil
}

// SetRoles replaces the app registration's Graph application permissions.
func (a *IMAPI) SetRoles(roles ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.roles = roles
}

// SetTokenLifetime sets the expires_in of the tokens issued from now on.
func (a *IMAPI) SetTokenLifetime(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lifetime = d
}

// TokenFetches counts the tokens issued for scope (GraphScope, BotScope).
func (a *IMAPI) TokenFetches(scope string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fetches[scope]
}

// Tokens returns every token the fake issued, for tests that check none
// leaks.
func (a *IMAPI) Tokens() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.tokens))
	for t := range a.tokens {
		out = append(out, t)
	}
	return out
}

// Calls counts the requests received by an API (APIUser, …), answered or
// not.
func (a *IMAPI) Calls(api string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[api]
}

// DMs returns the activities posted in the bot's chat with the user, as
// the JSON the Bot Connector received.
func (a *IMAPI) DMs(userID string) []json.RawMessage {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.dms[userID])
}

// ExpireTokens makes every token issued so far expired: Graph answers 401
// InvalidAuthenticationToken "Lifetime validation failed, the token is
// expired.", the Bot Connector 401.
func (a *IMAPI) ExpireTokens() {
	a.mu.Lock()
	defer a.mu.Unlock()
	past := time.Now().Add(-time.Second)
	for _, t := range a.tokens {
		t.expiry = past
	}
}

// RejectCredentials changes the app's secret behind Herald's back: the
// token endpoint answers 401 invalid_client AADSTS7000215 to the old one,
// and the tokens already issued stop working.
func (a *IMAPI) RejectCredentials() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rejected = true
	for _, t := range a.tokens {
		t.revoked = true
	}
}

// FailNext queues an answer for the next request to api, given once its
// token is checked (for APIToken, before the credentials are): status,
// with code in the API's error body
// (the OAuth error for APIToken, the {"error":{"code","message"}} of Graph
// and the Bot Connector otherwise), and header (429 gets Retry-After: 1
// unless header sets it).
func (a *IMAPI) FailNext(api string, status int, code string, header http.Header) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failNext[api] = append(a.failNext[api], imFailure{status, code, header.Clone()})
}

// imReply is one answer of the fake.
type imReply struct {
	status int
	header http.Header
	body   any // JSON; nil for an empty body
}

func (a *IMAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "reading the body", http.StatusBadRequest)
		return
	}
	segs := segments(r.URL)
	var reply imReply
	switch {
	case len(segs) == 5 && segs[0] == "login" && segs[2] == "oauth2" && segs[3] == "v2.0" && segs[4] == "token":
		reply = a.token(r, segs[1], body)
	case len(segs) >= 2 && segs[0] == "graph" && segs[1] == "v1.0":
		reply = a.graph(r, segs[2:], body)
	case len(segs) == 5 && segs[0] == "bot" && segs[1] == "v3" && segs[2] == "conversations" && segs[4] == "activities":
		if r.Method != http.MethodPost {
			reply = imReply{status: http.StatusMethodNotAllowed, body: map[string]string{"message": "The requested resource does not support http method '" + r.Method + "'."}}
			break
		}
		if hold := a.countSend(); hold != nil {
			<-hold // released: answered 503, not recorded
			reply = botFailure(http.StatusServiceUnavailable, "ServiceUnavailable", "The service is unavailable.")
			break
		}
		reply = a.activity(r, segs[3], body)
	default:
		reply = imReply{status: http.StatusNotFound, body: map[string]string{"message": "No HTTP resource was found that matches the request URI."}}
	}
	writeIM(w, reply)
}

// segments splits the URL's path, each segment unescaped (an email may
// hold %2F, a chat id ':' and '@').
func segments(u *url.URL) []string {
	raw := strings.Split(strings.Trim(u.EscapedPath(), "/"), "/")
	out := make([]string, len(raw))
	for i, s := range raw {
		if v, err := url.PathUnescape(s); err == nil {
			out[i] = v
		} else {
			out[i] = s
		}
	}
	return out
}

func writeIM(w http.ResponseWriter, r imReply) {
	for k, vs := range r.header {
		w.Header()[k] = vs
	}
	if r.status == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	if r.body == nil {
		w.WriteHeader(r.status)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(r.status)
	_ = json.NewEncoder(w).Encode(r.body)
}

// injected takes the next queued failure of api; the caller holds a.mu.
func (a *IMAPI) injected(api string) (imFailure, bool) {
	fs := a.failNext[api]
	if len(fs) == 0 {
		return imFailure{}, false
	}
	a.failNext[api] = fs[1:]
	return fs[0], true
}

// --- Entra ID ---

// aadError is Entra ID's OAuth error answer.
func (a *IMAPI) aadError(status int, code string, aadsts int, description string) imReply {
	trace, correlation, now := uuid.NewString(), uuid.NewString(), time.Now().UTC()
	return imReply{status: status, body: map[string]any{
		"error": code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
			aadsts, description, trace, correlation, now.Format("2006-01-02 15:04:05Z")),
		"error_codes":    []int{aadsts},
		"timestamp":      now.Format("2006-01-02 15:04:05Z"),
		"trace_id":       trace,
		"correlation_id": correlation,
		"error_uri":      a.URL + "/login/error?code=" + strconv.Itoa(aadsts),
	}}
}

// token answers the token endpoint: the client-credentials grant, with the
// client id and secret in the form body (client_secret_post).
func (a *IMAPI) token(r *http.Request, tenant string, body []byte) imReply {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls[APIToken]++
	if r.Method != http.MethodPost {
		return a.aadError(http.StatusBadRequest, "invalid_request", 900561, "The endpoint only accepts POST, OPTIONS requests. Received a "+r.Method+" request.")
	}
	if f, ok := a.injected(APIToken); ok {
		reply := a.aadError(f.status, f.code, 50000, "Injected failure.")
		reply.header = f.header
		return reply
	}
	if !strings.EqualFold(tenant, a.tenant) {
		return a.aadError(http.StatusBadRequest, "invalid_request", 90002, "Tenant '"+tenant+"' not found. Check to make sure you have the correct tenant ID "+
			"and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.")
	}
	// Only the body counts: parameters in the query string are not read.
	var form url.Values
	if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		form, _ = url.ParseQuery(string(body))
	}
	missing := func(name string) imReply {
		return a.aadError(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: '"+name+"'.")
	}
	switch {
	case form.Get("grant_type") == "":
		return missing("grant_type")
	case form.Get("grant_type") != "client_credentials":
		return a.aadError(http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '"+form.Get("grant_type")+"'.")
	case form.Get("client_id") == "":
		return missing("client_id")
	case form.Get("client_id") != a.clientID:
		return a.aadError(http.StatusBadRequest, "unauthorized_client", 700016, "Application with identifier '"+form.Get("client_id")+"' was not found in the directory '"+
			a.tenant+"'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. "+
			"You may have sent your authentication request to the wrong tenant.")
	case form.Get("client_secret") == "":
		return a.aadError(http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	case form.Get("client_secret") != a.secret || a.rejected:
		return a.aadError(http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the "+
			"client secret value, not the client secret ID, for a secret added to app '"+a.clientID+"'.")
	case form.Get("scope") == "":
		return missing("scope")
	}
	scope := form.Get("scope")
	if scope != GraphScope && scope != BotScope {
		return a.aadError(http.StatusBadRequest, "invalid_scope", 1002012, "The provided value for scope "+scope+" is not valid. Client credential flows "+
			"must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
	}
	token := a.newToken(scope)
	return imReply{status: http.StatusOK, body: map[string]any{
		"token_type": "Bearer", "expires_in": int(a.lifetime / time.Second), "ext_expires_in": int(a.lifetime / time.Second), "access_token": token,
	}}
}

// newToken issues a JWT-shaped token for scope; the caller holds a.mu.
func (a *IMAPI) newToken(scope string) string {
	a.fetches[scope]++
	expiry := time.Now().Add(a.lifetime)
	claims, _ := json.Marshal(map[string]any{
		"aud": strings.TrimSuffix(scope, "/.default"), "tid": a.tenant, "appid": a.clientID, "exp": expiry.Unix(), "jti": uuid.NewString(),
	})
	enc := base64.RawURLEncoding
	token := enc.EncodeToString([]byte(`{"typ":"JWT","alg":"RS256"}`)) + "." + enc.EncodeToString(claims) + "." +
		platformtest.RandomString(86, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
	a.tokens[token] = &issuedToken{audience: scope, expiry: expiry}
	return token
}

// bearer reads the token of the Authorization header and checks it was
// issued for scope, is not expired and not revoked; it returns why not.
// The caller holds a.mu.
func (a *IMAPI) bearer(r *http.Request, scope string) (ok bool, why string) {
	token, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !found || token == "" {
		return false, "Access token is empty."
	}
	t := a.tokens[token]
	switch {
	case t == nil:
		return false, "Access token validation failure."
	case t.audience != scope:
		return false, "Access token validation failure. Invalid audience."
	case !time.Now().Before(t.expiry):
		return false, "Lifetime validation failed, the token is expired."
	case t.revoked:
		return false, "Access token validation failure."
	}
	return true, ""
}

// --- Microsoft Graph ---

// graphError is Graph's error envelope.
func graphError(status int, code, message string) imReply {
	return imReply{status: status, body: map[string]any{"error": map[string]any{
		"code": code, "message": message,
		"innerError": map[string]string{"date": time.Now().UTC().Format("2006-01-02T15:04:05"), "request-id": uuid.NewString(), "client-request-id": uuid.NewString()},
	}}}
}

// graphRoles are the permissions that allow each Graph API.
var graphRoles = map[string][]string{
	APIUser:          {"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
	APIUsers:         {"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
	APITeamsApps:     {"AppCatalog.Read.All", "AppCatalog.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
	APIInstalledApps: {"TeamsAppInstallation.ReadForUser.All", "TeamsAppInstallation.ReadWriteForUser.All", "TeamsAppInstallation.ReadWriteSelfForUser.All"},
	APIInstallApp:    {"TeamsAppInstallation.ReadWriteForUser.All", "TeamsAppInstallation.ReadWriteSelfForUser.All"},
	APIChat:          {"TeamsAppInstallation.ReadForUser.All", "TeamsAppInstallation.ReadWriteForUser.All", "TeamsAppInstallation.ReadWriteSelfForUser.All"},
}

// graphAPI names the Graph API a request is for, or "".
func graphAPI(method string, segs []string) string {
	switch {
	case len(segs) == 1 && segs[0] == "users" && method == http.MethodGet:
		return APIUsers
	case len(segs) == 2 && segs[0] == "users" && method == http.MethodGet:
		return APIUser
	case len(segs) == 2 && segs[0] == "appCatalogs" && segs[1] == "teamsApps" && method == http.MethodGet:
		return APITeamsApps
	case len(segs) == 4 && segs[0] == "users" && segs[2] == "teamwork" && segs[3] == "installedApps" && method == http.MethodGet:
		return APIInstalledApps
	case len(segs) == 4 && segs[0] == "users" && segs[2] == "teamwork" && segs[3] == "installedApps" && method == http.MethodPost:
		return APIInstallApp
	case len(segs) == 6 && segs[0] == "users" && segs[2] == "teamwork" && segs[3] == "installedApps" && segs[5] == "chat" && method == http.MethodGet:
		return APIChat
	}
	return ""
}

// graph answers a Graph request (segs after /graph/v1.0).
func (a *IMAPI) graph(r *http.Request, segs []string, body []byte) imReply {
	a.mu.Lock()
	defer a.mu.Unlock()
	api := graphAPI(r.Method, segs)
	a.calls[api]++
	if ok, why := a.bearer(r, GraphScope); !ok {
		reply := graphError(http.StatusUnauthorized, "InvalidAuthenticationToken", why)
		reply.header = http.Header{"Www-Authenticate": {`Bearer realm="", authorization_uri="` + a.URL + `/login/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`}}
		return reply
	}
	if api == "" {
		return graphError(http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+strings.Join(segs, "/")+"'.")
	}
	if f, ok := a.injected(api); ok {
		reply := graphError(f.status, f.code, "Injected failure.")
		reply.header = f.header
		return reply
	}
	if !slices.ContainsFunc(graphRoles[api], func(role string) bool { return slices.Contains(a.roles, role) }) {
		if api == APIUser || api == APIUsers {
			return graphError(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		}
		return graphError(http.StatusForbidden, "Forbidden", "Missing role permissions on the request. API requires one of '"+
			strings.Join(graphRoles[api], ", ")+"'. Roles on the request '"+strings.Join(a.roles, ", ")+"'.")
	}
	q := r.URL.Query()
	switch api {
	case APIUser:
		u := a.findUser(segs[1])
		if u == nil {
			return graphError(http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+segs[1]+"' does not exist or one of its queried reference-property objects are not present.")
		}
		return imReply{status: http.StatusOK, body: userJSON(a.URL, u)}
	case APIUsers:
		field, value, ok := eqFilter(q.Get("$filter"))
		if q.Get("$filter") != "" && (!ok || field != "mail" && field != "userPrincipalName") {
			return graphError(http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified for property '"+field+"' of resource 'User'.")
		}
		value = strings.ToLower(value)
		list := []any{}
		for _, u := range a.users {
			if q.Get("$filter") == "" || field == "mail" && strings.ToLower(u.mail) == value || field == "userPrincipalName" && strings.ToLower(u.upn) == value {
				list = append(list, userJSON(a.URL, u))
			}
		}
		return imReply{status: http.StatusOK, body: map[string]any{"@odata.context": a.URL + "/graph/v1.0/$metadata#users", "value": list}}
	case APITeamsApps:
		field, value, ok := eqFilter(q.Get("$filter"))
		if q.Get("$filter") != "" && (!ok || field != "externalId" && field != "id" && field != "distributionMethod") {
			return graphError(http.StatusBadRequest, "BadRequest", "Invalid filter clause: "+q.Get("$filter"))
		}
		list := []any{}
		for _, app := range a.catalog {
			if q.Get("$filter") == "" || field == "externalId" && app.ExternalID == value || field == "id" && app.ID == value ||
				field == "distributionMethod" && app.DistributionMethod == value {
				list = append(list, appJSON(app))
			}
		}
		return imReply{status: http.StatusOK, body: map[string]any{"@odata.context": a.URL + "/graph/v1.0/$metadata#appCatalogs/teamsApps", "value": list}}
	}
	user := a.findUser(segs[1])
	if user == nil {
		return graphError(http.StatusNotFound, "NotFound", "User '"+segs[1]+"' was not found.")
	}
	switch api {
	case APIInstalledApps:
		field, value, ok := eqFilter(q.Get("$filter"))
		if q.Get("$filter") != "" && (!ok || field != "teamsApp/id" && field != "teamsApp/externalId") {
			return graphError(http.StatusBadRequest, "BadRequest", "Invalid filter clause: "+q.Get("$filter"))
		}
		expand := slices.Contains(strings.Split(q.Get("$expand"), ","), "teamsApp")
		list := []any{}
		for _, app := range a.catalog {
			id := a.installs[user.id][app.ID]
			if id == "" || q.Get("$filter") != "" && (field == "teamsApp/id" && app.ID != value || field == "teamsApp/externalId" && app.ExternalID != value) {
				continue
			}
			inst := map[string]any{"id": id}
			if expand {
				inst["teamsApp"] = appJSON(app)
			}
			list = append(list, inst)
		}
		return imReply{status: http.StatusOK, body: map[string]any{"@odata.context": a.URL + "/graph/v1.0/$metadata#users('" + user.id + "')/teamwork/installedApps", "value": list}}
	case APIInstallApp:
		var in map[string]any
		if err := json.Unmarshal(body, &in); err != nil {
			return graphError(http.StatusBadRequest, "BadRequest", "Invalid request body: "+err.Error())
		}
		bind, _ := in["teamsApp@odata.bind"].(string)
		u, err := url.Parse(bind)
		if bind == "" || err != nil || !u.IsAbs() {
			return graphError(http.StatusBadRequest, "BadRequest", "The teamsApp@odata.bind property must be the URL of a catalog app.")
		}
		_, appID, _ := strings.Cut(u.Path, "/v1.0/appCatalogs/teamsApps/")
		if appID == "" || strings.Contains(appID, "/") {
			return graphError(http.StatusBadRequest, "BadRequest", "The teamsApp@odata.bind property must be the URL of a catalog app.")
		}
		if !slices.ContainsFunc(a.catalog, func(c catalogApp) bool { return c.ID == appID }) {
			return graphError(http.StatusNotFound, "NotFound", "The app '"+appID+"' was not found in the catalog.")
		}
		if a.installs[user.id][appID] != "" {
			return graphError(http.StatusConflict, "Conflict", "The app is already installed for the user.")
		}
		a.install(user.id, appID)
		return imReply{status: http.StatusCreated}
	case APIChat:
		var appID string
		for app, inst := range a.installs[user.id] {
			if inst == segs[4] {
				appID = app
			}
		}
		if appID == "" {
			return graphError(http.StatusNotFound, "NotFound", "The installation '"+segs[4]+"' was not found for the user.")
		}
		chat := chatID(user.id, a.clientID)
		return imReply{status: http.StatusOK, body: map[string]any{
			"@odata.context": a.URL + "/graph/v1.0/$metadata#chats/$entity", "id": chat, "topic": nil, "chatType": "oneOnOne",
			"createdDateTime": time.Now().UTC().Format(time.RFC3339), "tenantId": a.tenant,
		}}
	}
	return graphError(http.StatusBadRequest, "BadRequest", "Unsupported request.")
}

// install installs app for the user and opens the bot's chat with them;
// the caller holds a.mu.
func (a *IMAPI) install(userID, appID string) {
	if a.installs[userID] == nil {
		a.installs[userID] = map[string]string{}
	}
	a.installedSeq++
	a.installs[userID][appID] = base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%s##%s##%d", userID, appID, a.installedSeq)))
	a.chats[chatID(userID, a.clientID)] = userID
}

// chatID is the id Teams gives the one-to-one chat of a user and a bot.
func chatID(userID, botID string) string { return "19:" + userID + "_" + botID + "@unq.gbl.spaces" }

// findUser finds a user by object id or user principal name; the caller
// holds a.mu.
func (a *IMAPI) findUser(key string) *dirUser {
	if u := a.users[key]; u != nil {
		return u
	}
	for _, u := range a.users {
		if strings.EqualFold(u.upn, key) {
			return u
		}
	}
	return nil
}

func userJSON(base string, u *dirUser) map[string]any {
	var mail any
	if u.mail != "" {
		mail = u.mail
	}
	return map[string]any{"@odata.context": base + "/graph/v1.0/$metadata#users/$entity", "id": u.id, "displayName": u.name, "mail": mail, "userPrincipalName": u.upn}
}

func appJSON(app catalogApp) map[string]any {
	return map[string]any{"id": app.ID, "externalId": app.ExternalID, "displayName": app.DisplayName, "distributionMethod": app.DistributionMethod}
}

// eqFilter reads an OData filter "field eq 'value'", the quotes of value
// doubled; a lone quote inside is a syntax error.
func eqFilter(filter string) (field, value string, ok bool) {
	field, rest, found := strings.Cut(strings.TrimSpace(filter), " eq ")
	rest = strings.TrimSpace(rest)
	if !found || len(rest) < 2 || rest[0] != '\'' || rest[len(rest)-1] != '\'' {
		return field, "", false
	}
	inner := rest[1 : len(rest)-1]
	if strings.Contains(strings.ReplaceAll(inner, "''", ""), "'") {
		return field, "", false
	}
	return strings.TrimSpace(field), strings.ReplaceAll(inner, "''", "'"), true
}

// --- Bot Connector ---

func botFailure(status int, code, message string) imReply {
	return imReply{status: status, body: map[string]any{"error": map[string]string{"code": code, "message": message}}}
}

// countSend counts an activity, in Calls too, and returns a channel to
// wait on when it must be held (SendGate.Enter).
func (a *IMAPI) countSend() <-chan struct{} {
	a.mu.Lock()
	a.calls[APIActivities]++
	a.mu.Unlock()
	return a.Enter()
}

// activity answers POST /v3/conversations/{chat}/activities.
func (a *IMAPI) activity(r *http.Request, chat string, body []byte) imReply {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ok, _ := a.bearer(r, BotScope); !ok {
		return imReply{status: http.StatusUnauthorized, body: map[string]string{"message": "Authorization has been denied for this request."}}
	}
	if f, ok := a.injected(APIActivities); ok {
		if f.status == http.StatusUnauthorized && f.code == "" {
			return imReply{status: f.status, header: f.header, body: map[string]string{"message": "Authorization has been denied for this request."}}
		}
		reply := botFailure(f.status, f.code, "Injected failure.")
		reply.header = f.header
		return reply
	}
	if a.Fail() { // FailNextSends
		return botFailure(http.StatusBadGateway, "BadGateway", "The service is temporarily unavailable.")
	}
	user, ok := a.chats[chat]
	if !ok {
		return botFailure(http.StatusNotFound, "ConversationNotFound", "Conversation not found.")
	}
	if len(a.catalog) == 0 || a.installs[user][a.catalog[0].ID] == "" {
		return botFailure(http.StatusForbidden, "BotNotInConversationRoster", "The bot is not part of the conversation roster.")
	}
	if len(body) > MaxMessageBytes {
		return botFailure(http.StatusRequestEntityTooLarge, "MessageSizeTooBig", "Message size too large.")
	}
	if err := CheckActivity(body); err != nil {
		return botFailure(http.StatusBadRequest, "BadArgument", err.Error())
	}
	var compact bytes.Buffer
	_ = json.Compact(&compact, body)
	a.dms[user] = append(a.dms[user], json.RawMessage(compact.Bytes()))
	a.activitySeq++
	return imReply{status: http.StatusCreated, body: map[string]string{"id": strconv.FormatInt(a.activitySeq, 10)}}
}

// CheckActivity reports whether the Bot Connector would post body as
// Herald's direct message: a JSON message activity whose attachments, at
// least one, are Adaptive Cards (contentType CardContentType) that
// CheckCard accepts and that have a body.
func CheckActivity(body []byte) error {
	var act struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string          `json:"contentType"`
			Content     json.RawMessage `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(body, &act); err != nil {
		return fmt.Errorf("the activity is not JSON: %v", err)
	}
	if act.Type != "message" {
		return fmt.Errorf("the activity's type is %q, not message", act.Type)
	}
	if len(act.Attachments) == 0 {
		return fmt.Errorf("the message has no attachments")
	}
	for i, att := range act.Attachments {
		if att.ContentType != CardContentType {
			return fmt.Errorf("attachments[%d]: contentType %q is not %s", i, att.ContentType, CardContentType)
		}
		var c struct {
			Body []json.RawMessage `json:"body"`
		}
		if err := json.Unmarshal(att.Content, &c); err != nil || len(c.Body) == 0 {
			return fmt.Errorf("attachments[%d]: the Adaptive Card has no body", i)
		}
		if err := CheckCard(att.Content); err != nil {
			return fmt.Errorf("attachments[%d]: %v", i, err)
		}
	}
	return nil
}
