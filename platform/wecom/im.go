package wecom

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/xen0n/go-workwx"
	"github.com/xen0n/go-workwx/errcodes"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
)

// MaxAppMarkdownBytes is WeCom's limit on the markdown content of a
// self-built app's message (message/send), in bytes of UTF-8: half the
// group robot's. WeCom's message/send reference gives "markdown内容，最长不超过
// 2048个字节，必须是utf8编码"; SDKs in several languages quote the same line.
const MaxAppMarkdownBytes = 2048

// AppMarkdown returns m as the markdown content of an app message: the same
// layout as Markdown (the webhook's) and a last line with a short reference
// derived from key, cut to MaxAppMarkdownBytes in all. The reference makes
// the content of two deliveries differ even when their messages are the
// same, so that WeCom's duplicate check (see duplicateCheckInterval) drops
// only a resend of one delivery to one member, never a second event.
func AppMarkdown(m *message.Message, key string) string {
	sum := sha256.Sum256([]byte(key))
	ref := `<font color="comment">ref ` + hex.EncodeToString(sum[:4]) + `</font>`
	return render(m, MaxAppMarkdownBytes-len(ref)-1) + "\n" + ref
}

// duplicateCheckInterval is the window in which WeCom drops a message/send
// request identical to one it already delivered (enable_duplicate_check):
// WeCom has no idempotency key, so this is what keeps a message resent
// after a crash (same content, same user) from being shown twice. With the
// default HERALD_JOB_TIMEOUT, River takes a dead worker's job back within
// about two minutes (JobTimeout + 10 s + its rescue interval), well inside
// it. The content carries a reference to the delivery and recipient
// (AppMarkdown), so two events whose messages read the same are both shown.
const duplicateCheckInterval = 1800 // seconds

// Messenger sends WeCom direct messages as a self-built app (platforms.md
// F2): a corporation (corpId), the app's agentId and secret. Every call
// carries the app's access token as the access_token query parameter, and
// every answer is HTTP 200 with an errcode.
//
// Which parts go through xen0n/go-workwx, and why the rest does not:
//   - Lookups (user/get_userid_by_email, user/getuserid) use the SDK's
//     GetUserIDByEmail and GetUserIDByMobile, whose failures are a typed
//     *workwx.WorkwxClientError with the errcode. The SDK takes no context,
//     so each lookup builds a throwaway client (no goroutines; cheap) whose
//     transport binds the call's context.
//   - The access token is Herald's own (a platform.TokenCache), handed to the SDK as
//     its ITokenProvider. The SDK's own token is fetched once and then kept
//     for ever unless SpawnAccessTokenRefresher runs a goroutine that only a
//     context stops; a Messenger has no Close (deliver.Messengers drops it
//     when the settings change), so that goroutine would leak. Its token
//     fetch (execGetAccessToken) is unexported: gettoken is a thin call.
//   - message/send is a thin call: the SDK's SendMarkdownMessage discards
//     the answer's invaliduser and unlicenseduser (a partial failure looks
//     like success) and cannot set enable_duplicate_check.
//   - agent/get (Validate's check of agentId and the trusted IPs) is not in
//     the SDK: a thin call.
//
// It starts no goroutine. It is safe for concurrent use.
type Messenger struct {
	corpID  string
	agentID int64
	secret  string
	base    string // WeComAPI without a trailing slash
	client  *http.Client
	tokens  *platform.TokenCache
	now     func() time.Time
}

var _ platform.Messenger = (*Messenger)(nil)

// NewMessenger returns the WeCom Messenger for s.CorpID, s.AgentID and
// s.Secret, calling the API at e.WeComAPI through c.
func NewMessenger(s *herald.IMSettings, c *http.Client, e platform.IMEndpoints) platform.Messenger {
	m := &Messenger{
		corpID: s.CorpID, agentID: s.AgentID, secret: s.Secret,
		base: strings.TrimRight(e.WeComAPI, "/"), client: c, now: time.Now,
	}
	m.tokens = platform.NewTokenCache(func() time.Time { return m.now() }, m.fetchToken)
	return m
}

