// Package metrics defines Herald's Prometheus metrics. They live on a
// registry of their own (no global state), served at /metrics.
package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// LatencyBuckets span publish→delivered latencies from milliseconds (a
// healthy endpoint) to hours (an endpoint that was down and caught up on the
// retry schedule).
var LatencyBuckets = []float64{
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
	120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400,
}

// Metrics holds every collector Herald updates.
type Metrics struct {
	Registry *prometheus.Registry
	// EventsReceived counts published events by type (repeats of an
	// eventId are not counted).
	EventsReceived *prometheus.CounterVec
	// Deliveries counts deliveries reaching a final state, by platform and
	// state (SUCCEEDED, FAILED).
	Deliveries *prometheus.CounterVec
	// Attempts counts requests sent, by platform and outcome.
	Attempts *prometheus.CounterVec
	// AttemptDuration observes how long each request took, by platform.
	AttemptDuration *prometheus.HistogramVec
	// DeliveryLatency observes the time from publishing an event to its
	// delivery succeeding, by platform.
	DeliveryLatency *prometheus.HistogramVec
}

// New returns the metrics, registered on a new registry together with the
// Go runtime and process collectors. liveDeliveries, when not nil, is read at
// each scrape for the queue depth gauge.
func New(liveDeliveries func(context.Context) (int64, error)) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		EventsReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_events_received_total", Help: "Events published, by type.",
		}, []string{"type"}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_deliveries_total", Help: "Deliveries that reached a final state, by platform and state.",
		}, []string{"platform", "state"}),
		Attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_attempts_total", Help: "Requests sent to platforms, by platform and outcome.",
		}, []string{"platform", "outcome"}),
		AttemptDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "herald_attempt_duration_seconds", Help: "Duration of one request to a platform.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"platform"}),
		DeliveryLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "herald_delivery_latency_seconds", Help: "Time from publishing an event to its successful delivery.",
			Buckets: LatencyBuckets,
		}, []string{"platform"}),
	}
	m.Registry.MustRegister(m.EventsReceived, m.Deliveries, m.Attempts, m.AttemptDuration, m.DeliveryLatency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if liveDeliveries != nil {
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_queue_depth", Help: "Deliveries waiting to be sent (PENDING or RETRYING).",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			n, err := liveDeliveries(ctx)
			if err != nil {
				return -1
			}
			return float64(n)
		}))
	}
	return m
}
