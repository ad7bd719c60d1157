package wecomtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/platform/platformtest"
)

// imAnswer is the part of the IM fake's answers a test reads.
type imAnswer struct {
	Errcode        *int   `json:"errcode"`
	Errmsg         string `json:"errmsg"`
	AccessToken    string `json:"access_token"`
	ExpiresIn      int    `json:"expires_in"`
	UserID         string `json:"userid"`
	InvalidUser    string `json:"invaliduser"`
	UnlicensedUser string `json:"unlicenseduser"`
}

// imCall sends one request to the fake's /cgi-bin/call with query q and
// returns its answer, failing t unless it is HTTP 200 with an errcode.
func imCall(t *testing.T, a *IMAPI, method, call string, q url.Values, header http.Header, body string) imAnswer {
	t.Helper()
	target := a.URL + "/cgi-bin/" + call
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	resp, reply := platformtest.Do(t, method, target, header, body)
	var ans imAnswer
	if err := json.Unmarshal([]byte(reply), &ans); err != nil || ans.Errcode == nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %q is not a WeCom answer", method, call, resp.StatusCode, reply)
	}
	return ans
}

func token(t *testing.T, a *IMAPI) string {
	t.Helper()
	s := a.Settings()
	ans := imCall(t, a, http.MethodGet, CallGetToken, url.Values{"corpid": {s.CorpID}, "corpsecret": {s.Secret}}, nil, "")
	if *ans.Errcode != 0 || ans.AccessToken == "" || ans.ExpiresIn <= 0 || ans.ExpiresIn > 7200 {
		t.Fatalf("gettoken: %+v", ans)
	}
	return ans.AccessToken
}

func sendBody(touser string, agentID any, content string) string {
	b, _ := json.Marshal(map[string]any{"touser": touser, "msgtype": "markdown", "agentid": agentID, "markdown": map[string]string{"content": content}})
	return string(b)
}

func wantCode(t *testing.T, what string, ans imAnswer, code int) {
	t.Helper()
	if *ans.Errcode != code {
		t.Fatalf("%s: errcode %d (%s), want %d", what, *ans.Errcode, ans.Errmsg, code)
	}
}

func TestIMAPIGetToken(t *testing.T) {
	a := NewIMAPI(t)
	s := a.Settings()
	if s.CorpID == "" || s.AgentID <= 0 || s.Secret == "" || !s.Configured(herald.IMWeCom) {
		t.Fatalf("settings %+v", s)
	}
	get := func(q url.Values) imAnswer {
		return imCall(t, a, http.MethodGet, CallGetToken, q, nil, "")
	}
	wantCode(t, "wrong corpid", get(url.Values{"corpid": {"wwnope"}, "corpsecret": {s.Secret}}), CodeInvalidCorpID)
	wantCode(t, "wrong secret", get(url.Values{"corpid": {s.CorpID}, "corpsecret": {"nope"}}), CodeInvalidSecret)
	wantCode(t, "no corpid", get(url.Values{"corpsecret": {s.Secret}}), CodeMissingCorpID)
	wantCode(t, "no secret", get(url.Values{"corpid": {s.CorpID}}), CodeMissingSecret)
	first := token(t, a)
	if again := token(t, a); again != first {
		t.Fatal("a token still valid is not handed out again, as WeCom does")
	}
	if a.TokenFetches() != 6 {
		t.Fatalf("%d fetches counted, want 6", a.TokenFetches())
	}
}

// The token is taken from the query and only there: anywhere else it is
// as missing (41001).
func TestIMAPITokenPlacement(t *testing.T) {
	a := NewIMAPI(t)
	tok := token(t, a)
	id := a.AddUser(herald.User{Email: "a@example.com"})
	body := sendBody(id, a.Settings().AgentID, "**hi** Herald")
	inQuery := url.Values{"access_token": {tok}}
	withBodyToken := `{"access_token":"` + tok + `",` + body[1:]
	tests := []struct {
		name   string
		q      url.Values
		header http.Header
		body   string
		code   int
	}{
		{"none", nil, nil, body, CodeMissingToken},
		{"bearer header", nil, http.Header{"Authorization": {"Bearer " + tok}}, body, CodeMissingToken},
		{"in the body", nil, nil, withBodyToken, CodeMissingToken},
		{"query and header", inQuery, http.Header{"Authorization": {"Bearer " + tok}}, body, CodeMissingToken},
		{"query and body", inQuery, nil, withBodyToken, CodeMissingToken},
		{"unknown token", url.Values{"access_token": {"nope"}}, nil, body, CodeInvalidToken},
		{"query", inQuery, nil, body, 0},
	}
	for _, tt := range tests {
		wantCode(t, tt.name, imCall(t, a, http.MethodPost, CallMessageSend, tt.q, tt.header, tt.body), tt.code)
	}
	if n := len(a.DMs(id)); n != 1 {
		t.Fatalf("%d DMs, want 1 (the request with the token in the query)", n)
	}
}

