package sqlimpl

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/storekit"
)

// querier is what *sql.Tx and *sql.DB have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// CreateLink implements linking.Store.
func (s *Store) CreateLink(ctx context.Context, l *linking.Link) (*linking.Link, error) {
	c, err := storekit.PrepareCreate(l, time.Now())
	if err != nil {
		return nil, err
	}
	locs, err := encodeLocations(c.Locations)
	if err != nil {
		return nil, err
	}
	err = s.inTx(ctx, 0, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q.insertLink,
			c.AccountID, string(c.State), string(c.Reason), c.Environment, string(c.CRID), string(c.MID), string(c.ManifestMID),
			c.EPSAccount.Reveal(), bytesArg(c.Token), micros(c.TokenExpiry), micros(c.RefreshExpiry),
			bytesArg(c.PaymentToken), micros(c.PaymentTokenExpiry), c.Version,
			micros(c.CreatedAt), micros(c.UpdatedAt), micros(c.NextCheckAt), c.CheckAttempts, c.LastError, bytesArg(c.SealedEPS),
			string(c.ReturnsMID), c.NSAContract, locs)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return cmp.Or(err, fmt.Errorf("sqlstore: link %q: %w", c.AccountID, linking.ErrAlreadyExists))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// GetLink implements linking.Store.
func (s *Store) GetLink(ctx context.Context, accountID string) (*linking.Link, error) {
	if err := storekit.CheckAccountID(accountID); err != nil {
		return nil, err
	}
	l, err := scanLink(s.rdb.QueryRowContext(ctx, s.q.getLink, accountID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: link %q: %w", accountID, linking.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: get link: %w", err)
	}
	return l, nil
}

// UpdateLink implements linking.Store.
func (s *Store) UpdateLink(ctx context.Context, l *linking.Link, ev *linking.Event) (*linking.Link, error) {
	c, e, err := storekit.PrepareUpdate(l, ev)
	if err != nil {
		return nil, err
	}
	err = s.inTx(ctx, 0, func(tx *sql.Tx) error {
		return s.update(ctx, tx, c, e)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// update is the compare and swap of UpdateLink inside tx, on the prepared
// copies c and e (see storekit.PrepareUpdate), which it completes with the
// stored Version, CreatedAt and Seq.
func (s *Store) update(ctx context.Context, q querier, c *linking.Link, e *linking.Event) error {
	version := c.Version
	var created int64
	locs, err := encodeLocations(c.Locations)
	if err != nil {
		return err
	}
	err = q.QueryRowContext(ctx, s.q.updateLink,
		string(c.State), string(c.Reason), c.Environment, string(c.CRID), string(c.MID), string(c.ManifestMID), c.EPSAccount.Reveal(),
		bytesArg(c.Token), micros(c.TokenExpiry), micros(c.RefreshExpiry),
		bytesArg(c.PaymentToken), micros(c.PaymentTokenExpiry),
		micros(c.UpdatedAt), micros(c.NextCheckAt), c.CheckAttempts, c.LastError, bytesArg(c.SealedEPS),
		string(c.ReturnsMID), c.NSAContract, locs,
		c.AccountID, c.Version,
	).Scan(&c.Version, &created)
	if errors.Is(err, sql.ErrNoRows) {
		var one int
		err := q.QueryRowContext(ctx, s.q.linkExists, c.AccountID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlstore: link %q: %w", c.AccountID, linking.ErrNotFound)
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("sqlstore: link %q version %d: %w", c.AccountID, version, linking.ErrConflict)
	}
	if err != nil {
		return err
	}
	c.CreatedAt = fromMicros(created)
	if e == nil {
		return nil
	}
	if err := q.QueryRowContext(ctx, s.q.insertEvent, e.AccountID, micros(e.At), string(e.From),
		string(e.To), string(e.Reason), e.Cause, e.Actor, e.AccountID).Scan(&e.Seq); err != nil {
		return fmt.Errorf("sqlstore: append event: %w", err)
	}
	return nil
}

// DeleteLink implements linking.Store.
func (s *Store) DeleteLink(ctx context.Context, accountID string) error {
	if err := storekit.CheckAccountID(accountID); err != nil {
		return err
	}
	return s.inTx(ctx, 0, func(tx *sql.Tx) error {
		// The link row first: on PostgreSQL this waits for a LockLink holder.
		for _, q := range []string{s.q.deleteLink, s.q.deleteAuthOfLink, s.q.deleteEvents} {
			if _, err := tx.ExecContext(ctx, q, accountID); err != nil {
				return err
			}
		}
		return nil
	})
}

// Events implements linking.Store.
func (s *Store) Events(ctx context.Context, accountID string) ([]linking.Event, error) {
	if err := storekit.CheckAccountID(accountID); err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, s.q.events, accountID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: events: %w", err)
	}
	defer rows.Close()
	out := []linking.Event{}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: events: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: events: %w", err)
	}
	return out, nil
}

// PutAuthRequest implements linking.Store.
func (s *Store) PutAuthRequest(ctx context.Context, a *linking.AuthRequest) error {
	c, err := storekit.PrepareAuthRequest(a, time.Now())
	if err != nil {
		return err
	}
	err = s.inTx(ctx, 0, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, s.q.linkExists, c.AccountID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlstore: auth request for link %q: %w", c.AccountID, linking.ErrNotFound)
		}
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.q.insertAuth, c.StateHash, c.AccountID, bytesArg(c.SessionHash),
			bytesArg(c.Verifier), c.Environment, c.RedirectURI,
			micros(c.CreatedAt), micros(c.ExpiresAt), micros(c.UsedAt))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return cmp.Or(err, fmt.Errorf("sqlstore: auth request: %w", linking.ErrAlreadyExists))
		}
		return nil
	})
	return err
}

