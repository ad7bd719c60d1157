// Package sqlstore implements store.Store once, in SQL that SQLite and
// PostgreSQL both speak. The two backends (store/sqlite, store/postgres)
// differ only in how they connect, their schema files, and their
// transaction type, which is the type parameter TTx here.
//
// Times are stored as microseconds since the Unix epoch (BIGINT), the same
// on both databases. Secrets are sealed with a secret.Box bound to the row
// they belong to.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/queue"
	"github.com/heraldhq/herald/secret"
	"github.com/heraldhq/herald/store"
)

// Enqueuer inserts delivery jobs inside a transaction of the store's
// database; queue.Queue is one.
type Enqueuer[TTx any] interface {
	Enqueue(ctx context.Context, tx TTx, jobs ...queue.Job) error
}

// Store is a store.Store over a DB.
type Store[TTx any] struct {
	db    DB[TTx]
	box   *secret.Box
	queue Enqueuer[TTx]
	// publishes and records group the two writes of the delivery path into
	// shared transactions (see batcher); loads group its read.
	publishes *batcher[*publishOp]
	records   *batcher[*store.Record]
	loads     *batcher[*loadOp]
}

var _ store.Store = (*Store[any])(nil)

// New returns a store over db that seals secrets with box and queues
// delivery jobs with q. writers is how many transactions of the delivery
// path may commit at once: 1 for SQLite, which has one writer; more for
// PostgreSQL.
func New[TTx any](db DB[TTx], box *secret.Box, q Enqueuer[TTx], writers int) *Store[TTx] {
	s := &Store[TTx]{db: db, box: box, queue: q}
	s.publishes = newBatcher(max(writers, 1), maxBatch, s.runPublishes)
	s.records = newBatcher(max(writers, 1), maxBatch, s.runRecords)
	s.loads = newBatcher(max(writers, 1), maxBatch, s.runLoads)
	return s
}

// maxBatch bounds the writes that share one transaction.
const maxBatch = 64

// Ping runs a trivial query.
func (s *Store[TTx]) Ping(ctx context.Context) error {
	var one int
	return s.db.QueryRow(ctx, "SELECT 1").Scan(&one)
}

// Close stops the batchers; the backend that opened the pool closes it.
func (s *Store[TTx]) Close() error {
	s.publishes.close()
	s.records.close()
	s.loads.close()
	return nil
}

// inTx runs f in a transaction and commits it when f returns nil.
func (s *Store[TTx]) inTx(ctx context.Context, f func(tx Tx[TTx]) error) (err error) {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(ctx)
		}
	}()
	if err = f(tx); err != nil {
		return err
	}
	if err = tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// ---- projects

const projectColumns = "id, title, create_time, update_time"

func scanProject(row Row) (*herald.Project, error) {
	var p herald.Project
	var created, updated int64
	if err := row.Scan(&p.ProjectID, &p.Title, &created, &updated); err != nil {
		return nil, err
	}
	p.Name = herald.ProjectName(p.ProjectID)
	p.CreateTime, p.UpdateTime = fromMicros(created), fromMicros(updated)
	return &p, nil
}

