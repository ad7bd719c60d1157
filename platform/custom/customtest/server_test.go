package customtest

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/heraldhq/herald/platform/platformtest"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// signed posts body to url signed with secret, as id, with the given
// content type.
func signed(t *testing.T, url, id, contentType, body string) (int, string) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sig, err := wh.Sign(id, now, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, reply := platformtest.Do(t, http.MethodPost, url, http.Header{
		"Content-Type":      {contentType},
		"Webhook-Id":        {id},
		"Webhook-Timestamp": {strconv.FormatInt(now.Unix(), 10)},
		"Webhook-Signature": {sig},
	}, body)
	return resp.StatusCode, reply
}

const envelope = `{"type":"ISSUE_CREATED","timestamp":"2026-03-14T09:26:53Z","data":{"project":{},"event":{},"delivery":"d"}}`

func TestServer(t *testing.T) {
	s := NewServer(t)
	endpoint := s.NewEndpoint(secret)
	tests := []struct {
		name, url, contentType, body string
		status                       int
	}{
		{"accepted", endpoint, "application/json", envelope, 200},
		{"unknown endpoint", s.URL + "/hooks/nope", "application/json", envelope, 404},
		{"not JSON content", endpoint, "text/plain", envelope, 400},
		{"not JSON", endpoint, "application/json", `{"type":`, 400},
		{"no type", endpoint, "application/json", `{"timestamp":"2026-03-14T09:26:53Z","data":{}}`, 400},
		{"bad timestamp", endpoint, "application/json", `{"type":"X","timestamp":"yesterday","data":{}}`, 400},
		{"data not an object", endpoint, "application/json", `{"type":"X","timestamp":"2026-03-14T09:26:53Z","data":[]}`, 400},
	}
	for _, tt := range tests {
		if status, _ := signed(t, tt.url, "msg-"+tt.name, tt.contentType, tt.body); status != tt.status {
			t.Errorf("%s: %d, want %d", tt.name, status, tt.status)
		}
	}
	if got := s.Accepted(endpoint); len(got) != 1 || string(got[0]) != envelope {
		t.Errorf("accepted %q", got)
	}
	if n := s.Seen("msg-accepted"); n != 1 {
		t.Errorf("Seen = %d", n)
	}
	if resp, body := platformtest.Do(t, http.MethodGet, endpoint, nil, ""); resp.StatusCode != 405 || body != "method not allowed" {
		t.Errorf("GET: %d %q", resp.StatusCode, body)
	}
}

// TestServerFailNextCountsInSeen checks that answered failures count as
// seen: they are deliveries Herald did send.
func TestServerFailNextCountsInSeen(t *testing.T) {
	s := NewServer(t)
	endpoint := s.NewEndpoint(secret)
	s.FailNext(2, 503, "busy", http.Header{"Retry-After": {"7"}})
	for i, want := range []int{503, 503, 200} {
		if status, _ := signed(t, endpoint, "msg-1", "application/json", envelope); status != want {
			t.Errorf("request %d: %d, want %d", i, status, want)
		}
	}
	if n := s.Seen("msg-1"); n != 3 {
		t.Errorf("Seen = %d, want 3", n)
	}
	if got := s.WaitAccepted(t, endpoint, 1, time.Second); len(got) != 1 {
		t.Errorf("accepted %d", len(got))
	}
}
