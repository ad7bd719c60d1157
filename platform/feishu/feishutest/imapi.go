package feishutest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/platform/platformtest"
)

// Paths of the Open API calls direct messages make (platforms.md E2).
const (
	TokenPath      = "/open-apis/auth/v3/tenant_access_token/internal"
	BatchGetIDPath = "/open-apis/contact/v3/users/batch_get_id"
	MessagesPath   = "/open-apis/im/v1/messages"
)

// Scopes the app needs to look users up and to message them.
const (
	ScopeUserID = "contact:user.id:readonly"
	ScopeSend   = "im:message:send_as_bot"
)

// Codes and messages of the Open API's answers (platforms.md E2).
const (
	CodeBadParam       = 10003    // token endpoint: unknown app id, malformed request
	CodeBadSecret      = 10014    // token endpoint: wrong app secret
	CodeInternal       = 1500     // internal error, try again later
	CodeNoTenantToken  = 99991661 // no Authorization: Bearer …
	CodeBadTenantToken = 99991663 // unknown, expired or revoked tenant token
	CodeGatewayLimit   = 99991400 // the gateway's rate limit (HTTP 429)
	CodeNoScope        = 99991672 // the app lacks a scope
	CodeBadField       = 99992402 // the request does not match the API's schema
	CodeIMBadParam     = 230001   // invalid parameter (receive_id, content, …)
	CodeBotInactive    = 230006   // the bot capability is not enabled
	CodeIMRateLimit    = 230020   // IM's rate limit
	CodeTooLong        = 230025   // content over the limit
	CodeNoPermission   = 230027   // the app lacks a permission

	MsgNoTenantToken  = "Missing access token for authorization. Please make a request with token attached."
	MsgBadTenantToken = "Invalid access token for authorization. Please make a request with token attached."
)

// Limits the fake enforces.
const (
	// MaxMessageBody is the most bytes of an interactive message's
	// request body: "at most 30 KB", read strictly as 30,000 bytes.
	MaxMessageBody = 30000
	// MaxUUID is the most characters of a message's uuid.
	MaxUUID = 50
	// DedupWindow is how long a message's uuid keeps a repeat from being
	// sent again.
	DedupWindow = time.Hour
	// TokenLifetime is how long a tenant token lasts, by default.
	TokenLifetime = 2 * time.Hour
	// maxBatch is the most emails, and the most mobiles, of one lookup.
	maxBatch = 50
)

// IMAPI is a fake of the Feishu or Lark Open API calls direct messages
// make (platforms.md E2): the tenant token of a custom app, the lookup of
// users by email and mobile, and sending messages. It answers as the Open
// API does — HTTP 200 with a code on the token endpoint, HTTP 400 with a
// code for logical errors elsewhere, 429 with x-ogw-ratelimit-reset for
// the gateway's limit, a plain-text 404 for an unknown path — and enforces
// what the real one does: the tenant token in "Authorization: Bearer …"
// and nowhere else (99991661), tokens that expire (99991663),
// receive_id_type, content as a string holding a valid card, the 30 KB
// limit, and uuid dedup within an hour (a repeat is answered success with
// the first message's id, and not delivered again).
//
// Its SendGate counts the message sends received, answered or not (Sends).
// A failed one (FailNextSends) answers HTTP 500 with code 1500 "internal
// error" once its token, fields and scope are checked; a held one
// (HoldSendsAfter) is answered the same on Release, is not delivered, and
// its uuid is not kept.
//
// One IMAPI is one tenant with one app on one host: NewFeishuIMAPI and
// NewLarkIMAPI each start their own server, so that the two platforms'
// fakes can be used side by side. Its methods are safe for concurrent use.
type IMAPI struct {
	*httptest.Server
	platformtest.SendGate
	lark bool

	mu           sync.Mutex
	now          func() time.Time
	appID        string
	appSecret    string
	rejected     bool
	lifetime     time.Duration
	tokens       map[string]time.Time // tenant token → when it expires
	tokenFetches int
	scopes       map[string]bool
	byEmail      map[string]string // lower-case email → open_id
	byMobile     map[string]string // mobile as batch_get_id takes it → open_id
	users        map[string]bool   // open_ids
	dms          map[string][]json.RawMessage
	sent         map[string]sentMessage // by uuid
	failNext     map[string][]IMFailure // by path
}

type sentMessage struct {
	at        time.Time
	messageID string
}

