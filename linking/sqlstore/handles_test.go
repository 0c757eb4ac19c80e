package sqlstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/sqlstore"
	"github.com/nsalink/nsalink/linking/sqlstore/sqlite"
)

// twoHandles opens two independent Stores ("processes") on one database.
func twoHandles(t *testing.T, dialect string, opts ...sqlstore.Option) (a, b sqlstore.Store) {
	t.Helper()
	if dialect == "SQLite" {
		a, path := openSQLite(t, opts...)
		b, err := sqlite.Open(t.Context(), path, opts...)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, b.Close()) })
		return a, b
	}
	dsn := postgresDSN(t)
	return openPostgres(t, dsn, opts...), openPostgres(t, dsn, opts...)
}

func TestTwoHandlesShareLocks(t *testing.T) {
	for _, dialect := range []string{"SQLite", "Postgres"} {
		t.Run(dialect, func(t *testing.T) {
			a, b := twoHandles(t, dialect)
			ctx := t.Context()
			require.NoError(t, errOf(a.CreateLink(ctx, &linking.Link{AccountID: "shared", State: linking.StateActive})))

			// Half the goroutines hold LockLink through either handle, half
			// do optimistic read-modify-write: no overlap, nothing lost.
			const perKind = 25
			var inside, overlaps atomic.Int32
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range perKind {
				s := []sqlstore.Store{a, b}[i%2]
				wg.Go(func() {
					<-start
					err := s.LockLink(ctx, "shared", func(_ context.Context, tx linking.LinkTx) error {
						if inside.Add(1) != 1 {
							overlaps.Add(1)
						}
						defer inside.Add(-1)
						l, err := tx.Get()
						if err != nil {
							return err
						}
						time.Sleep(time.Millisecond)
						l.CheckAttempts++
						_, err = tx.Update(l, &linking.Event{To: l.State, Cause: "lock"})
						return err
					})
					if err != nil {
						t.Error(err)
					}
				})
				s = []sqlstore.Store{b, a}[i%2]
				wg.Go(func() {
					<-start
					for {
						l, err := s.GetLink(ctx, "shared")
						if err != nil {
							t.Error(err)
							return
						}
						l.CheckAttempts++
						_, err = s.UpdateLink(ctx, l, &linking.Event{To: l.State, Cause: "cas"})
						if errors.Is(err, linking.ErrConflict) {
							continue
						}
						if err != nil {
							t.Error(err)
						}
						return
					}
				})
			}
			close(start)
			wg.Wait()
			require.Zero(t, overlaps.Load(), "LockLink must exclude callers on other handles")
			l, err := b.GetLink(ctx, "shared")
			require.NoError(t, err)
			require.Equal(t, 2*perKind, l.CheckAttempts)
			evs, err := a.Events(ctx, "shared")
			require.NoError(t, err)
			require.Len(t, evs, 2*perKind)
			for i, e := range evs {
				require.Equal(t, int64(i+1), e.Seq)
			}
		})
	}
}

func TestPostgresLockTimeoutAcrossHandles(t *testing.T) {
	a, b := twoHandles(t, "Postgres", sqlstore.WithLockTimeout(200*time.Millisecond))
	ctx := t.Context()
	require.NoError(t, errOf(a.CreateLink(ctx, &linking.Link{AccountID: "x", State: linking.StateActive})))
	stale, err := b.GetLink(ctx, "x")
	require.NoError(t, err)

	err = a.LockLink(ctx, "x", func(context.Context, linking.LinkTx) error {
		began := time.Now()
		err := b.LockLink(ctx, "x", func(context.Context, linking.LinkTx) error { return errors.New("must not run") })
		require.ErrorIs(t, err, linking.ErrLockTimeout)
		require.ErrorIs(t, errOf(b.UpdateLink(ctx, stale, nil)), linking.ErrLockTimeout)
		require.ErrorIs(t, b.DeleteLink(ctx, "x"), linking.ErrLockTimeout)
		require.Less(t, time.Since(began), 5*time.Second)
		_, err = b.GetLink(ctx, "x") // reads are not blocked
		return err
	})
	require.NoError(t, err)
	require.NoError(t, errOf(b.UpdateLink(ctx, stale, nil)), "free again once the holder commits")
}

