package sqlite

import (
	"context"
	"fmt"
	"testing"
)

func TestIsScript(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT 1":                                 false,
		"SELECT 1;":                                false,
		"SELECT 1; ":                               false,
		"SELECT 1; -- done; really":                false,
		"-- a; b\nSELECT 1":                        false,
		"/* a; b */ SELECT ';' FROM t":             false,
		`SELECT "a;b" FROM t WHERE x = 'c;d'`:      false,
		"SELECT 1; SELECT 2":                       true,
		"CREATE TABLE a (x);\nCREATE TABLE b (y);": true,
		"SELECT 1; /* c */ SELECT 2":               true,
		"SELECT 1;\n-- trailing comment\n":         false,
	} {
		if got := isScript(q); got != want {
			t.Errorf("isScript(%q) = %v, want %v", q, got, want)
		}
	}
}

// The cache serves repeated statements, a statement whose rows are still
// open, and scripts, with the right results.
func TestStatementCache(t *testing.T) {
	db, err := OpenDB(t.TempDir() + "/cache.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT); CREATE TABLE u (x INTEGER);"); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := db.ExecContext(ctx, "INSERT INTO t (k, v) VALUES (?, ?)", i, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	const q = "SELECT k, v FROM t WHERE k >= ? ORDER BY k"
	outer, err := tx.QueryContext(ctx, q, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for outer.Next() {
		var k int
		var v string
		if err := outer.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		// The same statement while its rows are open runs uncached.
		var count int
		inner, err := tx.QueryContext(ctx, q, k)
		if err != nil {
			t.Fatal(err)
		}
		for inner.Next() {
			count++
		}
		inner.Close()
		if count != 5-k || v != fmt.Sprint("v", k) {
			t.Fatalf("row %d: inner count %d, v %q", k, count, v)
		}
		n++
	}
	outer.Close()
	if n != 5 {
		t.Fatalf("%d rows", n)
	}
	// Reused after its rows are closed, with new arguments.
	var v string
	if err := tx.QueryRowContext(ctx, "SELECT v FROM t WHERE k = ?", 3).Scan(&v); err != nil || v != "v3" {
		t.Fatalf("%q %v", v, err)
	}
	if err := tx.QueryRowContext(ctx, "SELECT v FROM t WHERE k = ?", 4).Scan(&v); err != nil || v != "v4" {
		t.Fatalf("%q %v", v, err)
	}
	// A cancelled context leaves the cached statement usable.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := tx.QueryContext(cctx, "SELECT v FROM t WHERE k = ?", 1); err == nil {
		t.Fatal("a cancelled query succeeded")
	}
	if err := tx.QueryRowContext(ctx, "SELECT v FROM t WHERE k = ?", 1).Scan(&v); err != nil || v != "v1" {
		t.Fatalf("after a cancelled query: %q %v", v, err)
	}
}
