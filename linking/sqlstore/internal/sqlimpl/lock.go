package sqlimpl

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/storekit"
)

// LockLink implements linking.Store: an in-process per-link queue, then a
// transaction holding the database lock (PostgreSQL: SELECT … FOR UPDATE on
// the row; SQLite: BEGIN IMMEDIATE). fn's ctx is bounded by WithMaxLockHold.
func (s *Store) LockLink(ctx context.Context, accountID string, fn func(context.Context, linking.LinkTx) error) error {
	if err := storekit.CheckAccountID(accountID); err != nil {
		return err
	}
	// Queue in-process first: one connection per link per process, however
	// many goroutines want the link.
	waitCtx, cancel := context.WithTimeout(ctx, s.lockTimeout)
	unlock, err := s.locks.Lock(waitCtx, accountID)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			return fmt.Errorf("sqlstore: link %q: %w", accountID, linking.ErrLockTimeout)
		}
		return err
	}
	defer unlock()

	tx, release, err := s.begin(ctx, s.maxLockHold+s.lockTimeout)
	if err != nil {
		return err
	}
	defer release() // rolls back unless committed, also when fn panics

	cur, err := scanLink(tx.QueryRowContext(ctx, s.q.lockLink, accountID))
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlstore: link %q: %w", accountID, linking.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: lock link: %w", lockErr(err))
	}

	fnCtx, cancelFn := context.WithTimeout(ctx, s.maxLockHold)
	defer cancelFn()
	ltx := &sqlTx{s: s, ctx: fnCtx, tx: tx, cur: cur}
	err = fn(fnCtx, ltx)
	ltx.done = true
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: commit: %w", lockErr(err))
	}
	return nil
}

// sqlTx is the LinkTx of LockLink.
type sqlTx struct {
	s    *Store
	ctx  context.Context // LockLink's fn ctx: a LinkTx lives only inside fn
	tx   *sql.Tx
	cur  *linking.Link // the row as of the lock, plus this tx's updates
	done bool
}

func (t *sqlTx) Get() (*linking.Link, error) {
	if t.done {
		return nil, linking.ErrTxDone
	}
	return storekit.CloneLink(t.cur), nil
}

func (t *sqlTx) Update(l *linking.Link, ev *linking.Event) (*linking.Link, error) {
	if t.done {
		return nil, linking.ErrTxDone
	}
	c, e, err := storekit.PrepareUpdate(l, ev)
	if err != nil {
		return nil, err
	}
	if l.AccountID != t.cur.AccountID {
		return nil, fmt.Errorf("%w: LinkTx of %q cannot update link %q", linking.ErrInvalidRecord, t.cur.AccountID, l.AccountID)
	}
	// The row is locked, so only this transaction moves its version: a
	// stale one is the caller's mistake, reported without a round trip.
	if l.Version != t.cur.Version {
		return nil, fmt.Errorf("sqlstore: link %q version %d: %w", l.AccountID, l.Version, linking.ErrConflict)
	}
	if err := t.s.update(t.ctx, t.tx, c, e); err != nil {
		return nil, lockErr(err)
	}
	t.cur = c
	return storekit.CloneLink(c), nil
}