// CreateProject stores p; a project with the same id is ALREADY_EXISTS.
func (s *Store[TTx]) CreateProject(ctx context.Context, p *herald.Project) error {
	n, err := s.db.Exec(ctx, `INSERT INTO herald_project (`+projectColumns+`) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		p.ProjectID, p.Title, micros(p.CreateTime), micros(p.UpdateTime))
	if err != nil {
		return fmt.Errorf("create project: %w", err)
	}
	if n == 0 {
		return herald.AlreadyExistsf("project %q already exists", p.ProjectID)
	}
	p.Name = herald.ProjectName(p.ProjectID)
	return nil
}

// GetProject returns a project or NOT_FOUND.
func (s *Store[TTx]) GetProject(ctx context.Context, projectID string) (*herald.Project, error) {
	return getProject(ctx, s.db, projectID)
}

func getProject(ctx context.Context, q Querier, projectID string) (*herald.Project, error) {
	p, err := scanProject(q.QueryRow(ctx, `SELECT `+projectColumns+` FROM herald_project WHERE id = ?`, projectID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, herald.NotFoundf("project %q not found", projectID)
	}
	if err != nil {
		return nil, fmt.Errorf("get project: %w", err)
	}
	return p, nil
}

// ListProjects returns projects in id order.
func (s *Store[TTx]) ListProjects(ctx context.Context, page store.Page) ([]*herald.Project, string, error) {
	after, err := decodeToken(page.Token)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.db.Query(ctx, `SELECT `+projectColumns+` FROM herald_project WHERE id > ? ORDER BY id LIMIT ?`, after, page.Size+1)
	if err != nil {
		return nil, "", fmt.Errorf("list projects: %w", err)
	}
	ps, err := collect(rows, scanProject)
	if err != nil {
		return nil, "", fmt.Errorf("list projects: %w", err)
	}
	return pageOf(ps, page.Size, func(p *herald.Project) string { return p.ProjectID })
}

// UpdateProject sets a project's title.
func (s *Store[TTx]) UpdateProject(ctx context.Context, projectID, title string, now time.Time) (*herald.Project, error) {
	n, err := s.db.Exec(ctx, `UPDATE herald_project SET title = ?, update_time = ? WHERE id = ?`, title, micros(now), projectID)
	if err != nil {
		return nil, fmt.Errorf("update project: %w", err)
	}
	if n == 0 {
		return nil, herald.NotFoundf("project %q not found", projectID)
	}
	return s.GetProject(ctx, projectID)
}

// DeleteProject deletes a project; the schema cascades to its webhooks,
// events, deliveries and attempts.
func (s *Store[TTx]) DeleteProject(ctx context.Context, projectID string) error {
	n, err := s.db.Exec(ctx, `DELETE FROM herald_project WHERE id = ?`, projectID)
	if err != nil {
		return fmt.Errorf("delete project: %w", err)
	}
	if n == 0 {
		return herald.NotFoundf("project %q not found", projectID)
	}
	return nil
}

// ---- webhooks

const webhookColumns = "project_id, id, type, title, url_sealed, url_preview, notification_types, direct_message, signing_secret_sealed, keyword, enabled, disabled_reason, create_time, update_time"

// sealedWebhook is a webhook row with its secrets still sealed.
type sealedWebhook struct {
	herald.Webhook
	url, signingSecret []byte
}

func scanWebhook(row Row) (*sealedWebhook, error) {
	var w sealedWebhook
	return &w, scanWebhookInto(&w, row.Scan)
}

// scanWebhookInto scans the columns of webhookColumns with scan (which may
// scan other columns first) into w.
func scanWebhookInto(w *sealedWebhook, scan func(dest ...any) error) error {
	var types string
	var created, updated int64
	err := scan(&w.ProjectID, &w.ID, &w.Type, &w.Title, &w.url, &w.URLPreview, &types, &w.DirectMessage,
		&w.signingSecret, &w.Keyword, &w.Enabled, &w.DisabledReason, &created, &updated)
	if err != nil {
		return err
	}
	w.Name = herald.WebhookName(w.ProjectID, w.ID)
	for _, t := range strings.Split(types, ",") {
		if t != "" {
			w.NotificationTypes = append(w.NotificationTypes, herald.EventType(t))
		}
	}
	w.SupportsDirectMessage = w.Type.SupportsDirectMessage()
	w.HasSigningSecret = len(w.signingSecret) > 0
	w.CreateTime, w.UpdateTime = fromMicros(created), fromMicros(updated)
	return nil
}

func urlAAD(w *herald.Webhook) string { return "webhook-url:" + herald.WebhookName(w.ProjectID, w.ID) }
func signingAAD(w *herald.Webhook) string {
	return "webhook-signing-secret:" + herald.WebhookName(w.ProjectID, w.ID)
}

// open returns the webhook with its secrets opened.
func (s *Store[TTx]) open(sw *sealedWebhook) (*herald.Webhook, error) {
	w := sw.Webhook
	var err error
	if w.URL, err = s.box.Open(sw.url, urlAAD(&w)); err != nil {
		return nil, fmt.Errorf("webhook %s url: %w", w.Name, err)
	}
	if w.SigningSecret, err = s.box.Open(sw.signingSecret, signingAAD(&w)); err != nil {
		return nil, fmt.Errorf("webhook %s signing secret: %w", w.Name, err)
	}
	return &w, nil
}

func joinTypes(ts []herald.EventType) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ",")
}

// CreateWebhook stores w with its secrets sealed.
func (s *Store[TTx]) CreateWebhook(ctx context.Context, w *herald.Webhook) error {
	return s.inTx(ctx, func(tx Tx[TTx]) error {
		if _, err := getProject(ctx, tx, w.ProjectID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO herald_webhook (`+webhookColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			w.ProjectID, w.ID, string(w.Type), w.Title, s.box.Seal(w.URL, urlAAD(w)), w.URLPreview, joinTypes(w.NotificationTypes),
			w.DirectMessage, s.box.Seal(w.SigningSecret, signingAAD(w)), w.Keyword, w.Enabled, w.DisabledReason,
			micros(w.CreateTime), micros(w.UpdateTime))
		if err != nil {
			return fmt.Errorf("create webhook: %w", err)
		}
		return nil
	})
}