func TestPostgresClaimDueSkipsLocked(t *testing.T) {
	a, b := twoHandles(t, "Postgres")
	ctx := t.Context()
	now := time.Now()
	for _, id := range []string{"p1", "p2"} {
		require.NoError(t, errOf(a.CreateLink(ctx, &linking.Link{AccountID: id, State: linking.StateApprovalPending,
			NextCheckAt: now.Add(-time.Minute)})))
	}
	err := a.LockLink(ctx, "p1", func(context.Context, linking.LinkTx) error {
		got, err := b.ClaimDue(ctx, now, 10, time.Minute)
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, "p2", got[0].AccountID, "a locked link is skipped, not waited for")
		return nil
	})
	require.NoError(t, err)
}

func TestSQLiteWriterWaitTimesOut(t *testing.T) {
	s, path := openSQLite(t, sqlstore.WithLockTimeout(200*time.Millisecond))
	ctx := t.Context()
	for _, id := range []string{"a", "b"} {
		require.NoError(t, errOf(s.CreateLink(ctx, &linking.Link{AccountID: id, State: linking.StateActive})))
	}
	other, err := s.GetLink(ctx, "b")
	require.NoError(t, err)

	// A second "process" with a short busy_timeout gets SQLITE_BUSY.
	db, err := sql.Open("sqlite", filepath.Join(filepath.Dir(path), "links.db")+
		"?_pragma=busy_timeout(100)&_pragma=journal_mode(WAL)&_txlock=immediate")
	require.NoError(t, err)
	defer db.Close()
	db.SetMaxOpenConns(1)
	peer, err := sqlite.New(ctx, db)
	require.NoError(t, err)

	err = s.LockLink(ctx, "a", func(context.Context, linking.LinkTx) error {
		// SQLite's lock is the whole database: in this process a write of
		// another link waits for the single writer connection, then gives up.
		require.ErrorIs(t, errOf(s.UpdateLink(ctx, other, nil)), linking.ErrLockTimeout)
		// In another process the write lock is busy.
		require.ErrorIs(t, errOf(peer.UpdateLink(ctx, other, nil)), linking.ErrLockTimeout)
		// Reads are not blocked.
		_, err := peer.GetLink(ctx, "b")
		return err
	})
	require.NoError(t, err)
	require.NoError(t, errOf(peer.UpdateLink(ctx, other, nil)))
}

// Stored rows hold sealed tokens only (docs/design.md: tokens sealed at rest).
func TestRowsHoldNoPlaintextToken(t *testing.T) {
	sealer, err := linking.NewAESGCMSealer("k1", map[string][]byte{"k1": bytes.Repeat([]byte{7}, 32)})
	require.NoError(t, err)
	const canary = "CANARY-refresh-token-5b0e"
	for _, dialect := range []string{"SQLite", "Postgres"} {
		t.Run(dialect, func(t *testing.T) {
			s, _ := twoHandles(t, dialect)
			ctx := t.Context()
			tok, err := sealer.Seal([]byte(canary), []byte("acct/token"))
			require.NoError(t, err)
			require.NoError(t, errOf(s.CreateLink(ctx, &linking.Link{AccountID: "acct", State: linking.StateActive, Token: tok})))

			rows, err := s.DB().QueryContext(ctx, "SELECT * FROM nsalink_links")
			require.NoError(t, err)
			defer rows.Close()
			cols, err := rows.Columns()
			require.NoError(t, err)
			var raw bytes.Buffer
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				require.NoError(t, rows.Scan(ptrs...))
				for _, v := range vals {
					fmt.Fprintf(&raw, "%s|", v)
				}
			}
			require.NoError(t, rows.Err())
			require.NotContains(t, raw.String(), canary)
			require.Contains(t, raw.String(), "acct", "the dump did read the row")
		})
	}
}
