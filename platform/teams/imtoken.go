package teams

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldhq/herald/platform"
)

// The audiences of the two access tokens direct messages need
// (platforms.md C3): Microsoft Graph, to find the user and the chat, and
// the Bot Connector, to post in the chat.
const (
	graphScope = "https://graph.microsoft.com/.default"
	botScope   = "https://api.botframework.com/.default"
)

// refreshEarly is how long before its expiry a token is replaced, so that
// a token is never sent in its last minute (bytebase does the same).
const refreshEarly = time.Minute

// callToken names the token endpoint in errors.
const callToken = "Entra ID token"

// accessToken is one token and when it expires.
type accessToken struct {
	value  string
	expiry time.Time
}

// tokens returns the cache of the app's token for scope.
func (m *Messenger) tokens(scope string) *platform.TokenCache {
	return platform.NewTokenCache(m.clock, func(ctx context.Context) (string, time.Duration, error) {
		tok, err := m.fetchToken(ctx, scope)
		if err != nil {
			return "", 0, err
		}
		// Kept until refreshEarly before it expires, or half its life when
		// that is shorter (a token that lives two minutes or less).
		life := tok.expiry.Sub(m.clock())
		early := refreshEarly
		if life < 2*refreshEarly {
			early = life / 2
		}
		return tok.value, life - early, nil
	})
}

// tokenAnswer is the token endpoint's answer: the token, or an OAuth error.
type tokenAnswer struct {
	TokenType   string  `json:"token_type"`
	ExpiresIn   float64 `json:"expires_in"`
	AccessToken string  `json:"access_token"`

	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// fetchToken gets a token for scope with the client-credentials grant:
// POST {login}/{tenantId}/oauth2/v2.0/token with the client id and secret
// in the form body (platforms.md C3). The tenant is the app registration's
// own: Azure Bot resources are single-tenant (new multi-tenant bots can no
// longer be created), and a single-tenant bot must get its Bot Connector
// token from its tenant, not from botframework.com.
//
// An answer of 429 is IMRateLimited, 408 and 5xx IMTransient, and every
// other refusal IMRejected: an unknown tenant (400 invalid_request
// AADSTS90002), client (400 unauthorized_client AADSTS700016) or secret
// (401 invalid_client AADSTS7000215), or an expired secret — the settings
// cannot get a token, for anyone.
func (m *Messenger) fetchToken(ctx context.Context, scope string) (accessToken, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {m.settings.ClientID},
		"client_secret": {m.settings.ClientSecret},
		"scope":         {scope},
	}
	target := m.login + "/" + url.PathEscape(m.settings.TenantID) + "/oauth2/v2.0/token"
	resp, err := m.do(ctx, http.MethodPost, target, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte(form.Encode()))
	if err != nil {
		return accessToken{}, &platform.IMError{Kind: platform.IMTransient, Call: callToken, Message: m.scrub(err.Error())}
	}
	var a tokenAnswer
	parsed := json.Unmarshal(resp.Body, &a) == nil
	if resp.Status == http.StatusOK && parsed && a.AccessToken != "" {
		life := time.Duration(a.ExpiresIn * float64(time.Second))
		return accessToken{value: a.AccessToken, expiry: m.now().Add(life)}, nil
	}
	e := &platform.IMError{Kind: platform.IMRejected, Call: callToken, HTTPStatus: resp.Status, Code: clean(a.Error, maxCode)}
	switch {
	case resp.Status == http.StatusTooManyRequests:
		e.Kind, e.RetryAfter = platform.IMRateLimited, platform.RetryAfter(resp.Header, m.now())
	case resp.Status == http.StatusRequestTimeout || resp.Status >= 500:
		e.Kind, e.RetryAfter = platform.IMTransient, platform.RetryAfter(resp.Header, m.now())
	case resp.Status == http.StatusOK:
		// Not the token endpoint's answer (a proxy's page, a cut body):
		// whether the credentials are good is unknown.
		e.Kind, e.Message = platform.IMTransient, "the token endpoint answered without a token"
		return accessToken{}, e
	}
	if e.Kind == platform.IMRejected {
		e.Message = "Microsoft Entra ID refused the app's credentials (check tenantId, clientId and clientSecret: " +
			"the secret's value, not its id, and not expired)"
	}
	if d := aadDescription(a.ErrorDescription); d != "" {
		e.Message = strings.TrimPrefix(e.Message+": "+m.scrub(d), ": ")
	}
	return accessToken{}, e
}

// aadDescription is the first line of an Entra ID error_description
// ("AADSTS7000215: Invalid client secret provided. …"), without the trace
// and correlation ids and the timestamp Entra appends.
func aadDescription(d string) string {
	d, _, _ = strings.Cut(d, "\r\n")
	d, _, _ = strings.Cut(d, "\n")
	d, _, _ = strings.Cut(d, " Trace ID:")
	return clean(d, maxIMMessage)
}
