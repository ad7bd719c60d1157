// Package slacktest is a fake of Slack's incoming-webhook service
// (hooks.slack.com) for tests: it listens on a real loopback port, accepts
// messages only on the hook URLs it issued, enforces the Block Kit rules of
// platforms.md A2, answers like Slack (200 "ok" as text/html, or a 4xx with a
// plain-text code) and records everything it is sent. Failures and rate
// limits can be injected. It is independent of package slack, so that it
// checks Herald's payloads against Slack's rules rather than Herald's own.
package slacktest

import (
	"crypto/rand"
	"encoding/json"
	"io"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Request is one request the fake received.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
	// Status and Reply are the status and body the fake answered.
	Status int
	Reply  string
	// Refusal says why a message was refused (400), for test failures.
	Refusal string
	Time    time.Time
}

// Server is a fake hooks.slack.com. All its methods are safe for concurrent
// use.
type Server struct {
	*httptest.Server

	mu        sync.Mutex
	hooks     map[string]*hook // by path
	requests  []Request
	failures  []failure
	perSecond int
	changed   chan struct{} // closed and replaced whenever a message is accepted
}

type hook struct {
	messages []json.RawMessage
	recent   []time.Time // accepted in the last second, for the rate limit
}

type failure struct {
	left   int
	status int
	body   string
	header http.Header
}

// NewServer starts a fake Slack webhook service, closed when the test ends.
func NewServer(t testing.TB) *Server {
	s := &Server{hooks: map[string]*hook{}, changed: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// NewHook registers a new incoming webhook and returns its URL, of the form
// s.URL + "/services/T…/B…/…" like Slack's.
func (s *Server) NewHook() string {
	path := "/services/T" + randomString(8, idChars) + "/B" + randomString(10, idChars) + "/" + randomString(24, tokenChars)
	s.mu.Lock()
	s.hooks[path] = &hook{}
	s.mu.Unlock()
	return s.URL + path
}

// FailNext makes the next n requests to any registered hook answer status
// with body (as text/plain) and header, instead of being checked and
// accepted; e.g. 429 with Retry-After: 1 and "rate_limited", or 500
// "rollup_error". Calls queue up: a second FailNext applies after the first
// is used up.
func (s *Server) FailNext(n int, status int, body string, header http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n > 0 {
		s.failures = append(s.failures, failure{left: n, status: status, body: body, header: header.Clone()})
	}
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

// Requests returns every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	copy(out, s.requests)
	return out
}

// Messages returns the messages a hook accepted, in order. hookURL is the
// URL NewHook returned (or its path).
func (s *Server) Messages(hookURL string) []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.hooks[strings.TrimPrefix(hookURL, s.URL)]
	if h == nil {
		return nil
	}
	out := make([]json.RawMessage, len(h.messages))
	copy(out, h.messages)
	return out
}

// WaitMessages waits until the hook has accepted at least n messages and
// returns them, or fails the test after timeout.
func (s *Server) WaitMessages(t testing.TB, hookURL string, n int, timeout time.Duration) []json.RawMessage {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		if ms := s.Messages(hookURL); len(ms) >= n {
			return ms
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("slacktest: hook got %d messages within %v, want %d", len(s.Messages(hookURL)), timeout, n)
			return nil
		}
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	now := time.Now()
	a := s.answer(r, body, err, now)
	s.mu.Lock()
	s.requests = append(s.requests, Request{
		Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body,
		Status: a.status, Reply: a.body, Refusal: a.refusal, Time: now,
	})
	s.mu.Unlock()
	for k, vs := range a.header {
		w.Header()[k] = vs
	}
	if a.status == http.StatusOK {
		w.Header().Set("Content-Type", "text/html")
	} else if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "text/plain")
	}
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

// reply is the fake's answer to one request.
type reply struct {
	status  int
	body    string
	header  http.Header
	refusal string
}

// answer decides the answer to one request and, when it is accepted,
// records the message.
func (s *Server) answer(r *http.Request, body []byte, readErr error, now time.Time) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.hooks[r.URL.Path]
	switch {
	case h == nil:
		return reply{status: http.StatusNotFound, body: "no_service"}
	case r.Method != http.MethodPost:
		return reply{status: http.StatusMethodNotAllowed, body: "invalid_method"}
	case len(s.failures) > 0:
		f := &s.failures[0]
		f.left--
		a := reply{status: f.status, body: f.body, header: f.header}
		if f.left == 0 {
			s.failures = s.failures[1:]
		}
		return a
	case readErr != nil:
		return refuse(&Refusal{Code: "invalid_payload", Reason: "reading the body: " + readErr.Error()})
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return refuse(&Refusal{Code: "invalid_payload", Reason: "Content-Type is not application/json"})
	}
	if err := Check(body); err != nil {
		return refuse(err)
	}
	if s.perSecond > 0 {
		h.recent = trimWindow(h.recent, now)
		if len(h.recent) >= s.perSecond {
			wait := h.recent[0].Add(time.Second).Sub(now)
			secs := max(1, int(math.Ceil(wait.Seconds())))
			return reply{status: http.StatusTooManyRequests, body: "rate_limited", header: http.Header{"Retry-After": {strconv.Itoa(secs)}}}
		}
		h.recent = append(h.recent, now)
	}
	h.messages = append(h.messages, json.RawMessage(body))
	close(s.changed)
	s.changed = make(chan struct{})
	return reply{status: http.StatusOK, body: "ok"}
}

func refuse(r *Refusal) reply {
	return reply{status: http.StatusBadRequest, body: r.Code, refusal: r.Reason}
}

// trimWindow drops the times more than a second before now.
func trimWindow(ts []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= time.Second {
		i++
	}
	return ts[i:]
}

// maxBody is how much of a request the fake reads; Slack's own limit is
// not documented, and Herald's messages are far smaller.
const maxBody = 1 << 20

func readBody(r *http.Request) ([]byte, error) {
	return io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
}

// Characters of a hook path: upper case for the team and bot ids, mixed
// case for the token, as in Slack's.
const (
	idChars    = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	tokenChars = idChars + "abcdefghijklmnopqrstuvwxyz"
)

// randomString returns n random characters of chars.
func randomString(n int, chars string) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}
