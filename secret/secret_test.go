package secret

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func testKey(t *testing.T, fill byte) []byte {
	t.Helper()
	return bytes.Repeat([]byte{fill}, KeySize)
}

func newTestBox(t *testing.T, fill byte) *Box {
	t.Helper()
	b, err := NewBox(testKey(t, fill))
	if err != nil {
		t.Fatalf("NewBox: %v", err)
	}
	return b
}

func TestNewBoxKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := NewBox(make([]byte, n)); err == nil {
			t.Errorf("NewBox(%d-byte key) succeeded, want error", n)
		}
	}
	if _, err := NewBox(make([]byte, 32)); err != nil {
		t.Errorf("NewBox(32-byte key): %v", err)
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	b := newTestBox(t, 1)
	tests := []struct{ name, plaintext, aad string }{
		{"url", "https://hooks.slack.com/services/T000/B000/XXXX", "webhook-url:projects/p/webhooks/w"},
		{"one byte", "x", "a"},
		{"empty aad", "s3cr3t", ""},
		{"unicode", "密钥 🔑", "im:projects/p"},
		{"binary", "\x00\xff\x00\x01", "bin"},
		{"long", strings.Repeat("abcdefgh", 1000), "long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sealed := b.Seal(tt.plaintext, tt.aad)
			if got, want := len(sealed), len(tt.plaintext)+overhead; got != want {
				t.Errorf("len(sealed) = %d, want %d", got, want)
			}
			if sealed[0] != 0x01 {
				t.Errorf("version byte = %#x, want 0x01", sealed[0])
			}
			got, err := b.Open(sealed, tt.aad)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if got != tt.plaintext {
				t.Errorf("Open = %q, want %q", got, tt.plaintext)
			}
		})
	}
}

func TestSealHidesPlaintext(t *testing.T) {
	b := newTestBox(t, 1)
	for _, pt := range []string{
		"https://example.com/hook?token=supersecretvalue",
		strings.Repeat("A", 64),
	} {
		sealed := b.Seal(pt, "aad")
		if bytes.Contains(sealed, []byte(pt)) {
			t.Errorf("sealed value contains plaintext %q", pt)
		}
		// No 8-byte window of the plaintext may survive either.
		for i := 0; i+8 <= len(pt); i++ {
			if bytes.Contains(sealed, []byte(pt[i:i+8])) {
				t.Errorf("sealed value contains plaintext fragment %q", pt[i:i+8])
				break
			}
		}
	}
}

func TestSealRandomNonce(t *testing.T) {
	b := newTestBox(t, 1)
	seen := map[string]bool{}
	nonces := map[string]bool{}
	for i := 0; i < 100; i++ {
		s := b.Seal("same value", "same aad")
		if seen[string(s)] {
			t.Fatalf("seal %d repeated an earlier sealed value", i)
		}
		seen[string(s)] = true
		n := string(s[1 : 1+nonceSize])
		if nonces[n] {
			t.Fatalf("seal %d repeated an earlier nonce", i)
		}
		nonces[n] = true
	}
}

func assertCannotOpen(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if !errors.Is(err, ErrCannotOpen) {
		t.Fatalf("err = %v, want ErrCannotOpen", err)
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains secret material %q", err, s)
		}
	}
}

func TestOpenFailures(t *testing.T) {
	const pt, aad = "https://hooks.example.com/T0/secret-token", "webhook-url:projects/p/webhooks/w"
	b := newTestBox(t, 1)
	sealed := b.Seal(pt, aad)

	tests := []struct {
		name   string
		box    *Box
		sealed []byte
		aad    string
	}{
		{"wrong aad (other row)", b, sealed, "webhook-url:projects/p/webhooks/other"},
		{"wrong aad (other field)", b, sealed, "signing-secret:projects/p/webhooks/w"},
		{"empty aad", b, sealed, ""},
		{"wrong key", newTestBox(t, 2), sealed, aad},
		{"unknown version", b, append([]byte{0x02}, sealed[1:]...), aad},
		{"version only", b, []byte{0x01}, aad},
		{"tag missing", b, sealed[:len(sealed)-tagSize], aad},
		{"one byte short", b, sealed[:len(sealed)-1], aad},
		{"extra byte", b, append(append([]byte{}, sealed...), 0), aad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.box.Open(tt.sealed, tt.aad)
			if got != "" {
				t.Errorf("Open returned %q on failure", got)
			}
			assertCannotOpen(t, err, pt, aad)
		})
	}
}

func TestOpenTamperedEveryByte(t *testing.T) {
	b := newTestBox(t, 1)
	sealed := b.Seal("tamper me", "aad")
	for i := range sealed {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := append([]byte(nil), sealed...)
			bad[i] ^= mask
			if got, err := b.Open(bad, "aad"); err == nil {
				t.Fatalf("byte %d ^ %#x: Open = %q, nil; want ErrCannotOpen", i, mask, got)
			} else {
				assertCannotOpen(t, err, "tamper me")
			}
		}
	}
}

