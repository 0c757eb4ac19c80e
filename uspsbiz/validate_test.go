package uspsbiz_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

func goodCreds(account string) uspsbiz.AccountCredentials {
	return uspsbiz.AccountCredentials{CRID: testCRID, MID: testMID, ManifestMID: testManifestMID, EPS: account}
}

// TestValidateCredentialsCallCounts measures the Payments calls of every
// path on the fake; the numbers are those of ValidateCredentials's doc.
func TestValidateCredentialsCallCounts(t *testing.T) {
	V, M, R, U := uspsbiz.VerdictValid, uspsbiz.VerdictMalformed, uspsbiz.VerdictRejected, uspsbiz.VerdictUnchecked
	for _, tc := range []struct {
		name                    string
		in                      uspsbiz.AccountCredentials
		crid, mid, manifest, ep uspsbiz.Verdict
		epa                     uspsbiz.EPAStatus
		calls                   int
	}{
		{"happy", goodCreds(epsActive), V, V, V, V, uspsbiz.EPAActive, 1},
		{"pasted with dashes", uspsbiz.AccountCredentials{CRID: "5678-1234", MID: " 901 234 567 ", ManifestMID: "902-345-678", EPS: "1000-0000-01"}, V, V, V, V, uspsbiz.EPAActive, 1},
		{"malformed EPS", goodCreds("12345"), U, U, U, M, "", 0},
		{"all malformed", uspsbiz.AccountCredentials{CRID: "x", MID: "1", ManifestMID: "", EPS: "y"}, M, M, M, M, "", 0},
		{"EPA not found", goodCreds(epsUnknown), U, U, U, R, uspsbiz.EPANotFound, 1},
		{"EPA pending ACH", goodCreds(epsPendingACH), U, U, U, R, uspsbiz.EPANotActive, 1},
		{"EPA no payment method", goodCreds(epsNoMethod), U, U, U, R, uspsbiz.EPANoPrimaryPaymentMethod, 1},
		{"EPA payment method inactive", goodCreds(epsMethodOff), U, U, U, R, uspsbiz.EPAPaymentMethodNotActive, 1},
		{"EPA card trouble", goodCreds(epsCardCheck), U, U, U, R, uspsbiz.EPACardTrouble, 1},
		{"EPA low trust", goodCreds(epsLowTrust), U, U, U, R, uspsbiz.EPAInsufficientTrust, 1},
		{"MID not enrolled", uspsbiz.AccountCredentials{CRID: testCRID, MID: "123456", ManifestMID: testManifestMID, EPS: epsActive}, U, R, U, V, uspsbiz.EPAActive, 2},
		{"manifest MID not enrolled", uspsbiz.AccountCredentials{CRID: testCRID, MID: testMID, ManifestMID: "654321", EPS: epsActive}, U, U, R, V, uspsbiz.EPAActive, 2},
		{"CRID unknown", uspsbiz.AccountCredentials{CRID: "11112222", MID: testMID, ManifestMID: testManifestMID, EPS: epsActive}, R, U, U, V, uspsbiz.EPAActive, 2},
		{"MID not enrolled and EPA pending", uspsbiz.AccountCredentials{CRID: testCRID, MID: "123456", ManifestMID: testManifestMID, EPS: epsPendingACH}, U, R, U, R, uspsbiz.EPANotActive, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newPaymentsFake(t)
			c := newClient(t, srv)
			_, err := c.PlatformToken(t.Context()) // token call out of the count
			require.NoError(t, err)
			v, err := c.ValidateCredentials(t.Context(), tc.in, testPlatformCRID)
			require.NoError(t, err)
			assert.Equal(t, tc.crid, v.CRID.Verdict, "CRID %+v", v.CRID)
			assert.Equal(t, tc.mid, v.MID.Verdict, "MID %+v", v.MID)
			assert.Equal(t, tc.manifest, v.ManifestMID.Verdict, "manifest %+v", v.ManifestMID)
			assert.Equal(t, tc.ep, v.EPS.Verdict, "EPS %+v", v.EPS)
			assert.Equal(t, tc.epa, v.EPA)
			assert.Equal(t, tc.calls, srv.Count("/payments/"), "USPS calls")
			assert.Equal(t, tc.calls, v.Calls)
			assert.Equal(t, tc.name == "happy" || tc.name == "pasted with dashes", v.OK())
			if v.OK() {
				require.NotNil(t, v.Payment)
				assert.True(t, srv.PaymentTokenValid(v.Payment.Token.Reveal()))
			} else {
				assert.Nil(t, v.Payment)
			}
			for name, f := range v.Fields() {
				if f.Verdict == R || f.Verdict == M {
					assert.NotEmpty(t, f.Reason, name)
				}
				assert.NotContains(t, f.Reason, testEPSCanaryTxt)
			}
		})
	}
}

func TestValidateCredentialsErrors(t *testing.T) {
	srv := newPaymentsFake(t)
	c := newClient(t, srv)
	_, err := c.ValidateCredentials(t.Context(), goodCreds(epsActive), "x")
	require.Error(t, err, "bad platform CRID")

	_, err = c.ValidateCredentials(t.Context(), goodCreds(epsActive), "1234567")
	require.Error(t, err, "wrong platform CRID is the platform's problem")
	assert.Contains(t, err.Error(), "PLATFORM")

	srv.InjectFault(uspsbiztest.Fault{Match: "POST /payments/", Status: 429, RetryAfter: "3600"})
	_, err = c.ValidateCredentials(t.Context(), goodCreds(epsActive), testPlatformCRID)
	require.ErrorIs(t, err, uspsbiz.ErrRateLimited)

	// A budget refusal costs no USPS call.
	b := newClient(t, srv, uspsbiz.WithBudget(uspsbiz.APIPayments, uspsbiz.Budget{PerHour: 1}))
	_, err = b.ValidateCredentials(t.Context(), goodCreds(epsActive), testPlatformCRID)
	require.NoError(t, err)
	n := srv.Count("/payments/")
	_, err = b.ValidateCredentials(t.Context(), goodCreds(epsActive), testPlatformCRID)
	require.ErrorIs(t, err, uspsbiz.ErrRateLimited)
	assert.Equal(t, n, srv.Count("/payments/"))

	// A rejection USPS does not tie to a field is returned as is.
	srv.InjectFault(uspsbiztest.Fault{Match: "POST /payments/", Status: 400})
	_, err = c.ValidateCredentials(t.Context(), goodCreds(epsActive), testPlatformCRID)
	var ae *uspsbiz.APIError
	require.ErrorAs(t, err, &ae)
}
