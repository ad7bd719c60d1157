package message_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
)

var project = &herald.Project{ProjectID: "payments", Title: "Payments"}

func issue() *herald.Issue {
	return &herald.Issue{ID: "42", Title: "Add index on orders", Description: "needs review", URL: "https://console.example.com/issues/42"}
}

func rollout() *herald.Rollout {
	return &herald.Rollout{ID: "7", Title: "Release 1.4", URL: "https://console.example.com/rollouts/7", Stage: "deploy", Environment: "staging"}
}

func TestNewDefaults(t *testing.T) {
	alice := &herald.User{Name: "Alice Chen", Email: "alice@example.com", Phone: "+8613800138000"}
	tests := []struct {
		name      string
		event     herald.Event
		level     herald.Level
		title     string
		desc      string
		subject   string
		kind      string
		actorShow string
	}{
		{
			name:  "issue created",
			event: herald.Event{Type: herald.IssueCreated, Actor: alice, Issue: issue()},
			level: herald.LevelInfo, title: "Issue created", desc: "Alice Chen created issue Add index on orders",
			subject: "Add index on orders", kind: "Issue", actorShow: "Alice Chen",
		},
		{
			name:  "approval requested",
			event: herald.Event{Type: herald.IssueApprovalRequested, Actor: alice, Issue: issue()},
			level: herald.LevelWarn, title: "Approval requested", desc: "Add index on orders is waiting for approval",
			subject: "Add index on orders", kind: "Issue", actorShow: "Alice Chen",
		},
		{
			name:  "sent back with comment",
			event: herald.Event{Type: herald.IssueSentBack, Actor: alice, Issue: issue(), Comment: "please add a rollback plan"},
			level: herald.LevelWarn, title: "Issue sent back", desc: "Alice Chen sent back the issue: please add a rollback plan",
			subject: "Add index on orders", kind: "Issue", actorShow: "Alice Chen",
		},
		{
			name:  "sent back without comment",
			event: herald.Event{Type: herald.IssueSentBack, Actor: alice, Issue: issue()},
			level: herald.LevelWarn, title: "Issue sent back", desc: "Alice Chen sent back the issue",
			subject: "Add index on orders", kind: "Issue", actorShow: "Alice Chen",
		},
		{
			name:  "approved",
			event: herald.Event{Type: herald.IssueApproved, Actor: alice, Issue: issue()},
			level: herald.LevelSuccess, title: "Issue approved", desc: "Alice Chen approved the issue",
			subject: "Add index on orders", kind: "Issue", actorShow: "Alice Chen",
		},
		{
			name:  "pipeline failed",
			event: herald.Event{Type: herald.PipelineFailed, Actor: alice, Rollout: rollout()},
			level: herald.LevelError, title: "Rollout failed", desc: "Release 1.4 failed",
			subject: "Release 1.4", kind: "Rollout", actorShow: "Alice Chen",
		},
		{
			name:  "pipeline completed",
			event: herald.Event{Type: herald.PipelineCompleted, Actor: alice, Rollout: rollout()},
			level: herald.LevelSuccess, title: "Rollout completed", desc: "Release 1.4 completed successfully",
			subject: "Release 1.4", kind: "Rollout", actorShow: "Alice Chen",
		},
		{
			name:  "actor falls back to email",
			event: herald.Event{Type: herald.IssueApproved, Actor: &herald.User{Email: "bob@example.com", Phone: "+8613800138000"}, Issue: issue()},
			level: herald.LevelSuccess, title: "Issue approved", desc: "bob@example.com approved the issue",
			subject: "Add index on orders", kind: "Issue", actorShow: "bob@example.com",
		},
		{
			name:  "actor falls back to phone",
			event: herald.Event{Type: herald.IssueCreated, Actor: &herald.User{Phone: "+8613800138000"}, Issue: issue()},
			level: herald.LevelInfo, title: "Issue created", desc: "+8613800138000 created issue Add index on orders",
			subject: "Add index on orders", kind: "Issue", actorShow: "+8613800138000",
		},
		{
			name:  "no actor is Someone",
			event: herald.Event{Type: herald.IssueSentBack, Issue: issue(), Comment: "why"},
			level: herald.LevelWarn, title: "Issue sent back", desc: "Someone sent back the issue: why",
			subject: "Add index on orders", kind: "Issue",
		},
		{
			name:  "empty actor is Someone",
			event: herald.Event{Type: herald.IssueApproved, Actor: &herald.User{}, Issue: issue()},
			level: herald.LevelSuccess, title: "Issue approved", desc: "Someone approved the issue",
			subject: "Add index on orders", kind: "Issue",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := message.New(project, &tt.event)
			if m.Type != tt.event.Type {
				t.Errorf("Type = %q, want %q", m.Type, tt.event.Type)
			}
			if m.Level != tt.level {
				t.Errorf("Level = %q, want %q", m.Level, tt.level)
			}
			if m.Title != tt.title {
				t.Errorf("Title = %q, want %q", m.Title, tt.title)
			}
			if m.Description != tt.desc {
				t.Errorf("Description = %q, want %q", m.Description, tt.desc)
			}
			if m.Subject != tt.subject || m.SubjectKind != tt.kind {
				t.Errorf("Subject = %q (%q), want %q (%q)", m.Subject, m.SubjectKind, tt.subject, tt.kind)
			}
			if m.Actor != tt.actorShow {
				t.Errorf("Actor = %q, want %q", m.Actor, tt.actorShow)
			}
			if m.Project != "Payments" {
				t.Errorf("Project = %q, want Payments", m.Project)
			}
			if strings.HasSuffix(m.Description, ":") || strings.HasSuffix(m.Description, ": ") {
				t.Errorf("Description %q ends with a colon", m.Description)
			}
		})
	}
}

