package web

import (
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/store"
)

// healthWindow is the period the health page covers, in hourly buckets.
const (
	healthWindow = 24 * time.Hour
	buckets      = 24
)

// webhookHealth summarises one webhook's last 24 hours.
type webhookHealth struct {
	Webhook   *herald.Webhook
	Total     int
	Succeeded int
	Failed    int
	Live      int
	// Rate is the share of finished deliveries that succeeded, or -1.
	Rate     float64
	P50, P99 time.Duration
	Chart    template.HTML
}

type healthData struct {
	Webhooks []webhookHealth
	Since    time.Time
}

func (c *Console) health(w http.ResponseWriter, r *http.Request) {
	p, ok := c.project(w, r)
	if !ok {
		return
	}
	now := c.now()
	since := now.Add(-healthWindow)
	stats, err := c.svc.DeliveryStats(r.Context(), p.ProjectID, since)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	hooks, _, err := c.svc.ListWebhooks(r.Context(), p.ProjectID, store.Page{Size: 1000})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	byHook := map[string][]store.DeliveryStat{}
	for _, s := range stats {
		byHook[s.WebhookID] = append(byHook[s.WebhookID], s)
	}
	data := healthData{Since: since}
	for _, hook := range hooks {
		data.Webhooks = append(data.Webhooks, summarize(hook, byHook[hook.ID], since))
	}
	c.render(w, r, http.StatusOK, "health.html", page{Title: p.Title + " · Health", Nav: "health", Project: p, Data: data})
}

// summarize computes a webhook's success rate and publish→delivered
// latency percentiles, and draws its hourly chart.
func summarize(hook *herald.Webhook, stats []store.DeliveryStat, since time.Time) webhookHealth {
	h := webhookHealth{Webhook: hook, Total: len(stats), Rate: -1}
	var latencies []time.Duration
	ok, bad := make([]int, buckets), make([]int, buckets)
	for _, s := range stats {
		i := min(max(int(s.CreateTime.Sub(since)/time.Hour), 0), buckets-1)
		switch s.State {
		case herald.StateSucceeded:
			h.Succeeded++
			ok[i]++
			if s.DeliveredTime != nil {
				latencies = append(latencies, s.DeliveredTime.Sub(s.CreateTime))
			}
		case herald.StateFailed:
			h.Failed++
			bad[i]++
		default:
			h.Live++
		}
	}
	if done := h.Succeeded + h.Failed; done > 0 {
		h.Rate = float64(h.Succeeded) / float64(done)
	}
	if n := len(latencies); n > 0 {
		slices.Sort(latencies)
		h.P50, h.P99 = latencies[n*50/100], latencies[min(n-1, n*99/100)]
	}
	h.Chart = chart(hook.Title, ok, bad)
	return h
}

// chart draws hourly bars (succeeded over failed) as an inline SVG with a
// text alternative for screen readers.
func chart(title string, ok, bad []int) template.HTML {
	const w, hgt, gap = 240, 48, 2
	peak := 1
	for i := range ok {
		peak = max(peak, ok[i]+bad[i])
	}
	bar := float64(w)/float64(len(ok)) - gap
	var b strings.Builder
	succeeded, failed := 0, 0
	for i := range ok {
		succeeded += ok[i]
		failed += bad[i]
	}
	desc := fmt.Sprintf("%s: %d succeeded and %d failed in the last 24 hours", title, succeeded, failed)
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`, w, hgt, w, hgt, template.HTMLEscapeString(desc))
	for i := range ok {
		x := float64(i) * (bar + gap)
		hOK := float64(ok[i]) / float64(peak) * hgt
		hBad := float64(bad[i]) / float64(peak) * hgt
		if ok[i] > 0 {
			fmt.Fprintf(&b, `<rect class="ok" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, x, hgt-hOK, bar, hOK)
		}
		if bad[i] > 0 {
			fmt.Fprintf(&b, `<rect class="bad" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, x, hgt-hOK-hBad, bar, hBad)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built from numbers and an escaped label
}
