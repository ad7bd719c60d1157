package discordtest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/platform/platformtest"
)

const valid = `{"embeds":[{"title":"ℹ️ Title","url":"https://x.example/","description":"description","color":4431840,
"fields":[{"name":"Project","value":"Payments","inline":true}],"footer":{"text":"Herald"}}],"allowed_mentions":{"parse":[]}}`

var jsonHeader = http.Header{"Content-Type": {"application/json"}}

// post sends body to url as JSON and returns the status and the decoded
// error body (zero when the answer is not a JSON error).
func post(t *testing.T, url, body string) (int, errorBody, *http.Response) {
	t.Helper()
	resp, reply := platformtest.Do(t, http.MethodPost, url, jsonHeader, body)
	var e errorBody
	_ = json.Unmarshal([]byte(reply), &e)
	return resp.StatusCode, e, resp
}

type errorBody struct {
	Code       int            `json:"code"`
	Message    string         `json:"message"`
	Errors     map[string]any `json:"errors"`
	RetryAfter float64        `json:"retry_after"`
	Global     *bool          `json:"global"`
}

func TestServerAccepts(t *testing.T) {
	s := NewServer(t)
	hook := s.NewHook(platformtest.HookOptions{})
	if !strings.HasPrefix(hook, s.URL+"/api/webhooks/") {
		t.Fatalf("hook URL %s", hook)
	}

	resp, reply := platformtest.Do(t, http.MethodPost, hook, http.Header{"Content-Type": {"application/json; charset=utf-8"}}, valid)
	if resp.StatusCode != http.StatusNoContent || reply != "" {
		t.Errorf("without wait: %d %q, want 204 and no body", resp.StatusCode, reply)
	}

	resp, reply = platformtest.Do(t, http.MethodPost, hook+"?wait=true", jsonHeader, valid)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("with wait: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), reply)
	}
	var msg struct {
		ID        string `json:"id"`
		ChannelID string `json:"channel_id"`
		WebhookID string `json:"webhook_id"`
		Embeds    []struct {
			Title string `json:"title"`
		} `json:"embeds"`
	}
	if err := json.Unmarshal([]byte(reply), &msg); err != nil {
		t.Fatal(err)
	}
	id := strings.Split(strings.TrimPrefix(hook, s.URL+"/api/webhooks/"), "/")[0]
	if msg.ID == "" || msg.ChannelID == "" || msg.WebhookID != id || len(msg.Embeds) != 1 || msg.Embeds[0].Title != "ℹ️ Title" {
		t.Errorf("saved message %s", reply)
	}

	// A versioned URL and a thread are the same webhook.
	versioned := strings.Replace(hook, "/api/", "/api/v10/", 1) + "?wait=1&thread_id=123456789012345678"
	if resp, reply := platformtest.Do(t, http.MethodPost, versioned, jsonHeader, valid); resp.StatusCode != 200 || !strings.Contains(reply, `"channel_id":"123456789012345678"`) {
		t.Errorf("versioned, in a thread: %d %s", resp.StatusCode, reply)
	}
	if got := s.WaitAccepted(t, hook, 3, time.Second); string(got[0]) != valid || len(got) != 3 {
		t.Errorf("accepted %d: %s", len(got), got[0])
	}
	if other := s.NewHook(platformtest.HookOptions{}); len(s.Messages(other)) != 0 {
		t.Errorf("another hook has messages")
	}
}

func TestServerRateLimitHeaders(t *testing.T) {
	s := NewServer(t)
	hook := s.NewHook(platformtest.HookOptions{})
	var buckets []string
	for i := range 2 {
		_, _, resp := post(t, hook, valid)
		h := resp.Header
		if h.Get("X-RateLimit-Limit") != "5" || h.Get("X-RateLimit-Remaining") != strconv.Itoa(4-i) || h.Get("X-RateLimit-Reset-After") == "" || h.Get("X-RateLimit-Reset") == "" {
			t.Errorf("answer %d headers %v", i, h)
		}
		buckets = append(buckets, h.Get("X-RateLimit-Bucket"))
	}
	if buckets[0] == "" || buckets[0] != buckets[1] {
		t.Errorf("buckets %q", buckets)
	}
	if _, _, resp := post(t, hook, `{}`); resp.Header.Get("X-RateLimit-Remaining") != "2" {
		t.Errorf("a refused request has headers %v", resp.Header)
	}
}

