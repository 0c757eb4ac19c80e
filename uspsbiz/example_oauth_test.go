package uspsbiz_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"

	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// A customer authorizes the platform on the COP; the platform exchanges the
// code and keeps the token fresh, persisting each rotation first.
func ExampleClient_Exchange() {
	srv, c := exampleFake()
	defer srv.Close()
	c, _ = uspsbiz.New(uspsbiz.WithBaseURL(srv.URL), uspsbiz.WithCOPURL(srv.COPURL()), uspsbiz.WithClock(srv.Now),
		uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: "app", ClientSecret: "secret"}))
	ctx := context.Background()

	verifier := oauth2.GenerateVerifier()
	copURL, _ := c.COPURL(uspsbiz.AuthRequest{
		State:        "kq3Xo0V4m5Lrk2yTzqE7aA8Jm1Wb9Lc2", // random, single-use, bound to the session
		RedirectURI:  "https://platform.example/usps/callback",
		PlatformName: "Acme Ship",
		Verifier:     verifier,
	})
	// In production the customer's browser goes there; the fake can walk it.
	back, _ := srv.Authorize(copURL, uspsbiztest.Consent{Username: "acme-shipping", Password: "pw", MFACode: "123456"})
	tok, err := c.Exchange(ctx, back.Query().Get("code"), "https://platform.example/usps/callback", verifier)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("access token:", tok.AccessToken, "expires in", tok.Expiry.Sub(srv.Now()))

	saved := 0
	ts := c.MerchantTokenSource(ctx, tok, func(ctx context.Context, t *uspsbiz.Token) error {
		saved++ // seal and store t before it is used
		return nil
	})
	srv.Advance(8 * time.Hour)
	if _, err := ts.Token(); err != nil {
		fmt.Println(err)
	}
	fmt.Println("rotations persisted:", saved)
	// Output:
	// access token: [REDACTED] expires in 7h59m59s
	// rotations persisted: 1
}

func ExampleAPIError() {
	srv, c := exampleFake()
	defer srv.Close()
	srv.InjectFault(uspsbiztest.Fault{Match: "GET /payments/", Status: 429, RetryAfter: "3600"})
	_, err := c.LookupEPA(context.Background(), "1000000001")
	var ae *uspsbiz.APIError
	if errors.As(err, &ae) {
		fmt.Println(ae.StatusCode, ae.RetryAfter, errors.Is(err, uspsbiz.ErrRateLimited))
	}
	// Output:
	// 429 1h0m0s true
}
