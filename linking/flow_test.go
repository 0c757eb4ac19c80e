package linking_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

func TestCredentialsToActive(t *testing.T) {
	e := newEnv(t, nil)
	e.linkAccount(account)
	calls := len(e.srv.Requests())
	st, err := e.linker.SubmitCredentials(t.Context(), account, linking.CredentialsInput{CRID: "5678-1234", MID: " 901 234 567 ", EPS: "10000-00001"})
	require.NoError(t, err)
	assert.Equal(t, linking.StateActive, st.State)
	assert.True(t, st.NSARatesApply)
	assert.Equal(t, "56781234", st.CRID, "pasted dashes and spaces are trimmed")
	assert.Equal(t, "901234567", st.ManifestMID, "an empty manifest MID defaults to the MID")
	assert.Equal(t, "0001", st.EPSLast4)
	usps := e.srv.Requests()[calls:]
	var paths []string
	for _, r := range usps {
		paths = append(paths, r.Method+" "+r.Path)
	}
	assert.Equal(t, []string{
		"POST /oauth2/v3/token",                   // platform token
		"POST /payments/v3/payment-authorization", // credentials check
		"POST /prices/v3/base-rates/search",       // contract probe (customer token, still valid)
	}, paths)

	evs, err := e.store.Events(t.Context(), account)
	require.NoError(t, err)
	var trail []string
	for _, ev := range evs {
		trail = append(trail, fmt.Sprintf("%s->%s", ev.From, ev.To))
	}
	assert.Equal(t, []string{"unlinked->authorizing", "authorizing->awaiting_credentials",
		"awaiting_credentials->approval_pending", "approval_pending->active"}, trail)

	tok, exp, err := e.linker.PaymentToken(t.Context(), account)
	require.NoError(t, err)
	assert.True(t, e.srv.PaymentTokenValid(tok.Reveal()))
	assert.WithinDuration(t, e.srv.Now().Add(8*time.Hour), exp, time.Minute)
	n := e.srv.Count("POST /payments/v3/payment-authorization")
	_, _, err = e.linker.PaymentToken(t.Context(), account)
	require.NoError(t, err)
	assert.Equal(t, n, e.srv.Count("POST /payments/v3/payment-authorization"), "cached for its 8 hours")
	e.srv.Advance(8 * time.Hour)
	_, _, err = e.linker.PaymentToken(t.Context(), account)
	require.NoError(t, err)
	assert.Equal(t, n+1, e.srv.Count("POST /payments/v3/payment-authorization"), "renewed after expiry")
}

func TestMalformedCredentialsChangeNothing(t *testing.T) {
	e := newEnv(t, nil)
	e.linkAccount(account)
	before := len(e.srv.Requests())
	_, err := e.linker.SubmitCredentials(t.Context(), account, linking.CredentialsInput{CRID: "1", MID: "912345", ManifestMID: "12345678", EPS: "12345abcde"})
	var ce *linking.CredentialsError
	require.ErrorAs(t, err, &ce)
	require.Len(t, ce.Fields, 4)
	got := map[string]string{}
	for _, f := range ce.Fields {
		got[f.Field] = f.Message
	}
	assert.Contains(t, got["crid"], "2 to 18 digits")
	assert.Contains(t, got["mid"], "cannot start with 9")
	assert.Contains(t, got["manifest_mid"], "6 or 9 digits")
	assert.Contains(t, got["eps"], "only digits")
	assert.ErrorIs(t, err, usps.ErrInvalidIdentifier)
	assert.Equal(t, before, len(e.srv.Requests()), "no USPS call")
	st, _ := e.state(account)
	assert.Equal(t, linking.StateAwaitingCredentials, st)
}

func TestCredentialsBeforeLinking(t *testing.T) {
	e := newEnv(t, nil)
	_, err := e.linker.SubmitCredentials(t.Context(), account, creds(epsActive))
	assert.ErrorIs(t, err, linking.ErrNotLinked)
}

