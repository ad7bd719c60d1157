package platformtest

import (
	"errors"
	"strings"
	"testing"

	"github.com/heraldhq/herald/message"
)

func TestCheckPayload(t *testing.T) {
	accept := func([]byte) error { return nil }
	refuse := func([]byte) error { return errors.New("too long") }
	tests := []struct {
		name, payload string
		check         func([]byte) error
		failure       string
	}{
		{"good", `{"text":"Herald"}`, accept, ""},
		{"not JSON", `{"text":"Herald"`, accept, "not valid UTF-8 JSON"},
		{"not UTF-8", "{\"text\":\"Herald \xff\"}", accept, "not valid UTF-8 JSON"},
		{"refused", `{"text":"Herald"}`, refuse, "would refuse the payload: too long"},
		{"no Herald", `{"text":"hello"}`, accept, "does not name Herald"},
	}
	for _, tt := range tests {
		f := &failures{TB: t}
		ok := CheckPayload(f, tt.name, []byte(tt.payload), tt.check)
		switch {
		case tt.failure == "" && (!ok || len(f.msgs) > 0):
			t.Errorf("%s: failed: %q", tt.name, f.msgs)
		case tt.failure != "" && (ok || len(f.msgs) != 1 || !strings.Contains(f.msgs[0], tt.failure)):
			t.Errorf("%s: %v, failures %q, want one containing %q", tt.name, ok, f.msgs, tt.failure)
		}
	}
	// A fake's check may return a pointer type, nil when it accepts.
	type refusal struct{ error }
	if f := (&failures{TB: t}); !CheckPayload(f, "pointer", []byte(`"Herald"`), func([]byte) *refusal { return nil }) {
		t.Errorf("a nil *refusal failed: %q", f.msgs)
	}
}

func TestFuzzMessage(t *testing.T) {
	m := FuzzMessage("t", "d", "s", "l", "x", "k", 7)
	if m.Title != "t" || m.Description != "d" || m.Subject != "s" || m.Link != "l" || m.Details != "x" || m.Keyword != "k" ||
		len(m.FailedTasks) != message.MaxFailedTasks || m.MoreTasks != 2 {
		t.Errorf("FuzzMessage = %+v", m)
	}
	if m := FuzzMessage("", "", "", "", "", "", -3); len(m.FailedTasks) != 0 || m.MoreTasks != 0 {
		t.Errorf("negative tasks: %+v", m)
	}
}