// ConsumeAuthRequest implements linking.Store. One UPDATE … WHERE
// used_at_us = zero RETURNING decides the single winner.
func (s *Store) ConsumeAuthRequest(ctx context.Context, stateHash []byte, now time.Time) (*linking.AuthRequest, error) {
	if now.IsZero() {
		return nil, fmt.Errorf("%w: now is zero", linking.ErrInvalidRecord)
	}
	now = normTime(now)
	var a *linking.AuthRequest
	err := s.inTx(ctx, 0, func(tx *sql.Tx) error {
		var err error
		a, err = scanAuth(tx.QueryRowContext(ctx, s.q.consumeAuth, micros(now), stateHash, zeroMicros))
		if errors.Is(err, sql.ErrNoRows) {
			var used int64
			err := tx.QueryRowContext(ctx, s.q.authUsed, stateHash).Scan(&used)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("sqlstore: auth request: %w", linking.ErrNotFound)
			}
			if err != nil {
				return err
			}
			return fmt.Errorf("sqlstore: auth request: %w", linking.ErrAuthRequestUsed)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if !now.Before(a.ExpiresAt) {
		// Committed as used: an expired state cannot be retried.
		return nil, fmt.Errorf("sqlstore: auth request: %w", linking.ErrAuthRequestExpired)
	}
	return a, nil
}

// ListAccountIDs implements linking.Store, in the database's collation.
func (s *Store) ListAccountIDs(ctx context.Context, after string, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.rdb.QueryContext(ctx, s.q.listAccountIDs, after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list links: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlstore: list links: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list links: %w", err)
	}
	return ids, nil
}

// DeleteExpiredAuthRequests implements linking.Store.
func (s *Store) DeleteExpiredAuthRequests(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.inTx(ctx, 0, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q.deleteExpiredAuth, micros(normTime(before)))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// ClaimDue implements linking.Store.
func (s *Store) ClaimDue(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*linking.Link, error) {
	if now.IsZero() || lease <= 0 {
		return nil, fmt.Errorf("%w: ClaimDue needs a non-zero now and a positive lease", linking.ErrInvalidRecord)
	}
	if limit <= 0 {
		return nil, nil
	}
	now = normTime(now)
	next := normTime(now.Add(lease))
	var out []*linking.Link
	err := s.inTx(ctx, 0, func(tx *sql.Tx) error {
		out = nil
		rows, err := tx.QueryContext(ctx, s.q.selectDue, micros(now), string(linking.StateApprovalPending),
			zeroMicros, limit)
		if err != nil {
			return err
		}
		var ids []any
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		if err := cmp.Or(rows.Err(), rows.Close()); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		rows, err = tx.QueryContext(ctx, s.q.claim(len(ids)), append([]any{micros(next), micros(now)}, ids...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			l, err := scanLink(rows)
			if err != nil {
				return err
			}
			out = append(out, l)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		// RETURNING has no order; give the links in the order they were due.
		slices.SortFunc(out, func(a, b *linking.Link) int {
			return slices.Index(ids, any(a.AccountID)) - slices.Index(ids, any(b.AccountID))
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// inTx runs fn in a write transaction. Waiting for a connection and for
// locks is bounded by the lock timeout; hold, if positive, also bounds how
// long the session may sit idle in the transaction (PostgreSQL).
func (s *Store) inTx(ctx context.Context, hold time.Duration, fn func(tx *sql.Tx) error) error {
	tx, release, err := s.begin(ctx, hold)
	if err != nil {
		return err
	}
	defer release()
	if err := fn(tx); err != nil {
		return lockErr(err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: commit: %w", lockErr(err))
	}
	return nil
}

// begin starts a write transaction on a dedicated connection. release
// rolls back (a no-op after Commit) and returns the connection.
func (s *Store) begin(ctx context.Context, hold time.Duration) (*sql.Tx, func(), error) {
	// Waiting for the (SQLite: single) writer connection counts as lock wait.
	waitCtx, cancel := context.WithTimeout(ctx, s.lockTimeout)
	conn, err := s.db.Conn(waitCtx)
	cancel()
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, nil, fmt.Errorf("sqlstore: waiting for a connection: %w", linking.ErrLockTimeout)
		}
		return nil, nil, fmt.Errorf("sqlstore: %w", err)
	}
	tx, err := conn.BeginTx(ctx, nil) // SQLite: BEGIN IMMEDIATE (see sqlite.DSN)
	if err != nil {
		_ = conn.Close()
		return nil, nil, fmt.Errorf("sqlstore: begin: %w", lockErr(err))
	}
	release := func() {
		_ = tx.Rollback()
		_ = conn.Close()
	}
	if s.dialect == DialectPostgres {
		lockMS := strconv.FormatInt(s.lockTimeout.Milliseconds(), 10)
		if hold > 0 {
			_, err = tx.ExecContext(ctx, s.q.setLockHold, lockMS, strconv.FormatInt(hold.Milliseconds(), 10))
		} else {
			_, err = tx.ExecContext(ctx, s.q.setLockTimeout, lockMS)
		}
		if err != nil {
			release()
			return nil, nil, fmt.Errorf("sqlstore: set lock timeout: %w", err)
		}
	}
	return tx, release, nil
}

// lockErr marks lock waits that ran out as linking.ErrLockTimeout:
// PostgreSQL lock_not_available (55P03, from lock_timeout) and SQLite
// SQLITE_BUSY after busy_timeout.
func lockErr(err error) error {
	if err == nil || errors.Is(err, linking.ErrLockTimeout) {
		return err
	}
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) && pg.SQLState() == "55P03" {
		return fmt.Errorf("%w: %w", linking.ErrLockTimeout, err)
	}
	var lite interface{ Code() int }
	if errors.As(err, &lite) && lite.Code()&0xff == 5 { // SQLITE_BUSY and its extended codes
		return fmt.Errorf("%w: %w", linking.ErrLockTimeout, err)
	}
	return err
}
