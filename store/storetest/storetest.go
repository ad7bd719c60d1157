// Package storetest is the one test suite every store.Store implementation
// must pass. Each backend's tests call Run with a function that opens a
// fresh, empty store.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/store"
)

// Run runs the suite; open returns a new empty store for each subtest.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		f    func(t *testing.T, s store.Store)
	}{
		{"Projects", testProjects},
		{"ProjectPages", testProjectPages},
		{"Webhooks", testWebhooks},
		{"WebhookUpdateAborts", testWebhookUpdateAborts},
		{"PublishAndIdempotency", testPublish},
		{"DeliveryListing", testDeliveryListing},
		{"RecordAndGenerations", testRecord},
		{"RetryDelivery", testRetry},
		{"DeleteProjectCascades", testDeleteCascade},
		{"Settings", testSettings},
		{"ConcurrentWrites", testConcurrentWrites},
		{"ConcurrentLoads", testConcurrentLoads},
		{"IMSettings", testIMSettings},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.f(t, open(t))
		})
	}
}

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func ctx(t *testing.T) context.Context { return t.Context() }

func mustCode(t *testing.T, err error, want herald.Code) {
	t.Helper()
	if got := herald.ErrorCode(err); got != want {
		t.Fatalf("error %v: code %s, want %s", err, got, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newProject(t *testing.T, s store.Store, id string) *herald.Project {
	t.Helper()
	p := &herald.Project{ProjectID: id, Title: "Project " + id, CreateTime: t0, UpdateTime: t0}
	must(t, s.CreateProject(ctx(t), p))
	return p
}

func newWebhook(t *testing.T, s store.Store, projectID string) *herald.Webhook {
	t.Helper()
	w := &herald.Webhook{
		ProjectID: projectID, ID: uuid.Must(uuid.NewV7()).String(), Type: herald.Custom, Title: "hook",
		URL: "https://example.com/hook?token=s3cret", URLPreview: "https://example.com/hook?token=****",
		NotificationTypes: []herald.EventType{herald.IssueCreated, herald.PipelineFailed},
		SigningSecret:     "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0",
		Keyword:           "kw", Enabled: true, CreateTime: t0, UpdateTime: t0,
	}
	must(t, s.CreateWebhook(ctx(t), w))
	return w
}

// publish stores an event with one delivery per webhook.
func publish(t *testing.T, s store.Store, projectID, eventID string, hooks ...*herald.Webhook) (*herald.Event, bool) {
	t.Helper()
	now := t0
	e := &herald.Event{
		ProjectID: projectID, EventID: eventID, Type: herald.IssueCreated, CreateTime: &now,
		Issue:      &herald.Issue{ID: "1", Title: "Add index"},
		Recipients: []herald.User{{Email: "a@example.com"}},
	}
	want := map[string]bool{}
	for _, w := range hooks {
		want[w.ID] = true
	}
	plan := func(p *herald.Project, all []*herald.Webhook) []*herald.Delivery {
		var ds []*herald.Delivery
		for _, w := range all {
			if !want[w.ID] {
				continue
			}
			ds = append(ds, &herald.Delivery{
				ID: uuid.Must(uuid.NewV7()).String(), ProjectID: projectID, EventID: eventID, WebhookID: w.ID,
				State: herald.StatePending, Route: herald.RouteChannel, NextAttemptTime: &now, CreateTime: now, UpdateTime: now,
			})
		}
		return ds
	}
	stored, created, err := s.PublishEvent(ctx(t), e, plan)
	must(t, err)
	return stored, created
}

func testProjects(t *testing.T, s store.Store) {
	p := newProject(t, s, "payments")
	mustCode(t, s.CreateProject(ctx(t), &herald.Project{ProjectID: "payments", Title: "again", CreateTime: t0, UpdateTime: t0}), herald.CodeAlreadyExists)
	got, err := s.GetProject(ctx(t), "payments")
	must(t, err)
	if got.Name != "projects/payments" || got.Title != p.Title || !got.CreateTime.Equal(t0) {
		t.Fatalf("got %+v", got)
	}
	later := t0.Add(time.Hour)
	up, err := s.UpdateProject(ctx(t), "payments", "Payments", later)
	must(t, err)
	if up.Title != "Payments" || !up.UpdateTime.Equal(later) || !up.CreateTime.Equal(t0) {
		t.Fatalf("updated %+v", up)
	}
	_, err = s.UpdateProject(ctx(t), "nope", "x", later)
	mustCode(t, err, herald.CodeNotFound)
	_, err = s.GetProject(ctx(t), "nope")
	mustCode(t, err, herald.CodeNotFound)
	must(t, s.DeleteProject(ctx(t), "payments"))
	mustCode(t, s.DeleteProject(ctx(t), "payments"), herald.CodeNotFound)
}

func testProjectPages(t *testing.T, s store.Store) {
	for i := range 5 {
		newProject(t, s, fmt.Sprintf("p%d", i))
	}
	var seen []string
	token := ""
	for range 10 {
		ps, next, err := s.ListProjects(ctx(t), store.Page{Size: 2, Token: token})
		must(t, err)
		for _, p := range ps {
			seen = append(seen, p.ProjectID)
		}
		if next == "" {
			break
		}
		token = next
	}
	if fmt.Sprint(seen) != "[p0 p1 p2 p3 p4]" {
		t.Fatalf("pages gave %v", seen)
	}
	_, _, err := s.ListProjects(ctx(t), store.Page{Size: 2, Token: "!!not-a-token"})
	mustCode(t, err, herald.CodeInvalidArgument)
}

func testWebhooks(t *testing.T, s store.Store) {
	newProject(t, s, "p")
	w := newWebhook(t, s, "p")
	got, err := s.GetWebhook(ctx(t), "p", w.ID)
	must(t, err)
	if got.URL != w.URL || got.SigningSecret != w.SigningSecret || !got.HasSigningSecret || got.Name != "projects/p/webhooks/"+w.ID {
		t.Fatalf("got %+v", got)
	}
	if len(got.NotificationTypes) != 2 || got.NotificationTypes[1] != herald.PipelineFailed || got.Keyword != "kw" || !got.Enabled {
		t.Fatalf("got %+v", got)
	}
	list, next, err := s.ListWebhooks(ctx(t), "p", store.Page{Size: 10})
	must(t, err)
	if len(list) != 1 || next != "" || list[0].URL != "" || list[0].SigningSecret != "" {
		t.Fatalf("list must hold one webhook without secrets: %+v", list)
	}
	_, _, err = s.ListWebhooks(ctx(t), "other", store.Page{Size: 10})
	mustCode(t, err, herald.CodeNotFound)
	mustCode(t, s.CreateWebhook(ctx(t), &herald.Webhook{ProjectID: "other", ID: "x", Type: herald.Slack}), herald.CodeNotFound)

	up, err := s.UpdateWebhook(ctx(t), "p", w.ID, func(w *herald.Webhook) error {
		w.Title, w.URL, w.SigningSecret, w.Enabled, w.DisabledReason = "renamed", "https://example.com/new", "", false, "by hand"
		return nil
	})
	must(t, err)
	got, err = s.GetWebhook(ctx(t), "p", w.ID)
	must(t, err)
	if got.Title != "renamed" || got.URL != "https://example.com/new" || got.HasSigningSecret || got.Enabled || got.DisabledReason != "by hand" || up.Title != "renamed" {
		t.Fatalf("after update %+v", got)
	}
	// Another project's webhook is not found through this project.
	newProject(t, s, "q")
	_, err = s.GetWebhook(ctx(t), "q", w.ID)
	mustCode(t, err, herald.CodeNotFound)
	mustCode(t, s.DeleteWebhook(ctx(t), "q", w.ID), herald.CodeNotFound)
	must(t, s.DeleteWebhook(ctx(t), "p", w.ID))
	_, err = s.GetWebhook(ctx(t), "p", w.ID)
	mustCode(t, err, herald.CodeNotFound)
}

func testWebhookUpdateAborts(t *testing.T, s store.Store) {
	newProject(t, s, "p")
	w := newWebhook(t, s, "p")
	boom := errors.New("boom")
	_, err := s.UpdateWebhook(ctx(t), "p", w.ID, func(w *herald.Webhook) error {
		w.Title = "changed"
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
	got, err := s.GetWebhook(ctx(t), "p", w.ID)
	must(t, err)
	if got.Title != "hook" {
		t.Fatalf("an aborted update changed the title to %q", got.Title)
	}
}

func testPublish(t *testing.T, s store.Store) {
	newProject(t, s, "p")
	w1, w2 := newWebhook(t, s, "p"), newWebhook(t, s, "p")
	e, created := publish(t, s, "p", "evt-1", w1, w2)
	if !created || e.Name != "projects/p/events/evt-1" || len(e.Deliveries) != 2 || e.Issue.Title != "Add index" {
		t.Fatalf("publish: created %v, %+v", created, e)
	}
	if e.Deliveries[0].State != herald.StatePending || e.Deliveries[0].Event != e.Name {
		t.Fatalf("delivery %+v", e.Deliveries[0])
	}
	live, err := s.LiveDeliveries(ctx(t))
	must(t, err)
	if live != 2 {
		t.Fatalf("live deliveries %d, want 2", live)
	}
	again, created := publish(t, s, "p", "evt-1", w1)
	if created || len(again.Deliveries) != 2 || again.Deliveries[0].ID != e.Deliveries[0].ID {
		t.Fatalf("a repeated eventId must return the original: created %v, %+v", created, again)
	}
	if live, _ := s.LiveDeliveries(ctx(t)); live != 2 {
		t.Fatalf("a repeated eventId created deliveries: %d live", live)
	}
	// The same eventId in another project is another event.
	newProject(t, s, "q")
	if _, created := publish(t, s, "q", "evt-1"); !created {
		t.Fatal("eventId must be unique per project, not globally")
	}
	_, err = s.GetEvent(ctx(t), "p", "nope")
	mustCode(t, err, herald.CodeNotFound)

	// plan sees the project and its webhooks, without secrets.
	now := t0
	var seen []*herald.Webhook
	var seenProject *herald.Project
	_, _, err = s.PublishEvent(ctx(t), &herald.Event{ProjectID: "p", EventID: "evt-2", Type: herald.IssueCreated, CreateTime: &now},
		func(p *herald.Project, hooks []*herald.Webhook) []*herald.Delivery {
			seenProject, seen = p, hooks
			return nil
		})
	must(t, err)
	if seenProject == nil || seenProject.Title != "Project p" || len(seen) != 2 || seen[0].URL != "" || seen[0].SigningSecret != "" ||
		seen[0].Keyword != "kw" || !seen[0].Enabled || len(seen[0].NotificationTypes) != 2 {
		t.Fatalf("plan was given %+v and %+v", seenProject, seen)
	}
	_, _, err = s.PublishEvent(ctx(t), &herald.Event{ProjectID: "nope", EventID: "e", Type: herald.IssueCreated, CreateTime: &now},
		func(*herald.Project, []*herald.Webhook) []*herald.Delivery {
			t.Fatal("plan called for an unknown project")
			return nil
		})
	mustCode(t, err, herald.CodeNotFound)
}

func testDeliveryListing(t *testing.T, s store.Store) {
	newProject(t, s, "p")
	w1, w2 := newWebhook(t, s, "p"), newWebhook(t, s, "p")
	var names []string
	for i := range 3 {
		e, _ := publish(t, s, "p", fmt.Sprintf("e%d", i), w1, w2)
		names = append(names, e.Deliveries[0].Name, e.Deliveries[1].Name)
	}
	var got []string
	token := ""
	for {
		ds, next, err := s.ListDeliveries(ctx(t), "p", store.DeliveryFilter{}, store.Page{Size: 4, Token: token})
		must(t, err)
		for _, d := range ds {
			got = append(got, d.Name)
		}
		if next == "" {
			break
		}
		token = next
	}
	if len(got) != 6 {
		t.Fatalf("listed %d deliveries, want 6", len(got))
	}
	for i := range got {
		if got[i] != names[len(names)-1-i] {
			t.Fatalf("deliveries must be newest first: got %v, published %v", got, names)
		}
	}
	ds, _, err := s.ListDeliveries(ctx(t), "p", store.DeliveryFilter{WebhookID: w2.ID}, store.Page{Size: 50})
	must(t, err)
	if len(ds) != 3 || ds[0].WebhookID != w2.ID {
		t.Fatalf("webhook filter: %d deliveries", len(ds))
	}
	ds, _, err = s.ListDeliveries(ctx(t), "p", store.DeliveryFilter{State: herald.StateFailed}, store.Page{Size: 50})
	must(t, err)
	if len(ds) != 0 {
		t.Fatalf("state filter: %d FAILED deliveries, want 0", len(ds))
	}
	_, _, err = s.ListDeliveries(ctx(t), "nope", store.DeliveryFilter{}, store.Page{Size: 50})
	mustCode(t, err, herald.CodeNotFound)

	stats, err := s.DeliveryStats(ctx(t), "p", t0.Add(-time.Hour), 4)
	must(t, err)
	if len(stats) != 4 || stats[0].State != herald.StatePending || !stats[0].CreateTime.Equal(t0) || stats[0].DeliveredTime != nil {
		t.Fatalf("stats %+v", stats)
	}
	if stats, _ := s.DeliveryStats(ctx(t), "p", t0.Add(time.Hour), 100); len(stats) != 0 {
		t.Fatalf("stats after the deliveries: %d", len(stats))
	}
}

func testRecord(t *testing.T, s store.Store) {
	newProject(t, s, "p")
	w := newWebhook(t, s, "p")
	e, _ := publish(t, s, "p", "e", w)
	d := e.Deliveries[0]
	work, err := s.LoadWork(ctx(t), d.ID)
	must(t, err)
	if work.Webhook == nil || work.Webhook.URL != w.URL || work.Event.Issue.ID != "1" || work.Project.ProjectID != "p" {
		t.Fatalf("work %+v", work)
	}
	next := t0.Add(5 * time.Second)
	must(t, s.Record(ctx(t), &store.Record{
		DeliveryID: d.ID, Attempt: &herald.Attempt{Target: "t", StartTime: t0, DurationMs: 12, HTTPStatus: 503, Outcome: herald.OutcomeRetryable, Error: "HTTP 503"},
		CountsTowardSchedule: true, State: herald.StateRetrying, Route: herald.RouteChannel, NextAttemptTime: &next, LastError: "HTTP 503", Now: t0,
	}))
	long := strings.Repeat("x", 3*herald.MaxAttemptBody)
	must(t, s.Record(ctx(t), &store.Record{
		DeliveryID: d.ID, Attempt: &herald.Attempt{Target: "t", StartTime: t0, HTTPStatus: 200, Outcome: herald.OutcomeSuccess, RequestBody: long, ResponseBody: "ok"},
		CountsTowardSchedule: true, State: herald.StateSucceeded, Route: herald.RouteDirectMessage,
		Recipients: []herald.Recipient{{Email: "a@example.com", State: herald.RecipientSent}}, Now: t0.Add(time.Second),
		DisableWebhook: "gone",
	}))
	got, err := s.GetDelivery(ctx(t), "p", d.ID)
	must(t, err)
	if got.State != herald.StateSucceeded || got.AttemptCount != 2 || got.ScheduleAttempts != 2 || got.NextAttemptTime != nil || got.Route != herald.RouteDirectMessage {
		t.Fatalf("delivery %+v", got)
	}
	if got.DeliveredTime == nil || !got.DeliveredTime.Equal(t0.Add(time.Second)) {
		t.Fatalf("delivered time %v", got.DeliveredTime)
	}
	if len(got.Attempts) != 2 || got.Attempts[0].Number != 1 || got.Attempts[1].Number != 2 || got.Attempts[0].HTTPStatus != 503 {
		t.Fatalf("attempts %+v", got.Attempts)
	}
	if len(got.Attempts[1].RequestBody) != herald.MaxAttemptBody {
		t.Fatalf("request body kept %d bytes, want %d", len(got.Attempts[1].RequestBody), herald.MaxAttemptBody)
	}
	if len(got.Recipients) != 1 || got.Recipients[0].State != herald.RecipientSent {
		t.Fatalf("recipients %+v", got.Recipients)
	}
	hook, err := s.GetWebhook(ctx(t), "p", w.ID)
	must(t, err)
	if hook.Enabled || hook.DisabledReason != "gone" {
		t.Fatalf("webhook must be disabled: %+v", hook)
	}
	if live, _ := s.LiveDeliveries(ctx(t)); live != 0 {
		t.Fatalf("live %d", live)
	}
	// A worker of an older generation changes nothing.
	err = s.Record(ctx(t), &store.Record{DeliveryID: d.ID, Generation: 7, State: herald.StateFailed, Now: t0})
	if !errors.Is(err, store.ErrStale) {
		t.Fatalf("stale record: %v", err)
	}
	err = s.Record(ctx(t), &store.Record{DeliveryID: "missing", State: herald.StateFailed, Now: t0})
	if !errors.Is(err, store.ErrStale) {
		t.Fatalf("record of a deleted delivery: %v", err)
	}
	// Another project cannot read it.
	newProject(t, s, "q")
	_, err = s.GetDelivery(ctx(t), "q", d.ID)
	mustCode(t, err, herald.CodeNotFound)
	// The route's reason is kept, and a record can start the schedule over.
	must(t, s.Record(ctx(t), &store.Record{DeliveryID: d.ID, State: herald.StateRetrying, Route: herald.RouteDirectMessageFallbackChannel,
		RouteReason: "no recipient matched", ResetSchedule: true, Now: t0,
		Attempt: &herald.Attempt{Outcome: herald.OutcomeRetryable, StartTime: t0}, CountsTowardSchedule: true}))
	got, err = s.GetDelivery(ctx(t), "p", d.ID)
	must(t, err)
	if got.RouteReason != "no recipient matched" || got.ScheduleAttempts != 1 || got.AttemptCount != 3 {
		t.Fatalf("after a reset: %+v", got)
	}
	// A deleted webhook leaves the work without one.
	must(t, s.DeleteWebhook(ctx(t), "p", w.ID))
	work, err = s.LoadWork(ctx(t), d.ID)
	must(t, err)
	if work.Webhook != nil {
		t.Fatal("work of a deleted webhook must have no webhook")
	}
	_, err = s.LoadWork(ctx(t), "missing")
	mustCode(t, err, herald.CodeNotFound)
}

func testRetry(t *testing.T, s store.Store) {
	newProject(t, s, "p")
	w := newWebhook(t, s, "p")
	e, _ := publish(t, s, "p", "e", w)
	d := e.Deliveries[0]
	_, err := s.RetryDelivery(ctx(t), "p", d.ID, t0)
	mustCode(t, err, herald.CodeFailedPrecondition)
	must(t, s.Record(ctx(t), &store.Record{DeliveryID: d.ID, State: herald.StateFailed, Route: herald.RouteChannel, LastError: "x",
		Attempt: &herald.Attempt{Outcome: herald.OutcomePermanent, StartTime: t0}, CountsTowardSchedule: true, Now: t0}))
	_, err = s.RetryDelivery(ctx(t), "q", d.ID, t0)
	mustCode(t, err, herald.CodeNotFound)
	// A direct-message delivery that fell back is retried as direct
	// messages again, to every recipient.
	e2, _ := publish(t, s, "p", "e2", w)
	d2 := e2.Deliveries[0]
	must(t, s.Record(ctx(t), &store.Record{DeliveryID: d2.ID, State: herald.StateSucceeded, Route: herald.RouteDirectMessageFallbackChannel,
		RouteReason: "no recipient matched", Recipients: []herald.Recipient{{Email: "a@example.com", State: herald.RecipientUnmatched, Error: "x", UserID: "U1"}}, Now: t0}))
	again, err := s.RetryDelivery(ctx(t), "p", d2.ID, t0)
	must(t, err)
	if again.Route != herald.RouteDirectMessage || again.RouteReason != "" || len(again.Recipients) != 1 ||
		again.Recipients[0] != (herald.Recipient{Email: "a@example.com"}) {
		t.Fatalf("retried direct-message delivery %+v", again)
	}
	_, err = s.RetryDelivery(ctx(t), "q", d.ID, t0)
	mustCode(t, err, herald.CodeNotFound)
	got, err := s.RetryDelivery(ctx(t), "p", d.ID, t0.Add(time.Minute))
	must(t, err)
	if got.State != herald.StatePending || got.Generation != 1 || got.ScheduleAttempts != 0 || got.AttemptCount != 1 || got.LastError != "" {
		t.Fatalf("retried %+v", got)
	}
	if got.Route != herald.RouteChannel {
		t.Fatalf("a channel delivery retried as %s", got.Route)
	}
	// The old generation's worker is stale; the new one records.
	if err := s.Record(ctx(t), &store.Record{DeliveryID: d.ID, Generation: 0, State: herald.StateFailed, Now: t0}); !errors.Is(err, store.ErrStale) {
		t.Fatalf("old generation: %v", err)
	}
	must(t, s.Record(ctx(t), &store.Record{DeliveryID: d.ID, Generation: 1, State: herald.StateSucceeded, Route: herald.RouteChannel,
		Attempt: &herald.Attempt{Outcome: herald.OutcomeSuccess, StartTime: t0}, CountsTowardSchedule: true, Now: t0}))
	got, err = s.GetDelivery(ctx(t), "p", d.ID)
	must(t, err)
	if got.State != herald.StateSucceeded || len(got.Attempts) != 2 || got.Attempts[1].Number != 2 {
		t.Fatalf("after retry %+v", got)
	}
}

func testDeleteCascade(t *testing.T, s store.Store) {
	newProject(t, s, "p")
	w := newWebhook(t, s, "p")
	e, _ := publish(t, s, "p", "e", w)
	must(t, s.DeleteProject(ctx(t), "p"))
	_, err := s.GetWebhook(ctx(t), "p", w.ID)
	mustCode(t, err, herald.CodeNotFound)
	_, err = s.LoadWork(ctx(t), e.Deliveries[0].ID)
	mustCode(t, err, herald.CodeNotFound)
	// The id is free again.
	newProject(t, s, "p")
	if _, err := s.GetEvent(ctx(t), "p", "e"); herald.ErrorCode(err) != herald.CodeNotFound {
		t.Fatalf("the old project's event survived: %v", err)
	}
}

func testSettings(t *testing.T, s store.Store) {
	_, err := s.GetSetting(ctx(t), "k")
	mustCode(t, err, herald.CodeNotFound)
	ok, err := s.PutSettingIfAbsent(ctx(t), "k", []byte("v1"))
	must(t, err)
	if !ok {
		t.Fatal("first put must store")
	}
	ok, err = s.PutSettingIfAbsent(ctx(t), "k", []byte("v2"))
	must(t, err)
	if ok {
		t.Fatal("second put must not store")
	}
	v, err := s.GetSetting(ctx(t), "k")
	must(t, err)
	if string(v) != "v1" {
		t.Fatalf("setting %q", v)
	}
}

// Writes arriving together share transactions; each must still get its own
// answer: one of several publishes of one eventId creates it, records of
// many deliveries each land on their own delivery.
func testConcurrentWrites(t *testing.T, s store.Store) {
	newProject(t, s, "p")
	w := newWebhook(t, s, "p")
	const n = 120
	type result struct {
		ev      *herald.Event
		created bool
		err     error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			now := t0
			id := fmt.Sprintf("e%d", i%40) // each id published three times
			e := &herald.Event{ProjectID: "p", EventID: id, Type: herald.IssueCreated, CreateTime: &now, Issue: &herald.Issue{ID: "1", Title: "t"}}
			d := &herald.Delivery{ID: uuid.Must(uuid.NewV7()).String(), ProjectID: "p", EventID: id, WebhookID: w.ID,
				State: herald.StatePending, Route: herald.RouteChannel, NextAttemptTime: &now, CreateTime: now, UpdateTime: now}
			ev, created, err := s.PublishEvent(ctx(t), e, func(*herald.Project, []*herald.Webhook) []*herald.Delivery {
				c := *d
				return []*herald.Delivery{&c}
			})
			results[i] = result{ev, created, err}
		})
	}
	wg.Wait()
	createdByID := map[string]int{}
	deliveryByID := map[string]string{}
	for _, r := range results {
		must(t, r.err)
		if r.created {
			createdByID[r.ev.EventID]++
		}
		if len(r.ev.Deliveries) != 1 {
			t.Fatalf("event %s has %d deliveries", r.ev.EventID, len(r.ev.Deliveries))
		}
		if prev, ok := deliveryByID[r.ev.EventID]; ok && prev != r.ev.Deliveries[0].ID {
			t.Fatalf("event %s answered with two different deliveries", r.ev.EventID)
		}
		deliveryByID[r.ev.EventID] = r.ev.Deliveries[0].ID
	}
	if len(createdByID) != 40 {
		t.Fatalf("%d events created, want 40", len(createdByID))
	}
	for id, c := range createdByID {
		if c != 1 {
			t.Fatalf("event %s created %d times", id, c)
		}
	}
	if live, _ := s.LiveDeliveries(ctx(t)); live != 40 {
		t.Fatalf("%d live deliveries, want 40", live)
	}
	// Record every delivery at once, plus a stale record for each.
	errs := make([]error, 80)
	i := 0
	for _, id := range deliveryByID {
		for _, gen := range []int{0, 5} {
			wg.Go(func(k int) func() {
				return func() {
					errs[k] = s.Record(ctx(t), &store.Record{DeliveryID: id, Generation: gen, State: herald.StateSucceeded, Route: herald.RouteChannel,
						Attempt: &herald.Attempt{Outcome: herald.OutcomeSuccess, StartTime: t0, Target: id}, CountsTowardSchedule: true, Now: t0})
				}
			}(i))
			i++
		}
	}
	wg.Wait()
	stale := 0
	for _, err := range errs {
		if errors.Is(err, store.ErrStale) {
			stale++
		} else {
			must(t, err)
		}
	}
	if stale != 40 {
		t.Fatalf("%d stale records, want 40", stale)
	}
	for _, id := range deliveryByID {
		d, err := s.GetDelivery(ctx(t), "p", id)
		must(t, err)
		if d.State != herald.StateSucceeded || len(d.Attempts) != 1 || d.Attempts[0].Target != id || d.Attempts[0].Number != 1 {
			t.Fatalf("delivery %s after concurrent records: %+v", id, d)
		}
	}
}

func testIMSettings(t *testing.T, s store.Store) {
	_, err := s.GetIMSettings(ctx(t), herald.IMSlack)
	mustCode(t, err, herald.CodeNotFound)
	mustCode(t, s.DeleteIMSettings(ctx(t), herald.IMSlack), herald.CodeNotFound)
	got, err := s.UpdateIMSettings(ctx(t), herald.IMSlack, func(in *herald.IMSettings) error {
		if *in != (herald.IMSettings{}) {
			t.Fatalf("new settings start empty, got %+v", in)
		}
		in.Token = "xoxb-1"
		return nil
	})
	must(t, err)
	if got.Token != "xoxb-1" {
		t.Fatalf("update returned %+v", got)
	}
	_, err = s.UpdateIMSettings(ctx(t), herald.IMWeCom, func(in *herald.IMSettings) error {
		in.CorpID, in.AgentID, in.Secret = "ww1", 1000002, "s"
		return nil
	})
	must(t, err)
	// An update sees the stored values; another platform is untouched.
	_, err = s.UpdateIMSettings(ctx(t), herald.IMSlack, func(in *herald.IMSettings) error {
		if in.Token != "xoxb-1" {
			t.Fatalf("update saw %+v", in)
		}
		in.Token = "xoxb-2"
		return nil
	})
	must(t, err)
	boom := errors.New("boom")
	if _, err := s.UpdateIMSettings(ctx(t), herald.IMSlack, func(in *herald.IMSettings) error { in.Token = "lost"; return boom }); !errors.Is(err, boom) {
		t.Fatalf("aborted update: %v", err)
	}
	slack, err := s.GetIMSettings(ctx(t), herald.IMSlack)
	must(t, err)
	wecom, err := s.GetIMSettings(ctx(t), herald.IMWeCom)
	must(t, err)
	if slack.Token != "xoxb-2" || wecom.CorpID != "ww1" || wecom.AgentID != 1000002 || wecom.Secret != "s" {
		t.Fatalf("slack %+v wecom %+v", slack, wecom)
	}
	must(t, s.DeleteIMSettings(ctx(t), herald.IMSlack))
	_, err = s.GetIMSettings(ctx(t), herald.IMSlack)
	mustCode(t, err, herald.CodeNotFound)
	if _, err := s.GetIMSettings(ctx(t), herald.IMWeCom); err != nil {
		t.Fatalf("deleting slack removed wecom: %v", err)
	}
}

// Loads that arrive together are read together: each caller still gets
// its own delivery (its own copy when two ask for the same one) or
// NOT_FOUND, whatever else is in the batch.
func testConcurrentLoads(t *testing.T, s store.Store) {
	newProject(t, s, "p")
	w := newWebhook(t, s, "p")
	var ids []string
	eventOf := map[string]string{}
	for i := range 40 {
		e, _ := publish(t, s, "p", fmt.Sprintf("e%d", i), w)
		ids = append(ids, e.Deliveries[0].ID)
		eventOf[e.Deliveries[0].ID] = e.EventID
	}
	const rounds = 3
	asks := make([]string, 0, rounds*(len(ids)+5))
	for range rounds {
		asks = append(asks, ids...)
		asks = append(asks, ids[0], ids[7], "missing-1", ids[7], "missing-2")
	}
	works := make([]*store.Work, len(asks))
	errs := make([]error, len(asks))
	var wg sync.WaitGroup
	for i, id := range asks {
		wg.Go(func() { works[i], errs[i] = s.LoadWork(ctx(t), id) })
	}
	wg.Wait()
	seen := map[*herald.Delivery]bool{}
	for i, id := range asks {
		if strings.HasPrefix(id, "missing") {
			mustCode(t, errs[i], herald.CodeNotFound)
			continue
		}
		must(t, errs[i])
		got := works[i]
		if got.Delivery.ID != id || got.Webhook == nil || got.Webhook.URL != w.URL || got.Event.EventID != eventOf[id] {
			t.Fatalf("load %s got %+v", id, got.Delivery)
		}
		if seen[got.Delivery] {
			t.Fatalf("two callers share the Work of %s", id)
		}
		seen[got.Delivery] = true
	}
}
