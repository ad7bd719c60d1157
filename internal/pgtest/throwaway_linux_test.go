//go:build linux

package pgtest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// requireThrowaway skips tests that start extra throwaway servers unless the
// throwaway path is being exercised on purpose.
func requireThrowaway(t *testing.T) {
	t.Helper()
	if !truthy(os.Getenv(EnvThrowaway)) {
		t.Skipf("set %s=1 to test throwaway servers", EnvThrowaway)
	}
}

func TestThrowawayLifecycle(t *testing.T) {
	requireThrowaway(t)
	s, err := startThrowaway()
	if err != nil {
		t.Fatal(err)
	}
	if err := probe(s.url); err != nil {
		t.Errorf("probe %s: %v", s.url, err)
	}
	if _, err := os.Stat(filepath.Join(s.dir, ownerFile)); err != nil {
		t.Error(err)
	}
	pid := s.cmd.Process.Pid
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Errorf("postmaster %d still alive after stop", pid)
	}
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Errorf("directory %s not removed: %v", s.dir, err)
	}
	if err := probe(s.url); err == nil {
		t.Errorf("server %s still answers after stop", s.url)
	}
}

// TestThrowawayAutoExit checks that a server outlives no test process that
// forgets Shutdown, and that its directory is swept afterwards.
func TestThrowawayAutoExit(t *testing.T) {
	const childEnv = "PGTEST_AUTOEXIT_CHILD"
	const childExit = 7
	if os.Getenv(childEnv) == "1" {
		s, err := startThrowaway()
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("server", s.cmd.Process.Pid, s.dir)
		os.Exit(childExit) // without Shutdown; os.Exit(0) is refused in tests
	}
	requireThrowaway(t)

	cmd := exec.Command(os.Args[0], "-test.run=^TestThrowawayAutoExit$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != childExit {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var pid int
	var dir string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "server" {
			pid, _ = strconv.Atoi(f[1])
			dir = f[2]
		}
	}
	if pid == 0 {
		t.Fatalf("child did not report a server:\n%s", out)
	}
	defer os.RemoveAll(dir)

	deadline := time.Now().Add(15 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("postmaster %d of the exited child still alive", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !stale(dir) {
		t.Fatalf("directory %s of the exited child not considered stale", dir)
	}
	sweepStale()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("directory %s not swept: %v", dir, err)
	}
}

func TestStale(t *testing.T) {
	// A PID that no longer runs.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip(err)
	}
	ours, err := os.MkdirTemp("", tmpPattern)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(ours)
	gone, err := os.MkdirTemp("", tmpPattern)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(gone)
	fresh, err := os.MkdirTemp("", tmpPattern) // no owner file yet
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(fresh)

	write := func(dir string, pid int) {
		if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(ours, os.Getpid())
	write(gone, dead.Process.Pid)

	sweepStale()
	for dir, wantKept := range map[string]bool{ours: true, gone: false, fresh: true} {
		_, err := os.Stat(dir)
		if kept := err == nil; kept != wantKept {
			t.Errorf("%s: kept = %v, want %v (%v)", dir, kept, wantKept, err)
		}
	}
}

func TestFindBinaries(t *testing.T) {
	b, err := findBinaries()
	if err != nil {
		t.Skipf("no PostgreSQL binaries: %v", err)
	}
	if b.major < 13 || !strings.HasPrefix(b.version, "PostgreSQL ") {
		t.Errorf("findBinaries() = %+v", b)
	}
	out, err := exec.CommandContext(context.Background(), b.postgres, "--version").Output()
	if err != nil || !strings.Contains(string(out), strconv.Itoa(b.major)) {
		t.Errorf("%s --version: %q, %v", b.postgres, out, err)
	}
}
