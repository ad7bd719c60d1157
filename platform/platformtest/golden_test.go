package platformtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// failures is a testing.TB that collects failures instead of failing.
type failures struct {
	testing.TB
	msgs []string
}

func (f *failures) Helper() {}
func (f *failures) Errorf(format string, args ...any) {
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
}
func (f *failures) Fatalf(format string, args ...any) { f.Errorf(format, args...) }

func TestGolden(t *testing.T) {
	if *update {
		t.Skip("the golden files of this test are written by the test itself")
	}
	path := filepath.Join(t.TempDir(), "x.json")
	if err := os.WriteFile(path, []byte("{\n  \"a\": [\n    1\n  ]\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, got, failure string
	}{
		{"same once indented", path, `{"a":[1]}`, ""},
		{"different", path, `{"a":[2]}`, "differs from the payload"},
		{"not JSON", path, `{"a":`, "payload is not JSON"},
		{"no golden file", path + ".missing", `{}`, "run go test with -update to create it"},
	}
	for _, tt := range tests {
		f := &failures{TB: t}
		Golden(f, tt.path, []byte(tt.got))
		switch {
		case tt.failure == "" && len(f.msgs) > 0:
			t.Errorf("%s: failed: %q", tt.name, f.msgs)
		case tt.failure != "" && (len(f.msgs) != 1 || !strings.Contains(f.msgs[0], tt.failure)):
			t.Errorf("%s: failures %q, want one containing %q", tt.name, f.msgs, tt.failure)
		}
	}
}
