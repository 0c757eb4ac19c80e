package nsarates_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/usps"
)

// This file checks the dated rules through the public API only: a
// commercial table built with the Builder, a Pricer with the default rule
// sets, shipments with sides in inches as a tape reads them. The same case
// table is in docs/pricing-rules.md; `go test -run TestRuleCases
// -update-docs` rewrites it there.

var updateDocs = flag.Bool("update-docs", false, "rewrite the case table in docs/pricing-rules.md")

// caseProducts are the products of the case table, with the base price of
// their zone-5 cells: a cell costs base + 10 ¢ × its tier index, so that
// the price shows which product and tier priced a case. The amounts are
// invented; only the rules are USPS's.
var caseProducts = []struct {
	name  string
	key   nsarates.ProductKey
	base  usps.Cents
	tiers func() []nsarates.Tier
}{
	{"PM", nsarates.ProductKey{MailClass: "PRIORITY_MAIL", RateIndicator: "SP", ProcessingCategory: "MACHINABLE"}, 1000, pounds},
	{"PM-DN", nsarates.ProductKey{MailClass: "PRIORITY_MAIL", RateIndicator: "DN", ProcessingCategory: "NONSTANDARD"}, 1100, pounds},
	{"PME", nsarates.ProductKey{MailClass: "PRIORITY_MAIL_EXPRESS", RateIndicator: "PA", ProcessingCategory: "MACHINABLE"}, 3000, pounds},
	{"GA", nsarates.ProductKey{MailClass: "USPS_GROUND_ADVANTAGE", RateIndicator: "SP", ProcessingCategory: "MACHINABLE"}, 800, ouncesThenPounds},
	{"GA-OS", nsarates.ProductKey{MailClass: "USPS_GROUND_ADVANTAGE", RateIndicator: "OS", ProcessingCategory: "MACHINABLE"}, 9000, oneTier},
	{"PS", nsarates.ProductKey{MailClass: "PARCEL_SELECT", RateIndicator: "SP", ProcessingCategory: "MACHINABLE"}, 700, pounds},
	{"PS-OS", nsarates.ProductKey{MailClass: "PARCEL_SELECT", RateIndicator: "OS", ProcessingCategory: "MACHINABLE"}, 8500, oneTier},
	{"PM-cubic", nsarates.ProductKey{MailClass: "PRIORITY_MAIL", RateIndicator: "CP", ProcessingCategory: "MACHINABLE"}, 600, cubic(5)},
	{"GA-cubic", nsarates.ProductKey{MailClass: "USPS_GROUND_ADVANTAGE", RateIndicator: "CP", ProcessingCategory: "MACHINABLE"}, 500, cubic(10)},
	{"PM-softpack", nsarates.ProductKey{MailClass: "PRIORITY_MAIL", RateIndicator: "CP", ProcessingCategory: "SOFT_PACK_MACHINABLE"}, 650, softpack(5)},
	{"GA-softpack", nsarates.ProductKey{MailClass: "USPS_GROUND_ADVANTAGE", RateIndicator: "CP", ProcessingCategory: "SOFT_PACK_MACHINABLE"}, 550, softpack(10)},
}

func pounds() []nsarates.Tier {
	var tiers []nsarates.Tier
	for lb := 1; lb <= 70; lb++ {
		tiers = append(tiers, nsarates.WeightTier(usps.Weight(lb)*usps.Pound))
	}
	return tiers
}

func ouncesThenPounds() []nsarates.Tier {
	return append([]nsarates.Tier{nsarates.WeightTier(4 * usps.Ounce), nsarates.WeightTier(8 * usps.Ounce),
		nsarates.WeightTier(12 * usps.Ounce), nsarates.WeightTier(1599)}, pounds()...)
}

func oneTier() []nsarates.Tier { return []nsarates.Tier{nsarates.WeightTier(70 * usps.Pound)} }

func cubic(n int) func() []nsarates.Tier {
	return func() []nsarates.Tier {
		var tiers []nsarates.Tier
		for i := 1; i <= n; i++ {
			tiers = append(tiers, nsarates.CubicTier(i))
		}
		return tiers
	}
}

func softpack(n int) func() []nsarates.Tier {
	return func() []nsarates.Tier {
		var tiers []nsarates.Tier
		for i := 1; i <= n; i++ {
			tiers = append(tiers, nsarates.SoftPackTier(i))
		}
		return tiers
	}
}

