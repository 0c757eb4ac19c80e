package uspsbiz_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// Identifiers of the business account newFake seeds, and EPAs in every
// state added by newPaymentsFake.
const (
	testCRID         = "56781234"
	testMID          = "901234567"
	testManifestMID  = "902345678"
	testPlatformCRID = "9999001"

	epsActive        = "1000000001"
	epsPendingACH    = "1000000002"
	epsNoMethod      = "1000000003"
	epsMethodOff     = "1000000004"
	epsCardLater     = "1000000005"
	epsCardCheck     = "1000000006"
	epsLowTrust      = "1000000007"
	epsInactive      = "1000000008"
	epsUnknown       = "1999999999"
	epsActiveFunded  = "1000000009"
	testEPSCanaryTxt = "100000000" // prefix no log or error may show
)

var testClock = time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)

func newPaymentsFake(t testing.TB, opts ...uspsbiztest.Option) *uspsbiztest.Server {
	t.Helper()
	srv := newFake(t, append([]uspsbiztest.Option{uspsbiztest.WithTime(testClock)}, opts...)...)
	for _, e := range []uspsbiztest.EPA{
		{AccountNumber: epsActive},
		{AccountNumber: epsPendingACH, State: uspsbiztest.EPAPendingACH, MicroDebits: [2]int{17, 42}},
		{AccountNumber: epsNoMethod, State: uspsbiztest.EPANoPaymentMethod},
		{AccountNumber: epsMethodOff, State: uspsbiztest.EPAPaymentMethodInactive},
		{AccountNumber: epsCardLater, State: uspsbiztest.EPACardUnavailable},
		{AccountNumber: epsCardCheck, State: uspsbiztest.EPACardInvalid},
		{AccountNumber: epsLowTrust, State: uspsbiztest.EPAInsufficientTrust},
		{AccountNumber: epsInactive, State: uspsbiztest.EPAInactive},
		{AccountNumber: epsActiveFunded, Funds: 10000, NonProfit: true},
	} {
		require.NoError(t, srv.AddEPA(testUser, e))
	}
	return srv
}

func eps(t *testing.T, s string) usps.EPSAccount {
	t.Helper()
	a, err := usps.ParseEPSAccount(s)
	require.NoError(t, err)
	return a
}

func TestLookupEPAStatuses(t *testing.T) {
	srv := newPaymentsFake(t)
	c := newClient(t, srv)
	for _, tc := range []struct {
		account string
		code    string
	}{
		{epsActive, ""},
		{epsUnknown, "100001"},
		{epsPendingACH, "100002"},
		{epsInactive, "100002"},
		{epsNoMethod, "100003"},
		{epsMethodOff, "100004"},
		{epsCardLater, "100005"},
		{epsCardCheck, "100006"},
		{epsLowTrust, "100007"},
	} {
		t.Run(tc.code, func(t *testing.T) {
			epa, err := c.LookupEPA(t.Context(), eps(t, tc.account))
			require.NoError(t, err)
			assert.Equal(t, tc.code == "", epa.Active)
			assert.Equal(t, tc.code, epa.Code)
			if tc.code != "" {
				require.NotNil(t, epa.Err)
				assert.NotContains(t, epa.Err.Error(), testEPSCanaryTxt)
				assert.Equal(t, "/payments/v3/payment-account/{accountNumber}", epa.Err.Route)
			}
		})
	}
	// A bare 404 (no code) is "not found" too.
	srv.InjectFault(uspsbiztest.Fault{Match: "GET /payments/v3/payment-account/", Status: 404})
	epa, err := c.LookupEPA(t.Context(), eps(t, epsActive))
	require.NoError(t, err)
	assert.False(t, epa.Active)
	assert.Equal(t, "100001", epa.Code)
	assert.Equal(t, 404, epa.Err.StatusCode)
	// Other failures are errors.
	srv.InjectFault(uspsbiztest.Fault{Match: "GET /payments/v3/payment-account/", Status: 403})
	_, err = c.LookupEPA(t.Context(), eps(t, epsActive))
	require.ErrorIs(t, err, uspsbiz.ErrNotEntitled)
	assert.NotContains(t, err.Error(), testEPSCanaryTxt)
	// Not canonical: refused before any call.
	n := srv.Count("/payments/")
	_, err = c.LookupEPA(t.Context(), usps.EPSAccount("12"))
	require.ErrorIs(t, err, usps.ErrInvalidIdentifier)
	assert.Equal(t, n, srv.Count("/payments/"))
}

