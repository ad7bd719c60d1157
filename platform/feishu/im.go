package feishu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	lark "github.com/larksuite/oapi-sdk-go/v3"
	larkcore "github.com/larksuite/oapi-sdk-go/v3/core"
	larkauth "github.com/larksuite/oapi-sdk-go/v3/service/auth/v3"
	larkcontact "github.com/larksuite/oapi-sdk-go/v3/service/contact/v3"
	larkim "github.com/larksuite/oapi-sdk-go/v3/service/im/v1"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
)

// The Open API calls direct messages make (platforms.md E2), as IMError
// names them.
const (
	callToken  = "auth/v3/tenant_access_token/internal"
	callLookup = "contact/v3/users/batch_get_id"
	callSend   = "im/v1/messages"
)

// Open API codes the Messenger acts on (platforms.md E2). Every other
// non-zero code is PERMANENT.
const (
	codeTokenInvalid = 99991663 // invalid or expired tenant token
	codeTokenMissing = 99991661 // no token, or not as "Bearer …"
	codeGatewayLimit = 99991400 // the gateway's rate limit, with x-ogw-ratelimit-reset
	codeScopeMissing = 99991672 // the app lacks a scope the API needs
	codeInternal     = 1500     // "internal error, try again later" (the generic error code list)
	codeBotInactive  = 230006   // the app's bot capability is not enabled
	codeSendLimit    = 230020   // IM's own rate limit (5 per second to one user)
	codeNoPermission = 230027   // the app lacks a permission sending needs
)

// Limits of the IM API (platforms.md E2) and how the Messenger uses it.
const (
	maxIMBody     = 30000    // bytes of a card message's request body: "at most 30 KB"
	maxUUID       = 50       // characters of a message's uuid
	maxReply      = 64 << 10 // bytes of an answer read
	tokenMargin   = 3 * time.Minute
	tokenLifetime = 2 * time.Hour // the documented lifetime, for an answer without "expire"
	receiveIDType = "open_id"
)

// rejected are the codes that say the app itself is refused, whoever the
// recipient: its token (still, after a refresh), its scopes, its bot. The
// delivery falls back to the channel.
var rejected = map[int64]string{
	codeTokenInvalid: "the tenant token was refused, also just after it was issued",
	codeTokenMissing: "the tenant token was not taken, also just after it was issued",
	codeScopeMissing: "grant the app the permission the message names (contact:user.id:readonly to look users up, im:message:send_as_bot to send) and publish a new version",
	codeBotInactive:  "enable the app's bot capability and publish a new version",
	codeNoPermission: "grant the app the permission im:message:send_as_bot and publish a new version",
}

// Messenger sends direct messages through a Feishu or Lark custom app
// (platforms.md E2) with the official SDK, larksuite/oapi-sdk-go: it finds
// users by email, then by mobile (contact/v3/users/batch_get_id), and sends
// them the webhook's interactive card (im/v1/messages), the card as a
// JSON string in "content".
//
// The tenant token is kept here, not in the SDK's cache. That cache is one
// for the whole process (a package variable, which lark.WithTokenCache
// replaces for every client), keyed by app id alone, so Feishu and Lark,
// or the old and new settings of one app, would share tokens; and on
// 99991663 the SDK retries once with the same cached token and returns
// the error. So the SDK's cache is off, the token is fetched with the
// SDK's own call (whose typed answer lacks the token: it is read from the
// body) and passed to each request with larkcore.WithTenantAccessToken.
// It is cached until three minutes before it expires (as the SDK does),
// fetched by one call at a time, and dropped when an answer says it is
// invalid or missing (99991663, 99991661): a new one is fetched and the
// request sent once more.
//
// It is safe for concurrent use.
type Messenger struct {
	name      string // "Feishu" or "Lark", in errors
	appID     string
	appSecret string
	api       *lark.Client
	now       func() time.Time
	tokens    *platform.TokenCache
}

var _ platform.Messenger = (*Messenger)(nil)

