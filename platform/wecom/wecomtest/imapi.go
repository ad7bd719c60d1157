package wecomtest

import (
	"bytes"
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
	"unicode/utf8"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/platform/platformtest"
)

// MaxAppContentBytes is the limit on an app message's text or markdown
// content (message/send), in bytes of UTF-8.
const MaxAppContentBytes = 2048

// DefaultTokenLifetime is the expires_in of the tokens the fake issues.
const DefaultTokenLifetime = 7200 * time.Second

// Errcodes of the self-built app API (platforms.md F2; go-workwx errcodes)
// that the fake answers with.
const (
	CodeInvalidSecret    = 40001
	CodeInvalidCorpID    = 40013
	CodeInvalidToken     = 40014
	CodeMissingToken     = 41001
	CodeMissingCorpID    = 41002
	CodeMissingSecret    = 41004
	CodeTokenExpired     = 42001
	CodeUserNotFound     = 46004
	CodeInvalidAgentID   = 40056
	CodeAppNotAllowed    = 301002 // the token's app is not agentid's
	CodeUntrustedIP      = 60020
	CodeContentTooLarge  = 45002
	CodeAllInvalid       = 81013
	CodeAllEmpty         = 82001
	CodeInvalidParameter = 40058
)

// Calls the fake serves, as FailNext names them.
const (
	CallGetToken      = "gettoken"
	CallAgentGet      = "agent/get"
	CallUserByEmail   = "user/get_userid_by_email"
	CallUserByMobile  = "user/getuserid"
	CallMessageSend   = "message/send"
	apiPrefix         = "/cgi-bin/"
	emailTypeCorp     = 1
	emailTypePersonal = 2
)

// Member is a person in the fake's contacts, found by Email (email_type
// 2, the member's email field), BizMail (email_type 1, their WeCom mail
// address) or Mobile, each compared as WeCom holds it.
type Member struct {
	Email   string
	BizMail string
	Mobile  string
}

// APIRequest is one request the IM fake received.
type APIRequest struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
}

// IMAPI is a fake of the WeCom API a self-built app sends direct messages
// through (platforms.md F2): gettoken, agent/get, user/get_userid_by_email,
// user/getuserid and message/send under /cgi-bin/. Like WeCom it answers
// every request with HTTP 200 and an errcode, wants the access token in
// the access_token query parameter (a token in a header or in the body is
// answered 41001, and so is none), issues tokens that live
// DefaultTokenLifetime and answers 42001 to an expired one, checks that
// agentid is the app's integer id, and refuses markdown content over
// MaxAppContentBytes. With enable_duplicate_check it drops a request
// identical to one it delivered within duplicate_check_interval (answering
// ok), as WeCom does. It records every request and the messages each
// member received. Its methods are safe for concurrent use.
//
// Its SendGate counts the message/send requests received, answered or not
// (Sends). A failed one (FailNextSends) answers -1 "system busy" once its
// token and body are checked, and nothing is delivered; a held one
// (HoldSendsAfter) is answered -1 "system busy" on Release, and is never
// delivered.
type IMAPI struct {
	*httptest.Server
	platformtest.SendGate

	mu         sync.Mutex
	corpID     string
	agentID    int64
	secret     string
	rejected   bool
	untrusted  bool
	now        func() time.Time
	lifetime   time.Duration
	tokens     map[string]*issued
	fetches    int
	members    map[string]Member // by userid
	dms        map[string][]json.RawMessage
	delivered  map[string]time.Time // body → when, for the duplicate check
	failNext   map[string][]failure // call → queued answers
	invalid    int                  // next sends that list their users in invaliduser
	unlicensed int                  // … in unlicenseduser
	requests   []APIRequest
	hints      int
}

type issued struct {
	expires time.Time
	expired bool
}

type failure struct {
	code   int
	errmsg string
}

