package deliver_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/deliver"
	"github.com/heraldhq/herald/metrics"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/queue"
	"github.com/heraldhq/herald/store"
)

// fakeStore serves one delivery's work and keeps what the engine records.
// Methods the engine does not use are left to the embedded nil interface
// and panic when called.
type fakeStore struct {
	store.Store

	mu        sync.Mutex
	work      *store.Work
	loadErr   error
	recordErr error
	records   []*store.Record
	// recordCtxErr is ctx.Err() of each Record call.
	recordCtxErr []error
	im           map[herald.IMPlatform]*herald.IMSettings
}

func (s *fakeStore) LoadWork(_ context.Context, deliveryID string) (*store.Work, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loadErr != nil {
		return nil, s.loadErr
	}
	if s.work == nil || s.work.Delivery.ID != deliveryID {
		return nil, herald.NotFoundf("delivery %q not found", deliveryID)
	}
	// Hand out copies, as a database would.
	w := *s.work
	d := *w.Delivery
	w.Delivery = &d
	if w.Webhook != nil {
		h := *w.Webhook
		w.Webhook = &h
	}
	return &w, nil
}

func (s *fakeStore) GetIMSettings(_ context.Context, p herald.IMPlatform) (*herald.IMSettings, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.im[p]; ok {
		return st, nil
	}
	return nil, herald.NotFoundf("not configured")
}

func (s *fakeStore) Record(ctx context.Context, r *store.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = append(s.records, r)
	if r.Attempt != nil {
		a := *r.Attempt
		r.Attempt = &a // as the database keeps it, apart from the engine's
	}
	// The delivery moves on, as the database's would.
	if s.work != nil && s.work.Delivery.ID == r.DeliveryID && s.recordErr == nil {
		d := s.work.Delivery
		d.State, d.Route, d.RouteReason = r.State, r.Route, r.RouteReason
		d.Recipients = append([]herald.Recipient(nil), r.Recipients...)
		if r.ResetSchedule {
			d.ScheduleAttempts = 0
		}
		if r.Attempt != nil {
			d.AttemptCount++
			if r.CountsTowardSchedule {
				d.ScheduleAttempts++
			}
		}
	}
	s.recordCtxErr = append(s.recordCtxErr, ctx.Err())
	return s.recordErr
}

// fakePlatform answers every Send with send, or with result.
type fakePlatform struct {
	typ    herald.WebhookType
	limits []platform.Limit
	result platform.Result
	send   func(ctx context.Context, req *platform.Request) platform.Result

	mu       sync.Mutex
	requests []*platform.Request
}

func (p *fakePlatform) Type() herald.WebhookType { return p.typ }
func (p *fakePlatform) CheckURL(*url.URL) error  { return nil }
func (p *fakePlatform) Limits() []platform.Limit { return p.limits }
func (p *fakePlatform) Send(ctx context.Context, _ *http.Client, req *platform.Request) platform.Result {
	p.mu.Lock()
	p.requests = append(p.requests, req)
	p.mu.Unlock()
	if p.send != nil {
		return p.send(ctx, req)
	}
	return p.result
}

func (p *fakePlatform) sent() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.requests)
}

var (
	now      = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	created  = now.Add(-90 * time.Second)
	schedule = deliver.Schedule{10 * time.Second, time.Minute, 5 * time.Minute}
)

const generation = 2

func newWork() *store.Work {
	return &store.Work{
		Delivery: &herald.Delivery{
			Name: "projects/p/deliveries/d1", ID: "d1", ProjectID: "p", EventID: "e1", WebhookID: "w1",
			State: herald.StatePending, Route: herald.RouteChannel, Generation: generation,
		},
		Event: &herald.Event{
			Name: "projects/p/events/e1", EventID: "e1", ProjectID: "p", Type: herald.IssueCreated,
			Actor:      &herald.User{Name: "Alice"},
			Issue:      &herald.Issue{ID: "42", Title: "Add index"},
			CreateTime: &created,
		},
		Project: &herald.Project{Name: "projects/p", ProjectID: "p", Title: "Payments"},
		Webhook: &herald.Webhook{
			Name: "projects/p/webhooks/w1", ProjectID: "p", ID: "w1", Type: herald.Custom, Title: "Custom",
			URL: "https://receiver.example.com/hook/secret-part", URLPreview: "https://receiver.example.com/hook/****",
			NotificationTypes: herald.EventTypes, Enabled: true, Keyword: "kw",
		},
	}
}

