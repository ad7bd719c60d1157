package platformtest

import (
	"encoding/json"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/platform"
)

// IMFake is what every fake IM API (the APIs direct messages go through)
// offers the end-to-end tests, so that one test drives every platform: a
// user directory, credentials whose tokens can be made to expire, error
// injection, and a record of the direct messages each user received.
type IMFake interface {
	// Endpoints points Herald's IM base URLs for this platform at the fake.
	Endpoints(e *platform.IMEndpoints)
	// Settings returns credentials the fake accepts.
	Settings() herald.IMSettings
	// AddUser adds a person to the platform's directory and returns their
	// platform user id; lookups by the user's email (or, where the platform
	// looks people up by phone, their phone) find them.
	AddUser(u herald.User) string
	// DMs returns the messages the user received directly, in order.
	DMs(userID string) []json.RawMessage
	// ExpireTokens makes every access token issued so far expired: the
	// next call with one gets the platform's expired-token answer.
	ExpireTokens()
	// RejectCredentials makes the app's credentials invalid from now on
	// (a revoked token, a changed secret).
	RejectCredentials()
	// FailNextSends makes the next n message sends fail with the
	// platform's transient answer (5xx or "system busy").
	FailNextSends(n int)
	// HoldSendsAfter lets n more message sends through and then holds
	// every further one unanswered until Release (or until the fake
	// closes): a test can kill Herald while a send is in flight.
	HoldSendsAfter(n int)
	// Release answers the held sends (as failures) and stops holding.
	Release()
	// Sends counts the message-send requests received, answered or not.
	Sends() int
}