// IMFailure is an answer FailNext queues: an HTTP status, a body code and
// msg, and headers.
type IMFailure struct {
	Status int
	Code   int
	Msg    string
	Header http.Header
}

var _ platformtest.IMFake = (*IMAPI)(nil)

// NewFeishuIMAPI starts a fake Feishu Open API (open.feishu.cn) with one
// app that has every scope direct messages need; it closes when the test
// ends.
func NewFeishuIMAPI(t testing.TB) *IMAPI { return newIMAPI(t, false) }

// NewLarkIMAPI starts a fake Lark Open API (open.larksuite.com), like
// NewFeishuIMAPI.
func NewLarkIMAPI(t testing.TB) *IMAPI { return newIMAPI(t, true) }

func newIMAPI(t testing.TB, lark bool) *IMAPI {
	a := &IMAPI{
		lark: lark, now: time.Now, lifetime: TokenLifetime,
		appID:     "cli_" + platformtest.RandomString(16, "0123456789abcdef"),
		appSecret: platformtest.RandomString(32, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
		tokens:    map[string]time.Time{}, scopes: map[string]bool{ScopeUserID: true, ScopeSend: true},
		byEmail: map[string]string{}, byMobile: map[string]string{}, users: map[string]bool{},
		dms: map[string][]json.RawMessage{}, sent: map[string]sentMessage{}, failNext: map[string][]IMFailure{},
	}
	a.Server = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(func() { a.Release(); a.Close() })
	return a
}

// Endpoints points Herald's Feishu (or Lark) API base URL at the fake.
func (a *IMAPI) Endpoints(e *platform.IMEndpoints) {
	if a.lark {
		e.LarkAPI = a.URL
	} else {
		e.FeishuAPI = a.URL
	}
}

// Settings returns the app's id and secret.
func (a *IMAPI) Settings() herald.IMSettings {
	a.mu.Lock()
	defer a.mu.Unlock()
	return herald.IMSettings{AppID: a.appID, AppSecret: a.appSecret}
}

// AddUser adds a member found by their email (any case) and by their
// phone, and returns their open_id (ou_…). batch_get_id finds a mainland
// China number (+86…) by its national number, the documented form, and
// any other by "+" and its country code.
func (a *IMAPI) AddUser(u herald.User) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	id := "ou_" + platformtest.RandomString(32, "0123456789abcdef")
	a.users[id] = true
	if u.Email != "" {
		a.byEmail[strings.ToLower(u.Email)] = id
	}
	if u.Phone != "" {
		a.byMobile[directoryMobile(u.Phone)] = id
	}
	return id
}

// directoryMobile is the form batch_get_id finds phone in. Whether Feishu
// also takes "+86…" is UNVERIFIED: the fake takes only the documented
// national form, so that a client that sends it is known to be right.
func directoryMobile(phone string) string {
	p := strings.Map(func(r rune) rune {
		if strings.ContainsRune(" -.()", r) {
			return -1
		}
		return r
	}, phone)
	if national, ok := strings.CutPrefix(p, "+86"); ok {
		return national
	}
	return p
}

// DMs returns the cards the user was sent, in order: each message's
// content, decoded from its string.
func (a *IMAPI) DMs(openID string) []json.RawMessage {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.dms[openID])
}

// ExpireTokens makes every tenant token issued so far expired: using one
// answers 400 with code 99991663.
func (a *IMAPI) ExpireTokens() {
	a.mu.Lock()
	defer a.mu.Unlock()
	past := a.now().Add(-time.Second)
	for t := range a.tokens {
		a.tokens[t] = past
	}
}

// RejectCredentials changes the app's secret: the token endpoint answers
// 10014 app secret invalid, and the tokens issued so far stop working
// (99991663).
func (a *IMAPI) RejectCredentials() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rejected = true
}

// FailNext queues f as the answer to the next authorized request to path
// (BatchGetIDPath or MessagesPath), after its token is checked. A queued
// send failure sends nothing.
func (a *IMAPI) FailNext(path string, f IMFailure) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failNext[path] = append(a.failNext[path], f)
}

// RevokeScope takes a scope from the app: without ScopeUserID lookups
// answer 99991672, without ScopeSend sends answer 230027.
func (a *IMAPI) RevokeScope(scope string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.scopes, scope)
}

// SetTokenLifetime sets the "expire" of the tokens issued from now on.
func (a *IMAPI) SetTokenLifetime(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lifetime = d
}