func TestIMAPITokenExpiryAndRejection(t *testing.T) {
	a := NewIMAPI(t)
	id := a.AddUser(herald.User{Email: "b@example.com"})
	old := token(t, a)
	lookup := func(tok string) imAnswer {
		return imCall(t, a, http.MethodPost, CallUserByEmail, url.Values{"access_token": {tok}}, nil, `{"email":"b@example.com","email_type":2}`)
	}
	if ans := lookup(old); *ans.Errcode != 0 || ans.UserID != id {
		t.Fatalf("lookup: %+v", ans)
	}
	a.ExpireTokens()
	wantCode(t, "expired", lookup(old), CodeTokenExpired)
	fresh := token(t, a)
	if fresh == old {
		t.Fatal("gettoken handed out the expired token")
	}
	wantCode(t, "new token", lookup(fresh), 0)

	// A token also expires with time.
	now := time.Now()
	a.SetClock(func() time.Time { return now.Add(DefaultTokenLifetime + time.Second) })
	wantCode(t, "after its lifetime", lookup(fresh), CodeTokenExpired)
	a.SetClock(time.Now)

	a.RejectCredentials()
	wantCode(t, "rejected credentials", lookup(fresh), CodeInvalidToken)
	s := a.Settings()
	wantCode(t, "gettoken after rejection", imCall(t, a, http.MethodGet, CallGetToken, url.Values{"corpid": {s.CorpID}, "corpsecret": {s.Secret}}, nil, ""), CodeInvalidSecret)
}

func TestIMAPIDirectory(t *testing.T) {
	a := NewIMAPI(t)
	tok := url.Values{"access_token": {token(t, a)}}
	id := a.AddUser(herald.User{Email: "Cara@Example.com", Phone: "+8613800138000"})
	biz := a.AddMember(Member{BizMail: "dan@corp.wecom.work"})
	byEmail := func(body string) imAnswer {
		return imCall(t, a, http.MethodPost, CallUserByEmail, tok, nil, body)
	}
	if ans := byEmail(`{"email":"cara@example.com","email_type":2}`); ans.UserID != id {
		t.Errorf("personal email: %+v", ans)
	}
	wantCode(t, "personal email as corporate", byEmail(`{"email":"cara@example.com","email_type":1}`), CodeUserNotFound)
	wantCode(t, "default type is corporate", byEmail(`{"email":"cara@example.com"}`), CodeUserNotFound)
	if ans := byEmail(`{"email":"dan@corp.wecom.work"}`); ans.UserID != biz {
		t.Errorf("corporate email: %+v", ans)
	}
	wantCode(t, "email_type as a string", byEmail(`{"email":"cara@example.com","email_type":"2"}`), CodeInvalidParameter)
	byMobile := func(body string) imAnswer {
		return imCall(t, a, http.MethodPost, CallUserByMobile, tok, nil, body)
	}
	if ans := byMobile(`{"mobile":"13800138000"}`); ans.UserID != id {
		t.Errorf("mobile: %+v", ans)
	}
	wantCode(t, "mobile with +86", byMobile(`{"mobile":"+8613800138000"}`), CodeUserNotFound)
	wantCode(t, "GET", imCall(t, a, http.MethodGet, CallUserByMobile, tok, nil, ""), 43002)
	wantCode(t, "not JSON", byMobile(`mobile=13800138000`), CodeBadJSON)
}