func TestLookupEPAUsesPlatformToken(t *testing.T) {
	srv := newPaymentsFake(t)
	c := newClient(t, srv)
	tok := link(t, srv, c, "")
	m := c.ForMerchant(oauth2.StaticTokenSource(tok.OAuth2()))
	_, err := m.LookupEPA(t.Context(), eps(t, epsActive))
	require.NoError(t, err)
	reqs := srv.Requests()
	last := reqs[len(reqs)-1]
	assert.Regexp(t, `^Bearer platform-`, last.Header.Get("Authorization"))
}

func TestCheckFunds(t *testing.T) {
	srv := newPaymentsFake(t)
	c := newClient(t, srv)
	epa, err := c.CheckFunds(t.Context(), eps(t, epsActiveFunded), 9999)
	require.NoError(t, err)
	require.NotNil(t, epa.SufficientFunds)
	assert.True(t, *epa.SufficientFunds)
	assert.True(t, epa.NonProfit)
	assert.Equal(t, "99.99", srv.Requests()[len(srv.Requests())-1].Query.Get("amount"))
	epa, err = c.CheckFunds(t.Context(), eps(t, epsActiveFunded), 10001)
	require.NoError(t, err)
	assert.False(t, *epa.SufficientFunds)
	_, err = c.CheckFunds(t.Context(), eps(t, epsActiveFunded), -1)
	require.Error(t, err)
}

func TestPendingACHActivatesAfterMicroDebits(t *testing.T) {
	srv := newPaymentsFake(t)
	c := newClient(t, srv)
	epa, err := c.LookupEPA(t.Context(), eps(t, epsPendingACH))
	require.NoError(t, err)
	assert.False(t, epa.Active)
	assert.Equal(t, "100002", epa.Code)

	require.ErrorIs(t, srv.VerifyMicroDebits(epsPendingACH, 17, 41), uspsbiztest.ErrMicroDebitMismatch)
	require.NoError(t, srv.VerifyMicroDebits(epsPendingACH, 42, 17))
	epa, err = c.LookupEPA(t.Context(), eps(t, epsPendingACH))
	require.NoError(t, err)
	assert.True(t, epa.Active)
	require.Error(t, srv.VerifyMicroDebits(epsPendingACH, 42, 17), "no longer pending")

	// Random debits are under $1.00.
	require.NoError(t, srv.AddEPA(testUser, uspsbiztest.EPA{AccountNumber: "1000000077", State: uspsbiztest.EPAPendingACH}))
	e, ok := srv.EPA("1000000077")
	require.True(t, ok)
	for _, d := range e.MicroDebits {
		assert.True(t, d >= 1 && d <= 99, d)
	}
	require.NoError(t, srv.VerifyMicroDebits("1000000077", e.MicroDebits[0], e.MicroDebits[1]))
}

// Role constructors, as a caller writes them.
func payer(crid usps.CRID, a usps.EPSAccount) uspsbiz.Role {
	return uspsbiz.Role{Name: uspsbiz.RolePayer, CRID: crid, AccountType: uspsbiz.AccountEPS, Account: a}
}

func epsRole(name uspsbiz.RoleName, crid usps.CRID, a usps.EPSAccount) uspsbiz.Role {
	return uspsbiz.Role{Name: name, CRID: crid, AccountType: uspsbiz.AccountEPS, Account: a}
}

func labelOwner(crid usps.CRID, mid, man usps.MID) uspsbiz.Role {
	return uspsbiz.Role{Name: uspsbiz.RoleLabelOwner, CRID: crid, MID: mid, ManifestMID: man}
}

func roles(rs ...uspsbiz.Role) uspsbiz.PaymentRequest { return uspsbiz.PaymentRequest{Roles: rs} }

