package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/store/sqlite"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const fileEvent = `{
  "eventId": "rollout-7-failed",
  "type": "PIPELINE_FAILED",
  "title": "From the file",
  "rollout": {"id": "7", "title": "Release 1.4", "failedTasks": [{"name": "migrate", "database": "orders", "error": "lock timeout"}]},
  "actor": {"name": "Alice", "email": "alice@example.com"},
  "recipients": [{"email": "bob@example.com"}]
}`

func TestPublishFlagsEvent(t *testing.T) {
	file := writeFile(t, fileEvent)
	tests := []struct {
		name  string
		flags publishFlags
		stdin string
		want  herald.Event
	}{
		{
			name: "flags only",
			flags: publishFlags{
				typ: "ISSUE_SENT_BACK", eventID: "e1", title: "T", description: "D", link: "https://x.example.com/1",
				comment: "needs a rollback plan", env: "prod",
				issueID: "42", issueTitle: "Add index", issueURL: "https://x.example.com/issues/42", issueStatus: "OPEN",
				actorName: "Alice", actorEmail: "alice@example.com",
			},
			want: herald.Event{
				EventID: "e1", Type: herald.IssueSentBack, Title: "T", Description: "D", Link: "https://x.example.com/1",
				Comment: "needs a rollback plan", Environment: "prod",
				Issue: &herald.Issue{ID: "42", Title: "Add index", URL: "https://x.example.com/issues/42", Status: "OPEN"},
				Actor: &herald.User{Name: "Alice", Email: "alice@example.com"},
			},
		},
		{
			name:  "rollout flags",
			flags: publishFlags{typ: "pipeline_completed", rolloutID: "7", rolloutTitle: "Release", rolloutURL: "https://ci.example.com/7", stage: "deploy"},
			want: herald.Event{
				Type:    herald.PipelineCompleted,
				Rollout: &herald.Rollout{ID: "7", Title: "Release", URL: "https://ci.example.com/7", Stage: "deploy"},
			},
		},
		{
			name:  "file",
			flags: publishFlags{file: file},
			want: herald.Event{
				EventID: "rollout-7-failed", Type: herald.PipelineFailed, Title: "From the file",
				Rollout: &herald.Rollout{ID: "7", Title: "Release 1.4", FailedTasks: []herald.FailedTask{{Name: "migrate", Database: "orders", Error: "lock timeout"}}},
				Actor:   &herald.User{Name: "Alice", Email: "alice@example.com"},
				Recipients: []herald.User{
					{Email: "bob@example.com"},
				},
			},
		},
		{
			name: "flags override and extend the file",
			flags: publishFlags{
				file: file, title: "From a flag", env: "prod", rolloutURL: "https://ci.example.com/7", actorName: "Carol",
				recipients: []string{"dave@example.com", "+8613800138000"},
			},
			want: herald.Event{
				EventID: "rollout-7-failed", Type: herald.PipelineFailed, Title: "From a flag", Environment: "prod",
				Rollout: &herald.Rollout{
					ID: "7", Title: "Release 1.4", URL: "https://ci.example.com/7",
					FailedTasks: []herald.FailedTask{{Name: "migrate", Database: "orders", Error: "lock timeout"}},
				},
				Actor: &herald.User{Name: "Carol", Email: "alice@example.com"},
				Recipients: []herald.User{
					{Email: "bob@example.com"}, {Email: "dave@example.com"}, {Phone: "+8613800138000"},
				},
			},
		},
		{
			name:  "type flag overrides the file's",
			flags: publishFlags{file: file, typ: "PIPELINE_COMPLETED"},
			want: herald.Event{
				EventID: "rollout-7-failed", Type: herald.PipelineCompleted, Title: "From the file",
				Rollout:    &herald.Rollout{ID: "7", Title: "Release 1.4", FailedTasks: []herald.FailedTask{{Name: "migrate", Database: "orders", Error: "lock timeout"}}},
				Actor:      &herald.User{Name: "Alice", Email: "alice@example.com"},
				Recipients: []herald.User{{Email: "bob@example.com"}},
			},
		},
		{
			name:  "standard input",
			flags: publishFlags{file: "-", issueTitle: "Renamed"},
			stdin: `{"type": "ISSUE_CREATED", "issue": {"id": "1", "title": "Original"}}`,
			want: herald.Event{
				Type:  herald.IssueCreated,
				Issue: &herald.Issue{ID: "1", Title: "Renamed"},
			},
		},
		{
			name:  "recipients",
			flags: publishFlags{typ: "ISSUE_APPROVAL_REQUESTED", recipients: []string{"a@example.com", "+14155550100", "b@example.com"}},
			want: herald.Event{
				Type:       herald.IssueApprovalRequested,
				Recipients: []herald.User{{Email: "a@example.com"}, {Phone: "+14155550100"}, {Email: "b@example.com"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.flags.event(strings.NewReader(tt.stdin))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				gj, _ := json.Marshal(got)
				wj, _ := json.Marshal(tt.want)
				t.Errorf("event =\n%s\nwant\n%s", gj, wj)
			}
		})
	}
}

func TestPublishFlagsEventErrors(t *testing.T) {
	unknown := writeFile(t, `{"type": "ISSUE_CREATED", "colour": "red"}`)
	malformed := writeFile(t, `{"type": "ISSUE_CREATED",`)
	noType := writeFile(t, `{"title": "untyped"}`)
	tests := []struct {
		name  string
		flags publishFlags
		stdin string
		want  string // substring of the error
	}{
		{"unknown field", publishFlags{file: unknown}, "", "colour"},
		{"unknown field names the file", publishFlags{file: unknown}, "", unknown},
		{"malformed file", publishFlags{file: malformed}, "", malformed},
		{"missing file", publishFlags{file: filepath.Join(t.TempDir(), "nope.json")}, "", "nope.json"},
		{"unknown field on standard input", publishFlags{file: "-"}, `{"type": "ISSUE_CREATED", "bogus": 1}`, "bogus"},
		{"no type", publishFlags{title: "T"}, "", "type"},
		{"no type in the file", publishFlags{file: noType}, "", "type"},
		{"nothing at all", publishFlags{}, "", "type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := tt.flags.event(strings.NewReader(tt.stdin))
			if err == nil {
				t.Fatalf("event = %+v, want an error", ev)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// fakeHerald is an API server that records the publish calls it gets.
type fakeHerald struct {
	*httptest.Server
	mu    sync.Mutex
	calls []publishCall
}

type publishCall struct {
	method, path, authorization, contentType string
	event                                    herald.Event
	decodeErr                                error
}

func newFakeHerald(t *testing.T) *fakeHerald {
	f := &fakeHerald{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := publishCall{method: r.Method, path: r.URL.Path, authorization: r.Header.Get("Authorization"), contentType: r.Header.Get("Content-Type")}
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		c.decodeErr = dec.Decode(&c.event)
		f.mu.Lock()
		f.calls = append(f.calls, c)
		f.mu.Unlock()
		if c.authorization != "Bearer test-token" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "missing or wrong bearer token"}}`)
			return
		}
		if c.decodeErr != nil || c.event.Type == "" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "type: is required"}}`)
			return
		}
		stored := c.event
		stored.Name = "projects/payments/events/" + stored.EventID
		stored.Deliveries = []herald.Delivery{{Name: "projects/payments/deliveries/d1", State: herald.StatePending, Route: herald.RouteChannel}}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(stored)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeHerald) only(t *testing.T) publishCall {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) != 1 {
		t.Fatalf("the server got %d calls, want 1", len(f.calls))
	}
	return f.calls[0]
}

// runPublish runs `event publish` with args and returns its output.
func runPublish(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := publishCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

// clearEnv keeps the developer's environment out of the command.
func clearEnv(t *testing.T) {
	for _, k := range []string{"HERALD_TOKEN", "HERALD_ADMIN_TOKEN", "HERALD_SERVER"} {
		t.Setenv(k, "")
	}
}

func TestPublishCommand(t *testing.T) {
	clearEnv(t)
	srv := newFakeHerald(t)
	out, err := runPublish(t, "",
		"--server", srv.URL+"/", "--token", "test-token", "--project", "payments",
		"--event-id", "rollout-7", "--type", "PIPELINE_FAILED",
		"--rollout-id", "7", "--rollout-title", "Release 1.4", "--rollout-url", "https://ci.example.com/7",
		"--environment", "prod", "--recipient", "bob@example.com", "--recipient", "+8613800138000",
	)
	if err != nil {
		t.Fatal(err)
	}
	c := srv.only(t)
	if c.method != http.MethodPost || c.path != "/v1/projects/payments/events" {
		t.Errorf("request = %s %s, want POST /v1/projects/payments/events", c.method, c.path)
	}
	if c.authorization != "Bearer test-token" {
		t.Errorf("Authorization = %q, want Bearer test-token", c.authorization)
	}
	if !strings.HasPrefix(c.contentType, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", c.contentType)
	}
	if c.decodeErr != nil {
		t.Fatalf("the body is not an event: %v", c.decodeErr)
	}
	want := herald.Event{
		EventID: "rollout-7", Type: herald.PipelineFailed, Environment: "prod",
		Rollout:    &herald.Rollout{ID: "7", Title: "Release 1.4", URL: "https://ci.example.com/7"},
		Recipients: []herald.User{{Email: "bob@example.com"}, {Phone: "+8613800138000"}},
	}
	if !reflect.DeepEqual(c.event, want) {
		t.Errorf("body = %+v, want %+v", c.event, want)
	}

	var printed herald.Event
	if err := json.Unmarshal([]byte(out), &printed); err != nil {
		t.Fatalf("output %q is not JSON: %v", out, err)
	}
	if printed.Name != "projects/payments/events/rollout-7" || len(printed.Deliveries) != 1 {
		t.Errorf("printed event %+v, want the stored event with its delivery", printed)
	}
}

func TestPublishCommandFromStdin(t *testing.T) {
	clearEnv(t)
	t.Setenv("HERALD_TOKEN", "test-token")
	srv := newFakeHerald(t)
	t.Setenv("HERALD_SERVER", srv.URL)
	_, err := runPublish(t, `{"type": "ISSUE_CREATED", "issue": {"id": "1", "title": "Add index"}}`,
		"--project", "payments", "--file", "-", "--actor-name", "Alice")
	if err != nil {
		t.Fatal(err)
	}
	c := srv.only(t)
	if c.authorization != "Bearer test-token" {
		t.Errorf("Authorization = %q, want the token from HERALD_TOKEN", c.authorization)
	}
	want := herald.Event{Type: herald.IssueCreated, Issue: &herald.Issue{ID: "1", Title: "Add index"}, Actor: &herald.User{Name: "Alice"}}
	if !reflect.DeepEqual(c.event, want) {
		t.Errorf("body = %+v, want %+v", c.event, want)
	}
}

func TestPublishCommandAdminTokenFallback(t *testing.T) {
	clearEnv(t)
	t.Setenv("HERALD_ADMIN_TOKEN", "test-token")
	srv := newFakeHerald(t)
	if _, err := runPublish(t, "", "--server", srv.URL, "--project", "payments", "--type", "ISSUE_CREATED",
		"--issue-id", "1", "--issue-title", "T"); err != nil {
		t.Fatal(err)
	}
	if c := srv.only(t); c.authorization != "Bearer test-token" {
		t.Errorf("Authorization = %q, want the token from HERALD_ADMIN_TOKEN", c.authorization)
	}
}

func TestPublishCommandErrors(t *testing.T) {
	clearEnv(t)
	srv := newFakeHerald(t)
	tests := []struct {
		name   string
		args   []string
		want   string
		called bool
	}{
		{"no token", []string{"--server", srv.URL, "--project", "payments", "--type", "ISSUE_CREATED"}, "token", false},
		{"no project", []string{"--server", srv.URL, "--token", "test-token", "--type", "ISSUE_CREATED"}, "--project", false},
		{"no type", []string{"--server", srv.URL, "--token", "test-token", "--project", "payments"}, "type", false},
		{"positional argument", []string{"--server", srv.URL, "--token", "test-token", "--project", "payments", "--type", "ISSUE_CREATED", "extra"}, "extra", false},
		{"wrong token", []string{"--server", srv.URL, "--token", "nope", "--project", "payments", "--type", "ISSUE_CREATED"}, "401", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.mu.Lock()
			srv.calls = nil
			srv.mu.Unlock()
			out, err := runPublish(t, "", tt.args...)
			if err == nil {
				t.Fatalf("publish succeeded with output %q", out)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			srv.mu.Lock()
			called := len(srv.calls) > 0
			srv.mu.Unlock()
			if called != tt.called {
				t.Errorf("server called: %v, want %v", called, tt.called)
			}
		})
	}
}

func TestMigrateCommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "m.db")
	cmd := migrateCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--database", db})
	if err := cmd.ExecuteContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "up to date") {
		t.Fatalf("output %q", out.String())
	}
	conn, err := sqlite.OpenDB(db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n int
	if err := conn.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE name IN ('herald_project', 'herald_delivery', 'river_job')`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("tables after migrate: %d (%v)", n, err)
	}
}
