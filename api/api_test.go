package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/api"
	"github.com/heraldhq/herald/metrics"
	"github.com/heraldhq/herald/netguard"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/platform/custom"
	"github.com/heraldhq/herald/platform/slack"
	"github.com/heraldhq/herald/secret"
	"github.com/heraldhq/herald/service"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/sqlite"
)

const token = "api-test-token"

func sha(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func newAPI(t *testing.T, wrap func(store.Store) store.Store) (*httptest.Server, *metrics.Metrics) {
	t.Helper()
	key, _ := secret.GenerateKey()
	box, _ := secret.NewBox(key)
	b, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "herald.db"), sqlite.Options{Box: box})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	var st store.Store = b
	if wrap != nil {
		st = wrap(st)
	}
	m := metrics.New(st.LiveDeliveries)
	svc := &service.Service{Store: st, Platforms: platform.NewRegistry(slack.New(), custom.New()), Policy: &netguard.Policy{}, Metrics: m}
	srv := httptest.NewServer(api.New(api.Options{Service: svc, Metrics: m, TokenHash: sha(token), Version: "test"}))
	t.Cleanup(srv.Close)
	return srv, m
}

func get(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The document served is the one generated from the handlers, and it
// describes every operation of SPEC §8.
func TestOpenAPIDocument(t *testing.T) {
	srv, _ := newAPI(t, nil)
	status, body := get(t, srv.URL+"/v1/openapi.json", token)
	if status != 200 {
		t.Fatalf("GET /v1/openapi.json: %d %s", status, body)
	}
	want, err := json.Marshal(api.Document("test"))
	if err != nil {
		t.Fatal(err)
	}
	var served, generated any
	if err := json.Unmarshal([]byte(body), &served); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(want, &generated)
	sb, _ := json.Marshal(served)
	gb, _ := json.Marshal(generated)
	if string(sb) != string(gb) {
		t.Fatal("the served document differs from the one generated from the handlers")
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	for path, methods := range map[string][]string{
		"/v1/projects":                                       {"get", "post"},
		"/v1/projects/{project}":                             {"get", "patch", "delete"},
		"/v1/projects/{project}/webhooks":                    {"get", "post"},
		"/v1/projects/{project}/webhooks/{webhook}":          {"get", "patch", "delete"},
		"/v1/projects/{project}/webhooks/{webhook}:test":     {"post"},
		"/v1/projects/{project}/events":                      {"post"},
		"/v1/projects/{project}/events/{event}":              {"get"},
		"/v1/projects/{project}/deliveries":                  {"get"},
		"/v1/projects/{project}/deliveries/{delivery}":       {"get"},
		"/v1/projects/{project}/deliveries/{delivery}:retry": {"post"},
	} {
		for _, m := range methods {
			if _, ok := doc.Paths[path][m]; !ok {
				t.Errorf("the document lacks %s %s", strings.ToUpper(m), path)
			}
		}
	}
	// Write-only fields are marked, and enums are listed.
	if !strings.Contains(body, `"writeOnly":true`) || !strings.Contains(body, `"GOOGLE_CHAT"`) || !strings.Contains(body, `"PIPELINE_COMPLETED"`) {
		t.Error("the document lacks writeOnly markers or enum values")
	}
}

func TestAuthentication(t *testing.T) {
	srv, _ := newAPI(t, nil)
	for _, auth := range []string{"", "wrong"} {
		status, body := get(t, srv.URL+"/v1/projects", auth)
		if status != 401 || !strings.Contains(body, `"status":"UNAUTHENTICATED"`) || !strings.Contains(body, `"code":401`) {
			t.Errorf("token %q: %d %s", auth, status, body)
		}
	}
	if status, _ := get(t, srv.URL+"/v1/openapi.json", ""); status != 401 {
		t.Errorf("the OpenAPI document without a token: %d, want 401", status)
	}
	if status, _ := get(t, srv.URL+"/v1/projects", token); status != 200 {
		t.Errorf("with the token: %d", status)
	}
}

func TestUnknownPath(t *testing.T) {
	srv, _ := newAPI(t, nil)
	status, body := get(t, srv.URL+"/v1/nothing-here", token)
	if status != 404 || !strings.Contains(body, `"status":"NOT_FOUND"`) {
		t.Fatalf("%d %s", status, body)
	}
}

// failingStore answers nothing.
type failingStore struct{ store.Store }

func (failingStore) Ping(context.Context) error { return errors.New("database is down") }

func (failingStore) LiveDeliveries(context.Context) (int64, error) {
	return 0, errors.New("database is down")
}

func TestHealthz(t *testing.T) {
	srv, _ := newAPI(t, nil)
	if status, body := get(t, srv.URL+"/healthz", ""); status != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("healthy: %d %s", status, body)
	}
	down, _ := newAPI(t, func(s store.Store) store.Store { return failingStore{s} })
	status, body := get(t, down.URL+"/healthz", "")
	if status != 503 || strings.Contains(body, "database is down") {
		t.Fatalf("unhealthy: %d %s (the store's error must not leak)", status, body)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	srv, m := newAPI(t, nil)
	m.EventsReceived.WithLabelValues("ISSUE_CREATED").Inc()
	m.DeliveryLatency.WithLabelValues("CUSTOM").Observe(0.01)
	status, body := get(t, srv.URL+"/metrics", "")
	if status != 200 {
		t.Fatalf("%d", status)
	}
	for _, name := range []string{`herald_events_received_total{type="ISSUE_CREATED"} 1`, "herald_queue_depth 0", "go_goroutines"} {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics lacks %q", name)
		}
	}
	lines := strings.Split(body, "\n")
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "# TYPE herald_delivery_latency_seconds histogram") }) {
		t.Error("/metrics lacks the delivery latency histogram")
	}
}

// An internal error is logged, not shown: the client sees "internal error".
func TestInternalErrorsAreOpaque(t *testing.T) {
	srv, _ := newAPI(t, func(s store.Store) store.Store { return brokenProjects{s} })
	status, body := get(t, srv.URL+"/v1/projects", token)
	if status != 500 || !strings.Contains(body, `"status":"INTERNAL"`) || strings.Contains(body, "disk on fire") {
		t.Fatalf("%d %s", status, body)
	}
}

type brokenProjects struct{ store.Store }

func (brokenProjects) ListProjects(context.Context, store.Page) ([]*herald.Project, string, error) {
	return nil, "", errors.New("disk on fire")
}
