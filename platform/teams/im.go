package teams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
)

// Messenger sends Teams direct messages as the app's bot (platforms.md
// C3, SPEC §5): it finds the user in Microsoft Graph by email, makes sure
// the Teams app is installed for them (which creates the bot's one-to-one
// chat with them), and posts the message's Adaptive Card in that chat
// through the Bot Connector.
//
// It is a thin typed client over the HTTP APIs, not an SDK: Microsoft's
// Graph SDK for Go (msgraph-sdk-go) is huge — thousands of generated
// packages for the few calls Herald makes — and the Bot Framework has no
// Go SDK at all.
//
// It holds two access tokens from Microsoft Entra ID (client credentials):
// one for Graph and one for the Bot Connector, each cached until a minute
// before it expires and shared by concurrent calls; when Graph or the Bot
// Connector answers 401, the token is dropped, a new one fetched, and the
// call made once more. It also remembers, in memory, the catalog id of the
// Teams app and each user's chat, so that a repeat message to someone is a
// single request. It is safe for concurrent use.
type Messenger struct {
	settings          herald.IMSettings
	client            *http.Client
	login, graph, bot string
	graphToken        *platform.TokenCache
	botToken          *platform.TokenCache
	now               func() time.Time

	mu         sync.Mutex
	catalogApp string            // the app's id in the org catalog, once found
	chats      map[string]string // user id → the bot's chat with them
}

var _ platform.Messenger = (*Messenger)(nil)

// NewMessenger returns the Teams Messenger for the app registration
// s.TenantID, s.ClientID, s.ClientSecret. It calls Entra ID at
// e.TeamsLogin, Graph at e.TeamsGraph and the Bot Connector at e.TeamsBot,
// all through c. The Teams app must be in the organisation's app catalog
// with the app registration's client id as its manifest id (its
// externalId there), and the app registration needs the Graph application
// permissions User.Read.All, AppCatalog.Read.All and
// TeamsAppInstallation.ReadWriteForUser.All, with admin consent.
func NewMessenger(s *herald.IMSettings, c *http.Client, e platform.IMEndpoints) platform.Messenger {
	m := &Messenger{
		settings: *s, client: c,
		login: strings.TrimRight(e.TeamsLogin, "/"), graph: strings.TrimRight(e.TeamsGraph, "/"), bot: strings.TrimRight(e.TeamsBot, "/"),
		now: time.Now, chats: map[string]string{},
	}
	m.graphToken, m.botToken = m.tokens(graphScope), m.tokens(botScope)
	return m
}

func (m *Messenger) clock() time.Time { return m.now() }

// Names of the calls, in errors.
const (
	callUser      = "Graph get user"
	callUsers     = "Graph list users"
	callCatalog   = "Graph list teamsApps"
	callInstalled = "Graph list installedApps"
	callInstall   = "Graph install app"
	callChat      = "Graph get chat"
	callSend      = "Bot Connector send to conversation"
)

// permissionOf is the Graph application permission each call needs, for
// the error that says it is missing.
var permissionOf = map[string]string{
	callUser:      "User.Read.All",
	callUsers:     "User.Read.All",
	callCatalog:   "AppCatalog.Read.All",
	callInstalled: "TeamsAppInstallation.ReadWriteForUser.All",
	callInstall:   "TeamsAppInstallation.ReadWriteForUser.All",
	callChat:      "TeamsAppInstallation.ReadWriteForUser.All",
}

// Validate fetches both tokens anew (not from the cache, which they then
// replace) and finds the app in the organisation's catalog, so that it
// checks the credentials, Graph's consent to read the catalog, and that the
// app is published.
func (m *Messenger) Validate(ctx context.Context) error {
	for _, s := range []*platform.TokenCache{m.graphToken, m.botToken} {
		if _, err := s.Fresh(ctx); err != nil {
			return imError(callToken, err)
		}
	}
	m.mu.Lock()
	m.catalogApp = ""
	m.mu.Unlock()
	if _, err := m.catalogAppID(ctx); err != nil {
		return imError(callCatalog, err)
	}
	return nil
}