func TestActionRequiredReasons(t *testing.T) {
	cases := []struct {
		name   string
		in     linking.CredentialsInput
		reason linking.Reason
	}{
		{"ACH pending", creds(epsACH), linking.ReasonEPANotActive},
		{"no payment method", creds(epsNoMethod), linking.ReasonNoPaymentMethod},
		{"EPA missing", creds("1999999999"), linking.ReasonEPAMissing},
		{"MID not enrolled", linking.CredentialsInput{CRID: custCRID, MID: "123456", EPS: epsActive}, linking.ReasonCRIDNotEnrolled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.linkAccount(account)
			st, err := e.linker.SubmitCredentials(t.Context(), account, c.in)
			require.NoError(t, err)
			assert.Equal(t, linking.StateActionRequired, st.State)
			assert.Equal(t, c.reason, st.Reason)
			assert.False(t, st.NSARatesApply)
			view := e.linker.View(st, nil)
			require.NotNil(t, view.Action)
			assert.Equal(t, "action."+string(c.reason), view.Action.Key)
		})
	}
}

func TestACHVerificationThenActive(t *testing.T) {
	e := newEnv(t, nil)
	e.linkAccount(account)
	st, err := e.linker.SubmitCredentials(t.Context(), account, creds(epsACH))
	require.NoError(t, err)
	require.Equal(t, linking.ReasonEPANotActive, st.Reason)

	require.Error(t, e.srv.VerifyMicroDebits(epsACH, 17, 43), "wrong amounts")
	require.NoError(t, e.srv.VerifyMicroDebits(epsACH, 17, 42))
	st, err = e.linker.SubmitCredentials(t.Context(), account, creds(epsACH)) // the customer saves again
	require.NoError(t, err)
	assert.Equal(t, linking.StateActive, st.State)
}

func TestContractNotYetEffectiveStaysPendingThenReconciles(t *testing.T) {
	e := newEnv(t, nil)
	e.linkAccount(account)
	st, err := e.linker.SubmitCredentials(t.Context(), account, creds(epsNoNSA))
	require.NoError(t, err)
	assert.Equal(t, linking.StateApprovalPending, st.State, "warning 001: published rate, not NSA")
	assert.Equal(t, linking.ReasonContractNotEffective, st.Reason)
	assert.False(t, st.NSARatesApply)
	view := e.linker.View(st, nil)
	assert.Equal(t, "banner.approval_pending", view.Banner.Key)
	assert.Equal(t, "USPS business account approval pending", view.Banner.Text)
	first := st.NextCheckAt
	assert.True(t, first.After(e.srv.Now()), "next check scheduled with backoff")

	res, err := e.linker.Reconcile(t.Context(), linking.ReconcileOptions{})
	require.NoError(t, err)
	assert.Zero(t, res.Claimed, "not due yet")

	// USPS approves: the contract prices appear.
	must(e.srv.SetContractPrices(epsNoNSA, priorityContract("7.95")))
	e.srv.Advance(first.Sub(e.srv.Now()) + time.Second)
	res, err = e.linker.Reconcile(t.Context(), linking.ReconcileOptions{})
	require.NoError(t, err)
	assert.Equal(t, linking.ReconcileResult{Claimed: 1, Activated: 1}, res)
	st, err = e.linker.Status(t.Context(), account)
	require.NoError(t, err)
	assert.Equal(t, linking.StateActive, st.State)
}

func TestBackoffGrowsWhilePending(t *testing.T) {
	e := newEnv(t, nil, linking.WithBackoff(time.Minute, 10*time.Minute))
	e.linkAccount(account)
	_, err := e.linker.SubmitCredentials(t.Context(), account, creds(epsNoNSA))
	require.NoError(t, err)
	var waits []time.Duration
	for range 6 {
		lk, err := e.store.GetLink(t.Context(), account)
		require.NoError(t, err)
		wait := lk.NextCheckAt.Sub(e.srv.Now())
		waits = append(waits, wait)
		e.srv.Advance(wait)
		_, err = e.linker.Reconcile(t.Context(), linking.ReconcileOptions{})
		require.NoError(t, err)
	}
	for i, w := range waits {
		ceiling := min(time.Minute<<i, 10*time.Minute)
		assert.LessOrEqual(t, w, ceiling, "attempt %d", i+1)
		assert.GreaterOrEqual(t, w, ceiling*8/10-time.Second, "attempt %d", i+1)
	}
}

