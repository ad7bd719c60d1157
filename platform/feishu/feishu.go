// Package feishu posts Herald messages to Feishu and Lark custom-bot
// webhooks (platforms.md E1): an interactive card, signed in the body when
// the bot has a signing secret, answered with HTTP 200 and a body "code"
// that alone says whether the message was taken.
//
// Feishu (open.feishu.cn) and Lark (open.larksuite.com) are one service on
// two hosts, so one Platform type serves both: NewFeishu and NewLark differ
// only in their webhook type, host and name. Direct messages go through a
// Feishu or Lark app instead (Messenger, im.go), with the same card.
package feishu

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
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

// PathPrefix starts the path of every custom-bot webhook URL; the bot's
// token follows it.
const PathPrefix = "/open-apis/bot/v2/hook/"

// Codes of the custom bot's answers (platforms.md E1) that are not
// failures of the request itself; every other code is PERMANENT.
const (
	codeOK          = 0
	codeRateLimited = 11232 // over 5 per second or 100 per minute
)

// maxMessage is how much of the platform's message goes into an error.
const maxMessage = 200

// Platform sends messages to the custom-bot webhooks of one of the two
// hosts. It is stateless and safe for concurrent use.
type Platform struct {
	typ  herald.WebhookType
	host string
	name string // in errors: "Feishu" or "Lark"
}

var _ platform.Platform = (*Platform)(nil)

// NewFeishu returns the FEISHU platform (open.feishu.cn).
func NewFeishu() *Platform {
	return &Platform{typ: herald.Feishu, host: "open.feishu.cn", name: "Feishu"}
}

// NewLark returns the LARK platform (open.larksuite.com), Feishu's
// international edition.
func NewLark() *Platform {
	return &Platform{typ: herald.Lark, host: "open.larksuite.com", name: "Lark"}
}

// Type returns herald.Feishu or herald.Lark.
func (p *Platform) Type() herald.WebhookType { return p.typ }

// Limits is 5 messages per second and 100 per minute for one bot
// (platforms.md E1); beyond them the bot answers code 11232.
func (p *Platform) Limits() []platform.Limit {
	return []platform.Limit{{N: 5, Per: time.Second}, {N: 100, Per: time.Minute}}
}

// CheckURL accepts URLs on the platform's own host (a Feishu URL is not a
// Lark one) whose path is /open-apis/bot/v2/hook/{token}. Its errors name
// the host or the expected path shape, never the token.
func (p *Platform) CheckURL(u *url.URL) error {
	if err := netguard.CheckHost(p.typ, u, p.host); err != nil {
		return err
	}
	token, ok := strings.CutPrefix(u.Path, PathPrefix)
	if !ok || token == "" || strings.Contains(token, "/") {
		return fmt.Errorf("path must be %s{token} for %s webhooks", PathPrefix, p.typ)
	}
	return nil
}

// Send renders the card, signs it when the webhook has a signing secret
// (with req.Time()), posts it and classifies the answer by its body code,
// falling back to the legacy StatusCode when code is absent: 0 is SUCCESS;
// 11232 is RATE_LIMITED; every other code (19021 bad sign or stale
// timestamp, 19022 IP not allowed, 19024 keyword missing, 9499 bad request
// or too large, 19001 unknown webhook, …) is PERMANENT. HTTP 429 is
// RATE_LIMITED with Retry-After or x-ogw-ratelimit-reset, 408 and 5xx are
// RETRYABLE, and any other answer without a code (such as the gateway's
// plain-text 404 for a wrong path) is PERMANENT. Errors never contain the
// webhook URL or the secret; the request body holds the sign, not the
// secret.
func (p *Platform) Send(ctx context.Context, c *http.Client, req *platform.Request) platform.Result {
	card := Card(req.Message)
	env := envelope{MsgType: "interactive", Card: &card}
	if secret := req.Webhook.SigningSecret; secret != "" {
		env.Timestamp = strconv.FormatInt(req.Time().Unix(), 10)
		env.Sign = Sign(env.Timestamp, secret)
	}
	body := encode(env)
	return platform.Exchange(ctx, c, req.Webhook.URL, nil, body, p.classify)
}

