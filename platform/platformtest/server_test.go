package platformtest

import (
	"net/http"
	"testing"
	"time"
)

func TestTrimWindow(t *testing.T) {
	base := FixtureTime
	ts := []time.Time{base, base.Add(400 * time.Millisecond), base.Add(900 * time.Millisecond)}
	if got := TrimWindow(ts, base.Add(1400*time.Millisecond), time.Second); len(got) != 1 || !got[0].Equal(ts[2]) {
		t.Errorf("TrimWindow kept %v", got)
	}
	if got := TrimWindow(ts, base.Add(999*time.Millisecond), time.Second); len(got) != 3 {
		t.Errorf("TrimWindow dropped times inside the window: %v", got)
	}
}

func TestIsJSON(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json": true, "application/json; charset=UTF-8": true, "Application/JSON": true,
		"": false, "text/plain": false, "application/jsonx": false, "application/json; =": false,
	} {
		r := &http.Request{Header: http.Header{"Content-Type": {ct}}}
		if got := IsJSON(r); got != want {
			t.Errorf("IsJSON(%q) = %v, want %v", ct, got, want)
		}
	}
}

func TestWindowTake(t *testing.T) {
	var w Window
	base := FixtureTime
	for i, want := range []time.Duration{0, 0, 600 * time.Millisecond} {
		if got := w.Take(base.Add(time.Duration(i)*200*time.Millisecond), 2, time.Second); got != want {
			t.Errorf("request %d: wait %v, want %v", i, got, want)
		}
	}
	if len(w) != 2 {
		t.Errorf("the refused request was counted: %v", w)
	}
	if got := w.Take(base.Add(time.Second), 2, time.Second); got != 0 || len(w) != 2 {
		t.Errorf("a second on: wait %v, window %v", got, w)
	}
	if got := w.Take(base, 0, time.Second); got != 0 || len(w) != 2 {
		t.Errorf("no limit: wait %v, window %v", got, w)
	}
}
