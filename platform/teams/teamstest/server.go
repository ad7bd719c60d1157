// Package teamstest is a fake of Microsoft Teams' incoming webhooks for
// tests. It listens on a real loopback port and serves both kinds of hook
// it issues (platforms.md C1, C2):
//
//   - Workflows hooks, like Power Automate's "Post to a channel when a
//     webhook request is received": they check the POST method and the sig
//     query parameter, want JSON, and answer 202 with an empty body to
//     every message they can read. Whether the message is posted is
//     decided by the run, which the caller never hears about: a message
//     CheckWorkflows refuses is recorded as a failed run (FailedRuns), not
//     as accepted.
//   - Legacy Office 365 connector hooks: they answer 200 "1" for a message
//     CheckMessageCard accepts, 400 with the connector's text for one it
//     cannot read, and report Teams' own errors — a message over 28 KB,
//     and their rate limit — with HTTP 200 and an error text.
//
// It records everything it is sent, and failures can be injected. It is
// independent of package teams, so that it checks Herald's payloads
// against Teams' rules rather than Herald's own.
package teamstest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/platform/platformtest"
)

// Request is one request the fake received; Refusal says why a message
// was refused or its run failed.
type Request = platformtest.Request

// Server is a fake of Teams' incoming webhooks. All its methods are safe
// for concurrent use. Its Recorder logs every request (Requests) and keeps
// the messages each hook accepted (Accepted): for a Workflows hook, the
// messages whose run posted them.
type Server struct {
	*httptest.Server
	platformtest.Recorder

	mu         sync.Mutex
	workflows  map[string]string     // sig by path
	connectors map[string]*connector // by path
	failedRuns map[string][]string   // by path
	injected   []injection
	lastLegacy bool // the kind of hook NewHook issued last
	perSecond  int
	per30s     int
}

type connector struct {
	recent []time.Time // accepted in the last 30 seconds, for the rate limit
}

// injection is an answer queued by FailNext, RateLimitNext or RejectNext:
// reply gives it for the kind of hook the request went to.
type injection struct {
	left  int
	reply func(legacy bool) platformtest.Reply
}

// Rate limits of a connector hook (platforms.md C2); the longer windows
// (100 an hour, …) are not enforced.
const (
	ConnectorPerSecond = 4
	ConnectorPer30s    = 60
)

// NewServer starts a fake Teams, closed when the test ends. Its connector
// hooks enforce ConnectorPerSecond and ConnectorPer30s.
func NewServer(t testing.TB) *Server {
	s := &Server{
		workflows: map[string]string{}, connectors: map[string]*connector{}, failedRuns: map[string][]string{},
		perSecond: ConnectorPerSecond, per30s: ConnectorPer30s,
	}
	s.Server = s.Serve(t, s.answer)
	return s
}

// Shapes of the hook URLs, as Teams issues them.
const (
	workflowsPrefix = "/powerautomate/automations/direct/workflows/"
	connectorPrefix = "/webhookb2/"
	hexChars        = "0123456789abcdef"
	sigChars        = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
)

// NewHook registers a new hook and returns its URL. By default it is a
// Workflows hook, s.URL + "/powerautomate/automations/direct/workflows/
// <id>/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual
// %2Frun&sv=1.0&sig=<signature>"; with o.Legacy it is a connector hook,
// s.URL + "/webhookb2/<group>@<tenant>/IncomingWebhook/<id>/<owner>".
// Teams webhooks have no other security settings: the rest of o is
// ignored.
func (s *Server) NewHook(o platformtest.HookOptions) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastLegacy = o.Legacy
	if o.Legacy {
		path := connectorPrefix + uuid.NewString() + "@" + uuid.NewString() + "/IncomingWebhook/" +
			platformtest.RandomString(32, hexChars) + "/" + uuid.NewString()
		s.connectors[path] = &connector{}
		return s.URL + path
	}
	path := workflowsPrefix + platformtest.RandomString(32, hexChars) + "/triggers/manual/paths/invoke"
	sig := platformtest.RandomString(43, sigChars)
	s.workflows[path] = sig
	return s.URL + path + "?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=" + sig
}

