package linking_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// paymentModels are the models a Linker can run, with the roles each must
// send for the seeded customer (default account epsActive).
var paymentModels = []struct {
	name  string
	model linking.PaymentModel
	roles []string
	payer uspsbiztest.PaymentRole // what PAYER must carry
}{
	{"customer pays", linking.PaymentModel{},
		[]string{"PAYER", "RATE_HOLDER", "LABEL_OWNER", "PLATFORM"},
		uspsbiztest.PaymentRole{RoleName: "PAYER", CRID: custCRID, AccountType: "EPS", AccountNumber: epsActive}},
	{"platform pays", linking.PaymentModel{Payer: linking.PayerPlatform, PlatformEPS: epsPlatform},
		[]string{"PAYER", "RATE_HOLDER", "LABEL_OWNER", "PLATFORM"},
		uspsbiztest.PaymentRole{RoleName: "PAYER", CRID: platformCRID, AccountType: "EPS", AccountNumber: epsPlatform}},
	{"customer pays with returns", linking.PaymentModel{Returns: true},
		[]string{"PAYER", "RATE_HOLDER", "LABEL_OWNER", "RETURN_LABEL_PAYER", "RETURN_LABEL_RATE_HOLDER", "RETURN_LABEL_OWNER", "PLATFORM"},
		uspsbiztest.PaymentRole{RoleName: "PAYER", CRID: custCRID, AccountType: "EPS", AccountNumber: epsActive}},
	{"platform pays with returns", linking.PaymentModel{Payer: linking.PayerPlatform, PlatformEPS: epsPlatform, Returns: true},
		[]string{"PAYER", "RATE_HOLDER", "LABEL_OWNER", "RETURN_LABEL_PAYER", "RETURN_LABEL_RATE_HOLDER", "RETURN_LABEL_OWNER", "PLATFORM"},
		uspsbiztest.PaymentRole{RoleName: "PAYER", CRID: platformCRID, AccountType: "EPS", AccountNumber: epsPlatform}},
}

// assertRoles checks one recorded payment authorization against the model.
func assertRoles(t *testing.T, a uspsbiztest.PaymentAuthorization, roles []string, payer uspsbiztest.PaymentRole, eps, mid, manifest string) {
	t.Helper()
	assert.Equal(t, roles, a.RoleNames())
	p, _ := a.Role("PAYER")
	assert.Equal(t, payer, p)
	rh, _ := a.Role("RATE_HOLDER")
	assert.Equal(t, uspsbiztest.PaymentRole{RoleName: "RATE_HOLDER", CRID: custCRID, AccountType: "EPS", AccountNumber: eps}, rh, "the customer's EPA always holds the rates")
	lo, _ := a.Role("LABEL_OWNER")
	assert.Equal(t, uspsbiztest.PaymentRole{RoleName: "LABEL_OWNER", CRID: custCRID, MID: mid, ManifestMID: manifest}, lo)
	pl, _ := a.Role("PLATFORM")
	assert.Equal(t, uspsbiztest.PaymentRole{RoleName: "PLATFORM", CRID: platformCRID}, pl)
	if rp, ok := a.Role("RETURN_LABEL_PAYER"); ok {
		want := payer
		want.RoleName = "RETURN_LABEL_PAYER"
		assert.Equal(t, want, rp)
		rrh, _ := a.Role("RETURN_LABEL_RATE_HOLDER")
		assert.Equal(t, uspsbiztest.PaymentRole{RoleName: "RETURN_LABEL_RATE_HOLDER", CRID: custCRID, AccountType: "EPS", AccountNumber: eps}, rrh)
		ro, _ := a.Role("RETURN_LABEL_OWNER")
		assert.Equal(t, uspsbiztest.PaymentRole{RoleName: "RETURN_LABEL_OWNER", CRID: custCRID, MID: returnsMID, ManifestMID: manifest}, ro)
	}
	assert.Empty(t, a.Codes)
}

