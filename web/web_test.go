package web_test

import (
	"crypto/sha256"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/netguard"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/platform/custom"
	"github.com/heraldhq/herald/platform/slack"
	"github.com/heraldhq/herald/secret"
	"github.com/heraldhq/herald/service"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/sqlite"
	"github.com/heraldhq/herald/web"
)

const token = "console-test-token"

// console is a console over a real SQLite store, and a browser-like client
// (cookie jar, no redirects followed automatically).
type console struct {
	t   *testing.T
	srv *httptest.Server
	hc  *http.Client
	svc *service.Service
	st  store.Store
}

func newConsole(t *testing.T) *console {
	key, _ := secret.GenerateKey()
	box, _ := secret.NewBox(key)
	b, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "herald.db"), sqlite.Options{Box: box})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	svc := &service.Service{Store: b, Platforms: platform.NewRegistry(slack.New(), custom.New()), Policy: &netguard.Policy{AllowPrivate: true},
		Client: &http.Client{Timeout: 5 * time.Second}}
	c, err := web.New(web.Options{Service: svc, Key: []byte("session key"), TokenHash: sha256.Sum256([]byte(token))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &console{t: t, srv: srv, hc: hc, svc: svc, st: b}
}

func (c *console) get(path string) (int, string, http.Header) {
	c.t.Helper()
	resp, err := c.hc.Get(c.srv.URL + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func (c *console) post(path string, form url.Values) (int, string, http.Header) {
	c.t.Helper()
	resp, err := c.hc.PostForm(c.srv.URL+path, form)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

var csrfPattern = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token from a page the session can see.
func (c *console) csrf() string {
	_, body, _ := c.get("/projects")
	m := csrfPattern.FindStringSubmatch(body)
	if m == nil {
		c.t.Fatalf("no CSRF token on the page:\n%s", body)
	}
	return m[1]
}

func (c *console) signIn() {
	c.t.Helper()
	status, _, h := c.post("/login", url.Values{"token": {token}, "next": {"/projects"}})
	if status != http.StatusSeeOther || h.Get("Location") != "/projects" {
		c.t.Fatalf("sign in: %d %s", status, h.Get("Location"))
	}
}

// form is values plus the CSRF token.
func (c *console) form(kv ...string) url.Values {
	v := url.Values{"csrf": {c.csrf()}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func TestSignIn(t *testing.T) {
	c := newConsole(t)
	// Without a session every page sends to the sign-in page.
	status, _, h := c.get("/projects")
	if status != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login?next=") {
		t.Fatalf("no session: %d %s", status, h.Get("Location"))
	}
	status, body, _ := c.post("/login", url.Values{"token": {"wrong"}})
	if status != http.StatusUnauthorized || !strings.Contains(body, "not the admin API token") || !strings.Contains(body, `aria-invalid="true"`) {
		t.Fatalf("wrong token: %d", status)
	}
	c.signIn()
	// The cookie is HttpOnly and SameSite=Strict.
	resp, _ := c.hc.PostForm(c.srv.URL+"/login", url.Values{"token": {token}})
	ck := resp.Header.Get("Set-Cookie")
	resp.Body.Close()
	if !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Strict") {
		t.Fatalf("session cookie %q", ck)
	}
	if status, body, _ := c.get("/projects"); status != 200 || !strings.Contains(body, "Create a project") {
		t.Fatalf("signed in: %d", status)
	}
	// An open redirect is refused.
	_, _, h = c.post("/login", url.Values{"token": {token}, "next": {"//evil.example/x"}})
	if h.Get("Location") != "/projects" {
		t.Fatalf("next=//evil.example went to %s", h.Get("Location"))
	}
	// Sign out ends the session.
	c.post("/logout", c.form())
	if status, _, _ := c.get("/projects"); status != http.StatusSeeOther {
		t.Fatalf("after sign-out: %d", status)
	}
}

func TestCSRF(t *testing.T) {
	c := newConsole(t)
	c.signIn()
	for _, form := range []url.Values{
		{"projectId": {"p"}, "title": {"P"}},
		{"projectId": {"p"}, "title": {"P"}, "csrf": {"forged"}},
	} {
		status, body, _ := c.post("/projects", form)
		if status != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Fatalf("a form without the session's token: %d %s", status, body)
		}
	}
	if _, err := c.svc.GetProject(t.Context(), "p"); herald.ErrorCode(err) != herald.CodeNotFound {
		t.Fatal("a forged form created a project")
	}
	// Another session's token does not work either.
	other := newConsole(t)
	other.signIn()
	if status, _, _ := c.post("/projects", url.Values{"projectId": {"p"}, "title": {"P"}, "csrf": {other.csrf()}}); status != http.StatusForbidden {
		t.Fatalf("another session's token: %d", status)
	}
}

func TestProjectsAndWebhooks(t *testing.T) {
	c := newConsole(t)
	c.signIn()
	// Bad input: the error is shown beside its field; nothing is created.
	status, body, _ := c.post("/projects", c.form("projectId", "Bad Id", "title", "Payments"))
	if status != http.StatusBadRequest || !strings.Contains(body, `id="projectId-error"`) || !strings.Contains(body, `value="Bad Id"`) {
		t.Fatalf("bad project id: %d\n%s", status, body)
	}
	status, _, h := c.post("/projects", c.form("projectId", "payments", "title", "Payments"))
	if status != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/projects/payments/webhooks") {
		t.Fatalf("create project: %d %s", status, h.Get("Location"))
	}
	// A webhook with a bad URL: the error beside the URL.
	status, body, _ = c.post("/projects/payments/webhooks", c.form("type", "SLACK", "title", "Alerts", "url", "https://example.com/services/x",
		"notificationTypes", "ISSUE_CREATED", "enabled", "on"))
	if status != http.StatusBadRequest || !strings.Contains(body, `id="url-error"`) || !strings.Contains(body, "is not accepted for SLACK") {
		t.Fatalf("bad URL: %d", status)
	}
	// No events: beside the events.
	status, body, _ = c.post("/projects/payments/webhooks", c.form("type", "CUSTOM", "title", "Sink", "url", "https://example.com/hook", "enabled", "on"))
	if status != http.StatusBadRequest || !strings.Contains(body, `id="events-error"`) {
		t.Fatalf("no events: %d", status)
	}
	// A CUSTOM webhook without a secret shows the generated one once.
	status, body, _ = c.post("/projects/payments/webhooks", c.form("type", "CUSTOM", "title", "Sink", "url", "https://example.com/hook/s3cr3t-t0ken",
		"notificationTypes", "PIPELINE_FAILED", "notificationTypes", "ISSUE_CREATED", "enabled", "on"))
	generated := regexp.MustCompile(`value="(whsec_[^"]{20,})"`).FindStringSubmatch(body)
	if status != 200 || generated == nil || !strings.Contains(body, "not shown again") {
		t.Fatalf("create CUSTOM: %d", status)
	}
	ws, _, err := c.st.ListWebhooks(t.Context(), "payments", store.Page{Size: 10})
	if err != nil || len(ws) != 1 {
		t.Fatalf("webhooks %v %v", ws, err)
	}
	id := ws[0].ID
	status, body, _ = c.get("/projects/payments/webhooks")
	if status != 200 || !strings.Contains(body, "Sink") || !strings.Contains(body, "https://example.com/hook/****") || strings.Contains(body, "s3cr3t-t0ken") {
		t.Fatalf("webhook list: %d", status)
	}
	// Edit: blank URL keeps it; the DM toggle is refused for CUSTOM beside its field.
	status, body, _ = c.post("/projects/payments/webhooks/"+id, c.form("title", "Sink 2", "notificationTypes", "ISSUE_CREATED", "directMessage", "on", "enabled", "on"))
	if status != http.StatusBadRequest || !strings.Contains(body, "cannot send direct messages") {
		t.Fatalf("DM on CUSTOM: %d", status)
	}
	status, _, _ = c.post("/projects/payments/webhooks/"+id, c.form("title", "Sink 2", "notificationTypes", "ISSUE_CREATED", "keyword", "deploy"))
	if status != http.StatusSeeOther {
		t.Fatalf("edit: %d", status)
	}
	w, err := c.st.GetWebhook(t.Context(), "payments", id)
	if err != nil || w.Title != "Sink 2" || w.URL != "https://example.com/hook/s3cr3t-t0ken" || w.Enabled || w.Keyword != "deploy" || w.SigningSecret != html.UnescapeString(generated[1]) {
		t.Fatalf("after edit %+v %v", w, err)
	}
	if status, body, _ := c.get("/projects/payments/webhooks/" + id); status != 200 || !strings.Contains(body, `value="Sink 2"`) || strings.Contains(body, generated[1]) {
		t.Fatalf("edit page: %d", status)
	}
	// Rename, then delete with confirmation.
	if status, _, _ := c.post("/projects/payments/rename", c.form("title", "Payments EU")); status != http.StatusSeeOther {
		t.Fatalf("rename: %d", status)
	}
	if status, body, _ := c.get("/projects/payments/webhooks/" + id + "/delete"); status != 200 || !strings.Contains(body, "Delete the webhook Sink 2?") {
		t.Fatalf("confirm page: %d", status)
	}
	if status, _, _ := c.post("/projects/payments/webhooks/"+id+"/delete", c.form()); status != http.StatusSeeOther {
		t.Fatalf("delete webhook: %d", status)
	}
	if status, body, _ := c.get("/projects/payments/delete"); status != 200 || !strings.Contains(body, "Payments EU") {
		t.Fatalf("confirm project delete: %d", status)
	}
	if status, _, _ := c.post("/projects/payments/delete", c.form()); status != http.StatusSeeOther {
		t.Fatalf("delete project: %d", status)
	}
	if status, _, _ := c.get("/projects/payments/webhooks"); status != http.StatusNotFound {
		t.Fatalf("a deleted project: %d", status)
	}
}

func TestDeliveriesHealthAndRetry(t *testing.T) {
	c := newConsole(t)
	c.signIn()
	ctx := t.Context()
	if _, err := c.svc.CreateProject(ctx, service.ProjectCreate{ProjectID: "p", Title: "P"}); err != nil {
		t.Fatal(err)
	}
	hook, err := c.svc.CreateWebhook(ctx, "p", service.WebhookCreate{Type: herald.Custom, Title: "Sink", URL: "https://example.com/h", NotificationTypes: herald.EventTypes})
	if err != nil {
		t.Fatal(err)
	}
	ev, _, err := c.svc.Publish(ctx, "p", &herald.Event{Type: herald.IssueCreated, Issue: &herald.Issue{ID: "1", Title: "Add index"}})
	if err != nil {
		t.Fatal(err)
	}
	d := ev.Deliveries[0]
	now := time.Now()
	if err := c.st.Record(ctx, &store.Record{DeliveryID: d.ID, State: herald.StateFailed, Route: herald.RouteChannel, LastError: "HTTP 400", Now: now,
		Attempt: &herald.Attempt{Target: "https://example.com/****", StartTime: now, Outcome: herald.OutcomePermanent, HTTPStatus: 400,
			RequestBody: `{"type":"ISSUE_CREATED"}`, ResponseBody: "<bad request>"}, CountsTowardSchedule: true}); err != nil {
		t.Fatal(err)
	}
	status, body, _ := c.get("/projects/p/deliveries?state=FAILED")
	if status != 200 || !strings.Contains(body, "FAILED") || !strings.Contains(body, "Sink") {
		t.Fatalf("log: %d", status)
	}
	if _, body, _ := c.get("/projects/p/deliveries?state=SUCCEEDED"); !strings.Contains(body, "No deliveries match the filter") {
		t.Fatal("the state filter does not filter")
	}
	if _, body, _ := c.get("/projects/p/deliveries?webhook=" + hook.ID); !strings.Contains(body, "HTTP 400") {
		t.Fatal("the webhook filter lost the delivery")
	}
	status, body, _ = c.get("/projects/p/deliveries/" + d.ID)
	if status != 200 || !strings.Contains(body, "#1") || !strings.Contains(body, "&lt;bad request&gt;") || !strings.Contains(body, ">Retry<") {
		t.Fatalf("detail: %d\n%s", status, body)
	}
	status, body, _ = c.get("/projects/p/health")
	if status != 200 || !strings.Contains(body, "Sink") || !strings.Contains(body, `<svg class="chart"`) ||
		!strings.Contains(body, "0 succeeded and 1 failed in the last 24 hours") || !strings.Contains(body, `class="bad"`) {
		t.Fatalf("health: %d\n%s", status, body)
	}
	if status, _, _ := c.post("/projects/p/deliveries/"+d.ID+"/retry", c.form()); status != http.StatusSeeOther {
		t.Fatalf("retry: %d", status)
	}
	got, _ := c.st.GetDelivery(ctx, "p", d.ID)
	if got.State != herald.StatePending || got.Generation != 1 {
		t.Fatalf("after retry %+v", got)
	}
	// A live delivery cannot be retried: an error page, not a crash.
	if status, _, _ := c.post("/projects/p/deliveries/"+d.ID+"/retry", c.form()); status != http.StatusConflict {
		t.Fatalf("retry of a live delivery: %d", status)
	}
	if _, body, _ := c.get("/projects/p/health"); !strings.Contains(body, "1 in progress") {
		t.Fatal("health does not count the retried delivery as in progress")
	}
}

func TestTestButtonAndIM(t *testing.T) {
	c := newConsole(t)
	c.signIn()
	ctx := t.Context()
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	defer receiver.Close()
	if _, err := c.svc.CreateProject(ctx, service.ProjectCreate{ProjectID: "p", Title: "P"}); err != nil {
		t.Fatal(err)
	}
	hook, err := c.svc.CreateWebhook(ctx, "p", service.WebhookCreate{Type: herald.Custom, Title: "Teapot", URL: receiver.URL + "/h", NotificationTypes: herald.EventTypes})
	if err != nil {
		t.Fatal(err)
	}
	status, body, _ := c.post("/projects/p/webhooks/"+hook.ID+"/test", c.form())
	if status != 200 || !strings.Contains(body, "Test message: refused") || !strings.Contains(body, "HTTP 418") {
		t.Fatalf("test button: %d", status)
	}
	// IM: save keeps absent secrets, shows ids, never secrets.
	if status, _, _ := c.post("/settings/im/teams", c.form("tenantId", "tenant-1", "clientId", "client-1", "clientSecret", "s3cret-value")); status != http.StatusSeeOther {
		t.Fatalf("save teams: %d", status)
	}
	if status, _, _ := c.post("/settings/im/teams", c.form("tenantId", "tenant-2", "clientId", "client-1", "clientSecret", "")); status != http.StatusSeeOther {
		t.Fatalf("save teams again: %d", status)
	}
	st, err := c.st.GetIMSettings(ctx, herald.IMTeams)
	if err != nil || st.TenantID != "tenant-2" || st.ClientSecret != "s3cret-value" {
		t.Fatalf("teams settings %+v %v", st, err)
	}
	status, body, _ = c.get("/settings/im")
	if status != 200 || !strings.Contains(body, `value="tenant-2"`) || strings.Contains(body, "s3cret-value") || !strings.Contains(body, "configured") {
		t.Fatalf("IM page: %d", status)
	}
	status, body, _ = c.post("/settings/im/slack", c.form("token", "xoxp-user"))
	if status != http.StatusBadRequest || !strings.Contains(body, "bot token") {
		t.Fatalf("a user token: %d", status)
	}
	status, body, _ = c.post("/settings/im/wecom", c.form("corpId", "ww1", "agentId", "x", "secret", "s"))
	if status != http.StatusBadRequest || !strings.Contains(body, "positive integer") {
		t.Fatalf("a bad agent id: %d", status)
	}
	status, body, _ = c.post("/settings/im/slack/validate", c.form())
	if status != 200 || !strings.Contains(body, "not configured") {
		t.Fatalf("validate: %d", status)
	}
	if status, _, _ := c.post("/settings/im/teams/delete", c.form()); status != http.StatusSeeOther {
		t.Fatalf("remove: %d", status)
	}
	if _, err := c.st.GetIMSettings(ctx, herald.IMTeams); herald.ErrorCode(err) != herald.CodeNotFound {
		t.Fatal("the integration was not removed")
	}
	if status, _, _ := c.post("/settings/im/myspace", c.form()); status != http.StatusNotFound {
		t.Fatalf("unknown platform: %d", status)
	}
}

// Every page carries the security headers and labels every input.
func TestPagesAreLabelled(t *testing.T) {
	c := newConsole(t)
	c.signIn()
	ctx := t.Context()
	_, _ = c.svc.CreateProject(ctx, service.ProjectCreate{ProjectID: "p", Title: "P"})
	hook, _ := c.svc.CreateWebhook(ctx, "p", service.WebhookCreate{Type: herald.Slack, Title: "S", URL: "https://hooks.slack.com/services/T/B/X", NotificationTypes: herald.EventTypes})
	idPattern := regexp.MustCompile(`<(?:input|select)[^>]*\sid="([^"]+)"`)
	for _, path := range []string{"/projects", "/projects/p/webhooks", "/projects/p/webhooks/new", "/projects/p/webhooks/" + hook.ID,
		"/projects/p/deliveries", "/projects/p/health", "/settings/im"} {
		status, body, h := c.get(path)
		if status != 200 {
			t.Fatalf("%s: %d", path, status)
		}
		if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: security headers %v", path, h)
		}
		for _, m := range idPattern.FindAllStringSubmatch(body, -1) {
			if !strings.Contains(body, `for="`+m[1]+`"`) {
				t.Errorf("%s: the control #%s has no label", path, m[1])
			}
		}
	}
}
