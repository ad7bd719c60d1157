package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"

	slackapi "github.com/slack-go/slack"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
)

// RequiredScopes are the bot token scopes direct messages need: look users
// up by email, open a DM, post in it.
var RequiredScopes = []string{"users:read", "users:read.email", "im:write", "chat:write"}

// Messenger sends Slack direct messages with a bot token (xoxb-…) through
// the Web API (platforms.md A3), using the slack-go SDK: users.lookupByEmail,
// conversations.open, chat.postMessage. Bot tokens do not expire, so there
// is nothing to refresh; a revoked token is reported as rejected.
type Messenger struct {
	api *slackapi.Client
	// scopes is the X-OAuth-Scopes header of the last auth.test answer.
	scopes atomic.Pointer[string]
}

var _ platform.Messenger = (*Messenger)(nil)

// NewMessenger returns the Slack Messenger for s.Token, calling the Web API
// at e.SlackAPI through c.
func NewMessenger(s *herald.IMSettings, c *http.Client, e platform.IMEndpoints) platform.Messenger {
	m := &Messenger{}
	m.api = slackapi.New(s.Token,
		slackapi.OptionAPIURL(strings.TrimRight(e.SlackAPI, "/")+"/"),
		slackapi.OptionHTTPClient(&http.Client{Transport: bearer{next: transport(c)}, Timeout: c.Timeout, CheckRedirect: c.CheckRedirect}),
		slackapi.OptionOnResponseHeaders(func(path string, h http.Header) {
			if strings.HasSuffix(path, "auth.test") {
				scopes := h.Get("X-OAuth-Scopes")
				m.scopes.Store(&scopes)
			}
		}),
	)
	return m
}

func transport(c *http.Client) http.RoundTripper {
	if c.Transport != nil {
		return c.Transport
	}
	return http.DefaultTransport
}

// bearer moves the token slack-go puts in form bodies into the
// Authorization header, where Slack recommends it: a token in a body is one
// that proxies and logs can keep.
type bearer struct{ next http.RoundTripper }

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || !strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return b.next.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("token") == "" {
		return b.next.RoundTrip(withBody(req, body))
	}
	token := form.Get("token")
	form.Del("token")
	r := withBody(req, []byte(form.Encode()))
	r.Header.Set("Authorization", "Bearer "+token)
	return b.next.RoundTrip(r)
}

func withBody(req *http.Request, body []byte) *http.Request {
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return r
}

// Validate calls auth.test and checks that the token has RequiredScopes
// (from the X-OAuth-Scopes header Slack answers with).
func (m *Messenger) Validate(ctx context.Context) error {
	m.scopes.Store(nil)
	if _, err := m.api.AuthTestContext(ctx); err != nil {
		return classifyAPI("auth.test", err)
	}
	scopes := ""
	if p := m.scopes.Load(); p != nil {
		scopes = *p
	}
	granted := strings.Split(strings.ReplaceAll(scopes, " ", ""), ",")
	var missing []string
	for _, s := range RequiredScopes {
		if !slices.Contains(granted, s) {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return &platform.IMError{Kind: platform.IMRejected, Call: "auth.test", Code: "missing_scope",
			Message: "the bot token lacks the scopes " + strings.Join(missing, ", ")}
	}
	return nil
}

// Lookup finds a Slack user by email (users.lookupByEmail); Slack cannot
// look users up by phone.
func (m *Messenger) Lookup(ctx context.Context, u herald.User) (string, error) {
	if u.Email == "" {
		return "", &platform.IMError{Kind: platform.IMUnmatched, Call: "users.lookupByEmail", Message: "the recipient has no email"}
	}
	user, err := m.api.GetUserByEmailContext(ctx, u.Email)
	if err != nil {
		return "", classifyAPI("users.lookupByEmail", err)
	}
	return user.ID, nil
}

// Send opens the DM with the user (conversations.open) and posts the
// message there (chat.postMessage) as the same Block Kit attachment the
// webhook gets.
func (m *Messenger) Send(ctx context.Context, userID string, msg *message.Message, _ string) platform.Result {
	body, err := Render(msg)
	if err != nil {
		return platform.Result{Outcome: herald.OutcomePermanent, Error: "rendering the Slack message: " + err.Error()}
	}
	var wm slackapi.WebhookMessage
	if err := json.Unmarshal(body, &wm); err != nil {
		return platform.Result{Outcome: herald.OutcomePermanent, Error: "rendering the Slack message: " + err.Error(), RequestBody: string(body)}
	}
	channel, _, _, err := m.api.OpenConversationContext(ctx, &slackapi.OpenConversationParameters{Users: []string{userID}})
	if err != nil {
		r := platform.IMErrorOf("conversations.open", classifyAPI("conversations.open", err)).Result()
		r.RequestBody = string(body)
		return r
	}
	_, ts, err := m.api.PostMessageContext(ctx, channel.ID, slackapi.MsgOptionText(wm.Text, false), slackapi.MsgOptionAttachments(wm.Attachments...))
	if err != nil {
		r := platform.IMErrorOf("chat.postMessage", classifyAPI("chat.postMessage", err)).Result()
		r.RequestBody = string(body)
		return r
	}
	return platform.Result{Outcome: herald.OutcomeSuccess, HTTPStatus: http.StatusOK, PlatformCode: "ok", RequestBody: string(body),
		ResponseBody: fmt.Sprintf(`{"ok":true,"channel":%q,"ts":%q}`, channel.ID, ts)}
}

// rejected are the Web API errors that say the token itself is refused.
var rejected = []string{
	"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "missing_scope",
	"no_permission", "ekm_access_denied", "not_allowed_token_type", "team_access_not_granted",
}

// unmatched are the errors that say there is no such user to message.
var unmatched = []string{"users_not_found", "user_not_found", "user_not_visible", "user_disabled"}

// classifyAPI reads a slack-go error (platforms.md A3): errors arrive as HTTP
// 200 with ok:false and a code, rate limits as 429 with Retry-After.
func classifyAPI(call string, err error) error {
	var rl *slackapi.RateLimitedError
	if errors.As(err, &rl) {
		return &platform.IMError{Kind: platform.IMRateLimited, Call: call, HTTPStatus: http.StatusTooManyRequests, Code: "ratelimited", RetryAfter: rl.RetryAfter}
	}
	var sc slackapi.StatusCodeError
	if errors.As(err, &sc) {
		kind := platform.IMPermanent
		if sc.Code >= 500 || sc.Code == http.StatusRequestTimeout {
			kind = platform.IMTransient
		}
		return &platform.IMError{Kind: kind, Call: call, HTTPStatus: sc.Code, Message: sc.Status}
	}
	var se slackapi.SlackErrorResponse
	if errors.As(err, &se) {
		e := &platform.IMError{Kind: platform.IMPermanent, Call: call, HTTPStatus: http.StatusOK, Code: se.Err, Message: se.Err}
		switch {
		case slices.Contains(rejected, se.Err):
			e.Kind = platform.IMRejected
		case slices.Contains(unmatched, se.Err):
			e.Kind = platform.IMUnmatched
		case se.Err == "ratelimited":
			e.Kind = platform.IMRateLimited
		case se.Err == "fatal_error" || se.Err == "internal_error" || se.Err == "service_unavailable" || se.Err == "request_timeout":
			e.Kind = platform.IMTransient
		}
		return e
	}
	return platform.IMErrorOf(call, err)
}
