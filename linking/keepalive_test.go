package linking_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// activate takes account to active with the EPA eps.
func (e *env) activate(acct, eps string) {
	e.t.Helper()
	e.linkAccount(acct)
	st, err := e.linker.SubmitCredentials(e.t.Context(), acct, creds(eps))
	require.NoError(e.t, err)
	require.Equal(e.t, linking.StateActive, st.State)
}

// hourly runs the reconciler once an hour for d, as hosts do.
func (e *env) hourly(d time.Duration) {
	e.t.Helper()
	for range int(d / time.Hour) {
		e.srv.Advance(time.Hour)
		_, err := e.linker.Reconcile(e.t.Context(), linking.ReconcileOptions{})
		require.NoError(e.t, err)
	}
}

func TestIdleLinkStaysAliveFor30Days(t *testing.T) {
	e := newEnv(t, nil)
	e.activate(account, epsActive)
	refreshes := e.srv.Count("POST /oauth2/v3/token")
	payments := e.srv.Count("POST /payments/v3/payment-authorization")

	e.hourly(30 * 24 * time.Hour) // the customer prints nothing for a month
	st, err := e.linker.Status(t.Context(), account)
	require.NoError(t, err)
	assert.Equal(t, linking.StateActive, st.State)
	assert.True(t, st.NSARatesApply)
	_, err = e.linker.TokenSource(t.Context(), account).Token()
	require.NoError(t, err, "the customer token still works after 30 idle days")

	// Refreshed once fewer than 2 of 7 days were left: about every 5 days
	// (plus platform tokens for the daily health checks).
	tokenCalls := e.srv.Count("POST /oauth2/v3/token") - refreshes
	merchantRefreshes := 0
	for _, r := range e.srv.Requests() {
		if r.Path == "/oauth2/v3/token" && contains(r.Body, "grant_type=refresh_token") {
			merchantRefreshes++
		}
	}
	assert.InDelta(t, 6, merchantRefreshes, 1, "one refresh per ~5 days")
	assert.LessOrEqual(t, tokenCalls, merchantRefreshes+31)
	assert.InDelta(t, 30, e.srv.Count("POST /payments/v3/payment-authorization")-payments, 2, "one health check a day")
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }

func TestRevocationSignalsRequireRelinkAtOnce(t *testing.T) {
	for name, inject := range map[string]func(e *env){
		"invalid_grant": func(e *env) {
			e.srv.InjectFault(uspsbiztest.Fault{Match: "POST /oauth2/v3/token", Kind: uspsbiztest.FaultInvalidGrant, Times: -1})
		},
		"invalid_refresh_token": func(e *env) {
			e.srv.InjectFault(uspsbiztest.Fault{Match: "POST /oauth2/v3/token", Kind: uspsbiztest.FaultInvalidRefreshToken, Times: -1})
		},
		"password reset": func(e *env) { e.srv.RevokeAll(username) },
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.activate(account, epsActive)
			var hooked []linking.Event
			e.linker = e.newLinker(e.store, linking.WithTransitionHook(func(_ context.Context, ev linking.Event) { hooked = append(hooked, ev) }))
			e.srv.Advance(5*24*time.Hour + time.Hour) // keep-alive due
			inject(e)
			res, err := e.linker.Reconcile(t.Context(), linking.ReconcileOptions{})
			require.NoError(t, err)
			assert.Equal(t, 1, res.Revoked)
			st, err := e.linker.Status(t.Context(), account)
			require.NoError(t, err)
			assert.Equal(t, linking.StateActionRequired, st.State)
			assert.Equal(t, linking.ReasonTokenRevoked, st.Reason)
			assert.False(t, st.NSARatesApply)
			assert.NotEmpty(t, st.LastError)
			require.Len(t, hooked, 1)
			assert.Equal(t, linking.ReasonTokenRevoked, hooked[0].Reason)
			_, err = e.linker.TokenSource(t.Context(), account).Token()
			assert.ErrorIs(t, err, linking.ErrNotLinked)
		})
	}
}

