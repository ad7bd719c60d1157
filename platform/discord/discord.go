// Package discord posts Herald messages to Discord webhooks (platforms.md
// B, "Execute Webhook"): one embed in the level colour, sent with
// ?wait=true so that Discord answers 200 with the message it saved, or a
// 4xx whose JSON body carries Discord's own error code.
package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/netguard"
	"github.com/heraldhq/herald/platform"
)

// hosts are the hosts a Discord webhook URL may name (SPEC §3).
var hosts = []string{"discord.com", "discordapp.com"}

// webhookPath is the path of an execute-webhook URL: /api, an optional API
// version, /webhooks/{id}/{token}; the id is a snowflake.
var webhookPath = regexp.MustCompile(`^/api(/v[0-9]+)?/webhooks/[0-9]+/[^/]+$`)

// Codes of Discord's JSON errors that Herald treats specially.
const (
	// codeCloudflareBlock is Discord's edge refusing the caller's network
	// (a temporary Cloudflare ban, or a blocked User-Agent).
	codeCloudflareBlock = 40333
)

// maxMessage is how much of Discord's error message the Result's Error keeps.
const maxMessage = 200

// maxRetryAfter bounds the delay read from an answer, so that a bogus
// value cannot overflow a time.Duration; the engine bounds it further.
const maxRetryAfter = 7 * 24 * time.Hour

// Platform sends messages to Discord webhooks. It is stateless and safe for
// concurrent use.
type Platform struct{}

var _ platform.Platform = (*Platform)(nil)

// New returns the Discord platform.
func New() *Platform { return &Platform{} }

// Type returns herald.Discord.
func (*Platform) Type() herald.WebhookType { return herald.Discord }

// Limits is 5 messages per 2 seconds per webhook (SPEC §3). Discord's own
// figure is undocumented; its 429 answers, retried as asked, cover the rest.
func (*Platform) Limits() []platform.Limit {
	return []platform.Limit{{N: 5, Per: 2 * time.Second}}
}

// CheckURL accepts URLs whose host is discord.com or discordapp.com and
// whose path is /api/webhooks/{id}/{token}, optionally with a version
// (/api/v10/webhooks/…). Paths with more segments, such as the
// Slack-compatible …/slack, are refused: they take other payloads. Its
// errors name the host or the expected shape, never the token.
func (*Platform) CheckURL(u *url.URL) error {
	if err := netguard.CheckHost(herald.Discord, u, hosts...); err != nil {
		return err
	}
	if !webhookPath.MatchString(u.Path) {
		return fmt.Errorf("path must be /api/webhooks/{id}/{token} for %s webhooks", herald.Discord)
	}
	return nil
}

// Send renders the message, posts it to the webhook URL with wait=true added
// to its query (other parameters, such as thread_id, are kept) and
// classifies Discord's answer:
//
//   - 200 (the saved message) or 204: SUCCESS;
//   - 429: RATE_LIMITED, after the body's retry_after (float seconds), else
//     the Retry-After header, else X-RateLimit-Reset-After;
//   - 5xx (130000 "API overloaded" among them) and 408: RETRYABLE;
//   - 40333, and a 403 without a Discord JSON body: RETRYABLE, because it is
//     Discord's edge (Cloudflare) refusing Herald's network for a while,
//     not this request being wrong: every Discord webhook would fail with
//     it, and the ban lifts by itself;
//   - every other status: PERMANENT (10015 unknown webhook, 50027 invalid
//     token, 50035 invalid form body, 50006 empty message, 40005 too large).
//
// The JSON body's code becomes the PlatformCode; the Error quotes Discord's
// message. Errors never contain the webhook URL.
func (*Platform) Send(ctx context.Context, c *http.Client, req *platform.Request) platform.Result {
	body, err := Render(req.Message)
	if err != nil {
		return platform.Result{Outcome: herald.OutcomePermanent, Error: "rendering the Discord message: " + err.Error()}
	}
	target, err := withWait(req.Webhook.URL)
	if err != nil {
		return platform.Result{Outcome: herald.OutcomePermanent, Error: err.Error(), RequestBody: string(body)}
	}
	return platform.Exchange(ctx, c, target, nil, body, classify)
}

// withWait returns the webhook URL asking Discord to wait for the message to
// be saved: without it Discord answers 204 before it has checked
// everything, and "a message that is not saved does not return an error".
func withWait(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("the webhook URL cannot be parsed")
	}
	q := u.Query()
	q.Set("wait", "true")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// answer is the part of Discord's JSON answers that classify reads: the
// error body {"code","message","errors"} and the 429 body
// {"message","retry_after","global"}.
type answer struct {
	Code       *int64   `json:"code"`
	Message    string   `json:"message"`
	RetryAfter *float64 `json:"retry_after"`
	Global     bool     `json:"global"`
}

// classify reads an execute-webhook answer (platforms.md §0 and B).
func classify(resp *platform.Response, requestBody []byte, now time.Time) platform.Result {
	r := platform.Answer(resp, requestBody, now)
	if r.Outcome == herald.OutcomeSuccess {
		return r
	}
	var a answer
	isJSON := json.Unmarshal(resp.Body, &a) == nil
	if isJSON && a.Code != nil {
		r.PlatformCode = strconv.FormatInt(*a.Code, 10)
	}
	switch {
	case resp.Status == http.StatusTooManyRequests:
		if a.RetryAfter != nil && *a.RetryAfter > 0 {
			r.RetryAfter = seconds(*a.RetryAfter)
		} else if r.RetryAfter == 0 {
			if s, err := strconv.ParseFloat(resp.Header.Get("X-RateLimit-Reset-After"), 64); err == nil && s > 0 {
				r.RetryAfter = seconds(s)
			}
		}
	case r.PlatformCode == strconv.Itoa(codeCloudflareBlock),
		resp.Status == http.StatusForbidden && (!isJSON || a.Code == nil):
		r.Outcome = herald.OutcomeRetryable
	}
	r.Error = errorText(resp.Status, r.PlatformCode, a.Message, a.Global)
	return r
}

// errorText is the Result's Error: "Discord answered 404 10015 Unknown
// Webhook", with Discord's message cleaned and cut.
func errorText(status int, code, msg string, global bool) string {
	parts := []string{"Discord answered", strconv.Itoa(status)}
	if code != "" {
		parts = append(parts, code)
	}
	msg = strings.Join(strings.Fields(strings.ToValidUTF8(msg, "")), " ")
	if msg != "" {
		parts = append(parts, message.Truncate(msg, maxMessage))
	}
	if global {
		parts = append(parts, "(global rate limit)")
	}
	return strings.Join(parts, " ")
}

// seconds converts Discord's float seconds to a Duration, bounded, to the
// millisecond Discord gives them in (64.57 is 64.57 s, not 64.569999999 s).
func seconds(s float64) time.Duration {
	if math.IsNaN(s) || s <= 0 {
		return 0
	}
	return time.Duration(math.Round(math.Min(s, maxRetryAfter.Seconds())*1000)) * time.Millisecond
}