func job() queue.Job { return queue.Job{DeliveryID: "d1", Generation: generation} }

// harness is an engine over fakes, with a fixed clock and random 0.5 (so
// that jitter leaves delays as they are).
type harness struct {
	engine   *deliver.Engine
	store    *fakeStore
	platform *fakePlatform
	metrics  *metrics.Metrics
}

func newHarness(w *store.Work, res platform.Result) *harness {
	h := &harness{
		store:    &fakeStore{work: w},
		platform: &fakePlatform{typ: herald.Custom, result: res},
		metrics:  metrics.New(nil),
	}
	h.engine = &deliver.Engine{
		Store:     h.store,
		Platforms: platform.NewRegistry(h.platform),
		Client:    http.DefaultClient,
		Schedule:  schedule,
		Metrics:   h.metrics,
		Now:       func() time.Time { return now },
		Random:    func() float64 { return 0.5 },
	}
	return h
}

// onlyRecord returns the one record the engine made.
func (h *harness) onlyRecord(t *testing.T) *store.Record {
	t.Helper()
	h.store.mu.Lock()
	defer h.store.mu.Unlock()
	if len(h.store.records) != 1 {
		t.Fatalf("the engine recorded %d times, want once", len(h.store.records))
	}
	return h.store.records[0]
}

func (h *harness) recorded() int {
	h.store.mu.Lock()
	defer h.store.mu.Unlock()
	return len(h.store.records)
}

// snoozeOf returns the delay of a snooze error, and false for any other
// result.
func snoozeOf(err error) (time.Duration, bool) {
	var s *queue.SnoozeError
	if errors.As(err, &s) {
		return s.Delay, true
	}
	return 0, false
}

