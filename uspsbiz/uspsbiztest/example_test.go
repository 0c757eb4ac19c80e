package uspsbiztest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// Point a uspsbiz client at the fake, seed it, inject a fault and look at
// what it received. In a test, NewServer(t, …) also closes it at cleanup.
func Example() {
	srv := uspsbiztest.Start(
		uspsbiztest.WithApp(uspsbiztest.App{ClientID: "app", ClientSecret: "secret", CRID: "9999001"}),
		uspsbiztest.WithBusinessAccount(uspsbiztest.BusinessAccount{Username: "widgets", Password: "pw", CRID: "56781234",
			MIDs: []string{"901234567"}, EPAs: []uspsbiztest.EPA{{AccountNumber: "1000000002", State: uspsbiztest.EPAPendingACH, MicroDebits: [2]int{17, 42}}}}),
	)
	defer srv.Close()
	c, _ := uspsbiz.New(uspsbiz.WithEnvironment(uspsbiz.Environment(srv.URL)), uspsbiz.WithClock(srv.Now),
		uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: "app", ClientSecret: "secret"}))
	ctx := context.Background()

	epa, _ := c.LookupEPA(ctx, "1000000002")
	fmt.Println(epa.Active, epa.Code) // ACH waits for its micro-debits
	_ = srv.VerifyMicroDebits("1000000002", 17, 42)
	epa, _ = c.LookupEPA(ctx, "1000000002")
	fmt.Println(epa.Active)

	srv.InjectFault(uspsbiztest.Fault{Match: "GET /payments/", Status: 429, RetryAfter: "3600"})
	_, err := c.LookupEPA(ctx, "1000000002")
	fmt.Println(errors.Is(err, uspsbiz.ErrRateLimited), srv.Count("GET /payments/v3/payment-account/"))
	// Output:
	// false 100002
	// true
	// true 3
}

// The token endpoint takes a JSON body as USPS's own examples send it, as
// well as the form body clients send.
func ExampleServer_jsonTokenRequest() {
	srv := uspsbiztest.Start(uspsbiztest.WithApp(uspsbiztest.App{ClientID: "app", ClientSecret: "secret"}))
	defer srv.Close()
	body := `{"grant_type":"client_credentials","client_id":"app","client_secret":"secret","scope":"prices"}`
	res, err := http.Post(srv.URL+"/oauth2/v3/token", "application/json", strings.NewReader(body))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer res.Body.Close()
	tok, err := decodeJSON(res)
	fmt.Println(res.StatusCode, tok["token_type"], tok["scope"], err)
	// Output:
	// 200 Bearer prices <nil>
}

func decodeJSON(res *http.Response) (map[string]any, error) {
	var m map[string]any
	err := json.NewDecoder(res.Body).Decode(&m)
	return m, err
}
