package uspsbiz_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

func TestNewDefaultsToProduction(t *testing.T) {
	c, err := uspsbiz.New()
	require.NoError(t, err)
	assert.Equal(t, uspsbiz.Production, c.Environment())

	c, err = uspsbiz.New(uspsbiz.WithEnvironment(uspsbiz.Testing))
	require.NoError(t, err)
	assert.Equal(t, uspsbiz.Environment("https://apis-tem.usps.com"), c.Environment())
}

func TestOptionsValidate(t *testing.T) {
	cases := map[string]uspsbiz.Option{
		"relative base URL":    uspsbiz.WithEnvironment(uspsbiz.Environment("/oauth2")),
		"ftp base URL":         uspsbiz.WithEnvironment(uspsbiz.Environment("ftp://apis.usps.com")),
		"base URL with query":  uspsbiz.WithEnvironment(uspsbiz.Environment("https://apis.usps.com?x=1")),
		"COP URL without host": uspsbiz.WithCOPURL("https://"),
		"nil HTTP client":      uspsbiz.WithHTTPClient(nil),
		"nil logger":           uspsbiz.WithLogger(nil),
		"user agent newline":   uspsbiz.WithUserAgent("x\r\nEvil: 1"),
		"negative retries":     uspsbiz.WithRetryPolicy(uspsbiz.RetryPolicy{MaxRetries: -1}),
		"min above max wait":   uspsbiz.WithRetryPolicy(uspsbiz.RetryPolicy{MinWait: time.Second, MaxWait: time.Millisecond}),
		"empty credentials":    uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: "id"}),
		"nil clock":            uspsbiz.WithClock(nil),
		"zero budget":          uspsbiz.WithBudget(uspsbiz.APIPrices, uspsbiz.Budget{}),
		"budget without API":   uspsbiz.WithBudget("", uspsbiz.Budget{PerHour: 60}),
	}
	for name, opt := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := uspsbiz.New(opt)
			assert.Error(t, err)
			assert.Nil(t, c)
		})
	}
}

func TestUserAgentCarriesVersion(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv, uspsbiz.WithUserAgent("acmeship/2.3"))
	_, err := c.PlatformToken(t.Context())
	require.NoError(t, err)
	reqs := srv.Requests()
	require.Len(t, reqs, 1)
	assert.Regexp(t, `^acmeship/2\.3 nsalink-go/\d+\.\d+\.\d+$`, reqs[0].Header.Get("User-Agent"))
}

func TestHTTPClientIsCopiedNotModified(t *testing.T) {
	srv := newFake(t)
	rt := &countingTransport{base: http.DefaultTransport}
	hc := &http.Client{Transport: rt, Timeout: 9 * time.Second}
	c := newClient(t, srv, uspsbiz.WithHTTPClient(hc))
	_, err := c.PlatformToken(t.Context())
	require.NoError(t, err)
	assert.Same(t, rt, hc.Transport)
	assert.Equal(t, 9*time.Second, hc.Timeout)
	assert.EqualValues(t, 1, rt.n, "requests go through the caller's transport")
}

type countingTransport struct {
	base http.RoundTripper
	n    int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n++
	return c.base.RoundTrip(r)
}

func TestNoCredentials(t *testing.T) {
	srv := newFake(t)
	c, err := uspsbiz.New(uspsbiz.WithEnvironment(uspsbiz.Environment(srv.URL)))
	require.NoError(t, err)
	_, err = c.PlatformToken(t.Context())
	assert.ErrorIs(t, err, uspsbiz.ErrNoCredentials)
	_, err = c.COPURL(uspsbiz.COPRequest{State: testState, RedirectURI: testRedirect})
	assert.ErrorIs(t, err, uspsbiz.ErrNoCredentials)
	_, err = c.Exchange(t.Context(), "code", testRedirect, "")
	assert.ErrorIs(t, err, uspsbiz.ErrNoCredentials)
	assert.ErrorIs(t, c.Revoke(t.Context(), "tok"), uspsbiz.ErrNoCredentials)
	assert.Zero(t, srv.Count("/"), "nothing was sent")
}

