package linking_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// activateWithEast takes account to active with the default EPA and the
// "East DC" location.
func (e *env) activateWithEast() {
	e.t.Helper()
	e.linkAccount(account)
	in := creds(epsActive)
	in.Locations = []linking.LocationInput{{Label: "East DC", MID: eastMID, ManifestMID: eastManifestMID, EPS: epsEast}}
	st, err := e.linker.SubmitCredentials(e.t.Context(), account, in)
	require.NoError(e.t, err)
	require.Equal(e.t, linking.StateActive, st.State, st.LastError)
}

// TestHealthCheckUsesModelRolesAndLocations: the reconciler's health check
// of an idle active link renews the payment authorization of the default
// account and of each location, with the payment model's roles (here the
// platform pays), so a location's label needs no USPS call afterwards.
func TestHealthCheckUsesModelRolesAndLocations(t *testing.T) {
	e := newEnv(t, nil, linking.WithPaymentModel(linking.PaymentModel{Payer: linking.PayerPlatform, PlatformEPS: epsPlatform}))
	e.activateWithEast()
	n := len(e.srv.PaymentAuthorizations())
	require.Equal(t, 2, n)
	e.hourly(25 * time.Hour)
	auths := e.srv.PaymentAuthorizations()
	require.Greater(t, len(auths), n, "the health check renewed the authorizations")
	sawEast := false
	for _, a := range auths[n:] {
		p, _ := a.Role("PAYER")
		assert.Equal(t, epsPlatform, p.AccountNumber, "the platform pays")
		assert.Equal(t, platformCRID, p.CRID)
		if lo, _ := a.Role("LABEL_OWNER"); lo.MID == eastMID {
			sawEast = true
			rh, _ := a.Role("RATE_HOLDER")
			assert.Equal(t, epsEast, rh.AccountNumber)
		}
	}
	assert.True(t, sawEast, "the location's authorization was renewed too")
	s, _ := e.state(account)
	require.Equal(t, linking.StateActive, s)

	calls := len(e.srv.PaymentAuthorizations())
	_, _, err := e.linker.PaymentTokenAt(t.Context(), account, "East DC")
	require.NoError(t, err)
	assert.Len(t, e.srv.PaymentAuthorizations(), calls, "the location's renewed token is cached")
}

// TestLocationEPAGoingBadLeavesActive: a location's EPA refused when its
// token is renewed stops NSA pricing for the link with the location named,
// and clears every cached payment token.
func TestLocationEPAGoingBadLeavesActive(t *testing.T) {
	e := newEnv(t, nil)
	e.activateWithEast()
	must(e.srv.SetEPAState(epsEast, uspsbiztest.EPACardInvalid))
	e.srv.Advance(9 * time.Hour) // the cached payment tokens lapsed

	_, _, err := e.linker.PaymentTokenAt(t.Context(), account, "East DC")
	var are *linking.ActionRequiredError
	require.ErrorAs(t, err, &are)
	assert.Equal(t, linking.ReasonCardTrouble, are.Reason)
	assert.Contains(t, are.Cause, `location "East DC"`)
	st, err := e.linker.Status(t.Context(), account)
	require.NoError(t, err)
	assert.Equal(t, linking.StateActionRequired, st.State)
	raw, err := e.store.GetLink(t.Context(), account)
	require.NoError(t, err)
	assert.Empty(t, raw.PaymentToken)
	require.Len(t, raw.Locations, 1)
	assert.Empty(t, raw.Locations[0].PaymentToken)

	// Fixed at USPS: the reconciler re-checks every account and brings the
	// link back with fresh tokens.
	must(e.srv.SetEPAState(epsEast, uspsbiztest.EPAActive))
	e.hourly(8 * time.Hour)
	s, _ := e.state(account)
	require.Equal(t, linking.StateActive, s)
	raw, err = e.store.GetLink(t.Context(), account)
	require.NoError(t, err)
	assert.NotEmpty(t, raw.Locations[0].PaymentToken)
}

// TestPlatformAccountRefusalKeepsLinkActive: when the platform's own
// paying EPA fails after activation, renewing a payment token is
// ErrPlatformAccount and neither it nor the health check moves the
// customer's link out of active.
func TestPlatformAccountRefusalKeepsLinkActive(t *testing.T) {
	e := newEnv(t, nil, linking.WithPaymentModel(linking.PaymentModel{Payer: linking.PayerPlatform, PlatformEPS: epsPlatform}))
	e.activate(account, epsActive)
	must(e.srv.SetEPAState(epsPlatform, uspsbiztest.EPAInsufficientTrust))
	e.srv.Advance(9 * time.Hour)
	_, _, err := e.linker.PaymentToken(t.Context(), account)
	require.ErrorIs(t, err, linking.ErrPlatformAccount)
	var are *linking.ActionRequiredError
	assert.False(t, errors.As(err, &are), "not the customer's to act on")
	s, _ := e.state(account)
	assert.Equal(t, linking.StateActive, s)

	for range 25 {
		e.srv.Advance(time.Hour)
		_, _ = e.linker.Reconcile(t.Context(), linking.ReconcileOptions{}) // the platform's problem is reported, not the customer's
	}
	s, _ = e.state(account)
	assert.Equal(t, linking.StateActive, s, "the health check leaves it active")

	must(e.srv.SetEPAState(epsPlatform, uspsbiztest.EPAActive))
	_, _, err = e.linker.PaymentToken(t.Context(), account)
	require.NoError(t, err)
}

// TestSameSubjectCoversIdentity: a verdict is stale when any identity
// field changed meanwhile: returns MID, or a location's label, MIDs or
// EPS account; a renewed payment token is not an identity change.
func TestSameSubjectCoversIdentity(t *testing.T) {
	base := func() *linking.Link {
		return &linking.Link{AccountID: account, State: linking.StateApprovalPending, CRID: custCRID, MID: custMID, ManifestMID: manifestMID,
			EPSAccount: epsActive, ReturnsMID: returnsMID,
			Locations: []linking.Location{{Label: "East DC", MID: eastMID, ManifestMID: eastManifestMID, EPSAccount: epsEast}}}
	}
	a := base()
	assert.True(t, linking.SameSubject(base(), a))
	b := base()
	b.Locations[0].PaymentToken = []byte("sealed")
	assert.True(t, linking.SameSubject(b, a), "tokens are not identity")
	for name, change := range map[string]func(*linking.Link){
		"returns MID":      func(l *linking.Link) { l.ReturnsMID = "" },
		"location EPS":     func(l *linking.Link) { l.Locations[0].EPSAccount = usps.EPSAccount(epsNoMethod) },
		"location MID":     func(l *linking.Link) { l.Locations[0].MID = custMID },
		"location label":   func(l *linking.Link) { l.Locations[0].Label = "West" },
		"location added":   func(l *linking.Link) { l.Locations = append(l.Locations, linking.Location{Label: "West"}) },
		"location removed": func(l *linking.Link) { l.Locations = nil },
		"EPS":              func(l *linking.Link) { l.EPSAccount = usps.EPSAccount(epsNoMethod) },
	} {
		b := base()
		change(b)
		assert.False(t, linking.SameSubject(b, a), name)
	}
}
