package platformtest

import (
	"mime"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Serve starts a server on a loopback port that answers every request with
// r.Handler(answer), and closes it when the test ends: the server of a
// fake, which embeds both.
func (r *Recorder) Serve(t testing.TB, answer func(req *http.Request, body []byte, readErr error) Reply) *httptest.Server {
	s := httptest.NewServer(r.Handler(answer))
	t.Cleanup(s.Close)
	return s
}

// IsJSON reports whether req says its body is JSON: a Content-Type of
// application/json, with or without parameters such as charset.
func IsJSON(req *http.Request) bool {
	mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// Window is the times of the requests a fake counted against a
// sliding-window rate limit, oldest first.
type Window []time.Time

// Take counts a request at now against a limit of n requests in any window
// of length per and returns zero; or, when the window holds n requests
// already, leaves this one uncounted and returns how long until the oldest
// leaves the window. An n of zero or less is no limit: nothing is counted.
func (w *Window) Take(now time.Time, n int, per time.Duration) time.Duration {
	if n <= 0 {
		return 0
	}
	*w = TrimWindow(*w, now, per)
	if len(*w) >= n {
		return (*w)[0].Add(per).Sub(now)
	}
	*w = append(*w, now)
	return 0
}

// TrimWindow drops from ts, times in order, those that left a sliding
// window of length per before now: what remains counts against a fake's
// rate limit.
func TrimWindow(ts []time.Time, now time.Time, per time.Duration) []time.Time {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= per {
		i++
	}
	return ts[i:]
}
