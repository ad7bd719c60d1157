package dingtalktest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/platform/platformtest"
)

// call posts body to the fake (as JSON unless header says otherwise) and
// decodes its JSON answer.
func call(t *testing.T, method, target string, header http.Header, body string) (int, map[string]any) {
	t.Helper()
	h := http.Header{"Content-Type": {"application/json"}}
	for k, vs := range header {
		h[k] = vs
	}
	resp, data := platformtest.Do(t, method, target, h, body)
	var out map[string]any
	if err := json.Unmarshal([]byte(data), &out); err != nil {
		t.Fatalf("answer %d %s: %v", resp.StatusCode, data, err)
	}
	return resp.StatusCode, out
}

// accessToken gets a token the way an app does.
func accessToken(t *testing.T, a *IMAPI) string {
	t.Helper()
	s := a.Settings()
	body, _ := json.Marshal(map[string]string{"appKey": s.ClientID, "appSecret": s.ClientSecret})
	status, out := call(t, "POST", a.URL+TokenPath, nil, string(body))
	tok, _ := out["accessToken"].(string)
	if status != 200 || tok == "" || out["expireIn"] != float64(7200) {
		t.Fatalf("token: %d %v", status, out)
	}
	return tok
}

// sendBody is a valid batchSend to userID.
func sendBody(robotCode, userID string) string {
	return `{"robotCode":"` + robotCode + `","userIds":["` + userID + `"],"msgKey":"sampleMarkdown","msgParam":"{\"title\":\"t\",\"text\":\"Herald\"}"}`
}

func TestIMAPIImplementsIMFake(t *testing.T) {
	a := NewIMAPI(t)
	var e platform.IMEndpoints
	a.Endpoints(&e)
	if e.DingTalkAPI != a.URL || e.DingTalkOAPI != a.URL {
		t.Fatalf("endpoints %+v", e)
	}
	if s := a.Settings(); !s.Configured(herald.IMDingTalk) {
		t.Fatalf("settings %+v are not a configured DingTalk integration", s)
	}
}

func TestIMAPIToken(t *testing.T) {
	a := NewIMAPI(t)
	s := a.Settings()
	for _, c := range []struct{ name, body string }{
		{"wrong secret", `{"appKey":"` + s.ClientID + `","appSecret":"nope"}`},
		{"wrong key", `{"appKey":"dingnope","appSecret":"` + s.ClientSecret + `"}`},
		{"nothing", `{}`},
	} {
		if status, out := call(t, "POST", a.URL+TokenPath, nil, c.body); status != 400 || out["code"] != CodeBadCredentials {
			t.Errorf("%s: %d %v", c.name, status, out)
		}
	}
	if status, out := call(t, "POST", a.URL+TokenPath, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
		"appKey="+s.ClientID+"&appSecret="+s.ClientSecret); status != 400 || out["code"] != CodeMissingBody {
		t.Errorf("a form body: %d %v", status, out)
	}
	accessToken(t, a)
	if a.TokenFetches() != 1 {
		t.Fatalf("%d fetches", a.TokenFetches())
	}
	a.RejectCredentials()
	body, _ := json.Marshal(map[string]string{"appKey": s.ClientID, "appSecret": s.ClientSecret})
	if status, out := call(t, "POST", a.URL+TokenPath, nil, string(body)); status != 400 || out["code"] != CodeBadCredentials {
		t.Fatalf("after RejectCredentials: %d %v", status, out)
	}
}

// The new API takes the token in its header only, the old API in the
// query only; each refuses it anywhere else, in its own way.
func TestIMAPIAuthPlacement(t *testing.T) {
	a := NewIMAPI(t)
	s := a.Settings()
	id := a.AddUser(herald.User{Phone: "+8613800138000"})
	tok := accessToken(t, a)
	q := "?access_token=" + url.QueryEscape(tok)
	send := sendBody(s.RobotCode, id)

	// api.dingtalk.com
	for _, c := range []struct {
		name, query string
		header      http.Header
	}{
		{"no token", "", nil},
		{"query token", q, nil},
		{"bearer token", "", http.Header{"Authorization": {"Bearer " + tok}}},
	} {
		status, out := call(t, "POST", a.URL+BatchSendPath+c.query, c.header, send)
		if status != 400 || out["code"] != CodeMissingToken {
			t.Errorf("batchSend with %s: %d %v", c.name, status, out)
		}
	}
	if status, out := call(t, "POST", a.URL+BatchSendPath, http.Header{TokenHeader: {"nope"}}, send); status != 400 || out["code"] != CodeBadToken {
		t.Errorf("batchSend with an unknown token: %d %v", status, out)
	}
	if len(a.DMs(id)) != 0 {
		t.Fatal("a refused send was recorded")
	}
	if status, out := call(t, "POST", a.URL+BatchSendPath, http.Header{TokenHeader: {tok}}, send); status != 200 || out["processQueryKey"] == "" {
		t.Fatalf("batchSend with the header token: %d %v", status, out)
	}

	// oapi.dingtalk.com
	lookup := `{"mobile":"13800138000"}`
	for _, c := range []struct {
		name   string
		header http.Header
	}{
		{"no token", nil},
		{"header token", http.Header{TokenHeader: {tok}}},
		{"bearer token", http.Header{"Authorization": {"Bearer " + tok}}},
	} {
		status, out := call(t, "POST", a.URL+LookupPath, c.header, lookup)
		if status != 200 || out["errcode"] != float64(ErrcodeMissingToken) {
			t.Errorf("getbymobile with %s: %d %v", c.name, status, out)
		}
	}
	if status, out := call(t, "POST", a.URL+LookupPath+"?access_token=nope", nil, lookup); status != 200 ||
		out["errcode"] != float64(ErrcodeAuth) || out["sub_code"] != "40014" {
		t.Errorf("getbymobile with an unknown token: %d %v", status, out)
	}
	status, out := call(t, "POST", a.URL+LookupPath+q, nil, lookup)
	if result, _ := out["result"].(map[string]any); status != 200 || out["errcode"] != float64(0) || result["userid"] != id {
		t.Fatalf("getbymobile with the query token: %d %v", status, out)
	}
}

