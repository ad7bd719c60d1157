package message_test

import (
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
)

func TestLevelEmoji(t *testing.T) {
	seen := map[string]bool{}
	for _, typ := range herald.EventTypes {
		e := message.LevelEmoji(typ.Level())
		if e == "" {
			t.Errorf("%s: level %s has no emoji", typ, typ.Level())
		}
		seen[e] = true
	}
	if len(seen) != 4 {
		t.Errorf("emoji %v, want one for each of the four levels", seen)
	}
	if e := message.LevelEmoji("LOUD"); e != "" {
		t.Errorf("an unknown level has the emoji %q", e)
	}
}