// NewFeishuMessenger returns the Messenger of the Feishu app s.AppID,
// calling the Open API at e.FeishuAPI through c.
func NewFeishuMessenger(s *herald.IMSettings, c *http.Client, e platform.IMEndpoints) platform.Messenger {
	return newMessenger("Feishu", s, c, e.FeishuAPI)
}

// NewLarkMessenger returns the Messenger of the Lark app s.AppID, calling
// the Open API at e.LarkAPI through c.
func NewLarkMessenger(s *herald.IMSettings, c *http.Client, e platform.IMEndpoints) platform.Messenger {
	return newMessenger("Lark", s, c, e.LarkAPI)
}

func newMessenger(name string, s *herald.IMSettings, c *http.Client, base string) *Messenger {
	if s == nil {
		s = &herald.IMSettings{}
	}
	if c == nil {
		c = &http.Client{}
	}
	m := &Messenger{name: name, appID: s.AppID, appSecret: s.AppSecret, now: time.Now}
	m.tokens = platform.NewTokenCache(func() time.Time { return m.now() }, m.fetchToken)
	m.api = lark.NewClient(s.AppID, s.AppSecret,
		lark.WithOpenBaseUrl(strings.TrimRight(base, "/")),
		lark.WithHttpClient(recorder{c}),
		lark.WithEnableTokenCache(false),
		lark.WithSerialization(wireJSON{}),
		lark.WithLogger(quiet{}),
		lark.WithLogLevel(larkcore.LogLevelError),
	)
	return m
}

// Validate fetches a new tenant token now, which checks the app id and
// secret, and keeps it for the calls that follow.
func (m *Messenger) Validate(ctx context.Context) error {
	if _, err := m.tokens.Fresh(ctx); err != nil {
		return m.tokenError(err)
	}
	return nil
}

// Lookup finds the user's open_id by email, then, when the email finds
// nobody (or there is none), by phone. A user the app cannot see (outside
// its contact range) is not found: IMUnmatched, like one who does not
// exist.
func (m *Messenger) Lookup(ctx context.Context, u herald.User) (string, error) {
	if u.Email == "" && u.Phone == "" {
		return "", &platform.IMError{Kind: platform.IMUnmatched, Call: callLookup, Message: "the recipient has neither an email nor a phone"}
	}
	if u.Email != "" {
		if id, err := m.batchGetID(ctx, &larkcontact.BatchGetIdUserReqBody{Emails: []string{u.Email}}); err != nil || id != "" {
			return id, err
		}
	}
	if u.Phone != "" {
		if id, err := m.batchGetID(ctx, &larkcontact.BatchGetIdUserReqBody{Mobiles: []string{Mobile(u.Phone)}}); err != nil || id != "" {
			return id, err
		}
	}
	return "", &platform.IMError{Kind: platform.IMUnmatched, Call: callLookup,
		Message: "no " + m.name + " user the app can see has the recipient's email or phone"}
}

// Mobile is how batch_get_id takes a phone number: a mainland China number
// as its national number (the documented form; whether "+86…" is taken too
// is UNVERIFIED), any other with "+" and its country code, as given.
// Spaces, dashes, dots and parentheses are dropped.
func Mobile(phone string) string {
	p := strings.Map(func(r rune) rune {
		if strings.ContainsRune(" -.()", r) {
			return -1
		}
		return r
	}, phone)
	if national, ok := strings.CutPrefix(p, "+86"); ok {
		return national
	}
	return p
}

// batchGetID looks up one email or one mobile and returns the open_id
// found, or "" when the answer has none.
func (m *Messenger) batchGetID(ctx context.Context, body *larkcontact.BatchGetIdUserReqBody) (string, error) {
	body.IncludeResigned = larkcore.BoolPtr(false)
	rep, err := m.call(ctx, callLookup, func(ctx context.Context, token larkcore.RequestOptionFunc) error {
		req := larkcontact.NewBatchGetIdUserReqBuilder().UserIdType(receiveIDType).Body(body).Build()
		_, err := m.api.Contact.User.BatchGetId(ctx, req, token)
		return err
	})
	if err != nil {
		return "", m.scrubErr(err)
	}
	if e := m.classify(callLookup, rep); e != nil {
		return "", m.scrubErr(e)
	}
	var resp larkcontact.BatchGetIdUserResp
	if err := json.Unmarshal(rep.body, &resp); err != nil || resp.Data == nil {
		return "", nil
	}
	for _, u := range resp.Data.UserList {
		if u != nil && u.UserId != nil && *u.UserId != "" {
			return *u.UserId, nil
		}
	}
	return "", nil
}