func TestServerRateLimit(t *testing.T) {
	s := NewServer(t)
	s.SetRateLimit(2, time.Hour) // a window no test run outlasts
	hook, other := s.NewHook(platformtest.HookOptions{}), s.NewHook(platformtest.HookOptions{})
	var statuses []int
	for range 3 {
		status, _, _ := post(t, hook, valid)
		statuses = append(statuses, status)
	}
	if statuses[0] != 204 || statuses[1] != 204 || statuses[2] != 429 {
		t.Fatalf("statuses %v, want 204 204 429", statuses)
	}
	r := s.Requests()[2]
	var e errorBody
	if err := json.Unmarshal([]byte(r.Reply), &e); err != nil || e.Message != "You are being rate limited." || e.RetryAfter <= 3500 || e.Global == nil || *e.Global {
		t.Errorf("429 body %s", r.Reply)
	}
	resp, _ := platformtest.Do(t, http.MethodPost, hook, jsonHeader, valid)
	if resp.Header.Get("Retry-After") != "3600" || resp.Header.Get("X-RateLimit-Scope") != "user" || resp.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("429 headers %v", resp.Header)
	}
	if status, _, _ := post(t, other, valid); status != 204 {
		t.Errorf("another hook was limited too: %d", status)
	}
	if len(s.Messages(hook)) != 2 {
		t.Errorf("accepted %d, want 2", len(s.Messages(hook)))
	}

	s.SetRateLimit(0, 0)
	if status, _, resp := post(t, hook, valid); status != 204 || resp.Header.Get("X-RateLimit-Limit") != "" {
		t.Errorf("without a limit: %d %v", status, resp.Header)
	}
}

func TestServerInjected(t *testing.T) {
	s := NewServer(t)
	hook := s.NewHook(platformtest.HookOptions{})
	s.RateLimitNext(1)
	if got := s.RejectNext(1); got != "10015" {
		t.Errorf("RejectNext returned %q", got)
	}
	s.FailNext(1, 503, "upstream connect error", nil)

	status, e, resp := post(t, hook, valid)
	if status != 429 || e.RetryAfter != 1.0 || e.Message != "You are being rate limited." || e.Global == nil || *e.Global ||
		resp.Header.Get("Retry-After") != "1" || resp.Header.Get("X-RateLimit-Scope") != "user" || resp.Header.Get("X-RateLimit-Limit") != "5" {
		t.Errorf("RateLimitNext: %d %+v %v", status, e, resp.Header)
	}
	if status, e, resp := post(t, hook, valid); status != 404 || e.Code != 10015 || e.Message != "Unknown Webhook" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("RejectNext: %d %+v", status, e)
	}
	if status, _, resp := post(t, hook, valid); status != 503 || resp.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("FailNext: %d %v", status, resp.Header)
	}
	if status, _, _ := post(t, hook, valid); status != 204 {
		t.Errorf("after the failures: %d", status)
	}
	if n := len(s.Messages(hook)); n != 1 {
		t.Errorf("accepted %d, want 1", n)
	}
}

