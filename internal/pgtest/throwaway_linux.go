//go:build linux

package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	// tmpPattern names the temporary directories of throwaway servers.
	tmpPattern = "herald-pgtest-*"
	// ownerFile, in such a directory, holds the PID of the test process
	// that owns it, so that later processes can remove it once that
	// process is gone.
	ownerFile = "owner.pid"
	// startTimeout bounds the wait for a throwaway server to accept
	// connections.
	startTimeout = 60 * time.Second
	// stopTimeout bounds the wait for a throwaway server to exit.
	stopTimeout = 10 * time.Second
)

// binGlob locates Debian/Ubuntu style PostgreSQL installations.
var binGlob = "/usr/lib/postgresql/*/bin"

// server is a running throwaway PostgreSQL server.
type server struct {
	dir     string // temporary directory holding data/, the socket and the log
	url     string // admin URL
	version string // e.g. "PostgreSQL 15.20"
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the postmaster has exited
}

// startThrowaway initializes and starts a throwaway server.
func startThrowaway() (*server, error) {
	sweepStale()

	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}

	dir, err := os.MkdirTemp("", tmpPattern)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir)
		}
	}()
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}

	data := filepath.Join(dir, "data")
	initdb := exec.Command(bin.initdb,
		"-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s: %v\n%s", bin.initdb, err, strings.TrimSpace(string(out)))
	}

	// The port is picked before postgres binds it, so another process may
	// take it in between: retry with another port in that case.
	for attempt := 1; ; attempt++ {
		s, err := launch(bin, cred, dir, data)
		if err == nil {
			s.version = bin.version
			ok = true
			return s, nil
		}
		if attempt == 3 || !errors.Is(err, errPortTaken) {
			return nil, err
		}
	}
}

var errPortTaken = errors.New("port already in use")