// NewIMAPI starts a fake WeCom app API with valid credentials (Settings);
// it closes when the test ends.
func NewIMAPI(t testing.TB) *IMAPI {
	a := &IMAPI{
		corpID:  "ww" + platformtest.RandomString(16, "0123456789abcdef"),
		agentID: 1000002,
		secret:  platformtest.RandomString(43, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"),
		now:     time.Now, lifetime: DefaultTokenLifetime,
		tokens: map[string]*issued{}, members: map[string]Member{}, dms: map[string][]json.RawMessage{},
		delivered: map[string]time.Time{}, failNext: map[string][]failure{},
	}
	a.Server = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(func() { a.Release(); a.Close() })
	return a
}

var _ platformtest.IMFake = (*IMAPI)(nil)

// Endpoints points Herald's WeCom API base URL at the fake.
func (a *IMAPI) Endpoints(e *platform.IMEndpoints) { e.WeComAPI = a.URL }

// Settings returns the app's corpId, agentId and secret.
func (a *IMAPI) Settings() herald.IMSettings {
	a.mu.Lock()
	defer a.mu.Unlock()
	return herald.IMSettings{CorpID: a.corpID, AgentID: a.agentID, Secret: a.secret}
}

// AddUser adds a member found by the user's email (as their email field,
// email_type 2) and by their phone (a +86 number as its national number,
// as WeCom holds mainland numbers; others as given), and returns their
// userid.
func (a *IMAPI) AddUser(u herald.User) string {
	return a.AddMember(Member{Email: u.Email, Mobile: MobileOf(u.Phone)})
}

// MobileOf is phone as the fake's contacts hold it: a +86 number as its
// national number, any other as given.
func MobileOf(phone string) string {
	if n, ok := strings.CutPrefix(phone, "+86"); ok {
		return n
	}
	return phone
}

// AddMember adds a member and returns their userid.
func (a *IMAPI) AddMember(m Member) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	id := "u" + platformtest.RandomString(12, "0123456789abcdefghijklmnopqrstuvwxyz")
	a.members[id] = m
	return id
}

// DMs returns the message/send request bodies the member received, in
// order (JSON: touser, msgtype, agentid, markdown.content, …).
func (a *IMAPI) DMs(userID string) []json.RawMessage {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.dms[strings.ToLower(userID)])
}

// ExpireTokens makes every token issued so far expired: calls with one
// are answered 42001, and gettoken issues a new one.
func (a *IMAPI) ExpireTokens() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, t := range a.tokens {
		t.expired = true
	}
}

// RejectCredentials makes the secret invalid, as when it was reset:
// gettoken answers 40001, and the tokens issued so far are answered 40014.
func (a *IMAPI) RejectCredentials() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rejected = true
}

// SetTrustedIP says whether the caller's IP is among the app's trusted
// IPs; when it is not, every call but gettoken is answered 60020.
func (a *IMAPI) SetTrustedIP(trusted bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.untrusted = !trusted
}

// SetClock makes token expiry read the time from now.
func (a *IMAPI) SetClock(now func() time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.now = now
}

// SetTokenLifetime sets the expires_in of tokens issued from now on.
func (a *IMAPI) SetTokenLifetime(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lifetime = d
}

// Tokens returns every token issued so far.
func (a *IMAPI) Tokens() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.tokens))
	for t := range a.tokens {
		out = append(out, t)
	}
	return out
}

// TokenFetches counts the gettoken requests received.
func (a *IMAPI) TokenFetches() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fetches
}

// FailNext queues an answer for the next call of call (one of the Call…
// constants), given once the token is checked: errcode and errmsg, which
// is decorated as WeCom does.
func (a *IMAPI) FailNext(call string, errcode int, errmsg string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failNext[call] = append(a.failNext[call], failure{errcode, errmsg})
}

// InvalidUserNext makes the next n sends answer errcode 0 with every
// recipient listed in invaliduser (a partial failure); nothing is
// delivered.
func (a *IMAPI) InvalidUserNext(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.invalid += n
}

// UnlicensedUserNext is InvalidUserNext with unlicenseduser.
func (a *IMAPI) UnlicensedUserNext(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.unlicensed += n
}

// Requests returns every request received, in order.
func (a *IMAPI) Requests() []APIRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.requests)
}

// answerFields is one answer: its errcode, errmsg and further fields.
type answerFields map[string]any

func (a *IMAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	a.mu.Lock()
	a.requests = append(a.requests, APIRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body})
	a.mu.Unlock()
	call, ok := strings.CutPrefix(r.URL.Path, apiPrefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if call == CallMessageSend {
		if hold := a.Enter(); hold != nil {
			<-hold // released: answered -1 "system busy", never delivered
			a.mu.Lock()
			rep := a.errcode(-1, "system busy", r)
			a.mu.Unlock()
			a.write(w, r, rep)
			return
		}
	}
	a.write(w, r, a.answer(call, r, body))
}

func (a *IMAPI) write(w http.ResponseWriter, _ *http.Request, rep answerFields) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(rep)
}

// errcode is a failure answer, errmsg decorated as WeCom does. The caller
// holds a.mu.
func (a *IMAPI) errcode(code int, errmsg string, r *http.Request) answerFields {
	a.hints++
	return answerFields{"errcode": code, "errmsg": decorate(code, errmsg, fmt.Sprintf("%d%06d", time.Now().Unix(), a.hints), remoteIP(r))}
}

func ok(fields answerFields) answerFields {
	out := answerFields{"errcode": 0, "errmsg": "ok"}
	for k, v := range fields {
		out[k] = v
	}
	return out
}