func TestReconcilersOnManyInstancesCheckEachLinkOnce(t *testing.T) {
	e := newEnv(t, nil)
	const links = 6
	for i := range links {
		acct := fmt.Sprintf("acct-%d", i)
		e.linkAccount(acct)
		_, err := e.linker.SubmitCredentials(t.Context(), acct, creds(epsNoNSA))
		require.NoError(t, err)
	}
	must(e.srv.SetContractPrices(epsNoNSA, priorityContract("7.95")))
	e.srv.Advance(time.Hour)
	before := e.srv.Count("POST /payments/v3/payment-authorization")
	var wg sync.WaitGroup
	results := make(chan linking.ReconcileResult, 4)
	for range 4 {
		l := e.newLinker(e.store)
		wg.Go(func() {
			res, err := l.Reconcile(context.Background(), linking.ReconcileOptions{Limit: 3})
			assert.NoError(t, err)
			results <- res
		})
	}
	wg.Wait()
	close(results)
	total := 0
	for r := range results {
		total += r.Activated
	}
	assert.Equal(t, links, total)
	assert.Equal(t, links, e.srv.Count("POST /payments/v3/payment-authorization")-before, "one check per link")
}

func TestReconcilerStopsWhenBudgetRunsOut(t *testing.T) {
	e := newEnv(t, nil)
	for i := range 3 {
		acct := fmt.Sprintf("acct-%d", i)
		e.linkAccount(acct)
		_, err := e.linker.SubmitCredentials(t.Context(), acct, creds(epsNoNSA))
		require.NoError(t, err)
	}
	e.srv.Advance(time.Hour)
	budgeted, err := uspsbiz.New(uspsbiz.WithEnvironment(uspsbiz.Environment(e.srv.URL)), uspsbiz.WithClock(e.srv.Now),
		uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: clientID, ClientSecret: clientSecret}),
		uspsbiz.WithBudget(uspsbiz.APIPayments, uspsbiz.Budget{PerHour: 60, Burst: 1}))
	require.NoError(t, err)
	l, err := linking.New(budgeted, e.store, e.sealer, linking.WithRedirectURI(redirectURI),
		linking.WithPlatform("Acme Ship", platformCRID), linking.WithClock(e.srv.Now))
	require.NoError(t, err)
	before := e.srv.Count("POST /payments/")
	res, err := l.Reconcile(t.Context(), linking.ReconcileOptions{Limit: 3})
	require.NoError(t, err)
	assert.Equal(t, 3, res.Claimed)
	assert.Equal(t, 1, e.srv.Count("POST /payments/")-before, "one payments call fits the budget")
	assert.Equal(t, 1, res.Deferred, "the rest waits for a later pass")
}

func TestUnlinkRevokesAndForgets(t *testing.T) {
	e := newEnv(t, nil)
	e.linkAccount(account)
	_, err := e.linker.SubmitCredentials(t.Context(), account, creds(epsActive))
	require.NoError(t, err)
	require.NoError(t, e.linker.Unlink(t.Context(), account, "user"))
	st, _ := e.state(account)
	assert.Equal(t, linking.StateUnlinked, st)
	assert.Equal(t, 1, e.srv.Count("POST /oauth2/v3/revoke"))
	lk, err := e.store.GetLink(t.Context(), account)
	require.NoError(t, err)
	assert.Empty(t, lk.Token)
	assert.Empty(t, lk.PaymentToken)
	_, err = e.linker.TokenSource(t.Context(), account).Token()
	assert.ErrorIs(t, err, linking.ErrNotLinked)
	_, _, err = e.linker.PaymentToken(t.Context(), account)
	assert.ErrorIs(t, err, linking.ErrNotActive)
}

func TestRelinkWithCredentialsOnFileGoesPending(t *testing.T) {
	e := newEnv(t, nil)
	e.linkAccount(account)
	_, err := e.linker.SubmitCredentials(t.Context(), account, creds(epsActive))
	require.NoError(t, err)
	e.srv.RevokeAll(username)
	e.srv.Advance(9 * time.Hour)
	_, err = e.linker.TokenSource(t.Context(), account).Token()
	require.ErrorIs(t, err, uspsbiz.ErrReauthorizationRequired)
	lk, err := e.linker.Callback(t.Context(), account, session, e.authorize(e.linker, account, session))
	require.NoError(t, err)
	assert.Equal(t, linking.StateApprovalPending, lk.State, "credentials on file are re-checked")
	lk2, err := e.linker.Verify(t.Context(), account)
	require.NoError(t, err)
	assert.Equal(t, linking.StateActive, lk2.State)
}

