package linking_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/internal/pgtest"
	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/memstore"
	"github.com/nsalink/nsalink/linking/sqlstore"
	"github.com/nsalink/nsalink/linking/sqlstore/postgres"
	"github.com/nsalink/nsalink/linking/sqlstore/sqlite"
	"github.com/nsalink/nsalink/uspsbiz"
)

// storeKinds opens n handles on one fresh database of each kind, as n
// processes would. PostgreSQL runs when NSALINK_TEST_POSTGRES_DSN is set
// (and must be under NSALINK_TEST_STRICT=1).
func storeKinds(t *testing.T, n int) map[string]func(t *testing.T) []linking.Store {
	kinds := map[string]func(t *testing.T) []linking.Store{
		"memory": func(t *testing.T) []linking.Store {
			s := memstore.New()
			out := make([]linking.Store, n)
			for i := range out {
				out[i] = s // one process, many Linkers
			}
			return out
		},
		"sqlite": func(t *testing.T) []linking.Store {
			path := filepath.Join(t.TempDir(), "links.db")
			out := make([]linking.Store, n)
			for i := range out {
				// 800 callers queue on the link's lock: a long lock
				// timeout, so that a starved CPU (-race, a busy machine)
				// slows the test down instead of failing it.
				s, err := sqlite.Open(t.Context(), path, sqlstore.WithLockTimeout(time.Minute))
				require.NoError(t, err)
				t.Cleanup(func() { s.Close() })
				out[i] = s
			}
			return out
		},
	}
	kinds["postgres"] = func(t *testing.T) []linking.Store {
		dsn := pgtest.DSN(t)
		out := make([]linking.Store, n)
		for i := range out {
			// 8 pools of 8 stay under PostgreSQL's default 100 connections.
			s, err := postgres.Open(t.Context(), dsn)
			require.NoError(t, err)
			s.DB().SetMaxOpenConns(8)
			s.DB().SetMaxIdleConns(8)
			t.Cleanup(func() { s.Close() })
			out[i] = s
		}
		return out
	}
	return kinds
}

func TestOneRefreshAcrossInstances(t *testing.T) {
	const instances, goroutines = 8, 100
	for name, open := range storeKinds(t, instances) {
		t.Run(name, func(t *testing.T) {
			stores := open(t)
			e := newEnv(t, stores[0])
			e.linkAccount(account)
			linkers := make([]*linking.Linker, instances)
			for i := range linkers {
				linkers[i] = e.newLinker(stores[i])
			}
			e.srv.Advance(8 * time.Hour) // the access token expired
			before := e.srv.Count("POST /oauth2/v3/token")

			var wg sync.WaitGroup
			tokens := make(chan string, instances*goroutines)
			errs := make(chan error, instances*goroutines)
			for _, l := range linkers {
				for range goroutines {
					wg.Go(func() {
						// A source per goroutine: nothing is shared in memory.
						tok, err := l.TokenSource(context.Background(), account).Token()
						if err != nil {
							errs <- err
							return
						}
						tokens <- tok.AccessToken
					})
				}
			}
			wg.Wait()
			close(errs)
			close(tokens)
			for err := range errs {
				require.NoError(t, err)
			}
			seen := map[string]bool{}
			for tok := range tokens {
				seen[tok] = true
			}
			refreshes := e.srv.Count("POST /oauth2/v3/token") - before
			t.Logf("%s: %d Linkers x %d goroutines, expired token: %d refresh call(s), %d distinct token(s)", name, instances, goroutines, refreshes, len(seen))
			assert.Equal(t, 1, refreshes, "exactly one refresh call")
			assert.Len(t, seen, 1, "everyone ends on the same token")
		})
	}
}

func TestInvalidGrantMovesToRelink(t *testing.T) {
	e := newEnv(t, nil)
	e.linkAccount(account)
	e.srv.RevokeAll(username) // a USPS password reset
	e.srv.Advance(8 * time.Hour)
	_, err := e.linker.TokenSource(t.Context(), account).Token()
	require.ErrorIs(t, err, uspsbiz.ErrReauthorizationRequired)
	st, reason := e.state(account)
	assert.Equal(t, linking.StateActionRequired, st)
	assert.Equal(t, linking.ReasonTokenRevoked, reason)
	lk, err := e.store.GetLink(t.Context(), account)
	require.NoError(t, err)
	assert.Empty(t, lk.Token, "the dead token is forgotten")

	// Relinking starts over from the action-required state.
	lk2, err := e.linker.Callback(t.Context(), account, session, e.authorize(e.linker, account, session))
	require.NoError(t, err)
	assert.Equal(t, linking.StateAwaitingCredentials, lk2.State)
}