// Validate fetches a new access token now (not the cached one), which
// checks corpId and secret, then reads the app (agent/get) with it, which
// checks that agentId is the app of this secret and that WeCom takes calls
// from Herald's IP address (the app's trusted IPs).
func (m *Messenger) Validate(ctx context.Context) error {
	token, err := m.tokens.Fresh(ctx)
	if err != nil {
		return err
	}
	const call = "agent/get"
	q := url.Values{"access_token": {token}, "agentid": {strconv.FormatInt(m.agentID, 10)}}
	resp, err := m.get(ctx, "/cgi-bin/agent/get?"+q.Encode())
	if err != nil {
		return platform.IMErrorOf(call, m.redactErr(err))
	}
	var a answer
	if ie := m.read(call, resp, &a); ie != nil {
		return ie
	}
	switch *a.Errcode {
	case 0:
		return nil
	case errcodes.ErrCode48002:
		// The app may not read its own details: agentId and the trusted IPs
		// cannot be checked here, but the credentials were accepted.
		return nil
	}
	return m.classify(call, *a.Errcode, a.Errmsg)
}

// Lookup finds a WeCom member (SPEC §5): by email, as the member's email
// (email_type 2, what WeCom's contacts call the "personal" email, the field
// an administrator fills in) and then as their corporate email (email_type
// 1, the WeCom mail address, biz_mail); then by mobile (mobile). Each miss
// costs a call that WeCom counts against its daily limit of failed lookups
// (20% of the corporation's size), so the lookups stop at the first hit.
func (m *Messenger) Lookup(ctx context.Context, u herald.User) (string, error) {
	email, phone := strings.TrimSpace(u.Email), Mobile(u.Phone)
	if email == "" && phone == "" {
		return "", &platform.IMError{Kind: platform.IMUnmatched, Call: "lookup", Message: "the recipient has no email and no phone"}
	}
	if email != "" {
		for _, typ := range []workwx.EmailType{workwx.EmailTypePersonal, workwx.EmailTypeCorporate} {
			id, err := m.lookup(ctx, "user/get_userid_by_email", func(app *workwx.WorkwxApp) (string, error) {
				return app.GetUserIDByEmail(email, typ)
			})
			if err == nil {
				return id, nil
			}
			if !missed(err) {
				return "", err
			}
		}
	}
	if phone != "" {
		id, err := m.lookup(ctx, "user/getuserid", func(app *workwx.WorkwxApp) (string, error) {
			return app.GetUserIDByMobile(phone)
		})
		if err == nil || !missed(err) {
			return id, err
		}
	}
	return "", &platform.IMError{Kind: platform.IMUnmatched, Call: "lookup", Code: strconv.FormatInt(errcodes.ErrCode46004, 10),
		Message: "no member the app can see has this email or mobile (add the member, or their department, to the app's visible range)"}
}

// missed says whether a lookup by one key found nobody, so that the next
// key is worth trying: 46004, or an "invalid parameter" answer, which an
// address WeCom does not take as an email of that type may get.
func missed(err error) bool {
	var ie *platform.IMError
	if !errors.As(err, &ie) {
		return false
	}
	return ie.Kind == platform.IMUnmatched || ie.Code == strconv.FormatInt(errcodes.ErrCode40058, 10) || ie.Code == strconv.FormatInt(errcodes.ErrCode40035, 10)
}

// Mobile returns phone as WeCom's contacts hold it: a +86 (mainland China)
// number as its 11-digit national number, as WeCom's own examples show it;
// any other number as given. Spaces, dashes and brackets are dropped.
func Mobile(phone string) string {
	p := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '(', ')', '\t':
			return -1
		}
		return r
	}, phone)
	if n, ok := strings.CutPrefix(p, "+86"); ok {
		return n
	}
	return p
}

