package service_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/metrics"
	"github.com/heraldhq/herald/netguard"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/platform/custom"
	"github.com/heraldhq/herald/platform/slack"
	"github.com/heraldhq/herald/queue"
	"github.com/heraldhq/herald/secret"
	"github.com/heraldhq/herald/service"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/sqlite"
)

const (
	slackURL      = "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/slackSecretPart1234"
	slackSecret   = "slackSecretPart1234"
	customURL     = "https://receiver.example.com/hooks/customSecretPart5678?token=queryToken999"
	customSecrets = "customSecretPart5678 queryToken999"
)

// newService returns a service over a new SQLite store, with the SLACK and
// CUSTOM platforms and private targets allowed.
func newService(t *testing.T) *service.Service {
	t.Helper()
	key, err := secret.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	box, err := secret.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "herald.db"), sqlite.Options{Box: box, Queue: queue.Config{Workers: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return &service.Service{
		Store:     b,
		Platforms: platform.NewRegistry(slack.New(), custom.New()),
		Policy:    &netguard.Policy{AllowPrivate: true},
		Client:    http.DefaultClient,
		Metrics:   metrics.New(nil),
	}
}

func newProject(t *testing.T, s *service.Service, id string) {
	t.Helper()
	if _, err := s.CreateProject(t.Context(), service.ProjectCreate{ProjectID: id, Title: "Project " + id}); err != nil {
		t.Fatal(err)
	}
}

func createWebhook(t *testing.T, s *service.Service, project string, in service.WebhookCreate) *service.CreatedWebhook {
	t.Helper()
	w, err := s.CreateWebhook(t.Context(), project, in)
	if err != nil {
		t.Fatalf("CreateWebhook(%s %q): %v", in.Type, in.Title, err)
	}
	return w
}

func enabled(b bool) *bool { return &b }

func issueEvent(typ herald.EventType) *herald.Event {
	return &herald.Event{Type: typ, Issue: &herald.Issue{ID: "42", Title: "Add index"}, Actor: &herald.User{Name: "Alice"}}
}

func pipelineEvent(typ herald.EventType) *herald.Event {
	return &herald.Event{Type: typ, Rollout: &herald.Rollout{ID: "7", Title: "Release 1.4"}}
}

// wantCode fails unless err is a herald error with the code (and, when
// field is not empty, about that field).
func wantCode(t *testing.T, err error, code herald.Code, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	if got := herald.ErrorCode(err); got != code {
		t.Fatalf("error %q is %s, want %s", err, got, code)
	}
	var he *herald.Error
	if field != "" && (!errors.As(err, &he) || he.Field != field) {
		t.Errorf("error %q is not about %s", err, field)
	}
}

func webhookNames(ds []herald.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Webhook)
	}
	slices.Sort(out)
	return out
}

func sorted(vs ...string) []string {
	slices.Sort(vs)
	return vs
}