// SetClock makes the fake read the time from now (token expiry, uuid
// dedup); nil restores the real clock.
func (a *IMAPI) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.now = now
}

// TokenFetches counts the tenant tokens issued.
func (a *IMAPI) TokenFetches() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tokenFetches
}

// IssuedTokens returns every tenant token issued, for tests that check
// that none leaks.
func (a *IMAPI) IssuedTokens() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.tokens))
	for t := range a.tokens {
		out = append(out, t)
	}
	return out
}

// reply is one answer: a status, a JSON body (or, for the gateway's 404,
// plain text) and headers.
type reply struct {
	status int
	body   any
	header http.Header
}

func codeReply(status, code int, msg string) reply {
	return reply{status: status, body: map[string]any{"code": code, "msg": msg}}
}

// transient is the answer to a failed or held send.
var transient = codeReply(http.StatusInternalServerError, CodeInternal, "internal error")

func (a *IMAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		write(w, codeReply(http.StatusBadRequest, CodeBadField, "failed to read the request body"))
		return
	}
	if r.Method == http.MethodPost && r.URL.Path == MessagesPath {
		if hold := a.Enter(); hold != nil {
			<-hold // released: not delivered, its uuid not kept
			write(w, transient)
			return
		}
	}
	write(w, a.answer(r, body))
}

func (a *IMAPI) answer(r *http.Request, body []byte) reply {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.Method != http.MethodPost || (r.URL.Path != TokenPath && r.URL.Path != BatchGetIDPath && r.URL.Path != MessagesPath) {
		return reply{status: http.StatusNotFound, body: "404 page not found"}
	}
	if r.URL.Path == TokenPath {
		return a.issueToken(body)
	}
	// The tenant token goes in the Authorization header, as "Bearer t-…",
	// and nowhere else.
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return codeReply(http.StatusBadRequest, CodeNoTenantToken, MsgNoTenantToken)
	}
	if expires, known := a.tokens[token]; !known || a.rejected || !a.now().Before(expires) {
		return codeReply(http.StatusBadRequest, CodeBadTenantToken, MsgBadTenantToken)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return codeReply(http.StatusBadRequest, CodeBadField, "field validation failed: Content-Type must be application/json; charset=utf-8")
	}
	if fs := a.failNext[r.URL.Path]; len(fs) > 0 {
		a.failNext[r.URL.Path] = fs[1:]
		rep := codeReply(fs[0].Status, fs[0].Code, fs[0].Msg)
		rep.header = fs[0].Header
		return rep
	}
	if r.URL.Path == BatchGetIDPath {
		return a.batchGetID(r, body)
	}
	return a.send(r, body)
}

func (a *IMAPI) issueToken(body []byte) reply {
	var req struct {
		AppID     string `json:"app_id"`
		AppSecret string `json:"app_secret"`
	}
	if json.Unmarshal(body, &req) != nil || req.AppID != a.appID || req.AppSecret == "" {
		return codeReply(http.StatusOK, CodeBadParam, "invalid param")
	}
	if req.AppSecret != a.appSecret || a.rejected {
		return codeReply(http.StatusOK, CodeBadSecret, "app secret invalid")
	}
	a.tokenFetches++
	token := "t-" + platformtest.RandomString(40, "0123456789abcdef")
	a.tokens[token] = a.now().Add(a.lifetime)
	return reply{status: http.StatusOK, body: map[string]any{
		"code": 0, "msg": "ok", "tenant_access_token": token, "expire": int(a.lifetime / time.Second),
	}}
}

func badField(reason string) reply {
	return codeReply(http.StatusBadRequest, CodeBadField, "field validation failed: "+reason)
}

