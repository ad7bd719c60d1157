package googlechattest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/platform/platformtest"
)

const valid = `{"text":"Issue created","cardsV2":[{"cardId":"herald","card":{
"header":{"title":"ℹ️ Issue created","subtitle":"Payments"},
"sections":[{"widgets":[
{"textParagraph":{"text":"Alice created issue <b>x</b>"}},
{"decoratedText":{"topLabel":"Project","text":"Payments","wrapText":true}},
{"buttonList":{"buttons":[{"text":"View","onClick":{"openLink":{"url":"https://x.example/"}}}]}},
{"divider":{}},
{"textParagraph":{"text":"Herald"}}]}]}}]}`

func post(t *testing.T, url, contentType, body string) (*http.Response, string) {
	t.Helper()
	return platformtest.Do(t, http.MethodPost, url, http.Header{"Content-Type": {contentType}}, body)
}

// googleError reads a Google JSON error answer.
func googleError(t *testing.T, body string) (code int, status, message string) {
	t.Helper()
	var e struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("answer is not a Google error: %v\n%s", err, body)
	}
	return e.Error.Code, e.Error.Status, e.Error.Message
}

func TestServerAccepts(t *testing.T) {
	s := NewServer(t)
	hook := s.NewHook(platformtest.HookOptions{Secret: "ignored", Keyword: "ignored"})
	u, err := url.Parse(hook)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hook, s.URL+"/v1/spaces/AAAA") || u.Query().Get("key") != s.Key() || !strings.HasSuffix(u.Query().Get("token"), "=") ||
		!strings.Contains(u.RawQuery, "%3D") {
		t.Errorf("hook URL %s", hook)
	}
	resp, reply := post(t, hook, jsonType, valid)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != jsonType {
		t.Fatalf("got %d %s %s, want 200 JSON", resp.StatusCode, resp.Header.Get("Content-Type"), reply)
	}
	var created struct {
		Name       string          `json:"name"`
		Text       string          `json:"text"`
		CardsV2    json.RawMessage `json:"cardsV2"`
		CreateTime time.Time       `json:"createTime"`
		Sender     struct {
			Type string `json:"type"`
		} `json:"sender"`
	}
	if err := json.Unmarshal([]byte(reply), &created); err != nil {
		t.Fatal(err)
	}
	space := strings.TrimSuffix(strings.TrimPrefix(u.Path, "/v1/"), "/messages")
	if !strings.HasPrefix(created.Name, space+"/messages/") || created.Text != "Issue created" || len(created.CardsV2) == 0 ||
		created.CreateTime.IsZero() || created.Sender.Type != "BOT" {
		t.Errorf("created message %s", reply)
	}
	if got := s.WaitAccepted(t, hook, 1, time.Second); string(got[0]) != valid {
		t.Errorf("recorded %s", got[0])
	}
	if other := s.NewHook(platformtest.HookOptions{}); len(s.Messages(other)) != 0 {
		t.Errorf("another hook has messages")
	}
	if reqs := s.Requests(); len(reqs) != 1 || !reqs[0].Accepted || reqs[0].Path != u.Path {
		t.Errorf("requests %+v", reqs)
	}
	if resp, _ := post(t, hook, "application/json", `{"text":"plain text only"}`); resp.StatusCode != 429 {
		t.Errorf("a second message in the same second: %d, want 429", resp.StatusCode)
	}
}

