package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/queue"
	"github.com/heraldhq/herald/store"
)

var errClosed = errors.New("store: closed")

// ---- publishing

// publishOp is one event to store with its deliveries.
type publishOp struct {
	event      *herald.Event
	body       []byte
	plan       store.Plan
	deliveries []*herald.Delivery // what plan decided, in the committed run
	created    bool
}

// PublishEvent stores the event, its deliveries and their jobs in one
// transaction (shared with other publishes arriving at the same time),
// committed before it returns.
func (s *Store[TTx]) PublishEvent(ctx context.Context, e *herald.Event, plan store.Plan) (*herald.Event, bool, error) {
	body, err := eventBody(e)
	if err != nil {
		return nil, false, fmt.Errorf("publish: %w", err)
	}
	op := &publishOp{event: e, body: body, plan: plan}
	if err := s.publishes.do(ctx, op); err != nil {
		return nil, false, err
	}
	if !op.created {
		stored, err := s.GetEvent(ctx, e.ProjectID, e.EventID)
		return stored, false, err
	}
	// What was just committed, without reading it back.
	stored := *e
	stored.Name = herald.EventName(e.ProjectID, e.EventID)
	stored.Deliveries = make([]herald.Delivery, len(op.deliveries))
	for i, d := range op.deliveries {
		c := *d
		c.Name = herald.DeliveryName(c.ProjectID, c.ID)
		c.Event = stored.Name
		c.Webhook = herald.WebhookName(c.ProjectID, c.WebhookID)
		stored.Deliveries[i] = c
	}
	return &stored, true, nil
}

// runPublishes stores a batch of events in one transaction: one SELECT of
// their projects' webhooks, one INSERT for the events, one for their
// deliveries, one River insert for the jobs. If the transaction fails, each
// event is tried alone, so that one bad event does not fail the others.
func (s *Store[TTx]) runPublishes(ctx context.Context, ops []*batchOp[*publishOp]) {
	err := s.inTx(ctx, func(tx Tx[TTx]) error {
		projects, err := s.projectsWithWebhooks(ctx, tx, ops)
		if err != nil {
			return err
		}
		var found []*batchOp[*publishOp]
		for _, op := range ops {
			op.err = nil
			if _, ok := projects[op.item.event.ProjectID]; !ok {
				op.err = herald.NotFoundf("project %q not found", op.item.event.ProjectID)
				continue
			}
			found = append(found, op)
		}
		created, err := insertEvents(ctx, tx, found)
		if err != nil {
			return err
		}
		var deliveries []*herald.Delivery
		for i, op := range found {
			op.item.created, op.item.deliveries = created[i], nil
			if created[i] {
				pw := projects[op.item.event.ProjectID]
				op.item.deliveries = op.item.plan(pw.project, pw.webhooks)
				deliveries = append(deliveries, op.item.deliveries...)
			}
		}
		if err := insertDeliveries(ctx, tx, deliveries); err != nil {
			return err
		}
		jobs := make([]queue.Job, len(deliveries))
		for i, d := range deliveries {
			jobs[i] = queue.Job{DeliveryID: d.ID}
		}
		if err := s.queue.Enqueue(ctx, tx.Native(), jobs...); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		return nil
	})
	if err != nil && len(ops) > 1 {
		for i := range ops {
			s.runPublishes(ctx, ops[i:i+1])
		}
		return
	}
	if err != nil {
		ops[0].err = err
	}
}

// projectWebhooks is a project and all its webhooks, without secrets.
type projectWebhooks struct {
	project  *herald.Project
	webhooks []*herald.Webhook
}