// TestServerRoutes checks the answers to wrong webhooks, paths and methods,
// and that they leave injected failures for the right webhook.
func TestServerRoutes(t *testing.T) {
	s := NewServer(t)
	hook := s.NewHook(platformtest.HookOptions{})
	s.RejectNext(1)
	base := strings.TrimSuffix(hook, hook[strings.LastIndex(hook, "/"):])
	tests := []struct {
		name, method, url string
		status, code      int
	}{
		{"unknown id", "POST", s.URL + "/api/webhooks/1234/" + hook[strings.LastIndex(hook, "/")+1:], 404, 10015},
		{"wrong token", "POST", base + "/not-the-token", 401, 50027},
		{"not a webhook", "POST", s.URL + "/api/channels/1/messages", 404, 0},
		{"Slack-compatible path", "POST", hook + "/slack", 404, 0},
		{"unknown version", "POST", strings.Replace(hook, "/api/", "/api/v11/", 1), 400, 50041},
		{"GET", "GET", hook, 405, 0},
	}
	for _, tt := range tests {
		resp, reply := platformtest.Do(t, tt.method, tt.url, jsonHeader, valid)
		var e errorBody
		if err := json.Unmarshal([]byte(reply), &e); err != nil || resp.StatusCode != tt.status || e.Code != tt.code || e.Message == "" {
			t.Errorf("%s: %d %s, want %d code %d", tt.name, resp.StatusCode, reply, tt.status, tt.code)
		}
	}
	if status, e, _ := post(t, hook, valid); status != 404 || e.Code != 10015 {
		t.Errorf("the injected failure was used up early: %d %+v", status, e)
	}
	for _, query := range []string{"?wait=yes", "?thread_id=general"} {
		if status, e, _ := post(t, hook+query, valid); status != 400 || e.Code != 50035 || e.Errors == nil {
			t.Errorf("%s: %d %+v", query, status, e)
		}
	}
	if n := len(s.Messages(hook)); n != 0 {
		t.Errorf("accepted %d", n)
	}
}

