// Package queue runs delivery jobs on River (github.com/riverqueue/river), over
// whichever database the store uses: riversqlite on SQLite, riverpgxv5 on
// PostgreSQL. A job names one delivery; the delivery row in the store is the
// truth about it, and the job only says "look at this delivery now".
//
// Jobs are inserted inside the store's transaction (Enqueue takes the
// database's own transaction type), so a delivery and its job are committed
// together or not at all.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"
)

// Job asks for one delivery to be worked.
type Job struct {
	DeliveryID string `json:"deliveryId"`
	// Generation is the delivery's generation when the job was queued; a
	// manual retry starts a new one, and jobs of older generations do nothing.
	Generation int `json:"generation"`
}

// Kind names the job type in River's tables.
func (Job) Kind() string { return "herald_delivery" }

// Handler works a job. It returns nil when the job is done (whatever the
// delivery's outcome), a *SnoozeError (see Snooze) to look again after a
// delay without using one of River's attempts, or any other error for River
// to retry the job with its own backoff (for failures of Herald itself, such
// as an unreachable database).
type Handler interface {
	HandleJob(ctx context.Context, job Job) error
}

// SnoozeError asks for the job to run again after Delay.
type SnoozeError struct{ Delay time.Duration }

func (e *SnoozeError) Error() string { return fmt.Sprintf("snooze %s", e.Delay) }

// Snooze returns the error a Handler returns to run a job again after d.
func Snooze(d time.Duration) error { return &SnoozeError{Delay: max(d, 0)} }

// Config tunes the workers.
type Config struct {
	// Workers is how many jobs one process works at once.
	Workers int
	// JobTimeout bounds one run of a job.
	JobTimeout time.Duration
	// RescueAfter is how long a job may stay running before another process
	// takes it back (its worker died); it must exceed JobTimeout.
	RescueAfter time.Duration
	// FetchPollInterval and FetchCooldown tune how often idle workers look
	// for jobs; zero keeps River's defaults.
	FetchPollInterval time.Duration
	FetchCooldown     time.Duration
	Logger            *slog.Logger
}

// Queue is a River client for one database.
type Queue[TTx any] struct {
	client  *river.Client[TTx]
	handler atomic.Pointer[Handler]
}

// queueName is the River queue delivery jobs go to.
const queueName = "herald_delivery"

// maxRiverAttempts bounds River's own retries of a job whose handler failed
// unexpectedly (not delivery failures, which the handler snoozes).
const maxRiverAttempts = 50

// New returns a queue over driver. Jobs can be enqueued at once; they are
// worked only after Start.
func New[TTx any](driver riverdriver.Driver[TTx], cfg Config) (*Queue[TTx], error) {
	q := &Queue[TTx]{}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, river.WorkFunc(q.work)); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	client, err := river.NewClient(driver, &river.Config{
		Queues: map[string]river.QueueConfig{
			queueName: {MaxWorkers: max(cfg.Workers, 1)},
		},
		Workers:                     workers,
		JobTimeout:                  cfg.JobTimeout,
		RescueStuckJobsAfter:        cfg.RescueAfter,
		FetchPollInterval:           cfg.FetchPollInterval,
		FetchCooldown:               cfg.FetchCooldown,
		CompletedJobRetentionPeriod: time.Hour,
		Logger:                      logger.With("component", "river"),
	})
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	q.client = client
	return q, nil
}

// Enqueue inserts jobs inside tx; they become visible when tx commits.
func (q *Queue[TTx]) Enqueue(ctx context.Context, tx TTx, jobs ...Job) error {
	if len(jobs) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, len(jobs))
	for i, j := range jobs {
		params[i] = river.InsertManyParams{Args: j, InsertOpts: &river.InsertOpts{Queue: queueName, MaxAttempts: maxRiverAttempts}}
	}
	if _, err := q.client.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("enqueue %d jobs: %w", len(jobs), err)
	}
	return nil
}

// Start begins working jobs with h, until Stop.
func (q *Queue[TTx]) Start(ctx context.Context, h Handler) error {
	q.handler.Store(&h)
	return q.client.Start(ctx)
}

// Stop stops fetching jobs and waits for running ones to finish, or for ctx
// to end, whichever comes first; jobs cut short run again later.
func (q *Queue[TTx]) Stop(ctx context.Context) error {
	err := q.client.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return q.client.StopAndCancel(context.Background())
	}
	return err
}

func (q *Queue[TTx]) work(ctx context.Context, job *river.Job[Job]) error {
	h := q.handler.Load()
	if h == nil {
		return river.JobSnooze(time.Second)
	}
	err := (*h).HandleJob(ctx, job.Args)
	var snooze *SnoozeError
	if errors.As(err, &snooze) {
		return river.JobSnooze(snooze.Delay)
	}
	return err
}

// Migrate brings River's own tables up to date.
func Migrate[TTx any](ctx context.Context, driver riverdriver.Driver[TTx]) error {
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	return nil
}