// An expired token gets each API's own answer; a new one works.
func TestIMAPIExpireTokens(t *testing.T) {
	a := NewIMAPI(t)
	s := a.Settings()
	id := a.AddUser(herald.User{Phone: "+8613800138000"})
	tok := accessToken(t, a)
	a.ExpireTokens()
	if status, out := call(t, "POST", a.URL+BatchSendPath, http.Header{TokenHeader: {tok}}, sendBody(s.RobotCode, id)); status != 400 ||
		out["code"] != CodeBadToken || out["message"] != "不合法的access_token" {
		t.Errorf("new API: %d %v", status, out)
	}
	if status, out := call(t, "POST", a.URL+LookupPath+"?access_token="+tok, nil, `{"mobile":"13800138000"}`); status != 200 ||
		out["errcode"] != float64(ErrcodeAuth) || out["sub_code"] != "40014" || out["sub_msg"] != "不合法的access_token" {
		t.Errorf("old API: %d %v", status, out)
	}
	fresh := accessToken(t, a)
	if status, out := call(t, "POST", a.URL+BatchSendPath, http.Header{TokenHeader: {fresh}}, sendBody(s.RobotCode, id)); status != 200 {
		t.Fatalf("a new token: %d %v", status, out)
	}
	if a.Sends() != 2 || len(a.DMs(id)) != 1 {
		t.Fatalf("%d sends, %d DMs", a.Sends(), len(a.DMs(id)))
	}
}

// batchSend's body is checked as DingTalk does.
func TestIMAPIBatchSendPayload(t *testing.T) {
	a := NewIMAPI(t)
	s := a.Settings()
	id := a.AddUser(herald.User{})
	tok := http.Header{TokenHeader: {accessToken(t, a)}}
	many := `"` + strings.Repeat(id+`","`, MaxUserIDs) + id + `"`
	for _, c := range []struct{ name, body, code string }{
		{"msgParam an object", `{"robotCode":"` + s.RobotCode + `","userIds":["` + id + `"],"msgKey":"sampleMarkdown","msgParam":{"title":"t","text":"x"}}`, CodeMsgParamInvalid},
		{"msgParam not JSON", `{"robotCode":"` + s.RobotCode + `","userIds":["` + id + `"],"msgKey":"sampleMarkdown","msgParam":"{title"}`, CodeMsgParamInvalid},
		{"msgParam without text", `{"robotCode":"` + s.RobotCode + `","userIds":["` + id + `"],"msgKey":"sampleMarkdown","msgParam":"{\"title\":\"t\"}"}`, CodeMsgParamInvalid},
		{"msgParam without title", `{"robotCode":"` + s.RobotCode + `","userIds":["` + id + `"],"msgKey":"sampleMarkdown","msgParam":"{\"text\":\"t\"}"}`, CodeMsgParamInvalid},
		{"no robotCode", `{"userIds":["` + id + `"],"msgKey":"sampleMarkdown","msgParam":"{\"title\":\"t\",\"text\":\"x\"}"}`, CodeRobotCodeEmpty},
		{"another robot", sendBody("dingother", id), CodeRobotCodeAuth},
		{"no users", `{"robotCode":"` + s.RobotCode + `","userIds":[],"msgKey":"sampleMarkdown","msgParam":"{\"title\":\"t\",\"text\":\"x\"}"}`, CodeUserIDsEmpty},
		{"21 users", `{"robotCode":"` + s.RobotCode + `","userIds":[` + many + `],"msgKey":"sampleMarkdown","msgParam":"{\"title\":\"t\",\"text\":\"x\"}"}`, CodeUserIDsOverMax},
		{"userIds a string", `{"robotCode":"` + s.RobotCode + `","userIds":"` + id + `","msgKey":"sampleMarkdown","msgParam":"{\"title\":\"t\",\"text\":\"x\"}"}`, CodeParamInvalid},
		{"no msgKey", `{"robotCode":"` + s.RobotCode + `","userIds":["` + id + `"],"msgParam":"{\"title\":\"t\",\"text\":\"x\"}"}`, CodeMsgKeyEmpty},
		{"unknown msgKey", `{"robotCode":"` + s.RobotCode + `","userIds":["` + id + `"],"msgKey":"markdown","msgParam":"{\"title\":\"t\",\"text\":\"x\"}"}`, CodeMsgKeyInvalid},
		{"not JSON", `{"robotCode":`, CodeParamInvalid},
	} {
		if status, out := call(t, "POST", a.URL+BatchSendPath, tok, c.body); status != 400 || out["code"] != c.code {
			t.Errorf("%s: %d %v, want 400 %s", c.name, status, out, c.code)
		}
	}
	if len(a.DMs(id)) != 0 {
		t.Fatal("an invalid send was recorded")
	}
	// Exactly 20 users is fine; each is messaged.
	twenty := `"` + strings.Repeat(id+`","`, MaxUserIDs-1) + id + `"`
	body := `{"robotCode":"` + s.RobotCode + `","userIds":[` + twenty + `],"msgKey":"sampleText","msgParam":"{\"content\":\"hi\"}"}`
	if status, out := call(t, "POST", a.URL+BatchSendPath, tok, body); status != 200 || len(a.Received(id)) != MaxUserIDs {
		t.Fatalf("20 users: %d %v, %d received", status, out, len(a.Received(id)))
	}
	if dm := a.Received(id)[0]; dm.MsgKey != "sampleText" || dm.RobotCode != s.RobotCode || string(dm.Param) != `{"content":"hi"}` {
		t.Fatalf("received %+v", dm)
	}
}

