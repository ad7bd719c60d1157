// Package store defines how Herald keeps its state: projects, webhooks,
// events, deliveries, attempts and settings. Two implementations stand
// behind the one interface — SQLite (store/sqlite, the default) and
// PostgreSQL (store/postgres, for several replicas) — and one test suite
// (store/storetest) runs against both.
//
// Secrets (webhook URLs and signing secrets) cross this interface in
// plaintext and are sealed by the implementation before they reach the
// database; they are never stored in the clear.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/heraldhq/herald"
)

// Store is Herald's persistent state. Every method is safe for concurrent
// use. Errors that callers can act on are *herald.Error (NOT_FOUND,
// ALREADY_EXISTS, FAILED_PRECONDITION).
type Store interface {
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// Close releases the database. The store must not be used after.
	Close() error

	CreateProject(ctx context.Context, p *herald.Project) error
	GetProject(ctx context.Context, projectID string) (*herald.Project, error)
	ListProjects(ctx context.Context, page Page) ([]*herald.Project, string, error)
	UpdateProject(ctx context.Context, projectID, title string, now time.Time) (*herald.Project, error)
	// DeleteProject deletes the project with its webhooks, events and
	// deliveries.
	DeleteProject(ctx context.Context, projectID string) error

	// CreateWebhook stores w, sealing its URL and signing secret.
	CreateWebhook(ctx context.Context, w *herald.Webhook) error
	// GetWebhook returns the webhook with its secrets opened.
	GetWebhook(ctx context.Context, projectID, webhookID string) (*herald.Webhook, error)
	// ListWebhooks returns a project's webhooks without their secrets.
	ListWebhooks(ctx context.Context, projectID string, page Page) ([]*herald.Webhook, string, error)
	// UpdateWebhook reads the webhook (secrets opened), lets update change
	// it, and writes it back, all in one transaction. An error from update
	// aborts the transaction and is returned as is.
	UpdateWebhook(ctx context.Context, projectID, webhookID string, update func(*herald.Webhook) error) (*herald.Webhook, error)
	DeleteWebhook(ctx context.Context, projectID, webhookID string) error

	// PublishEvent stores e with the deliveries plan decides on, and their
	// queued jobs, in one transaction committed before it returns. plan is
	// given e's project and its webhooks (without secrets) as read in that
	// transaction. An unknown project is NOT_FOUND. When the project
	// already has an event with e's id it stores nothing and returns that
	// event with created false.
	PublishEvent(ctx context.Context, e *herald.Event, plan Plan) (stored *herald.Event, created bool, err error)
	// GetEvent returns an event with its deliveries (without attempts).
	GetEvent(ctx context.Context, projectID, eventID string) (*herald.Event, error)

	// ListDeliveries returns a project's deliveries, newest first.
	ListDeliveries(ctx context.Context, projectID string, filter DeliveryFilter, page Page) ([]*herald.Delivery, string, error)
	// GetDelivery returns one delivery with its attempts.
	GetDelivery(ctx context.Context, projectID, deliveryID string) (*herald.Delivery, error)
	// RetryDelivery starts a new generation of a SUCCEEDED or FAILED
	// delivery and queues it, in one transaction; a live delivery is
	// FAILED_PRECONDITION.
	RetryDelivery(ctx context.Context, projectID, deliveryID string, now time.Time) (*herald.Delivery, error)

	// LoadWork returns what a worker needs to work a delivery: the
	// delivery, its event, project and webhook (secrets opened; nil when
	// the webhook was deleted). A missing delivery is NOT_FOUND.
	LoadWork(ctx context.Context, deliveryID string) (*Work, error)
	// Record saves the outcome of working a delivery: the attempt (if a
	// request was sent) and the delivery's new state, in one transaction,
	// and only if the delivery is still at generation r.Generation;
	// otherwise it changes nothing and returns ErrStale.
	Record(ctx context.Context, r *Record) error
	// DeliveryStats returns one row per delivery of the project created at
	// or after since (at most limit rows, newest first): what the
	// console's health page summarises.
	DeliveryStats(ctx context.Context, projectID string, since time.Time, limit int) ([]DeliveryStat, error)
	// LiveDeliveries counts deliveries that are PENDING or RETRYING.
	LiveDeliveries(ctx context.Context) (int64, error)

	// GetIMSettings returns a platform's IM settings with their secrets
	// opened, or NOT_FOUND when none are stored.
	GetIMSettings(ctx context.Context, p herald.IMPlatform) (*herald.IMSettings, error)
	// UpdateIMSettings reads a platform's IM settings (empty when none are
	// stored), lets update change them, and writes them back sealed, in one
	// transaction. An error from update aborts it and is returned as is.
	UpdateIMSettings(ctx context.Context, p herald.IMPlatform, update func(*herald.IMSettings) error) (*herald.IMSettings, error)
	// DeleteIMSettings removes a platform's IM settings, or is NOT_FOUND.
	DeleteIMSettings(ctx context.Context, p herald.IMPlatform) error

	// GetSetting returns a setting's value, or NOT_FOUND.
	GetSetting(ctx context.Context, key string) ([]byte, error)
	// PutSettingIfAbsent stores a setting unless it exists; it reports
	// whether it stored it.
	PutSettingIfAbsent(ctx context.Context, key string, value []byte) (bool, error)
}

// Plan decides the deliveries of an event: one per webhook that should
// receive it. It may be called more than once (a failed batch is retried);
// each call returns new deliveries.
type Plan func(p *herald.Project, hooks []*herald.Webhook) []*herald.Delivery

// Page selects one page of a list.
type Page struct {
	// Size is how many items to return; callers bound it (the API to 1000).
	Size int
	// Token is the nextPageToken of the previous page, or empty for the first.
	Token string
}

// DeliveryFilter narrows ListDeliveries; zero fields match everything.
type DeliveryFilter struct {
	WebhookID string
	State     herald.DeliveryState
}

// DeliveryStat is the outcome and timing of one delivery.
type DeliveryStat struct {
	WebhookID     string
	State         herald.DeliveryState
	CreateTime    time.Time
	DeliveredTime *time.Time
}

// Work is a delivery with everything needed to send it.
type Work struct {
	Delivery *herald.Delivery
	Event    *herald.Event
	Project  *herald.Project
	// Webhook is nil when the webhook was deleted after the event.
	Webhook *herald.Webhook
}

// Record is the outcome of working a delivery once.
type Record struct {
	DeliveryID string
	Generation int
	// Attempt is the request sent, or nil when none was (e.g. the webhook
	// was deleted). The store numbers it.
	Attempt *herald.Attempt
	// CountsTowardSchedule is false for RATE_LIMITED attempts.
	CountsTowardSchedule bool
	State                herald.DeliveryState
	Route                herald.Route
	RouteReason          string
	Recipients           []herald.Recipient
	// ResetSchedule starts the retry schedule over (the delivery fell back
	// from direct messages to its channel).
	ResetSchedule   bool
	NextAttemptTime *time.Time
	LastError       string
	Now             time.Time
	// DisableWebhook, when set, disables the delivery's webhook with this
	// reason in the same transaction.
	DisableWebhook string
}

// ErrStale is returned by Record when the delivery was retried by hand (or
// deleted) while a worker was sending it; the worker's result is dropped.
var ErrStale = errors.New("store: the delivery changed generation while it was being worked")
