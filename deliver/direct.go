package deliver

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/queue"
	"github.com/heraldhq/herald/store"
)

// Messengers keeps one Messenger per IM platform and set of credentials,
// so that access tokens are cached across deliveries; changed settings get
// a new Messenger. It is safe for concurrent use.
type Messengers struct {
	Registry  platform.IMRegistry
	Client    *http.Client
	Endpoints platform.IMEndpoints

	mu    sync.Mutex
	cache map[herald.IMPlatform]messengerEntry
}

type messengerEntry struct {
	key [32]byte // hash of the settings it was built from
	m   platform.Messenger
}

// For returns the Messenger of p built from s, or false when Herald has no
// IM client for p.
func (ms *Messengers) For(p herald.IMPlatform, s *herald.IMSettings) (platform.Messenger, bool) {
	newMessenger, ok := ms.Registry[p]
	if !ok {
		return nil, false
	}
	raw, _ := json.Marshal(s)
	key := sha256.Sum256(raw)
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if e, ok := ms.cache[p]; ok && e.key == key {
		return e.m, true
	}
	m := newMessenger(s, ms.Client, ms.Endpoints)
	if ms.cache == nil {
		ms.cache = map[herald.IMPlatform]messengerEntry{}
	}
	ms.cache[p] = messengerEntry{key: key, m: m}
	return m, true
}

// direct delivers to the event's recipients through the platform's IM app
// (SPEC §5): each recipient is looked up and messaged once, their state
// saved before the next is tried, so that nobody already SENT is messaged
// again — across retries, restarts and kill -9. When no recipient can be
// reached, or the app's credentials are rejected, or messaging keeps
// failing until the schedule runs out, the delivery falls back to the
// webhook's channel.
func (e *Engine) direct(ctx context.Context, w *store.Work, p platform.Platform) error {
	d, hook := w.Delivery, w.Webhook
	imp, ok := herald.IMPlatformOf(hook.Type)
	if !ok {
		return e.fallback(ctx, w, p, fmt.Sprintf("%s webhooks cannot send direct messages", hook.Type))
	}
	settings, err := e.Store.GetIMSettings(ctx, imp)
	if herald.ErrorCode(err) == herald.CodeNotFound || (err == nil && !settings.Configured(imp)) {
		return e.fallback(ctx, w, p, fmt.Sprintf("the %s integration is not configured", imp))
	}
	if err != nil {
		return fmt.Errorf("deliver %s: %w", d.ID, err)
	}
	var m platform.Messenger
	if e.Messengers != nil {
		m, _ = e.Messengers.For(imp, settings)
	}
	if m == nil {
		return e.fallback(ctx, w, p, fmt.Sprintf("Herald has no %s IM client", imp))
	}
	if len(d.Recipients) == 0 {
		d.Recipients = herald.RecipientsOf(w.Event.Recipients)
	}
	msg := message.New(w.Project, w.Event).WithKeyword(hook.Keyword)
	name := platformName(hook.Type)
	for i := range d.Recipients {
		r := &d.Recipients[i]
		if r.State != "" {
			continue // SENT, UNMATCHED or FAILED in an earlier run
		}
		start := e.now()
		if r.UserID == "" {
			id, err := m.Lookup(ctx, herald.User{Email: r.Email, Phone: r.Phone})
			if err != nil {
				ie := platform.IMErrorOf("lookup", err)
				switch ie.Kind {
				case platform.IMUnmatched:
					r.State, r.Error = herald.RecipientUnmatched, ie.Error()
					if err := e.save(ctx, w, d.State, nil, false, nil); err != nil {
						return err
					}
					continue
				case platform.IMRejected:
					return e.fallback(ctx, w, p, "the "+name+" app's credentials were rejected: "+ie.Error())
				case platform.IMPermanent:
					r.State, r.Error = herald.RecipientFailed, ie.Error()
					if err := e.save(ctx, w, d.State, nil, false, nil); err != nil {
						return err
					}
					continue
				}
				return e.retryDirect(ctx, w, p, ie.Result(), fmt.Sprintf("%s %s for %s", name, ie.Call, who(r)), start)
			}
			r.UserID = id
		}
		res := m.Send(ctx, r.UserID, msg, d.ID+"/"+r.UserID)
		target := fmt.Sprintf("%s direct message to %s", name, who(r))
		switch {
		case res.Outcome == herald.OutcomeSuccess:
			r.State, r.Error = herald.RecipientSent, ""
		case res.CredentialsRejected:
			if err := e.save(ctx, w, d.State, e.attempt(target, start, res), false, nil); err != nil {
				return err
			}
			return e.fallback(ctx, w, p, "the "+name+" app's credentials were rejected: "+res.Error)
		case res.Outcome == herald.OutcomePermanent:
			r.State, r.Error = herald.RecipientFailed, res.Error
		default:
			return e.retryDirect(ctx, w, p, res, target, start)
		}
		// Saved before anyone else is messaged: this recipient is done.
		if err := e.save(ctx, w, d.State, e.attempt(target, start, res), false, nil); err != nil {
			return err
		}
	}
	for _, r := range d.Recipients {
		if r.State == herald.RecipientSent {
			d.LastError = ""
			if err := e.save(ctx, w, herald.StateSucceeded, nil, false, nil); err != nil {
				return err
			}
			e.count(string(hook.Type), herald.StateSucceeded)
			if e.Metrics != nil && w.Event.CreateTime != nil {
				e.Metrics.DeliveryLatency.WithLabelValues(string(hook.Type)).Observe(e.now().Sub(*w.Event.CreateTime).Seconds())
			}
			return nil
		}
	}
	reason := "no recipient could be messaged"
	if allUnmatched(d.Recipients) {
		reason = "no recipient matched a " + name + " user"
	}
	return e.fallback(ctx, w, p, reason)
}