func TestACHVerifiedAtUSPSIsPickedUpByTheReconciler(t *testing.T) {
	e := newEnv(t, nil)
	e.linkAccount(account)
	st, err := e.linker.SubmitCredentials(t.Context(), account, creds(epsACH))
	require.NoError(t, err)
	require.Equal(t, linking.ReasonEPANotActive, st.Reason)
	require.False(t, st.NextCheckAt.IsZero(), "a problem fixed at USPS is re-checked")

	view := e.linker.View(st, nil)
	assert.Equal(t, "action.epa_not_active", view.Banner.Key, "the banner says what to fix")
	done := map[string]bool{}
	for _, s := range view.Steps {
		done[s.Key] = s.Done
	}
	assert.Equal(t, map[string]bool{"business_account": true, "payment_account": false, "connect": true, "credentials": true, "approval": false}, done)

	e.srv.Advance(st.NextCheckAt.Sub(e.srv.Now()))
	res, err := e.linker.Reconcile(t.Context(), linking.ReconcileOptions{})
	require.NoError(t, err)
	assert.Equal(t, linking.ReconcileResult{Claimed: 1, ActionRequired: 1}, res, "still not verified")

	require.NoError(t, e.srv.VerifyMicroDebits(epsACH, 17, 42))
	lk, err := e.store.GetLink(t.Context(), account)
	require.NoError(t, err)
	e.srv.Advance(lk.NextCheckAt.Sub(e.srv.Now()))
	res, err = e.linker.Reconcile(t.Context(), linking.ReconcileOptions{})
	require.NoError(t, err)
	assert.Equal(t, linking.ReconcileResult{Claimed: 1, Activated: 1}, res, "no need to save again")
}

func TestOutageWhileSavingLeavesLinkPending(t *testing.T) {
	e := newEnv(t, nil)
	e.linkAccount(account)
	e.srv.InjectFault(uspsbiztest.Fault{Match: "POST /payments/", Status: 503, Times: -1})
	st, err := e.linker.SubmitCredentials(t.Context(), account, creds(epsActive))
	require.NoError(t, err, "the credentials were saved; USPS being down is not the customer's error")
	assert.Equal(t, linking.StateApprovalPending, st.State)
	assert.Equal(t, "credentials check: USPS 503", st.LastError)

	e.srv.ClearFaults()
	e.srv.Advance(st.NextCheckAt.Sub(e.srv.Now()))
	res, err := e.linker.Reconcile(t.Context(), linking.ReconcileOptions{})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Activated)
}

func TestPopupTextComesWithTheView(t *testing.T) {
	e := newEnv(t, nil)
	st, err := e.linker.Status(t.Context(), account)
	require.NoError(t, err)
	g := linking.DefaultGuidance()
	g.Popup = linking.Message{Key: "popup.connect", Text: "Verbinden Sie Ihr USPS-Konto mit {platform}."}
	v := e.linker.View(st, &g)
	require.True(t, v.ShowPopup)
	assert.Equal(t, "Verbinden Sie Ihr USPS-Konto mit Acme Ship.", v.Popup.Text)
}

// Once the customer has granted access at USPS, the banner asks for the
// credentials: "Connect your USPS business account" would contradict the
// "connected" the host shows next to it.
func TestBannerOnceConnected(t *testing.T) {
	e := newEnv(t, nil)
	st, err := e.linker.Status(t.Context(), account)
	require.NoError(t, err)
	assert.Equal(t, "banner.connect", e.linker.View(st, nil).Banner.Key)

	e.linkAccount(account)
	st, err = e.linker.Status(t.Context(), account)
	require.NoError(t, err)
	require.Equal(t, linking.StateAwaitingCredentials, st.State)
	v := e.linker.View(st, nil)
	assert.Equal(t, "banner.enter_credentials", v.Banner.Key)
	assert.NotContains(t, v.Banner.Text, "Connect")
	assert.False(t, v.ShowPopup)

	g := linking.DefaultGuidance()
	g.CredentialsBanner = linking.Message{} // a Guidance from before the field: the connect banner, not an empty one
	assert.Equal(t, "banner.connect", e.linker.View(st, &g).Banner.Key)
}

func TestStartKeepsALinkWithTokens(t *testing.T) {
	e := newEnv(t, nil)
	e.linkAccount(account)
	st, err := e.linker.SubmitCredentials(t.Context(), account, creds(epsACH))
	require.NoError(t, err)
	require.Equal(t, linking.StateActionRequired, st.State)
	_, err = e.linker.Start(t.Context(), account, session) // an unneeded relink, abandoned
	require.NoError(t, err)
	after, err := e.linker.Status(t.Context(), account)
	require.NoError(t, err)
	assert.Equal(t, linking.StateActionRequired, after.State)
	assert.Equal(t, st.NextCheckAt, after.NextCheckAt, "the re-check stays scheduled")
}
