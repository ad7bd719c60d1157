// Package api is Herald's HTTP API (SPEC §8). Handlers are declared with
// Huma (github.com/danielgtaylor/huma/v2), which validates requests against
// the same Go types it generates the OpenAPI document from, so the document
// served at /v1/openapi.json cannot drift from the handlers.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humachi"
	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/metrics"
	"github.com/heraldhq/herald/service"
	"github.com/heraldhq/herald/store"
)

func init() {
	// Huma builds its errors through this hook; Herald's have one shape.
	huma.NewError = humaError
}

// MaxBody is the largest request body accepted; larger ones get 413.
const MaxBody = 1 << 20

// Options configure the API.
type Options struct {
	Service *service.Service
	Metrics *metrics.Metrics
	// TokenHash is the SHA-256 of the admin API token.
	TokenHash [32]byte
	Logger    *slog.Logger
	Version   string
}

// server holds what the handlers need.
type server struct {
	svc    *service.Service
	logger *slog.Logger
}

// New returns the HTTP handler of the whole API: /healthz and /metrics
// without authentication, and /v1 behind the bearer token.
func New(opts Options) http.Handler {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &server{svc: opts.Service, logger: logger}
	r := chi.NewRouter()
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such path: "+r.URL.Path)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path)
	})
	r.Get("/healthz", s.healthz)
	if opts.Metrics != nil {
		r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(opts.Metrics.Registry, promhttp.HandlerOpts{}))
	}
	r.Group(func(r chi.Router) {
		r.Use(bearer(opts.TokenHash))
		api := humachi.New(r, config(opts.Version))
		register(api, s)
	})
	return r
}

// Document returns the OpenAPI document of the API, as served at
// /v1/openapi.json.
func Document(version string) *huma.OpenAPI {
	api := humachi.New(chi.NewRouter(), config(version))
	register(api, &server{})
	return api.OpenAPI()
}

func config(version string) huma.Config {
	cfg := huma.DefaultConfig("Herald API", version)
	cfg.Info.Description = "Herald delivers project events to chat webhooks and direct messages. Every /v1 call needs `Authorization: Bearer <token>`."
	cfg.OpenAPIPath = "/v1/openapi"
	cfg.DocsPath = ""
	cfg.SchemasPath = ""
	cfg.CreateHooks = nil // no $schema links in bodies
	cfg.Formats = map[string]huma.Format{"application/json": huma.DefaultJSONFormat, "json": huma.DefaultJSONFormat}
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", Description: "The admin API token"},
	}
	cfg.Security = []map[string][]string{{"bearer": {}}}
	return cfg
}

// bearer rejects requests without the admin token. Tokens are compared by
// their SHA-256, in constant time.
func bearer(want [32]byte) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			got := sha256.Sum256([]byte(strings.TrimSpace(token)))
			if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="herald"`)
				writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.svc.Store.Ping(ctx); err != nil {
		s.logger.Error("health check failed", "error", err)
		writeError(w, http.StatusServiceUnavailable, "the store does not answer")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// fail turns a service error into the API's, logging internal ones (whose
// details the client does not see).
func (s *server) fail(ctx context.Context, op string, err error) error {
	if herald.ErrorCode(err) == herald.CodeInternal {
		s.logger.ErrorContext(ctx, "request failed", "operation", op, "error", err)
	}
	return fromDomain(err)
}

// Pagination are the query parameters of list calls.
type Pagination struct {
	PageSize  int    `query:"pageSize" minimum:"1" maximum:"1000" default:"50" doc:"Items per page (at most 1000)"`
	PageToken string `query:"pageToken" doc:"The nextPageToken of the previous page"`
}

func (p Pagination) page() store.Page {
	size := p.PageSize
	if size == 0 {
		size = 50
	}
	return store.Page{Size: size, Token: p.PageToken}
}
