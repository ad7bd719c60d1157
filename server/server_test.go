package server_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/heraldhq/herald/secret"
	"github.com/heraldhq/herald/server"
)

// config returns the default configuration on a new SQLite file.
func config(t *testing.T) server.Config {
	t.Helper()
	cfg, err := server.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = filepath.Join(t.TempDir(), "herald.db")
	cfg.Workers = 1
	return cfg
}

// open opens a server and returns it with what it printed; the caller
// closes it.
func open(t *testing.T, cfg server.Config) (*server.Server, string) {
	t.Helper()
	var out bytes.Buffer
	srv, err := server.Open(t.Context(), cfg, server.Options{Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	return srv, out.String()
}

func closeServer(t *testing.T, srv *server.Server) {
	t.Helper()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
}

func newKey(t *testing.T) string {
	t.Helper()
	key, err := secret.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(key)
}

// status returns the status of GET path with the given Authorization header
// ("" for none).
func status(t *testing.T, srv *server.Server, path, authorization string) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	return rec.Code
}

var tokenPattern = regexp.MustCompile(`hrld_[A-Za-z0-9_-]{20,}`)

func TestKeyFile(t *testing.T) {
	tests := []struct{ db, want string }{
		{"herald.db", "herald.db.key"},
		{"/var/lib/herald/herald.db", "/var/lib/herald/herald.db.key"},
		{"data/x.sqlite", "data/x.sqlite.key"},
	}
	for _, tt := range tests {
		if got := server.KeyFile(tt.db); got != filepath.FromSlash(tt.want) {
			t.Errorf("KeyFile(%q) = %q, want %q", tt.db, got, tt.want)
		}
	}
}

func TestOpenCreatesKeyFile(t *testing.T) {
	cfg := config(t)
	srv, _ := open(t, cfg)
	defer closeServer(t, srv)
	path := cfg.Database + ".key"
	if server.KeyFile(cfg.Database) != path {
		t.Errorf("KeyFile = %q, want %q", server.KeyFile(cfg.Database), path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no key file beside the database: %v", err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode = %o, want 600", mode)
	}
	if fi.Size() == 0 {
		t.Error("the key file is empty")
	}
}

func TestOpenWithSecretKeyCreatesNoKeyFile(t *testing.T) {
	cfg := config(t)
	cfg.SecretKey = newKey(t)
	srv, _ := open(t, cfg)
	defer closeServer(t, srv)
	if _, err := os.Stat(server.KeyFile(cfg.Database)); !os.IsNotExist(err) {
		t.Errorf("a key file was created although HERALD_SECRET_KEY was set (%v)", err)
	}
}

func TestGeneratedAdminToken(t *testing.T) {
	cfg := config(t)

	srv, out := open(t, cfg)
	tokens := tokenPattern.FindAllString(out, -1)
	if len(tokens) != 1 {
		closeServer(t, srv)
		t.Fatalf("the first Open printed %q, want one hrld_ token", out)
	}
	token := tokens[0]
	if got := status(t, srv, "/v1/projects", "Bearer "+token); got != http.StatusOK {
		t.Errorf("GET /v1/projects with the printed token: %d, want 200", got)
	}
	closeServer(t, srv)

	srv, out = open(t, cfg)
	defer closeServer(t, srv)
	if out != "" {
		t.Errorf("the second Open printed %q, want nothing", out)
	}
	tests := []struct {
		name          string
		authorization string
		want          int
	}{
		{"printed token", "Bearer " + token, http.StatusOK},
		{"wrong token", "Bearer hrld_wrong", http.StatusUnauthorized},
		{"token with a changed letter", "Bearer " + token[:len(token)-1] + flip(token[len(token)-1]), http.StatusUnauthorized},
		{"no scheme", token, http.StatusUnauthorized},
		{"none", "", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		if got := status(t, srv, "/v1/projects", tt.authorization); got != tt.want {
			t.Errorf("%s: GET /v1/projects = %d, want %d", tt.name, got, tt.want)
		}
	}
	if got := status(t, srv, "/healthz", ""); got != http.StatusOK {
		t.Errorf("GET /healthz = %d, want 200 without a token", got)
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestGeneratedAdminTokenIsNotStored(t *testing.T) {
	cfg := config(t)
	srv, out := open(t, cfg)
	token := tokenPattern.FindString(out)
	if token == "" {
		closeServer(t, srv)
		t.Fatalf("Open printed %q, want a token", out)
	}
	closeServer(t, srv)

	files, err := filepath.Glob(filepath.Join(filepath.Dir(cfg.Database), "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no database files (%v)", err)
	}
	hash := sha256.Sum256([]byte(token))
	hashFound := false
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(token)) || bytes.Contains(data, []byte(strings.TrimPrefix(token, "hrld_"))) {
			t.Errorf("%s holds the admin token in the clear", filepath.Base(f))
		}
		hashFound = hashFound || bytes.Contains(data, hash[:])
	}
	// The files read are the ones that hold the setting.
	if !hashFound {
		t.Errorf("none of %v holds the token's SHA-256", files)
	}
}

func TestAdminTokenFromEnvironment(t *testing.T) {
	cfg := config(t)
	srv, generatedOut := open(t, cfg)
	generated := tokenPattern.FindString(generatedOut)
	closeServer(t, srv)

	cfg.AdminToken = "operator-chosen-token"
	srv, out := open(t, cfg)
	defer closeServer(t, srv)
	if out != "" {
		t.Errorf("Open with HERALD_ADMIN_TOKEN printed %q, want nothing", out)
	}
	if got := status(t, srv, "/v1/projects", "Bearer operator-chosen-token"); got != http.StatusOK {
		t.Errorf("GET /v1/projects with HERALD_ADMIN_TOKEN: %d, want 200", got)
	}
	if got := status(t, srv, "/v1/projects", "Bearer "+generated); got != http.StatusUnauthorized {
		t.Errorf("GET /v1/projects with the generated token while HERALD_ADMIN_TOKEN is set: %d, want 401", got)
	}
}

func TestAdminTokenGivenOnFirstStartPrintsNothing(t *testing.T) {
	cfg := config(t)
	cfg.AdminToken = "given"
	srv, out := open(t, cfg)
	defer closeServer(t, srv)
	if out != "" {
		t.Errorf("Open printed %q, want nothing", out)
	}
}

func TestOpenWithAnotherKeyFails(t *testing.T) {
	t.Run("HERALD_SECRET_KEY changed", func(t *testing.T) {
		cfg := config(t)
		cfg.SecretKey = newKey(t)
		srv, _ := open(t, cfg)
		closeServer(t, srv)

		original := cfg.SecretKey
		cfg.SecretKey = newKey(t)
		srv, err := server.Open(t.Context(), cfg, server.Options{})
		if err == nil {
			closeServer(t, srv)
			t.Fatal("Open with another secret key succeeded")
		}
		if !strings.Contains(strings.ToLower(err.Error()), "key") {
			t.Errorf("error %q does not mention the key", err)
		}
		if strings.Contains(err.Error(), cfg.SecretKey) || strings.Contains(err.Error(), original) {
			t.Errorf("error %q quotes a key", err)
		}

		// The failed Open released the database: the right key opens it.
		cfg.SecretKey = original
		srv, _ = open(t, cfg)
		closeServer(t, srv)
	})
	t.Run("key file replaced by HERALD_SECRET_KEY", func(t *testing.T) {
		cfg := config(t)
		srv, _ := open(t, cfg)
		closeServer(t, srv)

		cfg.SecretKey = newKey(t)
		srv, err := server.Open(t.Context(), cfg, server.Options{})
		if err == nil {
			closeServer(t, srv)
			t.Fatal("Open with a key other than the key file's succeeded")
		}
		if !strings.Contains(err.Error(), "HERALD_SECRET_KEY") {
			t.Errorf("error %q does not say which key to set", err)
		}
	})
}

func TestOpenPostgresNeedsSecretKey(t *testing.T) {
	for _, db := range []string{"postgres://herald@127.0.0.1:1/herald", "postgresql://herald@127.0.0.1:1/herald"} {
		cfg := config(t)
		cfg.Database = db
		srv, err := server.Open(t.Context(), cfg, server.Options{})
		if err == nil {
			closeServer(t, srv)
			t.Fatalf("Open(%s) without a secret key succeeded", db)
		}
		if !strings.Contains(err.Error(), "HERALD_SECRET_KEY") {
			t.Errorf("Open(%s): error %q does not name HERALD_SECRET_KEY", db, err)
		}
	}
}

func TestOpenRejectsBadSecretKey(t *testing.T) {
	cfg := config(t)
	cfg.SecretKey = "not-a-key"
	srv, err := server.Open(t.Context(), cfg, server.Options{})
	if err == nil {
		closeServer(t, srv)
		t.Fatal("Open with a malformed secret key succeeded")
	}
	if !strings.Contains(err.Error(), "HERALD_SECRET_KEY") || strings.Contains(err.Error(), "not-a-key") {
		t.Errorf("error %q: want it to name HERALD_SECRET_KEY without quoting the value", err)
	}
}