func allRoles(t *testing.T) uspsbiz.PaymentRequest {
	crid, mid, man := usps.CRID(testCRID), usps.MID(testMID), usps.MID(testManifestMID)
	a := eps(t, epsActive)
	return roles(payer(crid, a), epsRole(uspsbiz.RoleRateHolder, crid, a), labelOwner(crid, mid, man),
		uspsbiz.Role{Name: uspsbiz.RolePlatform, CRID: testPlatformCRID},
		uspsbiz.Role{Name: uspsbiz.RoleShipper, CRID: crid}, uspsbiz.Role{Name: uspsbiz.RoleMailOwner, CRID: crid},
		epsRole(uspsbiz.RoleReturnLabelPayer, crid, a), epsRole(uspsbiz.RoleReturnLabelRateHolder, crid, a),
		uspsbiz.Role{Name: uspsbiz.RoleReturnLabelOwner, CRID: crid, MID: mid, ManifestMID: man},
		epsRole(uspsbiz.RoleLabelProvider, testPlatformCRID, a))
}

func TestRolesRules(t *testing.T) {
	crid, mid, man := usps.CRID(testCRID), usps.MID(testMID), usps.MID(testManifestMID)
	a := eps(t, epsActive)
	base := func(more ...uspsbiz.Role) uspsbiz.PaymentRequest {
		return roles(append([]uspsbiz.Role{payer(crid, a), labelOwner(crid, mid, man)}, more...)...)
	}
	platform := func(c usps.CRID) uspsbiz.Role { return uspsbiz.Role{Name: uspsbiz.RolePlatform, CRID: c} }
	require.NoError(t, uspsbiz.CheckPaymentRequest(allRoles(t)))
	require.NoError(t, uspsbiz.CheckPaymentRequest(base()))
	require.NoError(t, uspsbiz.CheckPaymentRequest(uspsbiz.PaymentRequest{Roles: []uspsbiz.Role{labelOwner(crid, mid, man)}, PCPostage: true}),
		"PC Postage flow needs no PAYER")
	require.NoError(t, uspsbiz.CheckPaymentRequest(uspsbiz.PaymentRequest{PCPostage: true, Roles: []uspsbiz.Role{labelOwner(crid, mid, man),
		{Name: uspsbiz.RolePayer, CRID: crid, AccountType: uspsbiz.AccountMeter, Account: "55"}}}), "METER in the PC Postage flow")
	meterNoNumber := base(uspsbiz.Role{Name: uspsbiz.RoleRateHolder, CRID: crid, AccountType: uspsbiz.AccountMeter})
	meterNoNumber.PCPostage = true

	for _, tc := range []struct {
		name  string
		roles uspsbiz.PaymentRequest
		code  string
	}{
		{"empty", roles(), "160229"},
		{"no label owner", roles(payer(crid, a)), "160229"},
		{"no payer", roles(labelOwner(crid, mid, man)), "160228"},
		{"duplicate", base(payer(crid, a)), "160227"},
		{"duplicate platform", base(platform(crid), platform(crid)), "160227"},
		{"no role name", base(uspsbiz.Role{CRID: crid}), "160219"},
		{"unknown role", base(uspsbiz.Role{Name: "LOGISTICS_MANAGER", CRID: crid}), "160219"},
		{"no CRID", base(platform("")), "160218"},
		{"bad CRID", base(platform("1")), "160218"},
		{"label owner no MID", roles(payer(crid, a), labelOwner(crid, "", man)), "160221"},
		{"label owner bad MID", roles(payer(crid, a), labelOwner(crid, "912345", man)), "160221"},
		{"label owner no manifest", roles(payer(crid, a), labelOwner(crid, mid, "")), "160222"},
		{"return owner no manifest", base(uspsbiz.Role{Name: uspsbiz.RoleReturnLabelOwner, CRID: crid, MID: mid}), "160222"},
		{"payer no account type", roles(labelOwner(crid, mid, man), uspsbiz.Role{Name: uspsbiz.RolePayer, CRID: crid}), "160223"},
		{"rate holder no account type", base(uspsbiz.Role{Name: uspsbiz.RoleRateHolder, CRID: crid}), "160223"},
		{"EPS no number", base(uspsbiz.Role{Name: uspsbiz.RoleRateHolder, CRID: crid, AccountType: uspsbiz.AccountEPS}), "160224"},
		{"EPS bad number", base(epsRole(uspsbiz.RoleRateHolder, crid, "123")), "160224"},
		{"permit no number", base(uspsbiz.Role{Name: uspsbiz.RoleRateHolder, CRID: crid, AccountType: uspsbiz.AccountPermit, PermitZIP: "22012"}), "160225"},
		{"permit no ZIP", base(uspsbiz.Role{Name: uspsbiz.RoleRateHolder, CRID: crid, AccountType: uspsbiz.AccountPermit, PermitNumber: "12"}), "160226"},
		{"OMAS bad ZIP", base(uspsbiz.Role{Name: uspsbiz.RoleRateHolder, CRID: crid, AccountType: uspsbiz.AccountOMAS, PermitNumber: "12", PermitZIP: "2201"}), "160226"},
		{"meter outside PC Postage", base(uspsbiz.Role{Name: uspsbiz.RoleRateHolder, CRID: crid, AccountType: uspsbiz.AccountMeter, Account: "55"}), "160290"},
		{"meter no number", meterNoNumber, "160289"},
		{"bad account type", base(uspsbiz.Role{Name: uspsbiz.RoleRateHolder, CRID: crid, AccountType: "CASH"}), "160390"},
		{"label provider permit", base(uspsbiz.Role{Name: uspsbiz.RoleLabelProvider, CRID: crid, AccountType: uspsbiz.AccountPermit, PermitNumber: "1", PermitZIP: "22012"}), "160372"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := uspsbiz.CheckPaymentRequest(tc.roles)
			var re *uspsbiz.RoleError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tc.code, re.Code, re.Error())
			assert.ErrorIs(t, err, uspsbiz.ErrInvalidRoles)
			assert.NotContains(t, err.Error(), testEPSCanaryTxt)
		})
	}
}

