// Package slack posts Herald messages to Slack incoming webhooks
// (platforms.md A1): Block Kit blocks inside one attachment that carries the
// level colour, answered by Slack with HTTP 200 and the plain-text body "ok".
package slack

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/netguard"
	"github.com/heraldhq/herald/platform"
)

// hosts are the hosts a Slack webhook URL may name: Slack and GovSlack.
var hosts = []string{"hooks.slack.com", "hooks.slack-gov.com"}

// pathPrefix starts the path of every incoming-webhook URL.
const pathPrefix = "/services/"

// maxCode is how much of an error body is kept as the platform code.
const maxCode = 100

// Platform sends messages to Slack incoming webhooks. It is stateless and
// safe for concurrent use.
type Platform struct{}

var _ platform.Platform = (*Platform)(nil)

// New returns the Slack platform.
func New() *Platform { return &Platform{} }

// Type returns herald.Slack.
func (*Platform) Type() herald.WebhookType { return herald.Slack }

// Limits is about one message per second per webhook (platforms.md A1).
func (*Platform) Limits() []platform.Limit { return []platform.Limit{{N: 1, Per: time.Second}} }

// CheckURL accepts URLs whose host is hooks.slack.com or
// hooks.slack-gov.com and whose path starts with /services/. Its errors name
// the host, never the secret path.
func (*Platform) CheckURL(u *url.URL) error {
	if err := netguard.CheckHost(herald.Slack, u, hosts...); err != nil {
		return err
	}
	if !strings.HasPrefix(u.Path, pathPrefix) {
		return fmt.Errorf("path must start with %s for %s webhooks", pathPrefix, herald.Slack)
	}
	return nil
}

// Send renders the message, posts it to the webhook URL and classifies Slack's answer: 200 "ok" is
// SUCCESS; any other 2xx answer is PERMANENT, because Slack accepts a message
// with nothing else; 429 is RATE_LIMITED and 408 or 5xx RETRYABLE, both with
// the Retry-After delay; every other status is PERMANENT. The plain-text code
// Slack answers with ("channel_not_found", …) becomes the PlatformCode.
// Errors never contain the webhook URL.
func (*Platform) Send(ctx context.Context, c *http.Client, req *platform.Request) platform.Result {
	body, err := Render(req.Message)
	if err != nil {
		return platform.Result{Outcome: herald.OutcomePermanent, Error: "rendering the Slack message: " + err.Error()}
	}
	return platform.Exchange(ctx, c, req.Webhook.URL, nil, body, classify)
}

// classify reads an incoming-webhook answer (platforms.md §0 and A1).
func classify(resp *platform.Response, requestBody []byte, now time.Time) platform.Result {
	r := platform.Answer(resp, requestBody, now)
	if resp.Status == http.StatusOK && string(resp.Body) == "ok" {
		r.PlatformCode = "ok"
		return r
	}
	if r.Outcome == herald.OutcomeSuccess {
		// Slack answers every message it accepts with 200 "ok"; anything
		// else it says in a 2xx is a refusal we must not count as delivered.
		r.Outcome = herald.OutcomePermanent
	}
	r.PlatformCode = message.Truncate(strings.TrimSpace(strings.ToValidUTF8(string(resp.Body), "")), maxCode)
	r.Error = strings.TrimSpace("Slack answered " + strconv.Itoa(resp.Status) + " " + r.PlatformCode)
	return r
}