// GetWebhook returns a webhook with its secrets opened, or NOT_FOUND.
func (s *Store[TTx]) GetWebhook(ctx context.Context, projectID, webhookID string) (*herald.Webhook, error) {
	return s.getWebhook(ctx, s.db, projectID, webhookID)
}

func (s *Store[TTx]) getWebhook(ctx context.Context, q Querier, projectID, webhookID string) (*herald.Webhook, error) {
	sw, err := scanWebhook(q.QueryRow(ctx, `SELECT `+webhookColumns+` FROM herald_webhook WHERE project_id = ? AND id = ?`, projectID, webhookID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, herald.NotFoundf("webhook %q not found in project %q", webhookID, projectID)
	}
	if err != nil {
		return nil, fmt.Errorf("get webhook: %w", err)
	}
	return s.open(sw)
}

// ListWebhooks returns a project's webhooks in creation order, without
// their secrets. An unknown project is NOT_FOUND.
func (s *Store[TTx]) ListWebhooks(ctx context.Context, projectID string, page store.Page) ([]*herald.Webhook, string, error) {
	after, err := decodeToken(page.Token)
	if err != nil {
		return nil, "", err
	}
	if _, err := s.GetProject(ctx, projectID); err != nil {
		return nil, "", err
	}
	rows, err := s.db.Query(ctx, `SELECT `+webhookColumns+` FROM herald_webhook WHERE project_id = ? AND id > ? ORDER BY id LIMIT ?`,
		projectID, after, page.Size+1)
	if err != nil {
		return nil, "", fmt.Errorf("list webhooks: %w", err)
	}
	sws, err := collect(rows, scanWebhook)
	if err != nil {
		return nil, "", fmt.Errorf("list webhooks: %w", err)
	}
	ws := make([]*herald.Webhook, len(sws))
	for i, sw := range sws {
		ws[i] = &sw.Webhook
	}
	return pageOf(ws, page.Size, func(w *herald.Webhook) string { return w.ID })
}

// UpdateWebhook applies update to the webhook inside one transaction.
func (s *Store[TTx]) UpdateWebhook(ctx context.Context, projectID, webhookID string, update func(*herald.Webhook) error) (*herald.Webhook, error) {
	var out *herald.Webhook
	err := s.inTx(ctx, func(tx Tx[TTx]) error {
		w, err := s.getWebhook(ctx, tx, projectID, webhookID)
		if err != nil {
			return err
		}
		if err := update(w); err != nil {
			return err
		}
		w.HasSigningSecret = w.SigningSecret != ""
		_, err = tx.Exec(ctx, `UPDATE herald_webhook SET title = ?, url_sealed = ?, url_preview = ?, notification_types = ?,
			direct_message = ?, signing_secret_sealed = ?, keyword = ?, enabled = ?, disabled_reason = ?, update_time = ?
			WHERE project_id = ? AND id = ?`,
			w.Title, s.box.Seal(w.URL, urlAAD(w)), w.URLPreview, joinTypes(w.NotificationTypes), w.DirectMessage,
			s.box.Seal(w.SigningSecret, signingAAD(w)), w.Keyword, w.Enabled, w.DisabledReason, micros(w.UpdateTime),
			projectID, webhookID)
		if err != nil {
			return fmt.Errorf("update webhook: %w", err)
		}
		out = w
		return nil
	})
	return out, err
}

// DeleteWebhook deletes a webhook. Its past deliveries stay in the log.
func (s *Store[TTx]) DeleteWebhook(ctx context.Context, projectID, webhookID string) error {
	n, err := s.db.Exec(ctx, `DELETE FROM herald_webhook WHERE project_id = ? AND id = ?`, projectID, webhookID)
	if err != nil {
		return fmt.Errorf("delete webhook: %w", err)
	}
	if n == 0 {
		return herald.NotFoundf("webhook %q not found in project %q", webhookID, projectID)
	}
	return nil
}

// ---- events and deliveries

const deliveryColumns = "id, project_id, event_id, webhook_id, state, route, recipients, attempt_count, schedule_attempts, generation, next_attempt_time, last_error, create_time, update_time, delivered_time, route_reason"

func scanDelivery(row Row) (*herald.Delivery, error) {
	var d herald.Delivery
	var recipients string
	var next, delivered sql.NullInt64
	var created, updated int64
	err := row.Scan(&d.ID, &d.ProjectID, &d.EventID, &d.WebhookID, &d.State, &d.Route, &recipients, &d.AttemptCount,
		&d.ScheduleAttempts, &d.Generation, &next, &d.LastError, &created, &updated, &delivered, &d.RouteReason)
	if err != nil {
		return nil, err
	}
	return &d, fillDelivery(&d, recipients, next, delivered, created, updated)
}

// fillDelivery sets the fields of a delivery derived from its columns.
func fillDelivery(d *herald.Delivery, recipients string, next, delivered sql.NullInt64, created, updated int64) error {
	d.Name = herald.DeliveryName(d.ProjectID, d.ID)
	d.Event = herald.EventName(d.ProjectID, d.EventID)
	d.Webhook = herald.WebhookName(d.ProjectID, d.WebhookID)
	if recipients != "" {
		if err := json.Unmarshal([]byte(recipients), &d.Recipients); err != nil {
			return fmt.Errorf("delivery %s recipients: %w", d.ID, err)
		}
	}
	d.NextAttemptTime = nullTime(next)
	d.DeliveredTime = nullTime(delivered)
	d.CreateTime, d.UpdateTime = fromMicros(created), fromMicros(updated)
	return nil
}

func recipientsJSON(rs []herald.Recipient) (string, error) {
	if len(rs) == 0 {
		return "", nil
	}
	b, err := json.Marshal(rs)
	return string(b), err
}

// freshRecipients returns the recipients as before anyone was reached.
func freshRecipients(rs []herald.Recipient) []herald.Recipient {
	out := make([]herald.Recipient, len(rs))
	for i, r := range rs {
		out[i] = herald.Recipient{Email: r.Email, Phone: r.Phone}
	}
	return out
}

// eventBody is what the event row keeps: the event as published, with the
// fields the store derives cleared.
func eventBody(e *herald.Event) ([]byte, error) {
	c := *e
	c.Name, c.CreateTime, c.Deliveries = "", nil, nil
	return json.Marshal(&c)
}

// GetEvent returns an event with its deliveries, or NOT_FOUND.
func (s *Store[TTx]) GetEvent(ctx context.Context, projectID, eventID string) (*herald.Event, error) {
	e, err := getEvent(ctx, s.db, projectID, eventID)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT `+deliveryColumns+` FROM herald_delivery WHERE project_id = ? AND event_id = ? ORDER BY id`, projectID, eventID)
	if err != nil {
		return nil, fmt.Errorf("get event deliveries: %w", err)
	}
	ds, err := collect(rows, scanDelivery)
	if err != nil {
		return nil, fmt.Errorf("get event deliveries: %w", err)
	}
	for _, d := range ds {
		e.Deliveries = append(e.Deliveries, *d)
	}
	return e, nil
}

func getEvent(ctx context.Context, q Querier, projectID, eventID string) (*herald.Event, error) {
	var body string
	var created int64
	err := q.QueryRow(ctx, `SELECT body, create_time FROM herald_event WHERE project_id = ? AND id = ?`, projectID, eventID).Scan(&body, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, herald.NotFoundf("event %q not found in project %q", eventID, projectID)
	}
	if err != nil {
		return nil, fmt.Errorf("get event: %w", err)
	}
	return decodeEvent(projectID, eventID, body, created)
}

// decodeEvent rebuilds a stored event from its row.
func decodeEvent(projectID, eventID, body string, created int64) (*herald.Event, error) {
	var e herald.Event
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		return nil, fmt.Errorf("event %s/%s: %w", projectID, eventID, err)
	}
	e.ProjectID = projectID
	e.Name = herald.EventName(projectID, eventID)
	t := fromMicros(created)
	e.CreateTime = &t
	return &e, nil
}

// ListDeliveries returns a project's deliveries, newest first. An unknown
// project is NOT_FOUND.
func (s *Store[TTx]) ListDeliveries(ctx context.Context, projectID string, f store.DeliveryFilter, page store.Page) ([]*herald.Delivery, string, error) {
	before, err := decodeToken(page.Token)
	if err != nil {
		return nil, "", err
	}
	if _, err := s.GetProject(ctx, projectID); err != nil {
		return nil, "", err
	}
	q := `SELECT ` + deliveryColumns + ` FROM herald_delivery WHERE project_id = ?`
	args := []any{projectID}
	if before != "" {
		q += ` AND id < ?`
		args = append(args, before)
	}
	if f.WebhookID != "" {
		q += ` AND webhook_id = ?`
		args = append(args, f.WebhookID)
	}
	if f.State != "" {
		q += ` AND state = ?`
		args = append(args, string(f.State))
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, page.Size+1)
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list deliveries: %w", err)
	}
	ds, err := collect(rows, scanDelivery)
	if err != nil {
		return nil, "", fmt.Errorf("list deliveries: %w", err)
	}
	return pageOf(ds, page.Size, func(d *herald.Delivery) string { return d.ID })
}

// GetDelivery returns a delivery with its attempts, or NOT_FOUND.
func (s *Store[TTx]) GetDelivery(ctx context.Context, projectID, deliveryID string) (*herald.Delivery, error) {
	d, err := getDelivery(ctx, s.db, deliveryID)
	if err == nil && d.ProjectID != projectID {
		err = herald.NotFoundf("delivery %q not found in project %q", deliveryID, projectID)
	}
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT number, target, start_time, duration_ms, http_status, platform_code, outcome, error, request_body, response_body
		FROM herald_attempt WHERE delivery_id = ? ORDER BY number`, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("get attempts: %w", err)
	}
	attempts, err := collect(rows, func(r Row) (herald.Attempt, error) {
		var a herald.Attempt
		var start int64
		err := r.Scan(&a.Number, &a.Target, &start, &a.DurationMs, &a.HTTPStatus, &a.PlatformCode, &a.Outcome, &a.Error, &a.RequestBody, &a.ResponseBody)
		a.StartTime = fromMicros(start)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("get attempts: %w", err)
	}
	d.Attempts = attempts
	return d, nil
}

func getDelivery(ctx context.Context, q Querier, deliveryID string) (*herald.Delivery, error) {
	d, err := scanDelivery(q.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM herald_delivery WHERE id = ?`, deliveryID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, herald.NotFoundf("delivery %q not found", deliveryID)
	}
	if err != nil {
		return nil, fmt.Errorf("get delivery: %w", err)
	}
	return d, nil
}

// RetryDelivery starts a new generation of a final delivery and queues it.
func (s *Store[TTx]) RetryDelivery(ctx context.Context, projectID, deliveryID string, now time.Time) (*herald.Delivery, error) {
	err := s.inTx(ctx, func(tx Tx[TTx]) error {
		d, err := getDelivery(ctx, tx, deliveryID)
		if err != nil {
			return err
		}
		if d.ProjectID != projectID {
			return herald.NotFoundf("delivery %q not found in project %q", deliveryID, projectID)
		}
		if !d.State.Final() {
			return herald.FailedPreconditionf("delivery %s is %s; only a SUCCEEDED or FAILED delivery can be retried", d.Name, d.State)
		}
		gen := d.Generation + 1
		// A manual retry starts over: direct messages are tried again for
		// every recipient (the user asked for the message again).
		route := herald.RouteChannel
		if d.Route != herald.RouteChannel {
			route = herald.RouteDirectMessage
		}
		recipients, err := recipientsJSON(freshRecipients(d.Recipients))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE herald_delivery SET state = ?, generation = ?, schedule_attempts = 0, next_attempt_time = ?,
			last_error = '', update_time = ?, route = ?, route_reason = '', recipients = ? WHERE id = ?`,
			string(herald.StatePending), gen, micros(now), micros(now), string(route), recipients, deliveryID)
		if err != nil {
			return fmt.Errorf("retry delivery: %w", err)
		}
		return s.queue.Enqueue(ctx, tx.Native(), queue.Job{DeliveryID: deliveryID, Generation: gen})
	})
	if err != nil {
		return nil, err
	}
	return s.GetDelivery(ctx, projectID, deliveryID)
}

