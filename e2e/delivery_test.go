package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/service"
)

// Every event type reaches a SLACK and a CUSTOM webhook; Slack's "ok" body
// and the Standard Webhooks signature are checked by the fakes.
func TestEveryEventReachesSlackAndCustom(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		e := start(t, backend)
		e.project("payments")
		_, slackHook := e.slackHook("payments")
		custom, endpoint := e.customHook("payments")
		for i, typ := range herald.EventTypes {
			ev := e.publish("payments", eventOf(typ))
			if len(ev.Deliveries) != 2 {
				t.Fatalf("%s: %d deliveries, want 2", typ, len(ev.Deliveries))
			}
			for _, d := range ev.Deliveries {
				got := e.waitDelivery("payments", d.Name, 10*time.Second, final)
				if got.State != herald.StateSucceeded || got.AttemptCount != 1 || got.Route != herald.RouteChannel {
					t.Fatalf("%s: delivery %+v", typ, got)
				}
				a := got.Attempts[0]
				if a.Outcome != herald.OutcomeSuccess || a.Number != 1 || a.RequestBody == "" || strings.Contains(a.Target, "/services/T") && strings.Count(a.Target, "/") > 5 {
					t.Fatalf("%s: attempt %+v", typ, a)
				}
			}
			msgs := e.slack.WaitMessages(t, slackHook, i+1, 5*time.Second)
			if !strings.Contains(string(msgs[i]), "Herald") {
				t.Errorf("%s: the Slack message does not name Herald: %s", typ, msgs[i])
			}
			bodies := e.custom.WaitAccepted(t, endpoint, i+1, 5*time.Second)
			var got struct {
				Type string `json:"type"`
				Data struct {
					Project  herald.Project  `json:"project"`
					Event    json.RawMessage `json:"event"`
					Delivery string          `json:"delivery"`
				} `json:"data"`
			}
			if err := json.Unmarshal(bodies[i], &got); err != nil {
				t.Fatal(err)
			}
			if got.Type != string(typ) || got.Data.Project.ProjectID != "payments" || !strings.HasPrefix(got.Data.Delivery, "projects/payments/deliveries/") {
				t.Fatalf("%s: CUSTOM body %s", typ, bodies[i])
			}
			if strings.Contains(string(got.Data.Event), `"deliveries"`) || !strings.Contains(string(got.Data.Event), `"eventId"`) {
				t.Fatalf("%s: the event in a CUSTOM body keeps eventId and has no deliveries: %s", typ, got.Data.Event)
			}
		}
		// The webhook-id is the delivery id.
		for _, r := range e.custom.Requests() {
			if id := r.Header.Get("webhook-id"); e.custom.Seen(id) != 1 {
				t.Errorf("webhook-id %s seen %d times", id, e.custom.Seen(id))
			}
		}
		hook, err := e.c.GetWebhook(t.Context(), "payments", custom.ID)
		if err != nil || !hook.Enabled || !hook.HasSigningSecret {
			t.Fatalf("webhook %+v, %v", hook, err)
		}
		// The metrics counted it all.
		resp, err := http.Get(e.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{
			`herald_events_received_total{type="PIPELINE_FAILED"} 1`,
			`herald_attempts_total{outcome="SUCCESS",platform="SLACK"} 6`,
			`herald_attempts_total{outcome="SUCCESS",platform="CUSTOM"} 6`,
			`herald_deliveries_total{platform="CUSTOM",state="SUCCEEDED"} 6`,
			`herald_delivery_latency_seconds_count{platform="SLACK"} 6`,
			`herald_queue_depth 0`,
		} {
			if !strings.Contains(string(body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}

// A Slack 429 with Retry-After is retried after the delay, without using
// one of the schedule's attempts, and then succeeds.
func TestSlackRateLimitIsRetried(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		e := start(t, backend)
		e.project("p")
		e.slackHook("p")
		e.slack.FailNext(1, http.StatusTooManyRequests, "rate_limited", http.Header{"Retry-After": {"1"}})
		ev := e.publish("p", eventOf(herald.IssueCreated))
		start := time.Now()
		d := e.waitDelivery("p", ev.Deliveries[0].Name, 10*time.Second, final)
		if d.State != herald.StateSucceeded || len(d.Attempts) != 2 {
			t.Fatalf("delivery %+v", d)
		}
		if a := d.Attempts[0]; a.Outcome != herald.OutcomeRateLimited || a.HTTPStatus != 429 || a.PlatformCode != "rate_limited" {
			t.Fatalf("first attempt %+v", a)
		}
		if gap := d.Attempts[1].StartTime.Sub(d.Attempts[0].StartTime); gap < 900*time.Millisecond {
			t.Fatalf("the retry came %s after the 429, before its Retry-After of 1s", gap)
		}
		if time.Since(start) > 8*time.Second {
			t.Fatal("too slow")
		}
	})
}

// Slack answers 200 with a body other than "ok" only when it did not post:
// the delivery fails at once with the platform's code.
func TestSlackNotOKIsPermanent(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		e := start(t, backend)
		e.project("p")
		e.slackHook("p")
		e.slack.FailNext(1, http.StatusOK, "invalid_token", nil)
		ev := e.publish("p", eventOf(herald.IssueCreated))
		d := e.waitDelivery("p", ev.Deliveries[0].Name, 10*time.Second, final)
		if d.State != herald.StateFailed || d.AttemptCount != 1 || d.Attempts[0].Outcome != herald.OutcomePermanent || d.Attempts[0].PlatformCode != "invalid_token" {
			t.Fatalf("delivery %+v", d)
		}
		time.Sleep(500 * time.Millisecond)
		if n := len(e.slack.Requests()); n != 1 {
			t.Fatalf("a permanent failure was sent %d times, want 1", n)
		}
	})
}

