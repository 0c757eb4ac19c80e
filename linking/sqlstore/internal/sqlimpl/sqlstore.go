// Package sqlimpl is the implementation of linking/sqlstore, shared by its
// driver packages sqlite and postgres. It imports no database/sql driver:
// each driver package imports its own, so a program links only the drivers
// it imports.
package sqlimpl

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"time"

	"github.com/nsalink/nsalink/internal/keylock"
	"github.com/nsalink/nsalink/linking"
)

// Dialect selects the SQL flavour of a database.
type Dialect string

// The supported dialects.
const (
	DialectSQLite   Dialect = "sqlite"
	DialectPostgres Dialect = "postgres"
)

// Defaults of the options.
const (
	defaultLockTimeout = 10 * time.Second
	defaultMaxLockHold = 30 * time.Second
	defaultMaxConns    = 16 // PostgreSQL pool of OpenPostgres
)

// Store is a linking.Store on a SQL database. It is safe for concurrent use.
type Store struct {
	db      *sql.DB // writes (SQLite: one connection) and, except on SQLite, reads
	rdb     *sql.DB // reads
	dialect Dialect
	owned   bool // Close closes db and rdb
	q       queries

	lockTimeout time.Duration
	maxLockHold time.Duration
	locks       keylock.Set // in-process queue in front of the database lock
}

var _ linking.Store = (*Store)(nil)

// Option configures a Store; sqlstore.Option is its public name.
type Option func(*Store) error

// WithLockTimeout is sqlstore.WithLockTimeout, which documents it.
func WithLockTimeout(d time.Duration) Option {
	return func(s *Store) error {
		if d <= 0 {
			return errors.New("sqlstore: WithLockTimeout: must be positive")
		}
		s.lockTimeout = d
		return nil
	}
}

// WithMaxLockHold is sqlstore.WithMaxLockHold, which documents it.
func WithMaxLockHold(d time.Duration) Option {
	return func(s *Store) error {
		if d <= 0 {
			return errors.New("sqlstore: WithMaxLockHold: must be positive")
		}
		s.maxLockHold = d
		return nil
	}
}

// OpenSQLite is sqlite.Open, which documents it. It needs the "sqlite"
// driver of modernc.org/sqlite, registered by the package sqlite.
func OpenSQLite(ctx context.Context, path string, opts ...Option) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlstore: sqlite.Open: want a plain file path without '?' or '#', got %q", path)
	}
	db, err := sql.Open("sqlite", SQLiteDSN(path))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open sqlite: %w", err)
	}
	// One writer: queue in-process instead of racing for SQLite's write lock.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)

	s, err := newStore(ctx, db, DialectSQLite, opts)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	// Readers open after the migration, so the file is already in WAL mode.
	rdb, err := sql.Open("sqlite", sqliteReaderDSN(path))
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlstore: open sqlite readers: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	rdb.SetMaxOpenConns(n)
	rdb.SetMaxIdleConns(n)
	if err := rdb.PingContext(ctx); err != nil {
		_ = db.Close()
		_ = rdb.Close()
		return nil, fmt.Errorf("sqlstore: open sqlite readers: %w", err)
	}
	s.rdb, s.owned = rdb, true
	return s, nil
}

// OpenPostgres is postgres.Open, which documents it. It needs the "pgx"
// driver of github.com/jackc/pgx/v5/stdlib, registered by the package
// postgres.
func OpenPostgres(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open postgres: %w", err)
	}
	db.SetConnMaxIdleTime(5 * time.Minute)
	s, err := newStore(ctx, db, DialectPostgres, opts)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	db.SetMaxOpenConns(defaultMaxConns)
	db.SetMaxIdleConns(defaultMaxConns)
	s.owned = true
	return s, nil
}

// New is sqlite.New and postgres.New, which document it.
func New(ctx context.Context, db *sql.DB, dialect Dialect, opts ...Option) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlstore: New: nil *sql.DB")
	}
	if dialect == DialectSQLite {
		if err := checkSQLitePragmas(ctx, db); err != nil {
			return nil, err
		}
	}
	return newStore(ctx, db, dialect, opts)
}

func newStore(ctx context.Context, db *sql.DB, dialect Dialect, opts []Option) (*Store, error) {
	if dialect != DialectSQLite && dialect != DialectPostgres {
		return nil, fmt.Errorf("sqlstore: unknown dialect %q", dialect)
	}
	s := &Store{
		db: db, rdb: db, dialect: dialect, q: newQueries(dialect),
		lockTimeout: defaultLockTimeout, maxLockHold: defaultMaxLockHold,
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	if err := ping(ctx, db, dialect); err != nil {
		return nil, fmt.Errorf("sqlstore: connect %s: %w", dialect, err)
	}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// ping connects. On SQLite, the first connection of several processes to a
// new file may get SQLITE_BUSY from the switch to WAL, which SQLite does not
// hand to the busy handler; so it retries for as long as busy_timeout would.
func ping(ctx context.Context, db *sql.DB, dialect Dialect) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := db.PingContext(ctx)
		if err == nil || dialect != DialectSQLite || !strings.Contains(err.Error(), "SQLITE_BUSY") || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(10+rand.IntN(40)) * time.Millisecond):
		}
	}
}

func checkSQLitePragmas(ctx context.Context, db *sql.DB) error {
	var busy int
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
		return fmt.Errorf("sqlstore: read busy_timeout: %w", err)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("sqlstore: read journal_mode: %w", err)
	}
	if busy <= 0 || !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("sqlstore: SQLite needs busy_timeout > 0 and WAL (got %d, %q): open it with sqlite.DSN", busy, mode)
	}
	return nil
}

// DB returns the database the Store writes to; sqlstore.Store documents it.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the databases opened by OpenSQLite or OpenPostgres. It does
// nothing for a Store from New.
func (s *Store) Close() error {
	if !s.owned {
		return nil
	}
	err := s.db.Close()
	if s.rdb != s.db {
		err = errors.Join(err, s.rdb.Close())
	}
	return err
}

// SQLiteDSN is the modernc.org/sqlite DSN of the writer pool on the file at
// path; sqlite.DSN documents it.
func SQLiteDSN(path string) string {
	return path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

// sqliteReaderDSN is the DSN of the reader pool: no writes, no WAL switch.
func sqliteReaderDSN(path string) string {
	return path + "?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=query_only(1)"
}

// Result returns s as the interface I (sqlstore.Store), or I's zero value
// with err: a failed constructor must return a nil interface, not one
// holding a nil *Store.
func Result[I any](s *Store, err error) (I, error) {
	var zero I
	if err != nil {
		return zero, err
	}
	return any(s).(I), nil
}
