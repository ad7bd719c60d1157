package wecom

import (
	"context"
	"sync"
	"time"
)

// defaultTokenLifetime is how long WeCom's access tokens live (expires_in,
// 7200 s) when an answer does not say.
const defaultTokenLifetime = 2 * time.Hour

// tokenMargin is how long before its expiry a token is no longer used, so
// that a call made just before the expiry does not reach WeCom just after
// it: five minutes, or a tenth of a shorter lifetime.
const tokenMargin = 5 * time.Minute

// tokenCache holds one access token until shortly before it expires. A
// refresh runs in the caller's goroutine, one at a time: callers that find
// no usable token wait for the refresh in flight (or for their context)
// and share its token, so a burst of calls costs one gettoken. It starts
// no goroutine.
type tokenCache struct {
	fetch func(ctx context.Context) (token string, lifetime time.Duration, err error)
	now   func() time.Time
	// refreshing holds a token while a refresh runs: a channel rather than
	// a mutex, so that a waiter can give up when its context ends.
	refreshing chan struct{}

	mu    sync.Mutex
	token string
	until time.Time // when token stops being used
}

// init readies c to get its tokens from fetch.
func (c *tokenCache) init(fetch func(context.Context) (string, time.Duration, error)) {
	c.fetch, c.now, c.refreshing = fetch, time.Now, make(chan struct{}, 1)
}

// usable returns the cached token, or "" when there is none or it is too
// close to its expiry.
func (c *tokenCache) usable() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == "" || !c.now().Before(c.until) {
		return ""
	}
	return c.token
}

// current returns the cached token, usable or not (for redaction).
func (c *tokenCache) current() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// get returns the cached token, fetching one when there is none.
func (c *tokenCache) get(ctx context.Context) (string, error) {
	if t := c.usable(); t != "" {
		return t, nil
	}
	if err := c.lock(ctx); err != nil {
		return "", err
	}
	defer c.unlock()
	if t := c.usable(); t != "" {
		return t, nil // fetched while this call waited
	}
	return c.refresh(ctx)
}

// fresh fetches a new token, whatever is cached, and caches it.
func (c *tokenCache) fresh(ctx context.Context) (string, error) {
	if err := c.lock(ctx); err != nil {
		return "", err
	}
	defer c.unlock()
	return c.refresh(ctx)
}

// drop forgets token, if it is still the cached one: WeCom refused it. A
// newer token, fetched meanwhile by another call, stays.
func (c *tokenCache) drop(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if token != "" && c.token == token {
		c.token, c.until = "", time.Time{}
	}
}

func (c *tokenCache) lock(ctx context.Context) error {
	select {
	case c.refreshing <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *tokenCache) unlock() { <-c.refreshing }

// refresh fetches a token and caches it until tokenMargin before it
// expires. The caller holds the refresh lock.
func (c *tokenCache) refresh(ctx context.Context) (string, error) {
	t, lifetime, err := c.fetch(ctx)
	if err != nil {
		return "", err
	}
	if lifetime <= 0 {
		lifetime = defaultTokenLifetime
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.token, c.until = t, c.now().Add(lifetime-min(tokenMargin, lifetime/10))
	return t, nil
}
