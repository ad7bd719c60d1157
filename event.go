package herald

import (
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// EventType is the kind of thing that happened (SPEC §2). Webhooks subscribe
// to event types through their notificationTypes.
type EventType string

// Event types of SPEC §2.
const (
	IssueCreated           EventType = "ISSUE_CREATED"
	IssueApprovalRequested EventType = "ISSUE_APPROVAL_REQUESTED"
	IssueSentBack          EventType = "ISSUE_SENT_BACK"
	IssueApproved          EventType = "ISSUE_APPROVED"
	PipelineFailed         EventType = "PIPELINE_FAILED"
	PipelineCompleted      EventType = "PIPELINE_COMPLETED"
)

// EventTypes lists every event type, in the order of SPEC §2.
var EventTypes = []EventType{IssueCreated, IssueApprovalRequested, IssueSentBack, IssueApproved, PipelineFailed, PipelineCompleted}

// Valid reports whether t is one of EventTypes.
func (t EventType) Valid() bool {
	for _, v := range EventTypes {
		if t == v {
			return true
		}
	}
	return false
}

// IsIssue reports whether events of this type describe an issue.
func (t EventType) IsIssue() bool { return strings.HasPrefix(string(t), "ISSUE_") }

// IsPipeline reports whether events of this type describe a rollout.
func (t EventType) IsPipeline() bool { return strings.HasPrefix(string(t), "PIPELINE_") }

// Level is how loudly a message should speak; platforms map it to a colour
// or an emoji.
type Level string

// Levels of SPEC §2.
const (
	LevelInfo    Level = "INFO"
	LevelWarn    Level = "WARN"
	LevelError   Level = "ERROR"
	LevelSuccess Level = "SUCCESS"
)

// Level returns the level of events of this type.
func (t EventType) Level() Level {
	switch t {
	case IssueApprovalRequested, IssueSentBack:
		return LevelWarn
	case IssueApproved, PipelineCompleted:
		return LevelSuccess
	case PipelineFailed:
		return LevelError
	}
	return LevelInfo
}

// User is a person named by an event.
type User struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty" doc:"E.164, e.g. +8613800138000"`
}

// Issue is the issue an ISSUE_* event is about.
type Issue struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	Status      string `json:"status,omitempty"`
	URL         string `json:"url,omitempty"`
	Creator     *User  `json:"creator,omitempty"`
}

// FailedTask is one task of a failed rollout.
type FailedTask struct {
	Name     string `json:"name,omitempty"`
	Database string `json:"database,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Rollout is the deployment a PIPELINE_* event is about.
type Rollout struct {
	ID          string       `json:"id"`
	Title       string       `json:"title"`
	URL         string       `json:"url,omitempty"`
	Stage       string       `json:"stage,omitempty"`
	Environment string       `json:"environment,omitempty"`
	FailedTasks []FailedTask `json:"failedTasks,omitempty"`
}

// Event is something that happened in a project, as its producer published it.
// The stored event adds Name, CreateTime and, when read back, its Deliveries.
type Event struct {
	Name        string     `json:"name,omitempty" readOnly:"true"`
	EventID     string     `json:"eventId,omitempty" doc:"Idempotency key, unique per project"`
	Type        EventType  `json:"type" enum:"ISSUE_CREATED,ISSUE_APPROVAL_REQUESTED,ISSUE_SENT_BACK,ISSUE_APPROVED,PIPELINE_FAILED,PIPELINE_COMPLETED"`
	Title       string     `json:"title,omitempty"`
	Description string     `json:"description,omitempty"`
	Link        string     `json:"link,omitempty"`
	Actor       *User      `json:"actor,omitempty"`
	Issue       *Issue     `json:"issue,omitempty"`
	Rollout     *Rollout   `json:"rollout,omitempty"`
	Comment     string     `json:"comment,omitempty"`
	Environment string     `json:"environment,omitempty"`
	Recipients  []User     `json:"recipients,omitempty"`
	OccurTime   *time.Time `json:"occurTime,omitempty"`
	CreateTime  *time.Time `json:"createTime,omitempty" readOnly:"true"`
	Deliveries  []Delivery `json:"deliveries,omitempty" readOnly:"true"`

	ProjectID string `json:"-"`
}

// EventName returns the resource name of an event.
func EventName(projectID, eventID string) string {
	return ProjectName(projectID) + "/events/" + eventID
}

// MaxRecipients is how many recipients one event may name.
const MaxRecipients = 100

var (
	projectIDPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	eventIDPattern   = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,128}$`)
	phonePattern     = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
)

