package service

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/platform"
	"github.com/heraldhq/herald/platform/custom"
	"github.com/heraldhq/herald/store"
)

// WebhookCreate is the body of POST /v1/projects/{project}/webhooks.
type WebhookCreate struct {
	Type              herald.WebhookType `json:"type" enum:"SLACK,DISCORD,TEAMS,DINGTALK,FEISHU,LARK,WECOM,GOOGLE_CHAT,CUSTOM"`
	Title             string             `json:"title" minLength:"1" maxLength:"200"`
	URL               string             `json:"url" writeOnly:"true" minLength:"1" maxLength:"2048" doc:"The webhook URL; write-only"`
	NotificationTypes []herald.EventType `json:"notificationTypes" minItems:"1" uniqueItems:"true" enum:"ISSUE_CREATED,ISSUE_APPROVAL_REQUESTED,ISSUE_SENT_BACK,ISSUE_APPROVED,PIPELINE_FAILED,PIPELINE_COMPLETED"`
	DirectMessage     bool               `json:"directMessage,omitempty"`
	SigningSecret     string             `json:"signingSecret,omitempty" writeOnly:"true" maxLength:"256" doc:"DINGTALK SEC… secret, FEISHU/LARK signing secret, or CUSTOM whsec_… secret (generated when omitted)"`
	Keyword           string             `json:"keyword,omitempty" maxLength:"100"`
	Enabled           *bool              `json:"enabled,omitempty" doc:"Default true"`
}

// WebhookUpdate is the body of PATCH …/webhooks/{webhook}: fields present
// change, absent ones keep their value. An empty signingSecret removes it
// (except on CUSTOM webhooks, which are always signed); an empty keyword
// removes it.
type WebhookUpdate struct {
	Type              *herald.WebhookType `json:"type,omitempty" enum:"SLACK,DISCORD,TEAMS,DINGTALK,FEISHU,LARK,WECOM,GOOGLE_CHAT,CUSTOM" doc:"Immutable: accepted only when unchanged"`
	Title             *string             `json:"title,omitempty" minLength:"1" maxLength:"200"`
	URL               *string             `json:"url,omitempty" writeOnly:"true" minLength:"1" maxLength:"2048"`
	NotificationTypes []herald.EventType  `json:"notificationTypes,omitempty" minItems:"1" uniqueItems:"true" enum:"ISSUE_CREATED,ISSUE_APPROVAL_REQUESTED,ISSUE_SENT_BACK,ISSUE_APPROVED,PIPELINE_FAILED,PIPELINE_COMPLETED"`
	DirectMessage     *bool               `json:"directMessage,omitempty"`
	SigningSecret     *string             `json:"signingSecret,omitempty" writeOnly:"true" maxLength:"256"`
	Keyword           *string             `json:"keyword,omitempty" maxLength:"100"`
	Enabled           *bool               `json:"enabled,omitempty"`
}

// CreatedWebhook is a new webhook and, for a CUSTOM webhook whose secret the
// server generated, that secret — shown this once.
type CreatedWebhook struct {
	herald.Webhook
	SigningSecret string `json:"signingSecret,omitempty" doc:"The generated CUSTOM signing secret, returned only in the create response"`
}

// CreateWebhook validates and stores a new webhook.
func (s *Service) CreateWebhook(ctx context.Context, projectID string, in WebhookCreate) (*CreatedWebhook, error) {
	if _, err := s.Store.GetProject(ctx, projectID); err != nil {
		return nil, err
	}
	p, err := s.platform(in.Type)
	if err != nil {
		return nil, err
	}
	now := s.now()
	id := newID()
	w := &herald.Webhook{
		Name: herald.WebhookName(projectID, id), ProjectID: projectID, ID: id, Type: in.Type, Title: in.Title, URL: in.URL,
		NotificationTypes: in.NotificationTypes, DirectMessage: in.DirectMessage,
		SigningSecret: in.SigningSecret, Keyword: in.Keyword, Enabled: in.Enabled == nil || *in.Enabled,
		CreateTime: now, UpdateTime: now,
	}
	generated := ""
	if w.Type == herald.Custom && w.SigningSecret == "" {
		if generated, err = custom.GenerateSecret(); err != nil {
			return nil, err
		}
		w.SigningSecret = generated
	}
	if err := s.checkWebhook(w, p); err != nil {
		return nil, err
	}
	if err := s.Store.CreateWebhook(ctx, w); err != nil {
		return nil, err
	}
	return &CreatedWebhook{Webhook: *present(w), SigningSecret: generated}, nil
}