// TestPaymentModelJourneys walks each payment model to active on SQLite
// and PostgreSQL: the roles the fake recorded for the credentials check,
// the renewed payment token and a label; the label is charged to the
// model's payer at the customer's contract price.
func TestPaymentModelJourneys(t *testing.T) {
	for storeName, open := range sqlStores(t) {
		for _, pm := range paymentModels {
			t.Run(storeName+"/"+pm.name, func(t *testing.T) {
				e := newEnv(t, open(t), linking.WithPaymentModel(pm.model))
				e.linkAccount(account)
				in := creds(epsActive)
				if pm.model.Returns {
					in.ReturnsMID = returnsMID
				}
				st, err := e.linker.SubmitCredentials(t.Context(), account, in)
				require.NoError(t, err)
				require.Equal(t, linking.StateActive, st.State, st.LastError)
				auths := e.srv.PaymentAuthorizations()
				require.Len(t, auths, 1, "one credentials check")
				assertRoles(t, auths[0], pm.roles, pm.payer, epsActive, custMID, manifestMID)

				// The 8-hour token is renewed with the same roles.
				e.srv.Advance(8 * time.Hour)
				tok, _, err := e.linker.PaymentToken(t.Context(), account)
				require.NoError(t, err)
				assert.True(t, e.srv.PaymentTokenValid(tok.Reveal()))
				auths = e.srv.PaymentAuthorizations()
				require.Len(t, auths, 2)
				assertRoles(t, auths[1], pm.roles, pm.payer, epsActive, custMID, manifestMID)

				// A label goes on that token: the payer is charged the
				// customer's contract price.
				res, err := e.linker.BuyLabel(t.Context(), account, labelPurchase(e, "order-"+pm.name))
				require.NoError(t, err)
				assert.True(t, res.Price.OK())
				charges := e.srv.LabelCharges()
				require.Len(t, charges, 1)
				assert.Equal(t, pm.payer.AccountNumber, charges[0].EPS)
				assert.True(t, charges[0].Contract)
			})
		}
	}
}

// TestUnfundedRateCard: an EPA without a payment method (USPS 100003 as
// PAYER) holds the NSA prices fine when the platform pays, and needs the
// customer's action when the customer pays.
func TestUnfundedRateCard(t *testing.T) {
	for storeName, open := range sqlStores(t) {
		t.Run(storeName+"/platform pays", func(t *testing.T) {
			e := newEnv(t, open(t), linking.WithPaymentModel(linking.PaymentModel{Payer: linking.PayerPlatform, PlatformEPS: epsPlatform}))
			e.linkAccount(account)
			st, err := e.linker.SubmitCredentials(t.Context(), account, creds(epsNoMethod))
			require.NoError(t, err)
			assert.Equal(t, linking.StateActive, st.State, st.LastError)
			auths := e.srv.PaymentAuthorizations()
			require.Len(t, auths, 1)
			rh, _ := auths[0].Role("RATE_HOLDER")
			assert.Equal(t, epsNoMethod, rh.AccountNumber)
			p, _ := auths[0].Role("PAYER")
			assert.Equal(t, epsPlatform, p.AccountNumber)
		})
		t.Run(storeName+"/customer pays", func(t *testing.T) {
			e := newEnv(t, open(t))
			e.linkAccount(account)
			st, err := e.linker.SubmitCredentials(t.Context(), account, creds(epsNoMethod))
			require.NoError(t, err)
			assert.Equal(t, linking.StateActionRequired, st.State)
			assert.Equal(t, linking.ReasonNoPaymentMethod, st.Reason)
			auths := e.srv.PaymentAuthorizations()
			require.Len(t, auths, 1)
			assert.Equal(t, []string{"100003"}, auths[0].Codes)
		})
	}
}

