package queue_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/heraldhq/herald/queue"
	"github.com/heraldhq/herald/store/sqlite"
)

// deadline bounds how long a test waits for a job before it fails; it is
// never asserted on.
const deadline = 30 * time.Second

// recorder is a Handler that records every job it is given and answers
// with answer (nil when answer is nil).
type recorder struct {
	mu     sync.Mutex
	calls  []queue.Job
	answer func(job queue.Job, call int) error
	seen   chan queue.Job
}

func newRecorder(answer func(queue.Job, int) error) *recorder {
	return &recorder{answer: answer, seen: make(chan queue.Job, 100)}
}

func (r *recorder) HandleJob(_ context.Context, job queue.Job) error {
	r.mu.Lock()
	r.calls = append(r.calls, job)
	n := 0
	for _, c := range r.calls {
		if c.DeliveryID == job.DeliveryID {
			n++
		}
	}
	r.mu.Unlock()
	var err error
	if r.answer != nil {
		err = r.answer(job, n)
	}
	r.seen <- job
	return err
}

// callsOf returns how often the handler saw the delivery's job.
func (r *recorder) callsOf(deliveryID string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		if c.DeliveryID == deliveryID {
			n++
		}
	}
	return n
}

// await waits until the handler has seen the delivery's job n times.
func (r *recorder) await(t *testing.T, deliveryID string, n int) {
	t.Helper()
	timeout := time.After(deadline)
	for r.callsOf(deliveryID) < n {
		select {
		case <-r.seen:
		case <-timeout:
			t.Fatalf("the job of %s was handled %d times, want %d", deliveryID, r.callsOf(deliveryID), n)
		}
	}
}

// newQueue returns a queue on a new migrated SQLite file, stopped at the
// end of the test.
func newQueue(t *testing.T) (*queue.Queue[*sql.Tx], *sql.DB) {
	t.Helper()
	db, err := sqlite.OpenDB(filepath.Join(t.TempDir(), "herald.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlite.Migrate(t.Context(), db); err != nil {
		_ = db.Close()
		t.Fatal(err)
	}
	q, err := queue.New(riversqlite.New(db), queue.Config{
		Workers:           1,
		JobTimeout:        10 * time.Second,
		RescueAfter:       time.Minute,
		FetchPollInterval: 20 * time.Millisecond,
		FetchCooldown:     10 * time.Millisecond,
	})
	if err != nil {
		_ = db.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		if err := q.Stop(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Stop: %v", err)
		}
		_ = db.Close()
	})
	return q, db
}

// enqueue inserts jobs in one transaction and commits it, or rolls it back.
func enqueue(t *testing.T, q *queue.Queue[*sql.Tx], db *sql.DB, commit bool, jobs ...queue.Job) {
	t.Helper()
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(t.Context(), tx, jobs...); err != nil {
		_ = tx.Rollback()
		t.Fatal(err)
	}
	if commit {
		err = tx.Commit()
	} else {
		err = tx.Rollback()
	}
	if err != nil {
		t.Fatal(err)
	}
}

// rows counts the River jobs that name a delivery.
func rows(t *testing.T, db *sql.DB, deliveryID string) int {
	t.Helper()
	var n int
	err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM river_job WHERE kind = ? AND json_extract(args, '$.deliveryId') = ?`,
		queue.Job{}.Kind(), deliveryID).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCommittedJobIsHandled(t *testing.T) {
	q, db := newQueue(t)
	h := newRecorder(nil)
	// Enqueued before Start: kept until the workers run.
	enqueue(t, q, db, true, queue.Job{DeliveryID: "d1", Generation: 3})
	if rows(t, db, "d1") != 1 {
		t.Fatal("the committed job is not in river_job")
	}
	if err := q.Start(t.Context(), h); err != nil {
		t.Fatal(err)
	}
	h.await(t, "d1", 1)
	h.mu.Lock()
	got := h.calls[0]
	h.mu.Unlock()
	if got != (queue.Job{DeliveryID: "d1", Generation: 3}) {
		t.Errorf("handler got %+v, want the job as enqueued", got)
	}

	// Enqueued while running.
	enqueue(t, q, db, true, queue.Job{DeliveryID: "d2"}, queue.Job{DeliveryID: "d3"})
	h.await(t, "d2", 1)
	h.await(t, "d3", 1)
}

func TestRolledBackJobIsNeverHandled(t *testing.T) {
	q, db := newQueue(t)
	h := newRecorder(nil)
	// The rolled-back job would come first; the committed one after it
	// shows that the workers have looked past where it would be.
	enqueue(t, q, db, false, queue.Job{DeliveryID: "rolled-back"})
	enqueue(t, q, db, true, queue.Job{DeliveryID: "committed"})
	if n := rows(t, db, "rolled-back"); n != 0 {
		t.Fatalf("%d rows for the rolled-back job, want none", n)
	}
	if err := q.Start(t.Context(), h); err != nil {
		t.Fatal(err)
	}
	h.await(t, "committed", 1)
	enqueue(t, q, db, true, queue.Job{DeliveryID: "after"})
	h.await(t, "after", 1)
	if n := h.callsOf("rolled-back"); n != 0 {
		t.Errorf("the rolled-back job was handled %d times", n)
	}
}

func TestEnqueueNothing(t *testing.T) {
	q, db := newQueue(t)
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := q.Enqueue(t.Context(), tx); err != nil {
		t.Errorf("Enqueue of no jobs: %v", err)
	}
}

func TestSnoozedJobRunsAgain(t *testing.T) {
	q, db := newQueue(t)
	h := newRecorder(func(job queue.Job, call int) error {
		if job.DeliveryID == "snoozy" && call == 1 {
			return queue.Snooze(50 * time.Millisecond)
		}
		return nil
	})
	if err := q.Start(t.Context(), h); err != nil {
		t.Fatal(err)
	}
	enqueue(t, q, db, true, queue.Job{DeliveryID: "snoozy", Generation: 1})
	h.await(t, "snoozy", 2)
	h.mu.Lock()
	calls := append([]queue.Job(nil), h.calls...)
	h.mu.Unlock()
	for _, c := range calls {
		if c != (queue.Job{DeliveryID: "snoozy", Generation: 1}) {
			t.Errorf("handler got %+v, want the snoozed job each time", c)
		}
	}
	// Done after the second run: it is not handled a third time, which
	// another job handled after it shows.
	enqueue(t, q, db, true, queue.Job{DeliveryID: "after"})
	h.await(t, "after", 1)
	if n := h.callsOf("snoozy"); n != 2 {
		t.Errorf("the snoozed job was handled %d times, want 2", n)
	}
}

func TestSnooze(t *testing.T) {
	tests := []struct {
		in, want time.Duration
	}{
		{time.Second, time.Second},
		{0, 0},
		{-time.Second, 0},
	}
	for _, tt := range tests {
		err := queue.Snooze(tt.in)
		var s *queue.SnoozeError
		if !errors.As(err, &s) || s.Delay != tt.want {
			t.Errorf("Snooze(%v) = %v, want a SnoozeError of %v", tt.in, err, tt.want)
		}
	}
	if (queue.Job{}).Kind() != "herald_delivery" {
		t.Errorf("Job kind = %q", queue.Job{}.Kind())
	}
}
