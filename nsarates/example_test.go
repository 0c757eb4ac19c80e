package nsarates_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/usps"
)

// A contract rate file as a platform would import it: one table record, a
// fee, then cells.
const contractCSV = nsarates.CSVHeader + `
table,1234567890,Priority Mail Contract 629,2026-01,2026-01-18,,,,,,,,,
fee,,,,,,,,,,,nonstandard length 22,22in,4.00
cell,,,,,,PRIORITY_MAIL,SP,MACHINABLE,05,1lb,,,8.10
cell,,,,,,PRIORITY_MAIL,SP,MACHINABLE,05,2lb,,,9.35
cell,,,,,,PRIORITY_MAIL,SP,MACHINABLE,05,3lb,,,10.20
`

const commercialCSV = nsarates.CSVHeader + `
table,,Commercial,2026-01,2026-01-18,,,,,,,,,
cell,,,,,,PRIORITY_MAIL,SP,MACHINABLE,05,1lb,,,9.90
cell,,,,,,PRIORITY_MAIL,SP,MACHINABLE,05,2lb,,,11.40
cell,,,,,,PRIORITY_MAIL,SP,MACHINABLE,05,3lb,,,12.45
cell,,,,,,PRIORITY_MAIL,SP,MACHINABLE,05,70lb,,,150.00
`

func mustRead(s string) *nsarates.Table {
	t, err := nsarates.ReadCSV(strings.NewReader(s))
	if err != nil {
		panic(err)
	}
	return t
}

