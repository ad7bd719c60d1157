// Package server wires Herald together: configuration, the store and its
// queue, the delivery engine, the API, and their lifecycle. cmd/herald and
// the end-to-end tests both start Herald through it.
package server

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/deliver"
	"github.com/heraldhq/herald/netguard"
	"github.com/heraldhq/herald/platform"
)

// Config is everything `herald serve` can be told (SPEC §9).
type Config struct {
	// Addr is where the API listens (HERALD_ADDR, --addr).
	Addr string
	// Database is a SQLite file path or a postgres:// URL (HERALD_DATABASE,
	// --database).
	Database string
	// AdminToken is the API token (HERALD_ADMIN_TOKEN); when empty, one is
	// generated on first start and only its hash is stored.
	AdminToken string
	// SecretKey is the base64 key sealing stored secrets
	// (HERALD_SECRET_KEY); when empty on SQLite a key file is used.
	SecretKey string
	// RetrySchedule is HERALD_RETRY_SCHEDULE.
	RetrySchedule deliver.Schedule
	// HTTPTimeout bounds each outgoing request (HERALD_HTTP_TIMEOUT).
	HTTPTimeout time.Duration
	// Network is the URL policy and dial guard (HERALD_ALLOW_PRIVATE_TARGETS,
	// HERALD_ALLOWED_HOSTS).
	Network netguard.Policy
	// Workers is how many deliveries one process sends at once
	// (HERALD_WORKERS).
	Workers int
	// JobTimeout bounds the work on one delivery (HERALD_JOB_TIMEOUT); a job
	// whose process died is taken back by another after JobTimeout + 10s
	// (and up to 30s more, River's rescue interval).
	JobTimeout time.Duration
	// LogFormat is "text" or "json" (HERALD_LOG_FORMAT).
	LogFormat string
	// IM are the IM APIs' base URLs (HERALD_SLACK_API_URL, …).
	IM platform.IMEndpoints
}

// Defaults of SPEC §9.
const (
	DefaultAddr     = "127.0.0.1:8080"
	DefaultDatabase = "herald.db"
)

// Load reads the configuration from the environment through getenv; flags
// override it afterwards. Every error names the variable at fault.
func Load(getenv func(string) string) (Config, error) {
	cfg := Config{
		Addr:          or(getenv("HERALD_ADDR"), DefaultAddr),
		Database:      or(getenv("HERALD_DATABASE"), DefaultDatabase),
		AdminToken:    strings.TrimSpace(getenv("HERALD_ADMIN_TOKEN")),
		SecretKey:     strings.TrimSpace(getenv("HERALD_SECRET_KEY")),
		RetrySchedule: deliver.DefaultSchedule,
		HTTPTimeout:   10 * time.Second,
		Workers:       100,
		JobTimeout:    time.Minute,
		LogFormat:     or(getenv("HERALD_LOG_FORMAT"), "text"),
	}
	var err error
	if v, ok := lookup(getenv, "HERALD_RETRY_SCHEDULE"); ok {
		if cfg.RetrySchedule, err = deliver.ParseSchedule(v); err != nil {
			return cfg, err
		}
	}
	if cfg.HTTPTimeout, err = duration(getenv, "HERALD_HTTP_TIMEOUT", cfg.HTTPTimeout); err != nil {
		return cfg, err
	}
	if cfg.JobTimeout, err = duration(getenv, "HERALD_JOB_TIMEOUT", cfg.JobTimeout); err != nil {
		return cfg, err
	}
	if v, ok := lookup(getenv, "HERALD_ALLOW_PRIVATE_TARGETS"); ok {
		if cfg.Network.AllowPrivate, err = strconv.ParseBool(v); err != nil {
			return cfg, fmt.Errorf("HERALD_ALLOW_PRIVATE_TARGETS: %q is not true or false", v)
		}
	}
	if cfg.Network.AllowedHosts, err = netguard.ParseAllowedHosts(getenv("HERALD_ALLOWED_HOSTS")); err != nil {
		return cfg, err
	}
	if v, ok := lookup(getenv, "HERALD_WORKERS"); ok {
		if cfg.Workers, err = strconv.Atoi(v); err != nil || cfg.Workers < 1 || cfg.Workers > 10000 {
			return cfg, fmt.Errorf("HERALD_WORKERS: %q is not a number from 1 to 10000", v)
		}
	}
	cfg.IM = platform.DefaultIMEndpoints
	for name, dst := range map[string]*string{
		"HERALD_SLACK_API_URL": &cfg.IM.SlackAPI, "HERALD_TEAMS_LOGIN_URL": &cfg.IM.TeamsLogin,
		"HERALD_TEAMS_GRAPH_URL": &cfg.IM.TeamsGraph, "HERALD_TEAMS_BOT_URL": &cfg.IM.TeamsBot,
		"HERALD_DINGTALK_API_URL": &cfg.IM.DingTalkAPI, "HERALD_DINGTALK_OAPI_URL": &cfg.IM.DingTalkOAPI,
		"HERALD_FEISHU_API_URL": &cfg.IM.FeishuAPI, "HERALD_LARK_API_URL": &cfg.IM.LarkAPI, "HERALD_WECOM_API_URL": &cfg.IM.WeComAPI,
	} {
		v, ok := lookup(getenv, name)
		if !ok {
			continue
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return cfg, fmt.Errorf("%s: %q is not an http or https base URL", name, v)
		}
		*dst = strings.TrimRight(v, "/")
	}
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		return cfg, fmt.Errorf("HERALD_LOG_FORMAT: %q is not text or json", cfg.LogFormat)
	}
	return cfg, nil
}

// IsPostgres reports whether the database is a PostgreSQL URL.
func (c *Config) IsPostgres() bool { return IsPostgresURL(c.Database) }

// IsPostgresURL reports whether s is a postgres:// or postgresql:// URL.
func IsPostgresURL(s string) bool {
	s = strings.ToLower(s)
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

func lookup(getenv func(string) string, name string) (string, bool) {
	v := strings.TrimSpace(getenv(name))
	return v, v != ""
}

func duration(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v, ok := lookup(getenv, name)
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: %q is not a positive Go duration such as 10s", name, v)
	}
	return d, nil
}

func or(v, def string) string {
	if v = strings.TrimSpace(v); v != "" {
		return v
	}
	return def
}
