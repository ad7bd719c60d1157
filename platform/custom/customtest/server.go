// Package customtest is a fake receiver of CUSTOM (Standard Webhooks)
// requests for tests. It listens on a real loopback port, verifies every
// request with the official Standard Webhooks library and the secret its
// endpoint was created with, checks the envelope of SPEC §6, and records
// everything it is sent. Failures can be injected.
package customtest

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
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
	// Refusal says why a request was refused (400 or 401), for test failures.
	Refusal string
	Time    time.Time
}

// Server is a fake Standard Webhooks receiver. All its methods are safe for
// concurrent use.
type Server struct {
	*httptest.Server

	mu        sync.Mutex
	endpoints map[string]*endpoint // by path
	requests  []Request
	seen      map[string]int // requests by webhook-id
	failures  []failure
	changed   chan struct{} // closed and replaced whenever a request is accepted
}

type endpoint struct {
	verifier *standardwebhooks.Webhook
	accepted []json.RawMessage
}

type failure struct {
	left   int
	status int
	body   string
	header http.Header
}

// NewServer starts a fake receiver, closed when the test ends.
func NewServer(t testing.TB) *Server {
	s := &Server{endpoints: map[string]*endpoint{}, seen: map[string]int{}, changed: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// NewEndpoint registers an endpoint that accepts requests signed with
// secret ("whsec_…") and returns its URL, s.URL + "/hooks/…". It panics when
// the library cannot read the secret, which is a mistake in the test.
func (s *Server) NewEndpoint(secret string) string {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		panic(fmt.Sprintf("customtest: unusable secret: %v", err))
	}
	path := "/hooks/" + randomString(20)
	s.mu.Lock()
	s.endpoints[path] = &endpoint{verifier: wh}
	s.mu.Unlock()
	return s.URL + path
}

// SetSecret makes the endpoint at endpointURL verify with secret from now
// on: the endpoint of a webhook whose secret Herald generates is registered
// first and told the secret Herald returned.
func (s *Server) SetSecret(endpointURL, secret string) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		panic(fmt.Sprintf("customtest: unusable secret: %v", err))
	}
	path := strings.TrimPrefix(endpointURL, s.URL)
	s.mu.Lock()
	defer s.mu.Unlock()
	ep, ok := s.endpoints[path]
	if !ok {
		panic("customtest: no endpoint " + path)
	}
	ep.verifier = wh
}

// FailNext makes the next n requests to any endpoint answer status with
// body and header instead of being verified and accepted; e.g. 410, or 503
// with Retry-After: 7. Calls queue up: a second FailNext applies after the
// first is used up. Such requests still count in Seen.
func (s *Server) FailNext(n int, status int, body string, header http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n > 0 {
		s.failures = append(s.failures, failure{left: n, status: status, body: body, header: header.Clone()})
	}
}

// Requests returns every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	copy(out, s.requests)
	return out
}

// Accepted returns the bodies an endpoint accepted, in order. endpointURL is
// the URL NewEndpoint returned (or its path).
func (s *Server) Accepted(endpointURL string) []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.endpoints[strings.TrimPrefix(endpointURL, s.URL)]
	if e == nil {
		return nil
	}
	out := make([]json.RawMessage, len(e.accepted))
	copy(out, e.accepted)
	return out
}

// WaitAccepted waits until the endpoint has accepted at least n requests
// and returns their bodies, or fails the test after timeout.
func (s *Server) WaitAccepted(t testing.TB, endpointURL string, n int, timeout time.Duration) []json.RawMessage {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		if got := s.Accepted(endpointURL); len(got) >= n {
			return got
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("customtest: endpoint accepted %d requests within %v, want %d", len(s.Accepted(endpointURL)), timeout, n)
			return nil
		}
	}
}

// Seen returns how many requests to a known endpoint carried this
// webhook-id header, whatever they were answered: more than one means the
// same delivery was sent again.
func (s *Server) Seen(webhookID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[webhookID]
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	now := time.Now()
	a := s.answer(r, body, err)
	s.mu.Lock()
	s.requests = append(s.requests, Request{
		Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body,
		Status: a.status, Reply: a.body, Refusal: a.refusal, Time: now,
	})
	s.mu.Unlock()
	for k, vs := range a.header {
		w.Header()[k] = vs
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "text/plain")
	}
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

// maxBody is how much of a request the fake reads.
const maxBody = 1 << 20

// reply is the fake's answer to one request.
type reply struct {
	status  int
	body    string
	header  http.Header
	refusal string
}

func (s *Server) answer(r *http.Request, body []byte, readErr error) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.endpoints[r.URL.Path]
	if e == nil {
		return reply{status: http.StatusNotFound, body: "not found"}
	}
	if id := r.Header.Get(standardwebhooks.HeaderWebhookID); id != "" {
		s.seen[id]++
	}
	switch {
	case r.Method != http.MethodPost:
		return reply{status: http.StatusMethodNotAllowed, body: "method not allowed"}
	case len(s.failures) > 0:
		f := &s.failures[0]
		f.left--
		a := reply{status: f.status, body: f.body, header: f.header}
		if f.left == 0 {
			s.failures = s.failures[1:]
		}
		return a
	case readErr != nil:
		return badPayload("reading the body: " + readErr.Error())
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return badPayload("Content-Type is not application/json")
	}
	if err := e.verifier.Verify(body, r.Header); err != nil {
		return reply{status: http.StatusUnauthorized, body: "bad signature", refusal: err.Error()}
	}
	var env struct {
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return badPayload("body is not JSON: " + err.Error())
	}
	if _, err := time.Parse(time.RFC3339, env.Timestamp); env.Type == "" || err != nil || !isObject(env.Data) {
		return badPayload("body lacks type, an RFC 3339 timestamp or a data object")
	}
	e.accepted = append(e.accepted, json.RawMessage(body))
	close(s.changed)
	s.changed = make(chan struct{})
	return reply{status: http.StatusOK}
}

func badPayload(reason string) reply {
	return reply{status: http.StatusBadRequest, body: "bad payload", refusal: reason}
}

func isObject(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(raw, &m) == nil && m != nil
}

const pathChars = "0123456789abcdefghijklmnopqrstuvwxyz"

// randomString returns n random characters of pathChars.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = pathChars[int(b[i])%len(pathChars)]
	}
	return string(b)
}
