package platformtest

import "sync"

// SendGate is what every fake IM API does with its message sends for
// IMFake: it counts them (Sends), fails the next few (FailNextSends) and
// holds sends unanswered (HoldSendsAfter) until Release. A fake embeds it,
// calls Enter when a send arrives and Fail where its platform would refuse
// one, and answers a failed or released send with its platform's transient
// failure.
//
// The zero SendGate is ready to use and holds nothing. All its methods are
// safe for concurrent use; it must not be copied after first use. It takes
// no lock of the fake's, so a fake may call it while holding its own.
type SendGate struct {
	mu        sync.Mutex
	sends     int
	failSends int
	holding   bool
	holdAfter int           // while holding: sends still let through
	held      chan struct{} // what held sends wait on; closed by Release
}

// FailNextSends makes the next n message sends fail with the platform's
// transient answer (5xx or "system busy").
func (g *SendGate) FailNextSends(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failSends += n
}

// HoldSendsAfter lets n more message sends through and then holds every
// further one unanswered until Release: a test can kill Herald while a send
// is in flight. It works again after a Release. A negative n stops holding
// new sends without answering those already held.
func (g *SendGate) HoldSendsAfter(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.holding, g.holdAfter = n >= 0, n
}

// Release answers the held sends (as failures) and stops holding. It may
// be called any number of times; a fake calls it when its test ends, so
// that closing its server does not wait for a held send.
func (g *SendGate) Release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.holding = false
	if g.held != nil {
		close(g.held)
		g.held = nil
	}
}

// Sends counts the message sends received, answered or not.
func (g *SendGate) Sends() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sends
}

// Enter counts one message send. It returns nil when the send may go on,
// and a channel when it must be held: the fake's handler waits until the
// channel is closed (by Release) and then answers with its platform's
// transient failure.
func (g *SendGate) Enter() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sends++
	if !g.holding {
		return nil
	}
	if g.holdAfter > 0 {
		g.holdAfter--
		return nil
	}
	if g.held == nil {
		g.held = make(chan struct{})
	}
	return g.held
}

// Fail takes one of the failures FailNextSends asked for: true when this
// send must fail with the platform's transient answer.
func (g *SendGate) Fail() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failSends <= 0 {
		return false
	}
	g.failSends--
	return true
}