func (a *IMAPI) batchGetID(r *http.Request, body []byte) reply {
	if t := r.URL.Query().Get("user_id_type"); t != "" && t != "open_id" {
		return badField("the fake only answers user_id_type=open_id, got " + strconv.Quote(t))
	}
	if !a.scopes[ScopeUserID] {
		return codeReply(http.StatusBadRequest, CodeNoScope,
			"Access denied. One of the following scopes is required: ["+ScopeUserID+"].")
	}
	var req struct {
		Emails          []string `json:"emails"`
		Mobiles         []string `json:"mobiles"`
		IncludeResigned *bool    `json:"include_resigned"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return badField(err.Error())
	}
	switch {
	case len(req.Emails) == 0 && len(req.Mobiles) == 0:
		return badField("emails and mobiles are both empty")
	case len(req.Emails) > maxBatch || len(req.Mobiles) > maxBatch:
		return badField("at most 50 emails and 50 mobiles")
	}
	list := []map[string]any{}
	for _, e := range req.Emails {
		u := map[string]any{"email": e}
		if id, ok := a.byEmail[strings.ToLower(e)]; ok {
			u["user_id"] = id
		}
		list = append(list, u)
	}
	for _, m := range req.Mobiles {
		u := map[string]any{"mobile": m}
		if id, ok := a.byMobile[m]; ok {
			u["user_id"] = id
		}
		list = append(list, u)
	}
	return reply{status: http.StatusOK, body: map[string]any{"code": 0, "msg": "success", "data": map[string]any{"user_list": list}}}
}

func (a *IMAPI) send(r *http.Request, body []byte) reply {
	if t := r.URL.Query().Get("receive_id_type"); t != "open_id" {
		return badField("receive_id_type must be open_id here, got " + strconv.Quote(t))
	}
	var req struct {
		ReceiveID string          `json:"receive_id"`
		MsgType   string          `json:"msg_type"`
		Content   json.RawMessage `json:"content"`
		UUID      string          `json:"uuid"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return badField(err.Error())
	}
	var content string
	if err := json.Unmarshal(req.Content, &content); err != nil || len(bytes.TrimSpace(req.Content)) == 0 || req.Content[0] != '"' {
		return badField("content must be a string holding the message's JSON")
	}
	switch {
	case req.ReceiveID == "" || req.MsgType == "":
		return badField("receive_id and msg_type are required")
	case len(req.UUID) > MaxUUID:
		return badField("uuid has more than 50 characters")
	case !a.scopes[ScopeSend]:
		return codeReply(http.StatusBadRequest, CodeNoPermission, "Lack of necessary permissions, ext=need "+ScopeSend)
	case a.Fail(): // FailNextSends
		return transient
	case len(body) > MaxMessageBody:
		return codeReply(http.StatusBadRequest, CodeTooLong, fmt.Sprintf("The length of the message content reaches its limit: %d bytes", len(body)))
	case !a.users[req.ReceiveID]:
		return imBadParam("invalid receive_id")
	}
	if err := checkContent(req.MsgType, content); err != nil {
		return imBadParam("invalid content: " + err.Error())
	}
	now := a.now()
	if s, ok := a.sent[req.UUID]; ok && req.UUID != "" && now.Sub(s.at) < DedupWindow {
		return sentReply(s.messageID, req.MsgType, now)
	}
	id := "om_" + platformtest.RandomString(32, "0123456789abcdef")
	a.dms[req.ReceiveID] = append(a.dms[req.ReceiveID], json.RawMessage(content))
	if req.UUID != "" {
		a.sent[req.UUID] = sentMessage{at: now, messageID: id}
	}
	return sentReply(id, req.MsgType, now)
}

func imBadParam(ext string) reply {
	return codeReply(http.StatusBadRequest, CodeIMBadParam, "Your request contains an invalid request parameter, ext="+ext+".")
}

func sentReply(messageID, msgType string, at time.Time) reply {
	return reply{status: http.StatusOK, body: map[string]any{"code": 0, "msg": "success", "data": map[string]any{
		"message_id": messageID, "msg_type": msgType, "create_time": strconv.FormatInt(at.UnixMilli(), 10),
	}}}
}

// checkContent checks a message's decoded content: an interactive card by
// the card rules the webhook fake applies (Check), a text by its "text".
func checkContent(msgType, content string) error {
	switch msgType {
	case "interactive":
		if !json.Valid([]byte(content)) {
			return badRequest("the card is not JSON")
		}
		return checkCard(json.RawMessage(content))
	case "text":
		var c struct {
			Text string `json:"text"`
		}
		if json.Unmarshal([]byte(content), &c) != nil || c.Text == "" {
			return badRequest("a text message needs content.text")
		}
		return nil
	}
	return badRequest("the fake takes msg_type interactive and text, not %q", msgType)
}

func write(w http.ResponseWriter, r reply) {
	for k, vs := range r.header {
		w.Header()[k] = vs
	}
	if s, ok := r.body.(string); ok {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(r.status)
		_, _ = io.WriteString(w, s)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(r.status)
	_ = json.NewEncoder(w).Encode(r.body)
}
