package dingtalk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
)

// The paths of the DingTalk APIs direct messages use (platforms.md D2):
// the token and the robot's one-to-one send on the new API
// (api.dingtalk.com), the user lookup on the old one (oapi.dingtalk.com).
const (
	TokenPath     = "/v1.0/oauth2/accessToken"
	BatchSendPath = "/v1.0/robot/oToMessages/batchSend"
	LookupPath    = "/topapi/v2/user/getbymobile"
)

// TokenHeader carries the access token on api.dingtalk.com; the old API
// takes it as the access_token query parameter instead.
const TokenHeader = "x-acs-dingtalk-access-token"

// tokenMargin is how long before its expiry a cached token is replaced, so
// that no call goes out with a token about to lapse.
const tokenMargin = 5 * time.Minute

// tokenCall names the token request in errors.
const tokenCall = "oauth2/accessToken"

// maxMessage is how much of DingTalk's own message an error quotes.
const maxMessage = 200

// Messenger sends DingTalk direct messages as an internal app's robot
// (platforms.md D2, SPEC §5): it finds a recipient by mobile with
// topapi/v2/user/getbymobile on the old API and sends them a
// "sampleMarkdown" message with robot/oToMessages/batchSend on the new one.
//
// It is a thin typed client over net/http, not an SDK: no maintained
// DingTalk Go client lets the base URL be set for both the new and the old
// API (platforms.md G), and Herald must point both at regional endpoints
// and at test fakes, and send every request through its own guarded
// http.Client.
//
// One access token, from the app's client ID and secret, serves both
// APIs. It is cached until tokenMargin before it expires, fetched by one
// caller at a time for all concurrent calls, and when DingTalk answers that
// it is expired or invalid (InvalidAuthentication on the new API, errcode
// 88 with sub_code 40014, or 40014 or 42001, on the old one) it is dropped,
// a new one fetched and the call made once more. Neither tokens nor the
// client secret ever appear in its errors or Results. It is safe for
// concurrent use.
type Messenger struct {
	clientID, clientSecret, robotCode string
	c                                 *http.Client
	api, oapi                         string
	now                               func() time.Time
	tokens                            *platform.TokenCache
}

var _ platform.Messenger = (*Messenger)(nil)

// NewMessenger returns the DingTalk Messenger of the app s.ClientID
// (AppKey) and s.ClientSecret (AppSecret) and its robot s.RobotCode,
// calling e.DingTalkAPI and e.DingTalkOAPI through c.
func NewMessenger(s *herald.IMSettings, c *http.Client, e platform.IMEndpoints) platform.Messenger {
	m := &Messenger{
		clientID: s.ClientID, clientSecret: s.ClientSecret, robotCode: s.RobotCode,
		c: c, api: strings.TrimRight(e.DingTalkAPI, "/"), oapi: strings.TrimRight(e.DingTalkOAPI, "/"),
		now: time.Now,
	}
	m.tokens = platform.NewTokenCache(func() time.Time { return m.now() }, m.fetchToken)
	return m
}

// Validate fetches a new access token now, whatever is cached, so that it
// checks the stored client ID and secret; the token is kept for the calls
// that follow. It cannot check the robot code: DingTalk has no call that
// reads a robot without sending a message.
func (m *Messenger) Validate(ctx context.Context) error {
	if _, err := m.tokens.Fresh(ctx); err != nil {
		return platform.IMErrorOf(tokenCall, err)
	}
	return nil
}

// Lookup finds the DingTalk user whose mobile is u.Phone
// (topapi/v2/user/getbymobile), asked for in the form DingTalk stores (see
// Mobile): a +86 number by its national number, any other as
// "+<country code>-<number>". A recipient without a usable phone is
// unmatched: DingTalk cannot look people up by email.
func (m *Messenger) Lookup(ctx context.Context, u herald.User) (string, error) {
	const call = "user/getbymobile"
	if u.Phone == "" {
		return "", &platform.IMError{Kind: platform.IMUnmatched, Call: call, Message: "the recipient has no phone: DingTalk finds people by mobile"}
	}
	mobile, ok := Mobile(u.Phone)
	if !ok {
		return "", &platform.IMError{Kind: platform.IMUnmatched, Call: call, Message: "the recipient's phone is not an E.164 number"}
	}
	body, _ := platform.JSON(struct {
		Mobile string `json:"mobile"`
	}{mobile})
	resp, err := m.exchange(ctx, oldAPI, LookupPath, body)
	if err != nil {
		return "", platform.IMErrorOf(call, err)
	}
	var a struct {
		oapiAnswer
		Result struct {
			UserID string `json:"userid"`
		} `json:"result"`
	}
	parsed := json.Unmarshal(resp.Body, &a) == nil
	if err := classifyOAPI(call, resp, a.oapiAnswer, parsed); err != nil {
		if err.Code == "60011" {
			err.Message += " (grant the app the qyapi_get_member_by_mobile permission)"
		}
		return "", err
	}
	if a.Result.UserID == "" {
		return "", &platform.IMError{Kind: platform.IMUnmatched, Call: call, HTTPStatus: resp.Status, Code: "0",
			Message: "DingTalk found no user id for the recipient's mobile"}
	}
	return a.Result.UserID, nil
}