func TestHandleJobOutcomes(t *testing.T) {
	const noSnooze = time.Duration(-1)
	tests := []struct {
		name             string
		scheduleAttempts int
		result           platform.Result
		wantState        herald.DeliveryState
		wantCounts       bool
		wantSnooze       time.Duration // noSnooze: the handler returns nil
		wantLastError    string        // substring; "" means empty
		wantDisable      string
	}{
		{
			name:      "success",
			result:    platform.Result{Outcome: herald.OutcomeSuccess, HTTPStatus: 200},
			wantState: herald.StateSucceeded, wantCounts: true, wantSnooze: noSnooze,
		},
		{
			name:             "success clears an earlier error",
			scheduleAttempts: 2,
			result:           platform.Result{Outcome: herald.OutcomeSuccess, HTTPStatus: 204, Error: "ignored"},
			wantState:        herald.StateSucceeded, wantCounts: true, wantSnooze: noSnooze,
		},
		{
			name:      "permanent",
			result:    platform.Result{Outcome: herald.OutcomePermanent, HTTPStatus: 400, Error: "HTTP 400: bad payload"},
			wantState: herald.StateFailed, wantCounts: true, wantSnooze: noSnooze, wantLastError: "HTTP 400: bad payload",
		},
		{
			name:      "permanent that disables the webhook",
			result:    platform.Result{Outcome: herald.OutcomePermanent, HTTPStatus: 410, Error: "HTTP 410", DisableReason: "the endpoint answered 410 Gone"},
			wantState: herald.StateFailed, wantCounts: true, wantSnooze: noSnooze, wantLastError: "HTTP 410",
			wantDisable: "the endpoint answered 410 Gone",
		},
		{
			name:      "retryable, first attempt",
			result:    platform.Result{Outcome: herald.OutcomeRetryable, HTTPStatus: 503, Error: "HTTP 503"},
			wantState: herald.StateRetrying, wantCounts: true, wantSnooze: schedule[0], wantLastError: "HTTP 503",
		},
		{
			name:             "retryable, second attempt",
			scheduleAttempts: 1,
			result:           platform.Result{Outcome: herald.OutcomeRetryable, HTTPStatus: 503, Error: "HTTP 503"},
			wantState:        herald.StateRetrying, wantCounts: true, wantSnooze: schedule[1], wantLastError: "HTTP 503",
		},
		{
			name:             "retryable, last allowed attempt",
			scheduleAttempts: len(schedule),
			result:           platform.Result{Outcome: herald.OutcomeRetryable, HTTPStatus: 503, Error: "HTTP 503"},
			wantState:        herald.StateFailed, wantCounts: true, wantSnooze: noSnooze,
			wantLastError: fmt.Sprintf("HTTP 503 (gave up after %d attempts)", len(schedule)+1),
		},
		{
			name:             "retryable with Retry-After on the last allowed attempt gives up",
			scheduleAttempts: len(schedule),
			result:           platform.Result{Outcome: herald.OutcomeRetryable, HTTPStatus: 503, Error: "HTTP 503", RetryAfter: time.Second},
			wantState:        herald.StateFailed, wantCounts: true, wantSnooze: noSnooze, wantLastError: "gave up",
		},
		{
			name:      "retryable with Retry-After",
			result:    platform.Result{Outcome: herald.OutcomeRetryable, HTTPStatus: 503, Error: "HTTP 503", RetryAfter: 7 * time.Second},
			wantState: herald.StateRetrying, wantCounts: true, wantSnooze: 7 * time.Second, wantLastError: "HTTP 503",
		},
		{
			name:      "retryable with Retry-After over a day",
			result:    platform.Result{Outcome: herald.OutcomeRetryable, HTTPStatus: 503, Error: "HTTP 503", RetryAfter: 72 * time.Hour},
			wantState: herald.StateRetrying, wantCounts: true, wantSnooze: 24 * time.Hour, wantLastError: "HTTP 503",
		},
		{
			name:      "rate limited with Retry-After",
			result:    platform.Result{Outcome: herald.OutcomeRateLimited, HTTPStatus: 429, Error: "HTTP 429", RetryAfter: 3 * time.Second},
			wantState: herald.StateRetrying, wantCounts: false, wantSnooze: 3 * time.Second, wantLastError: "HTTP 429",
		},
		{
			name:             "rate limited without Retry-After waits the schedule's next delay",
			scheduleAttempts: 1,
			result:           platform.Result{Outcome: herald.OutcomeRateLimited, HTTPStatus: 429, Error: "HTTP 429"},
			wantState:        herald.StateRetrying, wantCounts: false, wantSnooze: schedule[1], wantLastError: "HTTP 429",
		},
		{
			name:      "rate limited without Retry-After, first attempt",
			result:    platform.Result{Outcome: herald.OutcomeRateLimited, HTTPStatus: 429, Error: "HTTP 429"},
			wantState: herald.StateRetrying, wantCounts: false, wantSnooze: schedule[0], wantLastError: "HTTP 429",
		},
		{
			name:             "rate limited after the schedule is used up still retries",
			scheduleAttempts: len(schedule),
			result:           platform.Result{Outcome: herald.OutcomeRateLimited, HTTPStatus: 429, Error: "HTTP 429"},
			wantState:        herald.StateRetrying, wantCounts: false, wantSnooze: schedule[len(schedule)-1], wantLastError: "HTTP 429",
		},
		{
			name:      "rate limited with Retry-After over a day",
			result:    platform.Result{Outcome: herald.OutcomeRateLimited, HTTPStatus: 429, Error: "HTTP 429", RetryAfter: 25 * time.Hour},
			wantState: herald.StateRetrying, wantCounts: false, wantSnooze: 24 * time.Hour, wantLastError: "HTTP 429",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWork()
			w.Delivery.ScheduleAttempts = tt.scheduleAttempts
			w.Delivery.AttemptCount = tt.scheduleAttempts
			if tt.scheduleAttempts > 0 {
				w.Delivery.State = herald.StateRetrying
			}
			h := newHarness(w, tt.result)
			err := h.engine.HandleJob(t.Context(), job())

			delay, snoozed := snoozeOf(err)
			switch {
			case tt.wantSnooze == noSnooze && err != nil:
				t.Fatalf("HandleJob = %v, want nil", err)
			case tt.wantSnooze != noSnooze && !snoozed:
				t.Fatalf("HandleJob = %v, want a *queue.SnoozeError", err)
			case snoozed && delay != tt.wantSnooze:
				t.Errorf("snooze %v, want %v", delay, tt.wantSnooze)
			}
			if h.platform.sent() != 1 {
				t.Fatalf("sent %d requests, want 1", h.platform.sent())
			}

			r := h.onlyRecord(t)
			if r.DeliveryID != "d1" || r.Generation != generation {
				t.Errorf("record for %s generation %d, want d1 generation %d", r.DeliveryID, r.Generation, generation)
			}
			if r.State != tt.wantState {
				t.Errorf("State = %s, want %s", r.State, tt.wantState)
			}
			if r.CountsTowardSchedule != tt.wantCounts {
				t.Errorf("CountsTowardSchedule = %v, want %v", r.CountsTowardSchedule, tt.wantCounts)
			}
			if tt.wantLastError == "" && r.LastError != "" {
				t.Errorf("LastError = %q, want empty", r.LastError)
			}
			if !strings.Contains(r.LastError, tt.wantLastError) {
				t.Errorf("LastError = %q, want it to contain %q", r.LastError, tt.wantLastError)
			}
			if r.DisableWebhook != tt.wantDisable {
				t.Errorf("DisableWebhook = %q, want %q", r.DisableWebhook, tt.wantDisable)
			}
			if !r.Now.Equal(now) {
				t.Errorf("Now = %v, want %v", r.Now, now)
			}
			if r.Route != herald.RouteChannel {
				t.Errorf("Route = %s, want CHANNEL", r.Route)
			}
			if tt.wantState == herald.StateRetrying {
				if r.NextAttemptTime == nil || !r.NextAttemptTime.Equal(now.Add(tt.wantSnooze)) {
					t.Errorf("NextAttemptTime = %v, want %v", r.NextAttemptTime, now.Add(tt.wantSnooze))
				}
			} else if r.NextAttemptTime != nil {
				t.Errorf("NextAttemptTime = %v on a final delivery, want nil", r.NextAttemptTime)
			}

			a := r.Attempt
			if a == nil {
				t.Fatal("no attempt recorded")
			}
			if a.Outcome != tt.result.Outcome || a.HTTPStatus != tt.result.HTTPStatus || a.Error != tt.result.Error {
				t.Errorf("attempt = %s %d %q, want %s %d %q", a.Outcome, a.HTTPStatus, a.Error,
					tt.result.Outcome, tt.result.HTTPStatus, tt.result.Error)
			}
			if a.Target != "https://receiver.example.com/hook/****" {
				t.Errorf("attempt target = %q, want the URL preview", a.Target)
			}
			if !a.StartTime.Equal(now) {
				t.Errorf("attempt StartTime = %v, want %v", a.StartTime, now)
			}
		})
	}
}

