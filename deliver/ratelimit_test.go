package deliver_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/deliver"
	"github.com/heraldhq/herald/platform"
)

func TestLimiterSlidingWindow(t *testing.T) {
	l := deliver.NewLimiter()
	perMinute := []platform.Limit{{N: 20, Per: time.Minute}}
	t0 := now
	for i := range 20 {
		if at := l.Reserve("hook", fmt.Sprint("d", i), perMinute, t0.Add(time.Duration(i)*time.Second)); !at.Equal(t0.Add(time.Duration(i) * time.Second)) {
			t.Fatalf("send %d held until %s", i, at)
		}
	}
	// The 21st waits until the first leaves the minute (plus the margin),
	// not 3 s (a token bucket's pace), and the 22nd until the second does.
	minute := time.Minute + 100*time.Millisecond
	if at := l.Reserve("hook", "d20", perMinute, t0.Add(20*time.Second)); !at.Equal(t0.Add(minute)) {
		t.Fatalf("21st send at %s, want %s", at, t0.Add(minute))
	}
	if at := l.Reserve("hook", "d21", perMinute, t0.Add(20*time.Second)); !at.Equal(t0.Add(time.Second + minute)) {
		t.Fatalf("22nd send at %s", at)
	}
	// A reservation is held for its delivery and honoured when it comes back
	// on time.
	if at := l.Reserve("hook", "d20", perMinute, t0.Add(30*time.Second)); !at.Equal(t0.Add(minute)) {
		t.Fatalf("reservation changed to %s", at)
	}
	if at := l.Reserve("hook", "d20", perMinute, t0.Add(minute+10*time.Millisecond)); !at.Equal(t0.Add(minute)) {
		t.Fatalf("due reservation gave %s", at)
	}
	// A released slot is free again.
	l.Release("hook", "d21")
	if at := l.Reserve("hook", "d22", perMinute, t0.Add(20*time.Second)); !at.Equal(t0.Add(time.Second + minute)) {
		t.Fatalf("after a release the next send is at %s", at)
	}
	// A job that comes back late does not send at once, crowding the slots
	// given out after its own: it gets a new slot after them.
	next := l.Reserve("hook", "d23", perMinute, t0.Add(20*time.Second))
	late := t0.Add(time.Second + minute + 700*time.Millisecond)
	if !next.After(late) {
		t.Fatalf("test setup: the next slot %s is not after the late return %s", next, late)
	}
	if at := l.Reserve("hook", "d22", perMinute, late); at.Before(next) {
		t.Fatalf("a late job was given %s, before the slot %s given out after its own", at, next)
	}
	// Another webhook is not held back.
	if at := l.Reserve("other", "x", perMinute, t0.Add(20*time.Second)); !at.Equal(t0.Add(20 * time.Second)) {
		t.Fatalf("another webhook held until %s", at)
	}
}

func TestLimiterTwoLimits(t *testing.T) {
	l := deliver.NewLimiter()
	feishu := []platform.Limit{{N: 5, Per: time.Second}, {N: 100, Per: time.Minute}}
	t0 := now
	var at time.Time
	for i := range 100 {
		at = l.Reserve("hook", fmt.Sprint("d", i), feishu, t0)
	}
	// 5 a second (each window widened by the 100 ms margin): the 100th
	// at 19 × 1.1 s.
	if !at.Equal(t0.Add(20900 * time.Millisecond)) {
		t.Fatalf("100th send at %s", at.Sub(t0))
	}
	// The 101st: the minute holds 100 until the first leaves it.
	if at := l.Reserve("hook", "d100", feishu, t0); !at.Equal(t0.Add(time.Minute + 100*time.Millisecond)) {
		t.Fatalf("101st send at %s", at.Sub(t0))
	}
	// No window of a second ever holds more than 5, nor a minute more than 100.
}

func TestLimiterPauseAndNoLimits(t *testing.T) {
	l := deliver.NewLimiter()
	slack := []platform.Limit{{N: 1, Per: time.Second}}
	l.Pause("hook", now.Add(30*time.Second))
	if at := l.Reserve("hook", "a", slack, now); !at.Equal(now.Add(30 * time.Second)) {
		t.Fatalf("during a pause: %s", at.Sub(now))
	}
	for i := range 50 {
		if at := l.Reserve("custom", fmt.Sprint(i), nil, now); !at.Equal(now) {
			t.Fatal("a webhook without limits was held")
		}
	}
}

// A webhook over its limit: the job is snoozed until its slot without
// sending or recording an attempt, and sends when it comes back.
func TestHandleJobWaitsForRateLimit(t *testing.T) {
	h := newHarness(newWork(), platform.Result{Outcome: herald.OutcomeSuccess, HTTPStatus: 200})
	h.platform.limits = []platform.Limit{{N: 1, Per: time.Minute}}
	h.engine.Limiter = deliver.NewLimiter()
	clock := now
	h.engine.Now = func() time.Time { return clock }
	// Another delivery used the webhook's one send of the minute.
	h.engine.Limiter.Reserve("projects/p/webhooks/w1", "other", h.platform.limits, clock)
	err := h.engine.HandleJob(t.Context(), job())
	// Woken 6 s before its slot, to sleep the rest itself.
	if d, ok := snoozeOf(err); !ok || d != time.Minute+100*time.Millisecond-6*time.Second {
		t.Fatalf("over the limit: %v, want a snooze of 54.1s", err)
	}
	if h.platform.sent() != 0 || h.recorded() != 0 {
		t.Fatalf("over the limit: %d sent, %d recorded; want nothing", h.platform.sent(), h.recorded())
	}
	clock = now.Add(time.Minute + 100*time.Millisecond)
	if err := h.engine.HandleJob(t.Context(), job()); err != nil {
		t.Fatal(err)
	}
	if h.platform.sent() != 1 || h.onlyRecord(t).State != herald.StateSucceeded {
		t.Fatalf("after the wait: %d sent", h.platform.sent())
	}
}

// A RATE_LIMITED answer holds the webhook's other deliveries too.
func TestRateLimitedAnswerPausesWebhook(t *testing.T) {
	h := newHarness(newWork(), platform.Result{Outcome: herald.OutcomeRateLimited, HTTPStatus: http.StatusTooManyRequests, RetryAfter: 20 * time.Second})
	h.engine.Limiter = deliver.NewLimiter()
	if d, ok := snoozeOf(h.engine.HandleJob(t.Context(), job())); !ok || d != 20*time.Second {
		t.Fatalf("snooze %v", d)
	}
	if at := h.engine.Limiter.Reserve("projects/p/webhooks/w1", "next", nil, now); !at.Equal(now.Add(20 * time.Second)) {
		t.Fatalf("another delivery to the webhook may send at %s", at.Sub(now))
	}
}
