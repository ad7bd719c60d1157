package platformtest

import (
	"sync"
	"testing"
	"time"
)

// waitShort is how long a test waits for what must happen at once.
const waitShort = 5 * time.Second

func TestSendGateZeroValueCountsAndPasses(t *testing.T) {
	var g SendGate
	for i := range 3 {
		if hold := g.Enter(); hold != nil {
			t.Fatalf("send %d held by a zero SendGate", i+1)
		}
		if g.Fail() {
			t.Fatalf("send %d failed by a zero SendGate", i+1)
		}
	}
	if n := g.Sends(); n != 3 {
		t.Fatalf("Sends() = %d after 3 sends, want 3", n)
	}
}

func TestSendGateFailNextSends(t *testing.T) {
	var g SendGate
	g.FailNextSends(2)
	g.FailNextSends(1) // adds up
	for i := range 3 {
		if !g.Fail() {
			t.Fatalf("Fail() #%d = false, want true (3 failures asked for)", i+1)
		}
	}
	if g.Fail() {
		t.Fatal("Fail() = true after the 3 failures asked for were taken")
	}
	if n := g.Sends(); n != 0 {
		t.Fatalf("Sends() = %d: Fail must not count sends", n)
	}
}

func TestSendGateHoldsAfterN(t *testing.T) {
	var g SendGate
	g.HoldSendsAfter(2)
	for i := range 2 {
		if hold := g.Enter(); hold != nil {
			t.Fatalf("send %d held, want the first 2 let through", i+1)
		}
	}
	h1, h2 := g.Enter(), g.Enter()
	if h1 == nil || h2 == nil {
		t.Fatalf("sends 3 and 4 not held (%v, %v)", h1, h2)
	}
	if released(h1) {
		t.Fatal("a held send was let go before Release")
	}
	if n := g.Sends(); n != 4 {
		t.Fatalf("Sends() = %d, want 4: held sends count", n)
	}
}

func TestSendGateHoldAfterZero(t *testing.T) {
	var g SendGate
	g.HoldSendsAfter(0)
	if g.Enter() == nil {
		t.Fatal("HoldSendsAfter(0) let the next send through")
	}
}

func TestSendGateReleaseWakesWaiters(t *testing.T) {
	var g SendGate
	g.HoldSendsAfter(0)
	const waiters = 5
	entered := make(chan struct{}, waiters)
	done := make(chan struct{}, waiters)
	for range waiters {
		go func() {
			hold := g.Enter()
			entered <- struct{}{}
			if hold != nil {
				<-hold
			}
			done <- struct{}{}
		}()
	}
	for range waiters {
		<-entered
	}
	select {
	case <-done:
		t.Fatal("a held send finished before Release")
	case <-time.After(20 * time.Millisecond):
	}
	g.Release()
	for i := range waiters {
		select {
		case <-done:
		case <-time.After(waitShort):
			t.Fatalf("only %d of %d held sends woke after Release", i, waiters)
		}
	}
	if hold := g.Enter(); hold != nil {
		t.Fatal("a send after Release was held")
	}
}

// released reports whether a held send has been let go: Release closes its
// channel before it returns.
func released(hold <-chan struct{}) bool {
	select {
	case <-hold:
		return true
	default:
		return false
	}
}

func TestSendGateHoldsAgainAfterRelease(t *testing.T) {
	var g SendGate
	g.HoldSendsAfter(0)
	first := g.Enter()
	g.Release()
	if !released(first) {
		t.Fatal("Release did not let the held send go")
	}

	g.HoldSendsAfter(1)
	if g.Enter() != nil {
		t.Fatal("HoldSendsAfter(1) after a Release held the next send")
	}
	second := g.Enter()
	if second == nil {
		t.Fatal("HoldSendsAfter after a Release did not hold")
	}
	if released(second) {
		t.Fatal("a send held after a Release is let go at once: the old, closed channel was reused")
	}
	g.Release()
	if !released(second) {
		t.Fatal("the second Release did not let the held send go")
	}
}

func TestSendGateReleaseTwiceIsSafe(t *testing.T) {
	var g SendGate
	g.Release() // never held
	g.HoldSendsAfter(0)
	hold := g.Enter()
	g.Release()
	g.Release() // would panic on closing a closed channel
	if !released(hold) {
		t.Fatal("the held send was not let go")
	}
}

func TestSendGateNegativeHoldStopsHolding(t *testing.T) {
	var g SendGate
	g.HoldSendsAfter(0)
	hold := g.Enter()
	g.HoldSendsAfter(-1)
	if g.Enter() != nil {
		t.Fatal("HoldSendsAfter(-1) still holds new sends")
	}
	if released(hold) {
		t.Fatal("HoldSendsAfter(-1) let a held send go; only Release does")
	}
	g.Release()
	if !released(hold) {
		t.Fatal("Release did not let the held send go")
	}
}

// TestSendGateConcurrent drives every method at once, for -race, and checks
// the counts add up.
func TestSendGateConcurrent(t *testing.T) {
	var g SendGate
	const senders, each = 8, 50
	g.FailNextSends(senders * each / 2)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for range senders {
		wg.Go(func() {
			for range each {
				if hold := g.Enter(); hold != nil {
					<-hold
				}
				if g.Fail() {
					mu.Lock()
					failed++
					mu.Unlock()
				}
				_ = g.Sends()
			}
		})
	}
	stop := make(chan struct{})
	var toggler sync.WaitGroup
	toggler.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			g.HoldSendsAfter(i % 3)
			time.Sleep(50 * time.Microsecond)
			g.Release()
		}
	})
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		close(stop)
		toggler.Wait()
		g.Release()
		t.Fatal("the senders did not finish: a held send was never released")
	}
	close(stop)
	toggler.Wait()
	g.Release()
	if n := g.Sends(); n != senders*each {
		t.Fatalf("Sends() = %d, want %d", n, senders*each)
	}
	if failed != senders*each/2 {
		t.Fatalf("%d sends failed, want %d", failed, senders*each/2)
	}
}