func TestAuthorizePayment(t *testing.T) {
	srv := newPaymentsFake(t)
	c := newClient(t, srv)
	pa, err := c.AuthorizePayment(t.Context(), allRoles(t))
	require.NoError(t, err)
	assert.True(t, srv.PaymentTokenValid(pa.Token.Reveal()))
	assert.Equal(t, testClock.Add(8*time.Hour), pa.Expiry)
	assert.Len(t, pa.Roles, 10)
	assert.Equal(t, uspsbiz.RolePayer, pa.Roles[0].Name)
	assert.Equal(t, epsActive, pa.Roles[0].Account.Reveal())
	assert.NotContains(t, fmt.Sprintf("%v %+v", pa, *pa), pa.Token.Reveal())
	assert.Equal(t, 1, srv.Count("POST /payments/v3/payment-authorization"))

	// Invalid roles never reach USPS.
	_, err = c.AuthorizePayment(t.Context(), roles(payer(testCRID, eps(t, epsActive))))
	require.ErrorIs(t, err, uspsbiz.ErrInvalidRoles)
	assert.Equal(t, 1, srv.Count("POST /payments/v3/payment-authorization"))
}

func TestAuthorizePaymentEPACodes(t *testing.T) {
	srv := newPaymentsFake(t)
	c := newClient(t, srv)
	for _, tc := range []struct {
		account string
		code    string
	}{
		{epsUnknown, "100001"},
		{epsPendingACH, "100002"},
		{epsNoMethod, "100003"},
		{epsMethodOff, "100004"},
		{epsCardLater, "100005"},
		{epsCardCheck, "100006"},
		{epsLowTrust, "100007"},
	} {
		t.Run(tc.code, func(t *testing.T) {
			a := eps(t, tc.account)
			_, err := c.AuthorizePayment(t.Context(), roles(payer(testCRID, a), labelOwner(testCRID, testMID, testManifestMID)))
			var ae *uspsbiz.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, 400, ae.StatusCode)
			assert.True(t, ae.HasCode(tc.code))
			assert.NotContains(t, err.Error(), testEPSCanaryTxt)
		})
	}
	// Not idempotent: a 503 is not retried.
	srv.ResetRequests()
	srv.InjectFault(uspsbiztest.Fault{Match: "POST /payments/v3/payment-authorization", Status: 503})
	_, err := c.AuthorizePayment(t.Context(), allRoles(t))
	require.Error(t, err)
	assert.Equal(t, 1, srv.Count("POST /payments/v3/payment-authorization"))
}