// batchSend is the body of robot/oToMessages/batchSend. msgParam is the
// message's parameters as a JSON string, not an object.
type batchSend struct {
	RobotCode string   `json:"robotCode"`
	UserIDs   []string `json:"userIds"`
	MsgKey    string   `json:"msgKey"`
	MsgParam  string   `json:"msgParam"`
}

// sampleMarkdown is the msgParam of a "sampleMarkdown" message.
type sampleMarkdown struct {
	Title string `json:"title"`
	Text  string `json:"text"`
}

// MaxParam is the most bytes of msgParam Send sends. DingTalk documents
// 15,000 bytes for a robot's group messages (robot/groupMessages/send) and
// nothing for batchSend (UNVERIFIED); the same limit is assumed.
const MaxParam = 15000

// Send sends the message to the user as the robot's "sampleMarkdown"
// message, the title and text of Markdown(msg) (the webhook's text without
// mentions), and reads DingTalk's answer (see classifySend). A message
// whose msgParam would pass MaxParam is cut further, as Markdown cuts it.
//
// key is not sent: batchSend takes no idempotency key (its body is
// robotCode, userIds, msgKey and msgParam only; msgUuid belongs to the
// custom-robot webhook). A send whose answer was lost is sent again on
// retry, and may then show twice.
func (m *Messenger) Send(ctx context.Context, userID string, msg *message.Message, _ string) platform.Result {
	param, err := markdownParam(msg)
	if err != nil {
		return platform.Result{Outcome: herald.OutcomePermanent, Error: "rendering the DingTalk message: " + err.Error()}
	}
	body, err := platform.JSON(batchSend{RobotCode: m.robotCode, UserIDs: []string{userID}, MsgKey: "sampleMarkdown", MsgParam: string(param)})
	if err != nil {
		return platform.Result{Outcome: herald.OutcomePermanent, Error: "rendering the DingTalk message: " + err.Error()}
	}
	resp, err := m.exchange(ctx, newAPI, BatchSendPath, body)
	if err != nil {
		r := platform.IMErrorOf("robot/oToMessages/batchSend", err).Result()
		r.Error = m.scrub(r.Error)
		r.RequestBody = string(body)
		return r
	}
	return classifySend(resp, body, userID, m.now())
}

// markdownParam is the msgParam of a "sampleMarkdown" message of m: the
// title and text of Markdown(m), shrunk while the JSON passes MaxParam.
func markdownParam(m *message.Message) ([]byte, error) {
	title, text := Markdown(m)
	s := full
	for i := 0; ; i++ {
		param, err := platform.JSON(sampleMarkdown{Title: title, Text: text})
		if err != nil || len(param) <= MaxParam || i == maxShrink {
			return param, err
		}
		s = s.half()
		title, text = compose(m, s, "")
	}
}

// The answers of batchSend that need a name.
const (
	codeInvalidStaff   = "invalidStaffIdList"
	codeFlowControlled = "flowControlledStaffIdList"
)

