// Package googlechattest is a fake of Google Chat's incoming-webhook
// service (chat.googleapis.com) for tests: it listens on a real loopback
// port (plain http: tests reach it as an operator-allowed host), accepts
// messages only on the spaces it issued with the right key and token,
// enforces the message rules of platforms.md F2 (see Check) and a quota of
// one message per second per space (see Jitter), answers like Google (200 with the
// created message, or a Google JSON error) and records everything it is
// sent. Failures and rate limits can be injected. It is independent of
// package googlechat, so that it checks Herald's payloads against Google's
// rules rather than Herald's own.
//
// Google's answers it reproduces, in the order Google checks:
//
//	unknown path                  404 HTML page (Google's front end)
//	GET on a messages path        401 UNAUTHENTICATED (listing needs OAuth)
//	other methods                 404 HTML page
//	no key                        403 PERMISSION_DENIED "The request is missing a valid API key." [probe]
//	wrong key                     400 INVALID_ARGUMENT "API key not valid. …", reason API_KEY_INVALID [probe]
//	unknown space                 404 NOT_FOUND "Requested entity was not found."
//	missing or wrong token        403 PERMISSION_DENIED "The API is called without a valid token. …" [probe]
//	not application/json         400 INVALID_ARGUMENT (UNVERIFIED wording)
//	a message Check refuses       400 INVALID_ARGUMENT
//	over the space's quota        429 RESOURCE_EXHAUSTED, no Retry-After
//	accepted                      200 with the created message
//
// Google's answer to a wrong (rather than missing) token is UNVERIFIED; the
// fake gives the 403 seen for a missing one. Some clients report 401
// UNAUTHENTICATED instead; Herald classifies both as PERMANENT.
package googlechattest

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/platform/platformtest"
)

// Request is one request the fake received; Refusal says why it was
// refused.
type Request = platformtest.Request