func ExamplePricer_Quote() {
	p, _ := nsarates.NewPricer()
	_ = p.SetContract(mustRead(contractCSV))
	_ = p.SetPublished(nsarates.SourceCommercial, mustRead(commercialCSV))

	// Resolve strings to handles once, not per label.
	account, _ := p.Account("1234567890")
	priority, _ := p.Product(nsarates.ProductKey{MailClass: "PRIORITY_MAIL", RateIndicator: "SP", ProcessingCategory: "MACHINABLE"})
	date := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

	for _, s := range []nsarates.Shipment{
		// 1 lb 8 oz in a 10×8×6 in box: the 2 lb contract price.
		{Account: account, Product: priority, Zone: 5, Weight: 24 * usps.Ounce, Length: 10 * usps.Inch, Width: 8 * usps.Inch, Height: 6 * usps.Inch, Date: date},
		// 24×6×4 in: over 22 in, so the nonstandard length fee is added.
		{Account: account, Product: priority, Zone: 5, Weight: 2 * usps.Pound, Length: 24 * usps.Inch, Width: 6 * usps.Inch, Height: 4 * usps.Inch, Date: date},
		// 20×12×10 in at 2 lb: DIM weight 2400/166 → 15 lb, beyond the contract.
		{Account: account, Product: priority, Zone: 5, Weight: 2 * usps.Pound, Length: 20 * usps.Inch, Width: 12 * usps.Inch, Height: 10 * usps.Inch, Date: date},
		// No account: published rates.
		{Product: priority, Zone: 5, Weight: 2 * usps.Pound, Length: 10 * usps.Inch, Width: 8 * usps.Inch, Height: 6 * usps.Inch, Date: date},
	} {
		q, err := p.Quote(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("$%s (%s + %s fees) %s %s/%s, billable %s, tier %s, fallback: %s\n",
			q.Price, q.Postage, q.Fees, q.Source, q.TableID, q.TableVersion, q.BillableWeight, q.Tier, q.Fallback)
	}
	// Output:
	// $9.35 (9.35 + 0.00 fees) contract Priority Mail Contract 629/2026-01, billable 2lb, tier 2lb, fallback: none
	// $13.35 (9.35 + 4.00 fees) contract Priority Mail Contract 629/2026-01, billable 2lb, tier 2lb, fallback: none
	// $150.00 (150.00 + 0.00 fees) commercial Commercial/2026-01, billable 70lb, tier 70lb, fallback: beyond the table
	// $11.40 (11.40 + 0.00 fees) commercial Commercial/2026-01, billable 2lb, tier 2lb, fallback: no table
}

func ExampleTable_Derive() {
	commercial := mustRead(commercialCSV)
	contract, _ := commercial.Derive(nsarates.TableInfo{
		Account: "1234567890", ID: "12.5 percent off", Version: "1",
	}, nsarates.Discount{BasisPoints: 1250, MinPrice: 900})
	for c := range contract.Cells() {
		base, _ := commercial.Price(c.CellKey)
		fmt.Printf("%s: %s → %s\n", c.Tier, base, c.Price)
	}
	// Output:
	// 1lb: 9.90 → 9.00
	// 2lb: 11.40 → 9.98
	// 3lb: 12.45 → 10.89
	// 70lb: 150.00 → 131.25
}

func ExampleReadCSV_error() {
	bad := strings.Replace(contractCSV, "9.35", "9.355", 1)
	_, err := nsarates.ReadCSV(strings.NewReader(bad))
	var pe *nsarates.ParseError
	if errors.As(err, &pe) {
		fmt.Println(pe.Line, pe.Column, pe.Field, errors.Is(err, usps.ErrPrecision))
	}
	fmt.Println(err)
	// Output:
	// 5 48 price true
	// nsarates: csv line 5, column 48 (price): usps: "9.355": too many decimals
}

func ExampleTable_WriteCSV() {
	b := nsarates.NewBuilder(nsarates.TableInfo{ID: "Commercial", Version: "2026-01"})
	ga := nsarates.ProductKey{MailClass: "USPS_GROUND_ADVANTAGE", RateIndicator: "SP", ProcessingCategory: "MACHINABLE"}
	_ = b.SetCell(nsarates.CellKey{Product: ga, Zone: 1, Tier: nsarates.WeightTier(4 * usps.Ounce)}, 550)
	_ = b.SetCell(nsarates.CellKey{Product: ga, Zone: 1, Tier: nsarates.WeightTier(1599)}, 780)
	t, _ := b.Build()
	_ = t.WriteCSV(os.Stdout)
	// Output:
	// record,eps_account,table_id,version,effective_from,effective_to,mail_class,rate_indicator,processing_category,zone,tier,fee,over,price
	// table,,Commercial,2026-01,,,,,,,,,,
	// cell,,,,,,USPS_GROUND_ADVANTAGE,SP,MACHINABLE,01,4oz,,,5.50
	// cell,,,,,,USPS_GROUND_ADVANTAGE,SP,MACHINABLE,01,15.99oz,,,7.80
}

func ExampleCompare() {
	ours := mustRead(contractCSV)
	b := nsarates.NewBuilderFrom(ours)
	k := nsarates.CellKey{
		Product: nsarates.ProductKey{MailClass: "PRIORITY_MAIL", RateIndicator: "SP", ProcessingCategory: "MACHINABLE"},
		Zone:    5, Tier: nsarates.WeightTier(2 * usps.Pound),
	}
	_ = b.SetCell(k, 940) // what USPS answered for this cell
	usps, _ := b.Build()
	for _, d := range nsarates.Compare(ours, usps) {
		fmt.Printf("%s zone %s %s: ours %s, USPS %s\n", d.Product, d.Zone, d.Tier, d.A, d.B)
	}
	// Output:
	// PRIORITY_MAIL/SP/MACHINABLE zone 05 2lb: ours 9.35, USPS 9.40
}

// The same 12.2-inch cube of 2 lb on both sides of 2026-07-12: the 2019
// rules round its sides off to 12 in (1,728 in³, no dimensional weight), the
// 2026 rules round them up to 13 in (2,197 in³ ÷ 139 → 16 lb). A host adds a
// rule set of its own for dates after the defaults' horizon.
func ExampleWithRuleSet() {
	table := nsarates.NewBuilder(nsarates.TableInfo{ID: "Commercial", Version: "2026-07"})
	pm := nsarates.ProductKey{MailClass: "PRIORITY_MAIL", RateIndicator: "SP", ProcessingCategory: "MACHINABLE"}
	for lb := 1; lb <= 70; lb++ {
		_ = table.SetCell(nsarates.CellKey{Product: pm, Zone: 5, Tier: nsarates.WeightTier(usps.Weight(lb) * usps.Pound)}, usps.Cents(900+60*lb))
	}
	commercial, _ := table.Build()

	next := nsarates.DefaultRuleSets()[1]
	next.ID, next.EffectiveFrom, next.KnownThrough = "platform-2027-01-18", time.Date(2027, 1, 18, 0, 0, 0, 0, time.UTC), time.Time{}

	p, _ := nsarates.NewPricer(nsarates.WithRuleSet(next))
	_ = p.SetPublished(nsarates.SourceCommercial, commercial)
	id, _ := p.Product(pm)
	for _, day := range []string{"2026-07-11", "2026-07-12", "2027-01-18"} {
		date, _ := time.ParseInLocation(time.DateOnly, day, nsarates.Central())
		q, _ := p.Quote(nsarates.Shipment{Product: id, Zone: 5, Weight: 2 * usps.Pound,
			Length: 12200, Width: 12200, Height: 12200, Date: date})
		fmt.Printf("%s %-19s billable %-4s $%s\n", day, q.RuleSet, q.BillableWeight, q.Price)
	}
	// Output:
	// 2026-07-11 usps-2019-06-23     billable 2lb  $10.20
	// 2026-07-12 usps-2026-07-12     billable 16lb $18.60
	// 2027-01-18 platform-2027-01-18 billable 16lb $18.60
}
