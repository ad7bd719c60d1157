// Package customtest is a fake receiver of CUSTOM (Standard Webhooks)
// requests for tests. It listens on a real loopback port, verifies every
// request with the official Standard Webhooks library and the secret its
// endpoint was created with, checks the envelope of SPEC §6, and records
// everything it is sent. Failures can be injected.
package customtest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/heraldhq/herald/platform/platformtest"
)

// Request is one request the fake received; Refusal says why a request was
// refused (400 or 401).
type Request = platformtest.Request

// Server is a fake Standard Webhooks receiver. All its methods are safe for
// concurrent use. Its Recorder logs every request (Requests), keeps the
// bodies each endpoint accepted (Accepted, WaitAccepted) and injects
// failures (FailNext): those apply to POSTs to a registered endpoint,
// answered instead of being verified and accepted (e.g. 410, or 503 with
// Retry-After: 7), and still count in Seen.
type Server struct {
	*httptest.Server
	platformtest.Recorder

	mu        sync.Mutex
	verifiers map[string]*standardwebhooks.Webhook // by path
	seen      map[string]int                       // requests by webhook-id
}

// NewServer starts a fake receiver, closed when the test ends.
func NewServer(t testing.TB) *Server {
	s := &Server{verifiers: map[string]*standardwebhooks.Webhook{}, seen: map[string]int{}}
	s.Server = s.Serve(t, s.answer)
	return s
}

// NewEndpoint registers an endpoint that accepts requests signed with
// secret ("whsec_…") and returns its URL, s.URL + "/hooks/…". It panics when
// the library cannot read the secret, which is a mistake in the test.
func (s *Server) NewEndpoint(secret string) string {
	wh := verifier(secret)
	path := "/hooks/" + platformtest.RandomString(20, pathChars)
	s.mu.Lock()
	s.verifiers[path] = wh
	s.mu.Unlock()
	return s.URL + path
}

// SetSecret makes the endpoint at endpointURL verify with secret from now
// on: the endpoint of a webhook whose secret Herald generates is registered
// first and told the secret Herald returned.
func (s *Server) SetSecret(endpointURL, secret string) {
	wh := verifier(secret)
	path := strings.TrimPrefix(endpointURL, s.URL)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.verifiers[path]; !ok {
		panic("customtest: no endpoint " + path)
	}
	s.verifiers[path] = wh
}

// verifier returns the library's verifier of secret, or panics.
func verifier(secret string) *standardwebhooks.Webhook {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		panic(fmt.Sprintf("customtest: unusable secret: %v", err))
	}
	return wh
}

// Seen returns how many requests to a known endpoint carried this
// webhook-id header, whatever they were answered: more than one means the
// same delivery was sent again.
func (s *Server) Seen(webhookID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[webhookID]
}

// answer decides the answer to one request.
func (s *Server) answer(r *http.Request, body []byte, readErr error) platformtest.Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	wh := s.verifiers[r.URL.Path]
	if wh == nil {
		return platformtest.Reply{Status: http.StatusNotFound, Body: "not found"}
	}
	if id := r.Header.Get(standardwebhooks.HeaderWebhookID); id != "" {
		s.seen[id]++
	}
	if r.Method != http.MethodPost {
		return platformtest.Reply{Status: http.StatusMethodNotAllowed, Body: "method not allowed"}
	}
	if f, ok := s.NextFailure(); ok {
		return f
	}
	if readErr != nil {
		return badPayload("reading the body: " + readErr.Error())
	}
	if !platformtest.IsJSON(r) {
		return badPayload("Content-Type is not application/json")
	}
	if err := wh.Verify(body, r.Header); err != nil {
		return platformtest.Reply{Status: http.StatusUnauthorized, Body: "bad signature", Refusal: err.Error()}
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
	return platformtest.Reply{Status: http.StatusOK, Accepted: true}
}

func badPayload(reason string) platformtest.Reply {
	return platformtest.Reply{Status: http.StatusBadRequest, Body: "bad payload", Refusal: reason}
}

func isObject(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(raw, &m) == nil && m != nil
}

// pathChars are the characters of an endpoint's path.
const pathChars = "0123456789abcdefghijklmnopqrstuvwxyz"

var _ platformtest.Fake = (*Server)(nil)

// NewHook registers an endpoint verifying o.Secret, or, when o.Secret is
// empty, one whose secret is set later with SetSecret (Herald generates
// CUSTOM secrets).
func (s *Server) NewHook(o platformtest.HookOptions) string {
	if o.Secret == "" {
		o.Secret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("placeholder-secret-set-later!"))
	}
	return s.NewEndpoint(o.Secret)
}

// RateLimitNext answers the next n requests 429 with Retry-After: 1.
func (s *Server) RateLimitNext(n int) {
	s.FailNext(n, http.StatusTooManyRequests, "slow down", http.Header{"Retry-After": {"1"}})
}

// RejectNext answers the next n requests 400; a generic endpoint has no
// platform code.
func (s *Server) RejectNext(n int) string {
	s.FailNext(n, http.StatusBadRequest, "bad request", nil)
	return ""
}
