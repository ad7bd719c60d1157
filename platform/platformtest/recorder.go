package platformtest

import (
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"
)

// Request is one request a fake server received and what it answered.
type Request struct {
	Method string
	Path   string
	// Hook is the webhook the request went to (see Recorder.HookKey).
	Hook   string
	Query  url.Values
	Header http.Header
	Body   []byte
	// Status and Reply are the status and body the fake answered.
	Status int
	Reply  string
	// Refusal says why the fake refused the request, for test failures.
	Refusal string
	// Accepted says the fake took the request as delivered.
	Accepted bool
	Time     time.Time
}

// Reply is a fake server's answer to one request.
type Reply struct {
	Status int
	Body   string
	// Header is added to the response; Content-Type is text/plain unless
	// Header sets it.
	Header http.Header
	// Refusal says why the request was refused. It is recorded, not sent.
	Refusal string
	// Accepted says the request is delivered: its body joins those
	// Accepted returns for its path.
	Accepted bool
}

// Recorder is the core of a fake platform server: it serves requests with
// the platform's answer function (Handler), records each request and its
// reply (Requests) and the bodies it accepted (Accepted), queues injected
// failures (FailNext) and lets a test wait for what it expects (Wait,
// WaitAccepted). A fake embeds it and adds the platform's own rules.
//
// The zero Recorder is ready to use. All its methods are safe for
// concurrent use; it must not be copied after first use.
type Recorder struct {
	// HookKey names the webhook a request URL (or a URL the fake issued)
	// belongs to, for Accepted; nil means its path. Platforms whose
	// webhooks share a path and differ by a query token (DingTalk's
	// access_token, WeCom's key) set it. Set it before serving.
	HookKey func(u *url.URL) string

	mu       sync.Mutex
	requests []Request
	accepted map[string][]json.RawMessage // by path
	failures []failure
	changed  chan struct{} // made by Wait, closed (and dropped) by Record
}

type failure struct {
	left  int
	reply Reply
}

// maxBody is how much of a request Handler reads; Herald's messages are
// far smaller.
const maxBody = 1 << 20

// Handler returns a handler that reads each request's body (at most 1 MiB),
// has answer decide the reply (readErr says whether reading failed),
// records the request and the reply, and then writes the reply. Recording
// happens after answer returns, so whatever answer stored is visible to the
// conditions of Wait.
func (r *Recorder) Handler(answer func(req *http.Request, body []byte, readErr error) Reply) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(nil, req.Body, maxBody))
		now := time.Now()
		a := answer(req, body, err)
		r.Record(Request{
			Method: req.Method, Path: req.URL.Path, Hook: r.key(req.URL), Query: req.URL.Query(), Header: req.Header.Clone(), Body: body,
			Status: a.Status, Reply: a.Body, Refusal: a.Refusal, Accepted: a.Accepted, Time: now,
		})
		for k, vs := range a.Header {
			w.Header()[k] = vs
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "text/plain")
		}
		w.WriteHeader(a.Status)
		_, _ = io.WriteString(w, a.Body)
	})
}

// FailNext makes NextFailure return status, body and header for the next n
// calls, so that the fake answers them instead of checking and accepting
// the request; e.g. 429 with Retry-After: 1, or 503. Calls queue up: a
// second FailNext applies after the first is used up. n of zero or less
// does nothing.
func (r *Recorder) FailNext(n int, status int, body string, header http.Header) {
	if n <= 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, failure{left: n, reply: Reply{Status: status, Body: body, Header: header.Clone()}})
}

// NextFailure uses up one injected failure and returns it, or reports false
// when none is queued. A fake calls it once per request, at the point where
// the real service would start checking the request (after routing it).
func (r *Recorder) NextFailure() (Reply, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.failures) == 0 {
		return Reply{}, false
	}
	f := &r.failures[0]
	f.left--
	a := f.reply
	if f.left == 0 {
		r.failures = r.failures[1:]
	}
	return a, true
}

// Record appends req to the request log, and its body to those accepted at
// its path if req.Accepted, and wakes every Wait. Handler calls it; a fake
// that serves some requests otherwise may call it too.
func (r *Recorder) Record(req Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, req)
	if req.Accepted {
		if r.accepted == nil {
			r.accepted = map[string][]json.RawMessage{}
		}
		key := req.Hook
		if key == "" {
			key = req.Path
		}
		r.accepted[key] = append(r.accepted[key], json.RawMessage(req.Body))
	}
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
}

// Requests returns every request recorded so far, in order.
func (r *Recorder) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// Accepted returns the bodies of the requests accepted for the webhook of
// hookURL (a URL the fake issued, or its path), in order.
func (r *Recorder) Accepted(hookURL string) []json.RawMessage {
	key := hookURL
	if u, err := url.Parse(hookURL); err == nil {
		key = r.key(u)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.accepted[key])
}

// Messages returns the messages accepted for the webhook of hookURL: the
// same as Accepted, by the name the fakes' tests use.
func (r *Recorder) Messages(hookURL string) []json.RawMessage { return r.Accepted(hookURL) }

// key names the webhook of u: HookKey's answer, else u's path.
func (r *Recorder) key(u *url.URL) string {
	if r.HookKey != nil {
		return r.HookKey(u)
	}
	if u.Path == "" {
		return "/" // what a client requests for a URL without a path
	}
	return u.Path
}

// WaitAccepted waits until at least n requests were accepted at the path of
// hookURL and returns their bodies, or fails the test after timeout.
func (r *Recorder) WaitAccepted(t testing.TB, hookURL string, n int, timeout time.Duration) []json.RawMessage {
	t.Helper()
	var got []json.RawMessage
	if !r.Wait(timeout, func() bool { got = r.Accepted(hookURL); return len(got) >= n }) {
		t.Fatalf("platformtest: %d requests accepted within %v, want %d", len(got), timeout, n)
	}
	return got
}

// WaitMessages is WaitAccepted, by the name the fakes' tests use.
func (r *Recorder) WaitMessages(t testing.TB, hookURL string, n int, timeout time.Duration) []json.RawMessage {
	t.Helper()
	return r.WaitAccepted(t, hookURL, n, timeout)
}

// Wait calls cond now and again after every recorded request until it
// returns true, and reports whether it did so within timeout. It does not
// fail the test, so that the caller can say what it was waiting for.
func (r *Recorder) Wait(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		changed := r.changed
		r.mu.Unlock()
		if cond() {
			return true
		}
		select {
		case <-changed:
		case <-deadline.C:
			return cond()
		}
	}
}

// RandomString returns n random characters of alphabet, which must hold
// only ASCII characters: a fake's ids, tokens and URL paths.
func RandomString(n int, alphabet string) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