// TestServerAuthAndRouting checks Google's answers for wrong URLs and
// credentials, and that they come before an injected failure is used up.
func TestServerAuthAndRouting(t *testing.T) {
	s := NewServer(t)
	hook := s.NewHook(platformtest.HookOptions{})
	s.FailNext(1, 500, "boom", nil)
	set := func(name, value string) string {
		u, _ := url.Parse(hook)
		q := u.Query()
		if value == "" {
			q.Del(name)
		} else {
			q.Set(name, value)
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	tests := []struct {
		name, method, url string
		status            int
		googleStatus      string
		message           string
	}{
		{"unknown path", "POST", strings.Replace(hook, "/messages?", "/message?", 1), 404, "", ""},
		{"other method", "PUT", hook, 404, "", ""},
		{"list needs OAuth", "GET", hook, 401, "UNAUTHENTICATED", MessageNeedsOAuth},
		{"no key", "POST", set("key", ""), 403, "PERMISSION_DENIED", MessageMissingKey},
		{"wrong key", "POST", set("key", "AIzaSyWrong"), 400, "INVALID_ARGUMENT", MessageInvalidKey},
		{"unknown space", "POST", strings.Replace(hook, "/spaces/AAAA", "/spaces/ZZZZ", 1), 404, "NOT_FOUND", MessageNotFound},
		{"no token", "POST", set("token", ""), 403, "PERMISSION_DENIED", MessageInvalidToken},
		{"wrong token", "POST", set("token", "forged="), 403, "PERMISSION_DENIED", MessageInvalidToken},
		{"the injected failure", "POST", hook, 500, "", ""},
	}
	for _, tt := range tests {
		resp, body := platformtest.Do(t, tt.method, tt.url, http.Header{"Content-Type": {jsonType}}, valid)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d: %s", tt.name, resp.StatusCode, tt.status, body)
			continue
		}
		switch {
		case tt.googleStatus != "":
			code, status, msg := googleError(t, body)
			if code != tt.status || status != tt.googleStatus || msg != tt.message {
				t.Errorf("%s: answered %d %s %q, want %d %s %q", tt.name, code, status, msg, tt.status, tt.googleStatus, tt.message)
			}
		case tt.status == 404 && !strings.Contains(body, "Error 404 (Not Found)") && resp.Header.Get("Content-Type") != "text/html; charset=UTF-8":
			t.Errorf("%s: not Google's 404 page: %s", tt.name, body)
		}
	}
	if len(s.Messages(hook)) != 0 {
		t.Errorf("a refused request was accepted")
	}
	if status, _ := post(t, hook, jsonType, valid); status.StatusCode != 200 {
		t.Errorf("after the injected failure: %d, want 200", status.StatusCode)
	}
}

func TestServerRefuses(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(valid, old) {
			t.Fatalf("the valid message lacks %q", old)
		}
		return strings.Replace(valid, old, new, 1)
	}
	button := `{"text":"View","onClick":{"openLink":{"url":"https://x.example/"}}}`
	tests := []struct {
		name, contentType, body, message string
	}{
		{"form body", "application/x-www-form-urlencoded", valid, "is not application/json"},
		{"no content type", "", valid, "is not application/json"},
		{"not JSON", jsonType, `{"text":`, "Invalid JSON payload received."},
		{"trailing data", jsonType, `{"text":"a"} {}`, "Invalid JSON payload received."},
		{"not UTF-8", jsonType, "{\"text\":\"\xff\"}", "Invalid UTF-8"},
		{"unknown field", jsonType, `{"text":"a","blocks":[]}`, `Unknown name "blocks": Cannot find field.`},
		{"unknown card field", jsonType, replace(`"cardId":"herald"`, `"cardId":"herald","color":"red"`), `Unknown name "color"`},
		{"unknown widget", jsonType, replace(`{"divider":{}}`, `{"markdown":{"text":"x"}}`), `Unknown name "markdown"`},
		{"wrong type", jsonType, `{"text":7}`, "Invalid value"},
		{"empty", jsonType, `{}`, "Message cannot be empty."},
		{"blank text", jsonType, `{"text":"  "}`, "Message cannot be empty."},
		{"text too long", jsonType, `{"text":"` + strings.Repeat("界", MaxText+1) + `"}`, "Maximum length of the field is 4096"},
		{"too large", jsonType, replace("Alice created issue", strings.Repeat("a", MaxBytes)), "Message is too large"},
		{"no card", jsonType, `{"cardsV2":[{"cardId":"x"}]}`, "card is missing"},
		{"no sections", jsonType, `{"cardsV2":[{"cardId":"x","card":{"header":{"title":"t"}}}]}`, "has no sections"},
		{"empty sections", jsonType, `{"cardsV2":[{"cardId":"x","card":{"sections":[]}}]}`, "has no sections"},
		{"empty widgets", jsonType, `{"cardsV2":[{"cardId":"x","card":{"sections":[{"widgets":[]}]}}]}`, "has no widgets"},
		{"blank title", jsonType, replace(`"title":"ℹ️ Issue created"`, `"title":" "`), "header.title is required"},
		{"two kinds", jsonType, replace(`{"divider":{}}`, `{"divider":{},"textParagraph":{"text":"x"}}`), "exactly one kind of widget, holds 2"},
		{"no kind", jsonType, replace(`{"divider":{}}`, `{"horizontalAlignment":"CENTER"}`), "exactly one kind of widget, holds 0"},
		{"empty paragraph", jsonType, replace(`"text":"Herald"`, `"text":""`), "text_paragraph.text is empty"},
		{"decorated text without text", jsonType, replace(`"text":"Payments"`, `"bottomLabel":"x"`), "decorated_text.text is required"},
		{"no buttons", jsonType, replace(button, ``), "has no buttons"},
		{"button without text", jsonType, replace(`"text":"View",`, ``), "needs text or an icon"},
		{"button without onClick", jsonType, replace(`"onClick":{"openLink":{"url":"https://x.example/"}}`, `"altText":"x"`), "on_click is required"},
		{"relative link", jsonType, replace("https://x.example/", "/issues/1"), "not an absolute http(s) URL"},
		{"javascript link", jsonType, replace("https://x.example/", "javascript:alert(1)"), "not an absolute http(s) URL"},
		{"two actions", jsonType, replace(`"onClick":{"openLink"`, `"onClick":{"action":{"function":"f"},"openLink"`), "exactly one action, holds 2"},
		{"several cards without ids", jsonType, `{"cardsV2":[{"card":{"sections":[{"widgets":[{"divider":{}}]}]}},{"card":{"sections":[{"widgets":[{"divider":{}}]}]}}]}`, "card_id is required"},
		{"duplicate card ids", jsonType, `{"cardsV2":[{"cardId":"a","card":{"sections":[{"widgets":[{"divider":{}}]}]}},{"cardId":"a","card":{"sections":[{"widgets":[{"divider":{}}]}]}}]}`, "is not unique"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t)
			hook := s.NewHook(platformtest.HookOptions{})
			resp, body := post(t, hook, tt.contentType, tt.body)
			if resp.StatusCode != 400 {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
			}
			code, status, msg := googleError(t, body)
			if code != 400 || status != "INVALID_ARGUMENT" || !strings.Contains(msg, tt.message) {
				t.Errorf("answered %d %s %q, want 400 INVALID_ARGUMENT with %q", code, status, msg, tt.message)
			}
			if len(s.Messages(hook)) != 0 {
				t.Errorf("the refused message was recorded as accepted")
			}
		})
	}
}

