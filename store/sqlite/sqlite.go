// Package sqlite is Herald's default store: one SQLite file, opened with the
// pure-Go driver modernc.org/sqlite (no cgo), with River's riversqlite driver
// for the delivery queue in the same file.
//
// One process owns the file: Open takes an exclusive lock on it, so a second
// `herald serve` on the same file refuses to start instead of corrupting the
// queue. That is also why jobs left running by a process that died (kill -9)
// can be requeued at once when the next one opens the file.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"syscall"

	"github.com/riverqueue/river/riverdriver/riversqlite"
	sqlite "modernc.org/sqlite"

	"github.com/heraldhq/herald/queue"
	"github.com/heraldhq/herald/secret"
	"github.com/heraldhq/herald/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Backend is a store and a delivery queue on one SQLite file.
type Backend struct {
	*sqlstore.Store[*sql.Tx]
	Queue *queue.Queue[*sql.Tx]
	db    *sql.DB
	lock  *os.File
}

// Options configure Open.
type Options struct {
	Box   *secret.Box
	Queue queue.Config
}

// Open opens (creating if needed) the SQLite database at path, takes the
// process lock, applies migrations, and requeues jobs an earlier process
// left running.
func Open(ctx context.Context, path string, opts Options) (*Backend, error) {
	lock, err := lockFile(path)
	if err != nil {
		return nil, err
	}
	b, err := open(ctx, path, lock, opts)
	if err != nil {
		_ = lock.Close()
		return nil, err
	}
	return b, nil
}

func open(ctx context.Context, path string, lock *os.File, opts Options) (*Backend, error) {
	db, err := OpenDB(path)
	if err != nil {
		return nil, err
	}
	if err := Migrate(ctx, db); err != nil {
		_ = db.Close()
		return nil, err
	}
	// The lock proves no other process works these jobs: any job still
	// marked running was cut short by a crash, so make it available now
	// instead of waiting for River's rescuer.
	if _, err := db.ExecContext(ctx, `UPDATE river_job SET state = 'available' WHERE state = 'running'`); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("requeue interrupted jobs: %w", err)
	}
	q, err := queue.New(riversqlite.New(db), opts.Queue)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &Backend{
		Store: sqlstore.New(sqlstore.StdDB(db), opts.Box, q, 1),
		Queue: q,
		db:    db,
		lock:  lock,
	}, nil
}

// OpenDB opens the database file with the settings Herald relies on: WAL
// journal, synchronous=FULL (a commit is on disk before it is
// acknowledged), foreign keys, a busy timeout, a single connection (SQLite
// has one writer; River's SQLite driver asks for one connection), and a
// statement cache (see stmtcache.go).
func OpenDB(path string) (*sql.DB, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)", "busy_timeout(10000)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db := sql.OpenDB(&cachingConnector{dsn: "file:" + path + "?" + q.Encode(), driver: &sqlite.Driver{}})
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	if err := db.Ping(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// Migrate applies Herald's and River's migrations to db.
func Migrate(ctx context.Context, db *sql.DB) error {
	dir, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	if _, err := sqlstore.Migrate(ctx, sqlstore.StdDB(db), dir); err != nil {
		return err
	}
	return queue.Migrate(ctx, riversqlite.New(db))
}

// Start begins working delivery jobs with h.
func (b *Backend) Start(ctx context.Context, h queue.Handler) error { return b.Queue.Start(ctx, h) }

// Stop stops the workers, waiting for running jobs until ctx ends.
func (b *Backend) Stop(ctx context.Context) error { return b.Queue.Stop(ctx) }

// Close closes the database and releases the process lock.
func (b *Backend) Close() error {
	_ = b.Store.Close()
	err := b.db.Close()
	return errors.Join(err, b.lock.Close())
}

// lockFile takes an exclusive, non-blocking flock on path (creating the file
// if needed). SQLite's own locks are fcntl locks, which flock does not
// disturb.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is in use by another Herald process (SQLite serves one process; use PostgreSQL for several replicas)", path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}
