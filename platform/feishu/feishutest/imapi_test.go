package feishutest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/platform"
)

// imCall posts body to path with the given headers and returns the status,
// the body code (-1 without one) and the raw body.
func imCall(t *testing.T, a *IMAPI, path string, header map[string]string, body string) (int, int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, a.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := a.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var b struct {
		Code *int `json:"code"`
	}
	code := -1
	if json.Unmarshal(raw, &b) == nil && b.Code != nil {
		code = *b.Code
	}
	return resp.StatusCode, code, string(raw)
}

func tenantToken(t *testing.T, a *IMAPI) string {
	t.Helper()
	s := a.Settings()
	body, _ := json.Marshal(map[string]string{"app_id": s.AppID, "app_secret": s.AppSecret})
	status, code, raw := imCall(t, a, TokenPath, nil, string(body))
	var ans struct {
		Token  string `json:"tenant_access_token"`
		Expire int    `json:"expire"`
	}
	if status != 200 || code != 0 || json.Unmarshal([]byte(raw), &ans) != nil || !strings.HasPrefix(ans.Token, "t-") || ans.Expire != 7200 {
		t.Fatalf("token: %d %s", status, raw)
	}
	return ans.Token
}

const card = `{"header":{"title":{"tag":"plain_text","content":"Herald"}},"elements":[{"tag":"div","text":{"tag":"plain_text","content":"hi"}}]}`

func message(openID, uuid string) string {
	content, _ := json.Marshal(card)
	b, _ := json.Marshal(map[string]any{"receive_id": openID, "msg_type": "interactive", "content": json.RawMessage(content), "uuid": uuid})
	return string(b)
}

func TestIMAPIEndpoints(t *testing.T) {
	var e platform.IMEndpoints
	feishu, lark := NewFeishuIMAPI(t), NewLarkIMAPI(t)
	feishu.Endpoints(&e)
	lark.Endpoints(&e)
	if e.FeishuAPI != feishu.URL || e.LarkAPI != lark.URL || feishu.URL == lark.URL {
		t.Fatalf("endpoints %+v", e)
	}
	if feishu.Settings() == lark.Settings() {
		t.Fatal("the two fakes share an app")
	}
}

func TestIMAPIToken(t *testing.T) {
	a := NewFeishuIMAPI(t)
	s := a.Settings()
	for _, tc := range []struct {
		body string
		code int
	}{
		{`{"app_id":"cli_other","app_secret":"` + s.AppSecret + `"}`, CodeBadParam},
		{`{"app_id":"` + s.AppID + `"}`, CodeBadParam},
		{`not json`, CodeBadParam},
		{`{"app_id":"` + s.AppID + `","app_secret":"wrong"}`, CodeBadSecret},
	} {
		if status, code, raw := imCall(t, a, TokenPath, nil, tc.body); status != 200 || code != tc.code || strings.Contains(raw, "tenant_access_token") {
			t.Errorf("%s: %d %s, want 200 with code %d", tc.body, status, raw, tc.code)
		}
	}
	tenantToken(t, a)
	a.RejectCredentials()
	body, _ := json.Marshal(map[string]string{"app_id": s.AppID, "app_secret": s.AppSecret})
	if _, code, _ := imCall(t, a, TokenPath, nil, string(body)); code != CodeBadSecret {
		t.Errorf("rejected credentials: code %d", code)
	}
	if a.TokenFetches() != 1 {
		t.Errorf("%d tokens issued, want 1", a.TokenFetches())
	}
}

// The tenant token is taken in "Authorization: Bearer …" only.
func TestIMAPIAuthPlacement(t *testing.T) {
	a := NewFeishuIMAPI(t)
	id := a.AddUser(herald.User{Email: "ada@example.com"})
	token := tenantToken(t, a)
	lookup := `{"emails":["ada@example.com"]}`
	for _, tc := range []struct {
		name   string
		path   string
		header map[string]string
		code   int
	}{
		{"no header", BatchGetIDPath, nil, CodeNoTenantToken},
		{"without Bearer", BatchGetIDPath, map[string]string{"Authorization": token}, CodeNoTenantToken},
		{"lower-case bearer", BatchGetIDPath, map[string]string{"Authorization": "bearer " + token}, CodeNoTenantToken},
		{"in the query", BatchGetIDPath + "?tenant_access_token=" + token, nil, CodeNoTenantToken},
		{"in another header", BatchGetIDPath, map[string]string{"X-Tenant-Access-Token": token}, CodeNoTenantToken},
		{"unknown token", BatchGetIDPath, map[string]string{"Authorization": "Bearer t-unknown"}, CodeBadTenantToken},
		{"right", BatchGetIDPath, map[string]string{"Authorization": "Bearer " + token}, 0},
	} {
		status, code, raw := imCall(t, a, tc.path, tc.header, lookup)
		want := http.StatusBadRequest
		if tc.code == 0 {
			want = http.StatusOK
		}
		if status != want || code != tc.code {
			t.Errorf("%s: %d %s, want %d with code %d", tc.name, status, raw, want, tc.code)
		}
		if tc.code == 0 && !strings.Contains(raw, id) {
			t.Errorf("%s: %s does not find %s", tc.name, raw, id)
		}
	}
	// Sends are refused the same way, and counted.
	if _, code, _ := imCall(t, a, MessagesPath+"?receive_id_type=open_id", nil, message(id, "u1")); code != CodeNoTenantToken {
		t.Errorf("send without a token: code %d", code)
	}
	if a.Sends() != 1 || len(a.DMs(id)) != 0 {
		t.Errorf("%d sends, %d DMs", a.Sends(), len(a.DMs(id)))
	}
}

