package slacktest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/platform/platformtest"
)

// WebAPI is a fake of the Slack Web API methods direct messages use
// (platforms.md A3): auth.test, users.lookupByEmail, conversations.open,
// chat.postMessage. It answers as Slack does — HTTP 200 with ok:false and
// an error code for logical errors, 429 with Retry-After when rate limited
// — and requires the bot token in the Authorization header (Bearer).
//
// Its SendGate counts the chat.postMessage calls received (Sends). A
// failed one (FailNextSends) answers 500 fatal_error once the token, any
// FailNext answer and the chat:write scope are checked; a held one
// (HoldSendsAfter) is answered 503 service_unavailable on Release, and is
// not recorded.
type WebAPI struct {
	*httptest.Server
	platformtest.SendGate

	mu       sync.Mutex
	token    string
	scopes   []string
	revoked  bool
	users    map[string]string // email → user id
	channels map[string]string // DM channel → user id
	dms      map[string][]json.RawMessage
	failNext map[string][]apiFailure // method → queued failures
}

type apiFailure struct {
	status int
	code   string
	header http.Header
}

// NewWebAPI starts a fake Web API with a valid bot token that has every
// scope direct messages need; it closes when the test ends.
func NewWebAPI(t testing.TB) *WebAPI {
	a := &WebAPI{
		token:  "xoxb-" + platformtest.RandomString(24, "0123456789abcdefghijklmnopqrstuvwxyz"),
		scopes: []string{"users:read", "users:read.email", "im:write", "chat:write", "channels:read"},
		users:  map[string]string{}, channels: map[string]string{}, dms: map[string][]json.RawMessage{},
		failNext: map[string][]apiFailure{},
	}
	a.Server = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(func() { a.Release(); a.Close() })
	return a
}

var _ platformtest.IMFake = (*WebAPI)(nil)

// Endpoints points Herald's Slack API base URL at the fake.
func (a *WebAPI) Endpoints(e *platform.IMEndpoints) { e.SlackAPI = a.URL + "/api" }

// Settings returns the fake's bot token.
func (a *WebAPI) Settings() herald.IMSettings {
	a.mu.Lock()
	defer a.mu.Unlock()
	return herald.IMSettings{Token: a.token}
}

// SetScopes replaces the token's granted scopes.
func (a *WebAPI) SetScopes(scopes ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.scopes = scopes
}

// AddUser adds a member found by email and returns their id (U…).
func (a *WebAPI) AddUser(u herald.User) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	id := "U" + strings.ToUpper(platformtest.RandomString(10, "0123456789abcdefghijklmnopqrstuvwxyz"))
	a.users[strings.ToLower(u.Email)] = id
	return id
}

// DMs returns the messages posted in the user's DM, as the form fields
// chat.postMessage received (text, attachments), in JSON.
func (a *WebAPI) DMs(userID string) []json.RawMessage {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.dms[userID])
}

// ExpireTokens makes the token answer token_expired: Slack bot tokens only
// expire with token rotation, which Herald's settings do not hold, so for
// Slack this is a rejected credential.
func (a *WebAPI) ExpireTokens() { a.RejectCredentials() }

// RejectCredentials revokes the token: every call answers token_revoked.
func (a *WebAPI) RejectCredentials() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.revoked = true
}

// FailNext queues an answer for the next call of method: an HTTP status
// with ok:false and code (429 gets Retry-After from header).
func (a *WebAPI) FailNext(method string, status int, code string, header http.Header) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failNext[method] = append(a.failNext[method], apiFailure{status, code, header})
}