func TestDecodeErrorBodyShapes(t *testing.T) {
	usps := `{"apiVersion":"/payments/v3","error":{"code":"400","message":"Bad Request",
	  "errors":[{"status":"400","code":"100002","title":"EPS account not Active","detail":"d","source":{"parameter":"accountNumber","example":"1000000000"}},
	            {"status":400,"code":160227,"title":"Duplicate roles"}]}}`
	e := uspsbiz.DecodeErrorBody([]byte(usps))
	assert.Equal(t, "/payments/v3", e.APIVersion)
	assert.Equal(t, "400", e.Code)
	assert.Equal(t, "Bad Request", e.Message)
	require.Len(t, e.Errors, 2)
	assert.Equal(t, "100002", e.Errors[0].Code)
	assert.Equal(t, "accountNumber", e.Errors[0].Parameter)
	assert.Equal(t, "160227", e.Errors[1].Code, "numeric codes are read too")
	assert.Equal(t, "400", e.Errors[1].Status)
	assert.True(t, e.HasCode("100002"))
	assert.False(t, e.HasCode("100003"))

	fault := `{"fault":{"faultstring":"Invalid access token","detail":{"errorcode":"oauth.v2.InvalidAccessToken"}}}`
	e = uspsbiz.DecodeErrorBody([]byte(fault))
	assert.Equal(t, "oauth.v2.InvalidAccessToken", e.Code)
	assert.Equal(t, "Invalid access token", e.Message)

	oauthShape := `{"error":"invalid_client","error_description":"client authentication failed"}`
	e = uspsbiz.DecodeErrorBody([]byte(oauthShape))
	assert.Equal(t, "invalid_client", e.Code)
	assert.Equal(t, "client authentication failed", e.Message)

	for _, junk := range []string{"", "<html>502</html>", `{"error":5}`, `[1,2]`, `{"error":{"errors":"x"}}`} {
		e = uspsbiz.DecodeErrorBody([]byte(junk))
		assert.Empty(t, e.Errors, junk)
	}
}

func TestAPIErrorMatchesSentinels(t *testing.T) {
	cases := map[int]error{
		429: uspsbiz.ErrRateLimited,
		401: uspsbiz.ErrUnauthorized,
		403: uspsbiz.ErrNotEntitled,
		404: uspsbiz.ErrNotFound,
	}
	for status, want := range cases {
		e := &uspsbiz.APIError{StatusCode: status}
		assert.ErrorIs(t, e, want, "status %d", status)
		for other, sentinel := range cases {
			if other != status {
				assert.NotErrorIs(t, e, sentinel)
			}
		}
	}
	e := &uspsbiz.APIError{StatusCode: 429, Method: "GET", Route: "/prices/v3/base-rates/search", Message: "Exceeded quota limit.", RetryAfter: 30 * time.Second,
		Errors: []uspsbiz.ErrorDetail{{Code: "1"}, {Code: "2"}, {Code: "3"}, {Code: "4"}, {Code: "5"}}}
	assert.Equal(t, "uspsbiz: GET /prices/v3/base-rates/search: 429 Exceeded quota limit. [1] [2] [3] (+2 more) (retry after 30s)", e.Error())
}

func TestTokenEndpointErrorsKeepRetrieveError(t *testing.T) {
	srv := newFake(t)
	c, err := uspsbiz.New(uspsbiz.WithEnvironment(uspsbiz.Environment(srv.URL)),
		uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: testClientID, ClientSecret: "wrong-secret"}))
	require.NoError(t, err)
	_, err = c.PlatformToken(t.Context())
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "invalid_client", re.ErrorCode)
	assert.Equal(t, http.StatusUnauthorized, re.Response.StatusCode)
	assert.ErrorIs(t, err, uspsbiz.ErrUnauthorized)
	assert.NotErrorIs(t, err, uspsbiz.ErrReauthorizationRequired)
	assert.Equal(t, 1, srv.Count("POST /oauth2/v3/token"), "explicit AuthStyle: one POST, not two")

	good := newClient(t, srv)
	_, err = good.Exchange(t.Context(), "no-such-code", testRedirect, "")
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "invalid_grant", re.ErrorCode)
	assert.ErrorIs(t, err, uspsbiz.ErrReauthorizationRequired)
	assert.Equal(t, 2, srv.Count("POST /oauth2/v3/token"))
}

