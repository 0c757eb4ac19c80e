package uspsbiz_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// callLog collects observed calls; the client may call it from any
// goroutine.
type callLog struct {
	mu    sync.Mutex
	calls []uspsbiz.Call
	ctxOK []bool // whether each call's context carried the caller's value
}

type callerKey struct{}

func (l *callLog) observe(ctx context.Context, c uspsbiz.Call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, c)
	l.ctxOK = append(l.ctxOK, ctx.Value(callerKey{}) == "caller")
}

func (l *callLog) take() []uspsbiz.Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.calls
	l.calls, l.ctxOK = nil, nil
	return out
}

// shape drops the timing, which differs run to run.
func shape(cs []uspsbiz.Call) []uspsbiz.Call {
	out := make([]uspsbiz.Call, len(cs))
	for i, c := range cs {
		out[i] = uspsbiz.Call{API: c.API, Route: c.Route, Method: c.Method, Grant: c.Grant, Attempt: c.Attempt, Status: c.Status, Err: c.Err}
	}
	return out
}

func TestCallObserverSeesEveryAttempt(t *testing.T) {
	srv := newPaymentsFake(t)
	var log callLog
	c := newClient(t, srv, uspsbiz.WithCallObserver(log.observe))
	ctx := context.WithValue(t.Context(), callerKey{}, "caller")

	srv.InjectFault(uspsbiztest.Fault{Match: "GET /payments/v3/payment-account/", Status: 503})
	epa, err := c.LookupEPA(ctx, eps(t, epsActive))
	require.NoError(t, err)
	require.True(t, epa.Active)

	const route = "/payments/v3/payment-account/{accountNumber}"
	calls := log.take()
	assert.Equal(t, []uspsbiz.Call{
		{API: uspsbiz.APIOAuth, Route: "/oauth2/v3/token", Method: "POST", Grant: uspsbiz.GrantClientCredentials, Attempt: 1, Status: 200},
		{API: uspsbiz.APIPayments, Route: route, Method: "GET", Attempt: 1, Status: 503},
		{API: uspsbiz.APIPayments, Route: route, Method: "GET", Attempt: 2, Status: 200},
	}, shape(calls))
	for _, cl := range calls {
		assert.False(t, cl.Start.IsZero(), "start time set")
		assert.Positive(t, cl.Duration, "duration measured")
		assert.NotContains(t, cl.Route, epsActive)
	}

	// A tracking number stays out of the route as well.
	srv.AddTracking(uspsbiztest.TrackedPackage{TrackingNumber: "9400100000000000000001"})
	_, _ = c.TrackPackage(ctx, "9400100000000000000001", uspsbiz.TrackingOptions{})
	calls = log.take()
	require.Len(t, calls, 1)
	assert.Equal(t, uspsbiz.Call{API: uspsbiz.APITracking, Route: "/tracking/v3/tracking/{trackingNumber}", Method: "GET", Attempt: 1, Status: calls[0].Status}, shape(calls)[0])
	assert.NotZero(t, calls[0].Status)
}

func TestCallObserverGetsTheCallersContext(t *testing.T) {
	srv := newPaymentsFake(t)
	var log callLog
	c := newClient(t, srv, uspsbiz.WithCallObserver(log.observe))
	ctx := context.WithValue(t.Context(), callerKey{}, "caller")
	_, err := c.LookupEPA(ctx, eps(t, epsActive))
	require.NoError(t, err)
	log.mu.Lock()
	defer log.mu.Unlock()
	require.Len(t, log.ctxOK, 2)
	assert.Equal(t, []bool{true, true}, log.ctxOK, "token and resource attempts carry the caller's context")
}

func TestCallObserverNamesTheGrant(t *testing.T) {
	srv := newFake(t)
	var log callLog
	c := newClient(t, srv, uspsbiz.WithCallObserver(log.observe))
	tok := link(t, srv, c, "")
	_, err := c.Refresh(t.Context(), tok.RefreshToken)
	require.NoError(t, err)
	require.NoError(t, c.Revoke(t.Context(), tok.RefreshToken))
	_, err = c.Refresh(t.Context(), tok.RefreshToken) // revoked: USPS refuses
	require.Error(t, err)

	oauth := func(route string, g uspsbiz.Grant, status int) uspsbiz.Call {
		return uspsbiz.Call{API: uspsbiz.APIOAuth, Route: route, Method: "POST", Grant: g, Attempt: 1, Status: status}
	}
	calls := shape(log.take())
	require.Len(t, calls, 4)
	assert.Equal(t, oauth("/oauth2/v3/token", uspsbiz.GrantAuthorizationCode, 200), calls[0])
	assert.Equal(t, oauth("/oauth2/v3/token", uspsbiz.GrantRefreshToken, 200), calls[1])
	assert.Equal(t, oauth("/oauth2/v3/revoke", uspsbiz.GrantRevoke, 200), calls[2])
	assert.Equal(t, uspsbiz.GrantRefreshToken, calls[3].Grant)
	assert.GreaterOrEqual(t, calls[3].Status, 400, "the refused refresh is observed with its status")
}

