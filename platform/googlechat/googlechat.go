// Package googlechat posts Herald messages to Google Chat incoming webhooks
// (platforms.md F2): one cardsV2 card per message, posted to
// https://chat.googleapis.com/v1/spaces/{space}/messages?key=…&token=…, and
// answered with HTTP 200 and the created message, or a Google JSON error
// {"error": {"code", "message", "status"}}.
package googlechat

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/netguard"
	"github.com/heraldhq/herald/platform"
)

// Host is the only host a Google Chat webhook URL may name.
const Host = "chat.googleapis.com"

// pathPattern is the path of every incoming-webhook URL; space ids are
// letters, digits, "-" and "_" (e.g. AAAABhyUB4U).
var pathPattern = regexp.MustCompile(`^/v1/spaces/[A-Za-z0-9_-]+/messages$`)

// Cuts of what Herald keeps of an error answer.
const (
	maxCode    = 64
	maxMessage = 300
)

// contentType is what Google's own samples send.
const contentType = "application/json; charset=UTF-8"

// Platform sends messages to Google Chat incoming webhooks. It is stateless
// and safe for concurrent use.
type Platform struct{}

var _ platform.Platform = (*Platform)(nil)

// New returns the Google Chat platform.
func New() *Platform { return &Platform{} }

// Type returns herald.GoogleChat.
func (*Platform) Type() herald.WebhookType { return herald.GoogleChat }

// Limits is one message per second per webhook: Chat's per-space write
// quota (platforms.md F2), which all the space's webhooks and apps share.
func (*Platform) Limits() []platform.Limit { return []platform.Limit{{N: 1, Per: time.Second}} }

// CheckURL accepts https://chat.googleapis.com/v1/spaces/{space}/messages
// with non-empty key and token query parameters (other parameters, such as
// threadKey, are kept). Google serves the API over https only. Its errors
// name the host or the expected shape, never the URL's path or query, which
// carry the credential.
func (*Platform) CheckURL(u *url.URL) error {
	if err := netguard.CheckHost(herald.GoogleChat, u, Host); err != nil {
		return err
	}
	if u.Scheme != "https" {
		return fmt.Errorf("host %q serves %s webhooks over https only", strings.ToLower(u.Hostname()), herald.GoogleChat)
	}
	if p := u.Port(); p != "" && p != "443" {
		return fmt.Errorf("host %q serves %s webhooks on port 443 only", strings.ToLower(u.Hostname()), herald.GoogleChat)
	}
	if !pathPattern.MatchString(u.Path) {
		return fmt.Errorf("path must be /v1/spaces/{space}/messages for %s webhooks", herald.GoogleChat)
	}
	q := u.Query()
	if q.Get("key") == "" || q.Get("token") == "" {
		return fmt.Errorf("%s webhook URLs must carry both the key and the token query parameters that Google Chat issued", herald.GoogleChat)
	}
	return nil
}

// Send renders the message, posts it to the webhook URL and classifies
// Google's answer: 2xx is SUCCESS; 429 (RESOURCE_EXHAUSTED) is
// RATE_LIMITED and 408 or 5xx (UNAVAILABLE, INTERNAL) RETRYABLE, both with
// the Retry-After delay when Google sends one; every other status (400
// INVALID_ARGUMENT, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404
// NOT_FOUND) is PERMANENT. The error's status is the PlatformCode and its
// message goes into Error. Neither the errors nor the recorded bodies ever
// contain the URL or its key and token.
func (*Platform) Send(ctx context.Context, c *http.Client, req *platform.Request) platform.Result {
	body, err := Render(req.Message)
	if err != nil {
		return platform.Result{Outcome: herald.OutcomePermanent, Error: "rendering the Google Chat message: " + err.Error()}
	}
	credentials := secrets(req.Webhook.URL)
	return platform.Exchange(ctx, c, req.Webhook.URL, http.Header{"Content-Type": {contentType}}, body,
		func(resp *platform.Response, requestBody []byte, now time.Time) platform.Result {
			return classify(resp, requestBody, now, credentials)
		})
}

// googleError is the body of Google's error answers.
type googleError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
	} `json:"error"`
}

// classify reads a webhook answer (platforms.md F2). secrets are removed
// from what is recorded: some Google errors quote the API key.
func classify(resp *platform.Response, requestBody []byte, now time.Time, secrets []string) platform.Result {
	r := platform.Answer(resp, requestBody, now)
	r.ResponseBody = redact(r.ResponseBody, secrets)
	if r.Outcome == herald.OutcomeSuccess {
		return r
	}
	var ge googleError
	if json.Unmarshal(resp.Body, &ge) != nil || (ge.Error.Status == "" && ge.Error.Message == "") {
		r.Error = fmt.Sprintf("Google Chat answered HTTP %d", resp.Status)
		return r
	}
	r.PlatformCode = message.Truncate(clean(ge.Error.Status), maxCode)
	r.Error = strings.TrimSpace(fmt.Sprintf("Google Chat answered %d %s", resp.Status, r.PlatformCode))
	if msg := clean(ge.Error.Message); msg != "" {
		r.Error += ": " + message.Truncate(redact(msg, secrets), maxMessage)
	}
	return r
}

// clean makes text from an answer fit for one line of the delivery log.
func clean(s string) string {
	return strings.Join(strings.Fields(strings.ToValidUTF8(s, "")), " ")
}

// secrets returns the credential parts of a webhook URL, raw and escaped,
// so that they can be removed from what is recorded.
func secrets(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	var out []string
	for _, name := range []string{"key", "token"} {
		for _, v := range u.Query()[name] {
			if v != "" {
				out = append(out, v, url.QueryEscape(v))
			}
		}
	}
	return out
}

// minSecret is the shortest value redact removes: Google's keys and tokens
// are about 40 characters, and removing a few letters everywhere would
// only garble the text.
const minSecret = 6

// redact replaces every secret in s with "****".
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= minSecret {
			s = strings.ReplaceAll(s, sec, "****")
		}
	}
	return s
}
