// Package platform defines what every chat platform (and the generic CUSTOM
// endpoint) implements: check a webhook URL, render a message, post it, and
// say what the answer means. The engine around it — retries, rate limits,
// the delivery log, metrics — is written once, in package deliver.
//
// Each platform lives in its own package under platform/ and can be read,
// reviewed and tested alone.
package platform

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
)

// Platform sends messages to one webhook type.
type Platform interface {
	// Type is the webhook type this platform serves.
	Type() herald.WebhookType
	// CheckURL checks the host and path of a webhook URL against the
	// platform's rules (SPEC §3). The scheme, the operator's allowed hosts
	// and the dial-time address check are applied around it, by netguard.
	CheckURL(u *url.URL) error
	// Send posts one message and classifies the answer. It never returns
	// an error: every failure is a Result with an Outcome.
	Send(ctx context.Context, c *http.Client, req *Request) Result
	// Limits are the platform's rate limits for one webhook (SPEC §3); the
	// engine sends no faster. None means no limit.
	Limits() []Limit
}

// Limit is "at most N requests in any window of Per".
type Limit struct {
	N   int
	Per time.Duration
}

// Request is one message to one webhook.
type Request struct {
	// Webhook carries the plaintext URL, signing secret and keyword.
	Webhook *herald.Webhook
	// Message is the platform-neutral message, already carrying the
	// webhook's keyword (the engine applies it; platforms render it).
	Message *message.Message
	// Project, Event and the delivery's name and id are what CUSTOM webhooks
	// receive verbatim (SPEC §6).
	Project      *herald.Project
	Event        *herald.Event
	DeliveryName string
	DeliveryID   string
	// Now is the time used for signatures; zero means time.Now.
	Now time.Time
}

// Time returns the request's clock reading.
func (r *Request) Time() time.Time {
	if r.Now.IsZero() {
		return time.Now()
	}
	return r.Now
}

// Result is what happened to one request.
type Result struct {
	Outcome herald.Outcome
	// HTTPStatus is zero when no answer arrived.
	HTTPStatus int
	// PlatformCode is the platform's own code from the body ("ok",
	// "invalid_payload", "310000", …), when it sent one.
	PlatformCode string
	// Error says what went wrong, without secrets.
	Error string
	// RetryAfter is the delay the platform asked for, or zero.
	RetryAfter time.Duration
	// DisableReason, when set, asks the engine to disable the webhook
	// (a CUSTOM endpoint answering 410 Gone).
	DisableReason string
	// CredentialsRejected says an IM app's credentials were refused
	// (direct messages only): the delivery falls back to the channel.
	CredentialsRejected bool
	// RequestBody and ResponseBody are what went over the wire, for the
	// delivery log; they hold no secrets.
	RequestBody  string
	ResponseBody string
}

// Registry finds the platform of a webhook type.
type Registry map[herald.WebhookType]Platform

// NewRegistry returns a registry of the given platforms.
func NewRegistry(ps ...Platform) Registry {
	r := make(Registry, len(ps))
	for _, p := range ps {
		r[p.Type()] = p
	}
	return r
}

// Get returns the platform of t, or false when Herald has none.
func (r Registry) Get(t herald.WebhookType) (Platform, bool) {
	p, ok := r[t]
	return p, ok
}