func TestIMAPISendRules(t *testing.T) {
	a := NewIMAPI(t)
	tok := url.Values{"access_token": {token(t, a)}}
	id := a.AddUser(herald.User{Email: "e@example.com"})
	agent := a.Settings().AgentID
	send := func(body string) imAnswer {
		return imCall(t, a, http.MethodPost, CallMessageSend, tok, nil, body)
	}
	wantCode(t, "agentid as a string", send(sendBody(id, fmt.Sprint(agent), "x")), CodeInvalidAgentID)
	wantCode(t, "agentid as a fraction", send(sendBody(id, float64(agent)+0.5, "x")), CodeInvalidAgentID)
	wantCode(t, "another app's agentid", send(sendBody(id, agent+1, "x")), CodeAppNotAllowed)
	wantCode(t, "no touser", send(sendBody("", agent, "x")), CodeAllEmpty)
	wantCode(t, "unknown touser", send(sendBody("nobody", agent, "x")), CodeAllInvalid)
	wantCode(t, "empty content", send(sendBody(id, agent, "")), CodeEmptyContent)
	wantCode(t, "content too large", send(sendBody(id, agent, strings.Repeat("数", MaxAppContentBytes/3+1))), CodeContentTooLarge)
	wantCode(t, "unknown msgtype", send(`{"touser":"`+id+`","msgtype":"card","agentid":`+fmt.Sprint(agent)+`}`), CodeInvalidMsgType)
	if n := len(a.DMs(id)); n != 0 {
		t.Fatalf("%d DMs after refused sends", n)
	}
	ans := send(sendBody(id+"|nobody", agent, strings.Repeat("数", MaxAppContentBytes/3)))
	if *ans.Errcode != 0 || ans.InvalidUser != "nobody" || len(a.DMs(id)) != 1 {
		t.Fatalf("a partly valid send: %+v, %d DMs", ans, len(a.DMs(id)))
	}
	a.InvalidUserNext(1)
	if ans := send(sendBody(id, agent, "y")); *ans.Errcode != 0 || ans.InvalidUser != id {
		t.Fatalf("injected invaliduser: %+v", ans)
	}
	a.UnlicensedUserNext(1)
	if ans := send(sendBody(id, agent, "z")); *ans.Errcode != 0 || ans.UnlicensedUser != id {
		t.Fatalf("injected unlicenseduser: %+v", ans)
	}
	a.SetTrustedIP(false)
	wantCode(t, "untrusted IP", send(sendBody(id, agent, "w")), CodeUntrustedIP)
	a.SetTrustedIP(true)
	a.FailNextSends(1)
	wantCode(t, "failed send", send(sendBody(id, agent, "v")), -1)
	a.FailNext(CallMessageSend, 45009, "api freq out of limit")
	if ans := send(sendBody(id, agent, "u")); *ans.Errcode != 45009 || !strings.Contains(ans.Errmsg, "api freq out of limit, hint:") {
		t.Fatalf("injected 45009: %+v", ans)
	}
	if n := len(a.DMs(id)); n != 1 {
		t.Fatalf("%d DMs, want the one delivered", n)
	}
	if n := a.Sends(); n != 14 {
		t.Fatalf("%d sends counted, want 14", n)
	}
}

func TestIMAPIDuplicateCheck(t *testing.T) {
	a := NewIMAPI(t)
	tok := url.Values{"access_token": {token(t, a)}}
	id := a.AddUser(herald.User{Email: "f@example.com"})
	agent := a.Settings().AgentID
	checked := `{"touser":"` + id + `","msgtype":"markdown","agentid":` + fmt.Sprint(agent) +
		`,"markdown":{"content":"same"},"enable_duplicate_check":1,"duplicate_check_interval":1800}`
	for range 2 {
		wantCode(t, "checked", imCall(t, a, http.MethodPost, CallMessageSend, tok, nil, checked), 0)
	}
	if n := len(a.DMs(id)); n != 1 {
		t.Fatalf("%d DMs after a duplicate, want 1", n)
	}
	unchecked := sendBody(id, agent, "same")
	for range 2 {
		wantCode(t, "unchecked", imCall(t, a, http.MethodPost, CallMessageSend, tok, nil, unchecked), 0)
	}
	if n := len(a.DMs(id)); n != 3 {
		t.Fatalf("%d DMs, want 3: without the check, repeats are delivered", n)
	}
}

func TestIMAPIAgentGet(t *testing.T) {
	a := NewIMAPI(t)
	tok := token(t, a)
	agent := fmt.Sprint(a.Settings().AgentID)
	wantCode(t, "own app", imCall(t, a, http.MethodGet, CallAgentGet, url.Values{"access_token": {tok}, "agentid": {agent}}, nil, ""), 0)
	wantCode(t, "another app", imCall(t, a, http.MethodGet, CallAgentGet, url.Values{"access_token": {tok}, "agentid": {"1"}}, nil, ""), CodeAppNotAllowed)
	wantCode(t, "no agentid", imCall(t, a, http.MethodGet, CallAgentGet, url.Values{"access_token": {tok}}, nil, ""), CodeInvalidAgentID)
}

func TestIMAPIHoldAndRelease(t *testing.T) {
	a := NewIMAPI(t)
	tok := url.Values{"access_token": {token(t, a)}}
	id := a.AddUser(herald.User{Email: "g@example.com"})
	agent := a.Settings().AgentID
	a.HoldSendsAfter(1)
	wantCode(t, "let through", imCall(t, a, http.MethodPost, CallMessageSend, tok, nil, sendBody(id, agent, "first")), 0)
	var wg sync.WaitGroup
	var held imAnswer
	wg.Go(func() { held = imCall(t, a, http.MethodPost, CallMessageSend, tok, nil, sendBody(id, agent, "second")) })
	for a.Sends() < 2 {
		time.Sleep(time.Millisecond)
	}
	if n := len(a.DMs(id)); n != 1 {
		t.Fatalf("%d DMs while the second send is held, want 1", n)
	}
	a.Release()
	wg.Wait()
	wantCode(t, "released", held, -1)
	if n := len(a.DMs(id)); n != 1 {
		t.Fatalf("%d DMs after the release, want 1: a held send is never delivered", n)
	}
	wantCode(t, "after the release", imCall(t, a, http.MethodPost, CallMessageSend, tok, nil, sendBody(id, agent, "third")), 0)
}
