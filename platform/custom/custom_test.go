package custom

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/platform/custom/customtest"
	"github.com/heraldhq/herald/platform/platformtest"
)

// testSecret is the secret of the Standard Webhooks examples.
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func fixtureRequest(t herald.EventType, webhookURL string, now time.Time) *platform.Request {
	project, event := platformtest.Fixture(t)
	id := "dlv-" + strings.ToLower(string(t))
	return &platform.Request{
		Webhook:      &herald.Webhook{Type: herald.Custom, URL: webhookURL, SigningSecret: testSecret},
		Message:      message.New(project, event),
		Project:      project,
		Event:        event,
		DeliveryName: herald.DeliveryName("payments", id),
		DeliveryID:   id,
		Now:          now,
	}
}

func TestBodyGolden(t *testing.T) {
	platformtest.GoldenPayloads(t, "testdata", func(t *testing.T, typ herald.EventType) []byte {
		req := fixtureRequest(typ, "", platformtest.FixtureTime.Add(5*time.Second))
		got, err := Body(req)
		if err != nil {
			t.Fatal(err)
		}
		if len(req.Event.Deliveries) == 0 {
			t.Error("Body removed the deliveries of the caller's event")
		}
		return got
	})
}

func TestTypeAndLimits(t *testing.T) {
	platformtest.CheckTypeAndLimits(t, New(), herald.Custom)
}

func TestCheckURLAcceptsAnyHost(t *testing.T) {
	for _, raw := range []string{"https://example.com/hook", "http://10.0.0.1:8080/x?y=1"} {
		u, _ := url.Parse(raw)
		if err := New().CheckURL(u); err != nil {
			t.Errorf("CheckURL(%s) = %v", raw, err)
		}
	}
}

func send(t *testing.T, req *platform.Request) platform.Result {
	t.Helper()
	return platformtest.SendRequest(New(), req)
}

func TestSendSignedEnvelope(t *testing.T) {
	srv := customtest.NewServer(t)
	endpoint := srv.NewEndpoint(testSecret)
	req := fixtureRequest(herald.PipelineFailed, endpoint, time.Now())
	res := send(t, req)
	if res.Outcome != herald.OutcomeSuccess || res.HTTPStatus != 200 {
		t.Fatalf("got %s %d %q; fake: %+v", res.Outcome, res.HTTPStatus, res.Error, srv.Requests())
	}
	got := srv.Requests()[0]

	// The library verifies what was sent, on its own.
	wh, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(got.Body, got.Header); err != nil {
		t.Errorf("the library does not verify the request: %v", err)
	}
	if id := got.Header.Get("webhook-id"); id != req.DeliveryID {
		t.Errorf("webhook-id %q, want %q", id, req.DeliveryID)
	}
	if ts := got.Header.Get("webhook-timestamp"); ts != strconv.FormatInt(req.Now.Unix(), 10) {
		t.Errorf("webhook-timestamp %q, want %d", ts, req.Now.Unix())
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if res.RequestBody != string(got.Body) {
		t.Error("the result's request body is not what was sent")
	}

	var env struct {
		Type      string `json:"type"`
		Timestamp string `json:"timestamp"`
		Data      struct {
			Project  map[string]any `json:"project"`
			Event    map[string]any `json:"event"`
			Delivery string         `json:"delivery"`
		} `json:"data"`
	}
	if err := json.Unmarshal(got.Body, &env); err != nil {
		t.Fatal(err)
	}
	if env.Type != "PIPELINE_FAILED" || env.Timestamp != req.Now.UTC().Format(time.RFC3339) || env.Data.Delivery != req.DeliveryName {
		t.Errorf("envelope %s %s %s", env.Type, env.Timestamp, env.Data.Delivery)
	}
	if _, ok := env.Data.Event["deliveries"]; ok {
		t.Error(`data.event has "deliveries"`)
	}
	if env.Data.Event["eventId"] != req.Event.EventID || env.Data.Event["name"] != req.Event.Name {
		t.Errorf("data.event lost its eventId or name: %v", env.Data.Event)
	}
	if env.Data.Project["title"] != "Payments" {
		t.Errorf("data.project %v", env.Data.Project)
	}
}

// TestSendSignatureByHand recomputes the signature with crypto/hmac.
func TestSendSignatureByHand(t *testing.T) {
	srv := customtest.NewServer(t)
	req := fixtureRequest(herald.IssueCreated, srv.NewEndpoint(testSecret), time.Now())
	if res := send(t, req); res.Outcome != herald.OutcomeSuccess {
		t.Fatalf("got %s %q", res.Outcome, res.Error)
	}
	got := srv.Requests()[0]
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(testSecret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.%s", req.DeliveryID, req.Now.Unix(), got.Body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if sig := got.Header.Get("webhook-signature"); sig != want {
		t.Errorf("webhook-signature %q, want %q", sig, want)
	}
}

// TestSignVector checks the signing against the test vector of the
// Standard Webhooks specification.
func TestSignVector(t *testing.T) {
	h, err := sign(testSecret, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := h.Get("webhook-signature"), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("signature %q, want %q", got, want)
	}
	if got := h.Get("webhook-timestamp"); got != "1614265330" {
		t.Errorf("timestamp %q", got)
	}
}

func TestSendAnswers(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		header        http.Header
		outcome       herald.Outcome
		retryAfter    time.Duration
		disableReason string
	}{
		{name: "202", status: 202, outcome: herald.OutcomeSuccess},
		{name: "204", status: 204, outcome: herald.OutcomeSuccess},
		{name: "gone", status: 410, outcome: herald.OutcomePermanent, disableReason: "endpoint answered 410 Gone"},
		{name: "unavailable", status: 503, header: http.Header{"Retry-After": {"7"}}, outcome: herald.OutcomeRetryable, retryAfter: 7 * time.Second},
		{name: "timeout", status: 408, outcome: herald.OutcomeRetryable},
		{name: "rate limited", status: 429, header: http.Header{"Retry-After": {"3"}}, outcome: herald.OutcomeRateLimited, retryAfter: 3 * time.Second},
		{name: "bad request", status: 400, outcome: herald.OutcomePermanent},
		{name: "not found", status: 404, outcome: herald.OutcomePermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := customtest.NewServer(t)
			endpoint := srv.NewEndpoint(testSecret)
			srv.FailNext(1, tt.status, "answer "+tt.name, tt.header)
			res := send(t, fixtureRequest(herald.IssueCreated, endpoint, time.Now()))
			if res.Outcome != tt.outcome || res.HTTPStatus != tt.status || res.RetryAfter != tt.retryAfter || res.DisableReason != tt.disableReason {
				t.Errorf("got %s %d retry after %v disable %q, want %s %d %v %q",
					res.Outcome, res.HTTPStatus, res.RetryAfter, res.DisableReason, tt.outcome, tt.status, tt.retryAfter, tt.disableReason)
			}
			if tt.status != http.StatusNoContent && res.ResponseBody != "answer "+tt.name {
				t.Errorf("response body %q", res.ResponseBody)
			}
			if (res.Outcome == herald.OutcomeSuccess) != (res.Error == "") {
				t.Errorf("error %q for %s", res.Error, res.Outcome)
			}
		})
	}
}