func (a *WebAPI) serve(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	if err := r.ParseForm(); err != nil {
		writeAPI(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_form_data"}, nil)
		return
	}
	if method == "chat.postMessage" {
		if hold := a.Enter(); hold != nil {
			<-hold // released: answered 503, not recorded
			writeAPI(w, http.StatusServiceUnavailable, map[string]any{"ok": false, "error": "service_unavailable"}, nil)
			return
		}
	}
	status, answer, header := a.answer(method, r)
	writeAPI(w, status, answer, header)
}

func (a *WebAPI) answer(method string, r *http.Request) (int, map[string]any, http.Header) {
	a.mu.Lock()
	defer a.mu.Unlock()
	bad := func(code string) (int, map[string]any, http.Header) {
		return http.StatusOK, map[string]any{"ok": false, "error": code}, nil
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return bad("invalid_request")
	}
	// Herald sends the token in the Authorization header, never in a body.
	if r.PostForm.Get("token") != "" || r.URL.Query().Get("token") != "" {
		return bad("invalid_auth")
	}
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || auth == "" {
		return bad("not_authed")
	}
	if auth != a.token {
		return bad("invalid_auth")
	}
	if a.revoked {
		return bad("token_revoked")
	}
	if fs := a.failNext[method]; len(fs) > 0 {
		a.failNext[method] = fs[1:]
		return fs[0].status, map[string]any{"ok": false, "error": fs[0].code}, fs[0].header
	}
	need := func(scope string) bool { return slices.Contains(a.scopes, scope) }
	missing := func(scope string) (int, map[string]any, http.Header) {
		return http.StatusOK, map[string]any{"ok": false, "error": "missing_scope", "needed": scope, "provided": strings.Join(a.scopes, ",")}, nil
	}
	switch method {
	case "auth.test":
		return http.StatusOK, map[string]any{"ok": true, "url": "https://herald-test.slack.com/", "team": "Herald", "user": "herald", "team_id": "T1", "user_id": "UBOT", "bot_id": "B1"},
			http.Header{"X-Oauth-Scopes": {strings.Join(a.scopes, ",")}}
	case "users.lookupByEmail":
		if !need("users:read.email") {
			return missing("users:read.email")
		}
		email := r.Form.Get("email")
		if email == "" {
			return bad("invalid_arguments")
		}
		id, ok := a.users[strings.ToLower(email)]
		if !ok {
			return bad("users_not_found")
		}
		return http.StatusOK, map[string]any{"ok": true, "user": map[string]any{"id": id, "profile": map[string]any{"email": email}}}, nil
	case "conversations.open":
		if !need("im:write") {
			return missing("im:write")
		}
		users := r.Form.Get("users")
		if users == "" || strings.Contains(users, ",") {
			return bad("users_list_not_supplied")
		}
		if !slices.Contains(mapValues(a.users), users) {
			return bad("user_not_found")
		}
		channel := "D" + users[1:]
		a.channels[channel] = users
		return http.StatusOK, map[string]any{"ok": true, "channel": map[string]any{"id": channel}}, nil
	case "chat.postMessage":
		if !need("chat:write") {
			return missing("chat:write")
		}
		if a.Fail() { // FailNextSends
			return http.StatusInternalServerError, map[string]any{"ok": false, "error": "fatal_error"}, nil
		}
		user, ok := a.channels[r.Form.Get("channel")]
		if !ok {
			return bad("channel_not_found")
		}
		text, attachments := r.Form.Get("text"), r.Form.Get("attachments")
		if text == "" && attachments == "" && r.Form.Get("blocks") == "" {
			return bad("no_text")
		}
		msg := map[string]any{"text": text}
		if attachments != "" {
			var atts []json.RawMessage
			if err := json.Unmarshal([]byte(attachments), &atts); err != nil {
				return bad("invalid_attachments")
			}
			msg["attachments"] = atts
			body, _ := json.Marshal(msg)
			if ref := Check(body); ref != nil {
				return bad("invalid_blocks")
			}
		}
		body, _ := json.Marshal(msg)
		a.dms[user] = append(a.dms[user], body)
		return http.StatusOK, map[string]any{"ok": true, "channel": r.Form.Get("channel"), "ts": strconv.Itoa(len(a.dms[user])) + ".000100"}, nil
	}
	return http.StatusNotFound, map[string]any{"ok": false, "error": "unknown_method"}, nil
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func writeAPI(w http.ResponseWriter, status int, body map[string]any, header http.Header) {
	for k, vs := range header {
		w.Header()[k] = vs
	}
	if status == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
