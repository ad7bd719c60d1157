// Package herald holds Herald's domain model: projects, webhooks, events,
// deliveries and attempts, the enums that classify them, and the errors the
// rest of the service speaks in. It imports nothing from the rest of Herald;
// every other package depends on it.
//
// The JSON form of each type is the form of the HTTP API (SPEC §1): lower
// camel case fields, UPPER_SNAKE enum values, RFC 3339 times.
package herald

import (
	"strings"
	"time"
)

// Project groups webhooks and the events published to them.
type Project struct {
	Name       string    `json:"name" readOnly:"true" doc:"projects/{projectId}"`
	ProjectID  string    `json:"projectId" doc:"Unique id, ^[a-z][a-z0-9-]{0,62}$"`
	Title      string    `json:"title"`
	CreateTime time.Time `json:"createTime" readOnly:"true"`
	UpdateTime time.Time `json:"updateTime" readOnly:"true"`
}

// ProjectName returns the resource name of the project with the given id.
func ProjectName(projectID string) string { return "projects/" + projectID }

// WebhookType is the chat platform (or generic HTTP endpoint) a webhook posts to.
type WebhookType string

// The webhook types of SPEC §3.
const (
	Slack      WebhookType = "SLACK"
	Discord    WebhookType = "DISCORD"
	Teams      WebhookType = "TEAMS"
	DingTalk   WebhookType = "DINGTALK"
	Feishu     WebhookType = "FEISHU"
	Lark       WebhookType = "LARK"
	WeCom      WebhookType = "WECOM"
	GoogleChat WebhookType = "GOOGLE_CHAT"
	Custom     WebhookType = "CUSTOM"
)

// WebhookTypes lists every webhook type, in the order of SPEC §3.
var WebhookTypes = []WebhookType{Slack, Discord, Teams, DingTalk, Feishu, Lark, WeCom, GoogleChat, Custom}

// Valid reports whether t is one of WebhookTypes.
func (t WebhookType) Valid() bool {
	for _, v := range WebhookTypes {
		if t == v {
			return true
		}
	}
	return false
}

// SupportsDirectMessage reports whether webhooks of this type can send
// direct messages through the platform's IM integration (SPEC §5).
func (t WebhookType) SupportsDirectMessage() bool {
	switch t {
	case Slack, Teams, DingTalk, Feishu, Lark, WeCom:
		return true
	}
	return false
}

// Webhook is a project's endpoint on one platform. URL and SigningSecret are
// write-only: the API never returns them and the store keeps them sealed.
type Webhook struct {
	Name                  string      `json:"name" readOnly:"true"`
	Type                  WebhookType `json:"type" enum:"SLACK,DISCORD,TEAMS,DINGTALK,FEISHU,LARK,WECOM,GOOGLE_CHAT,CUSTOM"`
	Title                 string      `json:"title"`
	URLPreview            string      `json:"urlPreview" readOnly:"true" doc:"The URL with its secret parts masked"`
	NotificationTypes     []EventType `json:"notificationTypes" enum:"ISSUE_CREATED,ISSUE_APPROVAL_REQUESTED,ISSUE_SENT_BACK,ISSUE_APPROVED,PIPELINE_FAILED,PIPELINE_COMPLETED"`
	DirectMessage         bool        `json:"directMessage"`
	SupportsDirectMessage bool        `json:"supportsDirectMessage" readOnly:"true"`
	HasSigningSecret      bool        `json:"hasSigningSecret" readOnly:"true"`
	Keyword               string      `json:"keyword,omitempty"`
	Enabled               bool        `json:"enabled"`
	DisabledReason        string      `json:"disabledReason,omitempty" readOnly:"true"`
	CreateTime            time.Time   `json:"createTime" readOnly:"true"`
	UpdateTime            time.Time   `json:"updateTime" readOnly:"true"`

	// ProjectID and ID are the parts of Name.
	ProjectID string `json:"-"`
	ID        string `json:"-"`
	// URL and SigningSecret are the plaintext secrets, present only inside
	// the process after the store has opened them.
	URL           string `json:"-"`
	SigningSecret string `json:"-"`
}

// WebhookName returns the resource name of a webhook.
func WebhookName(projectID, webhookID string) string {
	return ProjectName(projectID) + "/webhooks/" + webhookID
}

// Subscribes reports whether the webhook wants events of type t.
func (w *Webhook) Subscribes(t EventType) bool {
	for _, n := range w.NotificationTypes {
		if n == t {
			return true
		}
	}
	return false
}

// DeliveryState is where a delivery stands.
type DeliveryState string

// Delivery states. PENDING and RETRYING are live; SUCCEEDED and FAILED are final
// until the delivery is retried by hand.
const (
	StatePending   DeliveryState = "PENDING"
	StateRetrying  DeliveryState = "RETRYING"
	StateSucceeded DeliveryState = "SUCCEEDED"
	StateFailed    DeliveryState = "FAILED"
)

// DeliveryStates lists every delivery state.
var DeliveryStates = []DeliveryState{StatePending, StateRetrying, StateSucceeded, StateFailed}

// Final reports whether no more attempts are planned.
func (s DeliveryState) Final() bool { return s == StateSucceeded || s == StateFailed }

// Route says how a delivery reached (or will reach) its audience.
type Route string