func TestOpenTruncated(t *testing.T) {
	b := newTestBox(t, 1)
	sealed := b.Seal("truncate me", "aad")
	// Length 0 is the documented "no secret" value; every other prefix fails.
	for n := 1; n < len(sealed); n++ {
		if got, err := b.Open(sealed[:n], "aad"); err == nil {
			t.Fatalf("Open(first %d of %d bytes) = %q, nil; want ErrCannotOpen", n, len(sealed), got)
		} else {
			assertCannotOpen(t, err, "truncate me")
		}
	}
}

func TestEmpty(t *testing.T) {
	b := newTestBox(t, 1)
	if s := b.Seal("", "aad"); s != nil {
		t.Errorf("Seal(\"\") = %x, want nil", s)
	}
	for _, in := range [][]byte{nil, {}} {
		got, err := b.Open(in, "aad")
		if err != nil || got != "" {
			t.Errorf("Open(%#v) = %q, %v; want \"\", nil", in, got, err)
		}
	}
}

func TestBoxConcurrentUse(t *testing.T) {
	b := newTestBox(t, 1)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				pt := strings.Repeat("v", g+i+1)
				got, err := b.Open(b.Seal(pt, "aad"), "aad")
				if err != nil || got != pt {
					t.Errorf("goroutine %d: round trip = %q, %v", g, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestParseKeyAccepts(t *testing.T) {
	key := make([]byte, KeySize)
	for i := range key {
		key[i] = byte(0xf8 + i) // produces '+', '/' (or '-', '_') in base64
	}
	tests := []struct {
		name, in string
	}{
		{"std", base64.StdEncoding.EncodeToString(key)},
		{"url", base64.URLEncoding.EncodeToString(key)},
		{"raw std", base64.RawStdEncoding.EncodeToString(key)},
		{"raw url", base64.RawURLEncoding.EncodeToString(key)},
		{"trailing newline", base64.StdEncoding.EncodeToString(key) + "\n"},
		{"surrounding spaces", "  " + base64.StdEncoding.EncodeToString(key) + " "},
	}
	if std, url := tests[0].in, tests[1].in; std == url {
		t.Fatalf("test key does not exercise URL-safe alphabet: %s", std)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKey(tt.in)
			if err != nil {
				t.Fatalf("ParseKey: %v", err)
			}
			if !bytes.Equal(got, key) {
				t.Errorf("ParseKey = %x, want %x", got, key)
			}
		})
	}
}

func TestParseKeyRejects(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"16 bytes", base64.StdEncoding.EncodeToString([]byte("0123456789abcdef")), "got 16 bytes"},
		{"33 bytes", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("k"), 33)), "got 33 bytes"},
		{"garbage", "this is not base64 !!! hunter2", "not valid base64"},
		{"mixed alphabets", "ab+_" + strings.Repeat("A", 39) + "=", "not valid base64"},
		{"hex", strings.Repeat("deadbeef", 8), "got 48 bytes"},
		{"empty", "", "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKey(tt.in)
			if err == nil {
				t.Fatalf("ParseKey(%q) = %x, nil; want error", tt.in, got)
			}
			msg := err.Error()
			if !strings.Contains(msg, "HERALD_SECRET_KEY") {
				t.Errorf("error %q does not name HERALD_SECRET_KEY", msg)
			}
			if !strings.Contains(msg, "32 bytes in base64") {
				t.Errorf("error %q does not say the expected form", msg)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not contain %q", msg, tt.want)
			}
			if tt.in != "" {
				if strings.Contains(msg, tt.in) {
					t.Errorf("error %q contains the input", msg)
				}
				if strings.Contains(msg, "hunter2") {
					t.Errorf("error %q contains part of the input", msg)
				}
			}
		})
	}
}

func TestGenerateKey(t *testing.T) {
	a, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != KeySize || len(b) != KeySize {
		t.Fatalf("lengths %d, %d; want %d", len(a), len(b), KeySize)
	}
	if bytes.Equal(a, b) {
		t.Error("two generated keys are equal")
	}
	if bytes.Equal(a, make([]byte, KeySize)) {
		t.Error("generated key is all zeros")
	}
	if _, err := NewBox(a); err != nil {
		t.Errorf("NewBox(GenerateKey()): %v", err)
	}
}

func skipOnWindows(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("file modes are not enforced on Windows")
	}
}