// Lookup finds the Entra ID user whose email u has: GET /v1.0/users/{email}
// finds members, whose user principal name is their email; when Graph
// knows no such principal (404, or 400 for a name it cannot read), GET
// /v1.0/users?$filter=mail eq '{email}' finds guests, whose principal name
// is made up (alice_example.com#EXT#@…). A recipient without an email, or
// found by neither, is IMUnmatched. A 403 (the app lacks User.Read.All) is
// IMRejected: no lookup can work. A 400 to the $filter query (an email
// Graph cannot compare) is IMPermanent: this recipient cannot be found.
func (m *Messenger) Lookup(ctx context.Context, u herald.User) (string, error) {
	if strings.TrimSpace(u.Email) == "" {
		return "", &platform.IMError{Kind: platform.IMUnmatched, Call: callUser, Message: "the recipient has no email"}
	}
	var user struct {
		ID string `json:"id"`
	}
	status, err := m.graphJSON(ctx, callUser, http.MethodGet, "/v1.0/users/"+url.PathEscape(u.Email), nil, &user)
	switch {
	case err == nil && user.ID != "":
		return user.ID, nil
	case err == nil:
		return "", &platform.IMError{Kind: platform.IMTransient, Call: callUser, HTTPStatus: status, Message: "Graph answered without the user's id"}
	case status != http.StatusNotFound && status != http.StatusBadRequest:
		return "", imError(callUser, err)
	}
	var users struct {
		Value []struct {
			ID string `json:"id"`
		} `json:"value"`
	}
	filter := "mail eq " + odataString(u.Email)
	if _, err := m.graphJSON(ctx, callUsers, http.MethodGet, "/v1.0/users?$filter="+queryEscape(filter), nil, &users); err != nil {
		return "", imError(callUsers, err)
	}
	for _, v := range users.Value {
		if v.ID != "" {
			return v.ID, nil
		}
	}
	return "", &platform.IMError{Kind: platform.IMUnmatched, Call: callUsers, HTTPStatus: http.StatusOK,
		Message: "no Microsoft Entra ID user has the email " + u.Email}
}

// activity is the message posted to the Bot Connector: the Adaptive Card
// as the only attachment (platforms.md C3).
type activity struct {
	Type        string               `json:"type"`
	Attachments []activityAttachment `json:"attachments"`
}

type activityAttachment struct {
	ContentType string       `json:"contentType"`
	Content     AdaptiveCard `json:"content"`
}

// Send posts the message's Adaptive Card (Card, as Workflows webhooks get
// it) to the bot's chat with the user: POST {bot}/v3/conversations/
// {chatId}/activities. The chat comes from the cache or, the first time,
// from Graph (see resolveChat); a cached chat the Bot Connector no longer
// knows (403 BotNotInConversationRoster, 404 ConversationNotFound: the app
// was removed) is forgotten and found anew once. The Bot Connector drops
// no repeats, so key is not used.
//
// The answer (msteams-docs conversation-messages.md, bots/how-to/
// rate-limit.md): 200/201 is SUCCESS; 429 RATE_LIMITED with Retry-After;
// 412 PreconditionFailed, 408 and 5xx (502, 504 …) RETRYABLE; 401 once the
// token was refreshed (BotNotRegistered: no Azure Bot uses this app
// registration) is a rejected credential; every other refusal (400
// BadArgument, 403 ConversationBlockedByUser or BotDisabledByAdmin, 413
// MessageSizeTooBig) is PERMANENT for this recipient. A Graph failure on
// the way is an IMError's Result (a 403 there, a missing permission, is a
// rejected credential).
func (m *Messenger) Send(ctx context.Context, userID string, msg *message.Message, _ string) platform.Result {
	body, err := platform.JSON(activity{Type: "message", Attachments: []activityAttachment{{ContentType: cardContentType, Content: Card(msg)}}})
	if err != nil {
		return platform.Result{Outcome: herald.OutcomePermanent, Error: "rendering the Teams message: " + err.Error()}
	}
	m.mu.Lock()
	chatID := m.chats[userID]
	m.mu.Unlock()
	cached := chatID != ""
	for {
		if chatID == "" {
			if chatID, err = m.resolveChat(ctx, userID); err != nil {
				return m.failure(callChat, err, body)
			}
			m.mu.Lock()
			m.chats[userID] = chatID
			m.mu.Unlock()
		}
		r, stale := m.post(ctx, chatID, body)
		if !stale || !cached {
			return r
		}
		m.mu.Lock()
		if m.chats[userID] == chatID {
			delete(m.chats, userID)
		}
		m.mu.Unlock()
		chatID, cached = "", false
	}
}

// botError is the Bot Connector's error body; a 401 has only a message.
type botError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Message string `json:"message"`
}