func TestTokenSourceAdoptsPeerRefresh(t *testing.T) {
	e := newEnv(t, nil)
	e.linkAccount(account)
	peer := e.newLinker(e.store)
	e.srv.Advance(8 * time.Hour)
	a, err := peer.TokenSource(t.Context(), account).Token()
	require.NoError(t, err)
	calls := e.srv.Count("POST /oauth2/v3/token")
	b, err := e.linker.TokenSource(t.Context(), account).Token()
	require.NoError(t, err)
	assert.Equal(t, a.AccessToken, b.AccessToken)
	assert.Equal(t, calls, e.srv.Count("POST /oauth2/v3/token"), "read, not refreshed again")
}

func TestNoPlaintextTokenInStoredRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "links.db")
	store, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	e := newEnv(t, store)
	e.linkAccount(account)
	_, err = e.linker.SubmitCredentials(t.Context(), account, creds(epsActive))
	require.NoError(t, err)
	pay, _, err := e.linker.PaymentToken(t.Context(), account)
	require.NoError(t, err)
	tok, err := e.linker.TokenSource(t.Context(), account).Token()
	require.NoError(t, err)

	rows, err := store.DB().QueryContext(t.Context(), "SELECT * FROM nsalink_links")
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var dump []byte
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		for _, v := range vals {
			dump = fmt.Appendf(dump, "%v|%s|", v, v)
		}
	}
	require.NoError(t, rows.Err())
	require.NotEmpty(t, dump)
	for _, secret := range []string{tok.AccessToken, tok.RefreshToken, pay.Reveal()} {
		require.NotEmpty(t, secret)
		assert.NotContains(t, string(dump), secret)
	}
}

// TestFlowOnEveryStore runs the whole journey on real SQLite and PostgreSQL
// as well as memory: link, credentials with ACH pending, the reconciler
// activating it once USPS verifies, the payment token, unlink.
func TestFlowOnEveryStore(t *testing.T) {
	for name, open := range storeKinds(t, 1) {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, open(t)[0])
			e.linkAccount(account)
			st, err := e.linker.SubmitCredentials(t.Context(), account, creds(epsACH))
			require.NoError(t, err)
			require.Equal(t, linking.ReasonEPANotActive, st.Reason)
			require.NoError(t, e.srv.VerifyMicroDebits(epsACH, 17, 42))
			e.srv.Advance(st.NextCheckAt.Sub(e.srv.Now()))
			res, err := e.linker.Reconcile(t.Context(), linking.ReconcileOptions{})
			require.NoError(t, err)
			require.Equal(t, 1, res.Activated)
			_, _, err = e.linker.PaymentToken(t.Context(), account)
			require.NoError(t, err)
			require.NoError(t, e.linker.Unlink(t.Context(), account, "user"))
			evs, err := e.store.Events(t.Context(), account)
			require.NoError(t, err)
			var trail []linking.State
			for _, ev := range evs {
				trail = append(trail, ev.To)
				require.Equal(t, time.UTC, ev.At.Location())
			}
			require.Equal(t, []linking.State{linking.StateAuthorizing, linking.StateAwaitingCredentials,
				linking.StateApprovalPending, linking.StateActionRequired, linking.StateActive, linking.StateUnlinked}, trail)
		})
	}
}

// TestKeyRotationOverAFleet rotates the sealing key of every link of a
// SQLite store with RewrapAll, then retires the old key: linked accounts
// keep working.
func TestKeyRotationOverAFleet(t *testing.T) {
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "links.db"))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	e := newEnv(t, store)
	for i := range 7 {
		acct := fmt.Sprintf("acct-%d", i)
		e.linkAccount(acct)
		_, err := e.linker.SubmitCredentials(t.Context(), acct, creds(epsActive))
		require.NoError(t, err)
	}
	newKey := bytes.Repeat([]byte{7}, 32)
	rotated, err := linking.NewAESGCMSealer("k2", map[string][]byte{"k1": e.key, "k2": newKey})
	require.NoError(t, err)
	n, err := linking.RewrapAll(t.Context(), store, rotated)
	require.NoError(t, err)
	assert.Equal(t, 7, n, "every link's tokens moved to the new key")
	n, err = linking.RewrapAll(t.Context(), store, rotated)
	require.NoError(t, err)
	assert.Zero(t, n, "nothing left under the old key")

	retired, err := linking.NewAESGCMSealer("k2", map[string][]byte{"k2": newKey})
	require.NoError(t, err)
	l, err := linking.New(e.client(), store, retired, linking.WithRedirectURI(redirectURI),
		linking.WithPlatform("Acme Ship", platformCRID), linking.WithClock(e.srv.Now))
	require.NoError(t, err)
	for i := range 7 {
		acct := fmt.Sprintf("acct-%d", i)
		_, err := l.TokenSource(t.Context(), acct).Token()
		require.NoError(t, err)
		_, _, err = l.PaymentToken(t.Context(), acct)
		require.NoError(t, err)
	}
}

