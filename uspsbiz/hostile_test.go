package uspsbiz_test

// Attacks from issue 14 ("Hostile-world hardening") against the USPS
// client: redirects to another host, printing, lenient token answers,
// echoed account numbers, empty bodies, plain-http hosts.

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// evilHost counts every request it gets and answers a token and a price
// as if it were USPS.
type evilHost struct {
	*httptest.Server
	requests atomic.Int64
	bodies   atomic.Value // string: the last body received
}

func newEvilHost(t *testing.T) *evilHost {
	e := &evilHost{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.requests.Add(1)
		b, _ := io.ReadAll(r.Body)
		e.bodies.Store(string(b))
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"evil-access","token_type":"Bearer","expires_in":28800,"refresh_token":"evil-refresh",`+
			`"paymentAccountNumber":"1","accountType":"EPS","accountNumber":"1234567890","paymentAuthorizationToken":"evil-pat",`+
			`"totalBasePrice":1,"rates":[{"priceType":"CONTRACT","price":1}]}`)
	}))
	t.Cleanup(e.Close)
	return e
}

// redirector answers every request with status, Location on the evil host.
func redirector(t *testing.T, status int, evil *evilHost) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", evil.URL+r.URL.Path)
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHostileRedirectsNeverFollowed(t *testing.T) {
	evil := newEvilHost(t)
	calls, refused := 0, 0
	for _, status := range []int{301, 302, 303, 307, 308} {
		srv := redirector(t, status, evil)
		c, err := uspsbiz.New(
			uspsbiz.WithEnvironment(uspsbiz.Environment(srv.URL)),
			uspsbiz.WithCOPURL(srv.URL+"/cop-navigator"),
			uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: testClientID, ClientSecret: testSecret}),
			uspsbiz.WithRetryPolicy(uspsbiz.RetryPolicy{MaxRetries: 0}),
		)
		require.NoError(t, err)
		ctx := t.Context()
		attempts := []func() error{
			func() error { _, err := c.Exchange(ctx, "the-code", testRedirect, ""); return err },
			func() error { _, err := c.Refresh(ctx, "canary-refresh-token"); return err },
			func() error { _, err := c.PlatformToken(ctx); return err },
			func() error { return c.Revoke(ctx, "canary-refresh-token") },
		}
		for i, try := range attempts {
			calls++
			err := try()
			if assert.Error(t, err, "status %d call %d", status, i) {
				refused++
			}
		}
	}
	assert.Zero(t, evil.requests.Load(), "requests that reached another host")
	t.Logf("redirects: %d token calls redirected, %d refused, %d requests reached the other host, 0 tokens accepted", calls, refused, evil.requests.Load())
}

func TestHostileRedirectOfResourceCallsNeverFollowed(t *testing.T) {
	evil := newEvilHost(t)
	// A customer token held by the client: the redirect must not carry it
	// (or the EPS in the path) anywhere.
	red := redirector(t, http.StatusTemporaryRedirect, evil)
	c2, err := uspsbiz.New(uspsbiz.WithEnvironment(uspsbiz.Environment(red.URL)),
		uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: testClientID, ClientSecret: testSecret}),
		uspsbiz.WithRetryPolicy(uspsbiz.RetryPolicy{}))
	require.NoError(t, err)
	tok := &uspsbiz.Token{AccessToken: "canary-customer-access", TokenType: "Bearer"}
	m := c2.ForMerchant(staticTS{tok})
	_, err = m.LookupEPA(t.Context(), "1234567890")
	assert.Error(t, err)
	_, err = m.BaseRates(t.Context(), uspsbiz.BaseRatesQuery{Package: uspsbiz.Package{OriginZIP: "10001", DestinationZIP: "94105", Weight: usps.Pound, Length: usps.Inch, Width: usps.Inch, Height: usps.Inch}, MailClass: "PRIORITY_MAIL", EPS: "1234567890"})
	assert.Error(t, err)
	assert.Zero(t, evil.requests.Load())
	t.Logf("resource redirects: %d requests reached the other host", evil.requests.Load())
}

func TestHostileClientValuePrintsNoSecret(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv)
	var asAny any = *c
	var asPtr any = c
	out := fmt.Sprintf("%v|%+v|%#v|%s|%q|%v|%+v|%#v|%s|%q", asAny, asAny, asAny, asAny, asAny, asPtr, asPtr, asPtr, asPtr, asPtr)
	assert.NotContains(t, out, testSecret)
	assert.Equal(t, 0, strings.Count(out, testSecret))
}

func TestHostilePlainHTTPRefusedOffLoopback(t *testing.T) {
	for _, raw := range []string{"http://apis.usps.com", "http://127.evil.example", "http://example.com:8080"} {
		_, err := uspsbiz.New(uspsbiz.WithEnvironment(uspsbiz.Environment(raw)))
		assert.Error(t, err, raw)
		_, err = uspsbiz.New(uspsbiz.WithCOPURL(raw + "/cop-navigator"))
		assert.Error(t, err, raw)
	}
	for _, raw := range []string{"http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9", "https://apis.usps.com"} {
		_, err := uspsbiz.New(uspsbiz.WithEnvironment(uspsbiz.Environment(raw)))
		assert.NoError(t, err, raw)
	}
}

// tokenHost answers every token request with body.
func tokenHost(t *testing.T, body string) *uspsbiz.Client {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := uspsbiz.New(uspsbiz.WithEnvironment(uspsbiz.Environment(srv.URL)),
		uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: testClientID, ClientSecret: testSecret}))
	require.NoError(t, err)
	return c
}

func TestHostileLenientTokenAnswersRefused(t *testing.T) {
	bad := map[string]string{
		"zero expires_in":       `{"access_token":"a","token_type":"Bearer","expires_in":0,"refresh_token":"r"}`,
		"negative expires_in":   `{"access_token":"a","token_type":"Bearer","expires_in":-5,"refresh_token":"r"}`,
		"68-year expires_in":    `{"access_token":"a","token_type":"Bearer","expires_in":"2147483000","refresh_token":"r"}`,
		"absurd refresh expiry": `{"access_token":"a","token_type":"Bearer","expires_in":28800,"refresh_token":"r","refresh_token_expires_in":9999999999}`,
	}
	for name, body := range bad {
		c := tokenHost(t, body)
		_, err := c.Exchange(t.Context(), "code", testRedirect, "")
		require.Error(t, err, name)
		assert.ErrorIs(t, err, uspsbiz.ErrInvalidTokenResponse, name)
		_, err = c.Refresh(t.Context(), "r")
		assert.ErrorIs(t, err, uspsbiz.ErrInvalidTokenResponse, name)
	}
	// A code exchange without a refresh token: typed, and it says the code is spent.
	c := tokenHost(t, `{"access_token":"a","token_type":"Bearer","expires_in":28800}`)
	_, err := c.Exchange(t.Context(), "code", testRedirect, "")
	var tre *uspsbiz.TokenResponseError
	require.ErrorAs(t, err, &tre)
	assert.True(t, tre.CodeSpent)
	assert.ErrorIs(t, err, uspsbiz.ErrReauthorizationRequired)
	assert.Contains(t, err.Error(), "authorization code is spent")
	// A sane answer still works.
	c = tokenHost(t, `{"access_token":"a","token_type":"Bearer","expires_in":28800,"refresh_token":"r"}`)
	_, err = c.Exchange(t.Context(), "code", testRedirect, "")
	assert.NoError(t, err)
}

func TestHostileTokenErrorFieldSanitized(t *testing.T) {
	long := strings.Repeat("x", 300)
	for _, code := range []string{"invalid_grant\nX-Injected: 1", long, "bad 1234567890"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = fmt.Fprintf(w, `{"error":%q}`, code)
		}))
		c, err := uspsbiz.New(uspsbiz.WithEnvironment(uspsbiz.Environment(srv.URL)),
			uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: testClientID, ClientSecret: testSecret}))
		require.NoError(t, err)
		_, err = c.Refresh(t.Context(), "r")
		srv.Close()
		require.Error(t, err)
		msg := err.Error()
		assert.NotContains(t, msg, "\n")
		assert.NotContains(t, msg, "1234567890")
		assert.Less(t, len(msg), 200)
	}
}

func TestHostileAPIErrorEchoFiltered(t *testing.T) {
	const eps = "9876543210"
	srv := newFake(t)
	c := newClient(t, srv)
	srv.InjectFault(uspsbiztest.Fault{Match: "/payments", Status: 400,
		Body: `{"apiVersion":"v3","error":{"code":"400","message":"Account ` + eps + ` is\nnot\u0007 valid","errors":[{"code":"999999","title":"EPS ` + eps + ` unknown\r\nX: y"}]}}`})
	_, err := c.LookupEPA(t.Context(), eps)
	var ae *uspsbiz.APIError
	if err == nil {
		t.Fatal("no error")
	}
	_ = errors.As(err, &ae)
	for _, out := range []string{err.Error(), fmt.Sprintf("%v %+v %#v %s %q", err, err, err, err, err)} {
		assert.NotContains(t, out, eps)
		assert.NotContains(t, out, "\n")
		assert.NotContains(t, out, "\r")
		assert.NotContains(t, out, "\a")
	}
	// An *APIError formatted directly, %#v included, is filtered as well.
	e := &uspsbiz.APIError{StatusCode: 400, Message: "EPS " + eps, Body: []byte(eps)}
	out := fmt.Sprintf("%v %+v %#v %s %q", e, e, e, e, e)
	assert.NotContains(t, out, eps)
}

func TestHostileEPALookupBare404IsNotNotFound(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv)
	srv.InjectFault(uspsbiztest.Fault{Match: "/payments/v3/payment-account", Status: 404, Body: "<html><body>Not Found</body></html>"})
	epa, err := c.LookupEPA(t.Context(), "1234567890")
	assert.Error(t, err, "an HTML 404 is not an answer about the account")
	assert.Nil(t, epa)
}

func TestHostileEmptyBodiesAreErrors(t *testing.T) {
	srv := newFake(t, uspsbiztest.WithBusinessAccount(uspsbiztest.BusinessAccount{Username: "u2", Password: "p", CRID: "5551234", EPAs: []uspsbiztest.EPA{{AccountNumber: "1234567890"}}}))
	c := newClient(t, srv)
	pkg := uspsbiz.Package{OriginZIP: "10001", DestinationZIP: "94105", Weight: usps.Pound, Length: usps.Inch, Width: usps.Inch, Height: usps.Inch}
	for _, body := range []string{"{}", "null"} {
		srv.InjectFault(uspsbiztest.Fault{Match: "/payments/v3/payment-account", Status: 200, Body: body})
		epa, err := c.LookupEPA(t.Context(), "1234567890")
		assert.ErrorIs(t, err, uspsbiz.ErrMalformedResponse, "EPA %s", body)
		assert.Nil(t, epa)
		srv.InjectFault(uspsbiztest.Fault{Match: "/prices/v3/base-rates/search", Status: 200, Body: body})
		res, err := c.BaseRates(t.Context(), uspsbiz.BaseRatesQuery{Package: pkg, MailClass: "PRIORITY_MAIL"})
		assert.ErrorIs(t, err, uspsbiz.ErrMalformedResponse, "base rates %s", body)
		assert.Nil(t, res)
		srv.InjectFault(uspsbiztest.Fault{Match: "/prices/v3/base-rates-list/search", Status: 200, Body: body})
		res, err = c.BaseRatesList(t.Context(), uspsbiz.RateListQuery{Package: pkg, MailClasses: []string{"PRIORITY_MAIL"}})
		assert.ErrorIs(t, err, uspsbiz.ErrMalformedResponse, "rate list %s", body)
		assert.Nil(t, res)
	}
}

func TestHostileZIPsNormalizedOrRefused(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv)
	pkg := func(o, d string) uspsbiz.BaseRatesQuery {
		return uspsbiz.BaseRatesQuery{Package: uspsbiz.Package{OriginZIP: o, DestinationZIP: d, Weight: usps.Pound, Length: usps.Inch, Width: usps.Inch, Height: usps.Inch}, MailClass: "PRIORITY_MAIL"}
	}
	for _, z := range []string{"1000 1", "10001-", "10001 12", "1000112", "ABCDE", "10001--1234"} {
		_, err := c.BaseRates(t.Context(), pkg(z, "94105"))
		assert.Error(t, err, z)
	}
	srv.ResetRequests()
	_, _ = c.BaseRates(t.Context(), pkg("100011234", "94105 1234"))
	var sent string
	for _, r := range srv.Requests() {
		if strings.Contains(r.Path, "base-rates") {
			sent = string(r.Body)
		}
	}
	assert.Contains(t, sent, `"originZIPCode":"10001-1234"`)
	assert.Contains(t, sent, `"destinationZIPCode":"94105-1234"`)
}

func TestHostileResponseOnlyPriceTypeRefused(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv)
	srv.ResetRequests()
	q := uspsbiz.BaseRatesQuery{Package: uspsbiz.Package{OriginZIP: "10001", DestinationZIP: "94105", Weight: usps.Pound, Length: usps.Inch, Width: usps.Inch, Height: usps.Inch}, MailClass: "PRIORITY_MAIL", PriceType: uspsbiz.PricePublished}
	_, err := c.BaseRates(t.Context(), q)
	assert.Error(t, err)
	_, err = c.BaseRatesList(t.Context(), uspsbiz.RateListQuery{Package: q.Package, PriceType: "PUBLISHED"})
	assert.Error(t, err)
	assert.Zero(t, srv.Count("/prices"), "no request sent")
}

type staticTS struct{ t *uspsbiz.Token }

func (s staticTS) Token() (*oauth2.Token, error) { return s.t.OAuth2(), nil }

func TestHostileEPAPrintsNoEcho(t *testing.T) {
	const eps = "9876543210"
	srv := newFake(t)
	c := newClient(t, srv)
	srv.InjectFault(uspsbiztest.Fault{Match: "/payments", Status: 400,
		Body: `{"apiVersion":"v3","error":{"code":"400","message":"Account ` + eps + ` unknown","errors":[{"code":"100001","title":"EPS ` + eps + ` unknown"}]}}`})
	epa, err := c.LookupEPA(t.Context(), eps)
	require.NoError(t, err)
	require.Equal(t, "100001", epa.Code)
	var v any = epa
	var w any = *epa
	out := fmt.Sprintf("%v %+v %#v %s %q %v %+v %#v %s %q", v, v, v, v, v, w, w, w, w, w)
	assert.NotContains(t, out, eps)
	assert.Contains(t, out, "100001")
}
