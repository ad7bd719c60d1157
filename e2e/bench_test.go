package e2e

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/deliver"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/server"
	"github.com/heraldhq/herald/service"
)

// BenchmarkDeliver publishes b.N events with 50 concurrent publishers to a
// CUSTOM webhook and waits until all are delivered, in process, so that
// `go test -bench Deliver -cpuprofile` shows where the time goes. The
// numbers for the README come from `herald bench`, which runs the server as
// its own process.
func BenchmarkDeliver(b *testing.B) {
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) {
			benchDeliver(b, backend)
		})
	}
}

func benchDeliver(b *testing.B, backend string) {
	var database string
	if backend == "postgres" {
		database = pgtest.NewDatabase(b)
	} else {
		database = b.TempDir() + "/herald.db"
	}
	s := newBenchSink(b)
	cfg := server.Config{
		Database: database, AdminToken: token, SecretKey: testKey(b), RetrySchedule: deliver.DefaultSchedule,
		HTTPTimeout: 10 * time.Second, Workers: 100, JobTimeout: time.Minute,
	}
	cfg.Network.AllowPrivate = true
	srv, err := server.Open(context.Background(), cfg, server.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		b.Fatal(err)
	}
	ts := &http.Server{Handler: srv.Handler()}
	ln := listen(b)
	go func() { _ = ts.Serve(ln) }()
	defer ts.Close()
	c := client.New("http://"+ln.Addr().String(), token)
	c.HTTP = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100}}
	if _, err := c.CreateProject(ctx, "bench", "Bench"); err != nil {
		b.Fatal(err)
	}
	if _, err := c.CreateWebhook(ctx, "bench", service.WebhookCreate{
		Type: herald.Custom, Title: "sink", URL: s.url, NotificationTypes: []herald.EventType{herald.PipelineFailed},
	}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > b.N {
					return
				}
				_, _, err := c.Publish(ctx, "bench", &herald.Event{Type: herald.PipelineFailed, Rollout: &herald.Rollout{ID: strconv.Itoa(i), Title: "Release"}})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for s.count.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}

// benchSink counts the requests it answers.
type benchSink struct {
	url   string
	count atomic.Int64
}

func newBenchSink(b *testing.B) *benchSink {
	s := &benchSink{}
	ln := listen(b)
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.count.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = hs.Serve(ln) }()
	b.Cleanup(func() { _ = hs.Close() })
	s.url = "http://" + ln.Addr().String() + "/hook"
	return s
}

func listen(tb testing.TB) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return ln
}
