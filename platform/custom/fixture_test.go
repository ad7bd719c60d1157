package custom

// The fixture events of the golden tests. The same file stands in
// platform/custom so that every platform renders the same events; it belongs
// in a shared test-fixture package once there is one.

import (
	"fmt"
	"time"

	"github.com/heraldhq/herald"
)

// fixture is one realistic event of a type, as stored and read back.
type fixture struct {
	project *herald.Project
	event   *herald.Event
	// keyword is the webhook's keyword ("" for most types).
	keyword string
}

var fixtureTime = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

func newFixture(t herald.EventType) fixture {
	project := &herald.Project{
		Name: herald.ProjectName("payments"), ProjectID: "payments", Title: "Payments",
		CreateTime: fixtureTime.Add(-90 * 24 * time.Hour), UpdateTime: fixtureTime.Add(-90 * 24 * time.Hour),
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
	occur, created := fixtureTime, fixtureTime.Add(2*time.Second)
	id := "evt-" + string(t)
	e := &herald.Event{
		Name:       herald.EventName("payments", id),
		EventID:    id,
		Type:       t,
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
	f := fixture{project: project, event: e}
	switch t {
	case herald.IssueCreated:
		e.Issue, e.Environment = issue, "prod"
	case herald.IssueApprovalRequested:
		e.Issue, e.Environment = issue, "prod"
		e.Recipients = []herald.User{bob, dana}
		f.keyword = "deploy-bot"
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
	return f
}