// caseFees are the test table's nonstandard fees: data, as a Notice 123
// table would give them (amounts invented).
var caseFees = []nsarates.Fee{
	{Name: "length over 22 in", Kind: nsarates.FeeLength, Over: int64(22 * usps.Inch), Amount: 400},
	{Name: "length over 30 in", Kind: nsarates.FeeLength, Over: int64(30 * usps.Inch), Amount: 1500},
	{Name: "volume over 2 cu ft", Kind: nsarates.FeeVolume, Over: 3456, Amount: 2500},
}

// ruleCase is one row of the table. Sides are "L x W x H" in inches.
type ruleCase struct {
	rule, date, product, weight, sides string
	want                               string
}

var ruleCases = []ruleCase{
	{"DIM, sides rounded off (2019) or up (2026)", "2026-07-11", "PM", "2lb", "12.2 x 12.2 x 12.2", "$10.10: 2lb tier, billable 2lb, usps-2019-06-23"},
	{"DIM, sides rounded off (2019) or up (2026)", "2026-07-12", "PM", "2lb", "12.2 x 12.2 x 12.2", "$11.50: 16lb tier, billable 16lb, usps-2026-07-12"},
	{"DIM divisor 166 / 139, Priority Mail", "2026-07-11", "PM", "5lb", "20 x 12 x 10", "$11.40: 15lb tier, billable 15lb, usps-2019-06-23"},
	{"DIM divisor 166 / 139, Priority Mail", "2026-07-12", "PM", "5lb", "20 x 12 x 10", "$11.70: 18lb tier, billable 18lb, usps-2026-07-12"},
	{"DIM, Priority Mail Express", "2026-07-11", "PME", "5lb", "20 x 12 x 10", "$31.40: 15lb tier, billable 15lb, usps-2019-06-23"},
	{"DIM, Priority Mail Express", "2026-07-12", "PME", "5lb", "20 x 12 x 10", "$31.70: 18lb tier, billable 18lb, usps-2026-07-12"},
	{"DIM, Ground Advantage", "2026-07-11", "GA", "5lb", "20 x 12 x 10", "$9.80: 15lb tier, billable 15lb, usps-2019-06-23"},
	{"DIM, Ground Advantage", "2026-07-12", "GA", "5lb", "20 x 12 x 10", "$10.10: 18lb tier, billable 18lb, usps-2026-07-12"},
	{"DIM, Parcel Select", "2026-07-11", "PS", "5lb", "20 x 12 x 10", "$8.40: 15lb tier, billable 15lb, usps-2019-06-23"},
	{"DIM, Parcel Select", "2026-07-12", "PS", "5lb", "20 x 12 x 10", "$8.70: 18lb tier, billable 18lb, usps-2026-07-12"},
	{"not over 1 cu ft: no DIM", "2026-07-12", "PM", "1lb", "12 x 12 x 12", "$10.00: 1lb tier, billable 1lb, usps-2026-07-12"},
	{"eighths of an inch", "2026-07-11", "PM", "1lb", "40 x 10 x 4.875", "$11.20 + $15.00 fees: 13lb tier, billable 13lb, usps-2019-06-23"},
	{"eighths of an inch", "2026-07-12", "PM", "1lb", "40 x 10 x 4.875", "$11.40 + $15.00 fees: 15lb tier, billable 15lb, usps-2026-07-12"},
	{"non-rectangular ×0.785", "2026-07-11", "PM-DN", "1lb", "20 x 12 x 10", "$12.10: 12lb tier, billable 12lb, usps-2019-06-23"},
	{"non-rectangular ×0.785", "2026-07-12", "PM-DN", "1lb", "20 x 12 x 10", "$12.30: 14lb tier, billable 14lb, usps-2026-07-12"},
	{"DIM over 70 lb pays the 70 lb price", "2026-07-11", "PM", "10lb", "36 x 18 x 18", "$16.90 + $40.00 fees: 70lb tier, billable 70lb, usps-2019-06-23"},
	{"DIM over 70 lb pays the 70 lb price", "2026-07-12", "PM", "10lb", "36 x 18 x 18", "$16.90 + $40.00 fees: 70lb tier, billable 70lb, usps-2026-07-12"},
	{"actual weight over 70 lb is refused", "2026-07-12", "PM", "70.01lb", "10 x 10 x 10", "LimitError Weight"},
	{"Ground Advantage oversized (108–130 in)", "2026-07-11", "GA", "2lb", "40 x 20 x 15", "$90.00 + $40.00 fees: 70lb tier, billable 2lb, usps-2019-06-23"},
	{"Ground Advantage oversized (108–130 in)", "2026-07-12", "GA", "2lb", "40 x 20 x 15", "$90.00 + $40.00 fees: 70lb tier, billable 2lb, usps-2026-07-12"},
	{"Parcel Select oversized", "2026-07-12", "PS", "2lb", "40 x 20 x 15", "$85.00 + $40.00 fees: 70lb tier, billable 2lb, usps-2026-07-12"},
	{"Ground Advantage at 108 in: not oversized", "2026-07-12", "GA", "2lb", "36 x 18 x 18", "$15.30 + $40.00 fees: 70lb tier, billable 70lb, usps-2026-07-12"},
	{"over 130 in is refused", "2026-07-12", "GA", "2lb", "50.125 x 20 x 20", "LimitError LengthPlusGirth"},
	{"Priority Mail over 108 in is refused", "2026-07-12", "PM", "2lb", "40 x 20 x 15", "LimitError LengthPlusGirth"},
	{"cubic longest side 18 in (2019) / 22 in (2026)", "2026-07-11", "PM-cubic", "3lb", "20 x 6 x 4", "LimitError CubicLength"},
	{"cubic longest side 18 in (2019) / 22 in (2026)", "2026-07-12", "PM-cubic", "3lb", "20 x 6 x 4", "$6.20: 0.3cuft tier, billable 3lb, usps-2026-07-12"},
	{"cubic sides round down to ¼ in, volume up to 0.1", "2026-07-12", "PM-cubic", "3lb", "11.875 x 8.625 x 5.375", "$6.30: 0.4cuft tier, billable 3lb, usps-2026-07-12"},
	{"Priority Mail cubic to 0.5 cu ft", "2026-07-12", "PM-cubic", "3lb", "12 x 12 x 10", "LimitError CubicVolume"},
	{"Ground Advantage cubic to 1.0 cu ft", "2026-07-11", "GA-cubic", "3lb", "12 x 12 x 10", "$5.80: 0.9cuft tier, billable 3lb, usps-2019-06-23"},
	{"Ground Advantage cubic to 1.0 cu ft", "2026-07-12", "GA-cubic", "3lb", "12 x 12 x 10", "$5.80: 0.9cuft tier, billable 3lb, usps-2026-07-12"},
	{"cubic at most 20 lb", "2026-07-12", "GA-cubic", "20.01lb", "12 x 12 x 10", "LimitError CubicWeight"},
	{"soft pack by length plus width", "2026-07-11", "PM-softpack", "1lb", "15 x 10 x 2", "$6.60: 0.2softpack tier, billable 1lb, usps-2019-06-23"},
	{"soft pack by length plus width", "2026-07-12", "PM-softpack", "1lb", "15 x 10 x 2", "$6.60: 0.2softpack tier, billable 1lb, usps-2026-07-12"},
	{"soft pack over 36 in is not eligible", "2026-07-12", "PM-softpack", "1lb", "19.5 x 17 x 1", "LimitError SoftPackLengthPlusWidth"},
	{"Ground Advantage soft pack: no bounds (2019), PM's (2026)", "2026-07-11", "GA-softpack", "1lb", "15 x 10 x 2", "no rate: no rule"},
	{"Ground Advantage soft pack: no bounds (2019), PM's (2026)", "2026-07-12", "GA-softpack", "1lb", "15 x 10 x 2", "$5.60: 0.2softpack tier, billable 1lb, usps-2026-07-12"},
	{"ounce tiers held exactly", "2026-07-12", "GA", "15.99oz", "6 x 4 x 1", "$8.30: 15.99oz tier, billable 15.99oz, usps-2026-07-12"},
	{"nonstandard length fee (table data)", "2026-07-12", "GA", "1lb", "22.125 x 5 x 5", "$8.40 + $4.00 fees: 1lb tier, billable 1lb, usps-2026-07-12"},
	{"past the newest set's horizon", "2027-02-01", "PM", "2lb", "10 x 8 x 6", "$10.10: 2lb tier, billable 2lb, usps-2026-07-12 (past horizon)"},
	{"before every rule set", "2019-06-22", "PM", "2lb", "10 x 8 x 6", "ValidationError Date"},
}

