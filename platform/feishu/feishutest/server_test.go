package feishutest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/platform/platformtest"
)

const valid = `{"msg_type":"interactive","card":{"config":{"wide_screen_mode":true},
"header":{"title":{"tag":"plain_text","content":"ℹ️ Issue created"},"template":"blue"},
"elements":[
{"tag":"div","text":{"tag":"lark_md","content":"Alice created issue &#42;x&#42;"}},
{"tag":"div","fields":[{"is_short":true,"text":{"tag":"lark_md","content":"**Project**\nPayments"}}]},
{"tag":"hr"},
{"tag":"action","actions":[{"tag":"button","text":{"tag":"plain_text","content":"View"},"type":"primary","url":"https://x.example/"}]},
{"tag":"note","elements":[{"tag":"plain_text","content":"Herald · Payments"}]}]}}`

func post(t *testing.T, url, contentType, body string) (*http.Response, string) {
	t.Helper()
	return platformtest.Do(t, http.MethodPost, url, http.Header{"Content-Type": {contentType}}, body)
}

// code reads the code and msg of a JSON answer, failing on anything else.
func code(t *testing.T, resp *http.Response, reply string) (int, string) {
	t.Helper()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("answer %d %s %q, want HTTP 200 JSON", resp.StatusCode, resp.Header.Get("Content-Type"), reply)
	}
	var a struct {
		Code *int            `json:"code"`
		Msg  string          `json:"msg"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(reply), &a); err != nil || a.Code == nil || string(a.Data) != "{}" {
		t.Fatalf("answer %q is not {code, msg, data:{}}", reply)
	}
	return *a.Code, a.Msg
}

// signed returns body with a timestamp and the sign of secret added.
func signed(body, secret string, at time.Time) string {
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(ts+"\n"+secret))
	return `{"timestamp":"` + ts + `","sign":"` + base64.StdEncoding.EncodeToString(mac.Sum(nil)) + `",` + strings.TrimPrefix(body, "{")
}

func TestServerAccepts(t *testing.T) {
	s := NewServer(t)
	hook := s.NewHook(platformtest.HookOptions{})
	if !strings.HasPrefix(hook, s.URL+PathPrefix) || len(strings.TrimPrefix(hook, s.URL+PathPrefix)) != 36 {
		t.Errorf("hook URL %s", hook)
	}
	resp, reply := post(t, hook, "application/json; charset=utf-8", valid)
	if reply != SuccessBody {
		t.Errorf("reply %q, want %q", reply, SuccessBody)
	}
	if c, msg := code(t, resp, reply); c != 0 || msg != "success" {
		t.Errorf("code %d %q", c, msg)
	}
	if got := s.WaitMessages(t, hook, 1, time.Second); string(got[0]) != valid {
		t.Errorf("recorded %s", got[0])
	}
	if other := s.NewHook(platformtest.HookOptions{}); len(s.Messages(other)) != 0 || other == hook {
		t.Errorf("another hook has messages, or the same URL")
	}
	text := `{"msg_type":"text","content":{"text":"Herald: hello"}}`
	if resp, reply := post(t, hook, "application/json", text); reply != SuccessBody {
		t.Errorf("a text message: %d %q", resp.StatusCode, reply)
	}
	if n := len(s.Messages(hook)); n != 2 {
		t.Errorf("%d messages accepted, want 2", n)
	}
}

func TestServerRoutes(t *testing.T) {
	s := NewServer(t)
	hook := s.NewHook(platformtest.HookOptions{})
	s.RejectNext(1)
	for _, path := range []string{"/open-apis/bot/v2/hook/", "/open-apis/bot/v1/hook/x", "/open-apis/bot/v2/hook/a/b", "/"} {
		resp, reply := post(t, s.URL+path, "application/json", valid)
		if resp.StatusCode != 404 || reply != "404 page not found" || resp.Header.Get("Content-Type") != "text/plain" {
			t.Errorf("%s: %d %s %q, want the gateway's plain-text 404", path, resp.StatusCode, resp.Header.Get("Content-Type"), reply)
		}
	}
	if resp, reply := platformtest.Do(t, http.MethodGet, hook, nil, ""); resp.StatusCode != 404 || reply != "404 page not found" {
		t.Errorf("GET: %d %q", resp.StatusCode, reply)
	}
	resp, reply := post(t, s.URL+PathPrefix+"unknown-token", "application/json", valid)
	if c, msg := code(t, resp, reply); c != CodeBadToken || msg != MsgBadToken {
		t.Errorf("unknown token: %d %q", c, msg)
	}
	// The injected failure waited for a request to a known bot.
	resp, reply = post(t, hook, "application/json", valid)
	if c, _ := code(t, resp, reply); c != CodeNoKeyword {
		t.Errorf("the injected rejection: code %d", c)
	}
	if len(s.Messages(hook)) != 0 {
		t.Error("a refused message was accepted")
	}
}

func TestServerRefuses(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(valid, old) {
			t.Fatalf("%q is not in the valid body", old)
		}
		return strings.Replace(valid, old, new, 1)
	}
	tests := []struct {
		name, contentType, body string
		code                    int
	}{
		{"form body", "application/x-www-form-urlencoded", valid, CodeBadRequest},
		{"not JSON", "application/json", `{"msg_type":`, CodeBadRequest},
		{"not an object", "application/json", `[]`, CodeBadRequest},
		{"not UTF-8", "application/json", replace("Payments", "\xff"), CodeBadRequest},
		{"too big", "application/json", replace("Payments", strings.Repeat("界", MaxBody/3)), CodeBadRequest},
		{"no msg_type", "application/json", replace(`"msg_type":"interactive",`, ""), CodeBadRequest},
		{"unknown msg_type", "application/json", replace(`"interactive"`, `"card"`), CodeBadRequest},
		{"card inside content", "application/json", replace(`"card":{`, `"content":{"card":{`) + "}", CodeBadRequest},
		{"no card", "application/json", `{"msg_type":"interactive"}`, CodeBadRequest},
		{"no header", "application/json", `{"msg_type":"interactive","card":{"elements":[{"tag":"hr"}]}}`, CodeBadRequest},
		{"empty title", "application/json", replace("ℹ️ Issue created", ""), CodeBadRequest},
		{"lark_md title", "application/json", replace(`"plain_text","content":"ℹ️`, `"lark_md","content":"ℹ️`), CodeBadRequest},
		{"unknown template", "application/json", replace(`"blue"`, `"pink"`), CodeBadRequest},
		{"no elements", "application/json", `{"msg_type":"interactive","card":{"header":{"title":{"tag":"plain_text","content":"t"}},"elements":[]}}`, CodeBadRequest},
		{"unknown element", "application/json", replace(`{"tag":"hr"}`, `{"tag":"section"}`), CodeBadRequest},
		{"div without text", "application/json", replace(`{"tag":"hr"}`, `{"tag":"div"}`), CodeBadRequest},
		{"empty text", "application/json", replace("Alice created issue &#42;x&#42;", ""), CodeBadRequest},
		{"markdown text tag", "application/json", replace(`"lark_md","content":"Alice`, `"markdown","content":"Alice`), CodeBadRequest},
		{"field without text", "application/json", replace(`{"is_short":true,"text":{"tag":"lark_md","content":"**Project**\nPayments"}}`, `{"is_short":true}`), CodeBadRequest},
		{"button without url", "application/json", replace(`,"url":"https://x.example/"`, ""), CodeBadRequest},
		{"button with a relative url", "application/json", replace(`"https://x.example/"`, `"/issues/1"`), CodeBadRequest},
		{"button with an empty text", "application/json", replace(`"content":"View"`, `"content":""`), CodeBadRequest},
		{"empty action", "application/json", replace(`"actions":[{"tag":"button","text":{"tag":"plain_text","content":"View"},"type":"primary","url":"https://x.example/"}]`, `"actions":[]`), CodeBadRequest},
		{"empty note", "application/json", replace(`{"tag":"plain_text","content":"Herald · Payments"}`, ``), CodeBadRequest},
		{"wrong JSON type", "application/json", replace(`"is_short":true`, `"is_short":"yes"`), CodeBadRequest},
		{"empty text message", "application/json", `{"msg_type":"text","content":{"text":""}}`, CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t)
			hook := s.NewHook(platformtest.HookOptions{})
			resp, reply := post(t, hook, tt.contentType, tt.body)
			if c, msg := code(t, resp, reply); c != tt.code || msg != MsgBadRequest {
				t.Errorf("got %d %q, want %d (%s)", c, msg, tt.code, s.Requests()[0].Refusal)
			}
			if len(s.Messages(hook)) != 0 {
				t.Errorf("the refused message was recorded as accepted")
			}
			if tt.contentType == "application/json" && Check([]byte(tt.body)) == nil && tt.name != "too big" {
				t.Errorf("Check accepts what the server refuses")
			}
		})
	}
	if err := Check([]byte(valid)); err != nil {
		t.Errorf("Check refuses the valid body: %v", err)
	}
}

func TestServerVerifiesSignatures(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name, body string
		code       int
	}{
		{"signed", signed(valid, "right", now), CodeOK},
		{"half an hour old", signed(valid, "right", now.Add(-30*time.Minute)), CodeOK},
		{"numeric timestamp", strings.Replace(signed(valid, "right", now), `"timestamp":"1800000000"`, `"timestamp":1800000000`, 1), CodeOK},
		{"wrong secret", signed(valid, "wrong", now), CodeBadSign},
		{"stale", signed(valid, "right", now.Add(-61*time.Minute)), CodeBadSign},
		{"from the future", signed(valid, "right", now.Add(61*time.Minute)), CodeBadSign},
		{"timestamp in milliseconds", strings.Replace(signed(valid, "right", now), `"timestamp":"1800000000"`, `"timestamp":"1800000000000"`, 1), CodeBadSign},
		{"unsigned", valid, CodeBadSign},
		{"sign URL-encoded", strings.Replace(signed(valid, "right", now), `=","msg_type"`, `%3D","msg_type"`, 1), CodeBadSign},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t)
			s.SetClock(func() time.Time { return now })
			hook := s.NewHook(platformtest.HookOptions{Secret: "right"})
			resp, reply := post(t, hook, "application/json", tt.body)
			c, msg := code(t, resp, reply)
			if c != tt.code || (c == CodeBadSign && msg != MsgBadSign) {
				t.Errorf("got %d %q, want %d (%s)", c, msg, tt.code, s.Requests()[0].Refusal)
			}
			if accepted := len(s.Messages(hook)) == 1; accepted != (tt.code == CodeOK) {
				t.Errorf("accepted %v", accepted)
			}
		})
	}
	// A bot without a secret ignores a signature.
	s := NewServer(t)
	hook := s.NewHook(platformtest.HookOptions{})
	if _, reply := post(t, hook, "application/json", signed(valid, "any", time.Now().Add(-5*time.Hour))); reply != SuccessBody {
		t.Errorf("a bot without a secret answered %q", reply)
	}
}

func TestServerChecksKeywords(t *testing.T) {
	tests := []struct {
		keyword string
		code    int
	}{
		{"Herald", CodeOK},        // in the note
		{"Issue created", CodeOK}, // in the header
		{"View", CodeOK},          // in the button
		{"created issue", CodeOK},
		{"deploy-bot", CodeNoKeyword},
		{"herald", CodeNoKeyword},   // case matters
		{"msg_type", CodeNoKeyword}, // JSON keys are not text
	}
	for _, tt := range tests {
		s := NewServer(t)
		hook := s.NewHook(platformtest.HookOptions{Keyword: tt.keyword})
		resp, reply := post(t, hook, "application/json", valid)
		if c, msg := code(t, resp, reply); c != tt.code || (c == CodeNoKeyword && msg != MsgNoKeyword) {
			t.Errorf("keyword %q: got %d %q, want %d", tt.keyword, c, msg, tt.code)
		}
	}
}

func TestServerRateLimits(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := NewServer(t)
	s.SetClock(func() time.Time { return now })
	hook, other := s.NewHook(platformtest.HookOptions{}), s.NewHook(platformtest.HookOptions{})
	send := func(url string) int {
		resp, reply := post(t, url, "application/json", valid)
		c, msg := code(t, resp, reply)
		if c == CodeRateLimited && msg != MsgRateLimited {
			t.Errorf("rate-limit message %q", msg)
		}
		return c
	}
	var codes []int
	for range DefaultPerSecond + 1 {
		codes = append(codes, send(hook))
	}
	if codes[DefaultPerSecond-1] != CodeOK || codes[DefaultPerSecond] != CodeRateLimited {
		t.Errorf("codes %v, want %d successes then %d", codes, DefaultPerSecond, CodeRateLimited)
	}
	if c := send(other); c != CodeOK {
		t.Errorf("another bot was limited too: %d", c)
	}
	// Four a second stays under the per-second limit and reaches the
	// per-minute one after 100 requests.
	now = now.Add(time.Second)
	for n := DefaultPerSecond; n < DefaultPerMinute; n++ {
		now = now.Add(250 * time.Millisecond)
		if c := send(hook); c != CodeOK {
			t.Fatalf("request %d: code %d (%s)", n+1, c, s.Requests()[len(s.Requests())-1].Refusal)
		}
	}
	now = now.Add(time.Second)
	if c := send(hook); c != CodeRateLimited {
		t.Errorf("request %d in a minute: code %d, want %d", DefaultPerMinute+1, c, CodeRateLimited)
	}
	now = now.Add(time.Minute)
	if c := send(hook); c != CodeOK {
		t.Errorf("a minute later: code %d", c)
	}
	s.SetRateLimits(0, 0)
	for range 2 * DefaultPerSecond {
		if c := send(hook); c != CodeOK {
			t.Fatalf("without limits: code %d", c)
		}
	}
}

func TestServerInjectedAnswers(t *testing.T) {
	s := NewServer(t)
	hook := s.NewHook(platformtest.HookOptions{})
	s.RateLimitNext(1)
	if got := s.RejectNext(1); got != "19024" {
		t.Errorf("RejectNext returned %q", got)
	}
	s.FailNextCode(1, CodeIPDenied, MsgIPDenied)
	for _, want := range []int{CodeRateLimited, CodeNoKeyword, CodeIPDenied, CodeOK} {
		resp, reply := post(t, hook, "application/json", valid)
		if c, _ := code(t, resp, reply); c != want {
			t.Errorf("code %d, want %d", c, want)
		}
	}
	if n := len(s.Messages(hook)); n != 1 {
		t.Errorf("%d accepted, want 1", n)
	}
}
