package uspsbiz_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// BenchmarkLookupEPA calls one fake route (GET payment-account) through
// uspsbiz and through plain net/http + encoding/json in the same run, so
// that their ratio is the SDK's overhead: retry wiring, error decoding,
// budget and logging hooks. Both sides use http.DefaultTransport with a 30 s
// client timeout, and the platform token is cached before timing starts.
//
//	go test -run '^$' -bench LookupEPA -benchmem -count 6 ./uspsbiz/
func BenchmarkLookupEPA(b *testing.B) {
	srv := newPaymentsFake(b)
	c, bearer := benchClient(b, srv)
	account := usps.EPSAccount(epsActive)

	b.Run("uspsbiz", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			epa, err := c.LookupEPA(b.Context(), account)
			if err != nil || !epa.Active {
				b.Fatal(err)
			}
		}
	})
	b.Run("nethttp", func(b *testing.B) {
		b.ReportAllocs()
		// The same per-attempt timeout uspsbiz sets by default.
		hc := &http.Client{Timeout: 30 * time.Second}
		url := fmt.Sprintf("%s/payments/v3/payment-account/%s?accountType=EPS", srv.URL, epsActive)
		for b.Loop() {
			req, err := http.NewRequestWithContext(b.Context(), http.MethodGet, url, nil)
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Authorization", bearer)
			req.Header.Set("Accept", "application/json")
			res, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			var out struct {
				AccountType     string `json:"accountType"`
				AccountNumber   string `json:"accountNumber"`
				NonProfitStatus bool   `json:"nonProfitStatus"`
				SufficientFunds *bool  `json:"sufficientFunds"`
			}
			err = json.NewDecoder(res.Body).Decode(&out)
			res.Body.Close()
			if err != nil || res.StatusCode != http.StatusOK {
				b.Fatal(res.StatusCode, err)
			}
		}
	})
}

// benchClient is a client of the fake with its platform token cached before
// timing starts, and that token's Authorization header value for the plain
// net/http side of a comparison.
func benchClient(b *testing.B, srv *uspsbiztest.Server) (*uspsbiz.Client, string) {
	b.Helper()
	c, err := uspsbiz.New(uspsbiz.WithEnvironment(uspsbiz.Environment(srv.URL)), uspsbiz.WithClock(srv.Now),
		uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: testClientID, ClientSecret: testSecret}))
	if err != nil {
		b.Fatal(err)
	}
	tok, err := c.PlatformToken(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	return c, "Bearer " + tok.AccessToken.Reveal()
}