func TestTransientFailuresNeverChangeState(t *testing.T) {
	for name, f := range map[string]uspsbiztest.Fault{
		"503":             {Status: 503},
		"429":             {Status: 429, RetryAfter: "3600"},
		"dropped":         {Kind: uspsbiztest.FaultDropConnection},
		"malformed token": {Kind: uspsbiztest.FaultMalformedJSON},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.activate(account, epsActive)
			e.srv.Advance(5*24*time.Hour + time.Hour)
			f.Match, f.Times = "/", -1 // every USPS call fails
			e.srv.InjectFault(f)
			for range 3 {
				e.srv.Advance(time.Hour)
				_, err := e.linker.Reconcile(t.Context(), linking.ReconcileOptions{})
				require.NoError(t, err)
				_, _, err = e.linker.PaymentToken(t.Context(), account)
				require.Error(t, err)
				assert.NotErrorIs(t, err, linking.ErrNotActive)
			}
			st, _ := e.state(account)
			assert.Equal(t, linking.StateActive, st)
			e.srv.ClearFaults()
			e.hourly(2 * time.Hour)
			_, err := e.linker.TokenSource(t.Context(), account).Token()
			require.NoError(t, err, "the outage cost nothing")
			st, _ = e.state(account)
			assert.Equal(t, linking.StateActive, st)
		})
	}
}

func TestEPAGoingBadLeavesActiveAndRecovers(t *testing.T) {
	e := newEnv(t, nil)
	e.activate(account, epsActive)
	must(e.srv.SetEPAState(epsActive, uspsbiztest.EPACardInvalid))
	e.srv.Advance(9 * time.Hour) // the cached payment token lapsed

	// The customer prints: the payment authorization names their card.
	_, _, err := e.linker.PaymentToken(t.Context(), account)
	var are *linking.ActionRequiredError
	require.ErrorAs(t, err, &are)
	assert.Equal(t, account, are.AccountID)
	assert.Equal(t, linking.ReasonCardTrouble, are.Reason)
	assert.ErrorIs(t, err, linking.ErrNotActive)
	st, err := e.linker.Status(t.Context(), account)
	require.NoError(t, err)
	assert.Equal(t, linking.StateActionRequired, st.State)
	assert.False(t, st.NSARatesApply, "NSA pricing stops")
	assert.Contains(t, st.LastError, "100006")
	n := e.srv.Count("POST /payments/v3/payment-authorization")
	_, _, err = e.linker.PaymentToken(t.Context(), account)
	require.ErrorIs(t, err, linking.ErrNotActive)
	assert.Equal(t, n, e.srv.Count("POST /payments/v3/payment-authorization"), "no payments call spent on a known-bad account")

	// Fixed at USPS: the reconciler brings it back by itself.
	e.hourly(3 * time.Hour)
	s2, _ := e.state(account)
	assert.Equal(t, linking.StateActionRequired, s2)
	must(e.srv.SetEPAState(epsActive, uspsbiztest.EPAActive))
	e.hourly(7 * time.Hour)
	s2, _ = e.state(account)
	assert.Equal(t, linking.StateActive, s2)
	_, _, err = e.linker.PaymentToken(t.Context(), account)
	require.NoError(t, err)
}

func TestIdleLinkHealthCheckCatchesEPA(t *testing.T) {
	e := newEnv(t, nil)
	e.activate(account, epsActive)
	must(e.srv.SetEPAState(epsActive, uspsbiztest.EPAInsufficientTrust))
	e.hourly(25 * time.Hour)
	st, reason := e.state(account)
	assert.Equal(t, linking.StateActionRequired, st, "the daily health check caught it without the customer printing")
	assert.Equal(t, linking.ReasonInsufficientFunds, reason)
}

func TestUnauthorizedRightAfterRefreshRequiresRelink(t *testing.T) {
	e := newEnv(t, nil)
	e.linkAccount(account)
	e.srv.Advance(time.Hour) // the customer's access token is an hour old
	e.srv.InjectFault(uspsbiztest.Fault{Match: "POST /prices/v3/base-rates/search", Status: 401, Times: 2})
	before := e.srv.Count("POST /oauth2/v3/token")
	st, err := e.linker.SubmitCredentials(t.Context(), account, creds(epsActive))
	require.NoError(t, err)
	assert.Equal(t, linking.StateActionRequired, st.State, "refreshed once, refused again: the grant is gone")
	assert.Equal(t, linking.ReasonTokenRevoked, st.Reason)
	assert.Equal(t, 2, e.srv.Count("POST /oauth2/v3/token")-before, "platform token and one refresh")

	// One 401 on an old token is only an expired token: refreshed, retried, fine.
	e2 := newEnv(t, nil)
	e2.linkAccount(account)
	e2.srv.Advance(time.Hour)
	e2.srv.InjectFault(uspsbiztest.Fault{Match: "POST /prices/v3/base-rates/search", Status: 401})
	st, err = e2.linker.SubmitCredentials(t.Context(), account, creds(epsActive))
	require.NoError(t, err)
	assert.Equal(t, linking.StateActive, st.State)
}

