// Package wecom posts Herald messages to WeCom (企业微信) group robots
// (platforms.md F1): markdown content of at most 4096 bytes, posted to
// https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…, and answered with
// HTTP 200 whether it worked or not: the body's errcode says which. Its
// Messenger (im.go) sends direct messages as a self-built app
// (platforms.md F2).
package wecom

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/netguard"
	"github.com/heraldhq/herald/platform"
)

// host is the only host a group-robot webhook URL may name, and path its
// only path; the robot is told apart by the "key" query parameter, which is
// its credential.
const (
	host = "qyapi.weixin.qq.com"
	path = "/cgi-bin/webhook/send"
)

// Errcodes of platforms.md F1 that outcome tells apart; every other
// non-zero errcode (93000 unknown key, 93004 robot disabled, 40058 invalid
// parameter, …) is a refusal.
const (
	codeOK          = 0
	codeSystemBusy  = -1
	codeRateLimited = 45009 // over 20 messages a minute; failed sends count too
)

// RateLimitDelay is how long Herald waits after a 45009. WeCom sends no
// Retry-After; its limit is 20 messages in a minute and every request,
// refused ones too, counts, so retrying sooner would most likely be refused
// again and keep the robot throttled. A minute is the longest the window
// can take to clear. The engine holds the webhook's other deliveries for as
// long.
const RateLimitDelay = time.Minute

// Platform sends messages to WeCom group robots. It is stateless and safe
// for concurrent use.
type Platform struct{}

var _ platform.Platform = (*Platform)(nil)

// New returns the WeCom platform.
func New() *Platform { return &Platform{} }

// Type returns herald.WeCom.
func (*Platform) Type() herald.WebhookType { return herald.WeCom }

// Limits is WeCom's own limit for one robot: 20 messages a minute.
func (*Platform) Limits() []platform.Limit { return []platform.Limit{{N: 20, Per: time.Minute}} }

// CheckURL accepts https://qyapi.weixin.qq.com/cgi-bin/webhook/send with a
// non-empty key query parameter. Its errors name the host or the expected
// path, never the URL's own path or key.
func (*Platform) CheckURL(u *url.URL) error {
	if err := netguard.CheckHost(herald.WeCom, u, host); err != nil {
		return err
	}
	if u.Path != path {
		return fmt.Errorf("path must be %s for %s webhooks", path, herald.WeCom)
	}
	if strings.TrimSpace(u.Query().Get("key")) == "" {
		return fmt.Errorf("the %s webhook URL must carry the robot's key query parameter (%s?key=…)", herald.WeCom, path)
	}
	return nil
}

// Send renders the message (Render), posts it to the webhook URL and
// classifies WeCom's answer by its errcode (see Classify). Errors never
// contain the webhook URL.
func (*Platform) Send(ctx context.Context, c *http.Client, req *platform.Request) platform.Result {
	body, err := Render(req.Message)
	if err != nil {
		return platform.Result{Outcome: herald.OutcomePermanent, Error: "rendering the WeCom message: " + err.Error()}
	}
	return platform.Exchange(ctx, c, req.Webhook.URL, nil, body, Classify)
}

// Classify reads WeCom's answer to a group-robot message. A status outside
// 2xx is judged by the status (platform.Answer). A 2xx is judged by the
// body alone, since WeCom answers 200 to failures too:
//
//	errcode 0                       SUCCESS
//	45009 (over 20 a minute)        RATE_LIMITED, retried after RateLimitDelay
//	-1 (system busy)                RETRYABLE
//	any other errcode               PERMANENT: 93000 unknown key or robot
//	                                removed, 93004 robot disabled, 93008 not in
//	                                the group, 40008, 44004, 45002, 40058,
//	                                40035 a message WeCom will never take
//	no JSON errcode                 RETRYABLE: not WeCom's answer (a proxy's
//	                                page), so the message may not have arrived
//
// PlatformCode is the errcode as a string; Error quotes errmsg, cut to 200
// characters, without the hint, IP and help URL WeCom appends to it. The
// 2xx rule covers 200, the only status WeCom uses, and any other 2xx an
// intermediary might send: only errcode 0 means WeCom took the message. The self-built app's
// message/send answers follow the same convention; a direct-message client
// can start from Classify and add what only they have (token codes such as
// 42001, a partial failure in invaliduser).
func Classify(resp *platform.Response, requestBody []byte, now time.Time) platform.Result {
	return answers.Classify(resp, requestBody, now)
}

// answers reads WeCom's errcodes (see Classify).
var answers = &platform.Errcode{Name: "WeCom", Outcome: outcome, RateLimitDelay: RateLimitDelay, Trim: trimErrmsg}

// outcome is what the errcode of a 2xx answer means.
func outcome(code int) herald.Outcome {
	switch code {
	case codeOK:
		return herald.OutcomeSuccess
	case codeRateLimited:
		return herald.OutcomeRateLimited
	case codeSystemBusy:
		return herald.OutcomeRetryable
	}
	return herald.OutcomePermanent
}

// trimErrmsg removes the suffix WeCom adds to every errmsg (", hint:
// [...], from ip: …, more info at https://…"), which says nothing the
// errcode does not and would clutter every log line.
func trimErrmsg(errmsg string) string {
	for _, cut := range []string{", hint:", " hint:", ", from ip:", ", more info at", " more info at"} {
		if i := strings.Index(errmsg, cut); i >= 0 {
			errmsg = errmsg[:i]
		}
	}
	return errmsg
}
