package wecomtest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/platform/platformtest"
)

const valid = `{"msgtype":"markdown","markdown":{"content":"**Title**\nHerald"}}`

// answer is the body of the fake's replies.
type answer struct {
	Errcode *int   `json:"errcode"`
	Errmsg  string `json:"errmsg"`
}

func post(t *testing.T, url, body string) (int, answer) {
	t.Helper()
	resp, reply := platformtest.Do(t, http.MethodPost, url, http.Header{"Content-Type": {"application/json"}}, body)
	var a answer
	if err := json.Unmarshal([]byte(reply), &a); err != nil || a.Errcode == nil {
		t.Fatalf("reply %d %q is not a WeCom answer", resp.StatusCode, reply)
	}
	return resp.StatusCode, a
}

func TestServerAccepts(t *testing.T) {
	s := NewServer(t)
	hook := s.NewHook(platformtest.HookOptions{})
	if !strings.HasPrefix(hook, s.URL+Path+"?key=") || len(Key(hook)) != 36 {
		t.Errorf("hook URL %s", hook)
	}
	status, a := post(t, hook, valid)
	if status != 200 || *a.Errcode != 0 || a.Errmsg != "ok" {
		t.Errorf("got %d %+v, want 200 errcode 0 ok", status, a)
	}
	if got := s.WaitAccepted(t, hook, 1, time.Second); string(got[0]) != valid {
		t.Errorf("recorded %s", got[0])
	}
	if got := s.Contents(hook); len(got) != 1 || got[0] != "**Title**\nHerald" {
		t.Errorf("contents %q", got)
	}
	if other := s.NewHook(platformtest.HookOptions{}); len(s.Messages(other)) != 0 {
		t.Error("another robot has messages")
	}
	reqs := s.Requests()
	if len(reqs) != 1 || reqs[0].Hook != Key(hook) || reqs[0].Path != Path || !reqs[0].Accepted {
		t.Errorf("requests %+v", reqs)
	}
}

func TestServerRefuses(t *testing.T) {
	markdown := func(content string) string {
		b, _ := json.Marshal(map[string]any{"msgtype": "markdown", "markdown": map[string]string{"content": content}})
		return string(b)
	}
	text := func(content string) string {
		b, _ := json.Marshal(map[string]any{"msgtype": "text", "text": map[string]string{"content": content}})
		return string(b)
	}
	tests := []struct {
		name, body string
		code       int
	}{
		{"markdown at the limit", markdown(strings.Repeat("界", 1365) + "a"), 0},
		{"text at the limit", text(strings.Repeat("a", 2048)), 0},
		{"markdown_v2", `{"msgtype":"markdown_v2","markdown_v2":{"content":"x"}}`, 0},
		{"not JSON", `{"msgtype":`, 40035},
		{"not UTF-8", "{\"msgtype\":\"markdown\",\"markdown\":{\"content\":\"\xff\"}}", 40035},
		{"content not a string", `{"msgtype":"markdown","markdown":{"content":7}}`, 40035},
		{"no msgtype", `{"markdown":{"content":"x"}}`, 40008},
		{"unknown msgtype", `{"msgtype":"html","html":{"content":"x"}}`, 40008},
		{"no markdown object", `{"msgtype":"markdown","text":{"content":"x"}}`, 44004},
		{"empty markdown", markdown(""), 44004},
		{"empty text", text(""), 44004},
		{"markdown over the limit", markdown(strings.Repeat("界", 1365) + "ab"), 40058},
		{"text over the limit", text(strings.Repeat("字", 683)), 40058},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t)
			hook := s.NewHook(platformtest.HookOptions{})
			status, a := post(t, hook, tt.body)
			if status != 200 || *a.Errcode != tt.code {
				t.Errorf("got %d errcode %d (%s; %s), want 200 errcode %d", status, *a.Errcode, a.Errmsg, s.Requests()[0].Refusal, tt.code)
			}
			if accepted := len(s.Messages(hook)); accepted != map[bool]int{true: 1}[tt.code == 0] {
				t.Errorf("%d messages accepted", accepted)
			}
			if tt.code != 0 && !strings.Contains(a.Errmsg, ", hint: [") {
				t.Errorf("errmsg %q lacks WeCom's hint suffix", a.Errmsg)
			}
			if err := Check([]byte(tt.body)); (err == nil) != (tt.code == 0) {
				t.Errorf("Check = %v", err)
			}
		})
	}
}

