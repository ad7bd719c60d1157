package platform

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A waiter for the token gives up when its context ends, even while a
// fetch is in flight; Drop forgets only the token it names.
func TestTokenWaitEndsWithItsContext(t *testing.T) {
	release := make(chan struct{})
	c := NewTokenCache(time.Now, func(ctx context.Context) (string, time.Duration, error) {
		<-release
		return "t1", time.Hour, nil
	})
	done := make(chan error)
	go func() {
		_, err := c.Get(context.Background())
		done <- err
	}()
	// Wait until the first call holds the fetch lock.
	for len(c.fetching) == 0 {
		runtime.Gosched()
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Get(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("a waiter with a cancelled context got %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if tok, err := c.Get(t.Context()); tok != "t1" || err != nil {
		t.Fatalf("cached token %q, %v", tok, err)
	}
	c.Drop("other")
	if c.usable() != "t1" {
		t.Fatal("dropping another token dropped the cached one")
	}
	c.Drop("t1")
	if c.usable() != "" {
		t.Fatal("the refused token is still cached")
	}
}

// Concurrent callers share one fetch; the token is used for as long as
// fetch said, then fetched again; Fresh always fetches.
func TestTokenCacheSharesAndRenews(t *testing.T) {
	var fetches atomic.Int32
	var mu sync.Mutex
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c := NewTokenCache(clock, func(ctx context.Context) (string, time.Duration, error) {
		n := fetches.Add(1)
		time.Sleep(10 * time.Millisecond)
		return "t" + string(rune('0'+n)), time.Minute, nil
	})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if tok, err := c.Get(t.Context()); tok != "t1" || err != nil {
				t.Errorf("got %q, %v", tok, err)
			}
		})
	}
	wg.Wait()
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for 20 concurrent calls, want 1", n)
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if tok, _ := c.Get(t.Context()); tok != "t2" {
		t.Fatalf("after its use-by time the token is %q, want a new one", tok)
	}
	if tok, _ := c.Fresh(t.Context()); tok != "t3" || c.Current() != "t3" {
		t.Fatalf("Fresh gave %q, cached %q", tok, c.Current())
	}
}

// A failed fetch caches nothing; a refusal of the credentials also forgets
// the token they got before, and a transient failure keeps it.
func TestTokenCacheFailures(t *testing.T) {
	var answer error
	c := NewTokenCache(time.Now, func(ctx context.Context) (string, time.Duration, error) {
		if answer != nil {
			return "", 0, answer
		}
		return "good", time.Hour, nil
	})
	if _, err := c.Get(t.Context()); err != nil {
		t.Fatal(err)
	}
	answer = &IMError{Kind: IMTransient, Call: "token"}
	if _, err := c.Fresh(t.Context()); err != answer {
		t.Fatalf("Fresh returned %v, want the fetch's error", err)
	}
	if c.usable() != "good" {
		t.Fatal("a transient failure dropped the cached token")
	}
	answer = &IMError{Kind: IMRejected, Call: "token"}
	if _, err := c.Fresh(t.Context()); err != answer {
		t.Fatalf("Fresh returned %v, want the fetch's error", err)
	}
	if c.Current() != "" {
		t.Fatal("refused credentials left their token cached")
	}
}
