package deliver

import (
	"sync"
	"time"

	"github.com/heraldhq/herald/platform"
)

// Limiter paces the sends to each webhook under its platform's limits,
// shared by all the workers of a process.
//
// Platforms state their limits as "at most N in any window of D" (DingTalk:
// 20 a minute; Feishu: 5 a second and 100 a minute). A token bucket
// refilling at N/D would allow up to 2N in some windows, and be throttled;
// so the limiter keeps the times of each webhook's sends and counts them
// over sliding windows.
//
// A send that cannot go now gets a reserved slot — the earliest time the
// limits allow after every slot already given out — so that a backlog to
// one webhook is spread out in order instead of waking all at once; its
// worker snoozes the job until then, and the slot is honoured when the job
// returns on time (a job that returns late gets a new slot, so that sends
// stay as far apart as their slots). Limits are per process: several replicas each keep their own
// count, and the platform's rate-limit answers (retried as it asks) cover
// the rest.
type Limiter struct {
	mu       sync.Mutex
	hooks    map[string]*window
	reserved map[string]time.Time // delivery → its slot
	calls    int
}

type window struct {
	slots       []time.Time // given out, ascending; past ones are sends
	pausedUntil time.Time
}

// NewLimiter returns an empty limiter.
func NewLimiter() *Limiter {
	return &Limiter{hooks: map[string]*window{}, reserved: map[string]time.Time{}}
}

// maxWindow is longer than any platform's window; older slots are dropped.
const maxWindow = time.Hour

// margin widens every window: platforms count requests as they arrive, and
// two sends a window apart can arrive a little closer than that.
const margin = 100 * time.Millisecond

// lateness is how long after its slot a send still counts as on time. A
// snoozed job can come back later than its slot (the queue polls); sending
// then would crowd the next slot, so a late job gets a new slot instead.
const lateness = 25 * time.Millisecond

// Reserve returns when id (a delivery, or any one-off name) may send to
// the webhook key under limits: now, or the slot it was given earlier, or a
// new slot in the future, which stays held for id.
func (l *Limiter) Reserve(key, id string, limits []platform.Limit, now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	if at, ok := l.reserved[id]; ok {
		if at.After(now) {
			return at // back early: wait for the slot
		}
		delete(l.reserved, id)
		if now.Sub(at) <= lateness {
			return at
		}
		l.drop(key, at) // late: the slot passed unused; take a new one below
	}
	w := l.hooks[key]
	if w == nil {
		if len(limits) == 0 {
			return now
		}
		w = &window{}
		l.hooks[key] = w
	}
	at := now
	if w.pausedUntil.After(at) {
		at = w.pausedUntil
	}
	if n := len(w.slots); n > 0 && w.slots[n-1].After(at) {
		at = w.slots[n-1] // after every slot given out: first come, first served
	}
	for _, lim := range limits {
		if n := len(w.slots); n >= lim.N {
			if free := w.slots[n-lim.N].Add(lim.Per + margin); free.After(at) {
				at = free
			}
		}
	}
	if len(limits) > 0 {
		w.slots = append(w.slots[firstAfter(w.slots, now.Add(-maxWindow)):], at)
	}
	if at.After(now) {
		l.reserved[id] = at
	}
	return at
}

// Release gives back the slot reserved for id, which will not be used.
func (l *Limiter) Release(key, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if at, ok := l.reserved[id]; ok {
		delete(l.reserved, id)
		l.drop(key, at)
	}
}

// drop removes one slot at at from key's window.
func (l *Limiter) drop(key string, at time.Time) {
	if w := l.hooks[key]; w != nil {
		for i := len(w.slots) - 1; i >= 0; i-- {
			if w.slots[i].Equal(at) {
				w.slots = append(w.slots[:i], w.slots[i+1:]...)
				return
			}
		}
	}
}

// Pause holds every send to key not yet reserved until until: the platform
// asked Herald to slow down, and the other deliveries to the webhook
// should too.
func (l *Limiter) Pause(key string, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.hooks[key]
	if w == nil {
		w = &window{}
		l.hooks[key] = w
	}
	if until.After(w.pausedUntil) {
		w.pausedUntil = until
	}
}

// firstAfter returns the index of the first time in ts after t.
func firstAfter(ts []time.Time, t time.Time) int {
	i := 0
	for i < len(ts) && !ts[i].After(t) {
		i++
	}
	return i
}

// sweepEvery is how many calls pass between sweeps.
const sweepEvery = 4096

// sweep forgets, now and then, webhooks idle for longer than any window and
// slots whose delivery never came back, so that memory stays bounded.
func (l *Limiter) sweep(now time.Time) {
	l.calls++
	if l.calls%sweepEvery != 0 {
		return
	}
	old := now.Add(-maxWindow)
	for k, w := range l.hooks {
		if n := len(w.slots); (n == 0 || w.slots[n-1].Before(old)) && w.pausedUntil.Before(now) {
			delete(l.hooks, k)
		}
	}
	for id, at := range l.reserved {
		if at.Before(old) {
			delete(l.reserved, id)
		}
	}
}