func TestNewIssueDetails(t *testing.T) {
	m := message.New(project, &herald.Event{Type: herald.IssueCreated, Issue: issue()})
	if m.Details != "needs review" {
		t.Errorf("Details = %q, want the issue's description", m.Details)
	}
}

func TestNewOverrides(t *testing.T) {
	for _, typ := range herald.EventTypes {
		t.Run(string(typ), func(t *testing.T) {
			e := &herald.Event{Type: typ, Issue: issue(), Rollout: rollout(), Title: "Custom title", Description: "Custom description"}
			m := message.New(project, e)
			if m.Title != "Custom title" || m.Description != "Custom description" {
				t.Errorf("Title, Description = %q, %q; want the overrides", m.Title, m.Description)
			}
			if m.Level != typ.Level() {
				t.Errorf("Level = %q, want %q (overrides keep the level)", m.Level, typ.Level())
			}
		})
	}
}

func TestNewSubjectOfPipelineWithIssue(t *testing.T) {
	// A pipeline event that also names an issue is about its rollout.
	m := message.New(project, &herald.Event{Type: herald.PipelineCompleted, Issue: issue(), Rollout: rollout()})
	if m.Subject != "Release 1.4" || m.SubjectKind != "Rollout" {
		t.Errorf("Subject = %q (%q), want the rollout", m.Subject, m.SubjectKind)
	}
	// An issue event that also names a rollout is about its issue.
	m = message.New(project, &herald.Event{Type: herald.IssueCreated, Issue: issue(), Rollout: rollout()})
	if m.Subject != "Add index on orders" || m.SubjectKind != "Issue" {
		t.Errorf("Subject = %q (%q), want the issue", m.Subject, m.SubjectKind)
	}
}