// classifySend reads batchSend's answer (platforms.md §0, D2):
//
//	200, the user in invalidStaffIdList         PERMANENT (not a member the robot can reach)
//	200, the user in flowControlledStaffIdList  RATE_LIMITED (DingTalk throttles messages to that user)
//	200 otherwise                               SUCCESS
//	200 that is not a JSON object               RETRYABLE (not DingTalk's answer; whether it sent is unknown)
//	InvalidAuthentication (after a new token)   PERMANENT, CredentialsRejected
//	403 Forbidden.AccessDenied.QpsLimitFor…, 429 RATE_LIMITED (Retry-After honoured when sent)
//	403 Forbidden.AccessDenied.* (no permission qyapi_robot_sendmsg, IP allowlist),
//	400 invalidParameter.robotCode.* (the robot is not this app's, or does not exist),
//	400 bot.stopped, 401                        PERMANENT, CredentialsRejected: the settings are wrong
//	408, 5xx                                    RETRYABLE
//	400 invalidParameter.* and any other        PERMANENT
//
// PlatformCode is DingTalk's code (or the name of the list the user was
// in); Error quotes its message.
func classifySend(resp *platform.Response, body []byte, userID string, now time.Time) platform.Result {
	r := platform.Result{HTTPStatus: resp.Status, RequestBody: string(body), ResponseBody: string(resp.Body)}
	if resp.Status == http.StatusOK {
		var a struct {
			ProcessQueryKey           string   `json:"processQueryKey"`
			InvalidStaffIDList        []string `json:"invalidStaffIdList"`
			FlowControlledStaffIDList []string `json:"flowControlledStaffIdList"`
		}
		switch {
		case json.Unmarshal(resp.Body, &a) != nil:
			r.Outcome, r.Error = herald.OutcomeRetryable, "DingTalk answered HTTP 200 without a batchSend result"
		case slices.Contains(a.InvalidStaffIDList, userID):
			r.Outcome, r.PlatformCode = herald.OutcomePermanent, codeInvalidStaff
			r.Error = "DingTalk did not message the user: they are not a member the robot can reach (invalidStaffIdList)"
		case slices.Contains(a.FlowControlledStaffIDList, userID):
			r.Outcome, r.PlatformCode = herald.OutcomeRateLimited, codeFlowControlled
			r.Error = "DingTalk is throttling messages to the user (flowControlledStaffIdList)"
		default:
			r.Outcome = herald.OutcomeSuccess
		}
		return r
	}
	a := apiAnswerOf(resp)
	r.PlatformCode = a.Code
	r.Error = "DingTalk answered HTTP " + strconv.Itoa(resp.Status) + a.describe()
	switch {
	case isQPSLimit(resp.Status, a.Code):
		r.Outcome, r.RetryAfter = herald.OutcomeRateLimited, platform.RetryAfter(resp.Header, now)
	case refusesApp(resp.Status, a.Code):
		r.Outcome, r.CredentialsRejected = herald.OutcomePermanent, true
		switch {
		case strings.HasPrefix(a.Code, "invalidParameter.robotCode.") || a.Code == "bot.stopped":
			r.Error += " (check the Robot Code: it must be this app's published robot)"
		case strings.HasPrefix(a.Code, "Forbidden.AccessDenied"):
			r.Error += " (grant the app the qyapi_robot_sendmsg permission, and allow Herald's IP if the app has an allowlist)"
		}
	case resp.Status == http.StatusRequestTimeout || resp.Status >= 500:
		r.Outcome = herald.OutcomeRetryable
	default:
		r.Outcome = herald.OutcomePermanent
	}
	return r
}

// isQPSLimit reports the new API's rate limits: 403 with a QpsLimit code,
// or a plain 429.
func isQPSLimit(status int, code string) bool {
	return status == http.StatusTooManyRequests || strings.HasPrefix(code, "Forbidden.AccessDenied.QpsLimit")
}

// refusesApp reports the new API's answers that refuse the app or its
// robot rather than the request: a token that stays invalid after a new
// one was fetched, a missing permission or an IP outside the allowlist
// (403 Forbidden.AccessDenied.*), a robot code that is not this app's, is
// unknown or stopped.
func refusesApp(status int, code string) bool {
	return status == http.StatusUnauthorized || code == codeInvalidAuthentication ||
		(status == http.StatusForbidden && strings.HasPrefix(code, "Forbidden.AccessDenied")) ||
		strings.HasPrefix(code, "invalidParameter.robotCode.") || code == "bot.stopped"
}

// codeInvalidAuthentication is the new API's answer to an expired or
// unknown token (HTTP 400).
const codeInvalidAuthentication = "InvalidAuthentication"

// apiAnswer is the body of the new API's errors.
type apiAnswer struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestid"`
}

func apiAnswerOf(resp *platform.Response) apiAnswer {
	var a apiAnswer
	_ = json.Unmarshal(resp.Body, &a)
	return a
}

// describe is " <code>: <message>", the message cut (see text).
func (a apiAnswer) describe() string {
	s := ""
	if a.Code != "" {
		s += " " + a.Code
	}
	if msg := a.text(); msg != "" {
		s += ": " + msg
	}
	return s
}

