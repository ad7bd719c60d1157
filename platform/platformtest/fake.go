package platformtest

import (
	"encoding/json"
	"testing"
	"time"
)

// Fake is what every fake platform server offers the end-to-end tests, so
// that one test can drive every platform through the real engine.
type Fake interface {
	// NewHook registers a webhook and returns its URL. o sets the security
	// settings the platform has (a signing secret, a keyword); a platform
	// without them ignores them.
	NewHook(o HookOptions) string
	// Accepted returns the messages accepted for the webhook of hookURL.
	Accepted(hookURL string) []json.RawMessage
	// WaitAccepted waits for n of them, or fails the test.
	WaitAccepted(t testing.TB, hookURL string, n int, timeout time.Duration) []json.RawMessage
	// Requests returns every request received, accepted or not.
	Requests() []Request
	// RateLimitNext makes the next n requests get the platform's own
	// rate-limit answer (its status, body code and headers).
	RateLimitNext(n int)
	// RejectNext makes the next n requests get one of the platform's
	// answers for a request that is wrong (an unknown webhook, a bad
	// signature), and returns the platform code Herald should record for
	// it (empty when the platform has none).
	RejectNext(n int) (platformCode string)
}

// HookOptions are a webhook's security settings on its platform.
type HookOptions struct {
	// Secret is the signing secret the platform checks (DingTalk "SEC…",
	// Feishu/Lark, Standard Webhooks "whsec_…").
	Secret string
	// Keyword is a word every message must contain (DingTalk, Feishu/Lark
	// keyword security).
	Keyword string
	// Legacy asks for the older form of the platform's webhook where it has
	// two (Teams: an Office 365 connector rather than a Workflows URL).
	Legacy bool
}