// retryDirect records a transient failure of an IM call and snoozes the
// job on the retry schedule; when the schedule is exhausted the delivery
// falls back to the channel, so the message is not lost.
func (e *Engine) retryDirect(ctx context.Context, w *store.Work, p platform.Platform, res platform.Result, target string, start time.Time) error {
	d := w.Delivery
	if ctx.Err() != nil {
		res.Outcome, res.Error = herald.OutcomeRetryable, "interrupted: Herald was stopping ("+res.Error+")"
		ctx = context.WithoutCancel(ctx)
		if err := e.save(ctx, w, d.State, e.attempt(target, start, res), false, nil); err != nil {
			return err
		}
		return queue.Snooze(0)
	}
	counts := res.Outcome != herald.OutcomeRateLimited
	counted := d.ScheduleAttempts
	if counts {
		counted++
	}
	if counts && counted >= e.Schedule.Attempts() {
		if err := e.save(ctx, w, d.State, e.attempt(target, start, res), false, nil); err != nil {
			return err
		}
		d.ScheduleAttempts = counted
		return e.fallback(ctx, w, p, fmt.Sprintf("direct messages kept failing (%s) after %s", res.Error, plural(counted, "attempt")))
	}
	var delay = e.Schedule.Next(d.ScheduleAttempts+1, e.random)
	if counts {
		delay, _ = e.Schedule.Delay(counted, e.random)
	}
	if res.RetryAfter > 0 {
		delay = min(res.RetryAfter, maxRetryAfter)
	}
	next := e.now().Add(delay)
	d.LastError = res.Error
	a := e.attempt(target, start, res)
	err := e.save(ctx, w, herald.StateRetrying, a, counts, &next)
	if err != nil {
		return err
	}
	return queue.Snooze(delay)
}

// fallback sends the delivery to its channel instead (route
// DIRECT_MESSAGE_FALLBACK_CHANNEL), saying why; the retry schedule starts
// over for the channel.
func (e *Engine) fallback(ctx context.Context, w *store.Work, p platform.Platform, reason string) error {
	d := w.Delivery
	d.Route, d.RouteReason, d.ScheduleAttempts = herald.RouteDirectMessageFallbackChannel, reason, 0
	return e.channel(ctx, w, p, true)
}

// save records the delivery's progress: its recipients and route as they
// stand, its state, and an attempt when a request was sent. A delivery
// retried by hand meanwhile is not touched (the job stops).
func (e *Engine) save(ctx context.Context, w *store.Work, state herald.DeliveryState, a *herald.Attempt, counts bool, next *time.Time) error {
	d := w.Delivery
	rec := &store.Record{
		DeliveryID: d.ID, Generation: d.Generation, Attempt: a, CountsTowardSchedule: counts,
		State: state, Route: d.Route, RouteReason: d.RouteReason, Recipients: slices.Clone(d.Recipients),
		NextAttemptTime: next, LastError: d.LastError, Now: e.now(),
		ResetSchedule: d.Route == herald.RouteDirectMessageFallbackChannel && d.ScheduleAttempts == 0,
	}
	err := e.Store.Record(ctx, rec)
	if errors.Is(err, store.ErrStale) {
		return errStale
	}
	if err != nil {
		return fmt.Errorf("deliver %s: %w", d.ID, err)
	}
	if counts {
		d.ScheduleAttempts++
	}
	if a != nil {
		d.AttemptCount++
		if e.Metrics != nil {
			e.Metrics.Attempts.WithLabelValues(string(w.Webhook.Type), string(a.Outcome)).Inc()
		}
	}
	return nil
}

// errStale ends a job whose delivery was retried by hand while it ran.
var errStale = errors.New("stale")

func (e *Engine) attempt(target string, start time.Time, res platform.Result) *herald.Attempt {
	return &herald.Attempt{
		Target: target, StartTime: start, DurationMs: e.now().Sub(start).Milliseconds(), HTTPStatus: res.HTTPStatus,
		PlatformCode: res.PlatformCode, Outcome: res.Outcome, Error: res.Error,
		RequestBody: res.RequestBody, ResponseBody: res.ResponseBody,
	}
}

func allUnmatched(rs []herald.Recipient) bool {
	for _, r := range rs {
		if r.State != herald.RecipientUnmatched {
			return false
		}
	}
	return true
}

func who(r *herald.Recipient) string {
	if r.Email != "" {
		return r.Email
	}
	return r.Phone
}

func platformName(t herald.WebhookType) string {
	switch t {
	case herald.DingTalk:
		return "DingTalk"
	case herald.WeCom:
		return "WeCom"
	}
	s := strings.ToLower(string(t))
	return strings.ToUpper(s[:1]) + s[1:]
}