// lookup runs one SDK call with the cached token and, when WeCom says the
// token expired or is invalid, once more with a new one.
func (m *Messenger) lookup(ctx context.Context, call string, do func(*workwx.WorkwxApp) (string, error)) (string, error) {
	for attempt := 0; ; attempt++ {
		var used string
		id, err := m.sdk(ctx, &used, do)
		if err == nil {
			if id == "" {
				return "", &platform.IMError{Kind: platform.IMTransient, Call: call, HTTPStatus: http.StatusOK, Message: "WeCom answered without a userid"}
			}
			return id, nil
		}
		var ie *platform.IMError
		if errors.As(err, &ie) {
			return "", ie // from gettoken, through the provider
		}
		var we *workwx.WorkwxClientError
		if errors.As(err, &we) {
			if tokenRefused(we.Code) && attempt == 0 {
				m.tokens.Drop(used)
				continue
			}
			return "", m.classify(call, we.Code, we.Msg)
		}
		return "", platform.IMErrorOf(call, m.redactErr(err))
	}
}

// sdk runs do on a client of the SDK bound to ctx (and to c's timeout),
// with the access token from the cache; used is set to the token handed
// out.
func (m *Messenger) sdk(ctx context.Context, used *string, do func(*workwx.WorkwxApp) (string, error)) (string, error) {
	if m.client.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.client.Timeout)
		// The SDK reads and closes the answer before it returns.
		defer cancel()
	}
	prefix := ""
	if u, err := url.Parse(m.base); err == nil {
		// The SDK replaces the base URL's path with the API's: put it back.
		prefix = strings.TrimRight(u.Path, "/")
	}
	hc := &http.Client{Transport: bound{ctx: ctx, prefix: prefix, next: transport(m.client)}, CheckRedirect: m.client.CheckRedirect}
	app := workwx.New(m.corpID,
		workwx.WithQYAPIHost(m.base),
		workwx.WithHTTPClient(hc),
		workwx.WithAccessTokenProvider(provider{ctx: ctx, tokens: m.tokens, used: used}),
	).WithApp("", m.agentID) // no secret: the provider supplies the token
	return do(app)
}

func transport(c *http.Client) http.RoundTripper {
	if c.Transport != nil {
		return c.Transport
	}
	return http.DefaultTransport
}

// bound sends the SDK's requests, which it builds without a context, with
// the call's context, Herald's User-Agent, and the base URL's path.
type bound struct {
	ctx    context.Context
	prefix string
	next   http.RoundTripper
}

func (b bound) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(b.ctx)
	r.Header.Set("User-Agent", "Herald")
	if b.prefix != "" {
		r.URL.Path = b.prefix + r.URL.Path
		r.URL.RawPath = ""
	}
	return b.next.RoundTrip(r)
}

// provider hands the SDK the cached token (fetching one when there is
// none) and remembers which token it handed out, so that a refusal drops
// that token and not a newer one.
type provider struct {
	ctx    context.Context
	tokens *platform.TokenCache
	used   *string
}

func (p provider) GetToken(context.Context) (string, error) {
	t, err := p.tokens.Get(p.ctx)
	*p.used = t
	return t, err
}

// appPayload is an app message (message/send). Struct types keep the field
// order, and so the bytes, stable: WeCom's duplicate check compares them.
type appPayload struct {
	ToUser                 string   `json:"touser"`
	MsgType                string   `json:"msgtype"`
	AgentID                int64    `json:"agentid"`
	Markdown               markdown `json:"markdown"`
	EnableDuplicateCheck   int      `json:"enable_duplicate_check"`
	DuplicateCheckInterval int      `json:"duplicate_check_interval"`
}

// RenderApp returns the message/send JSON of m to one user: markdown
// content (AppMarkdown with key), agentid as an integer, and WeCom's
// duplicate check on.
func RenderApp(m *message.Message, userID string, agentID int64, key string) ([]byte, error) {
	return platform.JSON(appPayload{
		ToUser: userID, MsgType: "markdown", AgentID: agentID, Markdown: markdown{Content: AppMarkdown(m, key)},
		EnableDuplicateCheck: 1, DuplicateCheckInterval: duplicateCheckInterval,
	})
}

