// Package bench measures Herald end to end: it starts `herald serve` as a
// child process, a local sink that receives CUSTOM webhooks, publishes
// events through the API, and reports publish and delivery throughput,
// publish→delivered latency and the server's peak memory — next to a plain
// HTTP client posting straight to the same sink (the ceiling).
package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/service"
)

// Options configure a run.
type Options struct {
	// Binary is the herald executable to start.
	Binary string
	// Events is how many events the throughput run publishes.
	Events int
	// Concurrency is how many publishers (and ceiling clients) run at once.
	Concurrency int
	// Rate is the publish rate of the latency run, in events per second.
	Rate int
	// LatencyDuration is how long the latency run lasts.
	LatencyDuration time.Duration
	// PostgresURL is an admin URL of a PostgreSQL server on which a
	// throwaway database is created; empty skips PostgreSQL.
	PostgresURL string
	// Backends to measure: "sqlite", "postgres".
	Backends []string
	// Env is added to the server's environment (e.g. HERALD_WORKERS=200).
	Env []string
	Out io.Writer
}

// Result is one line of the table.
type Result struct {
	Name        string
	Events      int
	PublishRate float64 // events accepted per second
	DeliverRate float64 // deliveries completed per second
	P50, P99    time.Duration
	PeakRSS     int64 // bytes; 0 when not measured
}

// Run measures every backend and the ceiling, printing a Markdown table.
func Run(ctx context.Context, o Options) ([]Result, error) {
	s := newSink()
	defer s.Close()
	var results []Result
	for _, backend := range o.Backends {
		rs, err := runBackend(ctx, o, s, backend)
		if err != nil {
			return results, fmt.Errorf("%s: %w", backend, err)
		}
		results = append(results, rs...)
	}
	ceiling, err := runCeiling(ctx, o, s)
	if err != nil {
		return results, fmt.Errorf("ceiling: %w", err)
	}
	results = append(results, ceiling)
	Print(o.Out, o, results)
	return results, nil
}

// Print writes results as a Markdown table.
func Print(w io.Writer, o Options, results []Result) {
	fmt.Fprintf(w, "\n| run | events | publish/s | delivered/s | p50 publish→delivered | p99 publish→delivered | peak RSS |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		rss := "—"
		if r.PeakRSS > 0 {
			rss = fmt.Sprintf("%.0f MB", float64(r.PeakRSS)/1e6)
		}
		pub := "—"
		if r.PublishRate > 0 {
			pub = fmt.Sprintf("%.0f", r.PublishRate)
		}
		fmt.Fprintf(w, "| %s | %d | %s | %.0f | %s | %s | %s |\n", r.Name, r.Events, pub, r.DeliverRate, ms(r.P50), ms(r.P99), rss)
	}
	fmt.Fprintf(w, "\nconcurrency %d; latency runs publish %d events/s for %s\n", o.Concurrency, o.Rate, o.LatencyDuration)
}

func ms(d time.Duration) string {
	if d == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

// sink records when each delivery (webhook-id) first arrived.
type sink struct {
	*http.Server
	url     string
	mu      sync.Mutex
	arrived map[string]time.Time
	notify  chan struct{}
}

func newSink() *sink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	s := &sink{url: "http://" + ln.Addr().String(), arrived: map[string]time.Time{}, notify: make(chan struct{}, 1)}
	s.Server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		now := time.Now()
		id := r.Header.Get("webhook-id")
		s.mu.Lock()
		if _, ok := s.arrived[id]; !ok {
			s.arrived[id] = now
		}
		s.mu.Unlock()
		select {
		case s.notify <- struct{}{}:
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = s.Serve(ln) }()
	return s
}

func (s *sink) arrival(id string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.arrived[id]
	return t, ok
}

