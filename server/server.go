package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/api"
	"github.com/heraldhq/herald/deliver"
	"github.com/heraldhq/herald/metrics"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/platform/custom"
	"github.com/heraldhq/herald/platform/dingtalk"
	"github.com/heraldhq/herald/platform/discord"
	"github.com/heraldhq/herald/platform/feishu"
	"github.com/heraldhq/herald/platform/googlechat"
	"github.com/heraldhq/herald/platform/slack"
	"github.com/heraldhq/herald/platform/teams"
	"github.com/heraldhq/herald/platform/wecom"
	"github.com/heraldhq/herald/queue"
	"github.com/heraldhq/herald/secret"
	"github.com/heraldhq/herald/service"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/postgres"
	"github.com/heraldhq/herald/store/sqlite"
	"github.com/heraldhq/herald/web"
)

// Version is Herald's version, set at build time with
// -ldflags "-X github.com/heraldhq/herald/server.Version=…".
var Version = "dev"

// backend is a store with its delivery queue.
type backend interface {
	store.Store
	Start(ctx context.Context, h queue.Handler) error
	Stop(ctx context.Context) error
}

// Server is a running Herald: store, workers and API.
type Server struct {
	cfg     Config
	backend backend
	engine  *deliver.Engine
	handler http.Handler
	logger  *slog.Logger
	// Metrics are the server's Prometheus metrics.
	Metrics *metrics.Metrics
}

// Options are the process-level dependencies of a Server.
type Options struct {
	// Stdout receives the generated admin token, once.
	Stdout io.Writer
	Logger *slog.Logger
}

// Platforms returns every platform Herald sends to.
func Platforms() platform.Registry {
	return platform.NewRegistry(
		slack.New(), discord.New(), teams.New(), dingtalk.New(), feishu.NewFeishu(), feishu.NewLark(),
		wecom.New(), googlechat.New(), custom.New(),
	)
}

// Messengers returns the IM clients that send direct messages.
func Messengers() platform.IMRegistry {
	return platform.IMRegistry{
		herald.IMSlack:    slack.NewMessenger,
		herald.IMTeams:    teams.NewMessenger,
		herald.IMDingTalk: dingtalk.NewMessenger,
		herald.IMFeishu:   feishu.NewFeishuMessenger,
		herald.IMLark:     feishu.NewLarkMessenger,
		herald.IMWeCom:    wecom.NewMessenger,
	}
}

// Open opens the store (migrating it), checks the secret key, settles the
// admin token, and builds the engine and the API. Workers start with Start.
func Open(ctx context.Context, cfg Config, opts Options) (*Server, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	key, err := loadKey(cfg)
	if err != nil {
		return nil, err
	}
	box, err := secret.NewBox(key)
	if err != nil {
		return nil, err
	}
	qcfg := queue.Config{
		Workers:           cfg.Workers,
		JobTimeout:        cfg.JobTimeout,
		RescueAfter:       cfg.JobTimeout + 10*time.Second,
		FetchCooldown:     10 * time.Millisecond,
		FetchPollInterval: 200 * time.Millisecond,
		Logger:            logger,
	}
	var b backend
	if cfg.IsPostgres() {
		b, err = postgres.Open(ctx, cfg.Database, postgres.Options{Box: box, Queue: qcfg})
	} else {
		b, err = sqlite.Open(ctx, cfg.Database, sqlite.Options{Box: box, Queue: qcfg})
	}
	if err != nil {
		return nil, err
	}
	s, err := build(ctx, cfg, b, box, consoleKey(key), opts.Stdout, logger)
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	return s, nil
}

// consoleKey derives the key that signs console sessions from the secret
// key, so that every replica accepts every session.
func consoleKey(key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("herald console sessions"))
	return m.Sum(nil)
}

func build(ctx context.Context, cfg Config, b backend, box *secret.Box, sessionKey []byte, stdout io.Writer, logger *slog.Logger) (*Server, error) {
	if err := checkKey(ctx, b, box); err != nil {
		return nil, err
	}
	tokenHash, err := adminToken(ctx, b, cfg.AdminToken, stdout)
	if err != nil {
		return nil, err
	}
	m := metrics.New(b.LiveDeliveries)
	client := cfg.Network.NewClient(cfg.HTTPTimeout)
	platforms := Platforms()
	limiter := deliver.NewLimiter()
	messengers := &deliver.Messengers{Registry: Messengers(), Client: client, Endpoints: cfg.IM}
	engine := &deliver.Engine{
		Store: b, Platforms: platforms, Client: client, Schedule: cfg.RetrySchedule, Limiter: limiter,
		Messengers: messengers, Metrics: m, Logger: logger,
	}
	svc := &service.Service{
		Store: b, Platforms: platforms, Policy: &cfg.Network, Client: client, Limiter: limiter,
		Messengers: messengers, Metrics: m,
	}
	apiHandler := api.New(api.Options{Service: svc, Metrics: m, TokenHash: tokenHash, Logger: logger, Version: Version})
	console, err := web.New(web.Options{Service: svc, Key: sessionKey, TokenHash: tokenHash, Logger: logger})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", apiHandler)
	mux.Handle("/healthz", apiHandler)
	mux.Handle("/metrics", apiHandler)
	mux.Handle("/", console.Handler())
	return &Server{cfg: cfg, backend: b, engine: engine, handler: mux, logger: logger, Metrics: m}, nil
}