// GetWebhook returns a webhook of a project, without its secrets.
func (s *Service) GetWebhook(ctx context.Context, projectID, webhookID string) (*herald.Webhook, error) {
	w, err := s.Store.GetWebhook(ctx, projectID, webhookID)
	if err != nil {
		return nil, err
	}
	return present(w), nil
}

// ListWebhooks returns a page of a project's webhooks.
func (s *Service) ListWebhooks(ctx context.Context, projectID string, page store.Page) ([]*herald.Webhook, string, error) {
	return s.Store.ListWebhooks(ctx, projectID, page)
}

// UpdateWebhook changes the fields present in in, checking the result as a
// whole before anything is written.
func (s *Service) UpdateWebhook(ctx context.Context, projectID, webhookID string, in WebhookUpdate) (*herald.Webhook, error) {
	w, err := s.Store.UpdateWebhook(ctx, projectID, webhookID, func(w *herald.Webhook) error {
		if in.Type != nil && *in.Type != w.Type {
			return herald.Invalidf("type", "is immutable: this webhook is %s", w.Type)
		}
		p, err := s.platform(w.Type)
		if err != nil {
			return err
		}
		if in.Title != nil {
			w.Title = *in.Title
		}
		if in.URL != nil {
			w.URL = *in.URL
		}
		if in.NotificationTypes != nil {
			w.NotificationTypes = in.NotificationTypes
		}
		if in.DirectMessage != nil {
			w.DirectMessage = *in.DirectMessage
		}
		if in.SigningSecret != nil {
			w.SigningSecret = *in.SigningSecret
		}
		if in.Keyword != nil {
			w.Keyword = *in.Keyword
		}
		if in.Enabled != nil {
			w.Enabled = *in.Enabled
			if w.Enabled {
				w.DisabledReason = "" // enabled again by hand
			}
		}
		w.UpdateTime = s.now()
		return s.checkWebhook(w, p)
	})
	if err != nil {
		return nil, err
	}
	return present(w), nil
}

// DeleteWebhook deletes a webhook; its deliveries stay in the log.
func (s *Service) DeleteWebhook(ctx context.Context, projectID, webhookID string) error {
	return s.Store.DeleteWebhook(ctx, projectID, webhookID)
}

func (s *Service) platform(t herald.WebhookType) (platform.Platform, error) {
	if !t.Valid() {
		return nil, herald.Invalidf("type", "must be one of %s, got %q", joinEnum(herald.WebhookTypes), t)
	}
	p, ok := s.Platforms.Get(t)
	if !ok {
		return nil, herald.Invalidf("type", "%s webhooks are not supported by this version of Herald", t)
	}
	return p, nil
}

// checkWebhook checks a webhook as it would be stored, and fills in its
// derived fields (urlPreview, supportsDirectMessage, hasSigningSecret).
func (s *Service) checkWebhook(w *herald.Webhook, p platform.Platform) error {
	if err := herald.ValidateTitle("title", w.Title); err != nil {
		return err
	}
	if len(w.NotificationTypes) == 0 {
		return herald.Invalidf("notificationTypes", "must name at least one event type")
	}
	seen := map[herald.EventType]bool{}
	for _, t := range w.NotificationTypes {
		if !t.Valid() {
			return herald.Invalidf("notificationTypes", "must be among %s, got %q", joinEnum(herald.EventTypes), t)
		}
		if seen[t] {
			return herald.Invalidf("notificationTypes", "names %s twice", t)
		}
		seen[t] = true
	}
	u, err := s.Policy.CheckURL(w.Type, w.URL, p.CheckURL)
	if err != nil {
		return err
	}
	w.URL = u.String()
	if w.DirectMessage && !w.Type.SupportsDirectMessage() {
		return herald.Invalidf("directMessage", "%s webhooks cannot send direct messages (supported: SLACK, TEAMS, DINGTALK, FEISHU, LARK, WECOM)", w.Type)
	}
	if err := checkSigningSecret(w); err != nil {
		return err
	}
	if utf8.RuneCountInString(w.Keyword) > 100 || strings.ContainsAny(w.Keyword, "\r\n") {
		return herald.Invalidf("keyword", "must be one line of at most 100 characters")
	}
	w.URLPreview = platform.Preview(w.URL)
	w.SupportsDirectMessage = w.Type.SupportsDirectMessage()
	w.HasSigningSecret = w.SigningSecret != ""
	return nil
}