// casePricer installs the commercial table of caseProducts.
func casePricer(t *testing.T, opts ...nsarates.Option) (*nsarates.Pricer, map[string]nsarates.ProductID) {
	t.Helper()
	b := nsarates.NewBuilder(nsarates.TableInfo{ID: "cases", Version: "1"})
	for _, p := range caseProducts {
		for i, tier := range p.tiers() {
			require.NoError(t, b.SetCell(nsarates.CellKey{Product: p.key, Zone: 5, Tier: tier}, p.base+usps.Cents(10*i)))
		}
	}
	for _, f := range caseFees {
		require.NoError(t, b.AddFee(f))
	}
	table, err := b.Build()
	require.NoError(t, err)
	p, err := nsarates.NewPricer(opts...)
	require.NoError(t, err)
	require.NoError(t, p.SetPublished(nsarates.SourceCommercial, table))
	ids := map[string]nsarates.ProductID{}
	for _, cp := range caseProducts {
		ids[cp.name], err = p.Product(cp.key)
		require.NoError(t, err)
	}
	return p, ids
}

func (c ruleCase) shipment(t *testing.T, ids map[string]nsarates.ProductID) nsarates.Shipment {
	t.Helper()
	date, err := time.ParseInLocation(time.DateOnly, c.date, nsarates.Central())
	require.NoError(t, err)
	w, err := usps.ParseWeight(c.weight)
	require.NoError(t, err)
	var d [3]usps.Dimension
	parts := strings.Split(c.sides, " x ")
	require.Len(t, parts, 3, c.sides)
	for i, s := range parts {
		d[i], err = usps.ParseDimension(s)
		require.NoError(t, err)
	}
	id, ok := ids[c.product]
	require.True(t, ok, c.product)
	return nsarates.Shipment{Product: id, Zone: 5, Weight: w, Length: d[0], Width: d[1], Height: d[2], Date: date}
}