func TestIMAPITokenExpiry(t *testing.T) {
	a := NewLarkIMAPI(t)
	now := time.Now()
	a.SetClock(func() time.Time { return now })
	auth := map[string]string{"Authorization": "Bearer " + tenantToken(t, a)}
	lookup := `{"emails":["x@example.com"]}`
	if _, code, _ := imCall(t, a, BatchGetIDPath, auth, lookup); code != 0 {
		t.Fatalf("fresh token: code %d", code)
	}
	now = now.Add(TokenLifetime)
	if _, code, _ := imCall(t, a, BatchGetIDPath, auth, lookup); code != CodeBadTenantToken {
		t.Fatalf("token past its lifetime: code %d", code)
	}
	auth = map[string]string{"Authorization": "Bearer " + tenantToken(t, a)}
	a.ExpireTokens()
	if status, code, _ := imCall(t, a, BatchGetIDPath, auth, lookup); status != 400 || code != CodeBadTenantToken {
		t.Fatalf("expired token: %d code %d", status, code)
	}
	auth = map[string]string{"Authorization": "Bearer " + tenantToken(t, a)}
	a.RejectCredentials()
	if _, code, _ := imCall(t, a, BatchGetIDPath, auth, lookup); code != CodeBadTenantToken {
		t.Fatalf("token of rejected credentials: code %d", code)
	}
}

