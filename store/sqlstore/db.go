package sqlstore

import (
	"context"
	"database/sql"
)

// DB is the little of a database connection pool the store uses, so that the
// same queries run on database/sql (SQLite) and on pgx (PostgreSQL). TTx is
// the driver's own transaction type, which River needs to insert jobs inside
// the store's transactions.
//
// Queries are written with ? placeholders; a PostgreSQL DB rewrites them.
// A Row or Rows must report "no rows" as sql.ErrNoRows.
type DB[TTx any] interface {
	Querier
	Begin(ctx context.Context) (Tx[TTx], error)
}

// Tx is a transaction of a DB.
type Tx[TTx any] interface {
	Querier
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
	// Native returns the driver's transaction, for River.
	Native() TTx
}

// Querier runs statements.
type Querier interface {
	Exec(ctx context.Context, query string, args ...any) (rowsAffected int64, err error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// Rows is a result set; Close must be called.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Row is a result of at most one row.
type Row interface {
	Scan(dest ...any) error
}

// StdDB adapts a database/sql pool.
func StdDB(db *sql.DB) DB[*sql.Tx] { return stdDB{db} }

type stdDB struct{ db *sql.DB }

func (d stdDB) Begin(ctx context.Context) (Tx[*sql.Tx], error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return stdTx{tx}, nil
}

func (d stdDB) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	return stdExec(d.db.ExecContext(ctx, q, args...))
}

func (d stdDB) Query(ctx context.Context, q string, args ...any) (Rows, error) {
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return stdRows{rows}, nil
}

func (d stdDB) QueryRow(ctx context.Context, q string, args ...any) Row {
	return d.db.QueryRowContext(ctx, q, args...)
}

type stdTx struct{ tx *sql.Tx }

func (t stdTx) Native() *sql.Tx                { return t.tx }
func (t stdTx) Commit(context.Context) error   { return t.tx.Commit() }
func (t stdTx) Rollback(context.Context) error { return t.tx.Rollback() }

func (t stdTx) QueryRow(ctx context.Context, q string, args ...any) Row {
	return t.tx.QueryRowContext(ctx, q, args...)
}

func (t stdTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	return stdExec(t.tx.ExecContext(ctx, q, args...))
}

func (t stdTx) Query(ctx context.Context, q string, args ...any) (Rows, error) {
	rows, err := t.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return stdRows{rows}, nil
}

type stdRows struct{ *sql.Rows }

func (r stdRows) Close() { _ = r.Rows.Close() }

func stdExec(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
