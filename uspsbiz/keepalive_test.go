package uspsbiz_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

func TestInvalidRefreshTokenMeansReauthorize(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv)
	tok := link(t, srv, c, "")
	srv.InjectFault(uspsbiztest.Fault{Match: "POST /oauth2/v3/token", Kind: uspsbiztest.FaultInvalidRefreshToken})
	_, err := c.Refresh(t.Context(), tok.RefreshToken)
	require.ErrorIs(t, err, uspsbiz.ErrReauthorizationRequired, "USPS/api-examples#84: same remedy as invalid_grant")
	assert.NotErrorIs(t, err, uspsbiz.ErrRateLimited)

	// A 5xx or a dropped connection is transient, never a revocation.
	srv.InjectFault(uspsbiztest.Fault{Match: "POST /oauth2/v3/token", Status: 503})
	_, err = c.Refresh(t.Context(), tok.RefreshToken)
	require.Error(t, err)
	assert.NotErrorIs(t, err, uspsbiz.ErrReauthorizationRequired)
	srv.InjectFault(uspsbiztest.Fault{Match: "POST /oauth2/v3/token", Kind: uspsbiztest.FaultDropConnection})
	_, err = c.Refresh(t.Context(), tok.RefreshToken)
	require.Error(t, err)
	assert.NotErrorIs(t, err, uspsbiz.ErrReauthorizationRequired)
}

func TestPlatformToken401DropsTokenAndRetriesOnce(t *testing.T) {
	srv := newPaymentsFake(t)
	c := newClient(t, srv)
	first, err := c.PlatformToken(t.Context())
	require.NoError(t, err)
	tokens := srv.Count("POST /oauth2/v3/token")

	// USPS stops accepting the cached token long before its local expiry.
	srv.InjectFault(uspsbiztest.Fault{Match: "GET /payments/v3/payment-account/", Status: 401})
	_, err = c.LookupEPA(t.Context(), eps(t, epsActive))
	require.NoError(t, err, "dropped, refetched and sent again")
	assert.Equal(t, tokens+1, srv.Count("POST /oauth2/v3/token"), "one new token")
	second, err := c.PlatformToken(t.Context())
	require.NoError(t, err)
	assert.NotEqual(t, first.AccessToken.Reveal(), second.AccessToken.Reveal())

	// Twice in a row: retried once only, and the 401 reaches the caller.
	srv.InjectFault(uspsbiztest.Fault{Match: "GET /payments/v3/payment-account/", Status: 401, Times: 2})
	n := srv.Count("GET /payments/v3/payment-account/")
	_, err = c.LookupEPA(t.Context(), eps(t, epsActive))
	require.ErrorIs(t, err, uspsbiz.ErrUnauthorized)
	assert.Equal(t, n+2, srv.Count("GET /payments/v3/payment-account/"))

	// A customer-token call is not retried with the platform token.
	tok := link(t, srv, c, "")
	m := c.ForMerchant(staticTokens{tok})
	srv.InjectFault(uspsbiztest.Fault{Match: "POST /prices/v3/base-rates/search", Status: 401})
	n, tokens = srv.Count("POST /prices/v3/base-rates/search"), srv.Count("POST /oauth2/v3/token")
	_, err = m.BaseRates(t.Context(), probeQuery())
	require.ErrorIs(t, err, uspsbiz.ErrUnauthorized)
	assert.Equal(t, n+1, srv.Count("POST /prices/v3/base-rates/search"))
	assert.Equal(t, tokens, srv.Count("POST /oauth2/v3/token"))
}

func TestPlatformTokenDropOnlyIfStillCurrent(t *testing.T) {
	srv := newPaymentsFake(t)
	c := newClient(t, srv)
	// Many callers hit the same 401 at once: the token is fetched again
	// once per refused token, not once per caller.
	_, err := c.PlatformToken(t.Context())
	require.NoError(t, err)
	tokens := srv.Count("POST /oauth2/v3/token")
	srv.InjectFault(uspsbiztest.Fault{Match: "GET /payments/v3/payment-account/", Status: 401, Times: 1})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := c.LookupEPA(context.Background(), eps(t, epsActive))
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Equal(t, tokens+1, srv.Count("POST /oauth2/v3/token"))
}