func TestCallObserverSeesTransportFailures(t *testing.T) {
	srv := newFake(t)
	var log callLog
	c := newClient(t, srv, uspsbiz.WithCallObserver(log.observe))
	srv.InjectFault(uspsbiztest.Fault{Match: "POST /oauth2/v3/token", Kind: uspsbiztest.FaultDropConnection})
	_, err := c.PlatformToken(t.Context())
	require.Error(t, err)
	calls := log.take()
	require.Len(t, calls, 1, "a token call is not resent")
	assert.Zero(t, calls[0].Status)
	assert.Equal(t, "connection closed", calls[0].Err)
	assert.Equal(t, uspsbiz.GrantClientCredentials, calls[0].Grant)
}

func TestCallObserverSkipsBudgetRefusals(t *testing.T) {
	srv := newPaymentsFake(t)
	var log callLog
	c := newClient(t, srv, uspsbiz.WithCallObserver(log.observe),
		uspsbiz.WithBudget(uspsbiz.APIPayments, uspsbiz.Budget{PerHour: 60, Burst: 1}))
	_, err := c.LookupEPA(t.Context(), eps(t, epsActive))
	require.NoError(t, err)
	log.take()
	_, err = c.LookupEPA(t.Context(), eps(t, epsActive))
	require.ErrorIs(t, err, uspsbiz.ErrRateLimited)
	assert.Empty(t, log.take(), "nothing was sent, so nothing is observed")
}

func TestCallObserverIsSharedWithMerchantClients(t *testing.T) {
	srv := newPaymentsFake(t)
	var log callLog
	c := newClient(t, srv, uspsbiz.WithCallObserver(log.observe))
	tok := link(t, srv, c, "")
	log.take()
	m := c.ForMerchant(oauth2.StaticTokenSource(tok.OAuth2()))
	_, err := m.LookupEPA(t.Context(), eps(t, epsActive))
	require.NoError(t, err)
	calls := log.take()
	require.NotEmpty(t, calls)
	assert.Equal(t, uspsbiz.APIPayments, calls[len(calls)-1].API)
}

func TestCallObserverOptionRejectsNil(t *testing.T) {
	_, err := uspsbiz.New(uspsbiz.WithCallObserver(nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "WithCallObserver")
}

// BenchmarkLookupEPAObserved measures the observer's cost: "none" must
// equal BenchmarkLookupEPA/uspsbiz in allocations (the hook is free when
// unset); "counting" adds one context value and the Call.
//
//	go test -run '^$' -bench 'LookupEPA' -benchmem -count 6 ./uspsbiz/
func BenchmarkLookupEPAObserved(b *testing.B) {
	srv := newPaymentsFake(b)
	account := usps.EPSAccount(epsActive)
	var n int
	var mu sync.Mutex
	for name, opts := range map[string][]uspsbiz.Option{
		"none":     nil,
		"counting": {uspsbiz.WithCallObserver(func(context.Context, uspsbiz.Call) { mu.Lock(); n++; mu.Unlock() })},
	} {
		c, err := uspsbiz.New(append([]uspsbiz.Option{uspsbiz.WithEnvironment(uspsbiz.Environment(srv.URL)), uspsbiz.WithClock(srv.Now),
			uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: testClientID, ClientSecret: testSecret})}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.PlatformToken(b.Context()); err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.LookupEPA(b.Context(), account); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if n == 0 {
		b.Fatal("observer never ran")
	}
}

func TestCallObserverNumbersRetriesAfterTransportFailures(t *testing.T) {
	srv := newPaymentsFake(t)
	var log callLog
	// Fresh connections: net/http itself resends a GET whose reused
	// connection drops, below any observer.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	c := newClient(t, srv, uspsbiz.WithCallObserver(log.observe), uspsbiz.WithHTTPClient(hc))
	_, err := c.PlatformToken(t.Context())
	require.NoError(t, err)
	log.take()
	srv.InjectFault(uspsbiztest.Fault{Match: "GET /payments/v3/payment-account/", Kind: uspsbiztest.FaultDropConnection})
	_, err = c.LookupEPA(t.Context(), eps(t, epsActive))
	require.NoError(t, err)
	calls := shape(log.take())
	require.Len(t, calls, 2)
	assert.Equal(t, uspsbiz.Call{API: uspsbiz.APIPayments, Route: "/payments/v3/payment-account/{accountNumber}", Method: "GET", Attempt: 1, Err: "connection closed"}, calls[0])
	assert.Equal(t, 2, calls[1].Attempt)
	assert.Equal(t, 200, calls[1].Status)
}