// wait blocks until every id arrived or ctx ends.
func (s *sink) wait(ctx context.Context, ids []string) error {
	for {
		missing := 0
		for _, id := range ids {
			if _, ok := s.arrival(id); !ok {
				missing++
			}
		}
		if missing == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d deliveries did not arrive: %w", missing, len(ids), ctx.Err())
		case <-s.notify:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// server is a running `herald serve`.
type server struct {
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
}

func startServer(ctx context.Context, o Options, database string) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	cmd := exec.Command(o.Binary, "serve", "--addr", addr, "--database", database)
	cmd.Env = append(os.Environ(),
		"HERALD_ADMIN_TOKEN=bench", "HERALD_SECRET_KEY="+base64.StdEncoding.EncodeToString(key),
		"HERALD_ALLOW_PRIVATE_TARGETS=true", "HERALD_LOG_FORMAT=json")
	cmd.Env = append(cmd.Env, o.Env...)
	logs := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, url: "http://" + addr, logs: logs}
	c := client.New(s.url, "bench")
	deadline := time.Now().Add(30 * time.Second)
	for c.Health(ctx) != nil {
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("herald did not start:\n%s", logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s, nil
}

// peakRSS reads the child's high-water resident set size from /proc.
func (s *server) peakRSS() int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

func runBackend(ctx context.Context, o Options, s *sink, backend string) ([]Result, error) {
	database, cleanup, err := newDatabase(ctx, o, backend)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	srv, err := startServer(ctx, o, database)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	c := client.New(srv.url, "bench")
	c.HTTP = &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency * 2}}
	if _, err := c.CreateProject(ctx, "bench", "Bench"); err != nil {
		return nil, err
	}
	_, err = c.CreateWebhook(ctx, "bench", service.WebhookCreate{
		Type: herald.Custom, Title: "sink", URL: s.url + "/hook", NotificationTypes: []herald.EventType{herald.PipelineFailed},
	})
	if err != nil {
		return nil, err
	}
	// Warm up connections, caches and the JIT-less runtime.
	if _, err := publish(ctx, c, s, 200, o.Concurrency, 0); err != nil {
		return nil, err
	}
	throughput, err := publish(ctx, c, s, o.Events, o.Concurrency, 0)
	if err != nil {
		return nil, err
	}
	throughput.Name = backend + ", as fast as possible"
	n := int(o.LatencyDuration.Seconds() * float64(o.Rate))
	steady, err := publish(ctx, c, s, n, o.Concurrency, o.Rate)
	if err != nil {
		return nil, err
	}
	steady.Name = fmt.Sprintf("%s, %d events/s", backend, o.Rate)
	steady.PublishRate = 0
	rss := srv.peakRSS()
	throughput.PeakRSS, steady.PeakRSS = rss, rss
	return []Result{throughput, steady}, nil
}

// publish sends n events with c publishers, at rate events/s (0: as fast as
// possible), and waits for all their deliveries to reach the sink.
func publish(ctx context.Context, c *client.Client, s *sink, n, conc, rate int) (Result, error) {
	type sent struct {
		id string
		at time.Time
	}
	out := make([]sent, n)
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if rate > 0 {
					due := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
					time.Sleep(time.Until(due))
				}
				ev := &herald.Event{
					Type:        herald.PipelineFailed,
					Rollout:     &herald.Rollout{ID: strconv.Itoa(i), Title: "Release " + strconv.Itoa(i), URL: "https://ci.example.com/r/" + strconv.Itoa(i)},
					Environment: "prod",
				}
				at := time.Now()
				stored, _, err := c.Publish(ctx, "bench", ev)
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				out[i] = sent{id: client.ID(stored.Deliveries[0].Name), at: at}
			}
		})
	}
	wg.Wait()
	published := time.Since(start)
	if firstErr != nil {
		return Result{}, firstErr
	}
	ids := make([]string, n)
	for i, x := range out {
		ids[i] = x.id
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := s.wait(wctx, ids); err != nil {
		return Result{}, err
	}
	var last time.Time
	lat := make([]time.Duration, n)
	for i, x := range out {
		t, _ := s.arrival(x.id)
		lat[i] = t.Sub(x.at)
		if t.After(last) {
			last = t
		}
	}
	slices.Sort(lat)
	return Result{
		Events:      n,
		PublishRate: float64(n) / published.Seconds(),
		DeliverRate: float64(n) / last.Sub(start).Seconds(),
		P50:         lat[n*50/100],
		P99:         lat[min(n-1, n*99/100)],
	}, nil
}

// runCeiling posts straight to the sink with the same concurrency and a
// body of the size Herald sends.
func runCeiling(ctx context.Context, o Options, s *sink) (Result, error) {
	body := bytes.Repeat([]byte("x"), 900)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency * 2}}
	n := o.Events
	var next atomic.Int64
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	for range o.Concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				at := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/ceiling", bytes.NewReader(body))
				req.Header.Set("webhook-id", "ceiling-"+randomID())
				resp, err := hc.Do(req)
				if err != nil {
					firstErr.Store(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(at)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if err, ok := firstErr.Load().(error); ok {
		return Result{}, err
	}
	slices.Sort(lat)
	return Result{Name: "ceiling: plain HTTP client → sink", Events: n, DeliverRate: float64(n) / took.Seconds(), P50: lat[n/2], P99: lat[min(n-1, n*99/100)]}, nil
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newDatabase makes a fresh database for one backend and returns how to
// remove it.
func newDatabase(ctx context.Context, o Options, backend string) (string, func(), error) {
	switch backend {
	case "sqlite":
		dir, err := os.MkdirTemp("", "herald-bench-")
		if err != nil {
			return "", nil, err
		}
		return filepath.Join(dir, "herald.db"), func() { _ = os.RemoveAll(dir) }, nil
	case "postgres":
		if o.PostgresURL == "" {
			return "", nil, errors.New("no PostgreSQL URL")
		}
		admin, err := pgx.Connect(ctx, o.PostgresURL)
		if err != nil {
			return "", nil, err
		}
		name := "herald_bench_" + randomID()
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			admin.Close(ctx)
			return "", nil, err
		}
		cfg := admin.Config()
		url := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
		if cfg.Password != "" {
			url = fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Password, cfg.Host, cfg.Port, name)
		}
		return url, func() {
			_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			admin.Close(context.Background())
		}, nil
	}
	return "", nil, fmt.Errorf("unknown backend %q (sqlite or postgres)", backend)
}
