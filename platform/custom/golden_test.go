package custom

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// checkGolden compares a JSON payload, indented with two spaces and ended by
// a newline, byte for byte with testdata/name; -update rewrites the file.
func checkGolden(t *testing.T, name string, payload []byte) {
	t.Helper()
	var b bytes.Buffer
	if err := json.Indent(&b, payload, "", "  "); err != nil {
		t.Fatalf("payload is not JSON: %v\n%s", err, payload)
	}
	b.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test with -update to create it)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("%s differs from the payload (run go test with -update to accept it):\n%s", path, b.Bytes())
	}
}
