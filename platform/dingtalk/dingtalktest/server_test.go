package dingtalktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/platform/platformtest"
)

const secret = "SECtest0123456789"

const okBody = `{"msgtype":"markdown","markdown":{"title":"t Herald","text":"### x\n\n@13800138000 @+852-12345678 @1380013800\n\nHerald"},"at":{"atMobiles":["13800138000","+852-12345678","1380013800","13900000000"],"isAtAll":false}}`

var jsonCT = http.Header{"Content-Type": {"application/json"}}

// signed returns hook with a timestamp of at and its signature by key,
// computed here, independently of package dingtalk.
func signed(hook, key string, at time.Time) string {
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(ts + "\n" + key))
	return hook + "&timestamp=" + ts + "&sign=" + url.QueryEscape(base64.StdEncoding.EncodeToString(m.Sum(nil)))
}

func TestServerAnswers(t *testing.T) {
	s := NewServer(t)
	plain := s.NewHook(platformtest.HookOptions{})
	secure := s.NewHook(platformtest.HookOptions{Secret: secret, Keyword: "Herald"})
	other := s.NewHook(platformtest.HookOptions{Keyword: "告警"})
	long := `{"msgtype":"markdown","markdown":{"title":"t","text":"` + strings.Repeat("x", MaxBody) + `"}}`
	tests := []struct {
		name, method, url, ct, body string
		code                        int
		msg                         string
	}{
		{"accepted", "POST", plain, "application/json", okBody, 0, "ok"},
		{"accepted with charset", "POST", plain, "application/json; charset=utf-8", okBody, 0, "ok"},
		{"text message", "POST", plain, "application/json", `{"msgtype":"text","text":{"content":"hi"}}`, 0, "ok"},
		{"signed with keyword", "POST", signed(secure, secret, time.Now()), "application/json", okBody, 0, "ok"},
		{"signed 50 minutes ago", "POST", signed(secure, secret, time.Now().Add(-50*time.Minute)), "application/json", okBody, 0, "ok"},
		{"no token", "POST", s.URL + Path, "application/json", okBody, CodeMissingParam, "缺少参数 access_token"},
		{"unknown token", "POST", s.URL + Path + "?access_token=nope", "application/json", okBody, CodeUnknownToken, "token is not exist"},
		{"GET", "GET", plain, "application/json", "", CodeNotPost, "需要POST请求"},
		{"not signed", "POST", secure, "application/json", okBody, CodeSecurity, "sign not match"},
		{"wrong secret", "POST", signed(secure, secret+"x", time.Now()), "application/json", okBody, CodeSecurity, "sign not match"},
		{"stale", "POST", signed(secure, secret, time.Now().Add(-61*time.Minute)), "application/json", okBody, CodeSecurity, "invalid timestamp"},
		{"future", "POST", signed(secure, secret, time.Now().Add(61*time.Minute)), "application/json", okBody, CodeSecurity, "invalid timestamp"},
		{"timestamp not a number", "POST", secure + "&timestamp=now&sign=x", "application/json", okBody, CodeSecurity, "invalid timestamp"},
		{"keyword missing", "POST", other, "application/json", okBody, CodeSecurity, "keywords not in content"},
		{"form body", "POST", plain, "application/x-www-form-urlencoded", okBody, CodeMissingParam, "缺少参数 json"},
		{"not JSON", "POST", plain, "application/json", `{"msgtype":`, CodeMissingParam, "缺少参数 json"},
		{"two values", "POST", plain, "application/json", okBody + "{}", CodeMissingParam, "缺少参数 json"},
		{"not UTF-8", "POST", plain, "application/json", "{\"msgtype\":\"text\",\"text\":{\"content\":\"\xff\"}}", CodeMissingParam, "缺少参数 json"},
		{"wrong type", "POST", plain, "application/json", `{"msgtype":"markdown","markdown":{"title":1,"text":"x"}}`, CodeMissingParam, "缺少参数 json"},
		{"no msgtype", "POST", plain, "application/json", `{"markdown":{"title":"t","text":"x"}}`, CodeBadMsgType, "不合法的消息类型"},
		{"unknown msgtype", "POST", plain, "application/json", `{"msgtype":"card"}`, CodeBadMsgType, "不合法的消息类型"},
		{"no markdown", "POST", plain, "application/json", `{"msgtype":"markdown"}`, CodeBadTitle, "错误描述:参数 markdown --》 title 缺失，或者参数格式不正确"},
		{"empty title", "POST", plain, "application/json", `{"msgtype":"markdown","markdown":{"title":"","text":"x"}}`, CodeBadTitle, "错误描述:参数 markdown --》 title 缺失，或者参数格式不正确"},
		{"no text", "POST", plain, "application/json", `{"msgtype":"markdown","markdown":{"title":"t"}}`, CodeBadText, "miss param : markdown->text"},
		{"empty content", "POST", plain, "application/json", `{"msgtype":"text","text":{"content":""}}`, CodeBadText, "miss param : text->content"},
		{"too long", "POST", plain, "application/json", long, CodeTooLong, "message too long, exceed 20000 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(s.Requests())
			resp, body := platformtest.Do(t, tt.method, tt.url, http.Header{"Content-Type": {tt.ct}}, tt.body)
			want := reply(tt.code, tt.msg)
			if resp.StatusCode != http.StatusOK || body != want || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("got %d %s %s, want 200 %s", resp.StatusCode, resp.Header.Get("Content-Type"), body, want)
			}
			reqs := s.Requests()
			if len(reqs) != before+1 {
				t.Fatalf("%d requests recorded, want %d", len(reqs), before+1)
			}
			if r := reqs[before]; r.Accepted != (tt.code == 0) || (r.Refusal == "") != (tt.code == 0) {
				t.Errorf("recorded accepted %v, refusal %q", r.Accepted, r.Refusal)
			}
		})
	}
	if n := len(s.Accepted(plain)); n != 3 {
		t.Errorf("the plain robot accepted %d messages, want 3", n)
	}
	if n := len(s.Accepted(secure)); n != 2 {
		t.Errorf("the secure robot accepted %d messages, want 2", n)
	}
	if n := len(s.Accepted(other)); n != 0 {
		t.Errorf("the robot with a missing keyword accepted %d messages", n)
	}
}

