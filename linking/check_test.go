package linking_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// EPAs in the states newEnv does not seed.
const (
	epsMethodOff = "1000000014"
	epsCardCheck = "1000000016"
	epsLowTrust  = "1000000017"
	epsUnknown   = "1999999999"
	epsCanary    = "100000000" // prefix no reason may show
)

// newCheckEnv is newEnv with an EPA in every state.
func newCheckEnv(t *testing.T) *env {
	e := newEnv(t, nil)
	for _, a := range []uspsbiztest.EPA{
		{AccountNumber: epsMethodOff, State: uspsbiztest.EPAPaymentMethodInactive},
		{AccountNumber: epsCardCheck, State: uspsbiztest.EPACardInvalid},
		{AccountNumber: epsLowTrust, State: uspsbiztest.EPAInsufficientTrust},
	} {
		require.NoError(t, e.srv.AddEPA(username, a))
	}
	return e
}

// TestCheckCredentialsCallCounts measures the Payments calls of every path
// on the fake; the numbers are those of checkCredentials's doc.
func TestCheckCredentialsCallCounts(t *testing.T) {
	V, M, R, U := linking.VerdictValid, linking.VerdictMalformed, linking.VerdictRejected, linking.VerdictUnchecked
	for _, tc := range []struct {
		name                    string
		in                      linking.CredentialsInput
		crid, mid, manifest, ep linking.Verdict
		epa                     string // USPS's EPA code, "active", or "" when not checked
		calls                   int
	}{
		{"happy", creds(epsActive), V, V, V, V, "active", 1},
		{"pasted with dashes", linking.CredentialsInput{CRID: "5678-1234", MID: " 901 234 567 ", ManifestMID: "902-345-678", EPS: "1000-0000-01"}, V, V, V, V, "active", 1},
		{"malformed EPS", creds("12345"), U, U, U, M, "", 0},
		// An empty manifest MID means "the MID": it is not malformed itself.
		{"all malformed", linking.CredentialsInput{CRID: "x", MID: "1", ManifestMID: "", EPS: "y"}, M, M, U, M, "", 0},
		{"EPA not found", creds(epsUnknown), U, U, U, R, "100001", 1},
		{"EPA pending ACH", creds(epsACH), U, U, U, R, "100002", 1},
		{"EPA no payment method", creds(epsNoMethod), U, U, U, R, "100003", 1},
		{"EPA payment method inactive", creds(epsMethodOff), U, U, U, R, "100004", 1},
		{"EPA card trouble", creds(epsCardCheck), U, U, U, R, "100006", 1},
		{"EPA low trust", creds(epsLowTrust), U, U, U, R, "100007", 1},
		{"MID not enrolled", linking.CredentialsInput{CRID: custCRID, MID: "123456", ManifestMID: manifestMID, EPS: epsActive}, U, R, U, V, "active", 2},
		{"manifest MID not enrolled", linking.CredentialsInput{CRID: custCRID, MID: custMID, ManifestMID: "654321", EPS: epsActive}, U, U, R, V, "active", 2},
		{"CRID unknown", linking.CredentialsInput{CRID: "11112222", MID: custMID, ManifestMID: manifestMID, EPS: epsActive}, R, U, U, V, "active", 2},
		{"MID not enrolled and EPA pending", linking.CredentialsInput{CRID: custCRID, MID: "123456", ManifestMID: manifestMID, EPS: epsACH}, U, R, U, R, "100002", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newCheckEnv(t)
			_, err := e.usps.PlatformToken(t.Context()) // token call out of the count
			require.NoError(t, err)
			v, err := linking.CheckCredentials(t.Context(), e.usps, tc.in, platformCRID)
			require.NoError(t, err)
			assert.Equal(t, tc.crid, v.CRID.Verdict, "CRID %+v", v.CRID)
			assert.Equal(t, tc.mid, v.MID.Verdict, "MID %+v", v.MID)
			assert.Equal(t, tc.manifest, v.ManifestMID.Verdict, "manifest %+v", v.ManifestMID)
			assert.Equal(t, tc.ep, v.EPS.Verdict, "EPS %+v", v.EPS)
			assert.Equal(t, tc.epa == "active", v.EPAActive)
			if tc.epa != "active" {
				assert.Equal(t, tc.epa, v.EPACode)
			}
			assert.Equal(t, tc.calls, e.srv.Count("/payments/"), "USPS calls")
			assert.Equal(t, tc.calls, v.Calls)
			assert.Equal(t, tc.name == "happy" || tc.name == "pasted with dashes", v.OK())
			if v.OK() {
				require.NotNil(t, v.Payment)
				assert.True(t, e.srv.PaymentTokenValid(v.Payment.Token.Reveal()))
			} else {
				assert.Nil(t, v.Payment)
			}
			for name, f := range v.Fields() {
				if f.Verdict == R || f.Verdict == M {
					assert.NotEmpty(t, f.Reason, name)
				}
				assert.NotContains(t, f.Reason, epsCanary)
			}
		})
	}
}

func TestCheckCredentialsErrors(t *testing.T) {
	e := newCheckEnv(t)
	_, err := linking.New(e.usps, e.store, e.sealer, linking.WithRedirectURI(redirectURI), linking.WithPlatform("Acme Ship", "x"))
	require.Error(t, err, "bad platform CRID")

	_, err = linking.CheckCredentials(t.Context(), e.usps, creds(epsActive), "1234567")
	require.Error(t, err, "wrong platform CRID is the platform's problem")
	assert.Contains(t, err.Error(), "PLATFORM")

	e.srv.InjectFault(uspsbiztest.Fault{Match: "POST /payments/", Status: 429, RetryAfter: "3600"})
	_, err = linking.CheckCredentials(t.Context(), e.usps, creds(epsActive), platformCRID)
	require.ErrorIs(t, err, uspsbiz.ErrRateLimited)

	// A budget refusal costs no USPS call.
	b, err := uspsbiz.New(uspsbiz.WithEnvironment(uspsbiz.Environment(e.srv.URL)), uspsbiz.WithClock(e.srv.Now),
		uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: clientID, ClientSecret: clientSecret}),
		uspsbiz.WithBudget(uspsbiz.APIPayments, uspsbiz.Budget{PerHour: 1}))
	require.NoError(t, err)
	_, err = linking.CheckCredentials(t.Context(), b, creds(epsActive), platformCRID)
	require.NoError(t, err)
	n := e.srv.Count("/payments/")
	_, err = linking.CheckCredentials(t.Context(), b, creds(epsActive), platformCRID)
	require.ErrorIs(t, err, uspsbiz.ErrRateLimited)
	assert.Equal(t, n, e.srv.Count("/payments/"))

	// A rejection USPS does not tie to a field is returned as is.
	e.srv.InjectFault(uspsbiztest.Fault{Match: "POST /payments/", Status: 400})
	_, err = linking.CheckCredentials(t.Context(), e.usps, creds(epsActive), platformCRID)
	var ae *uspsbiz.APIError
	require.ErrorAs(t, err, &ae)
}
