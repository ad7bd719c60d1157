// Package dingtalk posts Herald messages to DingTalk custom robots
// (platforms.md D1): a markdown message that @-mentions the event's
// recipients by mobile, signed in the query when the robot has a "SEC…"
// secret. DingTalk answers HTTP 200 whatever happened; its errcode says
// what did.
package dingtalk

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/netguard"
	"github.com/heraldhq/herald/platform"
)

// Host and Path are where every custom-robot webhook points (SPEC §3).
const (
	Host = "oapi.dingtalk.com"
	Path = "/robot/send"
)

// The errcodes Send does not take as PERMANENT (platforms.md D1).
const (
	codeOK      = 0
	codeBusy    = -1     // "system busy"
	codeTooFast = 130101 // "send too fast, exceed 20 times per minute"
	codeTooMany = 660026 // "sending too many messages per minute"
)

// Platform sends messages to DingTalk custom robots. It is stateless and
// safe for concurrent use.
type Platform struct{}

var _ platform.Platform = (*Platform)(nil)

// New returns the DingTalk platform.
func New() *Platform { return &Platform{} }

// Type returns herald.DingTalk.
func (*Platform) Type() herald.WebhookType { return herald.DingTalk }

// Limits is DingTalk's documented limit of 20 messages a minute per robot.
func (*Platform) Limits() []platform.Limit { return []platform.Limit{{N: 20, Per: time.Minute}} }

// CheckURL accepts https://oapi.dingtalk.com/robot/send?access_token=…: the
// host oapi.dingtalk.com, the path exactly /robot/send and a non-empty
// access_token. Its errors never quote the token.
func (*Platform) CheckURL(u *url.URL) error {
	if err := netguard.CheckHost(herald.DingTalk, u, Host); err != nil {
		return err
	}
	if u.Path != Path {
		return fmt.Errorf("path must be %s for %s webhooks", Path, herald.DingTalk)
	}
	if u.Query().Get("access_token") == "" {
		return fmt.Errorf("%s webhook URLs must carry the robot's access_token query parameter", herald.DingTalk)
	}
	return nil
}

// Send renders the message (Render), signs the URL when the webhook has a
// signing secret, posts it and classifies DingTalk's answer by its errcode:
//
//	0                      SUCCESS
//	130101, 660026         RATE_LIMITED (rate limits)
//	-1                     RETRYABLE (system busy)
//	any other              PERMANENT: 310000 (keyword, signature, timestamp,
//	                       IP allowlist), 300001/300005 (unknown token),
//	                       40035 (missing parameter), 4004xx (invalid
//	                       payload), 460101 (too long), …
//
// A 200 without an errcode is RETRYABLE; any other HTTP status is
// classified by platform.Answer. PlatformCode is the errcode; Error carries
// DingTalk's errmsg. Neither the URL nor the secret appears in the Result.
func (*Platform) Send(ctx context.Context, c *http.Client, req *platform.Request) platform.Result {
	body, err := Render(req.Message)
	if err != nil {
		return platform.Result{Outcome: herald.OutcomePermanent, Error: "rendering the DingTalk message: " + err.Error()}
	}
	target, err := signedURL(req.Webhook.URL, req.Webhook.SigningSecret, req.Time())
	if err != nil {
		return platform.Result{Outcome: herald.OutcomePermanent, Error: err.Error(), RequestBody: string(body)}
	}
	// DingTalk asks for UTF-8 to be stated.
	header := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	return platform.Exchange(ctx, c, target, header, body, classify)
}

// signedURL adds timestamp (Unix milliseconds of now) and sign to the query
// of webhook when secret is set, replacing any already there; the
// access_token stays. Its error does not quote the URL.
func signedURL(webhook, secret string, now time.Time) (string, error) {
	if secret == "" {
		return webhook, nil
	}
	u, err := url.Parse(webhook)
	if err != nil {
		return "", errors.New("the DingTalk webhook URL cannot be parsed")
	}
	ts := now.UnixMilli()
	q := u.Query()
	q.Set("timestamp", strconv.FormatInt(ts, 10))
	q.Set("sign", sign(secret, ts)) // Encode URL-encodes it, as DingTalk asks
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// sign is DingTalk's signature: base64 of HMAC-SHA256, keyed by the
// secret, of the timestamp in milliseconds, a line feed and the secret.
func sign(secret string, timestampMillis int64) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(strconv.FormatInt(timestampMillis, 10) + "\n" + secret))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// classify reads a robot's answer (platforms.md §0 and D1) by its errcode
// (see outcome); errmsg, whose newer forms add a long "solution" and a
// link, is cut.
//
// A RATE_LIMITED errcode asks for no delay of its own (DingTalk sends no
// Retry-After). Going over 20 a minute throttles the robot for ten
// minutes, but Herald does not ask the engine to wait that long: the
// engine already paces each robot at 20 a minute (Limits), so its retries
// cannot themselves go over the limit; rate-limited attempts do not use up
// the schedule; the throttle may have started well before this answer
// (another sender on the same robot); and its length is documented only
// second-hand. The engine's own delay gets the message through as soon as
// the robot takes messages again.
var classify = (&platform.Errcode{Name: "DingTalk", Outcome: outcome}).Classify

// outcome is what a 200 answer's errcode means.
func outcome(code int) herald.Outcome {
	switch code {
	case codeOK:
		return herald.OutcomeSuccess
	case codeTooFast, codeTooMany:
		return herald.OutcomeRateLimited
	case codeBusy:
		return herald.OutcomeRetryable
	}
	// The request itself is wrong (310000 keyword, signature, timestamp or
	// IP allowlist; 300001/300005 unknown token; 40035 missing parameter;
	// invalid or too long payloads; a disabled robot …): sending it again
	// cannot help.
	return herald.OutcomePermanent
}
