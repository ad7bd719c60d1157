package postgres

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/store/sqlstore"
)

// pgxDB adapts a pgx pool to sqlstore.DB, rewriting ? placeholders to $n.
type pgxDB struct{ pool *pgxpool.Pool }

func (d pgxDB) Begin(ctx context.Context) (sqlstore.Tx[pgx.Tx], error) {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return pgxTx{tx}, nil
}

func (d pgxDB) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := d.pool.Exec(ctx, rebind(q), args...)
	return tag.RowsAffected(), err
}

func (d pgxDB) Query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	rows, err := d.pool.Query(ctx, rebind(q), args...)
	if err != nil {
		return nil, err
	}
	return pgxRows{rows}, nil
}

func (d pgxDB) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	return pgxRow{d.pool.QueryRow(ctx, rebind(q), args...)}
}

type pgxTx struct{ tx pgx.Tx }

func (t pgxTx) Native() pgx.Tx                     { return t.tx }
func (t pgxTx) Commit(ctx context.Context) error   { return t.tx.Commit(ctx) }
func (t pgxTx) Rollback(ctx context.Context) error { return t.tx.Rollback(ctx) }

func (t pgxTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, rebind(q), args...)
	return tag.RowsAffected(), err
}

func (t pgxTx) Query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	rows, err := t.tx.Query(ctx, rebind(q), args...)
	if err != nil {
		return nil, err
	}
	return pgxRows{rows}, nil
}

func (t pgxTx) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	return pgxRow{t.tx.QueryRow(ctx, rebind(q), args...)}
}

type pgxRows struct{ pgx.Rows }

func (r pgxRows) Scan(dest ...any) error { return noRows(r.Rows.Scan(dest...)) }

type pgxRow struct{ row pgx.Row }

func (r pgxRow) Scan(dest ...any) error { return noRows(r.row.Scan(dest...)) }

// noRows reports pgx's "no rows" as database/sql's, which the store checks.
func noRows(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return sql.ErrNoRows
	}
	return err
}

var rebound sync.Map // query with ? → query with $n

// rebind rewrites ? placeholders to $1, $2, …. Herald's queries hold no ?
// inside string literals.
func rebind(q string) string {
	if v, ok := rebound.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	out := b.String()
	rebound.Store(q, out)
	return out
}