// failingStore fails the first n LinkTx.Update calls, as a database that
// goes away between a token refresh and its save.
type failingStore struct {
	linking.Store
	fails int
}

func (s *failingStore) LockLink(ctx context.Context, id string, fn func(context.Context, linking.LinkTx) error) error {
	return s.Store.LockLink(ctx, id, func(ctx context.Context, tx linking.LinkTx) error {
		return fn(ctx, &failingTx{LinkTx: tx, s: s})
	})
}

type failingTx struct {
	linking.LinkTx
	s *failingStore
}

func (t *failingTx) Update(l *linking.Link, ev *linking.Event) (*linking.Link, error) {
	if t.s.fails > 0 {
		t.s.fails--
		return nil, errors.New("database down")
	}
	return t.LinkTx.Update(l, ev)
}

// A refresh whose save fails is not used, and is saved (not refreshed
// again with a rotated-away refresh token) on the next call.
func TestTokenSourcePersistsRotationFirst(t *testing.T) {
	e := newEnv(t, nil)
	e.linkAccount(account)
	flaky := &failingStore{Store: e.store, fails: 2} // the save and its immediate retry
	l := e.newLinker(flaky)
	ts := l.TokenSource(t.Context(), account)
	first, err := ts.Token()
	require.NoError(t, err)
	calls := e.srv.Count("POST /oauth2/v3/token")

	e.srv.Advance(8 * time.Hour)
	_, err = ts.Token()
	require.ErrorContains(t, err, "database down", "an unsaved rotation is not used")
	assert.Equal(t, calls+1, e.srv.Count("POST /oauth2/v3/token"))

	got, err := ts.Token()
	require.NoError(t, err)
	assert.Equal(t, calls+1, e.srv.Count("POST /oauth2/v3/token"), "the kept rotation is saved, not refreshed again")
	assert.NotEqual(t, first.AccessToken, got.AccessToken)
	assert.NotEqual(t, first.RefreshToken, got.RefreshToken, "the fake rotates refresh tokens")

	// Saved: another process reads it without a refresh call.
	other, err := e.newLinker(e.store).TokenSource(t.Context(), account).Token()
	require.NoError(t, err)
	assert.Equal(t, got.AccessToken, other.AccessToken)
	assert.Equal(t, calls+1, e.srv.Count("POST /oauth2/v3/token"))
}

func TestTokenSourceEarlyExpiryBoundary(t *testing.T) {
	e := newEnv(t, nil)
	e.linkAccount(account)
	const lifetime = 8*time.Hour - time.Second // the fake's expires_in
	calls := e.srv.Count("POST /oauth2/v3/token")

	e.srv.Advance(lifetime - uspsbiz.EarlyExpiry - time.Nanosecond)
	_, err := e.linker.TokenSource(t.Context(), account).Token()
	require.NoError(t, err)
	assert.Equal(t, calls, e.srv.Count("POST /oauth2/v3/token"), "just outside the window: cached")

	e.srv.Advance(time.Nanosecond)
	_, err = e.linker.TokenSource(t.Context(), account).Token()
	require.NoError(t, err)
	assert.Equal(t, calls+1, e.srv.Count("POST /oauth2/v3/token"), "at the window: refreshed")
}

func TestTokenSourceSurvivesCancelledContext(t *testing.T) {
	e := newEnv(t, nil)
	e.linkAccount(account)
	ctx, cancel := context.WithCancel(context.Background())
	ts := e.linker.TokenSource(ctx, account)
	cancel()
	e.srv.Advance(9 * time.Hour)
	_, err := ts.Token()
	require.NoError(t, err, "the construction context's cancellation does not break later refreshes")
}