// Send sends the webhook's interactive card (Card) to the user, cut
// further only if its request would pass 30 KB. key becomes the message's
// uuid (hashed when longer than 50 characters), so that Feishu drops a
// repeat of it within an hour: a resend after a crash is not shown twice.
//
// The answer is classified by its code (platforms.md E2): 0 is SUCCESS;
// 230020 and 99991400 (HTTP 429, with x-ogw-ratelimit-reset) are
// RATE_LIMITED; 5xx, 408 and 1500 are RETRYABLE; 230006, 230027 and
// 99991672 (the app is not allowed to send) and a token refused after a
// refresh are PERMANENT with CredentialsRejected; every other code
// (230001 invalid parameter, 230025 too long, 230028 DLP, 230002, 230013,
// …) is PERMANENT for this recipient.
func (m *Messenger) Send(ctx context.Context, userID string, msg *message.Message, key string) platform.Result {
	body := MessageBody(userID, msg, key)
	wire := string(encode(body))
	rep, err := m.call(ctx, callSend, func(ctx context.Context, token larkcore.RequestOptionFunc) error {
		req := larkim.NewCreateMessageReqBuilder().ReceiveIdType(receiveIDType).Body(body).Build()
		_, err := m.api.Im.Message.Create(ctx, req, token)
		return err
	})
	if err != nil {
		r := platform.IMErrorOf(callSend, m.scrubErr(err)).Result()
		r.RequestBody = wire
		return r
	}
	r := platform.Result{Outcome: herald.OutcomeSuccess, HTTPStatus: rep.status, PlatformCode: "0"}
	if e := m.classify(callSend, rep); e != nil {
		r = platform.IMErrorOf(callSend, m.scrubErr(e)).Result()
	}
	r.RequestBody, r.ResponseBody = wire, m.scrub(string(rep.body))
	return r
}

// MessageBody is the im/v1/messages request body that sends m to the user
// userID (an open_id) as an interactive card: Card(m), cut further only
// when the body would pass 30 KB (the card goes in as a JSON string, so
// its quotes and backslashes count twice), with key as its uuid (hashed
// when longer than 50 characters, left out when empty).
func MessageBody(userID string, m *message.Message, key string) *larkim.CreateMessageReqBody {
	body := func(c *InteractiveCard) *larkim.CreateMessageReqBody {
		b := &larkim.CreateMessageReqBody{
			ReceiveId: larkcore.StringPtr(userID),
			MsgType:   larkcore.StringPtr("interactive"),
			Content:   larkcore.StringPtr(string(encode(c))),
		}
		if key != "" {
			b.Uuid = larkcore.StringPtr(UUID(key))
		}
		return b
	}
	size := func(c *InteractiveCard) int { return len(encode(body(c))) }
	c := Card(m)
	if size(&c) > maxIMBody {
		c = fitCard(m, maxIMBody, size)
	}
	return body(&c)
}

// UUID is the uuid a message is sent with for key: key itself when it has
// at most 50 characters, else the hex of the first 20 bytes of its
// SHA-256 (40 characters), the same for the same key.
func UUID(key string) string {
	if len(key) <= maxUUID {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:20])
}

// call sends one request with the tenant token and returns its answer.
// When the answer says the token is invalid or missing (99991663,
// 99991661), the token is dropped, a new one fetched and the request sent
// once more; its answer is the one returned.
func (m *Messenger) call(ctx context.Context, name string, send func(context.Context, larkcore.RequestOptionFunc) error) (*reply, error) {
	for retried := false; ; retried = true {
		token, err := m.tenantToken(ctx)
		if err != nil {
			return nil, err
		}
		rep, err := m.exchange(ctx, name, func(ctx context.Context) error {
			return send(ctx, larkcore.WithTenantAccessToken(token))
		})
		if err != nil {
			return nil, err
		}
		if !retried && rep.hasCode && (rep.code == codeTokenInvalid || rep.code == codeTokenMissing) {
			m.tokens.Drop(token)
			continue
		}
		return rep, nil
	}
}