// launch starts postgres on a free port and waits until it accepts
// connections.
func launch(bin binaries, cred *syscall.Credential, dir, data string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()

	cmd := exec.Command(bin.postgres,
		"-D", data,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+dir,
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200",
	)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		// Own process group: terminal signals go to the test process
		// only, and stop can kill the postmaster with its children.
		Setpgid: true,
		// Immediate shutdown when the test process dies without calling
		// Shutdown. The kernel sends it when the thread that started
		// the process exits, hence the locked thread below.
		Pdeathsig: syscall.SIGQUIT,
	}

	s := &server{
		dir:    dir,
		url:    fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
		cmd:    cmd,
		exited: make(chan struct{}),
	}
	started := make(chan error, 1)
	go func() {
		// This goroutine keeps its thread, so the thread lives as long as
		// the postmaster and the parent-death signal fires only when the
		// test process exits. Returning without unlocking ends the thread.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(s.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", bin.postgres, err)
	}

	deadline := time.Now().Add(startTimeout)
	var lastErr error
	for {
		select {
		case <-s.exited:
			out, _ := os.ReadFile(logPath)
			err := fmt.Errorf("%s exited: %s\n%s", bin.postgres, cmd.ProcessState, strings.TrimSpace(string(out)))
			if strings.Contains(string(out), "could not bind") || strings.Contains(string(out), "already in use") {
				err = fmt.Errorf("%w: %w", errPortTaken, err)
			}
			return nil, err
		default:
		}
		if time.Now().After(deadline) {
			_ = s.stop()
			return nil, fmt.Errorf("%s did not accept connections within %s: %v", bin.postgres, startTimeout, lastErr)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		lastErr = probeCtx(ctx, s.url)
		cancel()
		if lastErr == nil {
			return s, nil
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// stop shuts the server down immediately and removes its directory.
func (s *server) stop() error {
	var errs []error
	pid := s.cmd.Process.Pid
	// SIGQUIT asks the postmaster for an immediate shutdown, which is all
	// a throwaway server with fsync=off needs.
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil && !errors.Is(err, syscall.ESRCH) {
		errs = append(errs, fmt.Errorf("signal postgres: %w", err))
	}
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-s.exited
	}
	// In an immediate shutdown the postmaster waits for its backends before
	// exiting, so nothing writes to the directory any more.
	if err := removeAll(s.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removeAll removes dir, retrying briefly while processes finish writing.
func removeAll(dir string) error {
	var err error
	for range 20 {
		if err = os.RemoveAll(dir); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

// binaries are the PostgreSQL programs a throwaway server needs.
type binaries struct {
	initdb, postgres string
	version          string
	major, minor     int
}

var versionRE = regexp.MustCompile(`\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?`)

// findBinaries returns the highest version of initdb (with postgres next to
// it) found in PATH or binGlob.
func findBinaries() (binaries, error) {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dirs = append(dirs, filepath.Dir(p))
	}
	globbed, _ := filepath.Glob(binGlob)
	dirs = append(dirs, globbed...)

	var found []binaries
	var errs []error
	seen := map[string]bool{}
	for _, dir := range dirs {
		if seen[dir] {
			continue
		}
		seen[dir] = true
		b := binaries{
			initdb:   filepath.Join(dir, "initdb"),
			postgres: filepath.Join(dir, "postgres"),
		}
		if _, err := os.Stat(b.postgres); err != nil {
			errs = append(errs, err)
			continue
		}
		out, err := exec.Command(b.initdb, "--version").Output()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s --version: %w", b.initdb, err))
			continue
		}
		m := versionRE.FindStringSubmatch(string(out))
		if m == nil {
			errs = append(errs, fmt.Errorf("%s --version: unexpected output %q", b.initdb, out))
			continue
		}
		b.major, _ = strconv.Atoi(m[1])
		b.minor, _ = strconv.Atoi(m[2])
		b.version = "PostgreSQL " + m[1]
		if m[2] != "" {
			b.version += "." + m[2]
		}
		if b.major < 13 {
			errs = append(errs, fmt.Errorf("%s: %s is too old, PostgreSQL 13 or later is needed", b.initdb, b.version))
			continue
		}
		found = append(found, b)
	}
	if len(found) == 0 {
		errs = append(errs, fmt.Errorf("no usable initdb and postgres in PATH or %s", binGlob))
		return binaries{}, errors.Join(errs...)
	}
	sort.SliceStable(found, func(i, j int) bool {
		if found[i].major != found[j].major {
			return found[i].major > found[j].major
		}
		return found[i].minor > found[j].minor
	})
	return found[0], nil
}

// credential returns the identity to run initdb and postgres as: nil for the
// current user, or the "postgres" user when running as root (PostgreSQL
// refuses to run as root).
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and PostgreSQL refuses to: need a %q user to run it as: %w", "postgres", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user postgres: uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user postgres: gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// sweepStale removes the directories of throwaway servers whose test process
// has exited without calling Shutdown (their server stopped with it).
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tmpPattern))
	for _, dir := range dirs {
		if stale(dir) {
			_ = os.RemoveAll(dir)
		}
	}
}

// stale reports whether dir belongs to a test process that is gone and holds
// no running server.
func stale(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		// Not written yet by a process that is starting a server, or not
		// ours: leave it alone unless it is old.
		fi, err := os.Stat(dir)
		return err == nil && time.Since(fi.ModTime()) > 24*time.Hour && !running(dir)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return false
	}
	return !alive(pid) && !running(dir)
}

// running reports whether the postmaster of dir's data directory seems alive.
func running(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist) // unreadable: be careful
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	return err == nil && alive(pid)
}

// alive reports whether a process with this PID exists and is not a zombie
// (in containers, orphans may never be reaped).
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// The state follows the command name, which is in parentheses and may
	// itself contain parentheses.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 || i+2 >= len(stat) {
		return true
	}
	return stat[i+2] != 'Z' && stat[i+2] != 'X'
}
