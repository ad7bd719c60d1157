package platformtest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
)

// update is registered once here, so every test binary that imports this
// package accepts -update (each package's tests are a binary of their own).
var update = flag.Bool("update", false, "rewrite golden files")

// Golden compares the JSON payload got, indented with two spaces and ended
// by a newline, byte for byte with the file at path (conventionally
// testdata/<name>.json) and fails t when they differ. When the test binary
// runs with -update, it writes the file instead.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	var b bytes.Buffer
	if err := json.Indent(&b, got, "", "  "); err != nil {
		t.Fatalf("payload is not JSON: %v\n%s", err, got)
		return
	}
	b.WriteByte('\n')
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test with -update to create it)", err)
		return
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("%s differs from the payload (run go test with -update to accept it):\n%s", path, b.Bytes())
	}
}

// ForEachType runs test in a subtest for every event type
// (herald.EventTypes), named after the type.
func ForEachType(t *testing.T, test func(t *testing.T, typ herald.EventType)) {
	t.Helper()
	for _, typ := range herald.EventTypes {
		t.Run(string(typ), func(t *testing.T) { test(t, typ) })
	}
}

// RenderFixtures runs a subtest for every event type that renders its
// FixtureMessage with render (failing at once when render fails) and hands
// test the message and its payload.
func RenderFixtures(t *testing.T, render func(*message.Message) ([]byte, error), test func(t *testing.T, m *message.Message, payload []byte)) {
	t.Helper()
	ForEachType(t, func(t *testing.T, typ herald.EventType) {
		m := FixtureMessage(typ)
		payload, err := render(m)
		if err != nil {
			t.Fatal(err)
		}
		test(t, m, payload)
	})
}

// GoldenPayloads runs a subtest for every event type that compares
// payload's answer for it with its golden file, dir/<TYPE>.json (see
// Golden). payload may fail its t, and check more.
func GoldenPayloads(t *testing.T, dir string, payload func(t *testing.T, typ herald.EventType) []byte) {
	t.Helper()
	ForEachType(t, func(t *testing.T, typ herald.EventType) {
		Golden(t, goldenPath(dir, typ), payload(t, typ))
	})
}

// GoldenRenders is GoldenPayloads for a platform's render function: the
// payload of each type is what render makes of its FixtureMessage, which
// check, the platform's rules as its fake enforces them (such as
// slacktest.Check), must accept.
func GoldenRenders[R comparable](t *testing.T, dir string, render func(*message.Message) ([]byte, error), check func([]byte) R) {
	t.Helper()
	RenderFixtures(t, render, func(t *testing.T, m *message.Message, payload []byte) {
		if r := check(payload); r != zero[R]() {
			t.Errorf("the platform would refuse the payload: %v", r)
		}
		Golden(t, goldenPath(dir, m.Type), payload)
	})
}

// goldenPath is the golden file of event type typ in dir.
func goldenPath(dir string, typ herald.EventType) string {
	return filepath.Join(dir, string(typ)+".json")
}

// zero is the zero value of R: nil for the error and *Refusal results of
// the fakes' checks.
func zero[R comparable]() R {
	var z R
	return z
}