func checkSigningSecret(w *herald.Webhook) error {
	secret := w.SigningSecret
	switch w.Type {
	case herald.Custom:
		if secret == "" {
			return herald.Invalidf("signingSecret", "CUSTOM webhooks are always signed; give a whsec_… secret or omit the field on create to have one generated")
		}
		if err := custom.ValidateSecret(secret); err != nil {
			return herald.Invalidf("signingSecret", "%v", err)
		}
	case herald.DingTalk:
		if secret != "" && !strings.HasPrefix(secret, "SEC") {
			return herald.Invalidf("signingSecret", "a DingTalk robot's signing secret starts with SEC")
		}
	case herald.Feishu, herald.Lark:
		// Any non-empty secret the bot shows.
	default:
		if secret != "" {
			return herald.Invalidf("signingSecret", "%s webhooks are not signed; remove the field", w.Type)
		}
	}
	if len(secret) > 256 {
		return herald.Invalidf("signingSecret", "must be at most 256 characters")
	}
	return nil
}

// present strips the secrets of a webhook for an API answer.
func present(w *herald.Webhook) *herald.Webhook {
	c := *w
	c.URL, c.SigningSecret = "", ""
	return &c
}

func joinEnum[T ~string](vs []T) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// TestResult is the platform's answer to a test message.
type TestResult struct {
	OK           bool   `json:"ok"`
	HTTPStatus   int    `json:"httpStatus,omitempty"`
	PlatformCode string `json:"platformCode,omitempty"`
	Error        string `json:"error,omitempty"`
}

// maxTestWait is how long a test message waits for its webhook's rate
// limit before giving up.
const maxTestWait = 10 * time.Second

// TestWebhook sends a sample ISSUE_CREATED message to the webhook now and
// returns the platform's answer. Nothing is stored.
func (s *Service) TestWebhook(ctx context.Context, projectID, webhookID string) (*TestResult, error) {
	w, err := s.Store.GetWebhook(ctx, projectID, webhookID)
	if err != nil {
		return nil, err
	}
	project, err := s.Store.GetProject(ctx, projectID)
	if err != nil {
		return nil, err
	}
	p, err := s.platform(w.Type)
	if err != nil {
		return nil, err
	}
	req := sampleRequest(project, w, s.now())
	if s.Limiter != nil {
		// Within the webhook's rate limit, like a delivery, so that the
		// test does not get the webhook throttled.
		now := time.Now()
		wait := s.Limiter.Reserve(w.Name, req.DeliveryID, p.Limits(), now).Sub(now)
		if wait > maxTestWait {
			s.Limiter.Release(w.Name, req.DeliveryID)
			return &TestResult{Error: fmt.Sprintf("the webhook is at its rate limit; try again in %s", wait.Round(time.Second))}, nil
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	res := p.Send(ctx, s.Client, req)
	return &TestResult{
		OK: res.Outcome == herald.OutcomeSuccess, HTTPStatus: res.HTTPStatus, PlatformCode: res.PlatformCode, Error: res.Error,
	}, nil
}

func sampleRequest(p *herald.Project, w *herald.Webhook, now time.Time) *platform.Request {
	e := &herald.Event{
		ProjectID: p.ProjectID, EventID: "herald-test-" + newID(), Type: herald.IssueCreated,
		Title:       "Test message from Herald",
		Description: fmt.Sprintf("This is a test of the webhook %q. If you can read it, the webhook works.", w.Title),
		Actor:       &herald.User{Name: "Herald"},
		Issue:       &herald.Issue{ID: "test", Title: "Sample issue"},
		OccurTime:   &now, CreateTime: &now,
	}
	e.Name = herald.EventName(p.ProjectID, e.EventID)
	id := newID()
	return &platform.Request{
		Webhook: w, Message: messageFor(p, e, w), Project: p, Event: e,
		DeliveryName: herald.DeliveryName(p.ProjectID, id), DeliveryID: id, Now: now,
	}
}