func TestRotatedTokenSavedBeforeAnyOtherRefresh(t *testing.T) {
	e := newEnv(t, nil)
	e.linkAccount(account)
	// One failed save is retried at once, without a second refresh.
	once := &failingStore{Store: e.store, fails: 1}
	e.srv.Advance(8 * time.Hour)
	before := e.srv.Count("POST /oauth2/v3/token")
	_, err := e.newLinker(once).TokenSource(t.Context(), account).Token()
	require.NoError(t, err)
	assert.Equal(t, before+1, e.srv.Count("POST /oauth2/v3/token"))

	flaky := &failingStore{Store: e.store, fails: 2}
	l := e.newLinker(flaky)
	e.srv.Advance(8 * time.Hour)
	_, err = l.TokenSource(t.Context(), account).Token()
	require.ErrorContains(t, err, "database down")
	refreshes := e.srv.Count("POST /oauth2/v3/token")

	// Another token source of the same Linker (another goroutine's), and
	// the reconciler: both save the kept token instead of refreshing with
	// the dead one.
	got, err := l.TokenSource(t.Context(), account).Token()
	require.NoError(t, err)
	assert.Equal(t, refreshes, e.srv.Count("POST /oauth2/v3/token"))
	other, err := e.newLinker(e.store).TokenSource(t.Context(), account).Token()
	require.NoError(t, err)
	assert.Equal(t, got.AccessToken, other.AccessToken, "saved for every process")
	st, _ := e.state(account)
	assert.Equal(t, linking.StateAwaitingCredentials, st)
}

func TestUnlinkRevocationRetriedUntilConfirmed(t *testing.T) {
	e := newEnv(t, nil)
	e.activate(account, epsActive)
	e.srv.InjectFault(uspsbiztest.Fault{Match: "POST /oauth2/v3/revoke", Status: 503})
	require.NoError(t, e.linker.Unlink(t.Context(), account, "user:1"))
	st, err := e.linker.Status(t.Context(), account)
	require.NoError(t, err)
	assert.Equal(t, linking.StateUnlinked, st.State)
	assert.True(t, st.RevocationPending)
	assert.Contains(t, st.LastError, "revoke")
	_, err = e.linker.TokenSource(t.Context(), account).Token()
	require.ErrorIs(t, err, linking.ErrNotLinked, "a token kept for revocation is never handed out")

	e.srv.Advance(2 * time.Minute)
	res, err := e.linker.Reconcile(t.Context(), linking.ReconcileOptions{})
	require.NoError(t, err)
	assert.Equal(t, 1, res.RevocationsConfirmed)
	st, err = e.linker.Status(t.Context(), account)
	require.NoError(t, err)
	assert.False(t, st.RevocationPending)
	assert.Equal(t, 2, e.srv.Count("POST /oauth2/v3/revoke"))
	lk, err := e.store.GetLink(t.Context(), account)
	require.NoError(t, err)
	assert.Empty(t, lk.Token)
	assert.True(t, lk.NextCheckAt.IsZero())
}

func TestRelinkRevokesSupersededGrant(t *testing.T) {
	e := newEnv(t, nil)
	e.activate(account, epsActive)
	first, err := e.linker.TokenSource(t.Context(), account).Token()
	require.NoError(t, err)
	_, err = e.linker.Callback(t.Context(), account, session, e.authorize(e.linker, account, session))
	require.NoError(t, err)
	assert.Equal(t, 1, e.srv.Count("POST /oauth2/v3/revoke"))
	_, err = e.usps.Refresh(t.Context(), uspsbiz.Secret(first.RefreshToken))
	assert.ErrorIs(t, err, uspsbiz.ErrReauthorizationRequired, "the old grant is dead")
	_, err = e.linker.TokenSource(t.Context(), account).Token()
	require.NoError(t, err, "the new one works")
}

func TestReconcileDeletesExpiredAuthRequests(t *testing.T) {
	e := newEnv(t, nil)
	_, err := e.linker.Start(t.Context(), account, session)
	require.NoError(t, err)
	res, err := e.linker.Reconcile(t.Context(), linking.ReconcileOptions{})
	require.NoError(t, err)
	assert.Zero(t, res.AuthRequestsDeleted)
	e.srv.Advance(11 * time.Minute)
	res, err = e.linker.Reconcile(t.Context(), linking.ReconcileOptions{})
	require.NoError(t, err)
	assert.Equal(t, 1, res.AuthRequestsDeleted)
}

