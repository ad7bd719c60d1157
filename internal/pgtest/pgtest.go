// Package pgtest gives tests a fresh, empty PostgreSQL database.
//
// The server used by the tests is discovered once per test process, in this
// order:
//
//  1. HERALD_TEST_POSTGRES_URL, a postgres:// URL to any database on the
//     server to use. When it is set it is authoritative: if it does not work
//     the tests are skipped (or fail on CI) rather than silently running
//     against another server.
//  2. A local server at 127.0.0.1:5432 with trust authentication, as user
//     "postgres" and then as user "root" (database "postgres").
//  3. A throwaway server started from the machine's PostgreSQL binaries
//     (initdb and postgres from PATH or /usr/lib/postgresql/*/bin, highest
//     version wins) in a temporary directory, listening on 127.0.0.1 on a
//     free port. When the tests run as root the server runs as the
//     "postgres" user. Setting HERALD_TEST_POSTGRES_THROWAWAY=1 skips steps
//     1 and 2 so this path can be exercised on purpose.
//
// If no server can be found the calling test is skipped, or fails when the
// environment variable CI is true. The message lists every attempt and its
// error.
//
// Packages whose tests use pgtest should stop the throwaway server (if one was
// started) when their tests are done:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		pgtest.Shutdown()
//		os.Exit(code)
//	}
//
// Forgetting this does not leave a server behind: the server is started as a
// child of the test process and the kernel stops it when the test process
// exits (Linux parent-death signal). Its temporary directory is then removed
// by the next test process that starts a throwaway server.
//
// The server must be PostgreSQL 13 or later, because databases are dropped
// with DROP DATABASE ... WITH (FORCE).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	// EnvURL names the environment variable holding the URL of the server
	// to use (any database on it).
	EnvURL = "HERALD_TEST_POSTGRES_URL"
	// EnvThrowaway names the environment variable that, when set to a true
	// value (1, true), forces the use of a throwaway server.
	EnvThrowaway = "HERALD_TEST_POSTGRES_THROWAWAY"

	// dbPrefix starts the name of every database NewDatabase creates.
	dbPrefix = "herald_test_"

	// connectTimeout bounds every attempt to reach a candidate server.
	connectTimeout = 3 * time.Second
	// adminTimeout bounds creating and dropping a database.
	adminTimeout = 30 * time.Second
)

// localURLs are the candidate local servers of discovery step 2.
var localURLs = []string{
	"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
	"postgres://root@127.0.0.1:5432/postgres?sslmode=disable",
}

var (
	discoverOnce sync.Once
	discovered   struct {
		url  string // admin URL of the server, if found
		desc string // what the server is, for the test log
		err  error  // why no server was found
	}
	logOnce sync.Once
)