// TestServerRouting checks that requests the fake cannot route are refused
// before an injected failure is used up.
func TestServerRouting(t *testing.T) {
	s := NewServer(t)
	hook := s.NewHook(platformtest.HookOptions{})
	s.FailNextCode(1, -1, "system busy")
	if _, a := post(t, s.URL+Path+"?key=00000000-0000-0000-0000-000000000000", valid); *a.Errcode != 93000 || !strings.HasPrefix(a.Errmsg, "invalid webhook url, hint: [") {
		t.Errorf("unknown key: %+v", a)
	}
	if _, a := post(t, s.URL+Path, valid); *a.Errcode != 93000 {
		t.Errorf("no key: %+v", a)
	}
	resp, reply := platformtest.Do(t, http.MethodGet, hook, nil, "")
	if resp.StatusCode != 200 || !strings.Contains(reply, `"errcode":43002`) {
		t.Errorf("GET: %d %s", resp.StatusCode, reply)
	}
	if resp, _ := platformtest.Do(t, http.MethodPost, s.URL+"/cgi-bin/webhook/upload?key="+Key(hook), nil, valid); resp.StatusCode != 404 {
		t.Errorf("another path: %d", resp.StatusCode)
	}
	if _, a := post(t, hook, valid); *a.Errcode != -1 {
		t.Errorf("the injected failure: %+v", a)
	}
	if _, a := post(t, hook, valid); *a.Errcode != 0 {
		t.Errorf("after the injected failure: %+v", a)
	}
	s.RemoveHook(hook)
	if _, a := post(t, hook, valid); *a.Errcode != 93000 {
		t.Errorf("removed robot: %+v", a)
	}
}

// clock is a settable time for the rate limit.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestServerRateLimit(t *testing.T) {
	s := NewServer(t)
	c := &clock{t: time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)}
	s.SetClock(c.now)
	hook, other := s.NewHook(platformtest.HookOptions{}), s.NewHook(platformtest.HookOptions{})
	var codes []int
	// A refused message counts toward the limit as well.
	_, a := post(t, hook, `{"msgtype":"markdown","markdown":{"content":""}}`)
	codes = append(codes, *a.Errcode)
	for range DefaultPerMinute {
		c.add(time.Second)
		_, a := post(t, hook, valid)
		codes = append(codes, *a.Errcode)
	}
	want := []int{44004}
	for range DefaultPerMinute - 1 {
		want = append(want, 0)
	}
	want = append(want, 45009)
	if !slices.Equal(codes, want) {
		t.Fatalf("codes %v, want %v", codes, want)
	}
	if last := s.Requests()[len(s.Requests())-1]; !strings.Contains(last.Reply, "api freq out of limit, hint: [") {
		t.Errorf("rate-limited reply %s", last.Reply)
	}
	if _, a := post(t, other, valid); *a.Errcode != 0 {
		t.Errorf("another robot was limited too: %+v", a)
	}
	c.add(40 * time.Second) // a minute after the refused message, which leaves the window
	if _, a := post(t, hook, valid); *a.Errcode != 0 {
		t.Errorf("a minute after the first request: %+v", a)
	}
	if _, a := post(t, hook, valid); *a.Errcode != 45009 {
		t.Errorf("the window holds 20 again: %+v", a)
	}
	s.SetRateLimit(0)
	if _, a := post(t, hook, valid); *a.Errcode != 0 {
		t.Errorf("without a limit: %+v", a)
	}
}

func TestServerInjected(t *testing.T) {
	s := NewServer(t)
	hook := s.NewHook(platformtest.HookOptions{})
	s.RateLimitNext(1)
	if code := s.RejectNext(1); code != "93000" {
		t.Errorf("RejectNext returned %q", code)
	}
	for _, want := range []int{45009, 93000, 0} {
		if status, a := post(t, hook, valid); status != 200 || *a.Errcode != want {
			t.Errorf("got %d %+v, want 200 errcode %d", status, a, want)
		}
	}
	if n := len(s.Messages(hook)); n != 1 {
		t.Errorf("%d messages accepted, want 1", n)
	}
}
