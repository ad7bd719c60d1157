package server_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/deliver"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/server"
)

// env returns a getenv over vars.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := server.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if server.DefaultAddr != "127.0.0.1:8080" || server.DefaultDatabase != "herald.db" {
		t.Errorf("DefaultAddr, DefaultDatabase = %q, %q; want 127.0.0.1:8080, herald.db", server.DefaultAddr, server.DefaultDatabase)
	}
	if cfg.Addr != "127.0.0.1:8080" {
		t.Errorf("Addr = %q, want 127.0.0.1:8080", cfg.Addr)
	}
	if cfg.Database != "herald.db" {
		t.Errorf("Database = %q, want herald.db", cfg.Database)
	}
	if !reflect.DeepEqual(cfg.RetrySchedule, deliver.DefaultSchedule) {
		t.Errorf("RetrySchedule = %v, want %v", cfg.RetrySchedule, deliver.DefaultSchedule)
	}
	if cfg.HTTPTimeout != 10*time.Second {
		t.Errorf("HTTPTimeout = %v, want 10s", cfg.HTTPTimeout)
	}
	if cfg.AdminToken != "" || cfg.SecretKey != "" {
		t.Errorf("AdminToken, SecretKey = %q, %q; want empty", cfg.AdminToken, cfg.SecretKey)
	}
	if cfg.Network.AllowPrivate || len(cfg.Network.AllowedHosts) != 0 {
		t.Errorf("Network = %+v, want private targets refused and no extra hosts", cfg.Network)
	}
	if cfg.Workers < 1 {
		t.Errorf("Workers = %d, want at least 1", cfg.Workers)
	}
	if cfg.JobTimeout <= cfg.HTTPTimeout {
		t.Errorf("JobTimeout = %v, want more than one HTTP timeout (%v)", cfg.JobTimeout, cfg.HTTPTimeout)
	}
	if cfg.LogFormat != "text" {
		t.Errorf("LogFormat = %q, want text", cfg.LogFormat)
	}
	if cfg.IsPostgres() {
		t.Error("the default database is PostgreSQL")
	}
}