// post sends the activity body to the chat and classifies the answer (see
// Send); stale says the chat is unknown to the Bot Connector or has not
// the bot in it.
func (m *Messenger) post(ctx context.Context, chatID string, body []byte) (platform.Result, bool) {
	target := m.bot + "/v3/conversations/" + url.PathEscape(chatID) + "/activities"
	resp, err := m.call(ctx, m.botToken, http.MethodPost, target, body)
	if err != nil {
		return m.failure(callSend, err, body), false
	}
	r := platform.Result{Outcome: platform.ClassifyStatus(resp.Status), HTTPStatus: resp.Status, RequestBody: string(body), ResponseBody: m.scrub(string(resp.Body))}
	if r.Outcome == herald.OutcomeSuccess {
		return r, false
	}
	var e botError
	_ = json.Unmarshal(resp.Body, &e) // an unreadable body leaves the code empty
	code, text := clean(e.Error.Code, maxCode), clean(m.scrub(e.Error.Message), maxIMMessage)
	if text == "" {
		text = clean(m.scrub(e.Message), maxIMMessage)
	}
	ie := &platform.IMError{Kind: platform.IMPermanent, Call: callSend, HTTPStatus: resp.Status, Code: code, Message: text}
	switch {
	case resp.Status == http.StatusUnauthorized:
		ie.Kind = platform.IMRejected
		ie.Message = strings.TrimSuffix("the Bot Connector refused the app's token (is the Azure Bot registered with this clientId, "+
			"with the Microsoft Teams channel on?): "+text, ": ")
	case resp.Status == http.StatusTooManyRequests:
		ie.Kind = platform.IMRateLimited
	case resp.Status == http.StatusPreconditionFailed || r.Outcome == herald.OutcomeRetryable:
		ie.Kind = platform.IMTransient
	}
	if ie.Kind == platform.IMRateLimited || ie.Kind == platform.IMTransient {
		ie.RetryAfter = platform.RetryAfter(resp.Header, m.now())
	}
	stale := resp.Status == http.StatusNotFound || resp.Status == http.StatusForbidden && code == "BotNotInConversationRoster"
	res := ie.Result()
	res.RequestBody, res.ResponseBody = r.RequestBody, r.ResponseBody
	return res, stale
}

// failure is the Result of a call that failed before the Bot Connector
// answered (a token, Graph, no answer at all).
func (m *Messenger) failure(call string, err error, body []byte) platform.Result {
	r := imError(call, err).Result()
	r.Error = m.scrub(r.Error)
	r.RequestBody = string(body)
	var ge *graphFailure
	if errors.As(err, &ge) {
		r.ResponseBody = m.scrub(string(ge.body))
	}
	return r
}

// resolveChat finds the bot's chat with the user through Graph: the app's
// id in the catalog, the app's installation for the user (installing it
// when there is none), and the installation's chat.
func (m *Messenger) resolveChat(ctx context.Context, userID string) (string, error) {
	installed := "/v1.0/users/" + url.PathEscape(userID) + "/teamwork/installedApps"
	installation, err := m.install(ctx, installed, true)
	if err != nil {
		return "", err
	}
	var chat struct {
		ID string `json:"id"`
	}
	status, err := m.graphJSON(ctx, callChat, http.MethodGet, installed+"/"+url.PathEscape(installation)+"/chat", nil, &chat)
	if status == http.StatusNotFound {
		// The installation was just listed: a chat not found yet is one
		// Teams is still creating.
		return "", &platform.IMError{Kind: platform.IMTransient, Call: callChat, HTTPStatus: status, Message: imError(callChat, err).Message}
	}
	if err != nil {
		return "", err
	}
	if chat.ID == "" {
		return "", &platform.IMError{Kind: platform.IMTransient, Call: callChat, HTTPStatus: status, Message: "Graph answered without the chat's id"}
	}
	return chat.ID, nil
}

