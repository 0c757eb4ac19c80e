// Package sqlite opens a sqlstore.Store on an SQLite database file through
// modernc.org/sqlite (pure Go, no cgo). Importing it registers that
// driver with database/sql under the name "sqlite"; a program that does not
// import it does not link SQLite. The package sqlstore documents the
// behaviour of the Store.
package sqlite

import (
	"context"
	"database/sql"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/nsalink/nsalink/linking/sqlstore"
	"github.com/nsalink/nsalink/linking/sqlstore/internal/sqlimpl"
)

// Open opens (creating it if needed) and migrates the SQLite database file
// at path, a plain file path without '?' or '#'. Close the Store when done.
// For an in-memory store use linking/memstore: an SQLite in-memory database
// is per connection.
func Open(ctx context.Context, path string, opts ...sqlstore.Option) (sqlstore.Store, error) {
	return sqlimpl.Result[sqlstore.Store](sqlimpl.OpenSQLite(ctx, path, opts...))
}

// New migrates db and returns a Store on it. The caller keeps owning db:
// Store.Close does not close it. db must be opened with the "sqlite" driver
// and DSN (New checks busy_timeout and WAL; it cannot check
// _txlock=immediate), should have SetMaxOpenConns(1), and then serves reads
// too, so reads wait behind a LockLink callback.
func New(ctx context.Context, db *sql.DB, opts ...sqlstore.Option) (sqlstore.Store, error) {
	return sqlimpl.Result[sqlstore.Store](sqlimpl.New(ctx, db, sqlimpl.DialectSQLite, opts...))
}

// DSN returns the modernc.org/sqlite DSN a Store needs for the database
// file at path, for opening it yourself and passing it to New:
// busy_timeout 5000 ms (first, so that switching to WAL also waits), WAL
// journal, foreign keys on, synchronous NORMAL (durable with WAL except on
// power loss of the last commits), and _txlock=immediate (every transaction
// starts with BEGIN IMMEDIATE).
func DSN(path string) string { return sqlimpl.SQLiteDSN(path) }
