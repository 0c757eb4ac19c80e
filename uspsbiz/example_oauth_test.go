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
// code, and later redeems the refresh token, saving the rotated one before
// using it (linking's Linker.TokenSource does both under a lock shared by
// every process).
func ExampleClient_Exchange() {
	srv, c := exampleFake()
	defer srv.Close()
	c, _ = uspsbiz.New(uspsbiz.WithEnvironment(uspsbiz.Environment(srv.URL)), uspsbiz.WithCOPURL(srv.COPURL()), uspsbiz.WithClock(srv.Now),
		uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: "app", ClientSecret: "secret"}))
	ctx := context.Background()

	verifier := oauth2.GenerateVerifier()
	copURL, _ := c.COPURL(uspsbiz.COPRequest{
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

	srv.Advance(8 * time.Hour)
	next, err := c.Refresh(ctx, tok.RefreshToken)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("rotated:", next.RefreshToken.Reveal() != tok.RefreshToken.Reveal(), "refresh count:", next.RefreshCount)
	// Output:
	// access token: [REDACTED] expires in 7h59m59s
	// rotated: true refresh count: 1
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