// describe renders a quote or error as the table's "result" column.
func describe(q nsarates.Quote, err error) string {
	var le *nsarates.LimitError
	var ve *nsarates.ValidationError
	var nr *nsarates.NoRateError
	switch {
	case errors.As(err, &le):
		return "LimitError " + le.Field
	case errors.As(err, &ve):
		return "ValidationError " + ve.Field
	case errors.As(err, &nr):
		return "no rate: " + nr.Commercial.String()
	case err != nil:
		return "error: " + err.Error()
	}
	s := "$" + q.Postage.String()
	if q.Fees != 0 {
		s += " + $" + q.Fees.String() + " fees"
	}
	s += fmt.Sprintf(": %s tier, billable %s, %s", q.Tier, q.BillableWeight, q.RuleSet)
	if q.PastHorizon {
		s += " (past horizon)"
	}
	return s
}

func TestRuleCases(t *testing.T) {
	p, ids := casePricer(t)
	var rows strings.Builder
	rows.WriteString("| rule | mailing date | product | weight | sides (in) | result |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, c := range ruleCases {
		got := describe(p.Quote(c.shipment(t, ids)))
		assert.Equal(t, c.want, got, "%s on %s", c.rule, c.date)
		fmt.Fprintf(&rows, "| %s | %s | %s | %s | %s | %s |\n", c.rule, c.date, c.product, c.weight, c.sides, got)
	}

	const path = "../docs/pricing-rules.md"
	doc, err := os.ReadFile(path)
	require.NoError(t, err)
	const begin, end = "<!-- cases:begin -->\n", "<!-- cases:end -->"
	before, rest, ok1 := strings.Cut(string(doc), begin)
	_, after, ok2 := strings.Cut(rest, end)
	require.True(t, ok1 && ok2, "%s has the case markers", path)
	want := before + begin + rows.String() + end + after
	if *updateDocs {
		require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
		return
	}
	assert.Equal(t, want, string(doc), "docs/pricing-rules.md lists the case table; run go test -run TestRuleCases -update-docs")
}