// FailedRuns returns why each failed run of the Workflows hook at hookURL
// (a URL NewHook returned, or its path) failed, in order.
func (s *Server) FailedRuns(hookURL string) []string {
	path := hookURL
	if u, err := url.Parse(hookURL); err == nil {
		path = u.Path
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.failedRuns[path]...)
}

// SetConnectorLimits sets the rate limits of connector hooks: at most
// perSecond accepted messages in any second and per30s in any 30 seconds;
// zero or less lifts a limit. A message over a limit is answered with HTTP
// 200 and TeamsError(429), as connectors do.
func (s *Server) SetConnectorLimits(perSecond, per30s int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.perSecond, s.per30s = perSecond, per30s
}

// FailNext makes the next n requests to a registered hook get status,
// body and header instead of being checked, whatever their kind (e.g. 502,
// or 200 with TeamsError(500)). It shares one queue with RateLimitNext and
// RejectNext; n of zero or less does nothing.
func (s *Server) FailNext(n int, status int, body string, header http.Header) {
	reply := platformtest.Reply{Status: status, Body: body, Header: header.Clone()}
	s.inject(n, func(bool) platformtest.Reply { return reply })
}

// RateLimitNext answers the next n requests to a registered hook as Teams
// does over its limit: a Workflows hook with 429, Retry-After: 1 and a
// JSON error (its code is UNVERIFIED: platforms.md H); a connector hook
// with HTTP 200 and TeamsError(429).
func (s *Server) RateLimitNext(n int) {
	s.inject(n, func(legacy bool) platformtest.Reply {
		if legacy {
			return platformtest.Reply{Status: http.StatusOK, Body: TeamsError(http.StatusTooManyRequests)}
		}
		return workflowsError(http.StatusTooManyRequests, "TooManyRequests", "The flow's trigger is throttled. Retry the request later.",
			http.Header{"Retry-After": {"1"}})
	})
}

// RejectNext answers the next n requests to a registered hook as Teams
// does a wrong one: a Workflows hook with 404 WorkflowNotFound (the flow
// was deleted), a connector hook with 400 BadPayload. It returns the
// platform code Herald should record for a request to a hook of the kind
// NewHook issued last: "WorkflowNotFound" or the connector's text.
func (s *Server) RejectNext(n int) string {
	s.inject(n, func(legacy bool) platformtest.Reply {
		if legacy {
			return platformtest.Reply{Status: http.StatusBadRequest, Body: BadPayload}
		}
		return workflowsError(http.StatusNotFound, "WorkflowNotFound", "The workflow 'manual' could not be found.", nil)
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastLegacy {
		return BadPayload
	}
	return "WorkflowNotFound"
}

func (s *Server) inject(n int, reply func(legacy bool) platformtest.Reply) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.injected = append(s.injected, injection{left: n, reply: reply})
}

// nextInjected uses up one injected answer for a hook of the given kind;
// s.mu is held.
func (s *Server) nextInjected(legacy bool) (platformtest.Reply, bool) {
	if len(s.injected) == 0 {
		return platformtest.Reply{}, false
	}
	in := &s.injected[0]
	in.left--
	reply := in.reply(legacy)
	if in.left == 0 {
		s.injected = s.injected[1:]
	}
	return reply, true
}

// answer routes one request to the kind of hook it names.
func (s *Server) answer(r *http.Request, body []byte, readErr error) platformtest.Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	path := r.URL.Path
	if sig, ok := s.workflows[path]; ok {
		return s.answerWorkflow(r, sig, body, readErr)
	}
	if c, ok := s.connectors[path]; ok {
		return s.answerConnector(r, c, body, readErr)
	}
	if strings.HasPrefix(path, connectorPrefix) {
		return platformtest.Reply{Status: http.StatusGone} // a removed connector (msteams-docs#906)
	}
	return workflowsError(http.StatusNotFound, "WorkflowNotFound", "The workflow could not be found.", nil)
}

