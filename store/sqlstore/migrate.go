package sqlstore

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// Migrate applies the numbered migrations in dir (files named
// NNNN_description.sql) that the database has not seen, each in its own
// transaction, recording them in herald_schema_migration. It returns how
// many it applied. Callers that may run concurrently (several PostgreSQL
// replicas starting at once) must hold a lock around it.
func Migrate[TTx any](ctx context.Context, db DB[TTx], dir fs.FS) (int, error) {
	if _, err := db.Exec(ctx, `CREATE TABLE IF NOT EXISTS herald_schema_migration (version BIGINT PRIMARY KEY, name TEXT NOT NULL)`); err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	applied := map[int]bool{}
	rows, err := db.Query(ctx, `SELECT version FROM herald_schema_migration`)
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	versions, err := collect(rows, func(r Row) (int, error) {
		var v int
		return v, r.Scan(&v)
	})
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	for _, v := range versions {
		applied[v] = true
	}
	names, err := fs.Glob(dir, "*.sql")
	if err != nil {
		return 0, err
	}
	sort.Strings(names)
	n := 0
	for _, name := range names {
		version, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return n, fmt.Errorf("migrate: %s: the name must start with a number", name)
		}
		if applied[version] {
			continue
		}
		script, err := fs.ReadFile(dir, name)
		if err != nil {
			return n, err
		}
		tx, err := db.Begin(ctx)
		if err != nil {
			return n, fmt.Errorf("migrate %s: %w", name, err)
		}
		if _, err := tx.Exec(ctx, string(script)); err != nil {
			_ = tx.Rollback(ctx)
			return n, fmt.Errorf("migrate %s: %w", name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO herald_schema_migration (version, name) VALUES (?, ?)`, version, name); err != nil {
			_ = tx.Rollback(ctx)
			return n, fmt.Errorf("migrate %s: %w", name, err)
		}
		if err := tx.Commit(ctx); err != nil {
			return n, fmt.Errorf("migrate %s: %w", name, err)
		}
		n++
	}
	return n, nil
}
