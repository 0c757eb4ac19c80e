package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/internal/pgtest"
	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/sqlstore"
	"github.com/nsalink/nsalink/linking/sqlstore/postgres"
	"github.com/nsalink/nsalink/linking/sqlstore/sqlite"
	"github.com/nsalink/nsalink/linking/storetest"
)

// openSQLite opens a store on a fresh file in t's temp dir.
func openSQLite(t testing.TB, opts ...sqlstore.Option) (sqlstore.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "links.db")
	s, err := sqlite.Open(context.Background(), path, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s, path
}

func postgresDSN(t testing.TB) string { return pgtest.DSN(t) }

func openPostgres(t testing.TB, dsn string, opts ...sqlstore.Option) sqlstore.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) linking.Store {
		// The suite checks what contention does to data (no update lost),
		// not how long a waiter may wait: on a starved CPU (-race, a busy
		// machine) its 100 racing writers can queue on SQLite's one writer
		// for longer than the default 10 s. Lock timeouts have tests of
		// their own (handles_test.go).
		s, _ := openSQLite(t, sqlstore.WithLockTimeout(time.Minute))
		return s
	})
}

func TestPostgresConformance(t *testing.T) {
	postgresDSN(t) // skip or fail early, once
	storetest.Run(t, func(t *testing.T) linking.Store { return openPostgres(t, postgresDSN(t)) })
}

func TestSQLitePragmas(t *testing.T) {
	s, path := openSQLite(t)
	ctx := t.Context()
	pragma := func(db *sql.DB, name string) string {
		var v string
		require.NoError(t, db.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v))
		return v
	}
	w := s.DB()
	require.Equal(t, "5000", pragma(w, "busy_timeout"))
	require.Equal(t, "wal", pragma(w, "journal_mode"))
	require.Equal(t, "1", pragma(w, "foreign_keys"))
	require.Equal(t, "1", pragma(w, "synchronous"), "NORMAL")
	require.Equal(t, 1, w.Stats().MaxOpenConnections, "one writer connection")

	// A plain connection with the store's DSN gets the same settings.
	db, err := sql.Open("sqlite", sqlite.DSN(path))
	require.NoError(t, err)
	defer db.Close()
	require.Equal(t, "5000", pragma(db, "busy_timeout"))
	require.Equal(t, "wal", pragma(db, "journal_mode"))

	// Without the pragmas, New refuses the database.
	plain, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "plain.db"))
	require.NoError(t, err)
	defer plain.Close()
	_, err = sqlite.New(ctx, plain)
	require.ErrorContains(t, err, "busy_timeout")
}

func TestSQLiteOpenRejectsOddPaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db", "x.db?mode=memory", "a#b"} {
		s, err := sqlite.Open(t.Context(), p)
		require.Error(t, err, p)
		// A nil interface, not one holding a nil pointer: s == nil works.
		require.True(t, s == nil, p)
	}
}

func TestNewKeepsCallersDB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "own.db")
	db, err := sql.Open("sqlite", sqlite.DSN(path))
	require.NoError(t, err)
	defer db.Close()
	db.SetMaxOpenConns(1)
	s, err := sqlite.New(t.Context(), db)
	require.NoError(t, err)
	require.NoError(t, errOf(s.CreateLink(t.Context(), &linking.Link{AccountID: "a", State: linking.StateUnlinked})))
	require.NoError(t, s.Close())
	require.NoError(t, db.PingContext(t.Context()), "Close must not close a caller's db")
	_, err = sqlite.New(t.Context(), nil)
	require.Error(t, err)
}

// migrationsShipped is the number of files in
// internal/sqlimpl/migrations/<dialect>: 0001 links, 0002 sealed EPS, 0003 label records,
// 0004 tables and change feed, 0005 payment identity.
const migrationsShipped = 5

// migrationCount returns the number of applied migrations.
func migrationCount(t *testing.T, db *sql.DB) int {
	var n int
	require.NoError(t, db.QueryRowContext(t.Context(), "SELECT count(*) FROM nsalink_schema_migrations").Scan(&n))
	return n
}

func TestMigrationsConcurrentAndIdempotent(t *testing.T) {
	opens := map[string]func(t *testing.T) func() (sqlstore.Store, error){
		"SQLite": func(t *testing.T) func() (sqlstore.Store, error) {
			path := filepath.Join(t.TempDir(), "links.db")
			return func() (sqlstore.Store, error) { return sqlite.Open(t.Context(), path) }
		},
		"Postgres": func(t *testing.T) func() (sqlstore.Store, error) {
			dsn := postgresDSN(t)
			return func() (sqlstore.Store, error) { return postgres.Open(t.Context(), dsn) }
		},
	}
	for name, opener := range opens {
		t.Run(name, func(t *testing.T) {
			open := opener(t)
			// Several "processes" open a fresh database at the same time.
			const n = 4
			stores := make([]sqlstore.Store, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { stores[i], errs[i] = open() })
			}
			wg.Wait()
			for i := range n {
				require.NoError(t, errs[i])
				defer stores[i].Close()
			}
			require.Equal(t, migrationsShipped, migrationCount(t, stores[0].DB()))

			// Reopening changes nothing.
			again, err := open()
			require.NoError(t, err)
			defer again.Close()
			require.Equal(t, migrationsShipped, migrationCount(t, again.DB()))

			// A schema from a newer nsalink is refused.
			_, err = again.DB().ExecContext(t.Context(),
				"INSERT INTO nsalink_schema_migrations (version, name, applied_at_us) VALUES (999, 'future', 0)")
			require.NoError(t, err)
			_, err = open()
			require.ErrorContains(t, err, "newer")
		})
	}
}

// errOf keeps the error of a call that also returns the stored link.
func errOf(_ *linking.Link, err error) error { return err }