func (a *IMAPI) answer(call string, r *http.Request, body []byte) answerFields {
	a.mu.Lock()
	defer a.mu.Unlock()
	if call == CallGetToken {
		return a.getToken(r)
	}
	if !slices.Contains([]string{CallAgentGet, CallUserByEmail, CallUserByMobile, CallMessageSend}, call) {
		return a.errcode(CodeInvalidParameter, "invalid url path "+r.URL.Path, r)
	}
	if rep := a.auth(r, body); rep != nil {
		return rep
	}
	if fs := a.failNext[call]; len(fs) > 0 {
		a.failNext[call] = fs[1:]
		return a.errcode(fs[0].code, fs[0].errmsg, r)
	}
	if a.untrusted {
		return a.errcode(CodeUntrustedIP, "not allow to access from your ip", r)
	}
	wantMethod := http.MethodPost
	if call == CallAgentGet {
		wantMethod = http.MethodGet
	}
	if r.Method != wantMethod {
		return a.errcode(43002, "require "+wantMethod+" method", r)
	}
	if call == CallAgentGet {
		return a.agentGet(r)
	}
	var fields map[string]json.RawMessage
	if !utf8.Valid(body) || json.Unmarshal(body, &fields) != nil {
		return a.errcode(CodeBadJSON, "invalid parameter, Warning: wrong json format.", r)
	}
	switch call {
	case CallUserByEmail:
		return a.userByEmail(r, fields)
	case CallUserByMobile:
		return a.userByMobile(r, fields)
	}
	return a.send(r, body, fields)
}