func TestTokenPostIsNotRetriedAfterSend(t *testing.T) {
	for name, f := range map[string]uspsbiztest.Fault{
		"503":             {Match: "POST /oauth2/v3/token", Status: 503},
		"429 short wait":  {Match: "POST /oauth2/v3/token", Status: 429, RetryAfter: "1"},
		"dropped":         {Match: "POST /oauth2/v3/token", Kind: uspsbiztest.FaultDropConnection},
		"malformed reply": {Match: "POST /oauth2/v3/token", Kind: uspsbiztest.FaultMalformedJSON},
	} {
		t.Run(name, func(t *testing.T) {
			srv := newFake(t)
			c := newClient(t, srv)
			srv.InjectFault(f)
			_, err := c.PlatformToken(t.Context())
			require.Error(t, err)
			assert.Equal(t, 1, srv.Count("POST /oauth2/v3/token"))
			// The fault is spent; the next call works.
			_, err = c.PlatformToken(t.Context())
			require.NoError(t, err)
		})
	}
}

func TestRateLimitedTokenCall(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv)
	srv.InjectFault(uspsbiztest.Fault{Match: "POST /oauth2/v3/token", Status: 429, RetryAfter: "3600"})
	_, err := c.PlatformToken(t.Context())
	assert.ErrorIs(t, err, uspsbiz.ErrRateLimited)
}

func TestClientBudgetRefusesWithoutSending(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv, uspsbiz.WithBudget(uspsbiz.APIOAuth, uspsbiz.Budget{PerHour: 60, Burst: 2}))
	tok := link(t, srv, c, "")
	_, err := c.Refresh(t.Context(), tok.RefreshToken) // second OAuth call of the burst
	require.NoError(t, err)
	n := srv.Count("POST /oauth2/v3/token")
	_, err = c.PlatformToken(t.Context())
	var be *uspsbiz.BudgetError
	require.ErrorAs(t, err, &be)
	assert.ErrorIs(t, err, uspsbiz.ErrRateLimited)
	assert.Equal(t, uspsbiz.APIOAuth, be.API)
	assert.WithinDuration(t, srv.Now().Add(time.Minute), be.RetryAt, 2*time.Second, "60/hour refills one a minute")
	assert.Equal(t, n, srv.Count("POST /oauth2/v3/token"), "refused before sending")
	left, ok := c.Remaining(uspsbiz.APIOAuth)
	assert.True(t, ok)
	assert.Zero(t, left)
	_, ok = c.Remaining(uspsbiz.APITracking)
	assert.False(t, ok)

	srv.Advance(time.Minute)
	_, err = c.PlatformToken(t.Context())
	require.NoError(t, err)
}

func TestDecodeErrorIsMalformed(t *testing.T) {
	err := uspsbiz.NewDecodeError("/x", 200, errors.New("unexpected EOF"))
	assert.ErrorIs(t, err, uspsbiz.ErrMalformedResponse)
	assert.True(t, strings.HasPrefix(err.Error(), "uspsbiz: /x: status 200"))
}

func TestRetriesAreChargedToTheBudget(t *testing.T) {
	srv := newPaymentsFake(t)
	c := newClient(t, srv, uspsbiz.WithBudget(uspsbiz.APIPayments, uspsbiz.Budget{PerHour: 60, Burst: 2}))
	srv.InjectFault(uspsbiztest.Fault{Match: "GET /payments/v3/payment-account/", Status: 503, Times: 5})
	_, err := c.LookupEPA(t.Context(), eps(t, epsActive))
	var be *uspsbiz.BudgetError
	require.ErrorAs(t, err, &be, "the second retry would exceed the budget")
	assert.ErrorIs(t, err, uspsbiz.ErrRateLimited)
	assert.Equal(t, 2, srv.Count("GET /payments/v3/payment-account/"), "first try and one retry, both charged")
}

func TestRetriedGETReturnsLastUSPSError(t *testing.T) {
	srv := newPaymentsFake(t)
	c := newClient(t, srv)
	srv.InjectFault(uspsbiztest.Fault{Match: "GET /payments/v3/payment-account/", Status: 503, Times: -1})
	_, err := c.LookupEPA(t.Context(), eps(t, epsActive))
	var ae *uspsbiz.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 503, ae.StatusCode)
	assert.Equal(t, 3, ae.Attempts)
	assert.Equal(t, 3, srv.Count("GET /payments/v3/payment-account/"), "GET retried up to the policy")
	assert.Contains(t, string(ae.Body), `"code":"503"`, "USPS's body reaches the caller")
	assert.NotEmpty(t, ae.RequestID)

	srv.ClearFaults()
	srv.ResetRequests()
	srv.InjectFault(uspsbiztest.Fault{Match: "POST /payments/v3/payment-authorization", Status: 503, Times: -1})
	roles := roles(payer("56781234", eps(t, epsActive)), labelOwner("56781234", "901234567", "902345678"))
	_, err = c.AuthorizePayment(t.Context(), roles)
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 1, srv.Count("POST /payments/v3/payment-authorization"), "a payment POST is never resent")
}