func TestHandleJobRequest(t *testing.T) {
	w := newWork()
	res := platform.Result{
		Outcome: herald.OutcomeSuccess, HTTPStatus: 200, PlatformCode: "ok",
		RequestBody: `{"text":"hi"}`, ResponseBody: "ok",
	}
	h := newHarness(w, res)
	if err := h.engine.HandleJob(t.Context(), job()); err != nil {
		t.Fatal(err)
	}
	req := h.platform.requests[0]
	if req.Webhook.URL != w.Webhook.URL {
		t.Errorf("request webhook URL = %q, want the plaintext URL", req.Webhook.URL)
	}
	if req.DeliveryID != "d1" || req.DeliveryName != "projects/p/deliveries/d1" {
		t.Errorf("request delivery = %q, %q", req.DeliveryID, req.DeliveryName)
	}
	if req.Project.ProjectID != "p" || req.Event.EventID != "e1" {
		t.Errorf("request project, event = %q, %q", req.Project.ProjectID, req.Event.EventID)
	}
	if !req.Now.Equal(now) {
		t.Errorf("request Now = %v, want %v", req.Now, now)
	}
	if req.Message == nil || req.Message.Keyword != "kw" || req.Message.Title != "Issue created" {
		t.Errorf("request message = %+v, want the event's message with the webhook's keyword", req.Message)
	}
	a := h.onlyRecord(t).Attempt
	if a.PlatformCode != "ok" || a.RequestBody != `{"text":"hi"}` || a.ResponseBody != "ok" {
		t.Errorf("attempt = %+v, want the result's code and bodies", a)
	}
}

