package platformtest

import (
	"testing"

	"github.com/heraldhq/herald"
)

func TestFixture(t *testing.T) {
	for _, typ := range herald.EventTypes {
		p, e := Fixture(typ)
		if p.ProjectID != "payments" || e.Type != typ || e.ProjectID != p.ProjectID || len(e.Deliveries) != 1 {
			t.Errorf("%s: project %+v, event %+v", typ, p, e)
		}
		if (e.Issue == nil) == (e.Rollout == nil) {
			t.Errorf("%s: the event should have an issue or a rollout, not both or neither", typ)
		}
		if !e.OccurTime.Equal(FixtureTime) {
			t.Errorf("%s: occurred at %v", typ, e.OccurTime)
		}
		e.Actor.Name = "changed"
		if _, again := Fixture(typ); again.Actor.Name != "Alice Chen" {
			t.Errorf("%s: fixtures share their values", typ)
		}
		m := FixtureMessage(typ)
		if want := map[bool]string{true: FixtureKeyword}[typ == herald.IssueApprovalRequested]; m.Keyword != want {
			t.Errorf("%s: keyword %q, want %q", typ, m.Keyword, want)
		}
		if m.Project != "Payments" || m.Title == "" {
			t.Errorf("%s: message %+v", typ, m)
		}
	}
}
