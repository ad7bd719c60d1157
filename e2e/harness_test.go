// Package e2e tests Herald end to end: a real server on a real listener,
// over SQLite and over PostgreSQL, delivering to fake platforms that enforce
// the platforms' contracts (platforms.md).
package e2e

import (
	"context"
	"encoding/base64"
	"errors"
	"github.com/heraldhq/herald/platform/platformtest"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/deliver"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/platform/custom/customtest"
	"github.com/heraldhq/herald/platform/slack/slacktest"
	"github.com/heraldhq/herald/secret"
	"github.com/heraldhq/herald/server"
	"github.com/heraldhq/herald/service"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Shutdown()
	os.Exit(code)
}

const token = "test-admin-token"

// env is one running Herald with its fakes.
type env struct {
	t        *testing.T
	cfg      server.Config
	srv      *server.Server
	url      string
	c        *client.Client
	slack    *slacktest.Server
	custom   *customtest.Server
	database string
}

// backends are the databases every end-to-end test runs on.
var backends = []string{"sqlite", "postgres"}

// eachBackend runs f once per database, in parallel subtests.
func eachBackend(t *testing.T, f func(t *testing.T, backend string)) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			f(t, b)
		})
	}
}

// newDatabase returns a fresh database of the backend.
func newDatabase(t *testing.T, backend string) string {
	if backend == "postgres" {
		return pgtest.NewDatabase(t)
	}
	return filepath.Join(t.TempDir(), "herald.db")
}

func testKey(t testing.TB) string {
	key, err := secret.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(key)
}

// start runs Herald on backend with fakes for SLACK and CUSTOM; edit may
// change the configuration first.
func start(t *testing.T, backend string, edit ...func(*server.Config)) *env {
	t.Helper()
	e := &env{t: t, slack: slacktest.NewServer(t), custom: customtest.NewServer(t)}
	e.database = newDatabase(t, backend)
	slackURL, _ := url.Parse(e.slack.NewHook(platformtest.HookOptions{}))
	schedule, _ := deliver.ParseSchedule("200ms,200ms,200ms")
	e.cfg = server.Config{
		Database:      e.database,
		AdminToken:    token,
		SecretKey:     testKey(t),
		RetrySchedule: schedule,
		HTTPTimeout:   3 * time.Second,
		Workers:       8,
		JobTimeout:    10 * time.Second,
	}
	e.cfg.Network.AllowPrivate = true
	e.cfg.Network.AllowedHosts = []string{slackURL.Host}
	for _, f := range edit {
		f(&e.cfg)
	}
	e.run()
	return e
}

// run opens and serves Herald with e.cfg until the test ends.
func (e *env) run() {
	t := e.t
	srv, err := server.Open(t.Context(), e.cfg, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
		_ = srv.Close()
	})
	e.srv = srv
	e.url = "http://" + ln.Addr().String()
	e.c = client.New(e.url, token)
}

func (e *env) project(id string) {
	e.t.Helper()
	if _, err := e.c.CreateProject(e.t.Context(), id, "Project "+id); err != nil {
		e.t.Fatal(err)
	}
}

// slackHook creates a SLACK webhook on a new fake hook.
func (e *env) slackHook(project string, types ...herald.EventType) (*service.CreatedWebhook, string) {
	e.t.Helper()
	hook := e.slack.NewHook(platformtest.HookOptions{})
	w, err := e.c.CreateWebhook(e.t.Context(), project, service.WebhookCreate{
		Type: herald.Slack, Title: "Slack", URL: hook, NotificationTypes: orAll(types),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return w, hook
}

// customHook creates a CUSTOM webhook whose secret Herald generates; the
// fake endpoint verifies signatures with the secret the create answer
// returned.
func (e *env) customHook(project string, types ...herald.EventType) (*service.CreatedWebhook, string) {
	e.t.Helper()
	endpoint := e.custom.NewEndpoint("whsec_" + base64.StdEncoding.EncodeToString([]byte("not the secret Herald will use")))
	w, err := e.c.CreateWebhook(e.t.Context(), project, service.WebhookCreate{
		Type: herald.Custom, Title: "Custom", URL: endpoint, NotificationTypes: orAll(types),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if w.SigningSecret == "" {
		e.t.Fatal("a CUSTOM webhook created without a secret must return the generated one")
	}
	e.custom.SetSecret(endpoint, w.SigningSecret)
	return w, endpoint
}

func orAll(types []herald.EventType) []herald.EventType {
	if len(types) == 0 {
		return herald.EventTypes
	}
	return types
}

// eventOf returns a valid event of type t.
func eventOf(t herald.EventType) *herald.Event {
	e := &herald.Event{
		Type:        t,
		Actor:       &herald.User{Name: "Alice Chen", Email: "alice@example.com"},
		Environment: "prod",
	}
	if t.IsIssue() {
		e.Issue = &herald.Issue{ID: "42", Title: "Add index on orders", URL: "https://console.example.com/issues/42"}
	}
	if t.IsPipeline() {
		e.Rollout = &herald.Rollout{ID: "7", Title: "Release 1.4", URL: "https://console.example.com/rollouts/7", Stage: "deploy"}
		if t == herald.PipelineFailed {
			e.Rollout.FailedTasks = []herald.FailedTask{{Name: "migrate", Database: "orders", Error: "lock timeout"}}
		}
	}
	if t == herald.IssueSentBack {
		e.Comment = "please add a rollback plan"
	}
	return e
}

func (e *env) publish(project string, ev *herald.Event) *herald.Event {
	e.t.Helper()
	stored, created, err := e.c.Publish(e.t.Context(), project, ev)
	if err != nil {
		e.t.Fatal(err)
	}
	if !created {
		e.t.Fatal("publish answered 200, want 202")
	}
	return stored
}

// waitDelivery polls a delivery until done says so.
func (e *env) waitDelivery(project, name string, timeout time.Duration, done func(*herald.Delivery) bool) *herald.Delivery {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		d, err := e.c.GetDelivery(e.t.Context(), project, client.ID(name))
		if err != nil {
			e.t.Fatal(err)
		}
		if done(d) {
			return d
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("delivery %s to %s: still %s after %s (attempts %d, last error %q)", name, d.Webhook, d.State, timeout, d.AttemptCount, d.LastError)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func inState(s herald.DeliveryState) func(*herald.Delivery) bool {
	return func(d *herald.Delivery) bool { return d.State == s }
}

func final(d *herald.Delivery) bool { return d.State.Final() }

func asAPIError(err error, target **client.Error) bool { return errors.As(err, target) }
