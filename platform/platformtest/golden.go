package platformtest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"
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