// DeliveryStats returns the project's deliveries created since since.
func (s *Store[TTx]) DeliveryStats(ctx context.Context, projectID string, since time.Time, limit int) ([]store.DeliveryStat, error) {
	rows, err := s.db.Query(ctx, `SELECT webhook_id, state, create_time, delivered_time FROM herald_delivery
		WHERE project_id = ? AND create_time >= ? ORDER BY id DESC LIMIT ?`, projectID, micros(since), limit)
	if err != nil {
		return nil, fmt.Errorf("delivery stats: %w", err)
	}
	return collect(rows, func(r Row) (store.DeliveryStat, error) {
		var st store.DeliveryStat
		var created int64
		var delivered sql.NullInt64
		err := r.Scan(&st.WebhookID, &st.State, &created, &delivered)
		st.CreateTime, st.DeliveredTime = fromMicros(created), nullTime(delivered)
		return st, err
	})
}

// LiveDeliveries counts PENDING and RETRYING deliveries.
func (s *Store[TTx]) LiveDeliveries(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM herald_delivery WHERE state IN ('PENDING', 'RETRYING')`).Scan(&n)
	return n, err
}

// ---- settings

// ---- IM settings, one sealed JSON setting per platform

func imKey(p herald.IMPlatform) string { return "im." + string(p) }
func imAAD(p herald.IMPlatform) string { return "im-settings:" + string(p) }

// GetIMSettings returns a platform's IM settings, or NOT_FOUND.
func (s *Store[TTx]) GetIMSettings(ctx context.Context, p herald.IMPlatform) (*herald.IMSettings, error) {
	return s.getIMSettings(ctx, s.db, p)
}

func (s *Store[TTx]) getIMSettings(ctx context.Context, q Querier, p herald.IMPlatform) (*herald.IMSettings, error) {
	var sealed []byte
	err := q.QueryRow(ctx, `SELECT value FROM herald_setting WHERE key = ?`, imKey(p)).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, herald.NotFoundf("the %s integration is not configured", p)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s settings: %w", p, err)
	}
	plain, err := s.box.Open(sealed, imAAD(p))
	if err != nil {
		return nil, fmt.Errorf("%s settings: %w", p, err)
	}
	var out herald.IMSettings
	if err := json.Unmarshal([]byte(plain), &out); err != nil {
		return nil, fmt.Errorf("%s settings: %w", p, err)
	}
	return &out, nil
}

// UpdateIMSettings changes a platform's IM settings in one transaction.
func (s *Store[TTx]) UpdateIMSettings(ctx context.Context, p herald.IMPlatform, update func(*herald.IMSettings) error) (*herald.IMSettings, error) {
	var out *herald.IMSettings
	err := s.inTx(ctx, func(tx Tx[TTx]) error {
		cur, err := s.getIMSettings(ctx, tx, p)
		if herald.ErrorCode(err) == herald.CodeNotFound {
			cur, err = &herald.IMSettings{}, nil
		}
		if err != nil {
			return err
		}
		if err := update(cur); err != nil {
			return err
		}
		plain, err := json.Marshal(cur)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO herald_setting (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
			imKey(p), s.box.Seal(string(plain), imAAD(p)))
		if err != nil {
			return fmt.Errorf("update %s settings: %w", p, err)
		}
		out = cur
		return nil
	})
	return out, err
}

// DeleteIMSettings removes a platform's IM settings.
func (s *Store[TTx]) DeleteIMSettings(ctx context.Context, p herald.IMPlatform) error {
	n, err := s.db.Exec(ctx, `DELETE FROM herald_setting WHERE key = ?`, imKey(p))
	if err != nil {
		return fmt.Errorf("delete %s settings: %w", p, err)
	}
	if n == 0 {
		return herald.NotFoundf("the %s integration is not configured", p)
	}
	return nil
}

// GetSetting returns a setting, or NOT_FOUND.
func (s *Store[TTx]) GetSetting(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.db.QueryRow(ctx, `SELECT value FROM herald_setting WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, herald.NotFoundf("setting %q not found", key)
	}
	return v, err
}

// PutSettingIfAbsent stores a setting unless one exists.
func (s *Store[TTx]) PutSettingIfAbsent(ctx context.Context, key string, value []byte) (bool, error) {
	n, err := s.db.Exec(ctx, `INSERT INTO herald_setting (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING`, key, value)
	return n == 1, err
}

// ---- helpers

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func nullTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// collect scans every row with scan and closes rows.
func collect[T any](rows Rows, scan func(Row) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// pageOf cuts items (fetched with one extra) to size and returns the token
// of the next page, which is the key of the last item returned.
func pageOf[T any](items []T, size int, key func(T) string) ([]T, string, error) {
	if len(items) <= size {
		return items, "", nil
	}
	items = items[:size]
	return items, base64.RawURLEncoding.EncodeToString([]byte(key(items[size-1]))), nil
}

func decodeToken(token string) (string, error) {
	if token == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) == 0 {
		return "", herald.Invalidf("pageToken", "is not a token this list returned")
	}
	return string(b), nil
}
