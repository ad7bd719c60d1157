package platformtest

import (
	"fmt"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
)

// FixtureTime is when every fixture event occurred; its creation time is
// two seconds later. Golden files depend on it: do not change it.
var FixtureTime = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

// FixtureKeyword is the webhook keyword FixtureMessage carries for
// herald.IssueApprovalRequested (and only for it).
const FixtureKeyword = "deploy-bot"

// Fixture returns one realistic event of type typ, with its project, as
// stored and read back: the same data for every platform, so that their
// golden files show the same events. Each call returns new values, which
// the caller may modify.
func Fixture(typ herald.EventType) (*herald.Project, *herald.Event) {
	project := &herald.Project{
		Name: herald.ProjectName("payments"), ProjectID: "payments", Title: "Payments",
		CreateTime: FixtureTime.Add(-90 * 24 * time.Hour), UpdateTime: FixtureTime.Add(-90 * 24 * time.Hour),
	}
	alice := &herald.User{Name: "Alice Chen", Email: "alice@example.com"}
	bob := herald.User{Name: "Bob Li", Email: "bob@example.com", Phone: "+8613800138000"}
	dana := herald.User{Name: "Dana Ortiz", Email: "dana@example.com"}
	issue := &herald.Issue{
		ID:          "1042",
		Title:       "Add index on ledger_entries (created_at)",
		Description: "Speeds up the nightly reconciliation report.\nReviewed with the DBA team.",
		Status:      "OPEN",
		URL:         "https://console.example.com/projects/payments/issues/1042",
		Creator:     alice,
	}
	rollout := &herald.Rollout{
		ID:          "318",
		Title:       "Release 2026.03.14",
		URL:         "https://console.example.com/projects/payments/rollouts/318",
		Stage:       "prod-eu",
		Environment: "prod",
	}
	occur, created := FixtureTime, FixtureTime.Add(2*time.Second)
	id := "evt-" + string(typ)
	e := &herald.Event{
		Name:       herald.EventName("payments", id),
		EventID:    id,
		Type:       typ,
		Actor:      alice,
		OccurTime:  &occur,
		CreateTime: &created,
		ProjectID:  "payments",
		Deliveries: []herald.Delivery{{
			Name:    herald.DeliveryName("payments", "dlv-1"),
			Event:   herald.EventName("payments", id),
			Webhook: herald.WebhookName("payments", "wh-1"),
			State:   herald.StatePending,
			Route:   herald.RouteChannel,
		}},
	}
	switch typ {
	case herald.IssueCreated:
		e.Issue, e.Environment = issue, "prod"
	case herald.IssueApprovalRequested:
		e.Issue, e.Environment = issue, "prod"
		e.Recipients = []herald.User{bob, dana}
	case herald.IssueSentBack:
		e.Issue, e.Environment = issue, "prod"
		e.Comment = "Please add a rollback plan & run it on <staging> first."
		e.Recipients = []herald.User{*alice}
	case herald.IssueApproved:
		e.Issue, e.Environment = issue, "prod"
		e.Recipients = []herald.User{*alice}
	case herald.PipelineFailed:
		r := *rollout
		for i := 1; i <= 7; i++ {
			r.FailedTasks = append(r.FailedTasks, herald.FailedTask{
				Name:     fmt.Sprintf("Migrate shard %d", i),
				Database: fmt.Sprintf("ledger-eu-%d", i),
				Error:    `ERROR: relation "ledger_entries" is locked (timeout after 30s)`,
			})
		}
		e.Rollout = &r
	case herald.PipelineCompleted:
		e.Rollout = rollout
	}
	return project, e
}

// FixtureMessage returns the message of the Fixture event of type typ, as
// a webhook with a keyword would receive it: the IssueApprovalRequested
// message carries FixtureKeyword, the others none.
func FixtureMessage(typ herald.EventType) *message.Message {
	m := message.New(Fixture(typ))
	if typ == herald.IssueApprovalRequested {
		m = m.WithKeyword(FixtureKeyword)
	}
	return m
}