func TestNewLink(t *testing.T) {
	const (
		link       = "https://example.com/link"
		issueURL   = "https://example.com/issue"
		rolloutURL = "https://example.com/rollout"
	)
	tests := []struct {
		name    string
		link    string
		issue   string
		rollout string
		want    string
	}{
		{"event link wins", link, issueURL, rolloutURL, link},
		{"issue url next", "", issueURL, rolloutURL, issueURL},
		{"rollout url last", "", "", rolloutURL, rolloutURL},
		{"none", "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &herald.Event{
				Type: herald.IssueCreated, Link: tt.link,
				Issue:   &herald.Issue{ID: "1", Title: "T", URL: tt.issue},
				Rollout: &herald.Rollout{ID: "2", Title: "R", URL: tt.rollout},
			}
			if got := message.New(project, e).Link; got != tt.want {
				t.Errorf("Link = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewEnvironment(t *testing.T) {
	tests := []struct {
		name    string
		event   string
		rollout *herald.Rollout
		want    string
	}{
		{"event environment wins", "prod", rollout(), "prod"},
		{"falls back to rollout", "", rollout(), "staging"},
		{"no rollout", "", nil, ""},
		{"event only", "prod", nil, "prod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &herald.Event{Type: herald.PipelineCompleted, Environment: tt.event, Rollout: tt.rollout}
			if got := message.New(project, e).Environment; got != tt.want {
				t.Errorf("Environment = %q, want %q", got, tt.want)
			}
		})
	}
	if got := message.New(project, &herald.Event{Type: herald.PipelineCompleted, Rollout: rollout()}).Stage; got != "deploy" {
		t.Errorf("Stage = %q, want deploy", got)
	}
}

func tasks(n int) []herald.FailedTask {
	out := make([]herald.FailedTask, n)
	for i := range out {
		out[i] = herald.FailedTask{Name: fmt.Sprintf("task%d", i+1), Database: "db", Error: "boom"}
	}
	return out
}

func TestNewFailedTasks(t *testing.T) {
	tests := []struct {
		n         int
		listed    int
		more      int
		lastLine  string
		lineCount int
	}{
		{0, 0, 0, "", 0},
		{1, 1, 0, "task1 (db): boom", 1},
		{5, 5, 0, "task5 (db): boom", 5},
		{6, 5, 1, "and 1 more", 6},
		{12, 5, 7, "and 7 more", 6},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) {
			r := rollout()
			r.FailedTasks = tasks(tt.n)
			m := message.New(project, &herald.Event{Type: herald.PipelineFailed, Rollout: r})
			if len(m.FailedTasks) != tt.listed || m.MoreTasks != tt.more {
				t.Fatalf("FailedTasks = %d, MoreTasks = %d; want %d, %d", len(m.FailedTasks), m.MoreTasks, tt.listed, tt.more)
			}
			if tt.listed > 0 && !reflect.DeepEqual(m.FailedTasks, r.FailedTasks[:tt.listed]) {
				t.Errorf("FailedTasks = %v, want the first %d", m.FailedTasks, tt.listed)
			}
			lines := m.TaskLines()
			if len(lines) != tt.lineCount {
				t.Fatalf("TaskLines = %q, want %d lines", lines, tt.lineCount)
			}
			if tt.lineCount > 0 && lines[len(lines)-1] != tt.lastLine {
				t.Errorf("last line = %q, want %q", lines[len(lines)-1], tt.lastLine)
			}
		})
	}
	// Other types do not list failed tasks.
	r := rollout()
	r.FailedTasks = tasks(3)
	if m := message.New(project, &herald.Event{Type: herald.PipelineCompleted, Rollout: r}); len(m.FailedTasks) != 0 || m.MoreTasks != 0 {
		t.Errorf("PIPELINE_COMPLETED lists %d failed tasks (+%d)", len(m.FailedTasks), m.MoreTasks)
	}
}

func TestTaskLinesFormat(t *testing.T) {
	m := &message.Message{FailedTasks: []herald.FailedTask{
		{Name: "migrate", Database: "orders", Error: "lock timeout"},
		{Name: "seed"},
		{Database: "users"},
		{Error: "oops"},
	}}
	want := []string{"migrate (orders): lock timeout", "seed", "task (users)", "task: oops"}
	if got := m.TaskLines(); !reflect.DeepEqual(got, want) {
		t.Errorf("TaskLines = %q, want %q", got, want)
	}
}

func TestFields(t *testing.T) {
	tests := []struct {
		name string
		m    message.Message
		want []message.Field
	}{
		{
			name: "all",
			m: message.Message{Subject: "Release", SubjectKind: "Rollout", Link: "https://x", Project: "P",
				Actor: "A", Environment: "prod", Stage: "deploy"},
			want: []message.Field{
				{Label: "Rollout", Value: "Release", URL: "https://x"},
				{Label: "Project", Value: "P"},
				{Label: "Actor", Value: "A"},
				{Label: "Environment", Value: "prod"},
				{Label: "Stage", Value: "deploy"},
			},
		},
		{
			name: "empty and blank skipped",
			m:    message.Message{Subject: "Issue T", SubjectKind: "Issue", Project: "  ", Environment: "prod"},
			want: []message.Field{
				{Label: "Issue", Value: "Issue T"},
				{Label: "Environment", Value: "prod"},
			},
		},
		{
			name: "subject without kind",
			m:    message.Message{Subject: "S"},
			want: []message.Field{{Label: "Subject", Value: "S"}},
		},
		{name: "nothing", m: message.Message{}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.Fields(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Fields = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestHeadingKeywordFooter(t *testing.T) {
	m := message.New(project, &herald.Event{Type: herald.IssueCreated, Issue: issue()})
	if got := m.Heading(); got != "Issue created" {
		t.Errorf("Heading = %q, want %q", got, "Issue created")
	}
	k := m.WithKeyword("deploy-bot")
	if got := k.Heading(); got != "Issue created · deploy-bot" {
		t.Errorf("Heading with keyword = %q", got)
	}
	if m.Keyword != "" {
		t.Errorf("WithKeyword changed the original: Keyword = %q", m.Keyword)
	}
	if k == m {
		t.Error("WithKeyword returned the same message")
	}
	if !strings.Contains(m.Footer(), "Herald") || !strings.Contains(m.Footer(), "Payments") {
		t.Errorf("Footer = %q, want Herald and the project", m.Footer())
	}
	if got := (&message.Message{}).Footer(); got != "Herald" {
		t.Errorf("Footer without project = %q, want Herald", got)
	}
}