func TestHandleJobAttemptDuration(t *testing.T) {
	// The clock moves 250ms during the send.
	var mu sync.Mutex
	calls := 0
	h := newHarness(newWork(), platform.Result{Outcome: herald.OutcomeRetryable, Error: "timeout"})
	h.engine.Now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return now
		}
		return now.Add(250 * time.Millisecond)
	}
	err := h.engine.HandleJob(t.Context(), job())
	if d, ok := snoozeOf(err); !ok || d != schedule[0] {
		t.Fatalf("HandleJob = %v, want a snooze of %v", err, schedule[0])
	}
	r := h.onlyRecord(t)
	if r.Attempt.DurationMs != 250 || !r.Attempt.StartTime.Equal(now) {
		t.Errorf("attempt started %v and took %dms, want %v and 250ms", r.Attempt.StartTime, r.Attempt.DurationMs, now)
	}
	if want := now.Add(250*time.Millisecond + schedule[0]); r.NextAttemptTime == nil || !r.NextAttemptTime.Equal(want) {
		t.Errorf("NextAttemptTime = %v, want %v", r.NextAttemptTime, want)
	}
}

// The route is the delivery's: a channel delivery goes to the channel; a
// direct-message delivery whose integration is not configured falls back
// to the channel, saying why.
func TestHandleJobRoute(t *testing.T) {
	w := newWork()
	h := newHarness(w, platform.Result{Outcome: herald.OutcomeSuccess})
	if err := h.engine.HandleJob(t.Context(), job()); err != nil {
		t.Fatal(err)
	}
	if r := h.onlyRecord(t); r.Route != herald.RouteChannel || r.RouteReason != "" {
		t.Errorf("channel delivery recorded %s %q", r.Route, r.RouteReason)
	}

	w = newWork()
	w.Webhook.Type, w.Webhook.DirectMessage = herald.Custom, true
	w.Delivery.Route = herald.RouteDirectMessage
	w.Event.Recipients = []herald.User{{Email: "a@example.com"}}
	h = newHarness(w, platform.Result{Outcome: herald.OutcomeSuccess})
	h.platform.typ = herald.Custom
	if err := h.engine.HandleJob(t.Context(), job()); err != nil {
		t.Fatal(err)
	}
	r := h.onlyRecord(t)
	if r.Route != herald.RouteDirectMessageFallbackChannel || r.RouteReason == "" || r.State != herald.StateSucceeded || !r.ResetSchedule {
		t.Errorf("direct-message delivery without an integration: %+v", r)
	}
}

func TestHandleJobSendsNothing(t *testing.T) {
	tests := []struct {
		name string
		edit func(*store.Work)
	}{
		{"older generation", func(w *store.Work) { w.Delivery.Generation = generation + 1 }},
		{"newer job than delivery", func(w *store.Work) { w.Delivery.Generation = generation - 1 }},
		{"already succeeded", func(w *store.Work) { w.Delivery.State = herald.StateSucceeded }},
		{"already failed", func(w *store.Work) { w.Delivery.State = herald.StateFailed }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWork()
			tt.edit(w)
			h := newHarness(w, platform.Result{Outcome: herald.OutcomeSuccess})
			if err := h.engine.HandleJob(t.Context(), job()); err != nil {
				t.Fatalf("HandleJob = %v, want nil", err)
			}
			if h.platform.sent() != 0 || h.recorded() != 0 {
				t.Errorf("sent %d, recorded %d; want nothing", h.platform.sent(), h.recorded())
			}
		})
	}
}

func TestHandleJobFailsWithoutSending(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(*store.Work)
		want     []string
		platform string
	}{
		{
			name: "webhook deleted", edit: func(w *store.Work) { w.Webhook = nil },
			want: []string{"deleted"}, platform: "unknown",
		},
		{
			name: "webhook disabled",
			edit: func(w *store.Work) {
				w.Webhook.Enabled, w.Webhook.DisabledReason = false, "the endpoint answered 410 Gone"
			},
			want: []string{"disabled", "410 Gone"}, platform: "CUSTOM",
		},
		{
			name: "no platform for the type", edit: func(w *store.Work) { w.Webhook.Type = herald.Discord },
			want: []string{"DISCORD"}, platform: "DISCORD",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWork()
			tt.edit(w)
			h := newHarness(w, platform.Result{Outcome: herald.OutcomeSuccess})
			if err := h.engine.HandleJob(t.Context(), job()); err != nil {
				t.Fatalf("HandleJob = %v, want nil", err)
			}
			if h.platform.sent() != 0 {
				t.Errorf("sent %d requests, want none", h.platform.sent())
			}
			r := h.onlyRecord(t)
			if r.State != herald.StateFailed || r.Attempt != nil || r.Generation != generation {
				t.Errorf("record = state %s, attempt %v, generation %d; want FAILED without an attempt at generation %d",
					r.State, r.Attempt, r.Generation, generation)
			}
			for _, s := range tt.want {
				if !strings.Contains(r.LastError, s) {
					t.Errorf("LastError = %q, want it to contain %q", r.LastError, s)
				}
			}
			if got := value(t, h.metrics, "herald_deliveries_total", "platform", tt.platform, "state", "FAILED"); got != 1 {
				t.Errorf("herald_deliveries_total{platform=%q,state=FAILED} = %v, want 1", tt.platform, got)
			}
			if got := series(t, h.metrics, "herald_attempts_total"); got != 0 {
				t.Errorf("%d attempt series, want none", got)
			}
		})
	}
}

