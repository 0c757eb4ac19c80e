package uspsbiz_test

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// Test fixtures shared by this package's tests.
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
