// Package deliver is the engine that works delivery jobs: it loads a
// delivery, sends it through its platform, records the attempt, and decides
// what happens next — success, a retry on the schedule (or when the platform
// asks), or failure. Platforms only say what an answer means; everything
// around a send is written here, once.
package deliver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/metrics"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/queue"
	"github.com/heraldhq/herald/store"
)

// Engine works delivery jobs. It is a queue.Handler.
type Engine struct {
	Store     store.Store
	Platforms platform.Registry
	// Client sends every request; it carries the dial-time address guard.
	Client   *http.Client
	Schedule Schedule
	// Limiter paces the sends to each webhook; nil sends without limits.
	Limiter *Limiter
	// Messengers send direct messages; nil sends every delivery to its
	// channel.
	Messengers *Messengers
	Metrics    *metrics.Metrics
	Logger     *slog.Logger
	// Now and Random are the clock and the jitter source; nil means
	// time.Now and math/rand/v2.
	Now    func() time.Time
	Random func() float64
}

var _ queue.Handler = (*Engine)(nil)

// A delivery whose webhook is at its rate limit waits for its slot. A long
// wait snoozes the job (no attempt is used) so that a slow webhook does not
// hold workers others could use; but the queue wakes snoozed jobs late (it
// polls; River moves long-snoozed jobs back every 5 s), and a late send
// would crowd the next slot. So the job is woken wakeAhead early and its
// worker sleeps the rest, to the slot.
const (
	inlineWait = 6 * time.Second
	wakeAhead  = 6 * time.Second
)

// maxRateLimitBackoff bounds the doubling wait after repeated rate-limit
// answers that name no delay.
const maxRateLimitBackoff = 30 * time.Minute

// maxRetryAfter bounds how long a platform's Retry-After can hold a
// delivery back, so that a wrong header cannot park it for days.
const maxRetryAfter = 24 * time.Hour

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Engine) random() float64 {
	if e.Random != nil {
		return e.Random()
	}
	return rand.Float64()
}

// HandleJob works one delivery job. It returns nil when the job is done,
// queue.Snooze to try again later, or an error when Herald itself failed
// (the store is unreachable), which the queue retries.
func (e *Engine) HandleJob(ctx context.Context, job queue.Job) error {
	w, err := e.Store.LoadWork(ctx, job.DeliveryID)
	if herald.ErrorCode(err) == herald.CodeNotFound {
		return nil // the project was deleted
	}
	if err != nil {
		return fmt.Errorf("deliver %s: %w", job.DeliveryID, err)
	}
	d := w.Delivery
	if d.Generation != job.Generation || d.State.Final() {
		return nil // a stale job, or one that already finished before a crash
	}
	if w.Webhook == nil {
		return e.finish(ctx, d, "unknown", "the webhook was deleted")
	}
	if !w.Webhook.Enabled {
		return e.finish(ctx, d, string(w.Webhook.Type), "the webhook is disabled: "+w.Webhook.DisabledReason)
	}
	p, ok := e.Platforms.Get(w.Webhook.Type)
	if !ok {
		return e.finish(ctx, d, string(w.Webhook.Type), fmt.Sprintf("Herald cannot send to %s webhooks", w.Webhook.Type))
	}
	var err2 error
	if d.Route == herald.RouteDirectMessage {
		err2 = e.direct(ctx, w, p)
	} else {
		err2 = e.channel(ctx, w, p, false)
	}
	if errors.Is(err2, errStale) {
		return nil // retried by hand meanwhile: the new job does the work
	}
	return err2
}

// channel posts the delivery to its webhook, within the webhook's rate
// limit. reset starts the retry schedule over (the delivery has just fallen
// back from direct messages).
func (e *Engine) channel(ctx context.Context, w *store.Work, p platform.Platform, reset bool) error {
	if e.Limiter != nil {
		now := e.now()
		if wait := e.Limiter.Reserve(w.Webhook.Name, w.Delivery.ID, p.Limits(), now).Sub(now); wait > 0 {
			if wait > inlineWait {
				if reset {
					// Keep the decision to fall back while the job waits.
					if err := e.save(ctx, w, w.Delivery.State, nil, false, nil); err != nil {
						return err
					}
				}
				return queue.Snooze(wait - wakeAhead)
			}
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return queue.Snooze(0)
			}
		}
	}
	return e.send(ctx, w, p, reset)
}

// finish fails a delivery without sending anything.
func (e *Engine) finish(ctx context.Context, d *herald.Delivery, platformName, reason string) error {
	err := e.Store.Record(ctx, &store.Record{
		DeliveryID: d.ID, Generation: d.Generation, State: herald.StateFailed, Route: d.Route, RouteReason: d.RouteReason,
		Recipients: d.Recipients, LastError: reason, Now: e.now(),
	})
	if err != nil && !errors.Is(err, store.ErrStale) {
		return fmt.Errorf("deliver %s: %w", d.ID, err)
	}
	if err == nil {
		e.count(platformName, herald.StateFailed)
	}
	return nil
}

