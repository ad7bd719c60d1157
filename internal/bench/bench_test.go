package bench

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestPrint(t *testing.T) {
	var b bytes.Buffer
	Print(&b, Options{Concurrency: 50, Rate: 50, LatencyDuration: 20 * time.Second}, []Result{
		{Name: "sqlite, as fast as possible", Events: 100, PublishRate: 2000, DeliverRate: 1900, P50: 1500 * time.Microsecond, P99: 30 * time.Millisecond, PeakRSS: 50e6},
		{Name: "ceiling", Events: 100, DeliverRate: 50000, P50: time.Millisecond, P99: 2 * time.Millisecond},
	})
	out := b.String()
	for _, want := range []string{
		"| sqlite, as fast as possible | 100 | 2000 | 1900 | 1.5 ms | 30.0 ms | 50 MB |",
		"| ceiling | 100 | — | 50000 | 1.0 ms | 2.0 ms | — |",
		"concurrency 50",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestSinkRecordsFirstArrival(t *testing.T) {
	s := newSink()
	defer s.Close()
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, s.url, strings.NewReader("{}"))
		req.Header.Set("webhook-id", "d1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	first, ok := s.arrival("d1")
	if !ok {
		t.Fatal("no arrival recorded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.wait(ctx, []string{"d1"}); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.arrival("d1"); !again.Equal(first) {
		t.Fatal("a repeated delivery moved its arrival time")
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	if err := s.wait(ctx2, []string{"d1", "never"}); err == nil || !strings.Contains(err.Error(), "1 of 2") {
		t.Fatalf("waiting for a delivery that never comes: %v", err)
	}
}
