package platformtest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
)

// Send has p send m to the webhook at url, of p's type, and returns its
// Result (see SendRequest).
func Send(p platform.Platform, url string, m *message.Message) platform.Result {
	return SendRequest(p, &platform.Request{Webhook: &herald.Webhook{Type: p.Type(), URL: url}, Message: m})
}

// SendRequest has p send req as the engine would, through a client that
// gives up after 5 seconds, and returns its Result.
func SendRequest(p platform.Platform, req *platform.Request) platform.Result {
	return p.Send(context.Background(), &http.Client{Timeout: 5 * time.Second}, req)
}

// Want is what a test of a platform's Send expects of its Result.
type Want struct {
	Outcome herald.Outcome
	// Status is the HTTP status of the answer.
	Status     int
	Code       string
	RetryAfter time.Duration
	// Err is a part of the Error, which must be empty exactly when
	// Outcome is SUCCESS.
	Err string
}

// CheckResult fails t unless res has want's outcome, HTTP status,
// platform code and Retry-After delay, and an Error that contains want.Err
// and is empty exactly when the outcome is SUCCESS.
func CheckResult(t testing.TB, res platform.Result, want Want) {
	t.Helper()
	if res.Outcome != want.Outcome || res.HTTPStatus != want.Status || res.PlatformCode != want.Code || res.RetryAfter != want.RetryAfter {
		t.Errorf("got %s %d %q retry after %v, want %s %d %q retry after %v (error %q)",
			res.Outcome, res.HTTPStatus, res.PlatformCode, res.RetryAfter, want.Outcome, want.Status, want.Code, want.RetryAfter, res.Error)
	}
	if (want.Outcome == herald.OutcomeSuccess) != (res.Error == "") || !strings.Contains(res.Error, want.Err) {
		t.Errorf("error %q, want one containing %q", res.Error, want.Err)
	}
}

// CheckSent fails t unless reqs, what a fake received while Send ran,
// is exactly one request, sent with Content-Type contentType and the body
// res.RequestBody records (and, when body is not nil, that body: the
// rendered message), and unless res records the fake's answer to it, its
// status and body. It returns the request.
func CheckSent(t testing.TB, res platform.Result, reqs []Request, contentType string, body []byte) Request {
	t.Helper()
	if len(reqs) != 1 {
		t.Fatalf("the fake got %d requests, want exactly 1", len(reqs))
	}
	req := reqs[0]
	if res.RequestBody != string(req.Body) || (body != nil && res.RequestBody != string(body)) {
		t.Errorf("request body %s, want the rendered message", res.RequestBody)
	}
	if res.HTTPStatus != req.Status || res.ResponseBody != req.Reply {
		t.Errorf("result has %d %q, the fake answered %d %q", res.HTTPStatus, res.ResponseBody, req.Status, req.Reply)
	}
	if ct := req.Header.Get("Content-Type"); ct != contentType {
		t.Errorf("Content-Type %q, want %q", ct, contentType)
	}
	return req
}

// CheckAccepted fails t unless fake accepted one message for the webhook of
// hookURL if delivered, and none if not: that a Result says SUCCESS is not
// enough, because an answer the test injected is not a delivery.
func CheckAccepted(t testing.TB, fake Fake, hookURL string, delivered bool) {
	t.Helper()
	want := 0
	if delivered {
		want = 1
	}
	if n := len(fake.Accepted(hookURL)); n != want {
		var refusals []string
		for _, r := range fake.Requests() {
			refusals = append(refusals, r.Refusal)
		}
		t.Errorf("the fake accepted %d messages, want %d (refusals %q)", n, want, refusals)
	}
}

// CheckDelivered fails t at once unless res is SUCCESS and fake accepted
// exactly one message for the webhook of hookURL, and returns it.
func CheckDelivered(t testing.TB, res platform.Result, fake Fake, hookURL string) json.RawMessage {
	t.Helper()
	if res.Outcome != herald.OutcomeSuccess {
		t.Fatalf("outcome %s (%s), want SUCCESS; fake: %+v", res.Outcome, res.Error, fake.Requests())
	}
	msgs := fake.Accepted(hookURL)
	if len(msgs) != 1 {
		t.Fatalf("the fake accepted %d messages, want 1; fake: %+v", len(msgs), fake.Requests())
	}
	return msgs[0]
}

// CheckSecrets fails t when the Error, the platform code or a recorded
// body of res contains one of secrets (the webhook URL's credentials, a
// signing secret); empty ones are skipped.
func CheckSecrets(t testing.TB, res platform.Result, secrets ...string) {
	t.Helper()
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		for _, field := range []string{res.Error, res.PlatformCode, res.RequestBody, res.ResponseBody} {
			if strings.Contains(field, secret) {
				t.Errorf("the result reveals %q: %.200q", secret, field)
			}
		}
	}
}

// CheckUnreachable fails t unless res is the Result of a request that got
// no answer (the fake was closed): RETRYABLE, without an HTTP status, with
// an Error that quotes none of secrets (the hook URL's credentials and
// path), and with the request body recorded.
func CheckUnreachable(t testing.TB, res platform.Result, secrets ...string) {
	t.Helper()
	if res.Outcome != herald.OutcomeRetryable || res.HTTPStatus != 0 || res.Error == "" || res.RequestBody == "" {
		t.Fatalf("got %s %d %q, want RETRYABLE with no status, an error and the request body", res.Outcome, res.HTTPStatus, res.Error)
	}
	for _, secret := range secrets {
		if secret != "" && strings.Contains(res.Error, secret) {
			t.Errorf("error %q reveals %q", res.Error, secret)
		}
	}
}

// LongMessage returns the FixtureMessage of typ with a description and
// issue details of markup repeated to (nearly) 10,000 characters: more
// than any platform takes, which Herald must escape and cut to the
// platform's limits.
func LongMessage(typ herald.EventType, markup string) *message.Message {
	m := FixtureMessage(typ)
	m.Description = strings.Repeat(markup, 10000/utf8.RuneCountInString(markup))
	m.Details = m.Description
	return m
}