// Send sends msg to the user as the app (message/send), with the cached
// token and, when WeCom says it expired or is invalid, once more with a new
// one. WeCom has no idempotency key: the duplicate check, with a reference
// to key in the content (see AppMarkdown), stands in for it.
func (m *Messenger) Send(ctx context.Context, userID string, msg *message.Message, key string) platform.Result {
	const call = "message/send"
	body, err := RenderApp(msg, userID, m.agentID, key)
	if err != nil {
		return platform.Result{Outcome: herald.OutcomePermanent, Error: "rendering the WeCom message: " + err.Error()}
	}
	for attempt := 0; ; attempt++ {
		token, err := m.tokens.Get(ctx)
		if err != nil {
			r := platform.IMErrorOf("gettoken", err).Result()
			r.RequestBody = string(body)
			return r
		}
		resp, err := platform.Post(ctx, m.client, m.base+"/cgi-bin/message/send?"+url.Values{"access_token": {token}}.Encode(), nil, body)
		if err != nil {
			return platform.TransportFailure(m.redactErr(err), body)
		}
		var a sendAnswer
		ie := m.read(call, resp, &a)
		if ie == nil && tokenRefused(*a.Errcode) && attempt == 0 {
			m.tokens.Drop(token)
			continue
		}
		r := m.sendResult(call, resp, &a, ie, userID)
		r.RequestBody = string(body)
		return r
	}
}

// sendAnswer is message/send's answer.
type sendAnswer struct {
	answer
	InvalidUser    string `json:"invaliduser"`
	UnlicensedUser string `json:"unlicenseduser"`
}

// sendResult is the Result of message/send's answer (read gave ie when it
// is not an errcode answer): errcode 0 is SUCCESS unless the user is listed
// in invaliduser or unlicenseduser (a partial failure, PERMANENT); other
// errcodes are classified by classify.
func (m *Messenger) sendResult(call string, resp *platform.Response, a *sendAnswer, ie *platform.IMError, userID string) platform.Result {
	var r platform.Result
	switch {
	case ie != nil:
		r = ie.Result()
	case *a.Errcode != 0:
		r = m.classify(call, *a.Errcode, a.Errmsg).Result()
	case listed(a.InvalidUser, userID):
		r = platform.Result{Outcome: herald.OutcomePermanent, PlatformCode: "0",
			Error: call + ": WeCom did not deliver the message: the user is listed in invaliduser (not a member, or outside the app's visible range)"}
	case listed(a.UnlicensedUser, userID):
		r = platform.Result{Outcome: herald.OutcomePermanent, PlatformCode: "0",
			Error: call + ": WeCom did not deliver the message: the user is listed in unlicenseduser (no WeCom interface licence)"}
	default:
		r = platform.Result{Outcome: herald.OutcomeSuccess, PlatformCode: "0"}
	}
	r.HTTPStatus = resp.Status
	r.ResponseBody = m.redact(string(resp.Body))
	return r
}

// listed says whether the "|"-separated list holds userID. WeCom userids
// are case-insensitive.
func listed(list, userID string) bool {
	for _, u := range strings.Split(list, "|") {
		if u != "" && strings.EqualFold(strings.TrimSpace(u), userID) {
			return true
		}
	}
	return false
}

// answer is what every WeCom answer has.
type answer struct {
	Errcode *int64 `json:"errcode"`
	Errmsg  string `json:"errmsg"`
}

func (a *answer) code() *int64 { return a.Errcode }