func TestHandleJobStoreErrors(t *testing.T) {
	t.Run("stale record", func(t *testing.T) {
		h := newHarness(newWork(), platform.Result{Outcome: herald.OutcomeRetryable, Error: "HTTP 503"})
		h.store.recordErr = fmt.Errorf("record: %w", store.ErrStale)
		if err := h.engine.HandleJob(t.Context(), job()); err != nil {
			t.Fatalf("HandleJob = %v, want nil on a stale record", err)
		}
		if got := series(t, h.metrics, "herald_deliveries_total"); got != 0 {
			t.Errorf("a stale result was counted as a delivery (%d series)", got)
		}
	})
	t.Run("stale record of a deleted webhook", func(t *testing.T) {
		w := newWork()
		w.Webhook = nil
		h := newHarness(w, platform.Result{})
		h.store.recordErr = store.ErrStale
		if err := h.engine.HandleJob(t.Context(), job()); err != nil {
			t.Fatalf("HandleJob = %v, want nil on a stale record", err)
		}
	})
	t.Run("record fails", func(t *testing.T) {
		h := newHarness(newWork(), platform.Result{Outcome: herald.OutcomeSuccess})
		h.store.recordErr = errors.New("disk full")
		err := h.engine.HandleJob(t.Context(), job())
		if err == nil {
			t.Fatal("HandleJob = nil, want the store's error")
		}
		if _, ok := snoozeOf(err); ok {
			t.Errorf("HandleJob = %v, want an error that is not a snooze", err)
		}
	})
	t.Run("delivery not found", func(t *testing.T) {
		h := newHarness(newWork(), platform.Result{Outcome: herald.OutcomeSuccess})
		h.store.loadErr = herald.NotFoundf("project %q not found", "p")
		if err := h.engine.HandleJob(t.Context(), job()); err != nil {
			t.Fatalf("HandleJob = %v, want nil for a missing delivery", err)
		}
		if h.platform.sent() != 0 || h.recorded() != 0 {
			t.Errorf("sent %d, recorded %d; want nothing", h.platform.sent(), h.recorded())
		}
	})
	t.Run("load fails", func(t *testing.T) {
		h := newHarness(newWork(), platform.Result{Outcome: herald.OutcomeSuccess})
		h.store.loadErr = errors.New("connection refused")
		err := h.engine.HandleJob(t.Context(), job())
		if err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("HandleJob = %v, want the store's error", err)
		}
		if _, ok := snoozeOf(err); ok {
			t.Errorf("HandleJob = %v, want an error that is not a snooze", err)
		}
		if h.platform.sent() != 0 {
			t.Errorf("sent %d requests, want none", h.platform.sent())
		}
	})
}