// racingStore lets another writer change a link just before the
// reconciler writes its verdict.
type racingStore struct {
	linking.Store
	before func()
}

func (s *racingStore) UpdateLink(ctx context.Context, l *linking.Link, ev *linking.Event) (*linking.Link, error) {
	if f := s.before; f != nil {
		s.before = nil
		f()
	}
	return s.Store.UpdateLink(ctx, l, ev)
}

func TestVerdictAppliesOnlyToTheVersionChecked(t *testing.T) {
	e := newEnv(t, nil)
	e.linkAccount(account)
	must(e.srv.SetContractPrices(epsActive)) // no contract yet: stays pending
	st, err := e.linker.SubmitCredentials(t.Context(), account, creds(epsActive))
	require.NoError(t, err)
	require.Equal(t, linking.StateApprovalPending, st.State)
	must(e.srv.SetContractPrices(epsActive, priorityContract("8.05")))

	rs := &racingStore{Store: e.store}
	l := e.newLinker(rs)
	rs.before = func() {
		// The customer swaps to another EPA while the check runs.
		lk, err := e.store.GetLink(t.Context(), account)
		require.NoError(t, err)
		lk.EPSAccount = "1000000004"
		lk.UpdatedAt = e.srv.Now()
		_, err = e.store.UpdateLink(t.Context(), lk, nil)
		require.NoError(t, err)
	}
	e.srv.Advance(time.Hour)
	res, err := l.Reconcile(t.Context(), linking.ReconcileOptions{})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Claimed)
	lk, err := e.store.GetLink(t.Context(), account)
	require.NoError(t, err)
	assert.Equal(t, linking.StateApprovalPending, lk.State, "the verdict for the old EPA was dropped")
}

func TestCheckIsBoundedByItsLease(t *testing.T) {
	e := newEnv(t, nil)
	e.linkAccount(account)
	must(e.srv.SetContractPrices(epsActive))
	_, err := e.linker.SubmitCredentials(t.Context(), account, creds(epsActive))
	require.NoError(t, err)
	must(e.srv.SetContractPrices(epsActive, priorityContract("8.05")))
	e.srv.Advance(time.Hour)
	e.srv.InjectFault(uspsbiztest.Fault{Match: "POST /payments/v3/payment-authorization", Kind: uspsbiztest.FaultLatency, Latency: 3 * time.Second, Times: -1})
	start := time.Now()
	res, err := e.linker.Reconcile(t.Context(), linking.ReconcileOptions{Lease: 400 * time.Millisecond})
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 2*time.Second, "stopped at the lease, before another instance could claim it")
	assert.Equal(t, 1, res.StillPending)
	lk, err := e.store.GetLink(t.Context(), account)
	require.NoError(t, err)
	assert.Contains(t, lk.LastError, "timed out")
	st, _ := e.state(account)
	assert.Equal(t, linking.StateApprovalPending, st)
}

func TestHostCustomerCallsRecogniseRevokedGrant(t *testing.T) {
	e := newEnv(t, nil)
	e.activate(account, epsActive)
	e.srv.Advance(2 * time.Hour)
	merchant := e.usps.ForMerchant(e.linker.TokenSource(t.Context(), account))
	q := uspsbiz.BaseRatesQuery{Package: uspsbiz.Package{OriginZIP: "10001", DestinationZIP: "94105", Weight: usps.Pound, Length: 10 * usps.Inch, Width: 8 * usps.Inch, Height: 4 * usps.Inch}, MailClass: "PRIORITY_MAIL"}

	// One 401 on a two-hour-old token: refreshed and retried.
	e.srv.InjectFault(uspsbiztest.Fault{Match: "POST /prices/v3/base-rates/search", Status: 401})
	_, err := merchant.BaseRates(t.Context(), q)
	require.NoError(t, err)
	st, _ := e.state(account)
	require.Equal(t, linking.StateActive, st)

	// USPS keeps refusing even the fresh token: the grant is gone.
	e.srv.Advance(time.Hour)
	e.srv.InjectFault(uspsbiztest.Fault{Match: "POST /prices/v3/base-rates/search", Status: 401, Times: 2})
	_, err = merchant.BaseRates(t.Context(), q)
	require.ErrorIs(t, err, uspsbiz.ErrReauthorizationRequired)
	st, reason := e.state(account)
	assert.Equal(t, linking.StateActionRequired, st)
	assert.Equal(t, linking.ReasonTokenRevoked, reason)
}
