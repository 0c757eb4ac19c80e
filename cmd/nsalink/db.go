package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/sqlstore"
	"github.com/nsalink/nsalink/linking/sqlstore/postgres"
	"github.com/nsalink/nsalink/linking/sqlstore/sqlite"
)

// dbFlag declares -db on fs; the value falls back to $NSALINK_DB.
func dbFlag(fs *flag.FlagSet) *string {
	return fs.String("db", "", "the links database: sqlite:PATH or postgres://… (default $NSALINK_DB; prefer the variable for a DSN with a password, since flags show in ps)")
}

// store opens the database named by the -db value or $NSALINK_DB. The
// caller closes it.
//
// Opening migrates the schema, as every nsalink process does: run the CLI
// of the nsalink version the fleet runs, or a newer CLI migrates the
// database ahead of the fleet.
func (e *env) store(flagValue string) (sqlstore.Store, error) {
	dsn := flagValue
	if hasPassword(dsn) {
		fmt.Fprintln(e.stderr, "nsalink: warning: the -db value holds a password, which other users see in ps; set NSALINK_DB instead")
	}
	if dsn == "" {
		dsn = e.getenv("NSALINK_DB")
	}
	if dsn == "" {
		return nil, usagef("no database: pass -db or set NSALINK_DB (sqlite:PATH or postgres://…)")
	}
	return openStore(e.ctx, dsn)
}

func openStore(ctx context.Context, dsn string) (sqlstore.Store, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return nil, usagef("-db sqlite: needs a file path (sqlite:/var/lib/app/links.db)")
		}
		// sqlite.Open creates a missing file; an operator's typo must not
		// give an empty, freshly migrated database that lists no links.
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no SQLite database at %s", path)
		}
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("opening SQLite database %s: %w", path, err)
		}
		return s, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			// The DSN may carry a password; make sure no driver message
			// repeats it.
			return nil, errors.New("opening PostgreSQL database: " + redactDSN(err.Error(), dsn))
		}
		return s, nil
	}
	// Not echoed: it may be a DSN with a password in an unexpected form.
	return nil, usagef("-db: want sqlite:PATH or postgres://… (the value given is neither)")
}

// hasPassword reports whether a PostgreSQL URL carries a password.
func hasPassword(dsn string) bool {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return false
	}
	pw, ok := u.User.Password()
	return ok && pw != ""
}

// redactDSN removes dsn and its password from msg.
func redactDSN(msg, dsn string) string {
	msg = strings.ReplaceAll(msg, dsn, "[DSN]")
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "[REDACTED]")
			if esc := url.QueryEscape(pw); esc != pw {
				msg = strings.ReplaceAll(msg, esc, "[REDACTED]")
			}
		}
	}
	return msg
}

// eachLink calls fn with every link of s, in account id order, a page at a
// time. A link deleted between listing and reading is skipped.
func eachLink(ctx context.Context, s linking.Store, fn func(*linking.Link) error) error {
	const page = 500
	after := ""
	for {
		ids, err := s.ListAccountIDs(ctx, after, page)
		if err != nil {
			return fmt.Errorf("listing links: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		for _, id := range ids {
			l, err := s.GetLink(ctx, id)
			if errors.Is(err, linking.ErrNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("reading link %s: %w", quoteID(id), err)
			}
			if err := fn(l); err != nil {
				return err
			}
		}
		after = ids[len(ids)-1]
	}
}

// getLink reads one link, with an error naming the account when it is
// missing.
func getLink(ctx context.Context, s linking.Store, id string) (*linking.Link, error) {
	l, err := s.GetLink(ctx, id)
	if errors.Is(err, linking.ErrNotFound) {
		return nil, fmt.Errorf("no link for account %s", quoteID(id))
	}
	if err != nil {
		return nil, fmt.Errorf("reading link %s: %w", quoteID(id), err)
	}
	return l, nil
}