// getToken answers gettoken. Within a token's lifetime WeCom hands out the
// same token again, with the time it has left.
func (a *IMAPI) getToken(r *http.Request) answerFields {
	a.fetches++
	q := r.URL.Query()
	switch {
	case r.Method != http.MethodGet:
		return a.errcode(43001, "require GET method", r)
	case q.Get("corpid") == "":
		return a.errcode(CodeMissingCorpID, "corpid missing", r)
	case q.Get("corpsecret") == "":
		return a.errcode(CodeMissingSecret, "corpsecret missing", r)
	case q.Get("corpid") != a.corpID:
		return a.errcode(CodeInvalidCorpID, "invalid corpid", r)
	case a.rejected || q.Get("corpsecret") != a.secret:
		return a.errcode(CodeInvalidSecret, "invalid credential, access_token is invalid or not latest", r)
	}
	now := a.now()
	for tok, t := range a.tokens {
		if !t.expired && now.Before(t.expires) {
			return ok(answerFields{"access_token": tok, "expires_in": int(t.expires.Sub(now) / time.Second)})
		}
	}
	tok := platformtest.RandomString(64, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_")
	a.tokens[tok] = &issued{expires: now.Add(a.lifetime)}
	return ok(answerFields{"access_token": tok, "expires_in": int(a.lifetime / time.Second)})
}

// auth checks the access token: in the query and nowhere else.
func (a *IMAPI) auth(r *http.Request, body []byte) answerFields {
	var inBody map[string]json.RawMessage
	_ = json.Unmarshal(body, &inBody)
	_, bodyToken := inBody["access_token"]
	tok := r.URL.Query().Get("access_token")
	if tok == "" || bodyToken || r.Header.Get("Authorization") != "" || r.Header.Get("Access-Token") != "" {
		return a.errcode(CodeMissingToken, "access_token missing", r)
	}
	t, found := a.tokens[tok]
	switch {
	case !found || a.rejected:
		return a.errcode(CodeInvalidToken, "invalid access_token", r)
	case t.expired || !a.now().Before(t.expires):
		return a.errcode(CodeTokenExpired, "access_token expired", r)
	}
	return nil
}

func (a *IMAPI) agentGet(r *http.Request) answerFields {
	id, err := strconv.ParseInt(r.URL.Query().Get("agentid"), 10, 64)
	switch {
	case err != nil:
		return a.errcode(CodeInvalidAgentID, "invalid agentid", r)
	case id != a.agentID:
		return a.errcode(CodeAppNotAllowed, "no privilege to access/modify app", r)
	}
	return ok(answerFields{"agentid": a.agentID, "name": "Herald", "close": 0})
}

func (a *IMAPI) userByEmail(r *http.Request, f map[string]json.RawMessage) answerFields {
	var email string
	if json.Unmarshal(f["email"], &email) != nil || email == "" {
		return a.errcode(CodeInvalidParameter, "invalid email", r)
	}
	typ := emailTypeCorp
	if raw, set := f["email_type"]; set {
		if json.Unmarshal(raw, &typ) != nil || (typ != emailTypeCorp && typ != emailTypePersonal) {
			return a.errcode(CodeInvalidParameter, "invalid email_type", r)
		}
	}
	for id, m := range a.members {
		addr := m.BizMail
		if typ == emailTypePersonal {
			addr = m.Email
		}
		if addr != "" && strings.EqualFold(addr, email) {
			return ok(answerFields{"userid": id})
		}
	}
	return a.errcode(CodeUserNotFound, "user no exist", r)
}

func (a *IMAPI) userByMobile(r *http.Request, f map[string]json.RawMessage) answerFields {
	var mobile string
	if json.Unmarshal(f["mobile"], &mobile) != nil || len(mobile) < 5 || len(mobile) > 32 {
		return a.errcode(CodeInvalidParameter, "invalid mobile", r)
	}
	for id, m := range a.members {
		if m.Mobile != "" && m.Mobile == mobile {
			return ok(answerFields{"userid": id})
		}
	}
	return a.errcode(CodeUserNotFound, "user no exist", r)
}

// send answers message/send.
func (a *IMAPI) send(r *http.Request, body []byte, f map[string]json.RawMessage) answerFields {
	// agentid must be a JSON integer: not absent, not a string (which
	// json.Number would take), not a fraction.
	raw := bytes.TrimSpace(f["agentid"])
	var agentID json.Number
	if len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &agentID) != nil {
		return a.errcode(CodeInvalidAgentID, "invalid agentid", r)
	}
	id, err := agentID.Int64()
	if err != nil {
		return a.errcode(CodeInvalidAgentID, "invalid agentid", r)
	}
	if id != a.agentID {
		return a.errcode(CodeAppNotAllowed, "no privilege to access/modify app", r)
	}
	var touser, msgtype string
	if raw, set := f["touser"]; set && json.Unmarshal(raw, &touser) != nil {
		return a.errcode(CodeInvalidParameter, "invalid touser", r)
	}
	if strings.TrimSpace(touser) == "" {
		return a.errcode(CodeAllEmpty, "user & party & tag all empty", r)
	}
	if json.Unmarshal(f["msgtype"], &msgtype) != nil || (msgtype != "markdown" && msgtype != "text") {
		return a.errcode(CodeInvalidMsgType, "invalid message type", r)
	}
	var c *wireContent
	if json.Unmarshal(f[msgtype], &c) != nil || c == nil || c.Content == "" {
		return a.errcode(CodeEmptyContent, "empty content", r)
	}
	if len(c.Content) > MaxAppContentBytes {
		return a.errcode(CodeContentTooLarge, fmt.Sprintf("content size out of limit: %d bytes, more than %d", len(c.Content), MaxAppContentBytes), r)
	}
	dupCheck, interval := 0, 1800
	if raw, set := f["enable_duplicate_check"]; set && (json.Unmarshal(raw, &dupCheck) != nil || (dupCheck != 0 && dupCheck != 1)) {
		return a.errcode(CodeInvalidParameter, "invalid enable_duplicate_check", r)
	}
	if raw, set := f["duplicate_check_interval"]; set && (json.Unmarshal(raw, &interval) != nil || interval <= 0 || interval > 4*3600) {
		return a.errcode(CodeInvalidParameter, "invalid duplicate_check_interval", r)
	}
	if a.Fail() { // FailNextSends
		return a.errcode(-1, "system busy", r)
	}
	users := strings.Split(touser, "|")
	if a.invalid > 0 {
		a.invalid--
		return ok(answerFields{"invaliduser": touser, "invalidparty": "", "invalidtag": "", "unlicenseduser": "", "msgid": a.msgID()})
	}
	if a.unlicensed > 0 {
		a.unlicensed--
		return ok(answerFields{"invaliduser": "", "invalidparty": "", "invalidtag": "", "unlicenseduser": touser, "msgid": a.msgID()})
	}
	var valid, invalid []string
	for _, u := range users {
		if _, found := a.members[strings.ToLower(u)]; found {
			valid = append(valid, strings.ToLower(u))
		} else {
			invalid = append(invalid, u)
		}
	}
	if len(valid) == 0 {
		return a.errcode(CodeAllInvalid, "user & party & tag all invalid", r)
	}
	now := a.now()
	key := string(body)
	if last, seen := a.delivered[key]; !(dupCheck == 1 && seen && now.Sub(last) < time.Duration(interval)*time.Second) {
		a.delivered[key] = now
		for _, u := range valid {
			a.dms[u] = append(a.dms[u], json.RawMessage(body))
		}
	}
	return ok(answerFields{"invaliduser": strings.Join(invalid, "|"), "invalidparty": "", "invalidtag": "", "unlicenseduser": "", "msgid": a.msgID()})
}

func (a *IMAPI) msgID() string {
	return platformtest.RandomString(40, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_")
}
