package uspsbiz_test

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

func TestCOPURL(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv)
	v := oauth2.GenerateVerifier()
	raw, err := c.COPURL(uspsbiz.COPRequest{State: testState, RedirectURI: testRedirect, PlatformName: "Acme Ship", Verifier: v})
	require.NoError(t, err)
	u, err := url.Parse(raw)
	require.NoError(t, err)
	assert.Equal(t, srv.COPURL(), u.Scheme+"://"+u.Host+u.Path)
	q := u.Query()
	assert.Equal(t, "apis_merchant_user", q.Get("wf"))
	assert.Equal(t, testClientID, q.Get("client_id"))
	assert.Equal(t, testState, q.Get("state"))
	assert.Equal(t, testRedirect, q.Get("redirect_uri"))
	assert.Equal(t, "Acme Ship", q.Get("platform"))
	assert.Equal(t, "true", q.Get("reauth"))
	assert.Equal(t, oauth2.S256ChallengeFromVerifier(v), q.Get("code_challenge"))
	assert.Equal(t, "S256", q.Get("code_challenge_method"))
	assert.NotContains(t, raw, v, "the verifier itself never leaves")
	assert.NotContains(t, raw, testSecret)

	raw, err = c.COPURL(uspsbiz.COPRequest{State: testState, RedirectURI: testRedirect})
	require.NoError(t, err)
	assert.NotContains(t, raw, "code_challenge", "PKCE can be switched off")

	def, err := uspsbiz.New(uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: "id", ClientSecret: "s"}))
	require.NoError(t, err)
	raw, err = def.COPURL(uspsbiz.COPRequest{State: testState, RedirectURI: testRedirect})
	require.NoError(t, err)
	assert.Contains(t, raw, "https://cop.usps.com/cop-navigator?")
}

func TestCOPURLRejectsBadInput(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv)
	for name, r := range map[string]uspsbiz.COPRequest{
		"short state":       {State: "abc", RedirectURI: testRedirect},
		"relative redirect": {State: testState, RedirectURI: "/callback"},
		"http redirect":     {State: testState, RedirectURI: "http://platform.example/cb"},
		"fragment":          {State: testState, RedirectURI: "https://platform.example/cb#x"},
		"short verifier":    {State: testState, RedirectURI: testRedirect, Verifier: "abc"},
	} {
		_, err := c.COPURL(r)
		assert.Error(t, err, name)
	}
	_, err := c.COPURL(uspsbiz.COPRequest{State: testState, RedirectURI: "http://127.0.0.1:8080/cb"})
	assert.NoError(t, err, "plain http is fine on loopback")
}

func TestPKCEEnforcedByFake(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv)
	v := oauth2.GenerateVerifier()
	u, err := c.COPURL(uspsbiz.COPRequest{State: testState, RedirectURI: testRedirect, Verifier: v})
	require.NoError(t, err)
	back, err := srv.Authorize(u, uspsbiztest.Consent{Username: testUser, Password: testPassword, MFACode: testMFA})
	require.NoError(t, err)
	_, err = c.Exchange(t.Context(), back.Query().Get("code"), testRedirect, oauth2.GenerateVerifier())
	assert.ErrorIs(t, err, uspsbiz.ErrReauthorizationRequired, "wrong verifier")
	_, err = c.Exchange(t.Context(), back.Query().Get("code"), testRedirect, "")
	assert.ErrorIs(t, err, uspsbiz.ErrReauthorizationRequired, "missing verifier")
	_, err = c.Exchange(t.Context(), back.Query().Get("code"), testRedirect, v)
	assert.NoError(t, err, "the right verifier redeems the code")
}

func TestCodeIsSingleUse(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv)
	u, err := c.COPURL(uspsbiz.COPRequest{State: testState, RedirectURI: testRedirect})
	require.NoError(t, err)
	back, err := srv.Authorize(u, uspsbiztest.Consent{Username: testUser, Password: testPassword, MFACode: testMFA})
	require.NoError(t, err)
	code := back.Query().Get("code")
	tok, err := c.Exchange(t.Context(), code, testRedirect, "")
	require.NoError(t, err)
	_, err = c.Exchange(t.Context(), code, testRedirect, "")
	assert.ErrorIs(t, err, uspsbiz.ErrReauthorizationRequired)
	_, err = c.Refresh(t.Context(), tok.RefreshToken)
	assert.ErrorIs(t, err, uspsbiz.ErrReauthorizationRequired, "a replayed code revokes what it issued")
}

