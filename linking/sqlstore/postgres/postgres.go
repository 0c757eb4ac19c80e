// Package postgres opens a sqlstore.Store on a PostgreSQL database through
// pgx's database/sql driver. Importing it registers that driver with
// database/sql under the name "pgx"; a program that does not import it does
// not link pgx. The package sqlstore documents the behaviour of the Store.
package postgres

import (
	"context"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/nsalink/nsalink/linking/sqlstore"
	"github.com/nsalink/nsalink/linking/sqlstore/internal/opener"
)

// Open opens and migrates the PostgreSQL database at dsn (a pgx connection
// string, URL or key=value form; set search_path in it to use a schema
// other than public). The pool holds up to 16 connections unless
// sqlstore.WithMaxConns says otherwise. Close the Store when done.
func Open(ctx context.Context, dsn string, opts ...sqlstore.Option) (*sqlstore.Store, error) {
	open := opener.Postgres.(func(context.Context, string, ...sqlstore.Option) (*sqlstore.Store, error))
	return open(ctx, dsn, opts...)
}