func assertOnlyFile(t *testing.T, dir, name string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != name {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only %s (temp files left behind?)", names, name)
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	skipOnWindows(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "herald.key")

	key1, created, err := LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatalf("first call: %v", err)
	}
	if !created {
		t.Error("first call: created = false, want true")
	}
	if len(key1) != KeySize {
		t.Errorf("key length %d, want %d", len(key1), KeySize)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode %#o, want 0600", perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := base64.StdEncoding.EncodeToString(key1) + "\n"; string(data) != want {
		t.Errorf("key file content %q, want %q", data, want)
	}
	assertOnlyFile(t, dir, "herald.key")

	key2, created, err := LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatalf("second call: %v", err)
	}
	if created {
		t.Error("second call: created = true, want false")
	}
	if !bytes.Equal(key1, key2) {
		t.Error("second call returned a different key")
	}
}

func TestLoadOrCreateKeyFileReadsExisting(t *testing.T) {
	skipOnWindows(t)
	path := filepath.Join(t.TempDir(), "herald.key")
	want := bytes.Repeat([]byte{7}, KeySize)
	// An operator-written file: URL-safe, unpadded, no trailing newline.
	if err := os.WriteFile(path, []byte(base64.RawURLEncoding.EncodeToString(want)), 0o600); err != nil {
		t.Fatal(err)
	}
	got, created, err := LoadOrCreateKeyFile(path)
	if err != nil || created || !bytes.Equal(got, want) {
		t.Errorf("LoadOrCreateKeyFile = %x, %v, %v; want %x, false, nil", got, created, err, want)
	}
}

func TestLoadOrCreateKeyFileRejectsOpenMode(t *testing.T) {
	skipOnWindows(t)
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		path := filepath.Join(t.TempDir(), "herald.key")
		content := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, KeySize)) + "\n"
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil { // not subject to umask
			t.Fatal(err)
		}
		key, _, err := LoadOrCreateKeyFile(path)
		if err == nil {
			t.Errorf("mode %#o: got key %x, want error", mode, key)
			continue
		}
		if !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %#o: error %q does not tell to chmod 600", mode, err)
		}
		if strings.Contains(err.Error(), strings.TrimSpace(content)) {
			t.Errorf("mode %#o: error %q contains the key", mode, err)
		}
	}
}

func TestLoadOrCreateKeyFileMalformed(t *testing.T) {
	skipOnWindows(t)
	tests := []struct{ name, content string }{
		{"garbage", "not a key at all: hunter2\n"},
		{"short key", base64.StdEncoding.EncodeToString([]byte("0123456789abcdef")) + "\n"},
		{"empty", ""},
		{"two lines", base64.StdEncoding.EncodeToString(make([]byte, 16)) + "\n" +
			base64.StdEncoding.EncodeToString(make([]byte, 16)) + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "herald.key")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			key, created, err := LoadOrCreateKeyFile(path)
			if err == nil {
				t.Fatalf("got key %x, want error", key)
			}
			if created {
				t.Error("created = true on error")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the path", err)
			}
			if c := strings.TrimSpace(tt.content); c != "" && strings.Contains(err.Error(), c) {
				t.Errorf("error %q contains the file content", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q contains part of the file content", err)
			}
			// The malformed file must be left alone, not replaced.
			if data, _ := os.ReadFile(path); string(data) != tt.content {
				t.Errorf("file content changed to %q", data)
			}
		})
	}
}

func TestLoadOrCreateKeyFileMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-such-dir", "herald.key")
	if key, _, err := LoadOrCreateKeyFile(path); err == nil {
		t.Errorf("got key %x, want error", key)
	}
}

func TestLoadOrCreateKeyFileConcurrent(t *testing.T) {
	skipOnWindows(t)
	for round := 0; round < 20; round++ {
		dir := t.TempDir()
		path := filepath.Join(dir, "herald.key")
		const n = 8
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			keys    [n][]byte
			created [n]bool
			errs    [n]error
		)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				keys[i], created[i], errs[i] = LoadOrCreateKeyFile(path)
			}()
		}
		close(start)
		wg.Wait()

		creators := 0
		for i := 0; i < n; i++ {
			if errs[i] != nil {
				t.Fatalf("round %d goroutine %d: %v", round, i, errs[i])
			}
			if !bytes.Equal(keys[i], keys[0]) {
				t.Fatalf("round %d: goroutine %d got a different key", round, i)
			}
			if created[i] {
				creators++
			}
		}
		if creators != 1 {
			t.Errorf("round %d: %d callers report created=true, want exactly 1", round, creators)
		}
		onDisk, created2, err := LoadOrCreateKeyFile(path)
		if err != nil || created2 || !bytes.Equal(onDisk, keys[0]) {
			t.Errorf("round %d: file key differs from returned key (err %v)", round, err)
		}
		assertOnlyFile(t, dir, "herald.key")
	}
}
