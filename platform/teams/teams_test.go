package teams

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/netguard"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/platform/platformtest"
	"github.com/heraldhq/herald/platform/teams/teamstest"
)

const (
	workflowsURL = "https://default0123abcd.12.environment.api.powerplatform.com:443/powerautomate/automations/direct/workflows/" +
		"0a1b2c3d4e5f60718293a4b5c6d7e8f9/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=SECRETsig0123456789abcdefghijklmnopqrstuvwx"
	connectorURL = "https://contoso.webhook.office.com/webhookb2/1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b@72f988bf-86f1-41af-91ab-2d7cd011db47" +
		"/IncomingWebhook/SECRETid0123456789abcdef0123456/9e8d7c6b-5a49-3827-1605-f4e3d2c1b0a9"
)

func TestCheckURL(t *testing.T) {
	platformtest.CheckURLs(t, New().CheckURL, []string{"SECRET"}, []platformtest.URLCase{
		{URL: workflowsURL},
		{URL: "https://default0123abcd.12.environment.api.powerplatform.com/powerautomate/automations/direct/cu/16/workflows/0a1b/triggers/manual/paths/invoke?sig=SECRETsig0123456789"},
		{URL: "https://prod-27.westus.logic.azure.com:443/workflows/0a1b2c3d/triggers/manual/paths/invoke?api-version=2016-06-01&sig=SECRETsig0123456789"},
		{URL: connectorURL},
		{URL: "https://outlook.office.com/webhook/SECRETsecret0123456789/IncomingWebhook/abc/def"},
		{URL: "https://outlook.office365.com/webhook/SECRETsecret0123456789/IncomingWebhook/abc/def"},
		{URL: "https://CONTOSO.Webhook.Office.com/webhookb2/x"},
		{URL: "https://powerplatform.com/powerautomate/x", WantErr: `host "powerplatform.com" is not accepted for TEAMS webhooks`},
		{URL: "https://office.com/webhook/x", WantErr: `host "office.com" is not accepted`},
		{URL: "https://logic.azure.com.evil.example/workflows/x?sig=SECRETsig0123456789", WantErr: `host "logic.azure.com.evil.example" is not accepted`},
		{URL: "https://evil.example/webhookb2/x@y/IncomingWebhook/a/b", WantErr: `host "evil.example" is not accepted`},
		{URL: "https://webhook.office.com.evil.example/webhookb2/x", WantErr: `is not accepted`},
		{URL: "https://prod-27.westus.logic.azure.com", WantErr: "needs the path of a Workflows trigger or connector"},
		{URL: "https://prod-27.westus.logic.azure.com/?sig=SECRETsig0123456789", WantErr: "needs the path"},
	})
}

// TestCheckURLThroughPolicy checks the 400 message a user sees.
func TestCheckURLThroughPolicy(t *testing.T) {
	_, err := (&netguard.Policy{}).CheckURL(herald.Teams, "https://prod-27.westus.logic.azure.com/", New().CheckURL)
	if err == nil || !strings.Contains(err.Error(), "TEAMS") || !strings.Contains(err.Error(), "prod-27.westus.logic.azure.com") {
		t.Errorf("error %v, want one naming TEAMS and the host", err)
	}
}