// TestPlatformAccountProblemIsNotTheCustomers: when the platform's own
// paying EPA fails, the link stays pending (the reconciler retries) with
// ErrPlatformAccount, instead of asking the customer to fix anything; once
// the platform funds it, the link activates.
func TestPlatformAccountProblemIsNotTheCustomers(t *testing.T) {
	e := newEnv(t, nil, linking.WithPaymentModel(linking.PaymentModel{Payer: linking.PayerPlatform, PlatformEPS: epsPlatform}))
	require.NoError(t, e.srv.SetEPAState(epsPlatform, uspsbiztest.EPAInsufficientTrust))
	e.linkAccount(account)
	st, err := e.linker.SubmitCredentials(t.Context(), account, creds(epsActive))
	require.NoError(t, err)
	assert.Equal(t, linking.StateApprovalPending, st.State)
	assert.Equal(t, linking.ReasonNone, st.Reason)
	assert.Contains(t, st.LastError, "platform's payment account")
	_, err = e.linker.Verify(t.Context(), account)
	require.ErrorIs(t, err, linking.ErrPlatformAccount)

	require.NoError(t, e.srv.SetEPAState(epsPlatform, uspsbiztest.EPAActive))
	st, err = e.linker.Verify(t.Context(), account)
	require.NoError(t, err)
	assert.Equal(t, linking.StateActive, st.State)
}

// TestReturnsMIDRequiredAndChecked: with return labels, the returns MID is
// required (a typed error naming it, nothing stored) and USPS's refusal of
// it is the customer's to fix.
func TestReturnsMIDRequiredAndChecked(t *testing.T) {
	e := newEnv(t, nil, linking.WithPaymentModel(linking.PaymentModel{Returns: true}))
	e.linkAccount(account)
	before := len(e.srv.Requests())
	_, err := e.linker.SubmitCredentials(t.Context(), account, creds(epsActive))
	var ce *linking.CredentialsError
	require.ErrorAs(t, err, &ce)
	require.Len(t, ce.Fields, 1)
	assert.Equal(t, "returns_mid", ce.Fields[0].Field)
	assert.Len(t, e.srv.Requests(), before, "no USPS call")
	s, _ := e.state(account)
	assert.Equal(t, linking.StateAwaitingCredentials, s, "nothing stored")

	// A returns MID not enrolled in USPS Ship Returns (the outbound MID).
	in := creds(epsActive)
	in.ReturnsMID = custMID
	st, err := e.linker.SubmitCredentials(t.Context(), account, in)
	require.NoError(t, err)
	assert.Equal(t, linking.StateActionRequired, st.State)
	assert.Equal(t, linking.ReasonCRIDNotEnrolled, st.Reason)
	v, err := linking.CheckCredentialsFor(t.Context(), e.usps, in, linking.PaymentModel{Returns: true}, platformCRID)
	require.NoError(t, err)
	assert.Equal(t, linking.VerdictRejected, v.Fields()["returns_mid"].Verdict)
	assert.Equal(t, linking.VerdictUnchecked, v.Fields()["mid"].Verdict, "not the outbound MID's fault")
	assert.Equal(t, linking.VerdictValid, v.Fields()["eps"].Verdict, "the EPA lookup cleared it")
}

// TestLocations: a 3PL links two locations; each is checked with its own
// MIDs and EPA, has its own payment token, and a label bought for a
// location is charged to its EPA.
func TestLocations(t *testing.T) {
	for storeName, open := range sqlStores(t) {
		t.Run(storeName, func(t *testing.T) {
			e := newEnv(t, open(t))
			e.linkAccount(account)
			in := creds(epsActive)
			in.NSAContract = "NSA-2026-0042"
			in.Locations = []linking.LocationInput{{Label: "East DC", MID: eastMID, ManifestMID: eastManifestMID, EPS: epsEast}}
			st, err := e.linker.SubmitCredentials(t.Context(), account, in)
			require.NoError(t, err)
			require.Equal(t, linking.StateActive, st.State, st.LastError)
			assert.Equal(t, []string{"East DC"}, st.Locations)
			assert.Equal(t, "NSA-2026-0042", st.NSAContract)
			auths := e.srv.PaymentAuthorizations()
			require.Len(t, auths, 2, "one check per location")
			lo, _ := auths[1].Role("LABEL_OWNER")
			assert.Equal(t, eastMID, lo.MID)
			rh, _ := auths[1].Role("RATE_HOLDER")
			assert.Equal(t, epsEast, rh.AccountNumber)

			// Both EPS numbers are sealed at rest.
			raw, err := e.store.GetLink(t.Context(), account)
			require.NoError(t, err)
			require.Len(t, raw.Locations, 1)
			assert.Empty(t, raw.Locations[0].EPSAccount)
			assert.NotEmpty(t, raw.Locations[0].SealedEPS)
			assert.NotEmpty(t, raw.Locations[0].PaymentToken, "the location's token is cached")

			east, _, err := e.linker.PaymentTokenAt(t.Context(), account, "East DC")
			require.NoError(t, err)
			def, _, err := e.linker.PaymentToken(t.Context(), account)
			require.NoError(t, err)
			assert.NotEqual(t, def, east)
			assert.Len(t, e.srv.PaymentAuthorizations(), 2, "both cached")
			_, _, err = e.linker.PaymentTokenAt(t.Context(), account, "West")
			require.ErrorIs(t, err, linking.ErrUnknownLocation)

			p := labelPurchase(e, "east-1")
			p.Location = "East DC"
			_, err = e.linker.BuyLabel(t.Context(), account, p)
			require.NoError(t, err)
			charges := e.srv.LabelCharges()
			require.Len(t, charges, 1)
			assert.Equal(t, epsEast, charges[0].EPS)
		})
	}
}

