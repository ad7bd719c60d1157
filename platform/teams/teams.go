// Package teams posts Herald messages to Microsoft Teams channels through
// the two kinds of incoming webhook Teams has (platforms.md C1, C2): a
// Power Automate Workflows webhook, which takes an Adaptive Card in a
// {"type":"message","attachments":[…]} envelope and answers 202, and the
// legacy Office 365 connector, which takes a MessageCard and answers 200
// with the body "1" — or with its error text, often still with 200.
//
// The kind is chosen by the URL's host (SPEC §3): connector hosts get a
// MessageCard, every other Teams host a Workflows message. A host the
// operator allowed outside Teams' own (a relay, a test's fake) is judged
// by its path instead: a connector's path (/webhookb2/…/IncomingWebhook/…)
// gets a MessageCard.
package teams

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/netguard"
	"github.com/heraldhq/herald/platform"
)

// hosts are the hosts a Teams webhook URL may name (SPEC §3): Power
// Automate Workflows, and the Office 365 connector's.
var hosts = []string{"*.powerplatform.com", "*.logic.azure.com", "*.webhook.office.com", "*.office.com", "*.office365.com"}

// connectorHosts are the hosts of the legacy Office 365 connector, the only
// ones that get a MessageCard.
var connectorHosts = []string{"*.webhook.office.com", "outlook.office.com", "outlook.office365.com"}

// maxCode is how much of a connector's error text is kept as the platform
// code; maxMessage is how much of a Workflows error message is kept in
// Result.Error.
const (
	maxCode    = 100
	maxMessage = 200
)

// Platform sends messages to Teams webhooks. It is stateless and safe for
// concurrent use.
type Platform struct{}

var _ platform.Platform = (*Platform)(nil)

// New returns the Teams platform.
func New() *Platform { return &Platform{} }

// Type returns herald.Teams.
func (*Platform) Type() herald.WebhookType { return herald.Teams }

// Limits is four messages a second per webhook (SPEC §3), the connector's
// tightest window (platforms.md C2).
func (*Platform) Limits() []platform.Limit { return []platform.Limit{{N: 4, Per: time.Second}} }

// CheckURL accepts URLs on the Workflows and connector hosts (any
// subdomain of powerplatform.com, logic.azure.com, webhook.office.com,
// office.com and office365.com) with a non-empty path. The path is not
// checked further: Workflows URLs come in several shapes (…/powerautomate/
// automations/direct/[cu/NN/]workflows/…, …/workflows/…). Its errors name
// the host, never the path or query.
func (*Platform) CheckURL(u *url.URL) error {
	if err := netguard.CheckHost(herald.Teams, u, hosts...); err != nil {
		return err
	}
	if strings.Trim(u.Path, "/") == "" {
		return fmt.Errorf("a %s webhook URL needs the path of a Workflows trigger or connector, e.g. /powerautomate/automations/direct/workflows/…", herald.Teams)
	}
	return nil
}

// IsConnectorHost reports whether host is a legacy Office 365 connector
// host (*.webhook.office.com, outlook.office.com, outlook.office365.com),
// whose webhooks take a MessageCard; any other Teams host is a Workflows
// host.
func IsConnectorHost(host string) bool {
	for _, rule := range connectorHosts {
		if netguard.HostMatches(rule, host) {
			return true
		}
	}
	return false
}

// connectorPath matches the path of a connector webhook:
// /webhookb2/<group>@<tenant>/IncomingWebhook/<id>/<owner>, or the older
// /webhook/… form.
var connectorPath = regexp.MustCompile(`^/webhook(b2)?/[^/]+/IncomingWebhook/`)

// usesMessageCard reports whether the webhook at u takes a MessageCard: a
// connector host does; another Teams host does not. A host outside Teams'
// own, which the operator allowed (HERALD_ALLOWED_HOSTS: a relay, or a
// test's fake), is judged by its path, which keeps the connector's shape.
func usesMessageCard(u *url.URL) bool {
	host := u.Hostname()
	if IsConnectorHost(host) {
		return true
	}
	for _, rule := range hosts {
		if netguard.HostMatches(rule, host) {
			return false
		}
	}
	return connectorPath.MatchString(u.EscapedPath())
}