func TestConsentErrors(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv)
	u, err := c.COPURL(uspsbiz.COPRequest{State: testState, RedirectURI: testRedirect})
	require.NoError(t, err)
	_, err = srv.Authorize(u, uspsbiztest.Consent{Username: testUser, Password: "nope", MFACode: testMFA})
	assert.ErrorContains(t, err, "username or password is incorrect")
	_, err = srv.Authorize(u, uspsbiztest.Consent{Username: testUser, Password: testPassword, MFACode: "000000"})
	assert.ErrorContains(t, err, "code is not valid")
	back, err := srv.Authorize(u, uspsbiztest.Consent{Username: testUser, Password: testPassword, MFACode: testMFA, Deny: true})
	require.NoError(t, err)
	assert.Equal(t, "access_denied", back.Query().Get("error"))
	assert.Empty(t, back.Query().Get("code"))

	other, err := uspsbiz.New(uspsbiz.WithEnvironment(uspsbiz.Environment(srv.URL)), uspsbiz.WithCOPURL(srv.COPURL()),
		uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: testClientID, ClientSecret: testSecret}))
	require.NoError(t, err)
	u, err = other.COPURL(uspsbiz.COPRequest{State: testState, RedirectURI: "https://evil.example/cb"})
	require.NoError(t, err)
	_, err = srv.Authorize(u, uspsbiztest.Consent{Username: testUser, Password: testPassword, MFACode: testMFA})
	assert.ErrorContains(t, err, "redirect URI is not registered", "the fake never redirects to an unregistered URI")
}

func TestPlatformTokenSingleFlight(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Go(func() {
			_, err := c.PlatformToken(context.Background())
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, 1, srv.Count("POST /oauth2/v3/token"), "100 goroutines, one token call")
}

func TestPlatformTokenRenewedBeforeExpiry(t *testing.T) {
	srv := newFake(t, uspsbiztest.WithTime(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)))
	c := newClient(t, srv)
	first, err := c.PlatformToken(t.Context())
	require.NoError(t, err)
	// 8h token (expires_in 28799): still cached 7h54m later …
	srv.Advance(first.Expiry.Sub(srv.Now()) - uspsbiz.EarlyExpiry - time.Second)
	again, err := c.PlatformToken(t.Context())
	require.NoError(t, err)
	assert.Equal(t, first.AccessToken.Reveal(), again.AccessToken.Reveal())
	assert.Equal(t, 1, srv.Count("POST /oauth2/v3/token"))
	// … and renewed once inside the early-expiry window, before USPS would refuse it.
	srv.Advance(time.Second)
	renewed, err := c.PlatformToken(t.Context())
	require.NoError(t, err)
	assert.NotEqual(t, first.AccessToken.Reveal(), renewed.AccessToken.Reveal())
	assert.Equal(t, 2, srv.Count("POST /oauth2/v3/token"))
}

func TestTokenFieldsAsStringsOrNumbers(t *testing.T) {
	for _, strs := range []bool{false, true} {
		var opts []uspsbiztest.Option
		if strs {
			opts = append(opts, uspsbiztest.WithStringNumbers())
		}
		srv := newFake(t, append(opts, uspsbiztest.WithTime(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)))...)
		c := newClient(t, srv)
		tok := link(t, srv, c, "")
		now := srv.Now()
		assert.Equal(t, now.Add(28799*time.Second), tok.Expiry, "strings=%v", strs)
		assert.Equal(t, now.Add(7*24*time.Hour-time.Second), tok.RefreshExpiry)
		assert.Equal(t, now.UTC(), tok.IssuedAt)
		assert.Equal(t, 0, tok.RefreshCount)
		assert.Equal(t, "https://keyc.usps.com/realms/USPS", tok.Issuer)
		assert.Equal(t, "[Public Access I]", tok.APIProducts)
		assert.Contains(t, tok.Scope, "tracking")
	}
}