// TestIsConnectorHost checks the rule that picks the legacy MessageCard,
// with the hosts Teams really issues.
func TestIsConnectorHost(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"contoso.webhook.office.com", true},
		{"Contoso.WEBHOOK.office.com", true},
		{"a.b.webhook.office.com", true},
		{"outlook.office.com", true},
		{"outlook.office365.com", true},
		{"outlook.office.com.", true},
		{"webhook.office.com", false},
		{"default0123abcd.12.environment.api.powerplatform.com", false},
		{"prod-27.westus.logic.azure.com", false},
		{"contoso.office.com", false},
		{"outlook.office.com.evil.example", false},
		{"evil-outlook.office.com", false},
		{"127.0.0.1", false},
	}
	for _, tt := range tests {
		if got := IsConnectorHost(tt.host); got != tt.want {
			t.Errorf("IsConnectorHost(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

func TestUsesMessageCard(t *testing.T) {
	tests := []struct {
		url  string
		want bool
	}{
		{workflowsURL, false},
		{connectorURL, true},
		{"https://outlook.office.com/webhook/abc", true},
		// A Teams host is judged by its host alone.
		{"https://prod-27.westus.logic.azure.com/webhookb2/a@b/IncomingWebhook/c/d", false},
		{"https://contoso.office.com/webhookb2/a@b/IncomingWebhook/c/d", false},
		// An allowed host (a relay, a fake) is judged by its path.
		{"http://127.0.0.1:8080/webhookb2/a@b/IncomingWebhook/c/d", true},
		{"http://127.0.0.1:8080/webhook/a@b/IncomingWebhook/c/d", true},
		{"http://relay.internal/powerautomate/automations/direct/workflows/x/triggers/manual/paths/invoke", false},
		{"http://relay.internal/webhookb2/a", false},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := usesMessageCard(u); got != tt.want {
			t.Errorf("usesMessageCard(%s) = %v, want %v", tt.url, got, tt.want)
		}
	}
}

// send posts m to a new hook of a new fake Teams (a connector hook when
// legacy), after setup (if any) has set the fake up.
func send(t *testing.T, m *message.Message, legacy bool, setup func(s *teamstest.Server, hook string) string) (platform.Result, *teamstest.Server, string) {
	t.Helper()
	srv := teamstest.NewServer(t)
	hook := srv.NewHook(platformtest.HookOptions{Legacy: legacy})
	target := hook
	if setup != nil {
		target = setup(srv, hook)
	}
	res := platformtest.Send(New(), target, m)
	return res, srv, hook
}

type sendCase struct {
	name       string
	setup      func(s *teamstest.Server, hook string) string
	outcome    herald.Outcome
	status     int
	code       string
	retryAfter time.Duration
	err        string
}

func failNext(status int, body string, header http.Header) func(*teamstest.Server, string) string {
	return func(s *teamstest.Server, hook string) string {
		s.FailNext(1, status, body, header)
		return hook
	}
}

func TestSendWorkflows(t *testing.T) {
	withSig := func(sig string) func(*teamstest.Server, string) string {
		return func(_ *teamstest.Server, hook string) string {
			u, _ := url.Parse(hook)
			q := u.Query()
			if sig == "" {
				q.Del("sig")
			} else {
				q.Set("sig", sig)
			}
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	runSendCases(t, false, []sendCase{
		{name: "queued", outcome: herald.OutcomeSuccess, status: 202},
		{
			name:    "rate limited",
			setup:   func(s *teamstest.Server, hook string) string { s.RateLimitNext(1); return hook },
			outcome: herald.OutcomeRateLimited, status: 429, code: "TooManyRequests", retryAfter: time.Second,
			err: "Teams Workflows answered 429 TooManyRequests",
		},
		{
			name:    "deleted flow",
			setup:   func(s *teamstest.Server, hook string) string { s.RejectNext(1); return hook },
			outcome: herald.OutcomePermanent, status: 404, code: "WorkflowNotFound",
			err: "Teams Workflows answered 404 WorkflowNotFound: The workflow 'manual' could not be found.",
		},
		{
			name:    "wrong signature",
			setup:   withSig("not-the-signature"),
			outcome: herald.OutcomePermanent, status: 401, code: "DirectApiInvalidAuthorizationSignature",
		},
		{
			name:    "no signature",
			setup:   withSig(""),
			outcome: herald.OutcomePermanent, status: 401, code: "DirectApiAuthorizationRequired",
		},
		{
			name: "unknown workflow",
			setup: func(s *teamstest.Server, hook string) string {
				return strings.Replace(hook, "/workflows/", "/workflows/0", 1)
			},
			outcome: herald.OutcomePermanent, status: 404, code: "WorkflowNotFound",
		},
		{
			name: "schema mismatch",
			setup: failNext(400, `{"error":{"code":"TriggerInputSchemaMismatch","message":"The input body for trigger 'manual' of type 'Request' did not match its schema definition."}}`,
				http.Header{"Content-Type": {"application/json"}}),
			outcome: herald.OutcomePermanent, status: 400, code: "TriggerInputSchemaMismatch",
			err: "Teams Workflows answered 400 TriggerInputSchemaMismatch: The input body for trigger 'manual'",
		},
		{
			name:    "forbidden without a JSON body",
			setup:   failNext(403, "<html>Forbidden</html>", nil),
			outcome: herald.OutcomePermanent, status: 403, err: "Teams Workflows answered 403",
		},
		{
			name:    "server error",
			setup:   failNext(502, `{"error":{"code":"BadGateway","message":"try again"}}`, nil),
			outcome: herald.OutcomeRetryable, status: 502, code: "BadGateway",
		},
		{
			name:    "unavailable with Retry-After",
			setup:   failNext(503, "", http.Header{"Retry-After": {"7"}}),
			outcome: herald.OutcomeRetryable, status: 503, retryAfter: 7 * time.Second,
		},
		{
			name:    "a flow's own Response action",
			setup:   failNext(200, `{"posted":true}`, nil),
			outcome: herald.OutcomeSuccess, status: 200,
		},
	})
}

func TestSendConnector(t *testing.T) {
	wrapped429 := teamstest.TeamsError(429)
	runSendCases(t, true, []sendCase{
		{name: "delivered", outcome: herald.OutcomeSuccess, status: 200, code: "1"},
		{
			name:    "rate limited, said with 200",
			setup:   func(s *teamstest.Server, hook string) string { s.RateLimitNext(1); return hook },
			outcome: herald.OutcomeRateLimited, status: 200, code: message.Truncate(wrapped429, 100),
			err: "Teams connector answered 200 Webhook message delivery failed",
		},
		{
			name:    "rate limited with Retry-After",
			setup:   failNext(200, wrapped429, http.Header{"Retry-After": {"3"}}),
			outcome: herald.OutcomeRateLimited, status: 200, code: message.Truncate(wrapped429, 100), retryAfter: 3 * time.Second,
		},
		{
			name:    "rate limited by status",
			setup:   failNext(429, "Too Many Requests", http.Header{"Retry-After": {"2"}}),
			outcome: herald.OutcomeRateLimited, status: 429, code: "Too Many Requests", retryAfter: 2 * time.Second,
		},
		{
			name:    "bad payload",
			setup:   func(s *teamstest.Server, hook string) string { s.RejectNext(1); return hook },
			outcome: herald.OutcomePermanent, status: 400, code: teamstest.BadPayload,
			err: "Teams connector answered 400 " + teamstest.BadPayload,
		},
		{
			name:    "summary required",
			setup:   failNext(400, teamstest.SummaryRequired, nil),
			outcome: herald.OutcomePermanent, status: 400, code: teamstest.SummaryRequired,
		},
		{
			name:    "too large, said with 200",
			setup:   failNext(200, teamstest.TeamsError(413), nil),
			outcome: herald.OutcomePermanent, status: 200, code: message.Truncate(teamstest.TeamsError(413), 100),
		},
		{
			name:    "Teams unavailable, said with 200",
			setup:   failNext(200, teamstest.TeamsError(503), nil),
			outcome: herald.OutcomeRetryable, status: 200, code: message.Truncate(teamstest.TeamsError(503), 100),
		},
		{
			name:    "any other 200 body",
			setup:   failNext(200, "  Unexpected\n", nil),
			outcome: herald.OutcomePermanent, status: 200, code: "Unexpected", err: "Teams connector answered 200 Unexpected",
		},
		{
			name:    "1 with a new line",
			setup:   failNext(200, "1\n", nil),
			outcome: herald.OutcomePermanent, status: 200, code: "1",
		},
		{
			name:    "2xx other than 200",
			setup:   failNext(202, "", nil),
			outcome: herald.OutcomePermanent, status: 202, err: "Teams connector answered 202",
		},
		{
			name:    "removed connector",
			setup:   func(s *teamstest.Server, hook string) string { return hook + "x" },
			outcome: herald.OutcomePermanent, status: 410,
		},
		{
			name:    "server error",
			setup:   failNext(500, "Internal Server Error", nil),
			outcome: herald.OutcomeRetryable, status: 500, code: "Internal Server Error",
		},
		{
			name:    "long error text",
			setup:   failNext(400, strings.Repeat("x", 500), nil),
			outcome: herald.OutcomePermanent, status: 400, code: strings.Repeat("x", 99) + message.Ellipsis,
		},
	})
}

func runSendCases(t *testing.T, legacy bool, tests []sendCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := platformtest.FixtureMessage(herald.IssueCreated)
			res, srv, hook := send(t, m, legacy, tt.setup)
			platformtest.CheckResult(t, res, platformtest.Want{Outcome: tt.outcome, Status: tt.status, Code: tt.code, RetryAfter: tt.retryAfter, Err: tt.err})
			render := RenderWorkflows
			if legacy {
				render = RenderMessageCard
			}
			rendered, _ := render(m)
			platformtest.CheckSent(t, res, srv.Requests(), "application/json", rendered)
			platformtest.CheckSecrets(t, res, "sig=", "IncomingWebhook")
			platformtest.CheckAccepted(t, srv, hook, tt.outcome == herald.OutcomeSuccess && tt.setup == nil)
			if runs := srv.FailedRuns(hook); len(runs) != 0 {
				t.Errorf("failed runs: %q", runs)
			}
		})
	}
}

// TestSendPicksTheFormat sends through the fake's two kinds of hook and
// checks what each received: a Workflows message, or a MessageCard.
func TestSendPicksTheFormat(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		m := platformtest.FixtureMessage(herald.PipelineFailed)
		res, srv, hook := send(t, m, legacy, nil)
		if res.Outcome != herald.OutcomeSuccess {
			t.Fatalf("legacy %v: %s %q", legacy, res.Outcome, res.Error)
		}
		got := srv.Accepted(hook)
		if len(got) != 1 {
			t.Fatalf("legacy %v: %d accepted", legacy, len(got))
		}
		var body struct {
			Type        string            `json:"@type"`
			Attachments []json.RawMessage `json:"attachments"`
		}
		if err := json.Unmarshal(got[0], &body); err != nil {
			t.Fatal(err)
		}
		if legacy && (body.Type != "MessageCard" || body.Attachments != nil) || !legacy && (body.Type != "" || len(body.Attachments) != 1) {
			t.Errorf("legacy %v: the hook received %s", legacy, got[0])
		}
	}
}

func TestSendConnectionRefused(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		srv := teamstest.NewServer(t)
		hook := srv.NewHook(platformtest.HookOptions{Legacy: legacy})
		srv.Close()
		res := platformtest.Send(New(), hook, platformtest.FixtureMessage(herald.IssueCreated))
		u, _ := url.Parse(hook)
		platformtest.CheckUnreachable(t, res, u.Path, "sig=")
	}
}

func TestSendInvalidURL(t *testing.T) {
	res := platformtest.Send(New(), "https://x.logic.azure.com/%zz?sig=SECRET", platformtest.FixtureMessage(herald.IssueCreated))
	if res.Outcome != herald.OutcomePermanent || strings.Contains(res.Error, "SECRET") {
		t.Errorf("got %s %q, want PERMANENT without the URL", res.Outcome, res.Error)
	}
}

func TestTypeAndLimits(t *testing.T) {
	platformtest.CheckTypeAndLimits(t, New(), herald.Teams, platform.Limit{N: 4, Per: time.Second})
}