// projectsWithWebhooks reads the projects of ops with their webhooks, in
// one query; a project that does not exist is absent from the map.
func (s *Store[TTx]) projectsWithWebhooks(ctx context.Context, tx Querier, ops []*batchOp[*publishOp]) (map[string]*projectWebhooks, error) {
	var ids []any
	seen := map[string]bool{}
	for _, op := range ops {
		if id := op.item.event.ProjectID; !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	rows, err := tx.Query(ctx, `SELECT `+prefixed("p", projectColumns)+`, w.id, `+webhookOrDefaults+`
		FROM herald_project p LEFT JOIN herald_webhook w ON w.project_id = p.id
		WHERE p.id IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")+`) ORDER BY p.id, w.id`, ids...)
	if err != nil {
		return nil, fmt.Errorf("publish: read webhooks: %w", err)
	}
	out := map[string]*projectWebhooks{}
	_, err = collect(rows, func(r Row) (struct{}, error) {
		var pc, pu int64
		var proj herald.Project
		var hookID sql.NullString
		var sw sealedWebhook
		err := scanWebhookInto(&sw, func(dests ...any) error {
			return r.Scan(append([]any{&proj.ProjectID, &proj.Title, &pc, &pu, &hookID}, dests...)...)
		})
		if err != nil {
			return struct{}{}, err
		}
		pw, ok := out[proj.ProjectID]
		if !ok {
			proj.Name = herald.ProjectName(proj.ProjectID)
			proj.CreateTime, proj.UpdateTime = fromMicros(pc), fromMicros(pu)
			pw = &projectWebhooks{project: &proj}
			out[proj.ProjectID] = pw
		}
		if hookID.Valid {
			pw.webhooks = append(pw.webhooks, &sw.Webhook)
		}
		return struct{}{}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("publish: read webhooks: %w", err)
	}
	return out, nil
}

// insertEvents inserts the events of ops, skipping those whose id their
// project already has (or that an earlier op of the batch has), and says
// which it inserted.
func insertEvents(ctx context.Context, tx Querier, ops []*batchOp[*publishOp]) ([]bool, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	args := make([]any, 0, 5*len(ops))
	for _, op := range ops {
		e := op.item.event
		args = append(args, e.ProjectID, e.EventID, string(e.Type), string(op.item.body), micros(*e.CreateTime))
	}
	rows, err := tx.Query(ctx, `INSERT INTO herald_event (project_id, id, type, body, create_time) VALUES `+
		placeholders(len(ops), 5)+` ON CONFLICT DO NOTHING RETURNING project_id, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("publish: insert events: %w", err)
	}
	inserted, err := collect(rows, func(r Row) (string, error) {
		var p, id string
		err := r.Scan(&p, &id)
		return p + "/" + id, err
	})
	if err != nil {
		return nil, fmt.Errorf("publish: insert events: %w", err)
	}
	fresh := map[string]bool{}
	for _, k := range inserted {
		fresh[k] = true
	}
	created := make([]bool, len(ops))
	for i, op := range ops {
		k := op.item.event.ProjectID + "/" + op.item.event.EventID
		created[i] = fresh[k]
		delete(fresh, k) // a repeat within the batch is not created twice
	}
	return created, nil
}

// maxRowsPerInsert keeps a multi-row INSERT under the databases' limits on
// parameters (SQLite 32766, PostgreSQL 65535).
const maxRowsPerInsert = 1000