func TestServerUnknownPath(t *testing.T) {
	s := NewServer(t)
	hook := s.NewHook(platformtest.HookOptions{})
	resp, _ := platformtest.Do(t, "POST", strings.Replace(hook, Path, "/robot/sendx", 1), jsonCT, okBody)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("status %d, want 404", resp.StatusCode)
	}
}

func TestServerMentions(t *testing.T) {
	s := NewServer(t)
	hook := s.NewHook(platformtest.HookOptions{})
	platformtest.Do(t, "POST", hook, jsonCT, okBody)
	platformtest.Do(t, "POST", hook, jsonCT, `{"msgtype":"markdown","markdown":{"title":"t","text":"x"}}`)
	got := s.Mentions(hook)
	if len(got) != 2 || len(got[1]) != 0 {
		t.Fatalf("mentions %+v, want those of 2 messages, the second none", got)
	}
	want := []Mention{
		{Mobile: "13800138000", InText: true, WellFormed: true},
		{Mobile: "+852-12345678", InText: true, WellFormed: true},
		{Mobile: "1380013800", InText: true, WellFormed: false},
		{Mobile: "13900000000", InText: false, WellFormed: true},
	}
	if len(got[0]) != len(want) {
		t.Fatalf("mentions %+v, want %+v", got[0], want)
	}
	for i := range want {
		if got[0][i] != want[i] || got[0][i].Effective() != (i < 2) {
			t.Errorf("mention %d: %+v, want %+v", i, got[0][i], want[i])
		}
	}
	if s.Mentions(s.URL+Path+"?access_token=nope") != nil {
		t.Error("an unknown robot has mentions")
	}
}

func TestMentioned(t *testing.T) {
	tests := []struct {
		text, mobile string
		want         bool
	}{
		{"@13800138000", "13800138000", true},
		{"hi @13800138000, there", "13800138000", true},
		{"@138001380001", "13800138000", false},
		{"@138001380001 @13800138000", "13800138000", true},
		{"13800138000", "13800138000", false},
		{"@", "", false},
	}
	for _, tt := range tests {
		if got := mentioned(tt.text, tt.mobile); got != tt.want {
			t.Errorf("mentioned(%q, %q) = %v", tt.text, tt.mobile, got)
		}
	}
}

func TestServerRateLimit(t *testing.T) {
	s := NewServer(t)
	hook, other := s.NewHook(platformtest.HookOptions{}), s.NewHook(platformtest.HookOptions{})
	for i := range DefaultPerMinute {
		if _, body := platformtest.Do(t, "POST", hook, jsonCT, okBody); body != reply(0, "ok") {
			t.Fatalf("message %d: %s", i, body)
		}
	}
	if _, body := platformtest.Do(t, "POST", hook, jsonCT, okBody); body != reply(CodeTooFast, "send too fast, exceed 20 times per minute") {
		t.Errorf("message 21: %s", body)
	}
	if _, body := platformtest.Do(t, "POST", other, jsonCT, okBody); body != reply(0, "ok") {
		t.Errorf("another robot was limited too: %s", body)
	}
	s.SetRateLimit(0)
	if _, body := platformtest.Do(t, "POST", hook, jsonCT, okBody); body != reply(0, "ok") {
		t.Errorf("after lifting the limit: %s", body)
	}
	if n := len(s.Accepted(hook)); n != DefaultPerMinute+1 {
		t.Errorf("%d accepted, want %d", n, DefaultPerMinute+1)
	}
}

func TestServerInjectedAnswers(t *testing.T) {
	s := NewServer(t)
	hook := s.NewHook(platformtest.HookOptions{Secret: secret})
	s.RateLimitNext(1)
	if code := s.RejectNext(1); code != "310000" {
		t.Errorf("RejectNext returned %q", code)
	}
	s.BusyNext(1)
	s.AnswerNext(1, 400102, "robot is stopped")
	// An unknown robot is answered before any injected failure is used.
	platformtest.Do(t, "POST", s.URL+Path+"?access_token=nope", jsonCT, okBody)
	for i, want := range []string{
		reply(CodeTooFast, "send too fast, exceed 20 times per minute"),
		reply(CodeSecurity, "keywords not in content"),
		reply(CodeBusy, "系统繁忙"),
		reply(400102, "robot is stopped"),
		reply(0, "ok"),
	} {
		resp, body := platformtest.Do(t, "POST", signed(hook, secret, time.Now()), jsonCT, okBody)
		if resp.StatusCode != 200 || body != want {
			t.Errorf("request %d: %d %s, want 200 %s", i, resp.StatusCode, body, want)
		}
	}
	if n := len(s.Accepted(hook)); n != 1 {
		t.Errorf("%d accepted, want 1", n)
	}
}

func TestCheckReturnsNilError(t *testing.T) {
	if err := Check([]byte(okBody)); err != nil {
		t.Errorf("Check(ok) = %#v", err)
	}
	err := Check([]byte(`{}`))
	r, ok := err.(*Refusal)
	if !ok || r.Code != CodeBadMsgType || !strings.Contains(err.Error(), "errcode 40008") {
		t.Errorf("Check({}) = %v", err)
	}
}
