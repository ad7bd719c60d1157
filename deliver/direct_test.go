package deliver_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/deliver"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/platform"
)

// fakeMessenger knows some users and answers sends with send (or SUCCESS).
type fakeMessenger struct {
	mu     sync.Mutex
	users  map[string]string // email → id
	lookup error             // every lookup fails with it, when set
	send   func(id string) platform.Result
	sent   []string
}

func (m *fakeMessenger) Validate(context.Context) error { return nil }

func (m *fakeMessenger) Lookup(_ context.Context, u herald.User) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lookup != nil {
		return "", m.lookup
	}
	if id, ok := m.users[u.Email]; ok {
		return id, nil
	}
	return "", &platform.IMError{Kind: platform.IMUnmatched, Call: "lookup", Code: "users_not_found"}
}

func (m *fakeMessenger) Send(_ context.Context, id string, _ *message.Message, _ string) platform.Result {
	m.mu.Lock()
	m.sent = append(m.sent, id)
	send := m.send
	m.mu.Unlock()
	if send != nil {
		return send(id)
	}
	return platform.Result{Outcome: herald.OutcomeSuccess, HTTPStatus: 200}
}

func (m *fakeMessenger) sends() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.sent...)
}

// dmHarness is a harness whose delivery goes to three recipients through
// a Slack webhook with direct messages and a configured integration.
func dmHarness(t *testing.T, m *fakeMessenger) *harness {
	w := newWork()
	w.Webhook.Type, w.Webhook.DirectMessage = herald.Slack, true
	w.Delivery.Route = herald.RouteDirectMessage
	w.Event.Recipients = []herald.User{{Email: "a@example.com"}, {Email: "b@example.com"}, {Email: "c@example.com"}}
	h := newHarness(w, platform.Result{Outcome: herald.OutcomeSuccess, HTTPStatus: 200})
	h.platform.typ = herald.Slack
	h.engine.Platforms = platform.NewRegistry(h.platform)
	h.store.im = map[herald.IMPlatform]*herald.IMSettings{herald.IMSlack: {Token: "xoxb-1"}}
	h.engine.Messengers = &deliver.Messengers{
		Registry: platform.IMRegistry{herald.IMSlack: func(*herald.IMSettings, *http.Client, platform.IMEndpoints) platform.Messenger { return m }},
	}
	return h
}

func (h *harness) delivery() *herald.Delivery {
	h.store.mu.Lock()
	defer h.store.mu.Unlock()
	return h.store.work.Delivery
}

// Known recipients get one message each; the unknown one is UNMATCHED; each
// SENT is saved before the next recipient is tried.
func TestDirectMessages(t *testing.T) {
	m := &fakeMessenger{users: map[string]string{"a@example.com": "UA", "c@example.com": "UC"}}
	h := dmHarness(t, m)
	if err := h.engine.HandleJob(t.Context(), job()); err != nil {
		t.Fatal(err)
	}
	d := h.delivery()
	if d.State != herald.StateSucceeded || d.Route != herald.RouteDirectMessage {
		t.Fatalf("delivery %s %s (%s)", d.State, d.Route, d.RouteReason)
	}
	want := []herald.RecipientState{herald.RecipientSent, herald.RecipientUnmatched, herald.RecipientSent}
	for i, r := range d.Recipients {
		if r.State != want[i] {
			t.Fatalf("recipient %d: %s, want %s", i, r.State, want[i])
		}
	}
	if got := strings.Join(m.sends(), ","); got != "UA,UC" {
		t.Fatalf("sent to %s", got)
	}
	if h.platform.sent() != 0 {
		t.Fatal("the channel was posted to")
	}
	// The first recipient's SENT was recorded before the second was tried.
	h.store.mu.Lock()
	first := h.store.records[0]
	h.store.mu.Unlock()
	if first.Recipients[0].State != herald.RecipientSent || first.Recipients[2].State != "" || first.Attempt == nil {
		t.Fatalf("first record %+v", first)
	}
	// A rerun of the job (a crash before River saw it finish) sends nothing.
	h.store.work.Delivery.State = herald.StatePending
	if err := h.engine.HandleJob(t.Context(), job()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.sends(), ","); got != "UA,UC" {
		t.Fatalf("a rerun messaged someone again: %s", got)
	}
}