// text is the message cut to maxMessage characters.
func (a apiAnswer) text() string {
	return message.Truncate(strings.TrimSpace(strings.ToValidUTF8(a.Message, "")), maxMessage)
}

// oapiAnswer is the envelope of every old-API answer: HTTP 200 with an
// errcode, and for errcode 88 (an authorisation failure) the real reason
// in sub_code.
type oapiAnswer struct {
	Errcode *int   `json:"errcode"`
	Errmsg  string `json:"errmsg"`
	SubCode string `json:"sub_code"`
	SubMsg  string `json:"sub_msg"`
}

// code is the errcode that says what happened: sub_code for errcode 88.
func (a oapiAnswer) code() string {
	if a.Errcode == nil {
		return ""
	}
	if *a.Errcode == 88 && a.SubCode != "" {
		return a.SubCode
	}
	return strconv.Itoa(*a.Errcode)
}

func (a oapiAnswer) message() string {
	msg := a.Errmsg
	if a.SubMsg != "" {
		msg = a.SubMsg
	}
	return message.Truncate(strings.TrimSpace(strings.ToValidUTF8(msg, "")), maxMessage)
}

// The old API's errcodes (platforms.md D2 and DingTalk's global error
// codes) that are not PERMANENT.
var (
	// oapiUnmatched: 60121 no such user, 40104 no such mobile in the
	// organisation.
	oapiUnmatched = []string{"60121", "40104"}
	// oapiRejected: the token stays refused after a new one was fetched
	// (40014 invalid, 42001 expired, 88 without a sub_code), the app lacks
	// the permission (60011, e.g. qyapi_get_member_by_mobile), or the
	// server's IP is not on the app's allowlist (60020).
	oapiRejected = []string{"40014", "42001", "88", "60011", "60020"}
	// oapiBusy: -1 system busy.
	oapiBusy = []string{"-1"}
	// oapiRateLimited: 90018, over the API's QPS limit.
	oapiRateLimited = []string{"90018"}
)

// classifyOAPI reads an old-API answer: nil for errcode 0, else the
// *platform.IMError of its errcode (see the lists above; any other errcode,
// such as 400002 invalid parameter, is IMPermanent). A status other than
// 200 is judged by the status; a 200 without an errcode is IMTransient.
func classifyOAPI(call string, resp *platform.Response, a oapiAnswer, parsed bool) *platform.IMError {
	e := &platform.IMError{Kind: platform.IMPermanent, Call: call, HTTPStatus: resp.Status, Code: a.code(), Message: a.message()}
	if resp.Status != http.StatusOK {
		switch platform.ClassifyStatus(resp.Status) {
		case herald.OutcomeRetryable:
			e.Kind = platform.IMTransient
		case herald.OutcomeRateLimited:
			e.Kind = platform.IMRateLimited
		}
		if e.Message == "" {
			e.Message = "DingTalk answered HTTP " + strconv.Itoa(resp.Status)
		}
		return e
	}
	if !parsed || a.Errcode == nil {
		e.Kind, e.Message = platform.IMTransient, "DingTalk answered HTTP 200 without an errcode"
		return e
	}
	switch code := e.Code; {
	case code == "0":
		return nil
	case slices.Contains(oapiUnmatched, code):
		e.Kind = platform.IMUnmatched
	case slices.Contains(oapiRejected, code):
		e.Kind = platform.IMRejected
	case slices.Contains(oapiBusy, code):
		e.Kind = platform.IMTransient
	case slices.Contains(oapiRateLimited, code):
		e.Kind = platform.IMRateLimited
	}
	return e
}

// tokenRefused reports an answer saying the token sent is expired or
// invalid, on either API.
func tokenRefused(resp *platform.Response) bool {
	if resp.Status != http.StatusOK {
		return apiAnswerOf(resp).Code == codeInvalidAuthentication
	}
	var a oapiAnswer
	if json.Unmarshal(resp.Body, &a) != nil || a.Errcode == nil {
		return false
	}
	switch a.code() {
	case "40014", "42001":
		return true
	}
	return false
}

// apiHost names one of DingTalk's two APIs.
type apiHost int

const (
	newAPI apiHost = iota // api.dingtalk.com: the token in the TokenHeader
	oldAPI                // oapi.dingtalk.com: the token in the access_token query parameter
)

