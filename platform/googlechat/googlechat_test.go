package googlechat

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/platform/googlechat/googlechattest"
	"github.com/heraldhq/herald/platform/platformtest"
)

// Credentials in the URLs of TestCheckURL; errors must never quote them,
// nor the space id.
const (
	testKey   = "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI"
	testToken = "hHuPA8Ft28chPJ4VPdt-mnqZGjObmuasaZUpOr49H0g%3D"
	testSpace = "AAAASecretSpace"
)

func TestCheckURL(t *testing.T) {
	query := "?key=" + testKey + "&token=" + testToken
	platformtest.CheckURLs(t, New().CheckURL, []string{testKey, testToken, "hHuPA8Ft28", testSpace}, []platformtest.URLCase{
		{URL: "https://chat.googleapis.com/v1/spaces/" + testSpace + "/messages" + query},
		{URL: "https://CHAT.googleapis.com/v1/spaces/" + testSpace + "/messages" + query},
		{URL: "https://chat.googleapis.com:443/v1/spaces/" + testSpace + "/messages" + query},
		{URL: "https://chat.googleapis.com/v1/spaces/" + testSpace + "/messages" + query + "&threadKey=deploys&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"},
		{URL: "http://chat.googleapis.com/v1/spaces/" + testSpace + "/messages" + query, WantErr: `host "chat.googleapis.com" serves GOOGLE_CHAT webhooks over https only`},
		{URL: "https://chat.googleapis.com:8443/v1/spaces/" + testSpace + "/messages" + query, WantErr: "port 443 only"},
		{URL: "https://googleapis.com/v1/spaces/" + testSpace + "/messages" + query, WantErr: `host "googleapis.com" is not accepted for GOOGLE_CHAT webhooks (accepted: chat.googleapis.com)`},
		{URL: "https://chat.googleapis.com.evil.example/v1/spaces/" + testSpace + "/messages" + query, WantErr: `host "chat.googleapis.com.evil.example" is not accepted`},
		{URL: "https://evil.example/v1/spaces/" + testSpace + "/messages" + query, WantErr: `host "evil.example" is not accepted`},
		{URL: "https://chat.googleapis.com/v1/spaces/" + testSpace + query, WantErr: "path must be /v1/spaces/{space}/messages for GOOGLE_CHAT webhooks"},
		{URL: "https://chat.googleapis.com/v1/spaces/" + testSpace + "/messages/x" + query, WantErr: "path must be /v1/spaces/{space}/messages"},
		{URL: "https://chat.googleapis.com/v1/spaces//messages" + query, WantErr: "path must be /v1/spaces/{space}/messages"},
		{URL: "https://chat.googleapis.com/v2/spaces/" + testSpace + "/messages" + query, WantErr: "path must be /v1/spaces/{space}/messages"},
		{URL: "https://chat.googleapis.com/v1/spaces/" + testSpace + "/messages?token=" + testToken, WantErr: "must carry both the key and the token"},
		{URL: "https://chat.googleapis.com/v1/spaces/" + testSpace + "/messages?key=" + testKey, WantErr: "must carry both the key and the token"},
		{URL: "https://chat.googleapis.com/v1/spaces/" + testSpace + "/messages?key=&token=" + testToken, WantErr: "must carry both the key and the token"},
		{URL: "https://chat.googleapis.com/v1/spaces/" + testSpace + "/messages", WantErr: "must carry both the key and the token"},
	})
}

func TestTypeAndLimits(t *testing.T) {
	platformtest.CheckTypeAndLimits(t, New(), herald.GoogleChat, platform.Limit{N: 1, Per: time.Second})
}

// send posts m to a new hook of a new fake Google Chat, after setup (if
// any) has set the fake up and, perhaps, changed the hook URL.
func send(t *testing.T, m *message.Message, setup func(s *googlechattest.Server, hook string) string) (platform.Result, *googlechattest.Server, string) {
	t.Helper()
	srv := googlechattest.NewServer(t)
	hook := srv.NewHook(platformtest.HookOptions{})
	target := hook
	if setup != nil {
		target = setup(srv, hook)
	}
	return platformtest.Send(New(), target, m), srv, hook
}

