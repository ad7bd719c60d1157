package platform

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
)

// Messenger sends direct messages through one platform's IM app, with one
// set of credentials (SPEC §5). It acquires and caches the app's access
// token, refreshing it before it expires and when the platform says it is
// expired or invalid. It is safe for concurrent use.
type Messenger interface {
	// Validate checks the credentials against the platform now (for
	// Slack, also that the token has the scopes Herald needs).
	Validate(ctx context.Context) error
	// Lookup finds the platform user a recipient is. A recipient the
	// platform does not know is an *IMError of kind IMUnmatched.
	Lookup(ctx context.Context, u herald.User) (userID string, err error)
	// Send sends m to the user directly. key names this message to the
	// platforms that drop repeats of it (Feishu's uuid), so that a resend
	// after a crash is not shown twice.
	Send(ctx context.Context, userID string, m *message.Message, key string) Result
}

// IMErrorKind says what an IM failure means for the delivery.
type IMErrorKind int

// IM failure kinds.
const (
	// IMTransient: the platform had trouble (5xx, timeout, busy); retried
	// on the schedule.
	IMTransient IMErrorKind = iota
	// IMRateLimited: the platform asked to slow down; retried after
	// RetryAfter, not counted.
	IMRateLimited
	// IMUnmatched: no such user on the platform (UNMATCHED).
	IMUnmatched
	// IMRejected: the credentials were rejected (invalid secret, revoked
	// token, missing permission): the delivery falls back to the channel.
	IMRejected
	// IMPermanent: this request cannot succeed (FAILED for this recipient).
	IMPermanent
)

// Outcome is the attempt outcome of a failure of this kind.
func (k IMErrorKind) Outcome() herald.Outcome {
	switch k {
	case IMTransient:
		return herald.OutcomeRetryable
	case IMRateLimited:
		return herald.OutcomeRateLimited
	}
	return herald.OutcomePermanent
}

// IMError is a failed IM API call.
type IMError struct {
	Kind IMErrorKind
	// Call is the API method, e.g. "users.lookupByEmail".
	Call       string
	HTTPStatus int
	// Code is the platform's own code ("users_not_found", "42001").
	Code       string
	Message    string
	RetryAfter time.Duration
}

func (e *IMError) Error() string {
	s := e.Call
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" && e.Message != e.Code {
		s += ": " + e.Message
	}
	if e.HTTPStatus != 0 && e.HTTPStatus != http.StatusOK {
		s += fmt.Sprintf(" (HTTP %d)", e.HTTPStatus)
	}
	return s
}

// IMErrorOf returns err's *IMError, or a transient one for any other error
// (a network failure).
func IMErrorOf(call string, err error) *IMError {
	var e *IMError
	if errors.As(err, &e) {
		return e
	}
	return &IMError{Kind: IMTransient, Call: call, Message: StripURL(err).Error()}
}

// Result of an IM call that failed, for the delivery log.
func (e *IMError) Result() Result {
	return Result{
		Outcome: e.Kind.Outcome(), HTTPStatus: e.HTTPStatus, PlatformCode: e.Code, Error: e.Error(),
		RetryAfter: e.RetryAfter, CredentialsRejected: e.Kind == IMRejected,
	}
}

// IMEndpoints are the base URLs of the IM APIs (SPEC §5), for regional or
// on-premises endpoints and for tests.
type IMEndpoints struct {
	SlackAPI     string // HERALD_SLACK_API_URL
	TeamsLogin   string // HERALD_TEAMS_LOGIN_URL
	TeamsGraph   string // HERALD_TEAMS_GRAPH_URL
	TeamsBot     string // HERALD_TEAMS_BOT_URL
	DingTalkAPI  string // HERALD_DINGTALK_API_URL
	DingTalkOAPI string // HERALD_DINGTALK_OAPI_URL
	FeishuAPI    string // HERALD_FEISHU_API_URL
	LarkAPI      string // HERALD_LARK_API_URL
	WeComAPI     string // HERALD_WECOM_API_URL
}

// DefaultIMEndpoints are the platforms' public APIs.
var DefaultIMEndpoints = IMEndpoints{
	SlackAPI:     "https://slack.com/api",
	TeamsLogin:   "https://login.microsoftonline.com",
	TeamsGraph:   "https://graph.microsoft.com",
	TeamsBot:     "https://smba.trafficmanager.net/teams",
	DingTalkAPI:  "https://api.dingtalk.com",
	DingTalkOAPI: "https://oapi.dingtalk.com",
	FeishuAPI:    "https://open.feishu.cn",
	LarkAPI:      "https://open.larksuite.com",
	WeComAPI:     "https://qyapi.weixin.qq.com",
}

// NewMessenger builds a platform's Messenger from its settings.
type NewMessenger func(s *herald.IMSettings, c *http.Client, e IMEndpoints) Messenger

// IMRegistry finds the Messenger constructor of each IM platform.
type IMRegistry map[herald.IMPlatform]NewMessenger