// Nobody matches: the channel, with the reason.
func TestDirectMessagesNobodyMatches(t *testing.T) {
	m := &fakeMessenger{users: map[string]string{}}
	h := dmHarness(t, m)
	if err := h.engine.HandleJob(t.Context(), job()); err != nil {
		t.Fatal(err)
	}
	d := h.delivery()
	if d.State != herald.StateSucceeded || d.Route != herald.RouteDirectMessageFallbackChannel || !strings.Contains(d.RouteReason, "no recipient matched") {
		t.Fatalf("delivery %s %s %q", d.State, d.Route, d.RouteReason)
	}
	if h.platform.sent() != 1 || len(m.sends()) != 0 {
		t.Fatalf("%d channel posts, %d DMs", h.platform.sent(), len(m.sends()))
	}
}

// Rejected credentials at the lookup or the send: the channel.
func TestDirectMessagesRejected(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    *fakeMessenger
	}{
		{"lookup", &fakeMessenger{lookup: &platform.IMError{Kind: platform.IMRejected, Call: "users.lookupByEmail", Code: "invalid_auth"}}},
		{"send", &fakeMessenger{users: map[string]string{"a@example.com": "UA"}, send: func(string) platform.Result {
			return platform.Result{Outcome: herald.OutcomePermanent, PlatformCode: "token_revoked", Error: "token_revoked", CredentialsRejected: true}
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := dmHarness(t, tc.m)
			if err := h.engine.HandleJob(t.Context(), job()); err != nil {
				t.Fatal(err)
			}
			d := h.delivery()
			if d.Route != herald.RouteDirectMessageFallbackChannel || !strings.Contains(d.RouteReason, "rejected") || h.platform.sent() != 1 {
				t.Fatalf("delivery %s %s %q, %d channel posts", d.State, d.Route, d.RouteReason, h.platform.sent())
			}
		})
	}
}

// A transient failure snoozes on the schedule without losing the progress;
// when the schedule runs out, the channel gets the message.
func TestDirectMessagesTransient(t *testing.T) {
	fail := true
	m := &fakeMessenger{users: map[string]string{"a@example.com": "UA", "b@example.com": "UB"}}
	m.send = func(id string) platform.Result {
		if id == "UB" && fail {
			return platform.Result{Outcome: herald.OutcomeRetryable, HTTPStatus: 500, Error: "fatal_error"}
		}
		return platform.Result{Outcome: herald.OutcomeSuccess, HTTPStatus: 200}
	}
	h := dmHarness(t, m)
	err := h.engine.HandleJob(t.Context(), job())
	if d, ok := snoozeOf(err); !ok || d != schedule[0] {
		t.Fatalf("HandleJob = %v, want a snooze of %v", err, schedule[0])
	}
	d := h.delivery()
	if d.State != herald.StateRetrying || d.Recipients[0].State != herald.RecipientSent || d.Recipients[1].State != "" {
		t.Fatalf("after the failure: %s %+v", d.State, d.Recipients)
	}
	// The schedule runs out: the channel.
	for range len(schedule) {
		err = h.engine.HandleJob(t.Context(), job())
	}
	d = h.delivery()
	if err != nil || d.Route != herald.RouteDirectMessageFallbackChannel || !strings.Contains(d.RouteReason, "kept failing") || h.platform.sent() != 1 {
		t.Fatalf("after the schedule: %v, %s %q, %d channel posts", err, d.Route, d.RouteReason, h.platform.sent())
	}
	if n := strings.Count(strings.Join(m.sends(), ","), "UA"); n != 1 {
		t.Fatalf("the first recipient was messaged %d times", n)
	}
}