// Google's messages for the answers the fake gives.
const (
	MessageMissingKey   = "The request is missing a valid API key."
	MessageInvalidKey   = "API key not valid. Please pass a valid API key."
	MessageInvalidToken = "The API is called without a valid token. Instructions on how to use incoming webhooks can be found at https://developers.google.com/chat/how-tos/webhooks"
	MessageNotFound     = "Requested entity was not found."
	MessageExhausted    = "Resource has been exhausted (e.g. check quota)."
	MessageNeedsOAuth   = "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)

// jsonType is the Content-Type of Google's JSON answers.
const jsonType = "application/json; charset=UTF-8"

var messagesPath = regexp.MustCompile(`^/v1/spaces/([^/]+)/messages$`)

// Server is a fake chat.googleapis.com. All its methods are safe for
// concurrent use. Its Recorder logs every request (Requests), keeps the
// messages each space accepted (Accepted, keyed by the hook URL's path) and
// injects failures (FailNext, FailNextError): those apply to requests that
// passed the key, space and token checks, answered instead of being checked
// and accepted.
type Server struct {
	*httptest.Server
	platformtest.Recorder

	key string // the one API key: Google puts the same key in every webhook URL

	mu        sync.Mutex
	spaces    map[string]*space // by space id
	perSecond int
	seq       int
}

type space struct {
	token  string
	recent platformtest.Window // accepted in the last second, for the quota
}

// NewServer starts a fake Google Chat service, closed when the test ends.
// Its quota is one message per second per space, as Google's (see
// SetRateLimit).
func NewServer(t testing.TB) *Server {
	s := &Server{
		key:       "AIzaSy" + platformtest.RandomString(33, keyChars),
		spaces:    map[string]*space{},
		perSecond: 1,
	}
	s.Server = s.Serve(t, s.answer)
	return s
}

// Key returns the API key the fake accepts, which every hook URL carries.
func (s *Server) Key() string { return s.key }

// NewHook registers a new space with an incoming webhook and returns its
// URL, s.URL + "/v1/spaces/AAAA…/messages?key=…&token=…" like Google's.
// Google Chat webhooks have no signing or keyword settings: o is ignored.
func (s *Server) NewHook(o platformtest.HookOptions) string {
	id := "AAAA" + platformtest.RandomString(7, keyChars)
	token := platformtest.RandomString(43, keyChars) + "="
	s.mu.Lock()
	s.spaces[id] = &space{token: token}
	s.mu.Unlock()
	return s.URL + "/v1/spaces/" + id + "/messages?" + url.Values{"key": {s.key}, "token": {token}}.Encode()
}

// Jitter is how much shorter than a second the fake's quota window is.
// How Google counts its per-space quota is UNVERIFIED (older documents say
// 60 writes a minute, newer ones one a second); the fake takes the strict
// reading, less this margin, so that a sender pacing itself at one message
// a second is not refused for the network's timing.
const Jitter = 100 * time.Millisecond

// SetRateLimit sets how many messages each space accepts in any window of
// one second less Jitter (1 by default); a message over it is answered 429
// RESOURCE_EXHAUSTED. Zero or less lifts the limit.
func (s *Server) SetRateLimit(perSecond int) {
	s.mu.Lock()
	s.perSecond = perSecond
	s.mu.Unlock()
}

// FailNextError answers the next n checked requests with a Google JSON
// error of the given HTTP code, status and message, and header (e.g.
// Retry-After).
func (s *Server) FailNextError(n, code int, status, message string, header http.Header) {
	h := header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", jsonType)
	s.FailNext(n, code, (&APIError{Code: code, Status: status, Message: message}).Body(), h)
}

// RateLimitNext answers the next n requests as Google does over its quota:
// 429 RESOURCE_EXHAUSTED, without Retry-After.
func (s *Server) RateLimitNext(n int) {
	s.FailNextError(n, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", MessageExhausted, nil)
}

// RejectNext answers the next n requests as Google does for a space that no
// longer exists: 404 NOT_FOUND, which Herald records as "NOT_FOUND".
func (s *Server) RejectNext(n int) string {
	s.FailNextError(n, http.StatusNotFound, "NOT_FOUND", MessageNotFound, nil)
	return "NOT_FOUND"
}

var _ platformtest.Fake = (*Server)(nil)

// answer decides the answer to one request, checking in Google's order.
func (s *Server) answer(r *http.Request, body []byte, readErr error) platformtest.Reply {
	match := messagesPath.FindStringSubmatch(r.URL.Path)
	if match == nil || (r.Method != http.MethodPost && r.Method != http.MethodGet) {
		return notFoundPage(r.URL.Path)
	}
	if r.Method == http.MethodGet {
		return reply(&APIError{Code: 401, Status: "UNAUTHENTICATED", Message: MessageNeedsOAuth})
	}
	q := r.URL.Query()
	switch key := q.Get("key"); {
	case key == "":
		return reply(&APIError{Code: 403, Status: "PERMISSION_DENIED", Message: MessageMissingKey})
	case key != s.key:
		return reply(&APIError{Code: 400, Status: "INVALID_ARGUMENT", Message: MessageInvalidKey, Details: []any{map[string]any{
			"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com",
			"metadata": map[string]string{"service": "chat.googleapis.com"},
		}}})
	}
	s.mu.Lock()
	sp := s.spaces[match[1]]
	s.mu.Unlock()
	if sp == nil {
		return reply(&APIError{Code: 404, Status: "NOT_FOUND", Message: MessageNotFound})
	}
	if q.Get("token") != sp.token {
		return reply(&APIError{Code: 403, Status: "PERMISSION_DENIED", Message: MessageInvalidToken})
	}
	if f, ok := s.NextFailure(); ok {
		return f
	}
	if readErr != nil {
		return reply(invalid("Invalid JSON payload received. The body could not be read: %v", readErr))
	}
	if !platformtest.IsJSON(r) {
		return reply(invalid("Invalid JSON payload received. The Content-Type %q is not application/json.", r.Header.Get("Content-Type")))
	}
	if err := Check(body); err != nil {
		var e *APIError
		errors.As(err, &e)
		return reply(e)
	}
	return s.accept(match[1], sp, body)
}

// accept applies the space's quota and answers the created message.
func (s *Server) accept(id string, sp *space, body []byte) platformtest.Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if wait := sp.recent.Take(now, s.perSecond, quotaWindow); wait > 0 {
		r := reply(&APIError{Code: 429, Status: "RESOURCE_EXHAUSTED", Message: MessageExhausted})
		r.Refusal = fmt.Sprintf("over the quota of %d per second; free again in %d ms", s.perSecond, int(math.Ceil(float64(wait)/float64(time.Millisecond))))
		return r
	}
	s.seq++
	var sent struct {
		Text    string          `json:"text"`
		CardsV2 json.RawMessage `json:"cardsV2"`
	}
	_ = json.Unmarshal(body, &sent) // Check has parsed it already
	name := "spaces/" + id + "/messages/" + strconv.Itoa(s.seq) + "." + platformtest.RandomString(11, keyChars)
	thread := "spaces/" + id + "/threads/" + platformtest.RandomString(11, keyChars)
	created := map[string]any{
		"name":         name,
		"sender":       map[string]any{"name": "users/114022495153014004089", "displayName": "Herald", "type": "BOT"},
		"text":         sent.Text,
		"cardsV2":      sent.CardsV2,
		"createTime":   now.UTC().Format(time.RFC3339Nano),
		"thread":       map[string]any{"name": thread},
		"space":        map[string]any{"name": "spaces/" + id, "type": "ROOM", "spaceType": "SPACE"},
		"argumentText": sent.Text,
	}
	if sent.CardsV2 == nil {
		delete(created, "cardsV2")
	}
	out, _ := json.MarshalIndent(created, "", "  ")
	return platformtest.Reply{Status: http.StatusOK, Body: string(out) + "\n", Header: http.Header{"Content-Type": {jsonType}}, Accepted: true}
}

// reply is the Reply of a Google error.
func reply(e *APIError) platformtest.Reply {
	return platformtest.Reply{Status: e.Code, Body: e.Body(), Header: http.Header{"Content-Type": {jsonType}}, Refusal: e.Error()}
}

// notFoundPage is the HTML page Google's front end answers for a path no
// API serves.
func notFoundPage(path string) platformtest.Reply {
	body := "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 404 (Not Found)!!1</title>\n" +
		"  <p><b>404.</b> <ins>That’s an error.</ins>\n  <p>The requested URL <code>" + html.EscapeString(path) +
		"</code> was not found on this server.  <ins>That’s all we know.</ins>\n"
	return platformtest.Reply{Status: http.StatusNotFound, Body: body, Header: http.Header{"Content-Type": {"text/html; charset=UTF-8"}}, Refusal: "no API at " + path}
}

// quotaWindow is the window of the per-space quota.
const quotaWindow = time.Second - Jitter

// keyChars are the characters of Google's keys, tokens and ids.
const keyChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
