package postgres_test

import (
	"os"
	"testing"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/queue"
	"github.com/heraldhq/herald/secret"
	"github.com/heraldhq/herald/store"
	"github.com/heraldhq/herald/store/postgres"
	"github.com/heraldhq/herald/store/storetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Shutdown()
	os.Exit(code)
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		key, err := secret.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		box, err := secret.NewBox(key)
		if err != nil {
			t.Fatal(err)
		}
		b, err := postgres.Open(t.Context(), pgtest.NewDatabase(t), postgres.Options{Box: box, Queue: queue.Config{Workers: 1}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}

func TestConcurrentMigrations(t *testing.T) {
	url := pgtest.NewDatabase(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			pool, err := postgres.Connect(t.Context(), url)
			if err != nil {
				errs <- err
				return
			}
			defer pool.Close()
			errs <- postgres.Migrate(t.Context(), pool)
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatalf("replicas migrating together: %v", err)
		}
	}
}