// NewDatabase creates a database with a unique name (herald_test_<random hex>)
// on the test server and drops it (WITH (FORCE)) at t.Cleanup. Returns its URL
// (postgres://...?sslmode=disable).
//
// With HERALD_TEST_POSTGRES_URL, the URL is that one with its path replaced,
// so its user, password and query parameters are kept. The database is
// created from template0, so it is empty whatever was installed in template1. If no server is available, t is skipped (or fails
// when CI=true).
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := ServerURL(t)

	name, err := randomName()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	dbURL, err := databaseURL(admin, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	ident := pgx.Identifier{name}.Sanitize()

	if err := adminExec(admin, "CREATE DATABASE "+ident+" TEMPLATE template0"); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := adminExec(admin, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return dbURL
}

// ServerURL returns the admin URL of the test server (for tests that need to
// create several databases), skipping/failing like NewDatabase.
//
// Databases created through it are not dropped automatically.
func ServerURL(t testing.TB) string {
	t.Helper()
	discoverOnce.Do(func() {
		discovered.url, discovered.desc, discovered.err = discover()
	})
	if err := discovered.err; err != nil {
		msg := "pgtest: no PostgreSQL server for tests:\n" + indent(err.Error()) +
			"\nSet " + EnvURL + " to a postgres:// URL of a server (PostgreSQL 13+) " +
			"whose user may create databases, or install the PostgreSQL server binaries."
		if onCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	first := false
	logOnce.Do(func() { first = true })
	if first {
		t.Logf("pgtest: using %s", discovered.desc)
	}
	return discovered.url
}

// discover finds the test server; see the package documentation.
func discover() (adminURL, desc string, err error) {
	if truthy(os.Getenv(EnvThrowaway)) {
		u, d, err := throwawayServer()
		if err != nil {
			return "", "", fmt.Errorf("throwaway server (forced by %s): %w", EnvThrowaway, err)
		}
		return u, d, nil
	}

	if u := os.Getenv(EnvURL); u != "" {
		if err := probe(u); err != nil {
			return "", "", fmt.Errorf("%s=%s: %w", EnvURL, redact(u), err)
		}
		return u, "server from " + EnvURL + " (" + redact(u) + ")", nil
	}

	var errs []error
	for _, u := range localURLs {
		err := probe(u)
		if err == nil {
			return u, "local server " + u, nil
		}
		errs = append(errs, fmt.Errorf("local server %s: %w", u, err))
	}

	u, d, err := throwawayServer()
	if err == nil {
		return u, d, nil
	}
	errs = append(errs, fmt.Errorf("throwaway server: %w", err))
	return "", "", errors.Join(errs...)
}

// throwawayServer starts the process-wide throwaway server.
func throwawayServer() (adminURL, desc string, err error) {
	start := time.Now()
	s, err := startThrowaway()
	if err != nil {
		return "", "", err
	}
	throwawayMu.Lock()
	throwaway = s
	throwawayMu.Unlock()
	return s.url, fmt.Sprintf("throwaway server %s (%s, data in %s, started in %s)",
		s.url, s.version, s.dir, time.Since(start).Round(time.Millisecond)), nil
}

var (
	throwawayMu sync.Mutex
	throwaway   *server
)

// Shutdown stops the throwaway server, if this process started one, and
// removes its files. Call it from TestMain after m.Run; no test of the process
// may use pgtest afterwards. It does nothing when no throwaway server was
// started, and may be called more than once.
func Shutdown() {
	throwawayMu.Lock()
	s := throwaway
	throwaway = nil
	throwawayMu.Unlock()
	if s != nil {
		if err := s.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: shutdown: %v\n", err)
		}
	}
}

// probe checks that the server at rawURL can be reached, is recent enough and
// lets its user create databases.
func probe(rawURL string) error {
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	return probeCtx(ctx, rawURL)
}

func probeCtx(ctx context.Context, rawURL string) error {
	conn, err := pgx.Connect(ctx, rawURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())

	var version int
	var canCreate bool
	err = conn.QueryRow(ctx, `
		SELECT current_setting('server_version_num')::int,
		       rolcreatedb OR rolsuper
		FROM pg_roles WHERE rolname = current_user`).Scan(&version, &canCreate)
	if err != nil {
		return err
	}
	if version < 130000 {
		return fmt.Errorf("server version %d is too old, PostgreSQL 13 or later is needed", version)
	}
	if !canCreate {
		return errors.New("user " + conn.Config().User + " may not create databases")
	}
	return nil
}

// adminExec runs sql on a new connection to the server.
func adminExec(adminURL, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// randomName returns a fresh database name.
func randomName() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random database name: %w", err)
	}
	return dbPrefix + hex.EncodeToString(b), nil
}

// databaseURL returns adminURL with its database replaced by name.
func databaseURL(adminURL, name string) (string, error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", fmt.Errorf("parse server URL: %w", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "", fmt.Errorf("server URL %s: scheme must be postgres:// or postgresql://", redact(adminURL))
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// redact hides the password of a URL for messages.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "<unparsable URL>"
	}
	return u.Redacted()
}

// onCI reports whether missing servers are failures rather than skips.
func onCI() bool { return truthy(os.Getenv("CI")) }

func truthy(s string) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	return err == nil && b
}

func indent(s string) string {
	return "\t" + strings.ReplaceAll(s, "\n", "\n\t")
}