// A CUSTOM endpoint that answers 410 Gone disables its webhook; later events
// create no deliveries for it.
func TestCustomGoneDisablesWebhook(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		e := start(t, backend)
		e.project("p")
		w, _ := e.customHook("p")
		e.custom.FailNext(1, http.StatusGone, "gone", nil)
		ev := e.publish("p", eventOf(herald.PipelineFailed))
		d := e.waitDelivery("p", ev.Deliveries[0].Name, 10*time.Second, final)
		if d.State != herald.StateFailed || d.Attempts[0].HTTPStatus != 410 {
			t.Fatalf("delivery %+v", d)
		}
		hook, err := e.c.GetWebhook(t.Context(), "p", w.ID)
		if err != nil {
			t.Fatal(err)
		}
		if hook.Enabled || !strings.Contains(hook.DisabledReason, "410") {
			t.Fatalf("webhook after 410: enabled %v, reason %q", hook.Enabled, hook.DisabledReason)
		}
		if ev := e.publish("p", eventOf(herald.PipelineFailed)); len(ev.Deliveries) != 0 {
			t.Fatalf("a disabled webhook got %d deliveries", len(ev.Deliveries))
		}
		// Enabling it again by hand clears the reason.
		on := true
		hook, err = e.c.UpdateWebhook(t.Context(), "p", w.ID, service.WebhookUpdate{Enabled: &on})
		if err != nil || !hook.Enabled || hook.DisabledReason != "" {
			t.Fatalf("re-enabled webhook %+v, %v", hook, err)
		}
	})
}

// 503 with Retry-After is retried after that delay; the retry carries the
// same webhook-id.
func TestCustomServerErrorIsRetried(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		e := start(t, backend)
		e.project("p")
		_, endpoint := e.customHook("p")
		e.custom.FailNext(2, http.StatusServiceUnavailable, "busy", http.Header{"Retry-After": {"1"}})
		ev := e.publish("p", eventOf(herald.PipelineCompleted))
		d := e.waitDelivery("p", ev.Deliveries[0].Name, 15*time.Second, final)
		if d.State != herald.StateSucceeded || d.AttemptCount != 3 {
			t.Fatalf("delivery %+v", d)
		}
		for _, a := range d.Attempts[:2] {
			if a.Outcome != herald.OutcomeRetryable || a.HTTPStatus != 503 {
				t.Fatalf("attempt %+v", a)
			}
		}
		if gap := d.Attempts[1].StartTime.Sub(d.Attempts[0].StartTime); gap < 900*time.Millisecond {
			t.Fatalf("retried %s after a Retry-After of 1s", gap)
		}
		if n := e.custom.Seen(client.ID(d.Name)); n != 3 {
			t.Fatalf("webhook-id %s seen %d times, want 3", client.ID(d.Name), n)
		}
		if got := e.custom.Accepted(endpoint); len(got) != 1 {
			t.Fatalf("accepted %d, want 1", len(got))
		}
	})
}

// When the schedule is exhausted the delivery fails, after exactly
// len(schedule)+1 attempts.
func TestScheduleExhausted(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		e := start(t, backend)
		e.project("p")
		e.customHook("p")
		e.custom.FailNext(100, http.StatusInternalServerError, "boom", nil)
		ev := e.publish("p", eventOf(herald.IssueCreated))
		d := e.waitDelivery("p", ev.Deliveries[0].Name, 15*time.Second, final)
		if d.State != herald.StateFailed || d.AttemptCount != 4 || !strings.Contains(d.LastError, "gave up after 4 attempts") {
			t.Fatalf("delivery %+v", d)
		}
		time.Sleep(600 * time.Millisecond)
		if n := len(e.custom.Requests()); n != 4 {
			t.Fatalf("%d requests, want 4", n)
		}
	})
}