func TestGatewayFaultAndMalformedBody(t *testing.T) {
	srv := newPaymentsFake(t)
	c := newClient(t, srv)
	// Two: a platform-token call retries one 401 with a fresh token.
	srv.InjectFault(uspsbiztest.Fault{Match: "GET /payments/", Kind: uspsbiztest.FaultGateway, Times: 2})
	_, err := c.LookupEPA(t.Context(), eps(t, epsActive))
	var ae *uspsbiz.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "oauth.v2.InvalidAccessToken", ae.Code)
	assert.ErrorIs(t, err, uspsbiz.ErrUnauthorized)

	srv.InjectFault(uspsbiztest.Fault{Match: "GET /payments/", Kind: uspsbiztest.FaultMalformedJSON})
	_, err = c.LookupEPA(t.Context(), eps(t, epsActive))
	assert.ErrorIs(t, err, uspsbiz.ErrMalformedResponse)
}

func TestRetryAfterHonouredOnTheFake(t *testing.T) {
	for name, value := range map[string]func(now time.Time) string{
		"seconds":   func(time.Time) string { return "1" },
		"HTTP-date": func(now time.Time) string { return now.Add(2 * time.Second).UTC().Format(http.TimeFormat) },
	} {
		t.Run(name, func(t *testing.T) {
			srv := newPaymentsFake(t)
			srv.SetTime(time.Now()) // Retry-After dates are read on the client's (shared) clock
			c := newClient(t, srv)
			_, err := c.PlatformToken(t.Context())
			require.NoError(t, err)
			srv.InjectFault(uspsbiztest.Fault{Match: "GET /payments/", Status: 503, RetryAfter: value(srv.Now())})
			start := time.Now()
			epa, err := c.LookupEPA(t.Context(), eps(t, epsActive))
			require.NoError(t, err)
			assert.True(t, epa.Active)
			assert.Equal(t, 2, srv.Count("GET /payments/"))
			assert.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond, "waited as USPS asked")
		})
	}
}

func TestCancelledContextReturnsPromptly(t *testing.T) {
	srv := newPaymentsFake(t)
	c := newClient(t, srv)
	_, err := c.PlatformToken(t.Context())
	require.NoError(t, err)
	srv.InjectFault(uspsbiztest.Fault{Match: "GET /payments/", Status: 503, RetryAfter: "2", Times: -1})
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.LookupEPA(ctx, eps(t, epsActive))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), time.Second, "the 2 s wait was interrupted")

	srv.ClearFaults()
	srv.InjectFault(uspsbiztest.Fault{Match: "GET /payments/", Kind: uspsbiztest.FaultLatency, Latency: 5 * time.Second})
	ctx, cancel = context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = c.LookupEPA(ctx, eps(t, epsActive))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), time.Second, "a slow USPS does not outlast the deadline")
}

func TestAPIErrorBodyIsCapped(t *testing.T) {
	srv := newPaymentsFake(t)
	c := newClient(t, srv)
	big := `{"apiVersion":"/payments/v3","error":{"code":"400","message":"` + strings.Repeat("x", 900<<10) + `"}}` + strings.Repeat(" ", 2<<20)
	srv.InjectFault(uspsbiztest.Fault{Match: "POST /payments/", Status: 400, Body: big})
	_, err := c.AuthorizePayment(t.Context(), roles(payer(testCRID, eps(t, epsActive)), labelOwner(testCRID, testMID, testManifestMID)))
	var ae *uspsbiz.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 400, ae.StatusCode)
	assert.Len(t, ae.Body, 1<<20, "raw body kept up to 1 MiB")
	assert.Len(t, ae.Message, 900<<10, "the decoded message is whole")
	assert.Less(t, len(err.Error()), 300, "the error text stays short")
}
