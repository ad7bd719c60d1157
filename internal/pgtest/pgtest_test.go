package pgtest_test

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/internal/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Shutdown()
	os.Exit(code)
}

func connect(t *testing.T, rawURL string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, rawURL)
	if err != nil {
		t.Fatalf("connect %s: %v", rawURL, err)
	}
	return conn
}

func dbName(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

func databaseExists(t *testing.T, admin *pgx.Conn, name string) bool {
	t.Helper()
	var exists bool
	err := admin.QueryRow(context.Background(),
		"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		t.Fatalf("query pg_database: %v", err)
	}
	return exists
}

func TestNewDatabase(t *testing.T) {
	ctx := context.Background()
	admin := connect(t, pgtest.ServerURL(t))
	defer admin.Close(ctx)

	var name1, name2 string
	var lingering *pgx.Conn // left open to check that the drop forces it out
	t.Run("create", func(t *testing.T) {
		url1 := pgtest.NewDatabase(t)
		url2 := pgtest.NewDatabase(t)
		name1, name2 = dbName(t, url1), dbName(t, url2)
		if url1 == url2 || name1 == name2 {
			t.Fatalf("two calls gave the same database: %s", url1)
		}
		for _, name := range []string{name1, name2} {
			if !strings.HasPrefix(name, "herald_test_") {
				t.Errorf("database name %q lacks the herald_test_ prefix", name)
			}
			if !databaseExists(t, admin, name) {
				t.Errorf("database %s not in pg_database", name)
			}
		}
		if os.Getenv(pgtest.EnvURL) == "" || os.Getenv(pgtest.EnvThrowaway) != "" {
			if !strings.HasSuffix(url1, "?sslmode=disable") {
				t.Errorf("URL %s does not end with ?sslmode=disable", url1)
			}
		}

		conn1 := connect(t, url1)
		defer conn1.Close(ctx)
		var current string
		var tables int
		err := conn1.QueryRow(ctx, `
			SELECT current_database(),
			       (SELECT count(*) FROM pg_tables
			        WHERE schemaname NOT IN ('pg_catalog', 'information_schema'))`).Scan(&current, &tables)
		if err != nil {
			t.Fatal(err)
		}
		if current != name1 {
			t.Errorf("connected to %s, want %s", current, name1)
		}
		if tables != 0 {
			t.Errorf("new database has %d tables, want none", tables)
		}
		if _, err := conn1.Exec(ctx, "CREATE TABLE t (id int PRIMARY KEY, v text)"); err != nil {
			t.Fatal(err)
		}
		if _, err := conn1.Exec(ctx, "INSERT INTO t VALUES (1, 'one')"); err != nil {
			t.Fatal(err)
		}
		var v string
		if err := conn1.QueryRow(ctx, "SELECT v FROM t WHERE id = 1").Scan(&v); err != nil || v != "one" {
			t.Fatalf("read back: %q, %v", v, err)
		}

		conn2 := connect(t, url2)
		defer conn2.Close(ctx)
		var table *string
		if err := conn2.QueryRow(ctx, "SELECT to_regclass('t')::text").Scan(&table); err != nil {
			t.Fatal(err)
		}
		if table != nil {
			t.Errorf("table t of %s is visible in %s", name1, name2)
		}

		lingering = connect(t, url2)
	})
	if lingering != nil {
		defer lingering.Close(ctx)
	}

	for _, name := range []string{name1, name2} {
		if name != "" && databaseExists(t, admin, name) {
			t.Errorf("database %s still exists after the subtest's cleanup", name)
		}
	}
	if lingering != nil {
		if err := lingering.Ping(ctx); err == nil {
			t.Error("connection to a dropped database still works")
		}
	}
}

func TestServerURL(t *testing.T) {
	ctx := context.Background()
	admin := connect(t, pgtest.ServerURL(t))
	defer admin.Close(ctx)
	var version int
	if err := admin.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version < 130000 {
		t.Errorf("server_version_num = %d, want >= 130000", version)
	}
	if again := pgtest.ServerURL(t); again != admin.Config().ConnString() {
		t.Errorf("ServerURL changed between calls: %s", again)
	}
}

func TestParallel(t *testing.T) {
	for i := range 4 {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			conn := connect(t, pgtest.NewDatabase(t))
			defer conn.Close(context.Background())
			if _, err := conn.Exec(context.Background(), "CREATE TABLE t (id int)"); err != nil {
				t.Fatalf("database %d: %v", i, err)
			}
		})
	}
}