func TestSendNetworkError(t *testing.T) {
	srv := customtest.NewServer(t)
	endpoint := srv.NewEndpoint(testSecret)
	srv.Close()
	res := send(t, fixtureRequest(herald.IssueCreated, endpoint, time.Now()))
	platformtest.CheckUnreachable(t, res, "/hooks/")
}

// TestFakeRejectsWrongSecret proves the fake really verifies signatures.
func TestFakeRejectsWrongSecret(t *testing.T) {
	srv := customtest.NewServer(t)
	other, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	endpoint := srv.NewEndpoint(other)
	res := send(t, fixtureRequest(herald.IssueCreated, endpoint, time.Now()))
	if res.Outcome != herald.OutcomePermanent || res.HTTPStatus != 401 || res.ResponseBody != "bad signature" {
		t.Errorf("got %s %d %q, want PERMANENT 401 \"bad signature\"", res.Outcome, res.HTTPStatus, res.ResponseBody)
	}
	if n := len(srv.Accepted(endpoint)); n != 0 {
		t.Errorf("the fake accepted %d requests", n)
	}

	// An unsigned request and a stale one are refused too.
	resp, err := http.Post(endpoint, "application/json", strings.NewReader(`{"type":"X","timestamp":"2026-01-01T00:00:00Z","data":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("unsigned request: %d, want 401", resp.StatusCode)
	}
	stale := fixtureRequest(herald.IssueCreated, endpoint, time.Now().Add(-10*time.Minute))
	stale.Webhook.SigningSecret = other
	if res := send(t, stale); res.HTTPStatus != 401 {
		t.Errorf("a request signed 10 minutes ago: %d, want 401", res.HTTPStatus)
	}
}

func TestSendRefusesToSendUnsigned(t *testing.T) {
	srv := customtest.NewServer(t)
	endpoint := srv.NewEndpoint(testSecret)
	for _, secret := range []string{"", "not-a-secret", "whsec_%%%"} {
		req := fixtureRequest(herald.IssueCreated, endpoint, time.Now())
		req.Webhook.SigningSecret = secret
		if res := send(t, req); res.Outcome != herald.OutcomePermanent || res.HTTPStatus != 0 {
			t.Errorf("secret %q: got %s %d, want PERMANENT without a request", secret, res.Outcome, res.HTTPStatus)
		}
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

func TestSendKeepsWebhookIDAcrossRetries(t *testing.T) {
	srv := customtest.NewServer(t)
	endpoint := srv.NewEndpoint(testSecret)
	srv.FailNext(1, 503, "", nil)
	req := fixtureRequest(herald.IssueApproved, endpoint, time.Now())
	if res := send(t, req); res.Outcome != herald.OutcomeRetryable {
		t.Fatalf("first attempt: %s", res.Outcome)
	}
	req.Now = time.Now()
	if res := send(t, req); res.Outcome != herald.OutcomeSuccess {
		t.Fatalf("second attempt: %s %q", res.Outcome, res.Error)
	}
	if n := srv.Seen(req.DeliveryID); n != 2 {
		t.Errorf("Seen(%s) = %d, want 2", req.DeliveryID, n)
	}
	if got := srv.WaitAccepted(t, endpoint, 1, time.Second); len(got) != 1 {
		t.Errorf("accepted %d", len(got))
	}
}