func TestIMAPILookup(t *testing.T) {
	a := NewFeishuIMAPI(t)
	mainland := a.AddUser(herald.User{Email: "Ada@Example.com", Phone: "+86 138 0013 8000"})
	abroad := a.AddUser(herald.User{Phone: "+14155550100"})
	auth := map[string]string{"Authorization": "Bearer " + tenantToken(t, a)}
	_, _, raw := imCall(t, a, BatchGetIDPath+"?user_id_type=open_id", auth,
		`{"emails":["ada@example.com","nobody@example.com"],"mobiles":["13800138000","+8613800138000","+14155550100"],"include_resigned":false}`)
	var ans struct {
		Data struct {
			UserList []struct {
				UserID string `json:"user_id"`
				Email  string `json:"email"`
				Mobile string `json:"mobile"`
			} `json:"user_list"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(raw), &ans); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range ans.Data.UserList {
		got = append(got, u.Email+u.Mobile+"="+u.UserID)
	}
	want := []string{"ada@example.com=" + mainland, "nobody@example.com=", "13800138000=" + mainland, "+8613800138000=", "+14155550100=" + abroad}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("user_list %v, want %v", got, want)
	}
	for _, tc := range []struct{ path, body string }{
		{BatchGetIDPath, `{}`},
		{BatchGetIDPath, `{"emails":"ada@example.com"}`},
		{BatchGetIDPath + "?user_id_type=user_id", `{"emails":["ada@example.com"]}`},
	} {
		if status, code, _ := imCall(t, a, tc.path, auth, tc.body); status != 400 || code != CodeBadField {
			t.Errorf("%s %s: %d code %d", tc.path, tc.body, status, code)
		}
	}
	a.RevokeScope(ScopeUserID)
	if _, code, raw := imCall(t, a, BatchGetIDPath, auth, `{"emails":["ada@example.com"]}`); code != CodeNoScope || !strings.Contains(raw, ScopeUserID) {
		t.Errorf("without the scope: %s", raw)
	}
}

func TestIMAPISend(t *testing.T) {
	a := NewFeishuIMAPI(t)
	id := a.AddUser(herald.User{Email: "ada@example.com"})
	now := time.Now()
	a.SetClock(func() time.Time { return now })
	auth := map[string]string{"Authorization": "Bearer " + tenantToken(t, a)}
	send := func(query, body string) (int, int, string) {
		t.Helper()
		return imCall(t, a, MessagesPath+query, auth, body)
	}
	objectContent, _ := json.Marshal(map[string]any{"receive_id": id, "msg_type": "interactive", "content": json.RawMessage(card)})
	for _, tc := range []struct {
		name, query, body string
		status, code      int
	}{
		{"no receive_id_type", "", message(id, "a"), 400, CodeBadField},
		{"chat_id", "?receive_id_type=chat_id", message(id, "a"), 400, CodeBadField},
		{"content as an object", "?receive_id_type=open_id", string(objectContent), 400, CodeBadField},
		{"uuid over 50", "?receive_id_type=open_id", message(id, strings.Repeat("u", 51)), 400, CodeBadField},
		{"unknown user", "?receive_id_type=open_id", message("ou_unknown", "a"), 400, CodeIMBadParam},
		{"bad card", "?receive_id_type=open_id", strings.Replace(message(id, "a"), "plain_text", "rich_text", 1), 400, CodeIMBadParam},
		{"too long", "?receive_id_type=open_id", message(id, "a")[:len(message(id, "a"))-1] + `,"pad":"` + strings.Repeat("p", MaxMessageBody) + `"}`, 400, CodeTooLong},
	} {
		if status, code, raw := send(tc.query, tc.body); status != tc.status || code != tc.code {
			t.Errorf("%s: %d %s, want %d with code %d", tc.name, status, raw, tc.status, tc.code)
		}
	}
	if n := len(a.DMs(id)); n != 0 {
		t.Fatalf("%d DMs after refused sends", n)
	}
	status, _, first := send("?receive_id_type=open_id", message(id, "u1"))
	_, _, again := send("?receive_id_type=open_id", message(id, "u1"))
	if status != 200 || first != again || !strings.Contains(first, `"message_id":"om_`) {
		t.Fatalf("a repeated uuid: %s then %s, want the same answer", first, again)
	}
	if dms := a.DMs(id); len(dms) != 1 || string(dms[0]) != card {
		t.Fatalf("DMs %s, want the one card", dms)
	}
	now = now.Add(DedupWindow)
	send("?receive_id_type=open_id", message(id, "u1"))
	send("?receive_id_type=open_id", message(id, ""))
	send("?receive_id_type=open_id", message(id, ""))
	if n := len(a.DMs(id)); n != 4 {
		t.Fatalf("%d DMs, want 4: a uuid an hour old and messages without one are sent again", n)
	}
	a.FailNextSends(1)
	if status, code, _ := send("?receive_id_type=open_id", message(id, "u2")); status != 500 || code != CodeInternal {
		t.Fatalf("failed send: %d code %d", status, code)
	}
	if status, _, _ := send("?receive_id_type=open_id", message(id, "u2")); status != 200 || len(a.DMs(id)) != 5 {
		t.Fatalf("a failed send's uuid must not stop the resend: %d, %d DMs", status, len(a.DMs(id)))
	}
	a.RevokeScope(ScopeSend)
	if _, code, _ := send("?receive_id_type=open_id", message(id, "u3")); code != CodeNoPermission {
		t.Fatalf("without the scope: code %d", code)
	}
}

func TestIMAPIHoldsSends(t *testing.T) {
	a := NewFeishuIMAPI(t)
	id := a.AddUser(herald.User{Email: "ada@example.com"})
	auth := map[string]string{"Authorization": "Bearer " + tenantToken(t, a)}
	a.HoldSendsAfter(1)
	if status, _, _ := imCall(t, a, MessagesPath+"?receive_id_type=open_id", auth, message(id, "h1")); status != 200 {
		t.Fatalf("the first send is let through: %d", status)
	}
	held := make(chan int)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, a.URL+MessagesPath+"?receive_id_type=open_id", strings.NewReader(message(id, "h2")))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", auth["Authorization"])
		resp, err := a.Client().Do(req)
		if err != nil {
			held <- 0
			return
		}
		resp.Body.Close()
		held <- resp.StatusCode
	}()
	for a.Sends() < 2 {
		time.Sleep(time.Millisecond)
	}
	select {
	case s := <-held:
		t.Fatalf("the held send was answered %d before Release", s)
	default:
	}
	a.Release()
	if s := <-held; s != http.StatusInternalServerError {
		t.Fatalf("a released send answered %d", s)
	}
	if n := len(a.DMs(id)); n != 1 {
		t.Fatalf("%d DMs, want 1: a held send is not delivered", n)
	}
	// Its uuid is not taken: the resend is delivered.
	if status, _, _ := imCall(t, a, MessagesPath+"?receive_id_type=open_id", auth, message(id, "h2")); status != 200 || len(a.DMs(id)) != 2 {
		t.Fatalf("resend: %d, %d DMs", status, len(a.DMs(id)))
	}
}

func TestIMAPIUnknownPath(t *testing.T) {
	a := NewFeishuIMAPI(t)
	status, code, raw := imCall(t, a, "/open-apis/im/v2/messages", nil, `{}`)
	if status != 404 || code != -1 || !strings.Contains(raw, "404 page not found") {
		t.Fatalf("%d %s", status, raw)
	}
}
