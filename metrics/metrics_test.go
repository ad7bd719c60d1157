package metrics_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/heraldhq/herald/metrics"
)

func gather(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func TestNewRegistersEverything(t *testing.T) {
	m := metrics.New(func(context.Context) (int64, error) { return 7, nil })
	m.EventsReceived.WithLabelValues("ISSUE_CREATED").Inc()
	m.Deliveries.WithLabelValues("SLACK", "SUCCEEDED").Inc()
	m.Attempts.WithLabelValues("SLACK", "SUCCESS").Add(2)
	m.AttemptDuration.WithLabelValues("SLACK").Observe(0.2)
	m.DeliveryLatency.WithLabelValues("SLACK").Observe(3)

	fams := gather(t, m)
	tests := []struct {
		name string
		typ  dto.MetricType
	}{
		{"herald_events_received_total", dto.MetricType_COUNTER},
		{"herald_deliveries_total", dto.MetricType_COUNTER},
		{"herald_attempts_total", dto.MetricType_COUNTER},
		{"herald_attempt_duration_seconds", dto.MetricType_HISTOGRAM},
		{"herald_delivery_latency_seconds", dto.MetricType_HISTOGRAM},
		{"herald_queue_depth", dto.MetricType_GAUGE},
		{"go_goroutines", dto.MetricType_GAUGE},
	}
	for _, tt := range tests {
		mf, ok := fams[tt.name]
		if !ok {
			t.Errorf("%s is not registered", tt.name)
			continue
		}
		if mf.GetType() != tt.typ {
			t.Errorf("%s is a %s, want a %s", tt.name, mf.GetType(), tt.typ)
		}
		if mf.GetHelp() == "" {
			t.Errorf("%s has no help text", tt.name)
		}
	}

	labels := func(name string) map[string]string {
		out := map[string]string{}
		if mf := fams[name]; mf != nil && len(mf.GetMetric()) == 1 {
			for _, l := range mf.GetMetric()[0].GetLabel() {
				out[l.GetName()] = l.GetValue()
			}
		}
		return out
	}
	if got := labels("herald_events_received_total"); got["type"] != "ISSUE_CREATED" {
		t.Errorf("herald_events_received_total labels = %v", got)
	}
	if got := labels("herald_deliveries_total"); got["platform"] != "SLACK" || got["state"] != "SUCCEEDED" {
		t.Errorf("herald_deliveries_total labels = %v", got)
	}
	if got := labels("herald_attempts_total"); got["platform"] != "SLACK" || got["outcome"] != "SUCCESS" {
		t.Errorf("herald_attempts_total labels = %v", got)
	}
	if v := fams["herald_attempts_total"].GetMetric()[0].GetCounter().GetValue(); v != 2 {
		t.Errorf("herald_attempts_total = %v, want 2", v)
	}
	if h := fams["herald_delivery_latency_seconds"].GetMetric()[0].GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() != 3 {
		t.Errorf("herald_delivery_latency_seconds: %d samples, sum %v; want 1, 3", h.GetSampleCount(), h.GetSampleSum())
	}
	if v := fams["herald_queue_depth"].GetMetric()[0].GetGauge().GetValue(); v != 7 {
		t.Errorf("herald_queue_depth = %v, want 7", v)
	}
}

func TestQueueDepthReadsAtEachScrape(t *testing.T) {
	var n atomic.Int64
	var fail atomic.Bool
	m := metrics.New(func(ctx context.Context) (int64, error) {
		if _, ok := ctx.Deadline(); !ok {
			return 0, errors.New("the queue depth is read without a deadline")
		}
		if fail.Load() {
			return 0, errors.New("database is down")
		}
		return n.Load(), nil
	})
	depth := func() float64 {
		mf := gather(t, m)["herald_queue_depth"]
		if mf == nil || len(mf.GetMetric()) != 1 {
			t.Fatal("herald_queue_depth is missing")
		}
		return mf.GetMetric()[0].GetGauge().GetValue()
	}
	for _, want := range []int64{0, 3, 42} {
		n.Store(want)
		if got := depth(); got != float64(want) {
			t.Errorf("herald_queue_depth = %v, want %d", got, want)
		}
	}
	fail.Store(true)
	if got := depth(); got != -1 {
		t.Errorf("herald_queue_depth = %v when the count fails, want -1", got)
	}
	fail.Store(false)
	if got := depth(); got != 42 {
		t.Errorf("herald_queue_depth = %v after recovering, want 42", got)
	}
}

func TestNoQueueDepthWithoutFunction(t *testing.T) {
	m := metrics.New(nil)
	if _, ok := gather(t, m)["herald_queue_depth"]; ok {
		t.Error("herald_queue_depth is registered without a function to read")
	}
}

func TestRegistriesAreSeparate(t *testing.T) {
	a, b := metrics.New(nil), metrics.New(nil)
	a.Attempts.WithLabelValues("SLACK", "SUCCESS").Inc()
	if _, ok := gather(t, b)["herald_attempts_total"]; ok {
		t.Error("an attempt counted on one Metrics shows on another")
	}
	if a.Registry == prometheus.DefaultRegisterer {
		t.Error("metrics use the global registry")
	}
}

func TestLatencyBuckets(t *testing.T) {
	b := metrics.LatencyBuckets
	if len(b) == 0 || b[0] > 0.005 {
		t.Fatalf("LatencyBuckets = %v, want the first at most 5ms", b)
	}
	if last := b[len(b)-1]; last < 4*60*60 {
		t.Errorf("the last latency bucket is %vs, want at least 4h", last)
	}
	if !slices.IsSorted(b) || len(slices.Compact(slices.Clone(b))) != len(b) {
		t.Errorf("LatencyBuckets = %v, want strictly increasing", b)
	}

	// The histogram uses them.
	m := metrics.New(nil)
	m.DeliveryLatency.WithLabelValues("SLACK").Observe(5 * 60 * 60)
	mf := gather(t, m)["herald_delivery_latency_seconds"]
	var bounds []float64
	var inLast uint64
	for _, bk := range mf.GetMetric()[0].GetHistogram().GetBucket() {
		bounds = append(bounds, bk.GetUpperBound())
		inLast = bk.GetCumulativeCount()
	}
	if !slices.Equal(bounds, b) {
		t.Errorf("herald_delivery_latency_seconds buckets = %v, want %v", bounds, b)
	}
	if inLast != 1 {
		t.Errorf("a 5h latency is not counted in the last bucket (%vs)", b[len(b)-1])
	}
}
