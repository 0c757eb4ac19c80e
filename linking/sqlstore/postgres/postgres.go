// Package postgres opens a sqlstore.Store on a PostgreSQL database through
// pgx's database/sql driver. Importing it registers that driver with
// database/sql under the name "pgx"; a program that does not import it does
// not link pgx. The package sqlstore documents the behaviour of the Store.
package postgres

import (
	"context"
	"database/sql"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/nsalink/nsalink/linking/sqlstore"
	"github.com/nsalink/nsalink/linking/sqlstore/internal/sqlimpl"
)

// Open opens and migrates the PostgreSQL database at dsn (a pgx connection
// string, URL or key=value form; set search_path in it to use a schema
// other than public). Close the Store when done.
//
// The pool holds up to 16 connections; resize it with the Store's
// DB().SetMaxOpenConns and SetMaxIdleConns. Each LockLink holds one
// connection while its callback runs, so size it for the refreshes an
// instance may run at once; across a fleet the sum must stay under the
// server's max_connections.
func Open(ctx context.Context, dsn string, opts ...sqlstore.Option) (sqlstore.Store, error) {
	s, err := sqlimpl.OpenPostgres(ctx, dsn, opts...)
	if err != nil {
		return nil, err
	}
	return wrap(s), nil
}

// New migrates db, a PostgreSQL database typically opened with the "pgx"
// driver, and returns a Store on it. The caller keeps owning db:
// Store.Close does not close it, and its pool is the caller's to size.
func New(ctx context.Context, db *sql.DB, opts ...sqlstore.Option) (sqlstore.Store, error) {
	s, err := sqlimpl.New(ctx, db, sqlimpl.DialectPostgres, opts...)
	if err != nil {
		return nil, err
	}
	return wrap(s), nil
}