// ValidateProjectID checks a project id against SPEC §1.
func ValidateProjectID(id string) error {
	if !projectIDPattern.MatchString(id) {
		return Invalidf("projectId", "must match ^[a-z][a-z0-9-]{0,62}$, got %q", id)
	}
	return nil
}

// ValidateTitle checks a project or webhook title: 1–200 characters.
func ValidateTitle(field, title string) error {
	n := len([]rune(strings.TrimSpace(title)))
	if n == 0 {
		return Invalidf(field, "is required")
	}
	if len([]rune(title)) > 200 {
		return Invalidf(field, "must be at most 200 characters, got %d", len([]rune(title)))
	}
	return nil
}

// Validate checks an event as published, before anything is stored. The
// error names the first offending field.
func (e *Event) Validate() error {
	if e.EventID != "" && !eventIDPattern.MatchString(e.EventID) {
		return Invalidf("eventId", "must be 1–128 characters of letters, digits, '.', '_', '~' or '-'")
	}
	if !e.Type.Valid() {
		return Invalidf("type", "must be one of %s, got %q", joinEnum(EventTypes), e.Type)
	}
	if e.Type.IsIssue() {
		if e.Issue == nil {
			return Invalidf("issue", "is required for %s events", e.Type)
		}
		if strings.TrimSpace(e.Issue.ID) == "" {
			return Invalidf("issue.id", "is required")
		}
		if strings.TrimSpace(e.Issue.Title) == "" {
			return Invalidf("issue.title", "is required")
		}
		if err := validateLink("issue.url", e.Issue.URL); err != nil {
			return err
		}
		if err := validateUser("issue.creator", e.Issue.Creator); err != nil {
			return err
		}
	}
	if e.Type.IsPipeline() {
		if e.Rollout == nil {
			return Invalidf("rollout", "is required for %s events", e.Type)
		}
		if strings.TrimSpace(e.Rollout.ID) == "" {
			return Invalidf("rollout.id", "is required")
		}
		if strings.TrimSpace(e.Rollout.Title) == "" {
			return Invalidf("rollout.title", "is required")
		}
	}
	if e.Rollout != nil {
		if err := validateLink("rollout.url", e.Rollout.URL); err != nil {
			return err
		}
	}
	if err := validateLink("link", e.Link); err != nil {
		return err
	}
	if err := validateUser("actor", e.Actor); err != nil {
		return err
	}
	if len(e.Recipients) > MaxRecipients {
		return Invalidf("recipients", "must name at most %d people, got %d", MaxRecipients, len(e.Recipients))
	}
	for i := range e.Recipients {
		if err := validateUser(fmt.Sprintf("recipients[%d]", i), &e.Recipients[i]); err != nil {
			return err
		}
	}
	return nil
}

func validateLink(field, link string) error {
	if link == "" {
		return nil
	}
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Invalidf(field, "must be an absolute http or https URL")
	}
	return nil
}

func validateUser(field string, u *User) error {
	if u == nil {
		return nil
	}
	if u.Email != "" {
		if a, err := mail.ParseAddress(u.Email); err != nil || a.Address != u.Email {
			return Invalidf(field+".email", "is not an email address: %q", u.Email)
		}
	}
	if u.Phone != "" && !phonePattern.MatchString(u.Phone) {
		return Invalidf(field+".phone", "must be in E.164 form such as +8613800138000, got %q", u.Phone)
	}
	return nil
}

// ViewLink returns where the message's "View" button points: the event's link,
// else the issue's URL, else the rollout's URL.
func (e *Event) ViewLink() string {
	switch {
	case e.Link != "":
		return e.Link
	case e.Issue != nil && e.Issue.URL != "":
		return e.Issue.URL
	case e.Rollout != nil && e.Rollout.URL != "":
		return e.Rollout.URL
	}
	return ""
}

func joinEnum[T ~string](vs []T) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}
