package sqlite_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/queue"
	"github.com/heraldhq/herald/secret"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/sqlite"
	"github.com/heraldhq/herald/store/storetest"
)

func testBox(t *testing.T) *secret.Box {
	key, err := secret.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	box, err := secret.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

func open(t *testing.T, path string) *sqlite.Backend {
	b, err := sqlite.Open(t.Context(), path, sqlite.Options{Box: testBox(t), Queue: queue.Config{Workers: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "herald.db"))
	})
}

func TestOneProcessPerFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "herald.db")
	first := open(t, path)
	_, err := sqlite.Open(t.Context(), path, sqlite.Options{Box: testBox(t)})
	if err == nil || !strings.Contains(err.Error(), "in use by another Herald process") {
		t.Fatalf("a second Open of the same file: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	open(t, path) // the lock is released on Close
}

func TestMigrateTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "herald.db")
	db, err := sqlite.OpenDB(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for range 2 {
		if err := sqlite.Migrate(t.Context(), db); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM herald_schema_migration`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("migrations recorded %d (%v), want 2", n, err)
	}
}