// read decodes an answer into v; it returns an *IMError when the answer
// is not a WeCom errcode answer: a status outside 2xx, or no JSON errcode
// (a proxy's page, a cut-off body). Those are transient for 408, 429 and
// 5xx, permanent otherwise, as platform.ClassifyStatus says; a 2xx without
// an errcode is transient, since whether WeCom acted on it is unknown.
func (m *Messenger) read(call string, resp *platform.Response, v interface{ code() *int64 }) *platform.IMError {
	parsed := json.Unmarshal(resp.Body, v) == nil && v.code() != nil
	if resp.Status >= 200 && resp.Status <= 299 {
		if parsed {
			return nil
		}
		return &platform.IMError{Kind: platform.IMTransient, Call: call, HTTPStatus: resp.Status, Message: "WeCom answered without an errcode"}
	}
	e := &platform.IMError{Kind: platform.IMPermanent, Call: call, HTTPStatus: resp.Status, Message: "WeCom answered HTTP " + strconv.Itoa(resp.Status),
		RetryAfter: platform.RetryAfter(resp.Header, time.Now())}
	switch platform.ClassifyStatus(resp.Status) {
	case herald.OutcomeRateLimited:
		e.Kind = platform.IMRateLimited
	case herald.OutcomeRetryable:
		e.Kind = platform.IMTransient
	}
	if parsed {
		e.Code = strconv.FormatInt(*v.code(), 10)
	}
	return e
}

// Errcodes that say the access token itself was refused: the call is
// retried once with a new token.
func tokenRefused(code int64) bool {
	switch code {
	case errcodes.ErrCode42001, // expired
		errcodes.ErrCode40014, // invalid
		errcodes.ErrCode41001: // missing
		return true
	}
	return false
}

// classify says what a non-zero errcode means (platforms.md F2, go-workwx
// errcodes):
//
//	46004, 60111, 40003, 81013   IMUnmatched: no such member the app can see
//	                             (a lookup's UNMATCHED; a send's PERMANENT)
//	40013, 40001, 40091, 41002,  IMRejected: the corpId or secret is wrong,
//	41004                        or the app is disabled
//	42001, 40014, 41001          IMRejected: a new token was refused too
//	60020                        IMRejected: Herald's IP is not a trusted IP
//	40056, 301002                IMRejected: agentId is not this app's
//	48002, 60011                 IMRejected: the app may not call the API
//	45009, 45033                 IMRateLimited, after RateLimitDelay
//	-1                           IMTransient: WeCom is busy
//	any other                    IMPermanent: 44004, 45002, 40058, 82001 …
//
// The message says what to do; errmsg is quoted without the hint and help
// URL WeCom appends.
func (m *Messenger) classify(call string, code int64, errmsg string) *platform.IMError {
	e := &platform.IMError{Kind: platform.IMPermanent, Call: call, HTTPStatus: http.StatusOK, Code: strconv.FormatInt(code, 10)}
	say := func(kind platform.IMErrorKind, advice string) {
		e.Kind = kind
		e.Message = m.redact(strings.TrimSpace(trimErrmsg(errmsg)))
		if advice != "" {
			if e.Message != "" {
				e.Message += ": "
			}
			e.Message += advice
		}
	}
	switch code {
	case errcodes.ErrCode46004, errcodes.ErrCode60111, errcodes.ErrCode40003, errcodes.ErrCode81013:
		say(platform.IMUnmatched, "no such member, or outside the app's visible range")
	case errcodes.ErrCode40013, errcodes.ErrCode41002:
		say(platform.IMRejected, "WeCom does not know the corpId: copy it from My Company › Company Information in the WeCom admin console")
	case errcodes.ErrCode40001, errcodes.ErrCode40091, errcodes.ErrCode41004:
		say(platform.IMRejected, "WeCom refused the secret: copy the app's Secret from App Management › the app, and check that the app is enabled")
	case errcodes.ErrCode42001, errcodes.ErrCode40014, errcodes.ErrCode41001:
		say(platform.IMRejected, "WeCom refused a newly issued access token: check the app's secret and that the app is enabled")
	case errcodes.ErrCode60020:
		advice := "WeCom refuses calls from Herald's IP address: add it to the app's trusted IPs (App Management › the app › Trusted IPs; it takes a minute to apply)"
		if ip := callerIP(errmsg); ip != "" {
			advice = "WeCom refuses calls from Herald's IP address " + ip + ": add it to the app's trusted IPs (App Management › the app › Trusted IPs; it takes a minute to apply)"
		}
		say(platform.IMRejected, advice)
	case errcodes.ErrCode40056, errcodes.ErrCode301002:
		say(platform.IMRejected, fmt.Sprintf("agentId %d is not the app of this secret: copy the AgentId from App Management › the app", m.agentID))
	case errcodes.ErrCode48002, errcodes.ErrCode60011:
		say(platform.IMRejected, "the app is not allowed to call "+call+": check the app's permissions and visible range")
	case errcodes.ErrCode45009, errcodes.ErrCode45033:
		say(platform.IMRateLimited, "")
		e.RetryAfter = RateLimitDelay
	case codeSystemBusy:
		say(platform.IMTransient, "")
	default:
		say(platform.IMPermanent, "")
	}
	if e.Message == "" {
		e.Message = "WeCom answered errcode " + e.Code
	}
	return e
}