// TestHandleJobInterrupted: a send cut short because Herald is stopping
// is recorded without counting toward the schedule, and the job is
// snoozed for no time, so that it runs again at once on the next start.
func TestHandleJobInterrupted(t *testing.T) {
	for _, scheduleAttempts := range []int{0, 2, len(schedule)} {
		t.Run(fmt.Sprint(scheduleAttempts), func(t *testing.T) {
			w := newWork()
			w.Delivery.ScheduleAttempts = scheduleAttempts
			h := newHarness(w, platform.Result{})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			h.platform.send = func(ctx context.Context, _ *platform.Request) platform.Result {
				cancel()
				<-ctx.Done()
				return platform.Result{Outcome: herald.OutcomeRetryable, Error: ctx.Err().Error()}
			}
			err := h.engine.HandleJob(ctx, job())
			if d, ok := snoozeOf(err); !ok || d != 0 {
				t.Fatalf("HandleJob = %v, want a snooze of 0", err)
			}
			r := h.onlyRecord(t)
			if r.CountsTowardSchedule {
				t.Error("an interrupted attempt counts toward the schedule")
			}
			if r.State != herald.StateRetrying {
				t.Errorf("State = %s, want RETRYING", r.State)
			}
			if r.Attempt == nil || r.Attempt.Outcome != herald.OutcomeRetryable || !strings.Contains(r.Attempt.Error, "interrupted") {
				t.Errorf("attempt = %+v, want a RETRYABLE attempt that says it was interrupted", r.Attempt)
			}
			if err := h.store.recordCtxErr[0]; err != nil {
				t.Errorf("Record got a done context (%v); the result of an interrupted send must still be saved", err)
			}
			// The job runs again at once (snooze 0), and the delivery
			// says so.
			if r.NextAttemptTime == nil || !r.NextAttemptTime.Equal(now) {
				t.Errorf("NextAttemptTime = %v, want %v (the job was snoozed for 0)", r.NextAttemptTime, now)
			}
		})
	}
}

func TestHandleJobSuccessWhileStopping(t *testing.T) {
	// A success that arrives as the context ends is a success.
	h := newHarness(newWork(), platform.Result{})
	ctx, cancel := context.WithCancel(t.Context())
	h.platform.send = func(context.Context, *platform.Request) platform.Result {
		cancel()
		return platform.Result{Outcome: herald.OutcomeSuccess, HTTPStatus: 200}
	}
	err := h.engine.HandleJob(ctx, job())
	_ = err // Record may see the cancelled context; the fake does not care.
	r := h.onlyRecord(t)
	if r.State != herald.StateSucceeded || !r.CountsTowardSchedule {
		t.Errorf("State = %s, counts = %v; want SUCCEEDED, counted", r.State, r.CountsTowardSchedule)
	}
}

func TestHandleJobMetrics(t *testing.T) {
	h := newHarness(newWork(), platform.Result{Outcome: herald.OutcomeSuccess, HTTPStatus: 200})
	if err := h.engine.HandleJob(t.Context(), job()); err != nil {
		t.Fatal(err)
	}
	if got := value(t, h.metrics, "herald_attempts_total", "platform", "CUSTOM", "outcome", "SUCCESS"); got != 1 {
		t.Errorf(`herald_attempts_total{platform="CUSTOM",outcome="SUCCESS"} = %v, want 1`, got)
	}
	if got := series(t, h.metrics, "herald_attempts_total"); got != 1 {
		t.Errorf("herald_attempts_total has %d series, want 1", got)
	}
	if got := value(t, h.metrics, "herald_deliveries_total", "platform", "CUSTOM", "state", "SUCCEEDED"); got != 1 {
		t.Errorf(`herald_deliveries_total{platform="CUSTOM",state="SUCCEEDED"} = %v, want 1`, got)
	}
	if got := series(t, h.metrics, "herald_deliveries_total"); got != 1 {
		t.Errorf("herald_deliveries_total has %d series, want 1", got)
	}
	if hist := histogram(t, h.metrics, "herald_attempt_duration_seconds", "platform", "CUSTOM"); hist.GetSampleCount() != 1 {
		t.Errorf("herald_attempt_duration_seconds{CUSTOM} has %d samples, want 1", hist.GetSampleCount())
	}
	// The latency runs from the event's creation to now: 90s.
	hist := histogram(t, h.metrics, "herald_delivery_latency_seconds", "platform", "CUSTOM")
	if hist.GetSampleCount() != 1 || hist.GetSampleSum() != 90 {
		t.Errorf("herald_delivery_latency_seconds{CUSTOM}: %d samples summing to %v, want 1 of 90",
			hist.GetSampleCount(), hist.GetSampleSum())
	}

	// A retry is an attempt but not a finished delivery.
	h2 := newHarness(newWork(), platform.Result{Outcome: herald.OutcomeRetryable, Error: "HTTP 502"})
	if _, ok := snoozeOf(h2.engine.HandleJob(t.Context(), job())); !ok {
		t.Fatal("a retryable attempt did not snooze")
	}
	if got := value(t, h2.metrics, "herald_attempts_total", "platform", "CUSTOM", "outcome", "RETRYABLE"); got != 1 {
		t.Errorf("herald_attempts_total{CUSTOM,RETRYABLE} = %v, want 1", got)
	}
	if got := series(t, h2.metrics, "herald_deliveries_total"); got != 0 {
		t.Errorf("herald_deliveries_total has %d series after a retry, want 0", got)
	}
	if got := series(t, h2.metrics, "herald_delivery_latency_seconds"); got != 0 {
		t.Errorf("herald_delivery_latency_seconds has %d series after a retry, want 0", got)
	}

	// A permanent failure is a FAILED delivery.
	h3 := newHarness(newWork(), platform.Result{Outcome: herald.OutcomePermanent, Error: "HTTP 400"})
	if err := h3.engine.HandleJob(t.Context(), job()); err != nil {
		t.Fatal(err)
	}
	if got := value(t, h3.metrics, "herald_deliveries_total", "platform", "CUSTOM", "state", "FAILED"); got != 1 {
		t.Errorf("herald_deliveries_total{CUSTOM,FAILED} = %v, want 1", got)
	}
}