// install returns the app's installation for the user, installing the
// app when it is not. An install refused with 404 (the catalog app is
// gone: removed, or published anew under another id) looks the app up in
// the catalog again, and tries once more when retry.
func (m *Messenger) install(ctx context.Context, installed string, retry bool) (string, error) {
	appID, err := m.catalogAppID(ctx)
	if err != nil {
		return "", err
	}
	installation, err := m.installation(ctx, installed, appID)
	if err != nil || installation != "" {
		return installation, err
	}
	bind, _ := platform.JSON(map[string]string{"teamsApp@odata.bind": m.graph + "/v1.0/appCatalogs/teamsApps/" + appID})
	status, err := m.graphJSON(ctx, callInstall, http.MethodPost, installed, bind, nil)
	switch {
	case status == http.StatusNotFound && retry:
		m.forgetCatalogApp(appID)
		return m.install(ctx, installed, false)
	case err != nil && status != http.StatusConflict: // 409: installed meanwhile (another send, or the user): as good
		return "", err
	}
	if installation, err = m.installation(ctx, installed, appID); err != nil {
		return "", err
	}
	if installation == "" {
		return "", &platform.IMError{Kind: platform.IMTransient, Call: callInstalled, HTTPStatus: http.StatusOK,
			Message: "Graph does not list the app's installation for the user yet"}
	}
	return installation, nil
}

// catalogAppID returns the id of the Teams app in the organisation's
// catalog: the app whose manifest id (externalId) is the app
// registration's client id, as bytebase and Microsoft's proactive
// installation guide find it. None there is IMRejected: no direct message
// can be sent until an admin publishes the app.
func (m *Messenger) catalogAppID(ctx context.Context) (string, error) {
	m.mu.Lock()
	id := m.catalogApp
	m.mu.Unlock()
	if id != "" {
		return id, nil
	}
	var apps struct {
		Value []struct {
			ID                 string `json:"id"`
			DistributionMethod string `json:"distributionMethod"`
		} `json:"value"`
	}
	filter := "externalId eq " + odataString(m.settings.ClientID)
	if _, err := m.graphJSON(ctx, callCatalog, http.MethodGet, "/v1.0/appCatalogs/teamsApps?$filter="+queryEscape(filter), nil, &apps); err != nil {
		return "", err
	}
	for _, a := range apps.Value {
		// The organisation's own upload first: a store app of the same
		// manifest id is someone else's.
		if a.ID != "" && (id == "" || strings.EqualFold(a.DistributionMethod, "organization")) {
			id = a.ID
		}
	}
	if id == "" {
		return "", &platform.IMError{Kind: platform.IMRejected, Call: callCatalog, HTTPStatus: http.StatusOK,
			Message: "the Herald app is not in the organisation's app catalog: publish the Teams app whose manifest id is the clientId " +
				m.settings.ClientID + " to the organisation"}
	}
	m.mu.Lock()
	m.catalogApp = id
	m.mu.Unlock()
	return id, nil
}

func (m *Messenger) forgetCatalogApp(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.catalogApp == id {
		m.catalogApp = ""
	}
}

// installation returns the id of the app's installation for the user
// (GET …/installedApps?$expand=teamsApp&$filter=teamsApp/id eq '…'), or ""
// when it is not installed.
func (m *Messenger) installation(ctx context.Context, installed, appID string) (string, error) {
	var list struct {
		Value []struct {
			ID string `json:"id"`
		} `json:"value"`
	}
	filter := "teamsApp/id eq " + odataString(appID)
	if _, err := m.graphJSON(ctx, callInstalled, http.MethodGet, installed+"?$expand=teamsApp&$filter="+queryEscape(filter), nil, &list); err != nil {
		return "", err
	}
	for _, v := range list.Value {
		if v.ID != "" {
			return v.ID, nil
		}
	}
	return "", nil
}

// graphFailure is a Graph call's refusal with the body Graph answered, for
// the delivery log.
type graphFailure struct {
	*platform.IMError
	body []byte
}

func (f *graphFailure) Unwrap() error { return f.IMError }