func TestPlatformTokenWaitRespectsDeadline(t *testing.T) {
	srv := newPaymentsFake(t)
	c := newClient(t, srv)
	srv.InjectFault(uspsbiztest.Fault{Match: "POST /oauth2/v3/token", Kind: uspsbiztest.FaultLatency, Latency: 2 * time.Second})
	slow := make(chan error, 1)
	go func() {
		_, err := c.PlatformToken(context.Background())
		slow <- err
	}()
	// Wait until the slow fetch is in flight (it holds the token lock).
	require.Eventually(t, func() bool { return srv.Count("POST /oauth2/v3/token") == 1 }, 5*time.Second, time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.LookupEPA(ctx, eps(t, epsActive))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), time.Second, "gave up at its own deadline, not the fetch's")
	require.NoError(t, <-slow)
}

func TestShortLivedPlatformTokenIsCached(t *testing.T) {
	srv := newPaymentsFake(t, uspsbiztest.WithAccessTokenLifetime(time.Minute))
	c := newClient(t, srv)
	for range 5 {
		_, err := c.LookupEPA(t.Context(), eps(t, epsActive))
		require.NoError(t, err)
		srv.Advance(5 * time.Second)
	}
	assert.Equal(t, 1, srv.Count("POST /oauth2/v3/token"), "a 60 s token is reused, not fetched per call")
	srv.Advance(30 * time.Second) // 55 s in: inside a tenth of its lifetime
	_, err := c.LookupEPA(t.Context(), eps(t, epsActive))
	require.NoError(t, err)
	assert.Equal(t, 2, srv.Count("POST /oauth2/v3/token"))
}

func TestSharedQuotaAcrossClients(t *testing.T) {
	srv := newPaymentsFake(t)
	q, err := uspsbiz.NewLocalQuota(map[uspsbiz.API]uspsbiz.Budget{uspsbiz.APIPayments: {PerHour: 60, Burst: 3}}, srv.Now)
	require.NoError(t, err)
	a := newClient(t, srv, uspsbiz.WithQuota(q))
	b := newClient(t, srv, uspsbiz.WithQuota(q))
	_, err = a.LookupEPA(t.Context(), eps(t, epsActive))
	require.NoError(t, err)
	_, err = b.LookupEPA(t.Context(), eps(t, epsActive))
	require.NoError(t, err)
	_, err = a.LookupEPA(t.Context(), eps(t, epsActive))
	require.NoError(t, err)
	n := srv.Count("GET /payments/v3/payment-account/")
	_, err = b.LookupEPA(t.Context(), eps(t, epsActive))
	var be *uspsbiz.BudgetError
	require.ErrorAs(t, err, &be, "the fourth call of two clients exceeds the shared burst of 3")
	assert.ErrorIs(t, err, uspsbiz.ErrRateLimited)
	assert.Equal(t, n, srv.Count("GET /payments/v3/payment-account/"), "refused before sending")
	srv.Advance(time.Minute)
	_, err = b.LookupEPA(t.Context(), eps(t, epsActive))
	require.NoError(t, err)

	_, err = uspsbiz.NewLocalQuota(map[uspsbiz.API]uspsbiz.Budget{uspsbiz.APIPayments: {PerHour: 0}}, nil)
	require.Error(t, err)
	_, err = uspsbiz.New(uspsbiz.WithQuota(nil))
	require.Error(t, err)
}

type staticTokens struct{ tok *uspsbiz.Token }

func (s staticTokens) Token() (*oauth2.Token, error) { return s.tok.OAuth2(), nil }

func probeQuery() uspsbiz.BaseRatesQuery {
	return uspsbiz.BaseRatesQuery{Package: pkg(), MailClass: "PRIORITY_MAIL"}
}