// withQuery returns hook with query parameter name set to value.
func withQuery(name, value string) func(*googlechattest.Server, string) string {
	return func(_ *googlechattest.Server, hook string) string {
		u, _ := url.Parse(hook)
		q := u.Query()
		q.Set(name, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
}

func TestSend(t *testing.T) {
	failNext := func(code int, status, msg string, header http.Header) func(*googlechattest.Server, string) string {
		return func(s *googlechattest.Server, hook string) string {
			s.FailNextError(1, code, status, msg, header)
			return hook
		}
	}
	tests := []struct {
		name       string
		setup      func(*googlechattest.Server, string) string
		outcome    herald.Outcome
		status     int
		code       string
		retryAfter time.Duration
		err        string
	}{
		{name: "accepted", outcome: herald.OutcomeSuccess, status: 200},
		{
			name:    "quota exhausted",
			setup:   func(s *googlechattest.Server, hook string) string { s.RateLimitNext(1); return hook },
			outcome: herald.OutcomeRateLimited, status: 429, code: "RESOURCE_EXHAUSTED",
			err: "Google Chat answered 429 RESOURCE_EXHAUSTED: Resource has been exhausted (e.g. check quota).",
		},
		{
			name:    "quota exhausted with Retry-After",
			setup:   failNext(429, "RESOURCE_EXHAUSTED", googlechattest.MessageExhausted, http.Header{"Retry-After": {"7"}}),
			outcome: herald.OutcomeRateLimited, status: 429, code: "RESOURCE_EXHAUSTED", retryAfter: 7 * time.Second,
		},
		{
			name:    "wrong key",
			setup:   withQuery("key", "AIzaSyNotTheKeyGoogleIssued000000000000"),
			outcome: herald.OutcomePermanent, status: 400, code: "INVALID_ARGUMENT",
			err: "Google Chat answered 400 INVALID_ARGUMENT: API key not valid. Please pass a valid API key.",
		},
		{
			name:    "unauthenticated",
			setup:   failNext(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.", nil),
			outcome: herald.OutcomePermanent, status: 401, code: "UNAUTHENTICATED",
			err: "Google Chat answered 401 UNAUTHENTICATED: Request had invalid authentication credentials.",
		},
		{
			name:    "wrong token",
			setup:   withQuery("token", "not-the-token-of-this-space"),
			outcome: herald.OutcomePermanent, status: 403, code: "PERMISSION_DENIED",
			err: "Google Chat answered 403 PERMISSION_DENIED: The API is called without a valid token.",
		},
		{
			name: "unknown space",
			setup: func(_ *googlechattest.Server, hook string) string {
				return strings.Replace(hook, "/spaces/AAAA", "/spaces/BBBB", 1)
			},
			outcome: herald.OutcomePermanent, status: 404, code: "NOT_FOUND",
			err: "Google Chat answered 404 NOT_FOUND: Requested entity was not found.",
		},
		{
			name:    "rejected",
			setup:   func(s *googlechattest.Server, hook string) string { s.RejectNext(1); return hook },
			outcome: herald.OutcomePermanent, status: 404, code: "NOT_FOUND",
		},
		{
			name:    "unavailable",
			setup:   failNext(503, "UNAVAILABLE", "The service is currently unavailable.", nil),
			outcome: herald.OutcomeRetryable, status: 503, code: "UNAVAILABLE",
			err: "Google Chat answered 503 UNAVAILABLE: The service is currently unavailable.",
		},
		{
			name:    "internal",
			setup:   failNext(500, "INTERNAL", "Internal error encountered.", nil),
			outcome: herald.OutcomeRetryable, status: 500, code: "INTERNAL",
		},
		{
			name: "not JSON",
			setup: func(s *googlechattest.Server, hook string) string {
				s.FailNext(1, 502, "<html>Bad Gateway</html>", nil)
				return hook
			},
			outcome: herald.OutcomeRetryable, status: 502, err: "Google Chat answered HTTP 502",
		},
		{
			name: "unknown path",
			setup: func(_ *googlechattest.Server, hook string) string {
				return strings.Replace(hook, "/messages?", "/msgs?", 1)
			},
			outcome: herald.OutcomePermanent, status: 404, err: "Google Chat answered HTTP 404",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := platformtest.FixtureMessage(herald.IssueCreated)
			res, srv, hook := send(t, m, tt.setup)
			platformtest.CheckResult(t, res, platformtest.Want{Outcome: tt.outcome, Status: tt.status, Code: tt.code, RetryAfter: tt.retryAfter, Err: tt.err})
			rendered, _ := Render(m)
			platformtest.CheckSent(t, res, srv.Requests(), "application/json; charset=UTF-8", rendered)
			platformtest.CheckAccepted(t, srv, hook, tt.outcome == herald.OutcomeSuccess)
			u, _ := url.Parse(hook)
			platformtest.CheckSecrets(t, res, u.Query().Get("key"), u.Query().Get("token"), u.RawQuery)
		})
	}
}

// TestSendSuccessIsAnyTwoHundred checks that a 2xx other than 200 counts:
// Google's contract is "2xx is success".
func TestSendSuccessIsAnyTwoHundred(t *testing.T) {
	res, _, _ := send(t, platformtest.FixtureMessage(herald.IssueCreated), func(s *googlechattest.Server, hook string) string {
		s.FailNext(1, 202, "{}", nil)
		return hook
	})
	if res.Outcome != herald.OutcomeSuccess || res.Error != "" || res.PlatformCode != "" {
		t.Errorf("got %s %q %q, want SUCCESS", res.Outcome, res.PlatformCode, res.Error)
	}
}

// TestSendRedactsCredentials checks that an error quoting the API key (as
// Google's "Consumer 'api_key:…' has been suspended" does) is recorded
// without it.
func TestSendRedactsCredentials(t *testing.T) {
	var key string
	res, _, _ := send(t, platformtest.FixtureMessage(herald.IssueCreated), func(s *googlechattest.Server, hook string) string {
		key = s.Key()
		s.FailNextError(1, 403, "PERMISSION_DENIED", "Permission denied: Consumer 'api_key:"+key+"' has been suspended.", nil)
		return hook
	})
	if res.Outcome != herald.OutcomePermanent || res.PlatformCode != "PERMISSION_DENIED" {
		t.Fatalf("got %s %q, want PERMANENT PERMISSION_DENIED", res.Outcome, res.PlatformCode)
	}
	if strings.Contains(res.Error, key) || strings.Contains(res.ResponseBody, key) {
		t.Errorf("the key is recorded: error %q, body %q", res.Error, res.ResponseBody)
	}
	if !strings.Contains(res.Error, "Consumer 'api_key:****' has been suspended") {
		t.Errorf("error %q lost the rest of Google's message", res.Error)
	}
}

func TestSendConnectionRefused(t *testing.T) {
	srv := googlechattest.NewServer(t)
	hook := srv.NewHook(platformtest.HookOptions{})
	srv.Close()
	res := platformtest.Send(New(), hook, platformtest.FixtureMessage(herald.IssueCreated))
	u, _ := url.Parse(hook)
	platformtest.CheckUnreachable(t, res, u.Query().Get("key"), u.Query().Get("token"), u.Path, "/v1/spaces/")
}