// reply is the answer to one Open API request as it came over the wire.
type reply struct {
	status int
	header http.Header
	body   []byte
	err    error // the transport's, when no answer came

	// The body's code and msg, when it has a code.
	code    int64
	msg     string
	hasCode bool
}

type replyKey struct{}

// recorder is the HTTP client the SDK gets: c, keeping the answer of a
// request whose context holds a *reply. The SDK does not hand back the
// answers it cannot parse (a gateway's HTML 502, a plain-text 404), and
// they too must be classified by their status and logged as they came.
type recorder struct{ c *http.Client }

func (r recorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.c.Do(req)
	rep, _ := req.Context().Value(replyKey{}).(*reply)
	if rep == nil {
		return resp, err
	}
	if err != nil {
		rep.err = err
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	_ = resp.Body.Close()
	if err != nil {
		rep.err = fmt.Errorf("reading the answer: %w", err)
		return nil, rep.err
	}
	rep.status, rep.header, rep.body = resp.StatusCode, resp.Header, body
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// exchange runs one SDK call and returns the answer it got; the error is
// an *IMError when none came.
func (m *Messenger) exchange(ctx context.Context, name string, send func(context.Context) error) (*reply, error) {
	rep := &reply{}
	err := send(context.WithValue(ctx, replyKey{}, rep))
	switch {
	case rep.err != nil:
		return nil, &platform.IMError{Kind: platform.IMTransient, Call: name, Message: platform.StripURL(rep.err).Error()}
	case rep.status == 0 && err != nil:
		// The SDK refused to build the request.
		return nil, &platform.IMError{Kind: platform.IMPermanent, Call: name, Message: err.Error()}
	case rep.status == 0:
		return nil, &platform.IMError{Kind: platform.IMTransient, Call: name, Message: "no answer"}
	}
	var b struct {
		Code *int64 `json:"code"`
		Msg  string `json:"msg"`
	}
	if json.Unmarshal(rep.body, &b) == nil && b.Code != nil {
		rep.code, rep.msg, rep.hasCode = *b.Code, b.Msg, true
	}
	return rep, nil
}

// classify reads an Open API answer (platforms.md §0 and E2): nil for a
// success (2xx with code 0), else the failure's kind. An answer without a
// code is judged by its status: 5xx and 408 are transient, a 2xx is too
// (it is not the platform's answer, so whether the request took is
// unknown), anything else (the gateway's plain-text 404) is permanent.
func (m *Messenger) classify(call string, r *reply) *platform.IMError {
	e := &platform.IMError{Kind: platform.IMPermanent, Call: call, HTTPStatus: r.status}
	ok := r.status >= 200 && r.status <= 299
	if r.hasCode {
		if ok && r.code == 0 {
			return nil
		}
		e.Code, e.Message = strconv.FormatInt(r.code, 10), clean(r.msg)
	} else {
		e.Message = m.name + " answered HTTP " + strconv.Itoa(r.status) + " without a code"
		if body := clean(string(r.body)); body != "" {
			e.Message += ": " + body
		}
	}
	switch {
	case r.status == http.StatusTooManyRequests || (r.hasCode && (r.code == codeGatewayLimit || r.code == codeSendLimit)):
		e.Kind, e.RetryAfter = platform.IMRateLimited, retryAfter(r.header, m.now())
	case r.status >= 500 || r.status == http.StatusRequestTimeout || (r.hasCode && r.code == codeInternal) || (ok && !r.hasCode):
		e.Kind = platform.IMTransient
	case r.hasCode && rejected[r.code] != "":
		e.Kind = platform.IMRejected
		e.Message = hint(e.Message, rejected[r.code])
	}
	return e
}

// hint adds what to do about a failure to the platform's message of it.
func hint(msg, todo string) string {
	if msg = strings.TrimRight(msg, ". "); msg == "" {
		return todo
	}
	return msg + "; " + todo
}

// tenantToken returns the cached tenant token, or fetches one.
func (m *Messenger) tenantToken(ctx context.Context) (string, error) {
	token, err := m.tokens.Get(ctx)
	if err != nil {
		return "", m.tokenError(err)
	}
	return token, nil
}

// tokenError is the IMError of a failed token fetch (or of a wait for
// another call's fetch), scrubbed.
func (m *Messenger) tokenError(err error) error {
	return m.scrubErr(platform.IMErrorOf(callToken, err))
}

// fetchToken asks for a tenant token with the app id and secret, and
// returns it with how long to keep it. Credentials the token endpoint
// refuses (HTTP 200 with code 10003 invalid param, 10014 app secret
// invalid, …) are IMRejected, and so is any other answer that is not
// transient: without a token nothing can be sent.
func (m *Messenger) fetchToken(ctx context.Context) (string, time.Duration, error) {
	if m.appID == "" || m.appSecret == "" {
		return "", 0, &platform.IMError{Kind: platform.IMRejected, Call: callToken, Message: "the app id and secret must both be set"}
	}
	rep, err := m.exchange(ctx, callToken, func(ctx context.Context) error {
		body := larkauth.NewInternalTenantAccessTokenReqBodyBuilder().AppId(m.appID).AppSecret(m.appSecret).Build()
		_, err := m.api.Auth.TenantAccessToken.Internal(ctx, larkauth.NewInternalTenantAccessTokenReqBuilder().Body(body).Build())
		return err
	})
	if err != nil {
		return "", 0, err
	}
	if e := m.classify(callToken, rep); e != nil {
		if e.Kind == platform.IMPermanent {
			e.Kind = platform.IMRejected
			e.Message = hint(e.Message, m.name+" refused the app's credentials: check the App ID and App Secret")
		}
		return "", 0, e
	}
	// The answer's tenant_access_token is read here and nowhere else: no
	// error or log holds it.
	var t larkcore.TenantAccessTokenResp
	if err := json.Unmarshal(rep.body, &t); err != nil || t.TenantAccessToken == "" {
		return "", 0, &platform.IMError{Kind: platform.IMTransient, Call: callToken, HTTPStatus: rep.status, Code: "0",
			Message: m.name + " answered without a tenant_access_token"}
	}
	return t.TenantAccessToken, lifetime(t.Expire), nil
}

// lifetime is how long a token that expires in expire seconds is used:
// until three minutes before it expires, or half its life when that is
// shorter than six minutes. A token without an expiry is kept two hours,
// the documented lifetime.
func lifetime(expire int) time.Duration {
	d := time.Duration(expire) * time.Second
	switch {
	case d <= 0:
		return tokenLifetime - tokenMargin
	case d > 2*tokenMargin:
		return d - tokenMargin
	}
	return d / 2
}

// scrub removes the app secret and the cached tenant token from s, should
// an answer ever quote them.
func (m *Messenger) scrub(s string) string {
	for _, secret := range []string{m.appSecret, m.tokens.Current()} {
		if len(secret) >= 8 {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

func (m *Messenger) scrubErr(err error) error {
	var e *platform.IMError
	if errors.As(err, &e) {
		e.Message = m.scrub(e.Message)
		return e
	}
	return err
}

// wireJSON encodes request bodies with platform.JSON, so that what goes
// over the wire is, byte for byte, the RequestBody the delivery log shows
// (the SDK's own encoding escapes <, > and &).
type wireJSON struct{}

func (wireJSON) Serialize(v any) ([]byte, error)      { return platform.JSON(v) }
func (wireJSON) Deserialize(data []byte, v any) error { return json.Unmarshal(data, v) }

// quiet is the SDK's logger: Herald reports what happened in its
// delivery log and errors, not on stdout.
type quiet struct{}

func (quiet) Debug(context.Context, ...any) {}
func (quiet) Info(context.Context, ...any)  {}
func (quiet) Warn(context.Context, ...any)  {}
func (quiet) Error(context.Context, ...any) {}
