package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/service"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// heraldBinary builds cmd/herald once per test run.
func heraldBinary(t *testing.T) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "herald-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "herald")
		out, err := exec.Command("go", "build", "-o", binary, "github.com/heraldhq/herald/cmd/herald").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// sink is a slow receiver that counts requests per webhook-id.
type sink struct {
	*httptest.Server
	mu   sync.Mutex
	seen map[string]int
}

func newSink(t *testing.T, delay time.Duration) *sink {
	s := &sink{seen: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		s.mu.Lock()
		s.seen[r.Header.Get("webhook-id")]++
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.Close)
	return s
}

// delivered counts the distinct deliveries seen, and the requests in all.
func (s *sink) delivered() (distinct, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.seen {
		distinct++
		total += n
	}
	return
}

func (s *sink) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[id] > 0
}

// process is a `herald serve` child process.
type process struct {
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// spawn starts `herald serve` with env and waits for /healthz.
func spawn(t *testing.T, env ...string) *process {
	addr := freeAddr(t)
	cmd := exec.Command(heraldBinary(t), "serve", "--addr", addr)
	logs := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, url: "http://" + addr, logs: logs}
	t.Cleanup(func() { p.kill() })
	c := client.New(p.url, token)
	deadline := time.Now().Add(30 * time.Second)
	for c.Health(t.Context()) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("herald did not become healthy:\n%s", logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p
}

// kill sends SIGKILL: the process gets no chance to clean up.
func (p *process) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

// publishMany publishes n events with 10 concurrent publishers and returns
// the ids of their deliveries.
func publishMany(t *testing.T, c *client.Client, project string, n int) []string {
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for range 10 {
		wg.Go(func() {
			for i := range next {
				ev := eventOf(herald.PipelineFailed)
				ev.EventID = fmt.Sprintf("build-%d", i)
				stored, _, err := c.Publish(context.Background(), project, ev)
				if err != nil {
					errs <- err
					return
				}
				ids[i] = client.ID(stored.Deliveries[0].Name)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return ids
}

// waitAll waits until the sink has seen every delivery and the API shows
// each SUCCEEDED.
func waitAll(t *testing.T, s *sink, c *client.Client, project string, ids []string, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for {
		missing := 0
		for _, id := range ids {
			if !s.has(id) {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d deliveries never arrived", missing, len(ids))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, id := range ids {
		d, err := c.GetDelivery(t.Context(), project, id)
		for err == nil && d.State != herald.StateSucceeded && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			d, err = c.GetDelivery(t.Context(), project, id)
		}
		if err != nil || d.State != herald.StateSucceeded {
			t.Fatalf("delivery %s: %v %+v", id, err, d)
		}
	}
}

func crashEnv(database, key string) []string {
	return []string{
		"HERALD_DATABASE=" + database,
		"HERALD_ADMIN_TOKEN=" + token,
		"HERALD_SECRET_KEY=" + key,
		"HERALD_ALLOW_PRIVATE_TARGETS=true",
		"HERALD_WORKERS=2",
		"HERALD_JOB_TIMEOUT=3s",
		"HERALD_RETRY_SCHEDULE=200ms,200ms,200ms",
		"HERALD_LOG_FORMAT=json",
	}
}

func setupCrash(t *testing.T, c *client.Client, s *sink) {
	if _, err := c.CreateProject(t.Context(), "crash", "Crash"); err != nil {
		t.Fatal(err)
	}
	_, err := c.CreateWebhook(t.Context(), "crash", service.WebhookCreate{
		Type: herald.Custom, Title: "sink", URL: s.URL + "/hook", NotificationTypes: []herald.EventType{herald.PipelineFailed},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitSome waits until the sink has seen at least n deliveries.
func waitSome(t *testing.T, s *sink, n int) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if d, _ := s.delivered(); d >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d deliveries arrived", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Publish 300 events, kill -9 the server mid-delivery, restart it on the
// same SQLite database: all 300 are delivered.
func TestCrashSQLite(t *testing.T) {
	t.Parallel()
	s := newSink(t, 40*time.Millisecond)
	env := crashEnv(filepath.Join(t.TempDir(), "herald.db"), testKey(t))
	p := spawn(t, env...)
	c := client.New(p.url, token)
	setupCrash(t, c, s)
	ids := publishMany(t, c, "crash", 300)
	waitSome(t, s, 20)
	p.kill()
	atKill, _ := s.delivered()
	if atKill >= 300 {
		t.Fatalf("everything was delivered before the kill; the test proves nothing")
	}
	p = spawn(t, env...)
	c = client.New(p.url, token)
	waitAll(t, s, c, "crash", ids, 90*time.Second)
	distinct, total := s.delivered()
	t.Logf("delivered %d at the kill; after restart %d distinct deliveries in %d requests", atKill, distinct, total)
}

// Two replicas share one PostgreSQL database; one is killed mid-delivery:
// the other delivers everything.
func TestCrashPostgresReplicas(t *testing.T) {
	t.Parallel()
	s := newSink(t, 40*time.Millisecond)
	env := crashEnv(newDatabase(t, "postgres"), testKey(t))
	a := spawn(t, env...)
	b := spawn(t, env...)
	ca, cb := client.New(a.url, token), client.New(b.url, token)
	setupCrash(t, ca, s)
	ids := publishMany(t, ca, "crash", 300)
	waitSome(t, s, 20)
	a.kill()
	atKill, _ := s.delivered()
	if atKill >= 300 {
		t.Fatalf("everything was delivered before the kill; the test proves nothing")
	}
	waitAll(t, s, cb, "crash", ids, 150*time.Second)
	distinct, total := s.delivered()
	t.Logf("delivered %d at the kill; the survivor finished: %d distinct deliveries in %d requests", atKill, distinct, total)
}
