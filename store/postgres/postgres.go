// Package postgres is Herald's store for several replicas: PostgreSQL through
// pgx (github.com/jackc/pgx/v5), with River's riverpgxv5 driver for the
// delivery queue in the same database. Any number of `herald serve`
// processes may share one database; River gives each job to one of them at
// a time and takes back the jobs of a process that died.
package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/heraldhq/herald/queue"
	"github.com/heraldhq/herald/secret"
	"github.com/heraldhq/herald/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock key that serializes migrations of
// replicas starting together ("herald" in ASCII).
const migrationLock = 0x68657261_6c64

// defaultMaxConns is the pool size unless the URL sets pool_max_conns.
const defaultMaxConns = 20

// Backend is a store and a delivery queue on one PostgreSQL database.
type Backend struct {
	*sqlstore.Store[pgx.Tx]
	Queue *queue.Queue[pgx.Tx]
	pool  *pgxpool.Pool
}

// Options configure Open.
type Options struct {
	Box   *secret.Box
	Queue queue.Config
}

// Open connects to the database at url and applies migrations.
func Open(ctx context.Context, url string, opts Options) (*Backend, error) {
	pool, err := Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	q, err := queue.New(riverpgxv5.New(pool), opts.Queue)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &Backend{
		Store: sqlstore.New[pgx.Tx](pgxDB{pool}, opts.Box, q, 4),
		Queue: q,
		pool:  pool,
	}, nil
}

// Connect opens a pool and checks that the server answers.
func Connect(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("--database: not a PostgreSQL URL: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns=") {
		cfg.MaxConns = defaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL at %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return pool, nil
}

// Migrate applies Herald's and River's migrations, holding an advisory lock
// so that replicas starting together take turns.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLock)); err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrationLock))
	}()
	dir, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	if _, err := sqlstore.Migrate[pgx.Tx](ctx, pgxDB{pool}, dir); err != nil {
		return err
	}
	return queue.Migrate(ctx, riverpgxv5.New(pool))
}

// Start begins working delivery jobs with h.
func (b *Backend) Start(ctx context.Context, h queue.Handler) error { return b.Queue.Start(ctx, h) }

// Stop stops the workers, waiting for running jobs until ctx ends.
func (b *Backend) Stop(ctx context.Context) error { return b.Queue.Stop(ctx) }

// Close closes the pool.
func (b *Backend) Close() error {
	_ = b.Store.Close()
	b.pool.Close()
	return nil
}