// Send renders the message for the kind of webhook its URL names, posts it
// and classifies the answer (see classifyWorkflows and classifyConnector).
// Errors never contain the webhook URL.
func (*Platform) Send(ctx context.Context, c *http.Client, req *platform.Request) platform.Result {
	u, err := url.Parse(req.Webhook.URL)
	if err != nil {
		return platform.Result{Outcome: herald.OutcomePermanent, Error: "the Teams webhook URL is not a valid URL"}
	}
	legacy := usesMessageCard(u)
	render, classify := RenderWorkflows, classifyWorkflows
	if legacy {
		render, classify = RenderMessageCard, classifyConnector
	}
	body, err := render(req.Message)
	if err != nil {
		return platform.Result{Outcome: herald.OutcomePermanent, Error: "rendering the Teams message: " + err.Error()}
	}
	return platform.Exchange(ctx, c, req.Webhook.URL, nil, body, classify)
}

// workflowsError is the error body of Power Automate and Logic Apps.
type workflowsError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// classifyWorkflows reads a Workflows webhook's answer (platforms.md C1).
// Any 2xx is SUCCESS; note that the usual 202 with an empty body means the
// flow run was queued, not that the card was posted: a run that fails
// (a card Teams refuses) is never reported back. 429 is RATE_LIMITED and
// 408 or 5xx RETRYABLE, with the Retry-After delay; every other status is
// PERMANENT — 400 TriggerInputSchemaMismatch (the body does not match the
// trigger's schema), 401 DirectApiAuthorizationRequired or a bad signature
// (the sig parameter is wrong), 404 WorkflowNotFound (the flow was
// deleted). The code of the {"error":{"code","message"}} body, when there
// is one, becomes the PlatformCode.
func classifyWorkflows(resp *platform.Response, requestBody []byte, now time.Time) platform.Result {
	r := platform.Answer(resp, requestBody, now)
	if r.Outcome == herald.OutcomeSuccess {
		return r
	}
	var e workflowsError
	_ = json.Unmarshal(resp.Body, &e) // a body that is not this JSON leaves the code empty
	r.PlatformCode = message.Truncate(strings.TrimSpace(strings.ToValidUTF8(e.Error.Code, "")), maxCode)
	r.Error = "Teams Workflows answered " + strconv.Itoa(resp.Status)
	if r.PlatformCode != "" {
		r.Error += " " + r.PlatformCode
	}
	if msg := strings.TrimSpace(strings.ToValidUTF8(e.Error.Message, "")); msg != "" {
		r.Error += ": " + message.Truncate(msg, maxMessage)
	}
	return r
}

// wrappedStatus finds the status of Teams itself that a connector reports
// in its body ("Webhook message delivery failed with error: Microsoft Teams
// endpoint returned HTTP error 429 with ContextId …"), usually with HTTP
// 200: connectors answer 200 for errors they consider worth retrying, so
// that their callers do not disable them (msteams-docs#1810, #9698).
var wrappedStatus = regexp.MustCompile(`Microsoft Teams endpoint returned HTTP error (\d{3})`)

// classifyConnector reads a legacy connector's answer (platforms.md C2). A
// 200 whose body is exactly "1" is SUCCESS. A body reporting Teams' own
// error is classified by that status, whatever the HTTP status: 429 is
// RATE_LIMITED (the connector's only rate-limit signal), 408 and 5xx
// RETRYABLE, others PERMANENT. Any other 2xx body is PERMANENT: the
// connector answers "1" for every message it delivers. Other statuses are
// classified by status (400 "Summary or Text is required.", 410 for a
// removed connector: PERMANENT; 5xx: RETRYABLE). The body, trimmed and cut
// to 100 characters, is the PlatformCode.
func classifyConnector(resp *platform.Response, requestBody []byte, now time.Time) platform.Result {
	r := platform.Answer(resp, requestBody, now)
	text := strings.TrimSpace(strings.ToValidUTF8(string(resp.Body), ""))
	r.PlatformCode = message.Truncate(text, maxCode)
	if resp.Status == http.StatusOK && string(resp.Body) == "1" {
		return r
	}
	if m := wrappedStatus.FindStringSubmatch(text); m != nil {
		inner, _ := strconv.Atoi(m[1])
		if r.Outcome = platform.ClassifyStatus(inner); r.Outcome == herald.OutcomeSuccess {
			r.Outcome = herald.OutcomePermanent // "error 2xx" is still a failure
		}
		r.RetryAfter = platform.RetryAfter(resp.Header, now)
	} else if r.Outcome == herald.OutcomeSuccess {
		r.Outcome = herald.OutcomePermanent
	}
	r.Error = strings.TrimSpace("Teams connector answered " + strconv.Itoa(resp.Status) + " " + r.PlatformCode)
	return r
}