// Handler is the HTTP handler of the API.
func (s *Server) Handler() http.Handler { return s.handler }

// Store is the server's store.
func (s *Server) Store() store.Store { return s.backend }

// Start starts the delivery workers.
func (s *Server) Start(ctx context.Context) error { return s.backend.Start(ctx, s.engine) }

// Serve answers HTTP on ln until ctx ends, then shuts down gracefully: it
// stops taking requests, lets running ones finish, and stops the workers
// (a delivery cut short is worked again on the next start).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdown)
	if qerr := s.backend.Stop(shutdown); qerr != nil && !errors.Is(qerr, context.Canceled) {
		err = errors.Join(err, qerr)
	}
	return err
}

// Close closes the store.
func (s *Server) Close() error { return s.backend.Close() }

// Run opens Herald, listens on cfg.Addr and serves until ctx ends.
func Run(ctx context.Context, cfg Config, opts Options) error {
	s, err := Open(ctx, cfg, opts)
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	if err := s.Start(ctx); err != nil {
		_ = ln.Close()
		return err
	}
	s.logger.Info("Herald is serving", "addr", ln.Addr().String(), "database", describeDatabase(cfg.Database), "version", Version)
	return s.Serve(ctx, ln)
}

// describeDatabase names the database for logs without its password.
func describeDatabase(db string) string {
	if !IsPostgresURL(db) {
		return db
	}
	return platform.Preview(db)
}

// loadKey returns the key that seals stored secrets: HERALD_SECRET_KEY, or
// on SQLite a key file beside the database (created with mode 0600).
func loadKey(cfg Config) ([]byte, error) {
	if cfg.SecretKey != "" {
		return secret.ParseKey(cfg.SecretKey)
	}
	if cfg.IsPostgres() {
		return nil, errors.New("HERALD_SECRET_KEY is required with PostgreSQL: every replica must seal secrets with the same key (generate one with: openssl rand -base64 32)")
	}
	key, _, err := secret.LoadOrCreateKeyFile(KeyFile(cfg.Database))
	return key, err
}

// KeyFile is where the SQLite database's key lives when HERALD_SECRET_KEY
// is not set: beside the database, named after it.
func KeyFile(database string) string {
	return filepath.Join(filepath.Dir(database), filepath.Base(database)+".key")
}

const (
	settingKeyCheck   = "secret_key_check"
	settingAdminToken = "admin_token_sha256"
	keyCheckValue     = "herald"
)

// checkKey refuses to start with a key other than the one the database's
// secrets were sealed with, instead of failing on every delivery later.
func checkKey(ctx context.Context, st store.Store, box *secret.Box) error {
	if _, err := st.PutSettingIfAbsent(ctx, settingKeyCheck, box.Seal(keyCheckValue, settingKeyCheck)); err != nil {
		return err
	}
	sealed, err := st.GetSetting(ctx, settingKeyCheck)
	if err != nil {
		return err
	}
	if v, err := box.Open(sealed, settingKeyCheck); err != nil || v != keyCheckValue {
		return errors.New("the secret key does not match the one this database's secrets were sealed with: set HERALD_SECRET_KEY (or restore the key file) to the original key")
	}
	return nil
}

// adminToken returns the SHA-256 of the admin token. A token given in the
// environment wins; otherwise the stored hash is used; on first start a
// token is generated, printed once on stdout, and only its hash is stored.
func adminToken(ctx context.Context, st store.Store, given string, stdout io.Writer) ([32]byte, error) {
	if given != "" {
		return sha256.Sum256([]byte(given)), nil
	}
	var hash [32]byte
	stored, err := st.GetSetting(ctx, settingAdminToken)
	if herald.ErrorCode(err) == herald.CodeNotFound {
		raw := make([]byte, 32)
		_, _ = rand.Read(raw)
		token := "hrld_" + base64.RawURLEncoding.EncodeToString(raw)
		hash = sha256.Sum256([]byte(token))
		created, err := st.PutSettingIfAbsent(ctx, settingAdminToken, hash[:])
		if err != nil {
			return hash, err
		}
		if created {
			if stdout != nil {
				fmt.Fprintf(stdout, "Herald generated an admin API token. It is shown only this once; store it now:\n\n    %s\n\n", token)
			}
			return hash, nil
		}
		stored, err = st.GetSetting(ctx, settingAdminToken) // another replica won the race
	}
	if err != nil {
		return hash, err
	}
	if len(stored) != len(hash) {
		return hash, errors.New("the stored admin token hash is damaged; set HERALD_ADMIN_TOKEN")
	}
	copy(hash[:], stored)
	return hash, nil
}