// exchange posts body to path on the given API, with the access token
// where that API wants it, and returns the answer. When DingTalk says the
// token is expired or invalid, it drops the token, fetches a new one and
// posts once more, returning that answer whatever it is. The token is
// scrubbed from the answer's body and from errors.
func (m *Messenger) exchange(ctx context.Context, host apiHost, path string, body []byte) (*platform.Response, error) {
	for attempt := 0; ; attempt++ {
		token, err := m.accessToken(ctx)
		if err != nil {
			return nil, err
		}
		header := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
		target := m.api + path
		if host == oldAPI {
			target = m.oapi + path + "?access_token=" + url.QueryEscape(token)
		} else {
			header.Set(TokenHeader, token)
		}
		resp, err := platform.Post(ctx, m.c, target, header, body)
		if err != nil {
			return nil, errors.New(m.scrub(err.Error(), token))
		}
		resp.Body = []byte(m.scrub(string(resp.Body), token))
		if attempt > 0 || !tokenRefused(resp) {
			return resp, nil
		}
		m.tokens.Drop(token)
	}
}

// accessToken returns the cached token while it is fresh, or fetches one.
func (m *Messenger) accessToken(ctx context.Context) (string, error) {
	token, err := m.tokens.Get(ctx)
	if err != nil {
		return "", platform.IMErrorOf(tokenCall, err)
	}
	return token, nil
}

// useFor is how long a token that lives lifetime is used: until
// tokenMargin before it expires, or half its life when that is shorter.
func useFor(lifetime time.Duration) time.Duration {
	if lifetime <= 2*tokenMargin {
		return lifetime / 2
	}
	return lifetime - tokenMargin
}

// fetchToken gets an access token for the app (POST
// /v1.0/oauth2/accessToken) and how long it lasts. A refusal of the client
// ID or secret (400 invalidClientIdOrSecret) and any other 4xx is
// IMRejected, a QPS limit IMRateLimited, 408 and 5xx IMTransient.
func (m *Messenger) fetchToken(ctx context.Context) (string, time.Duration, error) {
	body, _ := platform.JSON(struct {
		AppKey    string `json:"appKey"`
		AppSecret string `json:"appSecret"`
	}{m.clientID, m.clientSecret})
	resp, err := platform.Post(ctx, m.c, m.api+TokenPath, nil, body)
	if err != nil {
		return "", 0, &platform.IMError{Kind: platform.IMTransient, Call: tokenCall, Message: m.scrub(err.Error())}
	}
	if resp.Status == http.StatusOK {
		var a struct {
			AccessToken string `json:"accessToken"`
			ExpireIn    int64  `json:"expireIn"`
		}
		if json.Unmarshal(resp.Body, &a) != nil || a.AccessToken == "" {
			return "", 0, &platform.IMError{Kind: platform.IMTransient, Call: tokenCall, HTTPStatus: resp.Status,
				Message: "DingTalk answered HTTP 200 without an access token"}
		}
		lifetime := time.Duration(a.ExpireIn) * time.Second
		if lifetime <= 0 {
			lifetime = 2 * time.Hour // DingTalk's documented lifetime
		}
		return a.AccessToken, useFor(lifetime), nil
	}
	a := apiAnswerOf(resp)
	e := &platform.IMError{Kind: platform.IMPermanent, Call: tokenCall, HTTPStatus: resp.Status, Code: a.Code, Message: m.scrub(a.text())}
	switch {
	case isQPSLimit(resp.Status, a.Code):
		e.Kind, e.RetryAfter = platform.IMRateLimited, platform.RetryAfter(resp.Header, m.now())
	case resp.Status == http.StatusRequestTimeout || resp.Status >= 500:
		e.Kind = platform.IMTransient
	case resp.Status >= 400 && resp.Status < 500:
		e.Kind = platform.IMRejected
		e.Message = "DingTalk refused the app's Client ID (AppKey) or Client Secret (AppSecret): check them in the app's Credentials and Basic Information"
		if a.Code != "invalidClientIdOrSecret" && a.text() != "" {
			e.Message += " (" + m.scrub(a.text()) + ")"
		}
	}
	return "", 0, e
}

// scrub removes the client secret and the given tokens from s, in case an
// answer or an error ever quotes them.
func (m *Messenger) scrub(s string, tokens ...string) string {
	for _, secret := range append(tokens, m.clientSecret) {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

// String names the Messenger without its secret.
func (m *Messenger) String() string {
	return fmt.Sprintf("DingTalk messenger of app %s, robot %s", m.clientID, m.robotCode)
}