// Partial answers: unknown and invalid users in invalidStaffIdList,
// throttled ones in flowControlledStaffIdList, the rest messaged.
func TestIMAPIPartialAnswers(t *testing.T) {
	a := NewIMAPI(t)
	s := a.Settings()
	ok, gone, slow := a.AddUser(herald.User{}), a.AddUser(herald.User{}), a.AddUser(herald.User{})
	a.MarkInvalid(gone)
	a.FlowControlNext(slow, 1)
	tok := http.Header{TokenHeader: {accessToken(t, a)}}
	body := `{"robotCode":"` + s.RobotCode + `","userIds":["` + ok + `","` + gone + `","` + slow + `","stranger"],"msgKey":"sampleMarkdown","msgParam":"{\"title\":\"t\",\"text\":\"x\"}"}`
	status, out := call(t, "POST", a.URL+BatchSendPath, tok, body)
	invalid, _ := json.Marshal(out["invalidStaffIdList"])
	throttled, _ := json.Marshal(out["flowControlledStaffIdList"])
	if status != 200 || string(invalid) != `["`+gone+`","stranger"]` || string(throttled) != `["`+slow+`"]` {
		t.Fatalf("%d %v", status, out)
	}
	if len(a.DMs(ok)) != 1 || len(a.DMs(gone)) != 0 || len(a.DMs(slow)) != 0 {
		t.Fatal("only the reachable user is messaged")
	}
	// Flow control lasts for the sends it was set for.
	if status, out := call(t, "POST", a.URL+BatchSendPath, tok, sendBody(s.RobotCode, slow)); status != 200 || out["flowControlledStaffIdList"] != nil || len(a.DMs(slow)) != 1 {
		t.Fatalf("after flow control: %d %v", status, out)
	}
}

// Users are found by the mobile DingTalk stores for their phone.
func TestIMAPIDirectory(t *testing.T) {
	a := NewIMAPI(t)
	cn := a.AddUser(herald.User{Phone: "+8613800138000"})
	hk := a.AddUser(herald.User{Phone: "+85251234567"})
	q := "?access_token=" + accessToken(t, a)
	for _, c := range []struct {
		mobile  string
		errcode int
		userID  string
	}{
		{"13800138000", 0, cn},
		{"+852-51234567", 0, hk},
		{"+85-251234567", 0, hk}, // the fake cannot tell country codes apart: callers check Lookups
		{"+8613800138000", ErrcodeBadMobile, ""},
		{"8613800138000", ErrcodeBadMobile, ""},
		{"+85251234567", ErrcodeBadMobile, ""},
		{"13900139000", ErrcodeNoUser, ""},
		{"", ErrcodeBadParam, ""},
	} {
		body, _ := json.Marshal(map[string]string{"mobile": c.mobile})
		status, out := call(t, "POST", a.URL+LookupPath+q, nil, string(body))
		result, _ := out["result"].(map[string]any)
		if status != 200 || out["errcode"] != float64(c.errcode) || (c.userID != "" && result["userid"] != c.userID) {
			t.Errorf("%q: %d %v, want errcode %d", c.mobile, status, out, c.errcode)
		}
	}
	if got := a.Lookups(); len(got) != 8 || got[1] != "+852-51234567" {
		t.Fatalf("lookups %q", got)
	}
	a.AnswerNextLookup(ErrcodeAuth, "60011", "没有调用该接口的权限")
	if _, out := call(t, "POST", a.URL+LookupPath+q, nil, `{"mobile":"13800138000"}`); out["errcode"] != float64(88) || out["sub_code"] != "60011" {
		t.Fatalf("injected: %v", out)
	}
}