// TestCheckAccepts lists messages Google takes that a stricter fake might
// refuse.
func TestCheckAccepts(t *testing.T) {
	for _, body := range []string{
		valid,
		`{"text":"only text"}`,
		`{"cardsV2":[{"card":{"sections":[{"widgets":[{"divider":{}}]}]}}]}`, // one card needs no id
		`{"text":"x","thread":{"threadKey":"k"},"fallbackText":"f","createTime":"2026-01-01T00:00:00Z"}`,
		`{"text":"` + strings.Repeat("界", MaxText) + `"}`,
	} {
		if err := Check([]byte(body)); err != nil {
			t.Errorf("Check(%.60s…) = %v, want nil", body, err)
		}
	}
	if err := Check([]byte(`{}`)); err == nil {
		t.Error("Check({}) = nil")
	} else if e, ok := err.(*APIError); !ok || e.Code != 400 || e.Status != "INVALID_ARGUMENT" {
		t.Errorf("Check({}) = %#v, want an *APIError 400 INVALID_ARGUMENT", err)
	}
}

func TestServerRateLimit(t *testing.T) {
	s := NewServer(t)
	s.SetRateLimit(2)
	hook, other := s.NewHook(platformtest.HookOptions{}), s.NewHook(platformtest.HookOptions{})
	var statuses []int
	for range 3 {
		resp, _ := post(t, hook, jsonType, valid)
		statuses = append(statuses, resp.StatusCode)
	}
	if statuses[0] != 200 || statuses[1] != 200 || statuses[2] != 429 {
		t.Errorf("statuses %v, want 200 200 429", statuses)
	}
	r := s.Requests()[2]
	if code, status, msg := googleError(t, r.Reply); code != 429 || status != "RESOURCE_EXHAUSTED" || msg != MessageExhausted {
		t.Errorf("rate-limited answer %s", r.Reply)
	}
	if resp, _ := post(t, other, jsonType, valid); resp.StatusCode != 200 {
		t.Errorf("another space was limited too: %d", resp.StatusCode)
	}
	if n := len(s.Messages(hook)); n != 2 {
		t.Errorf("%d messages accepted, want 2", n)
	}
	s.SetRateLimit(0)
	if resp, _ := post(t, hook, jsonType, valid); resp.StatusCode != 200 {
		t.Errorf("with no limit: %d", resp.StatusCode)
	}
}

func TestServerInjectedAnswers(t *testing.T) {
	s := NewServer(t)
	s.SetRateLimit(0)
	hook := s.NewHook(platformtest.HookOptions{})
	s.RateLimitNext(1)
	if code := s.RejectNext(1); code != "NOT_FOUND" {
		t.Errorf("RejectNext = %q", code)
	}
	s.FailNextError(1, 503, "UNAVAILABLE", "The service is currently unavailable.", http.Header{"Retry-After": {"3"}})
	for i, want := range []struct {
		status     int
		google     string
		retryAfter string
	}{{429, "RESOURCE_EXHAUSTED", ""}, {404, "NOT_FOUND", ""}, {503, "UNAVAILABLE", "3"}, {200, "", ""}} {
		resp, body := post(t, hook, jsonType, valid)
		if resp.StatusCode != want.status || resp.Header.Get("Retry-After") != want.retryAfter {
			t.Errorf("request %d: %d Retry-After %q, want %d %q", i, resp.StatusCode, resp.Header.Get("Retry-After"), want.status, want.retryAfter)
			continue
		}
		if want.google != "" {
			if _, status, _ := googleError(t, body); status != want.google || resp.Header.Get("Content-Type") != jsonType {
				t.Errorf("request %d: %s %s", i, status, resp.Header.Get("Content-Type"))
			}
		}
	}
	if n := len(s.Messages(hook)); n != 1 {
		t.Errorf("%d messages accepted, want 1", n)
	}
}
