package spectest_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// Test fixtures copied from uspsbiz's own tests (helpers_test.go,
// payments_test.go, prices_test.go, tracking_test.go, validate_test.go),
// which this module cannot import: keep them in step.
const (
	testClientID    = "platform-client-id"
	testSecret      = "canary-client-secret-3f9a"
	testRedirect    = "https://platform.example/usps/callback"
	testUser        = "acme-shipping"
	testPassword    = "canary-password-77"
	testMFA         = "424242"
	testState       = "state-0123456789abcdefghijkl"
	testPlatformNam = "Acme Ship"
)

// Identifiers of the business account newFake seeds, and EPAs in every
// state added by newPaymentsFake.
const (
	testCRID         = "56781234"
	testMID          = "901234567"
	testManifestMID  = "902345678"
	testPlatformCRID = "9999001"

	epsActive       = "1000000001"
	epsPendingACH   = "1000000002"
	epsNoMethod     = "1000000003"
	epsMethodOff    = "1000000004"
	epsCardLater    = "1000000005"
	epsCardCheck    = "1000000006"
	epsLowTrust     = "1000000007"
	epsInactive     = "1000000008"
	epsUnknown      = "1999999999"
	epsActiveFunded = "1000000009"
)

var testClock = time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)

func newFake(t testing.TB, opts ...uspsbiztest.Option) *uspsbiztest.Server {
	t.Helper()
	base := []uspsbiztest.Option{
		uspsbiztest.WithApp(uspsbiztest.App{ClientID: testClientID, ClientSecret: testSecret, Name: testPlatformNam, RedirectURIs: []string{testRedirect}, CRID: "9999001"}),
		uspsbiztest.WithBusinessAccount(uspsbiztest.BusinessAccount{Username: testUser, Password: testPassword, MFACode: testMFA, CRID: "56781234", MIDs: []string{"901234567"}, ManifestMIDs: []string{"902345678"}}),
	}
	return uspsbiztest.NewServer(t, append(base, opts...)...)
}

func newClient(t *testing.T, srv *uspsbiztest.Server, opts ...uspsbiz.Option) *uspsbiz.Client {
	t.Helper()
	base := []uspsbiz.Option{
		uspsbiz.WithEnvironment(uspsbiz.Environment(srv.URL)),
		uspsbiz.WithCOPURL(srv.COPURL()),
		uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: testClientID, ClientSecret: testSecret}),
		uspsbiz.WithClock(srv.Now),
		uspsbiz.WithRetryPolicy(uspsbiz.RetryPolicy{MaxRetries: 2, MinWait: 1, MaxWait: 20 * 1e6, MaxRetryAfter: 2e9}),
	}
	c, err := uspsbiz.New(append(base, opts...)...)
	require.NoError(t, err)
	return c
}

// link walks the COP consent and exchanges the code: a linked customer.
func link(t *testing.T, srv *uspsbiztest.Server, c *uspsbiz.Client, verifier string) *uspsbiz.Token {
	t.Helper()
	u, err := c.COPURL(uspsbiz.COPRequest{State: testState, RedirectURI: testRedirect, PlatformName: testPlatformNam, Verifier: verifier})
	require.NoError(t, err)
	back, err := srv.Authorize(u, uspsbiztest.Consent{Username: testUser, Password: testPassword, MFACode: testMFA})
	require.NoError(t, err)
	q := back.Query()
	require.Equal(t, testState, q.Get("state"))
	require.Equal(t, testRedirect, (&url.URL{Scheme: back.Scheme, Host: back.Host, Path: back.Path}).String())
	tok, err := c.Exchange(t.Context(), q.Get("code"), testRedirect, verifier)
	require.NoError(t, err)
	return tok
}

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

const (
	zipOrigin = "22407"
	zipDest   = "63118"
)

