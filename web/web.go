// Package web is Herald's console: pages rendered on the server from the
// same service the HTTP API uses, so every rule of the API (validation,
// secrets, URL policy) holds in the console too. It needs no JavaScript
// toolchain: templates and assets are embedded, and the little script
// there is only improves forms that work without it.
package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/service"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Console serves the web console.
type Console struct {
	svc       *service.Service
	key       []byte
	tokenHash [32]byte
	logger    *slog.Logger
	pages     map[string]*template.Template
	now       func() time.Time
}

// Options configure the console.
type Options struct {
	Service *service.Service
	// Key signs session cookies and CSRF tokens; derive it from
	// HERALD_SECRET_KEY so that every replica accepts every session.
	Key []byte
	// TokenHash is the SHA-256 of the admin API token, which signs in.
	TokenHash [32]byte
	Logger    *slog.Logger
}

// New returns the console.
func New(o Options) (*Console, error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Console{svc: o.Service, key: o.Key, tokenHash: o.TokenHash, logger: logger, now: time.Now, pages: map[string]*template.Template{}}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if name == "templates/layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", name)
		if err != nil {
			return nil, err
		}
		c.pages[name[len("templates/"):]] = t
	}
	return c, nil
}

// Handler routes the console's pages.
func (c *Console) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(securityHeaders)
	static, _ := fs.Sub(assets, "static")
	r.Handle("/static/*", http.StripPrefix("/static/", http.FileServer(http.FS(static))))
	r.Get("/login", c.loginPage)
	r.Post("/login", c.login)
	r.Group(func(r chi.Router) {
		r.Use(c.requireSession)
		r.Post("/logout", c.logout)
		r.Get("/", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/projects", http.StatusSeeOther) })
		r.Get("/projects", c.projects)
		r.Post("/projects", c.createProject)
		r.Get("/projects/{p}", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/projects/"+chi.URLParam(r, "p")+"/webhooks", http.StatusSeeOther)
		})
		r.Post("/projects/{p}/rename", c.renameProject)
		r.Get("/projects/{p}/delete", c.confirmDeleteProject)
		r.Post("/projects/{p}/delete", c.deleteProject)
		r.Get("/projects/{p}/webhooks", c.webhooks)
		r.Get("/projects/{p}/webhooks/new", c.newWebhook)
		r.Post("/projects/{p}/webhooks", c.createWebhook)
		r.Get("/projects/{p}/webhooks/{w}", c.editWebhook)
		r.Post("/projects/{p}/webhooks/{w}", c.updateWebhook)
		r.Post("/projects/{p}/webhooks/{w}/test", c.testWebhook)
		r.Get("/projects/{p}/webhooks/{w}/delete", c.confirmDeleteWebhook)
		r.Post("/projects/{p}/webhooks/{w}/delete", c.deleteWebhook)
		r.Get("/projects/{p}/deliveries", c.deliveries)
		r.Get("/projects/{p}/deliveries/{d}", c.delivery)
		r.Post("/projects/{p}/deliveries/{d}/retry", c.retryDelivery)
		r.Get("/projects/{p}/health", c.health)
		r.Get("/settings/im", c.imSettings)
		r.Post("/settings/im/{platform}", c.saveIM)
		r.Post("/settings/im/{platform}/validate", c.validateIM)
		r.Post("/settings/im/{platform}/delete", c.deleteIM)
	})
	return r
}

type ctxKey struct{}

// requireSession sends visitors without a session to the sign-in page, and
// refuses any POST whose CSRF token is not the session's.
func (c *Console) requireSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.sessionOf(r)
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login?next="+templateURLEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "Your session has ended: sign in again.", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if !c.validCSRF(s, r.PostFormValue(csrfField)) {
				http.Error(w, "This form has expired or did not come from Herald's console (CSRF check failed). Go back, reload the page and try again.", http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, s)))
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// page is what every page template gets.
type page struct {
	Title   string
	CSRF    string
	Nav     string // the section the page belongs to
	Project *herald.Project
	Flash   string
	Error   string
	Data    any
}

// render writes a page, with the session's CSRF token.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	if s, ok := r.Context().Value(ctxKey{}).(session); ok {
		p.CSRF = c.csrfToken(s)
	}
	if p.Flash == "" {
		p.Flash = r.URL.Query().Get("flash")
	}
	t, ok := c.pages[name]
	if !ok {
		http.Error(w, "no such page", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		c.logger.Error("rendering a console page", "page", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// fail shows an error page for err: not found, bad input, or internal
// (logged, not shown).
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := http.StatusInternalServerError, "Something went wrong on Herald's side. It has been logged."
	var he *herald.Error
	if errors.As(err, &he) {
		switch he.Code {
		case herald.CodeNotFound:
			status, msg = http.StatusNotFound, he.Message
		case herald.CodeInvalidArgument:
			status, msg = http.StatusBadRequest, he.Error()
		case herald.CodeAlreadyExists, herald.CodeFailedPrecondition:
			status, msg = http.StatusConflict, he.Message
		}
	}
	if status == http.StatusInternalServerError {
		c.logger.Error("console request failed", "path", r.URL.Path, "error", err)
	}
	c.render(w, r, status, "error.html", page{Title: http.StatusText(status), Error: msg})
}