// family gathers m's registry and returns the family called name, or nil
// when it has no series. (prometheus/testutil would do, but it needs a
// module go.mod does not list.)
func family(t *testing.T, m *metrics.Metrics, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

// series counts the series of the family called name.
func series(t *testing.T, m *metrics.Metrics, name string) int {
	t.Helper()
	return len(family(t, m, name).GetMetric())
}

// find returns the series of family name with exactly the given label
// pairs, or nil.
func find(t *testing.T, m *metrics.Metrics, name string, labels ...string) *dto.Metric {
	t.Helper()
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, s := range family(t, m, name).GetMetric() {
		got := map[string]string{}
		for _, l := range s.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return s
		}
	}
	return nil
}

// value returns a counter's value (0 when the series does not exist).
func value(t *testing.T, m *metrics.Metrics, name string, labels ...string) float64 {
	t.Helper()
	return find(t, m, name, labels...).GetCounter().GetValue()
}

// histogram returns a histogram series (an empty one when it does not
// exist).
func histogram(t *testing.T, m *metrics.Metrics, name string, labels ...string) *dto.Histogram {
	t.Helper()
	return find(t, m, name, labels...).GetHistogram()
}

func TestHandleJobWithoutMetrics(t *testing.T) {
	h := newHarness(newWork(), platform.Result{Outcome: herald.OutcomeSuccess})
	h.engine.Metrics = nil
	if err := h.engine.HandleJob(t.Context(), job()); err != nil {
		t.Fatal(err)
	}
	if h.onlyRecord(t).State != herald.StateSucceeded {
		t.Error("the delivery did not succeed without metrics")
	}
}

// Repeated rate-limit answers that name no delay wait longer each time.
func TestRateLimitBackoffDoubles(t *testing.T) {
	w := newWork()
	w.Delivery.AttemptCount, w.Delivery.ScheduleAttempts = 3, 1 // two rate-limited attempts before
	h := newHarness(w, platform.Result{Outcome: herald.OutcomeRateLimited, HTTPStatus: 200, PlatformCode: "130101"})
	d, ok := snoozeOf(h.engine.HandleJob(t.Context(), job()))
	// The schedule's next delay after one counted attempt is 1m; doubled twice.
	if !ok || d != 4*time.Minute {
		t.Fatalf("snooze %v, want 4m", d)
	}
	rec := h.onlyRecord(t)
	if rec.CountsTowardSchedule || rec.State != herald.StateRetrying || !rec.NextAttemptTime.Equal(now.Add(4*time.Minute)) {
		t.Fatalf("record %+v", rec)
	}
	// Never beyond 30 minutes.
	w = newWork()
	w.Delivery.AttemptCount = 40
	h = newHarness(w, platform.Result{Outcome: herald.OutcomeRateLimited})
	if d, _ := snoozeOf(h.engine.HandleJob(t.Context(), job())); d != 30*time.Minute {
		t.Fatalf("snooze %v, want the 30m cap", d)
	}
}