func eventsReceived(t *testing.T, s *service.Service, typ herald.EventType) float64 {
	t.Helper()
	mfs, err := s.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "herald_events_received_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "type" && l.GetValue() == string(typ) {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestPublishDeliversToSubscribedEnabledWebhooks(t *testing.T) {
	s := newService(t)
	newProject(t, s, "payments")
	newProject(t, s, "other")
	issues := createWebhook(t, s, "payments", service.WebhookCreate{
		Type: herald.Slack, Title: "Issues", URL: slackURL, NotificationTypes: []herald.EventType{herald.IssueCreated},
	})
	createWebhook(t, s, "payments", service.WebhookCreate{
		Type: herald.Custom, Title: "Disabled", URL: customURL, Enabled: enabled(false),
		NotificationTypes: []herald.EventType{herald.IssueCreated, herald.PipelineFailed},
	})
	pipelines := createWebhook(t, s, "payments", service.WebhookCreate{
		Type: herald.Custom, Title: "Pipelines", URL: customURL, NotificationTypes: []herald.EventType{herald.PipelineFailed},
	})
	all := createWebhook(t, s, "payments", service.WebhookCreate{
		Type: herald.Slack, Title: "Everything", URL: slackURL, NotificationTypes: herald.EventTypes,
	})
	createWebhook(t, s, "other", service.WebhookCreate{
		Type: herald.Slack, Title: "Another project", URL: slackURL, NotificationTypes: herald.EventTypes,
	})

	tests := []struct {
		event *herald.Event
		want  []string
	}{
		{issueEvent(herald.IssueCreated), sorted(issues.Name, all.Name)},
		{pipelineEvent(herald.PipelineFailed), sorted(pipelines.Name, all.Name)},
		{issueEvent(herald.IssueApproved), []string{all.Name}},
	}
	for _, tt := range tests {
		t.Run(string(tt.event.Type), func(t *testing.T) {
			ev, created, err := s.Publish(t.Context(), "payments", tt.event)
			if err != nil {
				t.Fatal(err)
			}
			if !created {
				t.Error("created = false for a new event")
			}
			if got := webhookNames(ev.Deliveries); !slices.Equal(got, tt.want) {
				t.Errorf("deliveries to %v, want %v", got, tt.want)
			}
			for _, d := range ev.Deliveries {
				if d.State != herald.StatePending || d.Event != ev.Name || !strings.HasPrefix(d.Name, "projects/payments/deliveries/") {
					t.Errorf("delivery %+v, want a PENDING delivery of %s", d, ev.Name)
				}
			}
			stored, err := s.GetEvent(t.Context(), "payments", ev.EventID)
			if err != nil {
				t.Fatal(err)
			}
			if got := webhookNames(stored.Deliveries); !slices.Equal(got, tt.want) {
				t.Errorf("stored deliveries to %v, want %v", got, tt.want)
			}
			if eventsReceived(t, s, tt.event.Type) != 1 {
				t.Errorf("herald_events_received_total{type=%s} = %v, want 1", tt.event.Type, eventsReceived(t, s, tt.event.Type))
			}
		})
	}
}

func TestPublishWithoutWebhooks(t *testing.T) {
	s := newService(t)
	newProject(t, s, "payments")
	ev, created, err := s.Publish(t.Context(), "payments", issueEvent(herald.IssueCreated))
	if err != nil || !created {
		t.Fatalf("Publish = %v, %v", created, err)
	}
	if len(ev.Deliveries) != 0 {
		t.Errorf("%d deliveries without webhooks", len(ev.Deliveries))
	}
	if ev.EventID == "" || ev.Name != herald.EventName("payments", ev.EventID) {
		t.Errorf("event id %q, name %q; want a generated id and its name", ev.EventID, ev.Name)
	}
}