func TestLoadEnvironment(t *testing.T) {
	cfg, err := server.Load(env(map[string]string{
		"HERALD_ADDR":                  "0.0.0.0:9000",
		"HERALD_DATABASE":              "postgres://herald@db/herald",
		"HERALD_ADMIN_TOKEN":           "  tok  ",
		"HERALD_SECRET_KEY":            " key ",
		"HERALD_RETRY_SCHEDULE":        "1s, 2m",
		"HERALD_HTTP_TIMEOUT":          "3s",
		"HERALD_ALLOW_PRIVATE_TARGETS": "true",
		"HERALD_ALLOWED_HOSTS":         "Receiver.example.com, hooks.internal:8443",
		"HERALD_WORKERS":               "8",
		"HERALD_JOB_TIMEOUT":           "2m",
		"HERALD_LOG_FORMAT":            "json",
		"HERALD_SLACK_API_URL":         "http://127.0.0.1:9001/api/",
		"HERALD_WECOM_API_URL":         "https://wecom.internal",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := server.Config{
		Addr:          "0.0.0.0:9000",
		Database:      "postgres://herald@db/herald",
		AdminToken:    "tok",
		SecretKey:     "key",
		RetrySchedule: deliver.Schedule{time.Second, 2 * time.Minute},
		HTTPTimeout:   3 * time.Second,
		Workers:       8,
		JobTimeout:    2 * time.Minute,
		LogFormat:     "json",
	}
	want.Network.AllowPrivate = true
	want.Network.AllowedHosts = []string{"receiver.example.com", "hooks.internal:8443"}
	want.IM = platform.DefaultIMEndpoints
	want.IM.SlackAPI, want.IM.WeComAPI = "http://127.0.0.1:9001/api", "https://wecom.internal"
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Load =\n%+v\nwant\n%+v", cfg, want)
	}
	if !cfg.IsPostgres() {
		t.Error("a postgres:// database is not PostgreSQL")
	}
}

func TestLoadEachVariable(t *testing.T) {
	tests := []struct {
		name, value string
		check       func(server.Config) bool
	}{
		{"HERALD_RETRY_SCHEDULE", "200ms", func(c server.Config) bool {
			return reflect.DeepEqual(c.RetrySchedule, deliver.Schedule{200 * time.Millisecond})
		}},
		{"HERALD_RETRY_SCHEDULE", ",", func(c server.Config) bool { return len(c.RetrySchedule) == 0 }},
		{"HERALD_HTTP_TIMEOUT", "1m30s", func(c server.Config) bool { return c.HTTPTimeout == 90*time.Second }},
		{"HERALD_ALLOW_PRIVATE_TARGETS", "1", func(c server.Config) bool { return c.Network.AllowPrivate }},
		{"HERALD_ALLOW_PRIVATE_TARGETS", "false", func(c server.Config) bool { return !c.Network.AllowPrivate }},
		{"HERALD_ALLOW_PRIVATE_TARGETS", " TRUE ", func(c server.Config) bool { return c.Network.AllowPrivate }},
		{"HERALD_ALLOWED_HOSTS", "a.example.com", func(c server.Config) bool {
			return reflect.DeepEqual(c.Network.AllowedHosts, []string{"a.example.com"})
		}},
		{"HERALD_WORKERS", "1", func(c server.Config) bool { return c.Workers == 1 }},
		{"HERALD_WORKERS", "10000", func(c server.Config) bool { return c.Workers == 10000 }},
		{"HERALD_JOB_TIMEOUT", "45s", func(c server.Config) bool { return c.JobTimeout == 45*time.Second }},
		{"HERALD_LOG_FORMAT", "text", func(c server.Config) bool { return c.LogFormat == "text" }},
		{"HERALD_LOG_FORMAT", "json", func(c server.Config) bool { return c.LogFormat == "json" }},
		{"HERALD_ADDR", " :8081 ", func(c server.Config) bool { return c.Addr == ":8081" }},
		{"HERALD_DATABASE", "/var/lib/herald/herald.db", func(c server.Config) bool {
			return c.Database == "/var/lib/herald/herald.db" && !c.IsPostgres()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			cfg, err := server.Load(env(map[string]string{tt.name: tt.value}))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(cfg) {
				t.Errorf("%s=%q gave %+v", tt.name, tt.value, cfg)
			}
		})
	}
}

func TestLoadErrorsNameTheVariable(t *testing.T) {
	tests := []struct{ name, value string }{
		{"HERALD_RETRY_SCHEDULE", "soon"},
		{"HERALD_RETRY_SCHEDULE", "5s,-1s"},
		{"HERALD_HTTP_TIMEOUT", "ten"},
		{"HERALD_HTTP_TIMEOUT", "0s"},
		{"HERALD_HTTP_TIMEOUT", "-5s"},
		{"HERALD_HTTP_TIMEOUT", "10"},
		{"HERALD_JOB_TIMEOUT", "forever"},
		{"HERALD_JOB_TIMEOUT", "0"},
		{"HERALD_ALLOW_PRIVATE_TARGETS", "yes"},
		{"HERALD_ALLOW_PRIVATE_TARGETS", "on"},
		{"HERALD_ALLOWED_HOSTS", "https://a.example.com/"},
		{"HERALD_ALLOWED_HOSTS", "a.example.com:99999"},
		{"HERALD_WORKERS", "many"},
		{"HERALD_WORKERS", "0"},
		{"HERALD_WORKERS", "-3"},
		{"HERALD_WORKERS", "10001"},
		{"HERALD_LOG_FORMAT", "xml"},
		{"HERALD_LOG_FORMAT", "JSON"},
		{"HERALD_SLACK_API_URL", "slack.com/api"},
		{"HERALD_TEAMS_GRAPH_URL", "ftp://graph.example.com"},
		{"HERALD_FEISHU_API_URL", "https://"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			_, err := server.Load(env(map[string]string{tt.name: tt.value}))
			if err == nil {
				t.Fatalf("%s=%q accepted", tt.name, tt.value)
			}
			if !strings.Contains(err.Error(), tt.name) {
				t.Errorf("%s=%q: error %q does not name the variable", tt.name, tt.value, err)
			}
		})
	}
}

func TestIsPostgresURL(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"postgres://user:pw@localhost:5432/herald", true},
		{"postgresql://localhost/herald?sslmode=disable", true},
		{"herald.db", false},
		{"/var/lib/herald/herald.db", false},
		{"postgres.db", false},
		{"./postgres://x", false},
		{"mysql://localhost/herald", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := server.IsPostgresURL(tt.in); got != tt.want {
			t.Errorf("IsPostgresURL(%q) = %v, want %v", tt.in, got, tt.want)
		}
		cfg := server.Config{Database: tt.in}
		if got := cfg.IsPostgres(); got != tt.want {
			t.Errorf("Config{Database: %q}.IsPostgres() = %v, want %v", tt.in, got, tt.want)
		}
	}
}