// Sign returns the custom bot's signature of a request made at timestamp
// (Unix seconds, as sent): the base64 HMAC-SHA256 of an empty message,
// keyed with timestamp + "\n" + secret (platforms.md E1). It goes in the
// body as it is, not URL-encoded.
func Sign(timestamp, secret string) string {
	mac := hmac.New(sha256.New, []byte(timestamp+"\n"+secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// answer is the body of a custom-bot reply. Code and StatusCode are
// pointers because an absent code must not read as success.
type answer struct {
	Code          *int64 `json:"code"`
	Msg           string `json:"msg"`
	StatusCode    *int64 `json:"StatusCode"`
	StatusMessage string `json:"StatusMessage"`
}

// code returns the answer's code and message, from code and msg, else the
// legacy StatusCode and StatusMessage; ok is false when it has neither.
func (a answer) code() (code int64, msg string, ok bool) {
	switch {
	case a.Code != nil:
		return *a.Code, a.Msg, true
	case a.StatusCode != nil:
		return *a.StatusCode, a.StatusMessage, true
	}
	return 0, "", false
}

// classify reads a custom-bot answer (platforms.md §0 and E1).
func (p *Platform) classify(resp *platform.Response, requestBody []byte, now time.Time) platform.Result {
	r := platform.Answer(resp, requestBody, now)
	var a answer
	code, msg, hasCode := int64(0), "", false
	if json.Unmarshal(resp.Body, &a) == nil {
		code, msg, hasCode = a.code()
	}
	if hasCode {
		r.PlatformCode = strconv.FormatInt(code, 10)
	}
	switch {
	case resp.Status == http.StatusTooManyRequests || (hasCode && code == codeRateLimited):
		r.Outcome = herald.OutcomeRateLimited
		r.RetryAfter = retryAfter(resp.Header, now)
	case r.Outcome == herald.OutcomeRetryable:
		// 408 and 5xx: the platform had trouble, whatever the body says.
	case !hasCode:
		// Feishu answers everything it routes with a code; anything else
		// (the gateway's "404 page not found", a 2xx from something that
		// is not Feishu) cannot be taken for a delivery.
		r.Outcome = herald.OutcomePermanent
	case code == codeOK && r.Outcome == herald.OutcomeSuccess:
		r.Error = ""
		return r
	default:
		r.Outcome = herald.OutcomePermanent
	}
	if hasCode {
		r.Error = fmt.Sprintf("%s answered code %d", p.name, code)
		if msg = clean(msg); msg != "" {
			r.Error += ": " + msg
		}
		if resp.Status != http.StatusOK {
			r.Error += fmt.Sprintf(" (HTTP %d)", resp.Status)
		}
	} else {
		r.Error = fmt.Sprintf("%s answered HTTP %d", p.name, resp.Status)
		if body := clean(string(resp.Body)); body != "" {
			r.Error += ": " + body
		}
	}
	return r
}

// retryAfter is the delay a rate-limit answer asks for: Retry-After, else
// the Open API gateway's x-ogw-ratelimit-reset (seconds); zero when
// neither is given, so the engine falls back to its retry schedule.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if d := platform.RetryAfter(h, now); d > 0 {
		return d
	}
	if secs, err := strconv.ParseFloat(strings.TrimSpace(h.Get("X-Ogw-Ratelimit-Reset")), 64); err == nil && secs > 0 {
		return time.Duration(secs * float64(time.Second))
	}
	return 0
}

// clean makes a platform message fit for an error: one short line of
// valid UTF-8.
func clean(s string) string {
	s = strings.Join(strings.Fields(strings.ToValidUTF8(s, "")), " ")
	return message.Truncate(s, maxMessage)
}
