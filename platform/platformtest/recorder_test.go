package platformtest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fake is the smallest fake built on a Recorder: it accepts every request
// (200 "ok") unless a failure is queued, and refuses "bad" bodies.
type fake struct {
	*httptest.Server
	Recorder
}

func newFake(t *testing.T) *fake {
	f := &fake{}
	f.Server = httptest.NewServer(f.Handler(func(r *http.Request, body []byte, readErr error) Reply {
		if a, ok := f.NextFailure(); ok {
			return a
		}
		if readErr != nil || string(body) == "bad" {
			return Reply{Status: http.StatusBadRequest, Body: "bad payload", Refusal: "the body is bad"}
		}
		return Reply{Status: http.StatusOK, Body: "ok", Header: http.Header{"Content-Type": {"text/html"}}, Accepted: true}
	}))
	t.Cleanup(f.Close)
	return f
}

func post(t *testing.T, url, body string) (*http.Response, string) {
	t.Helper()
	return Do(t, http.MethodPost, url, http.Header{"Content-Type": {"application/json"}}, body)
}

func TestRecorderLogsRequestsAndReplies(t *testing.T) {
	f := newFake(t)
	before := time.Now()
	resp, body := post(t, f.URL+"/hook/1", "{}")
	if resp.StatusCode != 200 || body != "ok" || resp.Header.Get("Content-Type") != "text/html" {
		t.Errorf("got %d %q %s, want 200 ok text/html", resp.StatusCode, body, resp.Header.Get("Content-Type"))
	}
	resp, body = post(t, f.URL+"/hook/2", "bad")
	if resp.StatusCode != 400 || body != "bad payload" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("got %d %q %s, want 400 \"bad payload\" text/plain", resp.StatusCode, body, resp.Header.Get("Content-Type"))
	}
	reqs := f.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests recorded, want 2", len(reqs))
	}
	first, second := reqs[0], reqs[1]
	if first.Method != "POST" || first.Path != "/hook/1" || string(first.Body) != "{}" || first.Status != 200 || first.Reply != "ok" ||
		first.Refusal != "" || !first.Accepted || first.Header.Get("Content-Type") != "application/json" || first.Time.Before(before) {
		t.Errorf("first request %+v", first)
	}
	if second.Path != "/hook/2" || second.Status != 400 || second.Reply != "bad payload" || second.Refusal != "the body is bad" || second.Accepted {
		t.Errorf("second request %+v", second)
	}
	reqs[0].Path = "changed"
	if f.Requests()[0].Path != "/hook/1" {
		t.Error("Requests returns the log itself, not a copy")
	}
}

func TestRecorderAccepted(t *testing.T) {
	f := newFake(t)
	post(t, f.URL+"/hook/1", `{"n":1}`)
	post(t, f.URL+"/hook/1", "bad")
	post(t, f.URL+"/hook/2", `{"n":2}`)
	post(t, f.URL+"/hook/1", `{"n":3}`)
	for _, hook := range []string{f.URL + "/hook/1", "/hook/1"} {
		if got := f.Accepted(hook); len(got) != 2 || string(got[0]) != `{"n":1}` || string(got[1]) != `{"n":3}` {
			t.Errorf("Accepted(%s) = %q", hook, got)
		}
	}
	if got := f.Accepted(f.URL + "/hook/3"); len(got) != 0 {
		t.Errorf("a hook without requests accepted %q", got)
	}
	if got := f.WaitAccepted(t, f.URL+"/hook/2", 1, time.Second); len(got) != 1 || string(got[0]) != `{"n":2}` {
		t.Errorf("WaitAccepted = %q", got)
	}
}

func TestRecorderFailNextQueues(t *testing.T) {
	f := newFake(t)
	f.FailNext(2, 429, "rate_limited", http.Header{"Retry-After": {"1"}})
	f.FailNext(0, 418, "ignored", nil)
	f.FailNext(1, 500, "rollup_error", nil)
	for i, want := range []struct {
		status int
		body   string
	}{{429, "rate_limited"}, {429, "rate_limited"}, {500, "rollup_error"}, {200, "ok"}} {
		resp, body := post(t, f.URL, "{}")
		if resp.StatusCode != want.status || body != want.body {
			t.Errorf("request %d: %d %q, want %d %q", i, resp.StatusCode, body, want.status, want.body)
		}
		if retry := resp.Header.Get("Retry-After"); (want.status == 429) != (retry == "1") {
			t.Errorf("request %d: Retry-After %q", i, retry)
		}
		if want.status != 200 && resp.Header.Get("Content-Type") != "text/plain" {
			t.Errorf("request %d: Content-Type %q", i, resp.Header.Get("Content-Type"))
		}
	}
	if n := len(f.Accepted(f.URL)); n != 1 {
		t.Errorf("%d requests accepted, want 1", n)
	}
	if r := f.Requests()[0]; r.Status != 429 || r.Reply != "rate_limited" {
		t.Errorf("first request logged as %d %q", r.Status, r.Reply)
	}
}

func TestRecorderFailNextKeepsItsHeader(t *testing.T) {
	var r Recorder
	h := http.Header{"Retry-After": {"7"}}
	r.FailNext(1, 503, "busy", h)
	h.Set("Retry-After", "99")
	a, ok := r.NextFailure()
	if !ok || a.Status != 503 || a.Body != "busy" || a.Header.Get("Retry-After") != "7" {
		t.Errorf("NextFailure = %+v, %v", a, ok)
	}
	if a, ok := r.NextFailure(); ok {
		t.Errorf("a used-up failure came back: %+v", a)
	}
}

func TestRecorderWaitWakesUp(t *testing.T) {
	f := newFake(t)
	go func() {
		time.Sleep(50 * time.Millisecond)
		for range 3 {
			if resp, err := http.Post(f.URL, "application/json", strings.NewReader("{}")); err == nil {
				resp.Body.Close()
			}
		}
	}()
	start := time.Now()
	if !f.Wait(5*time.Second, func() bool { return len(f.Accepted(f.URL)) >= 3 }) {
		t.Fatalf("Wait gave up with %d accepted", len(f.Accepted(f.URL)))
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("Wait took %v: it was not woken up", d)
	}
}

func TestRecorderWaitTimesOut(t *testing.T) {
	var r Recorder
	calls := 0
	start := time.Now()
	if r.Wait(50*time.Millisecond, func() bool { calls++; return false }) {
		t.Error("Wait reported a condition that never held")
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("Wait returned after %v, before its timeout", d)
	}
	if calls < 2 {
		t.Errorf("cond called %d times, want it checked again at the timeout", calls)
	}
	if !r.Wait(0, func() bool { return true }) {
		t.Error("Wait missed a condition that already held")
	}
}

func TestRandomString(t *testing.T) {
	const alphabet = "ab9"
	seen := map[rune]bool{}
	for range 20 {
		s := RandomString(30, alphabet)
		if len(s) != 30 {
			t.Fatalf("RandomString(30) has %d characters", len(s))
		}
		for _, c := range s {
			if !strings.ContainsRune(alphabet, c) {
				t.Fatalf("%q has %q, not in %q", s, c, alphabet)
			}
			seen[c] = true
		}
	}
	if len(seen) != len(alphabet) {
		t.Errorf("600 characters used only %v of %q", seen, alphabet)
	}
}