// graphErrorBody is Graph's error envelope (learn.microsoft.com/graph/errors).
type graphErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// graphJSON calls Graph at path with the Graph token and reads a 2xx
// answer into out (when not nil). It returns the answer's status (zero
// when none came) and, for any other answer, a *graphFailure classified
// by its status: 401 (once the token was refreshed) and 403 — a refused
// token or a missing application permission — IMRejected; 429
// IMRateLimited and 408 or 5xx IMTransient, with Graph's Retry-After;
// other statuses IMPermanent. The callers judge 404, 400 and 409, which
// mean different things for each call.
func (m *Messenger) graphJSON(ctx context.Context, call, method, path string, body []byte, out any) (int, error) {
	resp, err := m.call(ctx, m.graphToken, method, m.graph+path, body)
	if err != nil {
		return 0, imError(call, err)
	}
	if resp.Status >= 200 && resp.Status < 300 {
		if out != nil && json.Unmarshal(resp.Body, out) != nil {
			return resp.Status, &platform.IMError{Kind: platform.IMTransient, Call: call, HTTPStatus: resp.Status, Message: "Graph's answer is not the JSON expected"}
		}
		return resp.Status, nil
	}
	var e graphErrorBody
	_ = json.Unmarshal(resp.Body, &e) // an unreadable body leaves the code empty
	ie := &platform.IMError{Kind: platform.IMPermanent, Call: call, HTTPStatus: resp.Status,
		Code: clean(e.Error.Code, maxCode), Message: clean(m.scrub(e.Error.Message), maxIMMessage)}
	switch outcome := platform.ClassifyStatus(resp.Status); {
	case resp.Status == http.StatusUnauthorized:
		ie.Kind = platform.IMRejected
		ie.Message = strings.TrimSuffix("Graph refused the app's token: "+ie.Message, ": ")
	case resp.Status == http.StatusForbidden:
		ie.Kind = platform.IMRejected
		hint := "grant the app registration the Graph application permission " + permissionOf[call] + ", with admin consent"
		if ie.Message == "" {
			ie.Message = hint
		} else {
			ie.Message += " (" + hint + ")"
		}
	case outcome == herald.OutcomeRateLimited:
		ie.Kind, ie.RetryAfter = platform.IMRateLimited, platform.RetryAfter(resp.Header, m.now())
	case outcome == herald.OutcomeRetryable:
		ie.Kind, ie.RetryAfter = platform.IMTransient, platform.RetryAfter(resp.Header, m.now())
	}
	return resp.Status, &graphFailure{IMError: ie, body: resp.Body}
}

// call sends one request with a token of s in the Authorization header.
// On 401 — the token expired or was revoked — it drops the token, gets a
// new one and sends the request once more. Its error is an *IMError: the
// token endpoint's refusal, or IMTransient when no answer came.
func (m *Messenger) call(ctx context.Context, s *platform.TokenCache, method, target string, body []byte) (*platform.Response, error) {
	for attempt := 0; ; attempt++ {
		token, err := s.Get(ctx)
		if err != nil {
			return nil, platform.IMErrorOf(callToken, err)
		}
		header := http.Header{"Authorization": {"Bearer " + token}}
		if body != nil {
			header.Set("Content-Type", "application/json")
		}
		resp, err := m.do(ctx, method, target, header, body)
		if err != nil {
			return nil, &platform.IMError{Kind: platform.IMTransient, Message: m.scrub(err.Error())}
		}
		if resp.Status == http.StatusUnauthorized && attempt == 0 {
			s.Drop(token)
			continue
		}
		return resp, nil
	}
}

// maxIMMessage is how much of an error message of Entra ID, Graph or the
// Bot Connector is kept: theirs say what to fix, in a sentence or two.
const maxIMMessage = 400

// maxIMResponse is how much of an answer is read: Graph and the Bot
// Connector answer in a few hundred bytes.
const maxIMResponse = 64 << 10

// do sends one request through the Messenger's client and reads the
// answer. Its error never contains the URL.
func (m *Messenger) do(ctx context.Context, method, target string, header http.Header, body []byte) (*platform.Response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, r)
	if err != nil {
		return nil, errors.New("cannot build the request: invalid URL")
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "Herald")
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, platform.StripURL(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxIMResponse))
	if err != nil {
		return nil, errors.New("reading the answer: " + platform.StripURL(err).Error())
	}
	return &platform.Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// imError is err as an *IMError named call, the call filled in when err
// did not name one (a request that got no answer).
func imError(call string, err error) *platform.IMError {
	e := platform.IMErrorOf(call, err)
	if e.Call == "" {
		c := *e
		c.Call = call
		return &c
	}
	return e
}

// scrub removes the client secret from text that is about to be logged or
// shown; no answer is known to echo it, but the delivery log must never
// hold it.
func (m *Messenger) scrub(s string) string {
	if m.settings.ClientSecret == "" {
		return s
	}
	return strings.ReplaceAll(s, m.settings.ClientSecret, "[secret]")
}

// clean is s trimmed, made valid UTF-8 and cut to max characters.
func clean(s string, max int) string {
	return message.Truncate(strings.TrimSpace(strings.ToValidUTF8(s, "")), max)
}

// odataString quotes s as an OData string literal, in single quotes with
// each quote in s doubled:
//
//	odataString("o'brien@example.com") == "'o''brien@example.com'"
func odataString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// queryEscape escapes a query parameter's value with %20 for spaces, which
// Graph reads in $filter, rather than +.
func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