func TestServerRefuses(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(valid, old) {
			t.Fatalf("valid has no %q", old)
		}
		return strings.Replace(valid, old, new, 1)
	}
	field := `{"name":"Project","value":"Payments","inline":true}`
	fields := func(n int, name, value string) string {
		f := `{"name":"` + name + `","value":"` + value + `"}`
		return replace(field, strings.TrimSuffix(strings.Repeat(f+",", n), ","))
	}
	// 5 fields of 1 + 1000 characters, a 1000-character description and a
	// title: within every single limit, over the total.
	overTotal := strings.Replace(fields(5, "n", strings.Repeat("v", 1000)), `:"description"`, `:"`+strings.Repeat("d", 1000)+`"`, 1)
	overTotal = strings.Replace(overTotal, `"Herald"`, `"`+strings.Repeat("f", 20)+`"`, 1)
	// 5919 characters, padded with 120 more of white space that Discord trims.
	padded := strings.Replace(fields(5, "n", strings.Repeat("v", 1000)), `:"description"`, `:"`+strings.Repeat(" ", 60)+strings.Repeat("d", 900)+strings.Repeat(`\n`, 60)+`"`, 1)

	tests := []struct {
		name, contentType, body string
		status, code            int
		errorAt                 string // where the errors object reports it
	}{
		{"text body", "text/plain", valid, 400, 50006, ""},
		{"no content type", "", valid, 400, 50006, ""},
		{"not JSON", "application/json", `{"embeds":`, 400, 50109, ""},
		{"not UTF-8", "application/json", "{\"content\":\"\xff\"}", 400, 50109, ""},
		{"empty", "application/json", `{}`, 400, 50006, ""},
		{"blank content", "application/json", `{"content":"  \n"}`, 400, 50006, ""},
		{"content too long", "application/json", `{"content":"` + strings.Repeat("界", 2001) + `"}`, 400, 50035, "content"},
		{"title too long", "application/json", replace("ℹ️ Title", strings.Repeat("t", 257)), 400, 50035, "embeds.0.title"},
		{"description too long", "application/json", replace(`:"description"`, `:"`+strings.Repeat("界", 4097)+`"`), 400, 50035, "embeds.0.description"},
		{"field name too long", "application/json", fields(1, strings.Repeat("n", 257), "v"), 400, 50035, "embeds.0.fields.0.name"},
		{"field value too long", "application/json", fields(1, "n", strings.Repeat("v", 1025)), 400, 50035, "embeds.0.fields.0.value"},
		{"blank field value", "application/json", fields(2, "n", " "), 400, 50035, "embeds.0.fields.1.value"},
		{"too many fields", "application/json", fields(26, "n", "v"), 400, 50035, "embeds.0.fields"},
		{"footer too long", "application/json", replace(`"Herald"`, `"`+strings.Repeat("f", 2049)+`"`), 400, 50035, "embeds.0.footer.text"},
		{"over 6000 in all", "application/json", overTotal, 400, 50035, "embeds"},
		{"too many embeds", "application/json", `{"embeds":[` + strings.TrimSuffix(strings.Repeat(`{"title":"t"},`, 11), ",") + `]}`, 400, 50035, "embeds"},
		{"over 6000 in all embeds", "application/json", `{"embeds":[` + strings.TrimSuffix(strings.Repeat(`{"description":"`+strings.Repeat("d", 3000)+`"},`, 3), ",") + `]}`, 400, 50035, "embeds"},
		{"colour too large", "application/json", replace("4431840", "16777216"), 400, 50035, "embeds.0.color"},
		{"URL scheme", "application/json", replace("https://x.example/", "javascript:alert(1)"), 400, 50035, "embeds.0.url"},
		{"URL with a space", "application/json", replace("https://x.example/", "https://x.example/a b"), 400, 50035, "embeds.0.url"},
		{"bad timestamp", "application/json", replace(`"color"`, `"timestamp":"yesterday","color"`), 400, 50035, "embeds.0.timestamp"},
		{"bad mention type", "application/json", replace(`"parse":[]`, `"parse":["here"]`), 400, 50035, "allowed_mentions.parse.0"},
		{"wrong JSON type", "application/json", replace(`"ℹ️ Title"`, `7`), 400, 50035, "embeds.title"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t)
			hook := s.NewHook(platformtest.HookOptions{})
			header := http.Header{}
			if tt.contentType != "" {
				header.Set("Content-Type", tt.contentType)
			}
			resp, reply := platformtest.Do(t, http.MethodPost, hook, header, tt.body)
			var e errorBody
			if err := json.Unmarshal([]byte(reply), &e); err != nil || resp.StatusCode != tt.status || e.Code != tt.code {
				t.Fatalf("got %d %s, want %d code %d (%s)", resp.StatusCode, reply, tt.status, tt.code, s.Requests()[0].Refusal)
			}
			if tt.errorAt != "" {
				node := e.Errors
				for _, p := range strings.Split(tt.errorAt, ".") {
					node, _ = node[p].(map[string]any)
				}
				if _, ok := node["_errors"]; !ok {
					t.Errorf("errors %v do not report %s", e.Errors, tt.errorAt)
				}
			}
			if len(s.Messages(hook)) != 0 {
				t.Errorf("the refused message was recorded as accepted")
			}
		})
	}
	if r := Check([]byte(padded)); r != nil {
		t.Errorf("white space Discord trims was counted: %v", r)
	}
}

func TestCheckAccepts(t *testing.T) {
	for _, body := range []string{
		valid,
		`{"content":"hello"}`,
		`{"content":"` + strings.Repeat("界", 2000) + `"}`,
		`{"embeds":[{"description":"` + strings.Repeat("d", 4096) + `","fields":[{"name":"n","value":"` + strings.Repeat("v", 1024) + `"}],"title":"` + strings.Repeat("t", 256) + `","footer":{"text":"` + strings.Repeat("f", 600) + `"}}]}`,
		`{"embeds":[{"title":"t","timestamp":"2026-03-14T09:26:53.000Z","image":{"url":"attachment://a.png"},"author":{"name":"a","url":"http://x.example"}}],"unknown":1}`,
	} {
		if r := Check([]byte(body)); r != nil {
			t.Errorf("refused %.80s…: %v", body, r)
		}
	}
}
