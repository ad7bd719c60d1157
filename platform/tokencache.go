package platform

import (
	"context"
	"errors"
	"sync"
	"time"
)

// TokenCache holds an IM app's access token until shortly before it
// expires, for the IM clients: Teams, DingTalk, Feishu/Lark and WeCom all
// trade an app's credentials for a token that lasts about two hours.
//
// A fetch runs in the caller's goroutine, one at a time: callers that find
// no usable token wait for the fetch in flight (or for their context) and
// share its token, so a burst of calls costs one request. A fetch that
// fails leaves nothing behind for the waiters, who then fetch themselves;
// one whose credentials are refused (IMRejected) also forgets the cached
// token, which those credentials can no longer renew. It starts no
// goroutine and is safe for concurrent use.
type TokenCache struct {
	now   func() time.Time
	fetch func(ctx context.Context) (token string, useFor time.Duration, err error)
	// fetching holds a value while a fetch runs: a channel rather than a
	// mutex, so that a waiter can give up when its context ends.
	fetching chan struct{}

	mu    sync.Mutex
	token string
	until time.Time // when token stops being used
}

// NewTokenCache returns a cache whose tokens come from fetch, which
// returns a token and how long to use it (its lifetime less the platform's
// safety margin); now is the clock. Get and Fresh return fetch's errors,
// or the context's error when the caller gave up waiting for another's
// fetch.
func NewTokenCache(now func() time.Time, fetch func(context.Context) (string, time.Duration, error)) *TokenCache {
	return &TokenCache{now: now, fetch: fetch, fetching: make(chan struct{}, 1)}
}

// Get returns the cached token, or fetches one when there is none or it
// is due for renewal.
func (c *TokenCache) Get(ctx context.Context) (string, error) {
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

// Fresh fetches a new token, whatever is cached, and caches it: what a
// check of the credentials needs.
func (c *TokenCache) Fresh(ctx context.Context) (string, error) {
	if err := c.lock(ctx); err != nil {
		return "", err
	}
	defer c.unlock()
	return c.refresh(ctx)
}

// Drop forgets token if it is still the cached one: the platform refused
// it (expired or revoked). A newer token, fetched meanwhile, stays.
func (c *TokenCache) Drop(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if token != "" && c.token == token {
		c.token, c.until = "", time.Time{}
	}
}

// Current returns the cached token, usable or not: what an error must be
// scrubbed of.
func (c *TokenCache) Current() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

func (c *TokenCache) usable() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == "" || !c.now().Before(c.until) {
		return ""
	}
	return c.token
}

func (c *TokenCache) lock(ctx context.Context) error {
	select {
	case c.fetching <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *TokenCache) unlock() { <-c.fetching }

// refresh fetches a token and caches it. The caller holds the fetch lock.
func (c *TokenCache) refresh(ctx context.Context) (string, error) {
	t, useFor, err := c.fetch(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		var e *IMError
		if errors.As(err, &e) && e.Kind == IMRejected {
			c.token, c.until = "", time.Time{}
		}
		return "", err
	}
	c.token, c.until = t, c.now().Add(useFor)
	return t, nil
}