// TestLocationValidation: every bad location field is named.
func TestLocationValidation(t *testing.T) {
	e := newEnv(t, nil)
	e.linkAccount(account)
	in := creds(epsActive)
	in.NSAContract = "bad;contract"
	in.Locations = []linking.LocationInput{
		{Label: "East", MID: eastMID, EPS: epsEast},
		{Label: "East", MID: "12", EPS: "1"},
		{Label: "", MID: eastMID, ManifestMID: "x", EPS: epsEast},
	}
	_, err := e.linker.SubmitCredentials(t.Context(), account, in)
	var ce *linking.CredentialsError
	require.ErrorAs(t, err, &ce)
	var fields []string
	for _, f := range ce.Fields {
		fields = append(fields, f.Field)
		assert.True(t, errors.Is(f.Err, usps.ErrInvalidIdentifier))
	}
	assert.Equal(t, []string{"nsa_contract", "locations[1].label", "locations[1].mid", "locations[1].eps",
		"locations[2].label", "locations[2].manifest_mid"}, fields)
	s, _ := e.state(account)
	assert.Equal(t, linking.StateAwaitingCredentials, s)
}

func TestWithPaymentModelValidation(t *testing.T) {
	e := newEnv(t, nil)
	for _, m := range []linking.PaymentModel{
		{Payer: linking.PayerPlatform},                     // no platform EPS
		{Payer: linking.PayerPlatform, PlatformEPS: "123"}, // malformed
		{PlatformEPS: epsPlatform},                         // EPS without platform paying
		{Payer: "someone", PlatformEPS: epsPlatform},       // unknown payer
	} {
		_, err := linking.New(e.client(), e.store, e.sealer, linking.WithRedirectURI(redirectURI),
			linking.WithPlatform("Acme Ship", platformCRID), linking.WithPaymentModel(m))
		assert.Error(t, err, "%+v", m.Payer)
	}
}