func TestPublishRepeatedEventID(t *testing.T) {
	s := newService(t)
	newProject(t, s, "payments")
	createWebhook(t, s, "payments", service.WebhookCreate{
		Type: herald.Slack, Title: "Everything", URL: slackURL, NotificationTypes: herald.EventTypes,
	})
	first := issueEvent(herald.IssueCreated)
	first.EventID = "issue-42-created"
	ev1, created, err := s.Publish(t.Context(), "payments", first)
	if err != nil || !created {
		t.Fatalf("first Publish = %v, %v", created, err)
	}

	again := issueEvent(herald.IssueCreated)
	again.EventID = "issue-42-created"
	again.Title = "A different title"
	ev2, created, err := s.Publish(t.Context(), "payments", again)
	if err != nil {
		t.Fatal(err)
	}
	if created {
		t.Error("created = true for a repeated eventId")
	}
	if ev2.Name != ev1.Name || ev2.Title != ev1.Title {
		t.Errorf("repeat returned %q %q, want the original %q %q", ev2.Name, ev2.Title, ev1.Name, ev1.Title)
	}
	if got := webhookNames(ev2.Deliveries); !slices.Equal(got, webhookNames(ev1.Deliveries)) {
		t.Errorf("repeat returned deliveries %v, want the original %v", got, webhookNames(ev1.Deliveries))
	}
	ds, _, err := s.ListDeliveries(t.Context(), "payments", "", "", store.Page{Size: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 {
		t.Errorf("%d deliveries after publishing the same eventId twice, want 1", len(ds))
	}
	if got := eventsReceived(t, s, herald.IssueCreated); got != 1 {
		t.Errorf("herald_events_received_total = %v, want 1 (repeats are not counted)", got)
	}

	// The same eventId in another project is another event.
	newProject(t, s, "other")
	other := issueEvent(herald.IssueCreated)
	other.EventID = "issue-42-created"
	if _, created, err := s.Publish(t.Context(), "other", other); err != nil || !created {
		t.Errorf("Publish of the same eventId in another project = %v, %v; want created", created, err)
	}
}

func TestPublishRejects(t *testing.T) {
	s := newService(t)
	newProject(t, s, "payments")
	createWebhook(t, s, "payments", service.WebhookCreate{
		Type: herald.Slack, Title: "Everything", URL: slackURL, NotificationTypes: herald.EventTypes,
	})

	_, _, err := s.Publish(t.Context(), "payments", &herald.Event{Type: herald.IssueCreated})
	wantCode(t, err, herald.CodeInvalidArgument, "issue")
	_, _, err = s.Publish(t.Context(), "payments", &herald.Event{Type: "ISSUE_DELETED"})
	wantCode(t, err, herald.CodeInvalidArgument, "type")
	_, _, err = s.Publish(t.Context(), "nope", issueEvent(herald.IssueCreated))
	wantCode(t, err, herald.CodeNotFound, "")

	ds, _, err := s.ListDeliveries(t.Context(), "payments", "", "", store.Page{Size: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 0 {
		t.Errorf("%d deliveries after rejected events, want none", len(ds))
	}
}

func TestCreateCustomWebhookGeneratesSecret(t *testing.T) {
	s := newService(t)
	newProject(t, s, "payments")
	w := createWebhook(t, s, "payments", service.WebhookCreate{
		Type: herald.Custom, Title: "Receiver", URL: customURL, NotificationTypes: herald.EventTypes,
	})
	if !strings.HasPrefix(w.SigningSecret, "whsec_") {
		t.Fatalf("generated secret %q, want whsec_…", w.SigningSecret)
	}
	if err := custom.ValidateSecret(w.SigningSecret); err != nil {
		t.Errorf("the generated secret is not valid: %v", err)
	}
	if !w.HasSigningSecret || !w.Enabled || w.SupportsDirectMessage {
		t.Errorf("webhook %+v: want hasSigningSecret, enabled, no direct messages", w.Webhook)
	}
	if w.Webhook.URL != "" || w.Webhook.SigningSecret != "" {
		t.Error("the create answer carries the webhook's URL or secret in the webhook itself")
	}
	body, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(body), w.SigningSecret) != 1 {
		t.Errorf("the create answer %s should carry the generated secret exactly once", body)
	}
	for _, s := range strings.Fields(customSecrets) {
		if strings.Contains(string(body), s) {
			t.Errorf("the create answer %s contains the URL's secret part %q", body, s)
		}
	}

	// The secret is stored: the store opens the same one.
	stored, err := s.Store.GetWebhook(t.Context(), "payments", w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.SigningSecret != w.SigningSecret || stored.URL != customURL {
		t.Errorf("stored secret and URL differ from the created ones")
	}

	// Two webhooks get different secrets.
	w2 := createWebhook(t, s, "payments", service.WebhookCreate{
		Type: herald.Custom, Title: "Receiver 2", URL: customURL, NotificationTypes: herald.EventTypes,
	})
	if w2.SigningSecret == w.SigningSecret {
		t.Error("two webhooks got the same generated secret")
	}
}

func TestCreateCustomWebhookWithSecret(t *testing.T) {
	s := newService(t)
	newProject(t, s, "payments")
	given, err := custom.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	w := createWebhook(t, s, "payments", service.WebhookCreate{
		Type: herald.Custom, Title: "Receiver", URL: customURL, SigningSecret: given, NotificationTypes: herald.EventTypes,
	})
	if w.SigningSecret != "" {
		t.Error("the create answer echoes a secret the caller gave")
	}
	if !w.HasSigningSecret {
		t.Error("hasSigningSecret = false")
	}
	_, err = s.CreateWebhook(t.Context(), "payments", service.WebhookCreate{
		Type: herald.Custom, Title: "Bad", URL: customURL, SigningSecret: "whsec_short", NotificationTypes: herald.EventTypes,
	})
	wantCode(t, err, herald.CodeInvalidArgument, "signingSecret")
}

func TestWebhooksNeverCarrySecrets(t *testing.T) {
	s := newService(t)
	newProject(t, s, "payments")
	sw := createWebhook(t, s, "payments", service.WebhookCreate{
		Type: herald.Slack, Title: "Slack", URL: slackURL, NotificationTypes: herald.EventTypes,
	})
	cw := createWebhook(t, s, "payments", service.WebhookCreate{
		Type: herald.Custom, Title: "Custom", URL: customURL, NotificationTypes: herald.EventTypes,
	})
	check := func(how string, w *herald.Webhook) {
		t.Helper()
		if w.URL != "" || w.SigningSecret != "" {
			t.Errorf("%s %s carries URL %q, secret %q", how, w.Name, w.URL, w.SigningSecret)
		}
		body, _ := json.Marshal(w)
		for _, sec := range append(strings.Fields(customSecrets), slackSecret, cw.SigningSecret) {
			if strings.Contains(string(body), sec) {
				t.Errorf("%s %s JSON contains %q: %s", how, w.Name, sec, body)
			}
		}
	}
	for _, id := range []string{sw.ID, cw.ID} {
		w, err := s.GetWebhook(t.Context(), "payments", id)
		if err != nil {
			t.Fatal(err)
		}
		check("GetWebhook", w)
	}
	ws, _, err := s.ListWebhooks(t.Context(), "payments", store.Page{Size: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 {
		t.Fatalf("ListWebhooks returned %d webhooks, want 2", len(ws))
	}
	for _, w := range ws {
		check("ListWebhooks", w)
		if !strings.Contains(w.URLPreview, "****") {
			t.Errorf("ListWebhooks %s urlPreview %q is not masked", w.Name, w.URLPreview)
		}
	}
	updated, err := s.UpdateWebhook(t.Context(), "payments", cw.ID, service.WebhookUpdate{Title: ptr("Renamed")})
	if err != nil {
		t.Fatal(err)
	}
	check("UpdateWebhook", updated)
}

func ptr[T any](v T) *T { return &v }

func TestURLPreviewMasks(t *testing.T) {
	s := newService(t)
	newProject(t, s, "payments")
	tests := []struct {
		typ     herald.WebhookType
		url     string
		want    string // exact preview, when known
		secrets []string
	}{
		{herald.Slack, slackURL, "https://hooks.slack.com/services/T0…/****", []string{slackSecret, "B0456EFGH"}},
		{herald.Custom, customURL, "", strings.Fields(customSecrets)},
	}
	for _, tt := range tests {
		w := createWebhook(t, s, "payments", service.WebhookCreate{Type: tt.typ, Title: "W", URL: tt.url, NotificationTypes: herald.EventTypes})
		if tt.want != "" && w.URLPreview != tt.want {
			t.Errorf("%s urlPreview = %q, want %q", tt.typ, w.URLPreview, tt.want)
		}
		got, err := s.GetWebhook(t.Context(), "payments", w.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.URLPreview != w.URLPreview {
			t.Errorf("stored urlPreview %q differs from the created %q", got.URLPreview, w.URLPreview)
		}
		if !strings.Contains(got.URLPreview, "****") {
			t.Errorf("%s urlPreview %q masks nothing", tt.typ, got.URLPreview)
		}
		for _, sec := range tt.secrets {
			if strings.Contains(got.URLPreview, sec) {
				t.Errorf("%s urlPreview %q shows %q", tt.typ, got.URLPreview, sec)
			}
		}
	}
}

func TestUpdateWebhookInvalidChangesNothing(t *testing.T) {
	s := newService(t)
	newProject(t, s, "payments")
	w := createWebhook(t, s, "payments", service.WebhookCreate{
		Type: herald.Slack, Title: "Slack", URL: slackURL, NotificationTypes: []herald.EventType{herald.IssueCreated},
	})
	tests := []struct {
		name  string
		in    service.WebhookUpdate
		field string
	}{
		{"host of another platform", service.WebhookUpdate{Title: ptr("New title"), URL: ptr("https://evil.example.com/services/x")}, "url"},
		{"not a URL", service.WebhookUpdate{URL: ptr("::not a url")}, "url"},
		{"ftp", service.WebhookUpdate{URL: ptr("ftp://hooks.slack.com/services/T/B/X")}, "url"},
		{"changed type", service.WebhookUpdate{Type: ptr(herald.Custom), Title: ptr("New title")}, "type"},
		{"empty title", service.WebhookUpdate{Title: ptr(" ")}, "title"},
		{"unknown notification type", service.WebhookUpdate{NotificationTypes: []herald.EventType{"ISSUE_DELETED"}}, "notificationTypes"},
		{"duplicate notification type", service.WebhookUpdate{NotificationTypes: []herald.EventType{herald.IssueCreated, herald.IssueCreated}}, "notificationTypes"},
		{"secret on an unsigned type", service.WebhookUpdate{SigningSecret: ptr("whatever")}, "signingSecret"},
		{"keyword with a newline", service.WebhookUpdate{Keyword: ptr("a\nb")}, "keyword"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.UpdateWebhook(t.Context(), "payments", w.ID, tt.in)
			wantCode(t, err, herald.CodeInvalidArgument, tt.field)
			got, err := s.GetWebhook(t.Context(), "payments", w.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.URLPreview != w.URLPreview || got.Title != "Slack" || !slices.Equal(got.NotificationTypes, w.NotificationTypes) ||
				got.HasSigningSecret || got.Keyword != "" || !got.UpdateTime.Equal(w.UpdateTime) {
				t.Errorf("after a rejected update the webhook is %+v, want it unchanged from %+v", got, w.Webhook)
			}
			stored, err := s.Store.GetWebhook(t.Context(), "payments", w.ID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.URL != slackURL {
				t.Errorf("stored URL changed after a rejected update")
			}
		})
	}

	// A valid update does change it.
	newURL := "https://hooks.slack.com/services/T9999ZZZZ/B0000/anotherSecret"
	got, err := s.UpdateWebhook(t.Context(), "payments", w.ID, service.WebhookUpdate{URL: &newURL, Type: ptr(herald.Slack)})
	if err != nil {
		t.Fatal(err)
	}
	if got.URLPreview != "https://hooks.slack.com/services/T9…/****" {
		t.Errorf("urlPreview after a URL change = %q", got.URLPreview)
	}
}

func TestUpdateWebhookEnableClearsDisabledReason(t *testing.T) {
	s := newService(t)
	newProject(t, s, "payments")
	w := createWebhook(t, s, "payments", service.WebhookCreate{
		Type: herald.Custom, Title: "Custom", URL: customURL, NotificationTypes: herald.EventTypes,
	})
	// The engine disables a webhook through the store.
	if _, err := s.Store.UpdateWebhook(t.Context(), "payments", w.ID, func(w *herald.Webhook) error {
		w.Enabled, w.DisabledReason = false, "the endpoint answered 410 Gone"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.UpdateWebhook(t.Context(), "payments", w.ID, service.WebhookUpdate{Enabled: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Enabled || got.DisabledReason != "" {
		t.Errorf("enabled %v, disabledReason %q; want enabled without a reason", got.Enabled, got.DisabledReason)
	}
	// The secret survives an update that does not name it.
	stored, err := s.Store.GetWebhook(t.Context(), "payments", w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.SigningSecret != w.SigningSecret {
		t.Error("an update without signingSecret changed the secret")
	}
	// CUSTOM webhooks are always signed.
	_, err = s.UpdateWebhook(t.Context(), "payments", w.ID, service.WebhookUpdate{SigningSecret: ptr("")})
	wantCode(t, err, herald.CodeInvalidArgument, "signingSecret")
}

func TestDirectMessage(t *testing.T) {
	s := newService(t)
	newProject(t, s, "payments")
	sw, err := s.CreateWebhook(t.Context(), "payments", service.WebhookCreate{
		Type: herald.Slack, Title: "Slack", URL: slackURL, NotificationTypes: herald.EventTypes, DirectMessage: true,
	})
	if err != nil {
		t.Fatalf("SLACK with directMessage: %v", err)
	}
	if !sw.DirectMessage || !sw.SupportsDirectMessage {
		t.Errorf("SLACK webhook directMessage %v, supportsDirectMessage %v; want both", sw.DirectMessage, sw.SupportsDirectMessage)
	}

	_, err = s.CreateWebhook(t.Context(), "payments", service.WebhookCreate{
		Type: herald.Custom, Title: "Custom", URL: customURL, NotificationTypes: herald.EventTypes, DirectMessage: true,
	})
	wantCode(t, err, herald.CodeInvalidArgument, "directMessage")

	cw := createWebhook(t, s, "payments", service.WebhookCreate{
		Type: herald.Custom, Title: "Custom", URL: customURL, NotificationTypes: herald.EventTypes,
	})
	_, err = s.UpdateWebhook(t.Context(), "payments", cw.ID, service.WebhookUpdate{DirectMessage: ptr(true)})
	wantCode(t, err, herald.CodeInvalidArgument, "directMessage")

	ws, _, err := s.ListWebhooks(t.Context(), "payments", store.Page{Size: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 {
		t.Errorf("%d webhooks after a rejected create, want 2", len(ws))
	}
}

func TestCreateWebhookRejects(t *testing.T) {
	s := newService(t)
	newProject(t, s, "payments")
	base := service.WebhookCreate{Type: herald.Slack, Title: "Slack", URL: slackURL, NotificationTypes: herald.EventTypes}
	tests := []struct {
		name  string
		edit  func(*service.WebhookCreate)
		field string
	}{
		{"unknown type", func(w *service.WebhookCreate) { w.Type = "PAGER" }, "type"},
		{"host not Slack's", func(w *service.WebhookCreate) { w.URL = "https://hooks.example.com/services/T/B/X" }, "url"},
		{"no notification types", func(w *service.WebhookCreate) { w.NotificationTypes = nil }, "notificationTypes"},
		{"no title", func(w *service.WebhookCreate) { w.Title = "" }, "title"},
		{"secret on SLACK", func(w *service.WebhookCreate) { w.SigningSecret = "abc" }, "signingSecret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base
			tt.edit(&in)
			_, err := s.CreateWebhook(t.Context(), "payments", in)
			wantCode(t, err, herald.CodeInvalidArgument, tt.field)
			if strings.Contains(err.Error(), "B/X") {
				t.Errorf("error %q quotes the URL's path", err)
			}
		})
	}
	_, err := s.CreateWebhook(t.Context(), "nope", base)
	wantCode(t, err, herald.CodeNotFound, "")
}

func TestListDeliveriesFilters(t *testing.T) {
	s := newService(t)
	newProject(t, s, "payments")
	newProject(t, s, "other")
	a := createWebhook(t, s, "payments", service.WebhookCreate{Type: herald.Slack, Title: "A", URL: slackURL, NotificationTypes: herald.EventTypes})
	b := createWebhook(t, s, "payments", service.WebhookCreate{Type: herald.Custom, Title: "B", URL: customURL, NotificationTypes: herald.EventTypes})
	foreign := createWebhook(t, s, "other", service.WebhookCreate{Type: herald.Slack, Title: "F", URL: slackURL, NotificationTypes: herald.EventTypes})
	if _, _, err := s.Publish(t.Context(), "payments", issueEvent(herald.IssueCreated)); err != nil {
		t.Fatal(err)
	}

	count := func(webhook string, state herald.DeliveryState) int {
		t.Helper()
		ds, _, err := s.ListDeliveries(t.Context(), "payments", webhook, state, store.Page{Size: 100})
		if err != nil {
			t.Fatalf("ListDeliveries(%q, %q): %v", webhook, state, err)
		}
		return len(ds)
	}
	if got := count("", ""); got != 2 {
		t.Errorf("all deliveries: %d, want 2", got)
	}
	if got := count(a.ID, ""); got != 1 {
		t.Errorf("deliveries of webhook id %s: %d, want 1", a.ID, got)
	}
	if got := count(b.Name, ""); got != 1 {
		t.Errorf("deliveries of webhook name %s: %d, want 1", b.Name, got)
	}
	if got := count("", herald.StatePending); got != 2 {
		t.Errorf("PENDING deliveries: %d, want 2", got)
	}
	if got := count("", herald.StateSucceeded); got != 0 {
		t.Errorf("SUCCEEDED deliveries: %d, want 0", got)
	}

	tests := []struct {
		name    string
		webhook string
		state   herald.DeliveryState
		field   string
	}{
		{"webhook of another project", foreign.Name, "", "webhook"},
		{"name of no webhook", "projects/payments/deliveries/x", "", "webhook"},
		{"name without an id", "projects/payments/webhooks/", "", "webhook"},
		{"name with extra segments", a.Name + "/extra", "", "webhook"},
		{"unknown state", "", "DONE", "state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := s.ListDeliveries(t.Context(), "payments", tt.webhook, tt.state, store.Page{Size: 100})
			wantCode(t, err, herald.CodeInvalidArgument, tt.field)
		})
	}
}