// Routes of SPEC §1.
const (
	RouteChannel                      Route = "CHANNEL"
	RouteDirectMessage                Route = "DIRECT_MESSAGE"
	RouteDirectMessageFallbackChannel Route = "DIRECT_MESSAGE_FALLBACK_CHANNEL"
)

// RecipientState is the outcome of one direct message.
type RecipientState string

// Recipient states of SPEC §1.
const (
	RecipientSent      RecipientState = "SENT"
	RecipientUnmatched RecipientState = "UNMATCHED"
	RecipientFailed    RecipientState = "FAILED"
)

// Recipient is one person a delivery messages directly. Until Herald has
// reached them, State is empty.
type Recipient struct {
	Email string         `json:"email,omitempty"`
	Phone string         `json:"phone,omitempty"`
	State RecipientState `json:"state,omitempty" enum:"SENT,UNMATCHED,FAILED" doc:"Empty until Herald has tried the recipient"`
	Error string         `json:"error,omitempty"`
	// UserID is the recipient's id on the platform, once looked up.
	UserID string `json:"userId,omitempty"`
}

// RecipientsOf lists the people users name as recipients not yet reached,
// once each (by email and phone), skipping those with neither.
func RecipientsOf(users []User) []Recipient {
	seen := map[string]bool{}
	var out []Recipient
	for _, u := range users {
		k := strings.ToLower(u.Email) + "|" + u.Phone
		if seen[k] || (u.Email == "" && u.Phone == "") {
			continue
		}
		seen[k] = true
		out = append(out, Recipient{Email: u.Email, Phone: u.Phone})
	}
	return out
}

// Delivery is one event on its way to one webhook.
type Delivery struct {
	Name            string        `json:"name" readOnly:"true"`
	Event           string        `json:"event"`
	Webhook         string        `json:"webhook"`
	State           DeliveryState `json:"state" enum:"PENDING,RETRYING,SUCCEEDED,FAILED"`
	Route           Route         `json:"route" enum:"CHANNEL,DIRECT_MESSAGE,DIRECT_MESSAGE_FALLBACK_CHANNEL"`
	RouteReason     string        `json:"routeReason,omitempty" doc:"Why the delivery fell back to the channel"`
	Recipients      []Recipient   `json:"recipients,omitempty"`
	AttemptCount    int           `json:"attemptCount"`
	NextAttemptTime *time.Time    `json:"nextAttemptTime,omitempty"`
	LastError       string        `json:"lastError,omitempty"`
	CreateTime      time.Time     `json:"createTime"`
	UpdateTime      time.Time     `json:"updateTime"`
	Attempts        []Attempt     `json:"attempts,omitempty" doc:"Present when the delivery is fetched singly"`

	// The parts of the names above.
	ProjectID string `json:"-"`
	ID        string `json:"-"`
	EventID   string `json:"-"`
	WebhookID string `json:"-"`
	// Generation counts manual retries; a queued job of an older generation
	// is stale and does nothing.
	Generation int `json:"-"`
	// ScheduleAttempts counts the attempts of this generation that count
	// toward the retry schedule (RATE_LIMITED ones do not).
	ScheduleAttempts int `json:"-"`
	// DeliveredTime is when the delivery first succeeded.
	DeliveredTime *time.Time `json:"-"`
}

// DeliveryName returns the resource name of a delivery.
func DeliveryName(projectID, deliveryID string) string {
	return ProjectName(projectID) + "/deliveries/" + deliveryID
}

// Outcome classifies one attempt; the engine acts on it.
type Outcome string

// Attempt outcomes of SPEC §1.
const (
	// OutcomeSuccess: the platform accepted the message.
	OutcomeSuccess Outcome = "SUCCESS"
	// OutcomeRetryable: a transient failure (network, timeout, 5xx, 408);
	// retried on the schedule.
	OutcomeRetryable Outcome = "RETRYABLE"
	// OutcomeRateLimited: the platform asked us to slow down; retried after
	// the delay it names, without counting toward the schedule.
	OutcomeRateLimited Outcome = "RATE_LIMITED"
	// OutcomePermanent: the request itself is wrong; never retried.
	OutcomePermanent Outcome = "PERMANENT"
)

// Attempt is one request Herald sent for a delivery.
type Attempt struct {
	Number       int       `json:"number"`
	Target       string    `json:"target" doc:"Where the request went, with secrets masked"`
	StartTime    time.Time `json:"startTime"`
	DurationMs   int64     `json:"durationMs"`
	HTTPStatus   int       `json:"httpStatus,omitempty"`
	PlatformCode string    `json:"platformCode,omitempty"`
	Outcome      Outcome   `json:"outcome" enum:"SUCCESS,RETRYABLE,RATE_LIMITED,PERMANENT"`
	Error        string    `json:"error,omitempty"`
	RequestBody  string    `json:"requestBody,omitempty"`
	ResponseBody string    `json:"responseBody,omitempty"`
}

// MaxAttemptBody is how much of a request or response body an attempt keeps.
const MaxAttemptBody = 8 << 10

// CutBody prepares a request or response body for the delivery log: NUL
// bytes (which PostgreSQL text cannot hold) are dropped, and the rest is cut
// to at most MaxAttemptBody bytes, never inside a UTF-8 sequence.
func CutBody(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	if len(s) > MaxAttemptBody {
		s = s[:MaxAttemptBody]
	}
	return strings.ToValidUTF8(s, "")
}