// fromIP finds the caller's address WeCom quotes in its errmsg.
var fromIP = regexp.MustCompile(`from ip: ?([0-9A-Fa-f.:]+)`)

func callerIP(errmsg string) string {
	if s := fromIP.FindStringSubmatch(errmsg); s != nil {
		return strings.TrimRight(s[1], ".:")
	}
	return ""
}

// tokenAnswer is gettoken's answer.
type tokenAnswer struct {
	answer
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

// fetchToken gets a new access token (gettoken) and its lifetime.
func (m *Messenger) fetchToken(ctx context.Context) (string, time.Duration, error) {
	const call = "gettoken"
	q := url.Values{"corpid": {m.corpID}, "corpsecret": {m.secret}}
	resp, err := m.get(ctx, "/cgi-bin/gettoken?"+q.Encode())
	if err != nil {
		return "", 0, platform.IMErrorOf(call, m.redactErr(err))
	}
	var a tokenAnswer
	if ie := m.read(call, resp, &a); ie != nil {
		return "", 0, ie
	}
	if *a.Errcode != 0 {
		return "", 0, m.classify(call, *a.Errcode, a.Errmsg)
	}
	if a.AccessToken == "" {
		return "", 0, &platform.IMError{Kind: platform.IMTransient, Call: call, HTTPStatus: resp.Status, Message: "WeCom answered without an access_token"}
	}
	return a.AccessToken, useFor(time.Duration(a.ExpiresIn) * time.Second), nil
}

// defaultTokenLifetime is how long WeCom's access tokens live (expires_in,
// 7200 s) when an answer does not say.
const defaultTokenLifetime = 2 * time.Hour

// tokenMargin is how long before its expiry a token is no longer used, so
// that a call made just before the expiry does not reach WeCom just after
// it: five minutes, or a tenth of a shorter lifetime.
const tokenMargin = 5 * time.Minute

// useFor is how long a token that lives lifetime is used.
func useFor(lifetime time.Duration) time.Duration {
	if lifetime <= 0 {
		lifetime = defaultTokenLifetime
	}
	return lifetime - min(tokenMargin, lifetime/10)
}

// get sends a GET to the API path (with its query) and reads the answer.
// Its error never contains the URL, which holds a token or the secret.
func (m *Messenger) get(ctx context.Context, pathAndQuery string) (*platform.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.base+pathAndQuery, nil)
	if err != nil {
		return nil, errors.New("cannot build the request: invalid URL")
	}
	req.Header.Set("User-Agent", "Herald")
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, platform.StripURL(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", platform.StripURL(err))
	}
	return &platform.Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// secretParams finds the credentials a URL may carry, should any text
// quote one despite StripURL.
var secretParams = regexp.MustCompile(`(access_token|corpsecret)=[^&\s"'\\]*`)

// redact removes the secret and any quoted token from s.
func (m *Messenger) redact(s string) string {
	s = secretParams.ReplaceAllString(s, "$1=[redacted]")
	if m.secret != "" {
		s = strings.ReplaceAll(s, m.secret, "[redacted]")
	}
	if t := m.tokens.Current(); t != "" {
		s = strings.ReplaceAll(s, t, "[redacted]")
	}
	return s
}

func (m *Messenger) redactErr(err error) error {
	return errors.New(m.redact(platform.StripURL(err).Error()))
}
