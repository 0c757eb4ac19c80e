package linking_test

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/memstore"
	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// Example walks one customer from the COP consent to an active link against
// the fake USPS.
func Example() {
	srv := uspsbiztest.Start(
		uspsbiztest.WithApp(uspsbiztest.App{ClientID: "app", ClientSecret: "secret", Name: "Acme Ship",
			RedirectURIs: []string{"https://ship.example/usps/callback"}, CRID: "9999001"}),
		uspsbiztest.WithBusinessAccount(uspsbiztest.BusinessAccount{Username: "widgets", Password: "pw", MFACode: "123456",
			CRID: "56781234", MIDs: []string{"901234567"}, EPAs: []uspsbiztest.EPA{{AccountNumber: "1000000001"}}}),
	)
	defer srv.Close()
	_ = srv.SetContractPrices("1000000001", uspsbiztest.Price{MailClass: "PRIORITY_MAIL", Price: "8.05"})

	usps, _ := uspsbiz.New(uspsbiz.WithEnvironment(uspsbiz.Environment(srv.URL)), uspsbiz.WithCOPURL(srv.COPURL()),
		uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: "app", ClientSecret: "secret"}))
	key := make([]byte, 32)
	_, _ = rand.Read(key) // in production: from your secret manager
	sealer, _ := linking.NewAESGCMSealer("2026-11", map[string][]byte{"2026-11": key})
	linker, _ := linking.New(usps, memstore.New(), sealer,
		linking.WithRedirectURI("https://ship.example/usps/callback"),
		linking.WithPlatform("Acme Ship", "9999001"))

	ctx := context.Background()
	copURL, _ := linker.Start(ctx, "acct-1", "browser-session-1")
	// The customer signs in, passes MFA and authorizes; USPS redirects back.
	back, _ := srv.Authorize(copURL, uspsbiztest.Consent{Username: "widgets", Password: "pw", MFACode: "123456"})
	st, err := linker.Callback(ctx, "acct-1", "browser-session-1", back.Query())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st.State)
	st, _ = linker.SubmitCredentials(ctx, "acct-1", linking.CredentialsInput{CRID: "56781234", MID: "901234567", EPS: "1000000001"})
	fmt.Println(st.State, st.NSARatesApply)
	// Output:
	// awaiting_credentials
	// active true
}
