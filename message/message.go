// Package message turns an event into the platform-neutral message every chat
// platform renders: level, title, description, the linked issue or rollout,
// the facts around it and the "View" link (SPEC §2).
package message

import (
	"fmt"
	"strings"

	"github.com/heraldhq/herald"
)

// Brand is the word every message carries, so that DingTalk and Feishu
// keyword security can be set to it.
const Brand = "Herald"

// MaxFailedTasks is how many failed tasks a message lists before "and N more".
const MaxFailedTasks = 5

// Field is one labelled fact of a message.
type Field struct {
	Label string
	Value string
	URL   string // when set, Value links there
}

// Message is what every platform renders. Strings are plain text: each
// platform escapes them for its own markup and cuts them to its own limits.
type Message struct {
	Type        herald.EventType
	Level       herald.Level
	Title       string
	Description string
	// Subject is the issue or rollout title, linked to Link.
	Subject     string
	SubjectKind string // "Issue" or "Rollout"
	Link        string
	Project     string
	Actor       string
	Environment string
	Stage       string
	// Details is the issue's own description, when given.
	Details     string
	FailedTasks []herald.FailedTask // at most MaxFailedTasks
	MoreTasks   int                 // failed tasks not listed
	// Keyword is the webhook's keyword, placed in the title line when set.
	Keyword string
	// Recipients are the people the event names (DingTalk mentions them).
	Recipients []herald.User
}

// New builds the message of an event published to a project.
func New(p *herald.Project, e *herald.Event) *Message {
	m := &Message{
		Type:        e.Type,
		Level:       e.Type.Level(),
		Link:        e.ViewLink(),
		Project:     p.Title,
		Actor:       userName(e.Actor),
		Environment: e.Environment,
		Recipients:  e.Recipients,
	}
	if e.Issue != nil {
		m.Subject, m.SubjectKind, m.Details = e.Issue.Title, "Issue", e.Issue.Description
	}
	if e.Rollout != nil {
		if m.Subject == "" || e.Type.IsPipeline() {
			m.Subject, m.SubjectKind = e.Rollout.Title, "Rollout"
		}
		if m.Environment == "" {
			m.Environment = e.Rollout.Environment
		}
		m.Stage = e.Rollout.Stage
		if e.Type == herald.PipelineFailed {
			tasks := e.Rollout.FailedTasks
			if len(tasks) > MaxFailedTasks {
				m.MoreTasks = len(tasks) - MaxFailedTasks
				tasks = tasks[:MaxFailedTasks]
			}
			m.FailedTasks = tasks
		}
	}
	m.Title = cmpOr(e.Title, defaultTitle(e.Type))
	m.Description = cmpOr(e.Description, defaultDescription(e, m.Actor))
	return m
}

// WithKeyword returns a copy of m carrying a webhook's keyword.
func (m *Message) WithKeyword(keyword string) *Message {
	c := *m
	c.Keyword = keyword
	return &c
}

// Heading is the title line: the title, then the keyword when set.
func (m *Message) Heading() string {
	if m.Keyword != "" {
		return m.Title + " · " + m.Keyword
	}
	return m.Title
}

// Footer is the line that names Herald and the project.
func (m *Message) Footer() string {
	if m.Project != "" {
		return Brand + " · " + m.Project
	}
	return Brand
}

// Fields returns the facts of the message in display order, skipping empty
// ones. The subject comes first, linked when there is a link.
func (m *Message) Fields() []Field {
	var fs []Field
	add := func(label, value, url string) {
		if strings.TrimSpace(value) != "" {
			fs = append(fs, Field{Label: label, Value: value, URL: url})
		}
	}
	add(cmpOr(m.SubjectKind, "Subject"), m.Subject, m.Link)
	add("Project", m.Project, "")
	add("Actor", m.Actor, "")
	add("Environment", m.Environment, "")
	add("Stage", m.Stage, "")
	return fs
}

// TaskLines returns one line per failed task, and "and N more" when some were
// left out.
func (m *Message) TaskLines() []string {
	var lines []string
	for _, t := range m.FailedTasks {
		line := cmpOr(t.Name, "task")
		if t.Database != "" {
			line += " (" + t.Database + ")"
		}
		if t.Error != "" {
			line += ": " + t.Error
		}
		lines = append(lines, line)
	}
	if m.MoreTasks > 0 {
		lines = append(lines, fmt.Sprintf("and %d more", m.MoreTasks))
	}
	return lines
}

func defaultTitle(t herald.EventType) string {
	switch t {
	case herald.IssueCreated:
		return "Issue created"
	case herald.IssueApprovalRequested:
		return "Approval requested"
	case herald.IssueSentBack:
		return "Issue sent back"
	case herald.IssueApproved:
		return "Issue approved"
	case herald.PipelineFailed:
		return "Rollout failed"
	case herald.PipelineCompleted:
		return "Rollout completed"
	}
	return string(t)
}

func defaultDescription(e *herald.Event, actor string) string {
	who := cmpOr(actor, "Someone")
	issue, rollout := "", ""
	if e.Issue != nil {
		issue = e.Issue.Title
	}
	if e.Rollout != nil {
		rollout = e.Rollout.Title
	}
	switch e.Type {
	case herald.IssueCreated:
		return who + " created issue " + issue
	case herald.IssueApprovalRequested:
		return issue + " is waiting for approval"
	case herald.IssueSentBack:
		if e.Comment != "" {
			return who + " sent back the issue: " + e.Comment
		}
		return who + " sent back the issue"
	case herald.IssueApproved:
		return who + " approved the issue"
	case herald.PipelineFailed:
		return rollout + " failed"
	case herald.PipelineCompleted:
		return rollout + " completed successfully"
	}
	return ""
}

func userName(u *herald.User) string {
	if u == nil {
		return ""
	}
	return cmpOr(u.Name, u.Email, u.Phone)
}

func cmpOr(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
