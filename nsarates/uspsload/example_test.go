package uspsload_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/nsarates/uspsload"
	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// exampleUSPS starts the fake USPS: Priority Mail is under contract up to
// 2 lb for EPS account 1000000001, everything else is at published prices.
func exampleUSPS() (*uspsbiztest.Server, *uspsbiz.Client) {
	srv := uspsbiztest.Start(
		uspsbiztest.WithApp(uspsbiztest.App{ClientID: "platform", ClientSecret: "s3cret", RedirectURIs: []string{"https://platform.example/cb"}}),
		uspsbiztest.WithBusinessAccount(uspsbiztest.BusinessAccount{Username: "acme", Password: "pw", CRID: "56781234",
			EPAs: []uspsbiztest.EPA{{AccountNumber: "1000000001"}}}),
	)
	_ = srv.SetPublishedPrices(
		uspsbiztest.Price{MailClass: "PRIORITY_MAIL", RateIndicator: "SP", ProcessingCategory: "MACHINABLE", MaxWeight: 1 * usps.Pound, Price: "9.90"},
		uspsbiztest.Price{MailClass: "PRIORITY_MAIL", RateIndicator: "SP", ProcessingCategory: "MACHINABLE", MaxWeight: 5 * usps.Pound, Price: "14.10"},
	)
	_ = srv.SetContractPrices("1000000001",
		uspsbiztest.Price{MailClass: "PRIORITY_MAIL", RateIndicator: "SP", ProcessingCategory: "MACHINABLE", MaxWeight: 1 * usps.Pound, Price: "8.10"},
		uspsbiztest.Price{MailClass: "PRIORITY_MAIL", RateIndicator: "SP", ProcessingCategory: "MACHINABLE", MaxWeight: 2 * usps.Pound, Price: "9.35"},
	)
	client, _ := uspsbiz.New(uspsbiz.WithEnvironment(uspsbiz.Environment(srv.URL)),
		uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: "platform", ClientSecret: "s3cret"}),
		uspsbiz.WithClock(srv.Now))
	return srv, client
}

// A load that runs out of calls, then resumes from the stored checkpoint.
func Example() {
	srv, client := exampleUSPS()
	defer srv.Close()
	var stored []byte // the host's storage
	loader, err := uspsload.New(client, uspsload.Config{
		Account: usps.EPSAccount("1000000001"),
		// Pairs in zones 01 and 05 of the fake's chart (uspsbiztest.Zone).
		Zones:    map[nsarates.Zone]uspsload.ZIPPair{1: {"10001", "10099"}, 5: {"10001", "40001"}},
		MaxCalls: 4,
		Save: func(_ context.Context, cp *uspsload.Checkpoint) (err error) {
			stored, err = json.Marshal(cp)
			return err
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	plan := uspsload.Plan{
		Info:     nsarates.TableInfo{ID: "Priority Mail Contract 629", Version: "1"},
		Products: []nsarates.ProductKey{{MailClass: "PRIORITY_MAIL", RateIndicator: "SP", ProcessingCategory: "MACHINABLE"}},
		Zones:    []nsarates.Zone{1, 5},
		Tiers:    []nsarates.Tier{nsarates.WeightTier(usps.Pound), nsarates.WeightTier(2 * usps.Pound), nsarates.WeightTier(5 * usps.Pound)},
	}

	ctx := context.Background()
	res, err := loader.Load(ctx, plan, nil)
	if err != nil && res != nil { // stopped; the checkpoint has the cells done
		fmt.Println("first run:", err)
		var cp uspsload.Checkpoint
		_ = json.Unmarshal(stored, &cp)
		res, err = loader.Load(ctx, plan, &cp) // later: carries on
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("second run: %d calls\n", res.Calls)
	for c := range res.Table.Cells() {
		fmt.Println("contract", c.Zone, c.Tier, c.Price)
	}
	for _, m := range res.Missing {
		fmt.Println(m.Status, m.Cell.Zone, m.Cell.Tier, m.Price)
	}
	// Output:
	// first run: uspsload: stopped after 4 of 6 cells: uspsload: max calls for this run reached
	// second run: 2 calls
	// contract 01 1lb 8.10
	// contract 01 2lb 9.35
	// contract 05 1lb 8.10
	// contract 05 2lb 9.35
	// published 01 5lb 14.10
	// published 05 5lb 14.10
}

// A spot check of a contract table imported from the customer's rate file,
// which has an outdated 2 lb price.
func ExampleLoader_SpotCheck() {
	srv, client := exampleUSPS()
	defer srv.Close()
	table, _ := nsarates.ReadCSV(strings.NewReader(nsarates.CSVHeader + `
table,1000000001,Priority Mail Contract 629,1,,,,,,,,,,
cell,,,,,,PRIORITY_MAIL,SP,MACHINABLE,05,1lb,,,8.10
cell,,,,,,PRIORITY_MAIL,SP,MACHINABLE,05,2lb,,,9.05
cell,,,,,,PRIORITY_MAIL,SP,MACHINABLE,05,5lb,,,12.00
`))
	loader, _ := uspsload.New(client, uspsload.Config{
		Account:  usps.EPSAccount("1000000001"),
		Zones:    map[nsarates.Zone]uspsload.ZIPPair{5: {"10001", "40001"}},
		MaxCalls: 10,
	})
	drift, err := loader.SpotCheck(context.Background(), table, 3, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("checked", drift.Checked, "ok", len(drift.Changed) == 0 && len(drift.Missing) == 0)
	for _, c := range drift.Changed {
		was, _ := table.Price(c.Cell)
		fmt.Printf("changed %s %s: table %s, USPS %s\n", c.Cell.Zone, c.Cell.Tier, was, c.Price)
	}
	for _, m := range drift.Missing {
		fmt.Printf("no contract price %s %s: USPS %s %s\n", m.Cell.Zone, m.Cell.Tier, m.Status, m.Price)
	}
	// Output:
	// checked 3 ok false
	// changed 05 2lb: table 9.05, USPS 9.35
	// no contract price 05 5lb: USPS published 14.10
}