// answerWorkflow answers as Power Automate does: the method and the
// signature are checked first, then the body must be a JSON object; then
// 202, and the run decides (CheckWorkflows) whether the card is posted.
// Over MaxMessageBytes the fake answers 413 RequestEntityTooLarge at once,
// where the real flow would accept the request and fail its run: the fake
// makes an oversized message fail loudly.
func (s *Server) answerWorkflow(r *http.Request, sig string, body []byte, readErr error) platformtest.Reply {
	if r.Method != http.MethodPost {
		return workflowsError(http.StatusBadRequest, "TriggerRequestMethodNotValid",
			"The HTTP method for this request is not valid: expected 'Post' and actual '"+r.Method+"'.", nil)
	}
	if reply, ok := s.nextInjected(false); ok {
		return reply
	}
	switch got := r.URL.Query().Get("sig"); {
	case got == "":
		return workflowsError(http.StatusUnauthorized, "DirectApiAuthorizationRequired", "The request must be authenticated only by Shared Access scheme.", nil)
	case got != sig:
		return workflowsError(http.StatusUnauthorized, "DirectApiInvalidAuthorizationSignature", "The provided authorization signature is not valid.", nil)
	}
	if readErr != nil || len(body) > MaxMessageBytes {
		return workflowsError(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "The message is larger than Teams' 28 KB limit.", nil)
	}
	if !platformtest.IsJSON(r) {
		return workflowsError(http.StatusBadRequest, "TriggerInputSchemaMismatch",
			"The input body for trigger 'manual' of type 'Request' did not match its schema definition. Error details: 'Invalid type. Expected Object but got String.'.", nil)
	}
	var object map[string]json.RawMessage
	if err := json.Unmarshal(body, &object); err != nil {
		return workflowsError(http.StatusBadRequest, "InvalidRequestContent", "The request content is not valid and could not be deserialized: "+err.Error(), nil)
	}
	// 202 means the run was queued. What the run does is never reported to
	// the caller, so it is judged here and only recorded.
	reply := platformtest.Reply{Status: http.StatusAccepted, Accepted: true}
	if err := CheckWorkflows(body); err != nil {
		s.failedRuns[r.URL.Path] = append(s.failedRuns[r.URL.Path], err.Error())
		reply.Accepted, reply.Refusal = false, "run failed: "+err.Error()
	}
	return reply
}

// answerConnector answers as a legacy connector does.
func (s *Server) answerConnector(r *http.Request, c *connector, body []byte, readErr error) platformtest.Reply {
	if r.Method != http.MethodPost {
		return platformtest.Reply{Status: http.StatusMethodNotAllowed, Body: "The requested resource does not support http method '" + r.Method + "'."}
	}
	if reply, ok := s.nextInjected(true); ok {
		return reply
	}
	if readErr != nil {
		return platformtest.Reply{Status: http.StatusOK, Body: TeamsError(http.StatusRequestEntityTooLarge), Refusal: "reading the body: " + readErr.Error()}
	}
	if !platformtest.IsJSON(r) {
		return platformtest.Reply{Status: http.StatusBadRequest, Body: BadPayload, Refusal: "Content-Type is not application/json"}
	}
	if refusal := CheckMessageCard(body); refusal != nil {
		return platformtest.Reply{Status: refusal.Status, Body: refusal.Body, Refusal: refusal.Reason}
	}
	now := time.Now()
	c.recent = platformtest.TrimWindow(c.recent, now, 30*time.Second)
	if s.perSecond > 0 && len(platformtest.TrimWindow(c.recent, now, time.Second)) >= s.perSecond ||
		s.per30s > 0 && len(c.recent) >= s.per30s {
		return platformtest.Reply{Status: http.StatusOK, Body: TeamsError(http.StatusTooManyRequests), Refusal: "over the connector's rate limit"}
	}
	c.recent = append(c.recent, now)
	return platformtest.Reply{Status: http.StatusOK, Body: Delivered, Accepted: true}
}

// workflowsError is an error answer of Power Automate:
// {"error":{"code":…,"message":…}} as JSON.
func workflowsError(status int, code, message string, header http.Header) platformtest.Reply {
	body, _ := json.Marshal(map[string]map[string]string{"error": {"code": code, "message": message}})
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	for k, vs := range header {
		h[k] = vs
	}
	return platformtest.Reply{Status: status, Body: string(body), Header: h, Refusal: code}
}

var _ platformtest.Fake = (*Server)(nil)