// send posts the delivery to its webhook once and records the attempt.
func (e *Engine) send(ctx context.Context, w *store.Work, p platform.Platform, reset bool) error {
	d, hook := w.Delivery, w.Webhook
	req := &platform.Request{
		Webhook:      hook,
		Message:      message.New(w.Project, w.Event).WithKeyword(hook.Keyword),
		Project:      w.Project,
		Event:        w.Event,
		DeliveryName: d.Name,
		DeliveryID:   d.ID,
	}
	start := e.now()
	req.Now = start
	res := p.Send(ctx, e.Client, req)
	took := e.now().Sub(start)
	interrupted := ctx.Err() != nil && res.Outcome != herald.OutcomeSuccess
	if interrupted {
		// Herald is stopping: the request was cut short by us, not the
		// platform, so it does not count against the delivery.
		res.Outcome, res.Error = herald.OutcomeRetryable, "interrupted: Herald was stopping ("+res.Error+")"
		ctx = context.WithoutCancel(ctx)
	}
	rec := &store.Record{
		DeliveryID: d.ID,
		Generation: d.Generation,
		Attempt: &herald.Attempt{
			Target: hook.URLPreview, StartTime: start, DurationMs: took.Milliseconds(), HTTPStatus: res.HTTPStatus,
			PlatformCode: res.PlatformCode, Outcome: res.Outcome, Error: res.Error,
			RequestBody: res.RequestBody, ResponseBody: res.ResponseBody,
		},
		CountsTowardSchedule: res.Outcome != herald.OutcomeRateLimited && !interrupted,
		Route:                d.Route,
		RouteReason:          d.RouteReason,
		ResetSchedule:        reset,
		Recipients:           d.Recipients,
		DisableWebhook:       res.DisableReason,
		Now:                  e.now(),
	}
	delay := e.decide(d, res, rec)
	if interrupted {
		delay, rec.NextAttemptTime = 0, &rec.Now // again as soon as Herald runs
	}
	if err := e.Store.Record(ctx, rec); err != nil {
		if errors.Is(err, store.ErrStale) {
			return nil
		}
		return fmt.Errorf("deliver %s: %w", d.ID, err)
	}
	e.observe(w, res, took, rec)
	if res.Outcome == herald.OutcomeRateLimited && e.Limiter != nil {
		// The platform is throttling this webhook: hold its other
		// deliveries too.
		e.Limiter.Pause(hook.Name, rec.Now.Add(delay))
	}
	if rec.State == herald.StateRetrying {
		return queue.Snooze(delay)
	}
	return nil
}

// decide fills in the delivery's next state from the attempt's outcome and
// returns how long to wait before the next attempt.
func (e *Engine) decide(d *herald.Delivery, res platform.Result, rec *store.Record) time.Duration {
	rec.LastError = res.Error
	var delay time.Duration
	switch res.Outcome {
	case herald.OutcomeSuccess:
		rec.State, rec.LastError = herald.StateSucceeded, ""
		return 0
	case herald.OutcomePermanent:
		rec.State = herald.StateFailed
		return 0
	case herald.OutcomeRateLimited:
		// Not counted: wait as long as the platform asks, else as long as
		// the schedule would before the next counted attempt, doubled for
		// each rate-limited attempt before this one (a platform that
		// throttles for minutes is not asked every few seconds).
		delay = e.Schedule.Next(d.ScheduleAttempts+1, e.random)
		for range min(d.AttemptCount-d.ScheduleAttempts, 16) {
			delay = min(2*delay, maxRateLimitBackoff)
		}
	default:
		counted := d.ScheduleAttempts
		if rec.CountsTowardSchedule {
			counted++
		}
		if counted >= e.Schedule.Attempts() {
			rec.State = herald.StateFailed
			rec.LastError = fmt.Sprintf("%s (gave up after %s)", res.Error, plural(counted, "attempt"))
			return 0
		}
		delay, _ = e.Schedule.Delay(counted, e.random)
	}
	if res.RetryAfter > 0 {
		delay = min(res.RetryAfter, maxRetryAfter)
	}
	next := rec.Now.Add(delay)
	rec.State, rec.NextAttemptTime = herald.StateRetrying, &next
	return delay
}

func (e *Engine) observe(w *store.Work, res platform.Result, took time.Duration, rec *store.Record) {
	platformName := string(w.Webhook.Type)
	if e.Metrics != nil {
		e.Metrics.Attempts.WithLabelValues(platformName, string(res.Outcome)).Inc()
		e.Metrics.AttemptDuration.WithLabelValues(platformName).Observe(took.Seconds())
		if rec.State == herald.StateSucceeded && w.Event.CreateTime != nil {
			e.Metrics.DeliveryLatency.WithLabelValues(platformName).Observe(rec.Now.Sub(*w.Event.CreateTime).Seconds())
		}
	}
	e.count(platformName, rec.State)
	if e.Logger != nil && res.Outcome != herald.OutcomeSuccess {
		e.Logger.Info("attempt failed", "delivery", w.Delivery.Name, "target", w.Webhook.URLPreview,
			"outcome", res.Outcome, "httpStatus", res.HTTPStatus, "platformCode", res.PlatformCode,
			"error", res.Error, "state", rec.State)
	}
}

func (e *Engine) count(platformName string, state herald.DeliveryState) {
	if e.Metrics != nil && state.Final() {
		e.Metrics.Deliveries.WithLabelValues(platformName, string(state)).Inc()
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
