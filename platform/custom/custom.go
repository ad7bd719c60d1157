// Package custom posts events to any HTTP endpoint as Standard Webhooks
// (SPEC §6, standardwebhooks.com): a JSON envelope of the project, the event
// and the delivery name, signed with the webhook's whsec_ secret.
package custom

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/platform"
)

// DisableReason is what a webhook's disabledReason says after its endpoint
// answered 410 Gone.
const DisableReason = "endpoint answered 410 Gone"

// Platform sends events to CUSTOM webhooks. It is stateless and safe for
// concurrent use.
type Platform struct{}

var _ platform.Platform = (*Platform)(nil)

// New returns the CUSTOM platform.
func New() *Platform { return &Platform{} }

// Type returns herald.Custom.
func (*Platform) Type() herald.WebhookType { return herald.Custom }

// Limits is none: a generic endpoint says so itself, with 429.
func (*Platform) Limits() []platform.Limit { return nil }

// CheckURL accepts every host and path: a CUSTOM endpoint can be anywhere
// the network policy lets Herald reach.
func (*Platform) CheckURL(*url.URL) error { return nil }

// Envelope is the body of every CUSTOM request (SPEC §6). Its fields are in
// a fixed order, so the same request always has the same bytes.
type Envelope struct {
	Type herald.EventType `json:"type"`
	// Timestamp is the request time in UTC, RFC 3339.
	Timestamp string `json:"timestamp"`
	Data      Data   `json:"data"`
}

// Data is what the envelope carries: the project and the event as the API
// returns them (the event without its deliveries) and the delivery's name.
type Data struct {
	Project  *herald.Project `json:"project"`
	Event    *herald.Event   `json:"event"`
	Delivery string          `json:"delivery"`
}

// Body returns the JSON body of a request: the Envelope of its project,
// event (without deliveries; eventId is kept) and delivery name, stamped with
// req.Time(). The event is not modified.
func Body(req *platform.Request) ([]byte, error) {
	if req.Event == nil {
		return nil, errors.New("the request has no event")
	}
	event := *req.Event
	event.Deliveries = nil
	env := Envelope{
		Type:      event.Type,
		Timestamp: req.Time().UTC().Format(time.RFC3339),
		Data:      Data{Project: req.Project, Event: &event, Delivery: req.DeliveryName},
	}
	return platform.JSON(env)
}

// Send posts the event, signed, to the webhook URL and classifies the
// answer: 2xx is SUCCESS; 410 is PERMANENT and asks the engine to disable
// the webhook; 429 is RATE_LIMITED and 408 or 5xx RETRYABLE, both with the
// Retry-After delay; any other status is PERMANENT; a network failure is
// RETRYABLE. The webhook-id header is req.DeliveryID, so every retry of a
// delivery carries the same id and receivers can drop duplicates. A missing
// or malformed signing secret is PERMANENT: Herald never sends unsigned.
func (*Platform) Send(ctx context.Context, c *http.Client, req *platform.Request) platform.Result {
	if err := ValidateSecret(req.Webhook.SigningSecret); err != nil {
		return platform.Result{Outcome: herald.OutcomePermanent, Error: err.Error()}
	}
	if req.DeliveryID == "" {
		return platform.Result{Outcome: herald.OutcomePermanent, Error: "the request has no delivery id for the webhook-id header"}
	}
	body, err := Body(req)
	if err != nil {
		return platform.Result{Outcome: herald.OutcomePermanent, Error: "encoding the event: " + err.Error()}
	}
	header, err := sign(req.Webhook.SigningSecret, req.DeliveryID, req.Time(), body)
	if err != nil {
		return platform.Result{Outcome: herald.OutcomePermanent, Error: err.Error(), RequestBody: string(body)}
	}
	return platform.Exchange(ctx, c, req.Webhook.URL, header, body, classify)
}

// classify is platform.Answer, asking the engine to disable the webhook
// when its endpoint answers 410 Gone.
func classify(resp *platform.Response, requestBody []byte, now time.Time) platform.Result {
	r := platform.Answer(resp, requestBody, now)
	if resp.Status == http.StatusGone {
		r.DisableReason = DisableReason
	}
	return r
}

// sign returns the Standard Webhooks headers of one request.
func sign(secret, id string, t time.Time, body []byte) (http.Header, error) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, herald.Invalidf("signingSecret", "must be whsec_ followed by base64")
	}
	sig, err := wh.Sign(id, t, body)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(standardwebhooks.HeaderWebhookID, id)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(t.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, sig)
	return h, nil
}
