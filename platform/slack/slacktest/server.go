// Package slacktest is a fake of Slack's incoming-webhook service
// (hooks.slack.com) for tests: it listens on a real loopback port, accepts
// messages only on the hook URLs it issued, enforces the Block Kit rules of
// platforms.md A2, answers like Slack (200 "ok" as text/html, or a 4xx with a
// plain-text code) and records everything it is sent. Failures and rate
// limits can be injected. It is independent of package slack, so that it
// checks Herald's payloads against Slack's rules rather than Herald's own.
package slacktest

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/platform/platformtest"
)

// Request is one request the fake received; Refusal says why a message was
// refused (400).
type Request = platformtest.Request

// Server is a fake hooks.slack.com. All its methods are safe for concurrent
// use. Its Recorder logs every request (Requests), keeps the messages each
// hook accepted (Messages, or Accepted) and injects failures (FailNext):
// those apply to POSTs to a registered hook, answered as text/plain instead
// of being checked and accepted; e.g. 429 with Retry-After: 1 and
// "rate_limited", or 500 "rollup_error".
type Server struct {
	*httptest.Server
	platformtest.Recorder

	mu        sync.Mutex
	hooks     map[string]*hook // by path
	perSecond int
}

type hook struct {
	recent platformtest.Window // accepted in the last second, for the rate limit
}

// NewServer starts a fake Slack webhook service, closed when the test ends.
func NewServer(t testing.TB) *Server {
	s := &Server{hooks: map[string]*hook{}}
	s.Server = s.Serve(t, s.answer)
	return s
}

// NewHook registers a new incoming webhook and returns its URL, of the form
// s.URL + "/services/T…/B…/…" like Slack's. Slack webhooks have no
// security settings: o is ignored.
func (s *Server) NewHook(o platformtest.HookOptions) string {
	path := "/services/T" + platformtest.RandomString(8, idChars) +
		"/B" + platformtest.RandomString(10, idChars) +
		"/" + platformtest.RandomString(24, tokenChars)
	s.mu.Lock()
	s.hooks[path] = &hook{}
	s.mu.Unlock()
	return s.URL + path
}

// SetRateLimit limits every hook to perSecond accepted messages in any
// one-second window; a message over the limit is answered 429 with
// Retry-After (whole seconds, at least 1) and "rate_limited". Zero or less
// lifts the limit.
func (s *Server) SetRateLimit(perSecond int) {
	s.mu.Lock()
	s.perSecond = perSecond
	s.mu.Unlock()
}

// answer decides the answer to one request.
func (s *Server) answer(r *http.Request, body []byte, readErr error) platformtest.Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.hooks[r.URL.Path]
	if h == nil {
		return platformtest.Reply{Status: http.StatusNotFound, Body: "no_service"}
	}
	if r.Method != http.MethodPost {
		return platformtest.Reply{Status: http.StatusMethodNotAllowed, Body: "invalid_method"}
	}
	if f, ok := s.NextFailure(); ok {
		return f
	}
	if readErr != nil {
		return refuse(&Refusal{Code: "invalid_payload", Reason: "reading the body: " + readErr.Error()})
	}
	if !platformtest.IsJSON(r) {
		return refuse(&Refusal{Code: "invalid_payload", Reason: "Content-Type is not application/json"})
	}
	if err := Check(body); err != nil {
		return refuse(err)
	}
	if wait := h.recent.Take(time.Now(), s.perSecond, time.Second); wait > 0 {
		secs := max(1, int(math.Ceil(wait.Seconds())))
		return platformtest.Reply{Status: http.StatusTooManyRequests, Body: "rate_limited", Header: http.Header{"Retry-After": {strconv.Itoa(secs)}}}
	}
	return platformtest.Reply{Status: http.StatusOK, Body: "ok", Header: http.Header{"Content-Type": {"text/html"}}, Accepted: true}
}

func refuse(r *Refusal) platformtest.Reply {
	return platformtest.Reply{Status: http.StatusBadRequest, Body: r.Code, Refusal: r.Reason}
}

// Characters of a hook path: upper case for the team and bot ids, mixed
// case for the token, as in Slack's.
const (
	idChars    = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	tokenChars = idChars + "abcdefghijklmnopqrstuvwxyz"
)

var _ platformtest.Fake = (*Server)(nil)

// RateLimitNext answers the next n requests as Slack does over its limit:
// 429, Retry-After: 1, "rate_limited".
func (s *Server) RateLimitNext(n int) {
	s.FailNext(n, http.StatusTooManyRequests, "rate_limited", http.Header{"Retry-After": {"1"}})
}

// RejectNext answers the next n requests as Slack does for a channel that
// no longer exists: 404 "channel_not_found".
func (s *Server) RejectNext(n int) string {
	s.FailNext(n, http.StatusNotFound, "channel_not_found", nil)
	return "channel_not_found"
}
