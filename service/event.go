package service

import (
	"context"
	"strings"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/message"
	"github.com/heraldhq/herald/store"
)

// Publish validates an event and stores it with one delivery for each
// enabled webhook of the project that subscribes to its type (as the
// webhooks stand in the publishing transaction); the event, its deliveries
// and their jobs are committed before Publish returns. A repeated
// eventId returns the original event with created false and stores nothing.
func (s *Service) Publish(ctx context.Context, projectID string, e *herald.Event) (*herald.Event, bool, error) {
	if err := e.Validate(); err != nil {
		return nil, false, err
	}
	now := s.now()
	e.ProjectID = projectID
	e.Name, e.Deliveries = "", nil
	if e.EventID == "" {
		e.EventID = newID()
	}
	e.CreateTime = &now
	if e.OccurTime == nil {
		e.OccurTime = &now
	}
	plan := func(_ *herald.Project, hooks []*herald.Webhook) []*herald.Delivery {
		var deliveries []*herald.Delivery
		for _, w := range hooks {
			if !w.Enabled || !w.Subscribes(e.Type) {
				continue
			}
			d := &herald.Delivery{
				ID: newID(), ProjectID: projectID, EventID: e.EventID, WebhookID: w.ID,
				State: herald.StatePending, Route: herald.RouteChannel,
				NextAttemptTime: &now, CreateTime: now, UpdateTime: now,
			}
			if w.DirectMessage && w.Type.SupportsDirectMessage() && len(e.Recipients) > 0 {
				d.Route, d.Recipients = herald.RouteDirectMessage, herald.RecipientsOf(e.Recipients)
			}
			deliveries = append(deliveries, d)
		}
		return deliveries
	}
	stored, created, err := s.Store.PublishEvent(ctx, e, plan)
	if err != nil {
		return nil, false, err
	}
	if created && s.Metrics != nil {
		s.Metrics.EventsReceived.WithLabelValues(string(e.Type)).Inc()
	}
	return stored, created, nil
}

// GetEvent returns an event with its deliveries.
func (s *Service) GetEvent(ctx context.Context, projectID, eventID string) (*herald.Event, error) {
	return s.Store.GetEvent(ctx, projectID, eventID)
}

// ListDeliveries returns a page of a project's deliveries, newest first.
// webhook is a webhook id or name ("" for all); state a state ("" for all).
func (s *Service) ListDeliveries(ctx context.Context, projectID, webhook string, state herald.DeliveryState, page store.Page) ([]*herald.Delivery, string, error) {
	f := store.DeliveryFilter{WebhookID: webhook, State: state}
	if strings.Contains(webhook, "/") {
		prefix := herald.ProjectName(projectID) + "/webhooks/"
		id, ok := strings.CutPrefix(webhook, prefix)
		if !ok || id == "" || strings.Contains(id, "/") {
			return nil, "", herald.Invalidf("webhook", "must be a webhook id or a name of the form %s{webhookId}", prefix)
		}
		f.WebhookID = id
	}
	if state != "" && !isState(state) {
		return nil, "", herald.Invalidf("state", "must be one of %s, got %q", joinEnum(herald.DeliveryStates), state)
	}
	return s.Store.ListDeliveries(ctx, projectID, f, page)
}

func isState(st herald.DeliveryState) bool {
	for _, v := range herald.DeliveryStates {
		if st == v {
			return true
		}
	}
	return false
}

// GetDelivery returns one delivery with its attempts.
func (s *Service) GetDelivery(ctx context.Context, projectID, deliveryID string) (*herald.Delivery, error) {
	return s.Store.GetDelivery(ctx, projectID, deliveryID)
}

// RetryDelivery sends a SUCCEEDED or FAILED delivery again.
func (s *Service) RetryDelivery(ctx context.Context, projectID, deliveryID string) (*herald.Delivery, error) {
	return s.Store.RetryDelivery(ctx, projectID, deliveryID, s.now())
}

func messageFor(p *herald.Project, e *herald.Event, w *herald.Webhook) *message.Message {
	return message.New(p, e).WithKeyword(w.Keyword)
}

// maxStats bounds the deliveries the health page reads.
const maxStats = 200000

// DeliveryStats returns the outcome and timing of a project's deliveries
// created since since (the newest 200,000 at most).
func (s *Service) DeliveryStats(ctx context.Context, projectID string, since time.Time) ([]store.DeliveryStat, error) {
	if _, err := s.Store.GetProject(ctx, projectID); err != nil {
		return nil, err
	}
	return s.Store.DeliveryStats(ctx, projectID, since, maxStats)
}