func TestRefreshWithoutRotationKeepsRefreshToken(t *testing.T) {
	srv := newFake(t, uspsbiztest.WithRefreshRotation(false))
	c := newClient(t, srv)
	tok := link(t, srv, c, "")
	fresh, err := c.Refresh(t.Context(), tok.RefreshToken)
	require.NoError(t, err)
	assert.Equal(t, tok.RefreshToken.Reveal(), fresh.RefreshToken.Reveal())
	assert.NotEqual(t, tok.AccessToken.Reveal(), fresh.AccessToken.Reveal())
	_, err = c.Refresh(t.Context(), tok.RefreshToken)
	require.NoError(t, err, "without rotation the refresh token stays valid")
}

func TestRefreshTokenReuseRevokesGrant(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv)
	tok := link(t, srv, c, "")
	fresh, err := c.Refresh(t.Context(), tok.RefreshToken)
	require.NoError(t, err)
	_, err = c.Refresh(t.Context(), tok.RefreshToken)
	require.ErrorIs(t, err, uspsbiz.ErrReauthorizationRequired)
	_, err = c.Refresh(t.Context(), fresh.RefreshToken)
	assert.ErrorIs(t, err, uspsbiz.ErrReauthorizationRequired, "reuse kills the whole family")
	_, err = c.Refresh(t.Context(), "")
	assert.ErrorIs(t, err, uspsbiz.ErrReauthorizationRequired)
}

func TestRevoke(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv)
	tok := link(t, srv, c, "")
	require.NoError(t, c.Revoke(t.Context(), tok.RefreshToken))
	reqs := srv.Requests()
	last := reqs[len(reqs)-1]
	assert.Equal(t, "/oauth2/v3/revoke", last.Path)
	user, _, ok := (&http.Request{Header: last.Header}).BasicAuth()
	assert.True(t, ok, "RFC 7009 with HTTP Basic client auth")
	assert.Equal(t, testClientID, user)
	assert.Contains(t, string(last.Body), "token_type_hint=refresh_token")
	_, err := c.Refresh(t.Context(), tok.RefreshToken)
	assert.ErrorIs(t, err, uspsbiz.ErrReauthorizationRequired)

	bad, err := uspsbiz.New(uspsbiz.WithEnvironment(uspsbiz.Environment(srv.URL)), uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: testClientID, ClientSecret: "bad"}))
	require.NoError(t, err)
	err = bad.Revoke(t.Context(), "x")
	var apiErr *uspsbiz.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 401, apiErr.StatusCode)
	assert.Equal(t, "invalid_client", apiErr.Code)
	assert.ErrorIs(t, err, uspsbiz.ErrUnauthorized)
}

func TestForMerchantUsesCustomerToken(t *testing.T) {
	srv := newPaymentsFake(t)
	c := newClient(t, srv)
	tok := link(t, srv, c, "")
	m := c.ForMerchant(oauth2.StaticTokenSource(tok.OAuth2()))
	assert.Equal(t, c.Environment(), m.Environment())
	lastAuth := func() string {
		reqs := srv.Requests()
		return reqs[len(reqs)-1].Header.Get("Authorization")
	}
	q := uspsbiz.BaseRatesQuery{Package: uspsbiz.Package{OriginZIP: "10001", DestinationZIP: "94105", Weight: 1 * usps.Pound, Length: 6 * usps.Inch, Width: 4 * usps.Inch, Height: 2 * usps.Inch}, MailClass: "PRIORITY_MAIL"}
	_, _ = m.BaseRates(t.Context(), q)
	assert.Equal(t, "Bearer "+tok.AccessToken.Reveal(), lastAuth(), "prices on the customer's behalf")
	_, _ = c.BaseRates(t.Context(), q)
	platform, err := c.PlatformToken(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "Bearer "+platform.AccessToken.Reveal(), lastAuth(), "the platform client keeps its own token")
	_, err = m.LookupEPA(t.Context(), eps(t, epsActive))
	require.NoError(t, err)
	assert.Equal(t, "Bearer "+platform.AccessToken.Reveal(), lastAuth(), "Payments take only client credentials")
}