// :retry sends a finished delivery again with the same webhook-id, and is
// refused while the delivery is live.
func TestManualRetry(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		e := start(t, backend)
		e.project("p")
		_, endpoint := e.customHook("p")
		e.custom.FailNext(1, http.StatusBadRequest, "nope", nil)
		ev := e.publish("p", eventOf(herald.IssueApproved))
		name := ev.Deliveries[0].Name
		d := e.waitDelivery("p", name, 10*time.Second, final)
		if d.State != herald.StateFailed {
			t.Fatalf("delivery %+v", d)
		}
		d, err := e.c.RetryDelivery(t.Context(), "p", client.ID(name))
		if err != nil {
			t.Fatal(err)
		}
		if d.State != herald.StatePending {
			t.Fatalf("after :retry %+v", d)
		}
		d = e.waitDelivery("p", name, 10*time.Second, inState(herald.StateSucceeded))
		if d.AttemptCount != 2 || d.Attempts[1].Number != 2 {
			t.Fatalf("after retry %+v", d)
		}
		e.custom.WaitAccepted(t, endpoint, 1, 5*time.Second)
		if n := e.custom.Seen(client.ID(name)); n != 2 {
			t.Fatalf("webhook-id seen %d times, want 2", n)
		}
		// A live delivery cannot be retried.
		e.custom.FailNext(1, http.StatusServiceUnavailable, "busy", http.Header{"Retry-After": {"30"}})
		ev = e.publish("p", eventOf(herald.IssueApproved))
		live := e.waitDelivery("p", ev.Deliveries[0].Name, 10*time.Second, inState(herald.StateRetrying))
		_, err = e.c.RetryDelivery(t.Context(), "p", client.ID(live.Name))
		var apiErr *client.Error
		if !asAPIError(err, &apiErr) || apiErr.Code != 409 || apiErr.Status != "FAILED_PRECONDITION" {
			t.Fatalf(":retry of a RETRYING delivery: %v", err)
		}
	})
}

// Publishing the same eventId again returns the original with 200 and
// creates nothing.
func TestIdempotentPublish(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		e := start(t, backend)
		e.project("p")
		_, endpoint := e.customHook("p")
		ev := eventOf(herald.PipelineFailed)
		ev.EventID = "build-1234"
		first := e.publish("p", ev)
		ev2 := eventOf(herald.PipelineCompleted)
		ev2.EventID = "build-1234"
		again, created, err := e.c.Publish(t.Context(), "p", ev2)
		if err != nil {
			t.Fatal(err)
		}
		if created || again.Type != herald.PipelineFailed || len(again.Deliveries) != 1 || again.Deliveries[0].Name != first.Deliveries[0].Name {
			t.Fatalf("repeat: created %v, %+v", created, again)
		}
		e.waitDelivery("p", first.Deliveries[0].Name, 10*time.Second, final)
		time.Sleep(300 * time.Millisecond)
		if got := len(e.custom.Accepted(endpoint)); got != 1 {
			t.Fatalf("the endpoint got %d messages, want 1", got)
		}
		ds, _, err := e.c.ListDeliveries(t.Context(), "p", client.DeliveryFilter{}, client.Page{})
		if err != nil || len(ds) != 1 {
			t.Fatalf("%d deliveries (%v), want 1", len(ds), err)
		}
	})
}

// The delivery log lists newest first and filters by webhook and state.
func TestDeliveryLog(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		e := start(t, backend)
		e.project("p")
		s, _ := e.slackHook("p")
		c, _ := e.customHook("p", herald.PipelineFailed)
		var names []string
		for _, typ := range []herald.EventType{herald.IssueCreated, herald.PipelineFailed, herald.IssueCreated} {
			ev := e.publish("p", eventOf(typ))
			for _, d := range ev.Deliveries {
				names = append(names, d.Name)
				e.waitDelivery("p", d.Name, 10*time.Second, final)
			}
		}
		ds, _, err := e.c.ListDeliveries(t.Context(), "p", client.DeliveryFilter{}, client.Page{Size: 2})
		if err != nil || len(ds) != 2 || ds[0].Name != names[len(names)-1] {
			t.Fatalf("first page: %v %+v", err, ds)
		}
		ds, _, err = e.c.ListDeliveries(t.Context(), "p", client.DeliveryFilter{Webhook: c.Name}, client.Page{})
		if err != nil || len(ds) != 1 || ds[0].Webhook != c.Name {
			t.Fatalf("by webhook name: %v %+v", err, ds)
		}
		ds, _, err = e.c.ListDeliveries(t.Context(), "p", client.DeliveryFilter{Webhook: s.ID, State: herald.StateSucceeded}, client.Page{})
		if err != nil || len(ds) != 3 {
			t.Fatalf("by webhook id and state: %v, %d deliveries", err, len(ds))
		}
		ds, _, err = e.c.ListDeliveries(t.Context(), "p", client.DeliveryFilter{State: herald.StateFailed}, client.Page{})
		if err != nil || len(ds) != 0 {
			t.Fatalf("FAILED: %v, %d deliveries", err, len(ds))
		}
	})
}
