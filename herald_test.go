package herald_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/heraldhq/herald"
)

func TestEventValidate(t *testing.T) {
	issue := &herald.Issue{ID: "1", Title: "Add index"}
	rollout := &herald.Rollout{ID: "7", Title: "Release"}
	tests := []struct {
		name  string
		event herald.Event
		field string // "" when valid
	}{
		{"issue event", herald.Event{Type: herald.IssueCreated, Issue: issue}, ""},
		{"pipeline event", herald.Event{Type: herald.PipelineFailed, Rollout: rollout}, ""},
		{"unknown type", herald.Event{Type: "ISSUE_EXPLODED", Issue: issue}, "type"},
		{"no type", herald.Event{Issue: issue}, "type"},
		{"issue missing", herald.Event{Type: herald.IssueApprovalRequested}, "issue"},
		{"issue id missing", herald.Event{Type: herald.IssueSentBack, Issue: &herald.Issue{Title: "t"}}, "issue.id"},
		{"issue title blank", herald.Event{Type: herald.IssueApproved, Issue: &herald.Issue{ID: "1", Title: "  "}}, "issue.title"},
		{"rollout missing", herald.Event{Type: herald.PipelineCompleted}, "rollout"},
		{"rollout title missing", herald.Event{Type: herald.PipelineFailed, Rollout: &herald.Rollout{ID: "1"}}, "rollout.title"},
		{"bad event id", herald.Event{EventID: "a/b", Type: herald.IssueCreated, Issue: issue}, "eventId"},
		{"long event id", herald.Event{EventID: strings.Repeat("a", 129), Type: herald.IssueCreated, Issue: issue}, "eventId"},
		{"max event id", herald.Event{EventID: strings.Repeat("a", 128), Type: herald.IssueCreated, Issue: issue}, ""},
		{"relative link", herald.Event{Type: herald.IssueCreated, Issue: issue, Link: "/issues/1"}, "link"},
		{"ftp link", herald.Event{Type: herald.IssueCreated, Issue: issue, Link: "ftp://x/y"}, "link"},
		{"bad issue url", herald.Event{Type: herald.IssueCreated, Issue: &herald.Issue{ID: "1", Title: "t", URL: "nope"}}, "issue.url"},
		{"bad actor email", herald.Event{Type: herald.IssueCreated, Issue: issue, Actor: &herald.User{Email: "not-an-email"}}, "actor.email"},
		{"bad phone", herald.Event{Type: herald.IssueCreated, Issue: issue, Recipients: []herald.User{{Email: "a@b.co"}, {Phone: "13800138000"}}}, "recipients[1].phone"},
		{"good phone", herald.Event{Type: herald.IssueCreated, Issue: issue, Recipients: []herald.User{{Phone: "+8613800138000"}}}, ""},
		{"too many recipients", herald.Event{Type: herald.IssueCreated, Issue: issue, Recipients: make([]herald.User, 101)}, "recipients"},
		{"a rollout on an issue event is checked too", herald.Event{Type: herald.IssueCreated, Issue: issue, Rollout: &herald.Rollout{URL: "bad"}}, "rollout.url"},
	}
	for _, tt := range tests {
		err := tt.event.Validate()
		if tt.field == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		var he *herald.Error
		if err == nil || herald.ErrorCode(err) != herald.CodeInvalidArgument {
			t.Errorf("%s: %v, want INVALID_ARGUMENT", tt.name, err)
		} else if he = err.(*herald.Error); he.Field != tt.field {
			t.Errorf("%s: field %q, want %q (%v)", tt.name, he.Field, tt.field, err)
		}
	}
}

func TestValidateProjectIDAndTitle(t *testing.T) {
	for id, ok := range map[string]bool{"payments": true, "p": true, "a-1": true, "1abc": false, "Abc": false, "a_b": false, "": false, "a" + strings.Repeat("b", 62): true, "a" + strings.Repeat("b", 63): false} {
		if err := herald.ValidateProjectID(id); (err == nil) != ok {
			t.Errorf("ValidateProjectID(%q) = %v", id, err)
		}
	}
	for title, ok := range map[string]bool{"x": true, "  ": false, "": false, strings.Repeat("标", 200): true, strings.Repeat("标", 201): false} {
		if err := herald.ValidateTitle("title", title); (err == nil) != ok {
			t.Errorf("ValidateTitle(%q) = %v", title, err)
		}
	}
}

func TestViewLink(t *testing.T) {
	e := herald.Event{Issue: &herald.Issue{URL: "https://i"}, Rollout: &herald.Rollout{URL: "https://r"}}
	if e.ViewLink() != "https://i" {
		t.Fatal(e.ViewLink())
	}
	e.Link = "https://l"
	if e.ViewLink() != "https://l" {
		t.Fatal(e.ViewLink())
	}
	e = herald.Event{Rollout: &herald.Rollout{URL: "https://r"}}
	if e.ViewLink() != "https://r" {
		t.Fatal(e.ViewLink())
	}
}

func TestCutBody(t *testing.T) {
	long := strings.Repeat("é", herald.MaxAttemptBody) // 2 bytes each
	got := herald.CutBody(long)
	if len(got) > herald.MaxAttemptBody || !utf8.ValidString(got) || len(got) < herald.MaxAttemptBody-1 {
		t.Fatalf("cut to %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
	if got := herald.CutBody("a\x00b"); got != "ab" {
		t.Fatalf("NUL kept: %q", got)
	}
	if got := herald.CutBody("short"); got != "short" {
		t.Fatal(got)
	}
}

func TestEnums(t *testing.T) {
	dm := map[herald.WebhookType]bool{herald.Slack: true, herald.Teams: true, herald.DingTalk: true, herald.Feishu: true, herald.Lark: true, herald.WeCom: true}
	for _, typ := range herald.WebhookTypes {
		if !typ.Valid() || typ.SupportsDirectMessage() != dm[typ] {
			t.Errorf("%s: valid %v, direct messages %v", typ, typ.Valid(), typ.SupportsDirectMessage())
		}
	}
	if herald.WebhookType("PAGER").Valid() || herald.EventType("X").Valid() {
		t.Error("unknown values are valid")
	}
	levels := map[herald.EventType]herald.Level{
		herald.IssueCreated: herald.LevelInfo, herald.IssueApprovalRequested: herald.LevelWarn, herald.IssueSentBack: herald.LevelWarn,
		herald.IssueApproved: herald.LevelSuccess, herald.PipelineFailed: herald.LevelError, herald.PipelineCompleted: herald.LevelSuccess,
	}
	for typ, want := range levels {
		if typ.Level() != want {
			t.Errorf("%s level %s, want %s", typ, typ.Level(), want)
		}
	}
	if !herald.StateFailed.Final() || !herald.StateSucceeded.Final() || herald.StateRetrying.Final() || herald.StatePending.Final() {
		t.Error("Final")
	}
}