func pkg() uspsbiz.Package {
	return uspsbiz.Package{OriginZIP: zipOrigin, DestinationZIP: zipDest, Weight: 2 * usps.Pound, Length: 10 * usps.Inch, Width: 8 * usps.Inch, Height: 4 * usps.Inch}
}

func newPricesFake(t *testing.T) *uspsbiztest.Server {
	t.Helper()
	srv := newPaymentsFake(t)
	require.NoError(t, srv.SetPublishedPrices(
		uspsbiztest.Price{MailClass: "USPS_GROUND_ADVANTAGE", RateIndicator: "SP", ProcessingCategory: "MACHINABLE", MaxWeight: 1 * usps.Pound, SKU: "DUXP0XXXXC01010", Price: "6.10"},
		uspsbiztest.Price{MailClass: "USPS_GROUND_ADVANTAGE", RateIndicator: "SP", ProcessingCategory: "MACHINABLE", MaxWeight: 5 * usps.Pound, SKU: "DUXP0XXXXC01050", Price: "9.35",
			Fees: []uspsbiztest.Fee{{Name: "Nonstandard Length > 22", SKU: "D811XUXXXXX0000", Price: "4"}}},
		uspsbiztest.Price{MailClass: "PRIORITY_MAIL", RateIndicator: "SP", ProcessingCategory: "MACHINABLE", SKU: "DPXX0XXXXC05050", Price: "0.30000000000000004"},
		uspsbiztest.Price{MailClass: "PRIORITY_MAIL", RateIndicator: "SP", ProcessingCategory: "MACHINABLE", PriceType: "RETAIL", SKU: "DPXX0XXXXR05050", Price: "12.40"},
	))
	require.NoError(t, srv.SetContractPrices(epsActive,
		uspsbiztest.Price{MailClass: "USPS_GROUND_ADVANTAGE", RateIndicator: "SP", ProcessingCategory: "MACHINABLE", MaxWeight: 5 * usps.Pound, SKU: "DUXP0XXXXN01050", Price: "7.12"},
	))
	require.NoError(t, srv.SetExtraServicePrices(uspsbiztest.ExtraServicePrice{Code: 920, Name: "USPS Tracking", SKU: "DXTV0EXXXCX0000", Price: "0.00"},
		uspsbiztest.ExtraServicePrice{Code: 930, Name: "Insurance <= $500", SKU: "DXIX0XXXXCX0100", Price: "2.55"}))
	srv.SetContractOnlyMailClasses("USPS_CONNECT_REGIONAL")
	return srv
}

const (
	trackDelivered = "9400100000000000000001"
	trackTransit   = "9400100000000000000002"
	trackUnknown   = "9400100000000000000099"
)

func seedTracking(srv *uspsbiztest.Server) {
	at := time.Date(2026, 5, 2, 12, 55, 0, 0, time.FixedZone("EDT", -4*3600))
	srv.AddTracking(uspsbiztest.TrackedPackage{
		TrackingNumber: trackDelivered, MailClass: "PRIORITY_MAIL", Status: "Delivered, In/At Mailbox", StatusCategory: "Delivered",
		StatusSummary: "Your item was delivered in or at the mailbox at 12:55 pm on May 2, 2026 in FALMOUTH, MA 02540.",
		OriginZIP:     "22407", OriginCity: "FREDERICKSBURG", OriginState: "VA", DestinationZIP: "02540", DestinationCity: "FALMOUTH", DestinationState: "MA",
		Events: []uspsbiztest.Event{
			{Type: "Delivered, In/At Mailbox", Code: "01", Time: at, City: "FALMOUTH", State: "MA", ZIP: "02540"},
			{Type: "Out for Delivery", Code: "OF", Time: at.Add(-6 * time.Hour), City: "FALMOUTH", State: "MA", ZIP: "02540"},
		},
	})
	srv.AddTracking(uspsbiztest.TrackedPackage{TrackingNumber: trackTransit, StatusCategory: "In Transit", ExpectedDelivery: at.Add(48 * time.Hour)})
}