// insertDeliveries inserts new deliveries, a thousand rows per statement.
func insertDeliveries(ctx context.Context, tx Querier, ds []*herald.Delivery) error {
	for len(ds) > 0 {
		chunk := ds[:min(len(ds), maxRowsPerInsert)]
		ds = ds[len(chunk):]
		args := make([]any, 0, 10*len(chunk))
		for _, d := range chunk {
			recipients, err := recipientsJSON(d.Recipients)
			if err != nil {
				return err
			}
			args = append(args, d.ID, d.ProjectID, d.EventID, d.WebhookID, string(d.State), string(d.Route), recipients,
				micros(*d.NextAttemptTime), micros(d.CreateTime), micros(d.UpdateTime))
		}
		_, err := tx.Exec(ctx, `INSERT INTO herald_delivery (id, project_id, event_id, webhook_id, state, route, recipients,
			next_attempt_time, create_time, update_time, attempt_count, schedule_attempts, generation, last_error, route_reason) SELECT v.*, 0, 0, 0, '', '' FROM (`+
			selectRows(len(chunk), "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "BIGINT", "BIGINT", "BIGINT")+`) v`, args...)
		if err != nil {
			return fmt.Errorf("publish: insert deliveries: %w", err)
		}
	}
	return nil
}

// placeholders returns "(?, ?), (?, ?)" for rows rows of cols columns.
func placeholders(rows, cols int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
}

// selectRows returns rows SELECTs of typed placeholders joined by UNION
// ALL, the portable way (SQLite and PostgreSQL) to feed a statement a table
// of parameters; the columns are named c0, c1, ….
func selectRows(rows int, types ...string) string {
	var b strings.Builder
	for r := range rows {
		if r > 0 {
			b.WriteString(" UNION ALL ")
		}
		b.WriteString("SELECT ")
		for c, t := range types {
			if c > 0 {
				b.WriteString(", ")
			}
			b.WriteString("CAST(? AS " + t + ")")
			if r == 0 {
				fmt.Fprintf(&b, " AS c%d", c)
			}
		}
	}
	return b.String()
}

// ---- working deliveries

// LoadWork returns a delivery with its event, project and webhook. Loads
// that arrive together share one query (see runLoads): under load, workers
// starting on deliveries at once make one round trip instead of one each.
func (s *Store[TTx]) LoadWork(ctx context.Context, deliveryID string) (*store.Work, error) {
	op := &loadOp{id: deliveryID}
	if err := s.loads.do(ctx, op); err != nil {
		return nil, err
	}
	return op.work, nil
}

// loadOp is one LoadWork in a batch.
type loadOp struct {
	id   string
	work *store.Work
}

// loadSizes are the numbers of ids a load query takes: a batch is padded to
// the next one (repeating an id), so that only these few statements are
// ever prepared.
var loadSizes = []int{1, 2, 4, 8, 16, 32, maxBatch}

// loadQueries holds the load statement for each of loadSizes.
var loadQueries = func() map[int]string {
	qs := map[int]string{}
	for _, n := range loadSizes {
		// The event is read by correlated subqueries keyed on both columns
		// of its primary key: as a join, PostgreSQL's plan for a new (not
		// yet analyzed) table scanned all of a project's events.
		qs[n] = `SELECT ` + prefixed("d", deliveryColumns) + `, p.title, p.create_time, p.update_time,
		(SELECT e.body FROM herald_event e WHERE e.project_id = d.project_id AND e.id = d.event_id),
		(SELECT e.create_time FROM herald_event e WHERE e.project_id = d.project_id AND e.id = d.event_id),
		w.id, ` + webhookOrDefaults + `
		FROM herald_delivery d
		JOIN herald_project p ON p.id = d.project_id
		LEFT JOIN herald_webhook w ON w.project_id = d.project_id AND w.id = d.webhook_id
		WHERE d.id IN (` + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + `)`
	}
	return qs
}()

// runLoads reads the deliveries of a batch of loads in one query. An id
// asked for twice in one batch (a job run twice at once) is read again on
// its own, so that every caller gets a Work of its own.
func (s *Store[TTx]) runLoads(ctx context.Context, ops []*batchOp[*loadOp]) {
	first := map[string]*batchOp[*loadOp]{}
	var ids []any
	for _, op := range ops {
		if _, seen := first[op.item.id]; !seen {
			first[op.item.id] = op
			ids = append(ids, op.item.id)
		}
	}
	size := loadSizes[len(loadSizes)-1]
	for _, n := range loadSizes {
		if n >= len(ids) {
			size = n
			break
		}
	}
	for len(ids) < size {
		ids = append(ids, ids[len(ids)-1])
	}
	err := s.queryWork(ctx, loadQueries[size], ids, func(w *store.Work) {
		first[w.Delivery.ID].item.work = w
	})
	for _, op := range ops {
		switch {
		case err != nil:
			op.err = err
		case op.item.work != nil:
		case first[op.item.id] != op && first[op.item.id].item.work != nil:
			// The same id again: read it once more, for this caller.
			op.err = s.queryWork(ctx, loadQueries[1], []any{op.item.id}, func(w *store.Work) { op.item.work = w })
		default:
			op.err = herald.NotFoundf("delivery %q not found", op.item.id)
		}
	}
}

// queryWork runs a load query and gives each delivery it finds to found.
func (s *Store[TTx]) queryWork(ctx context.Context, query string, ids []any, found func(*store.Work)) error {
	rows, err := s.db.Query(ctx, query, ids...)
	if err != nil {
		return fmt.Errorf("load deliveries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		w, err := s.scanWork(rows)
		if err != nil {
			return err
		}
		found(w)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load deliveries: %w", err)
	}
	return nil
}

// scanWork reads one row of a load query.
func (s *Store[TTx]) scanWork(row Row) (*store.Work, error) {
	var (
		d                                              herald.Delivery
		recipients, eventBody                          string
		next, delivered                                sql.NullInt64
		created, updated, pCreated, pUpdated, eCreated int64
		p                                              herald.Project
		hookID                                         sql.NullString
	)
	var sw sealedWebhook
	dests := []any{
		&d.ID, &d.ProjectID, &d.EventID, &d.WebhookID, &d.State, &d.Route, &recipients, &d.AttemptCount,
		&d.ScheduleAttempts, &d.Generation, &next, &d.LastError, &created, &updated, &delivered, &d.RouteReason,
		&p.Title, &pCreated, &pUpdated, &eventBody, &eCreated, &hookID,
	}
	err := scanWebhookInto(&sw, func(webhookDests ...any) error { return row.Scan(append(dests, webhookDests...)...) })
	if err != nil {
		return nil, fmt.Errorf("load delivery: %w", err)
	}
	if err := fillDelivery(&d, recipients, next, delivered, created, updated); err != nil {
		return nil, err
	}
	p.ProjectID, p.Name = d.ProjectID, herald.ProjectName(d.ProjectID)
	p.CreateTime, p.UpdateTime = fromMicros(pCreated), fromMicros(pUpdated)
	e, err := decodeEvent(d.ProjectID, d.EventID, eventBody, eCreated)
	if err != nil {
		return nil, err
	}
	w := &store.Work{Delivery: &d, Project: &p, Event: e}
	if hookID.Valid {
		if w.Webhook, err = s.open(&sw); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// webhookOrDefaults selects the webhook columns of a LEFT JOIN, with
// defaults in place of NULL so that the usual scan works when there is no
// webhook.
var webhookOrDefaults = func() string {
	defaults := map[string]string{
		"direct_message": "FALSE", "enabled": "FALSE", "create_time": "0", "update_time": "0",
		"url_sealed": "NULL", "signing_secret_sealed": "NULL",
	}
	var cols []string
	for _, c := range strings.Split(webhookColumns, ", ") {
		def, ok := defaults[c]
		if !ok {
			def = "''"
		}
		cols = append(cols, "COALESCE(w."+c+", "+def+")")
	}
	return strings.Join(cols, ", ")
}()

// prefixed qualifies each of columns with table.
func prefixed(table, columns string) string {
	return table + "." + strings.ReplaceAll(columns, ", ", ", "+table+".")
}

// Record saves one working of a delivery, in a transaction shared with
// other records arriving at the same time.
func (s *Store[TTx]) Record(ctx context.Context, r *store.Record) error {
	return s.records.do(ctx, r)
}

// runRecords saves a batch of records in one transaction: one UPDATE for
// the deliveries, one INSERT for their attempts. A stale record is that
// record's error only; any other failure retries each record alone.
func (s *Store[TTx]) runRecords(ctx context.Context, ops []*batchOp[*store.Record]) {
	// One delivery twice in a batch (a rescued job racing its first
	// worker) would be updated once: such a batch is saved in parts.
	seen := map[string]bool{}
	for i, op := range ops {
		if seen[op.item.DeliveryID] {
			s.runRecords(ctx, ops[:i])
			s.runRecords(ctx, ops[i:])
			return
		}
		seen[op.item.DeliveryID] = true
	}
	err := s.inTx(ctx, func(tx Tx[TTx]) error { return s.record(ctx, tx, ops) })
	if err != nil && len(ops) > 1 {
		for i := range ops {
			s.runRecords(ctx, ops[i:i+1])
		}
		return
	}
	if err != nil {
		ops[0].err = err
	}
}

// record applies records inside tx: each delivery's new state (only at the
// record's generation), its attempt, and the webhook's disabling. Records
// whose delivery moved on get ErrStale.
func (s *Store[TTx]) record(ctx context.Context, tx Querier, ops []*batchOp[*store.Record]) error {
	args := make([]any, 0, 13*len(ops))
	for _, op := range ops {
		r := op.item
		recipients, err := recipientsJSON(r.Recipients)
		if err != nil {
			return err
		}
		added, scheduled := 0, 0
		if r.Attempt != nil {
			added = 1
			if r.CountsTowardSchedule {
				scheduled = 1
			}
		}
		var delivered, next any
		if r.State == herald.StateSucceeded {
			delivered = micros(r.Now)
		}
		if r.NextAttemptTime != nil {
			next = micros(*r.NextAttemptTime)
		}
		reset := 0
		if r.ResetSchedule {
			reset = 1
		}
		args = append(args, r.DeliveryID, r.Generation, string(r.State), string(r.Route), recipients, added, scheduled,
			next, r.LastError, micros(r.Now), delivered, r.RouteReason, reset)
	}
	rows, err := tx.Query(ctx, `UPDATE herald_delivery SET state = v.c2, route = v.c3, recipients = v.c4,
		attempt_count = herald_delivery.attempt_count + v.c5,
		schedule_attempts = CASE WHEN v.c12 = 1 THEN 0 ELSE herald_delivery.schedule_attempts END + v.c6,
		next_attempt_time = v.c7, last_error = v.c8, update_time = v.c9,
		delivered_time = COALESCE(herald_delivery.delivered_time, v.c10), route_reason = v.c11
		FROM (`+selectRows(len(ops), "TEXT", "BIGINT", "TEXT", "TEXT", "TEXT", "BIGINT", "BIGINT", "BIGINT", "TEXT", "BIGINT", "BIGINT", "TEXT", "BIGINT")+`) v
		WHERE herald_delivery.id = v.c0 AND herald_delivery.generation = v.c1
		RETURNING herald_delivery.id, herald_delivery.attempt_count, herald_delivery.project_id, herald_delivery.webhook_id`, args...)
	if err != nil {
		return fmt.Errorf("record deliveries: %w", err)
	}
	type updated struct {
		count              int
		project, webhookID string
	}
	done := map[string]updated{}
	_, err = collect(rows, func(r Row) (struct{}, error) {
		var id string
		var u updated
		err := r.Scan(&id, &u.count, &u.project, &u.webhookID)
		done[id] = u
		return struct{}{}, err
	})
	if err != nil {
		return fmt.Errorf("record deliveries: %w", err)
	}
	var attempts []any
	n := 0
	for _, op := range ops {
		r := op.item
		u, ok := done[r.DeliveryID]
		if !ok {
			op.err = store.ErrStale
			continue
		}
		op.err = nil
		if a := r.Attempt; a != nil {
			a.Number = u.count
			attempts = append(attempts, r.DeliveryID, a.Number, a.Target, micros(a.StartTime), a.DurationMs, a.HTTPStatus,
				a.PlatformCode, string(a.Outcome), herald.CutBody(a.Error), herald.CutBody(a.RequestBody), herald.CutBody(a.ResponseBody))
			n++
		}
		if r.DisableWebhook != "" {
			_, err = tx.Exec(ctx, `UPDATE herald_webhook SET enabled = ?, disabled_reason = ?, update_time = ? WHERE project_id = ? AND id = ?`,
				false, r.DisableWebhook, micros(r.Now), u.project, u.webhookID)
			if err != nil {
				return fmt.Errorf("disable webhook: %w", err)
			}
		}
	}
	if n > 0 {
		_, err = tx.Exec(ctx, `INSERT INTO herald_attempt (delivery_id, number, target, start_time, duration_ms, http_status,
			platform_code, outcome, error, request_body, response_body) VALUES `+placeholders(n, 11), attempts...)
		if err != nil {
			return fmt.Errorf("record attempts: %w", err)
		}
	}
	return nil
}