// TestLocationsRotateAndStaySecret: a location's EPS number and payment
// token are rewrapped by RewrapAll (and open without the retired key
// afterwards), and the number never shows in logs or a printed link.
func TestLocationsRotateAndStaySecret(t *testing.T) {
	e := newEnv(t, nil)
	e.linkAccount(account)
	in := creds(epsActive)
	in.Locations = []linking.LocationInput{{Label: "East", MID: eastMID, EPS: epsEast}}
	st, err := e.linker.SubmitCredentials(t.Context(), account, in)
	require.NoError(t, err)
	require.Equal(t, linking.StateActive, st.State, st.LastError)
	raw, err := e.store.GetLink(t.Context(), account)
	require.NoError(t, err)
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", raw, raw, *raw), epsEast)
	assert.NotContains(t, e.logs.String(), epsEast)
	before, _, err := e.linker.PaymentTokenAt(t.Context(), account, "East")
	require.NoError(t, err)

	newKey := make([]byte, 32)
	newKey[0] = 7
	rotated, err := linking.NewAESGCMSealer("k2", map[string][]byte{"k1": e.key, "k2": newKey})
	require.NoError(t, err)
	n, err := linking.RewrapAll(t.Context(), e.store, rotated)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	raw, err = e.store.GetLink(t.Context(), account)
	require.NoError(t, err)
	for _, ct := range [][]byte{raw.Locations[0].SealedEPS, raw.Locations[0].PaymentToken} {
		id, err := linking.SealedKeyID(ct)
		require.NoError(t, err)
		assert.Equal(t, "k2", id)
	}

	retired, err := linking.NewAESGCMSealer("k2", map[string][]byte{"k2": newKey})
	require.NoError(t, err)
	e.sealer = retired
	l := e.newLinker(e.store)
	calls := len(e.srv.PaymentAuthorizations())
	after, _, err := l.PaymentTokenAt(t.Context(), account, "East")
	require.NoError(t, err)
	assert.Equal(t, before, after, "the cached token opens under the new key")
	assert.Len(t, e.srv.PaymentAuthorizations(), calls)
	eps, err := linking.OpenEPS(retired, raw)
	require.NoError(t, err)
	assert.Equal(t, epsActive, eps.Reveal())
	// The location's number opens through the Linker: a label charges it.
	_, err = l.BuyLabel(t.Context(), account, func() linking.LabelPurchase {
		p := labelPurchase(e, "east-rotated")
		p.Location = "East"
		return p
	}())
	require.NoError(t, err)
	assert.Equal(t, epsEast, e.srv.LabelCharges()[0].EPS)
}

// TestReturnsTurnedOnLater: links activated before a host turns return
// labels on keep renewing their payment token (outbound roles only) until
// the customer gives a returns MID; then the return roles are sent.
func TestReturnsTurnedOnLater(t *testing.T) {
	for storeName, open := range sqlStores(t) {
		t.Run(storeName, func(t *testing.T) {
			e := newEnv(t, open(t))
			e.linkAccount(account)
			st, err := e.linker.SubmitCredentials(t.Context(), account, creds(epsActive))
			require.NoError(t, err)
			require.Equal(t, linking.StateActive, st.State)

			l := e.newLinker(e.store, linking.WithPaymentModel(linking.PaymentModel{Returns: true}))
			e.srv.Advance(8 * time.Hour)
			_, _, err = l.PaymentToken(t.Context(), account)
			require.NoError(t, err)
			auths := e.srv.PaymentAuthorizations()
			assert.Equal(t, paymentModels[0].roles, auths[len(auths)-1].RoleNames())
			_, err = l.BuyLabel(t.Context(), account, labelPurchase(e, "still-works"))
			require.NoError(t, err)

			in := creds(epsActive)
			in.ReturnsMID = returnsMID
			st, err = l.SubmitCredentials(t.Context(), account, in)
			require.NoError(t, err)
			require.Equal(t, linking.StateActive, st.State, st.LastError)
			auths = e.srv.PaymentAuthorizations()
			assertRoles(t, auths[len(auths)-1], paymentModels[2].roles, paymentModels[2].payer, epsActive, custMID, manifestMID)
		})
	}
}

func TestIdentityMessages(t *testing.T) {
	m := linking.PaymentModel{Returns: true}
	e := newEnv(t, nil, linking.WithPaymentModel(m))
	e.linkAccount(account)
	in := creds(epsActive)
	in.ReturnsMID = "12"
	in.Locations = []linking.LocationInput{{Label: "East", MID: eastMID, EPS: "123"}}
	_, err := e.linker.SubmitCredentials(t.Context(), account, in)
	var ce *linking.CredentialsError
	require.ErrorAs(t, err, &ce)
	got := map[string]string{}
	for _, f := range ce.Fields {
		got[f.Field] = f.Message
	}
	assert.Equal(t, "returns MID: must be 6 or 9 digits, not 2", got["returns_mid"])
	assert.Equal(t, "location 1: EPS account: must be 10 digits, not 3", got["locations[0].eps"])
}
