package nsarates_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/usps"
)

// big is a 12.2-inch cube of 2 lb: no DIM under the 2019 rules (sides
// round off to 12 in), 16 lb under the 2026 rules (13 in, ÷139).
func big(id nsarates.ProductID) nsarates.Shipment {
	return nsarates.Shipment{Product: id, Zone: 5, Weight: 2 * usps.Pound, Length: 12200, Width: 12200, Height: 12200}
}

// TestMailingDateFromClock leaves the date zero: the pricer's clock, read
// in Central time, gives the mailing day.
func TestMailingDateFromClock(t *testing.T) {
	now := time.Date(2026, 7, 12, 4, 30, 0, 0, time.UTC) // 23:30 CDT on July 11
	p, ids := casePricer(t, nsarates.WithClock(func() time.Time { return now }))
	s := big(ids["PM"])

	q, err := p.Quote(s)
	require.NoError(t, err)
	assert.Equal(t, "usps-2019-06-23", q.RuleSet, "04:30 UTC on July 12 is still July 11 in Chicago")
	assert.Equal(t, 2*usps.Pound, q.BillableWeight)

	now = time.Date(2026, 7, 12, 5, 0, 0, 0, time.UTC) // 00:00 CDT on July 12
	q, err = p.Quote(s)
	require.NoError(t, err)
	assert.Equal(t, "usps-2026-07-12", q.RuleSet, "midnight Central starts July 12")
	assert.Equal(t, 16*usps.Pound, q.BillableWeight)

	now = time.Date(2026, 7, 12, 4, 59, 59, 0, time.UTC) // the clock may step back
	q, err = p.Quote(s)
	require.NoError(t, err)
	assert.Equal(t, "usps-2019-06-23", q.RuleSet)

	// An explicit date wins over the clock; its own calendar date counts.
	s.Date = time.Date(2026, 7, 12, 0, 0, 0, 0, time.UTC)
	q, err = p.Quote(s)
	require.NoError(t, err)
	assert.Equal(t, "usps-2026-07-12", q.RuleSet)

	_, err = nsarates.NewPricer(nsarates.WithClock(nil))
	var ve *nsarates.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "Clock", ve.Field)
}

// TestContractEndsAtMidnightCentral: a contract whose EffectiveTo is
// 2026-07-12 prices labels mailed on July 11 until midnight in Chicago,
// which is 05:00 UTC on July 12, not 19:00 CDT.
func TestContractEndsAtMidnightCentral(t *testing.T) {
	p, ids := casePricer(t, nsarates.WithClock(func() time.Time { return time.Date(2026, 7, 12, 3, 0, 0, 0, time.UTC) }))
	contract, err := nsarates.ReadCSV(stringsReader(nsarates.CSVHeader + `
table,1234567890,Contract 629,1,2026-01-18,2026-07-12,,,,,,,,
cell,,,,,,PRIORITY_MAIL,SP,MACHINABLE,05,70lb,,,5.00
`))
	require.NoError(t, err)
	require.NoError(t, p.SetContract(contract))
	acct, err := p.Account("1234567890")
	require.NoError(t, err)
	s := nsarates.Shipment{Account: acct, Product: ids["PM"], Zone: 5, Weight: usps.Pound, Length: 10 * usps.Inch, Width: 8 * usps.Inch, Height: 6 * usps.Inch}

	// 22:00 CDT on July 11 (03:00 UTC on July 12), mailing date from the clock.
	q, err := p.Quote(s)
	require.NoError(t, err)
	assert.Equal(t, nsarates.SourceContract, q.Source)

	// The same instant given as the mailing date, converted to Central.
	s.Date = time.Date(2026, 7, 12, 3, 0, 0, 0, time.UTC).In(nsarates.Central())
	q, err = p.Quote(s)
	require.NoError(t, err)
	assert.Equal(t, nsarates.SourceContract, q.Source)

	s.Date = time.Date(2026, 7, 12, 0, 0, 0, 0, nsarates.Central())
	q, err = p.Quote(s)
	require.NoError(t, err)
	assert.Equal(t, nsarates.SourceCommercial, q.Source)
	assert.Equal(t, nsarates.ReasonOutsideDates, q.Fallback)

	// The first day counts from midnight Central too.
	s.Date = time.Date(2026, 1, 18, 0, 0, 0, 0, time.UTC)
	q, err = p.Quote(s)
	require.NoError(t, err)
	assert.Equal(t, nsarates.SourceContract, q.Source)
	s.Date = time.Date(2026, 1, 17, 0, 0, 0, 0, time.UTC)
	q, err = p.Quote(s)
	require.NoError(t, err)
	assert.Equal(t, nsarates.SourceCommercial, q.Source)
}

// TestWithRuleSet adds a host's rule set after the defaults and replaces a
// default one.
func TestWithRuleSet(t *testing.T) {
	sets := nsarates.DefaultRuleSets()
	require.Len(t, sets, 2)
	next := sets[1]
	next.ID = "host-2027-01-18"
	next.EffectiveFrom = time.Date(2027, 1, 18, 0, 0, 0, 0, time.UTC)
	next.KnownThrough = time.Time{}
	next.Rules.DimDivisor = 100

	p, ids := casePricer(t, nsarates.WithRuleSet(next))
	s := big(ids["PM"])
	s.Date = time.Date(2027, 1, 17, 0, 0, 0, 0, time.UTC)
	q, err := p.Quote(s)
	require.NoError(t, err)
	assert.Equal(t, "usps-2026-07-12", q.RuleSet)
	assert.False(t, q.PastHorizon, "2027-01-17 is the default set's KnownThrough day")
	assert.Equal(t, 16*usps.Pound, q.BillableWeight)

	s.Date = time.Date(2027, 1, 18, 0, 0, 0, 0, time.UTC)
	q, err = p.Quote(s)
	require.NoError(t, err)
	assert.Equal(t, "host-2027-01-18", q.RuleSet)
	assert.False(t, q.PastHorizon, "no horizon")
	assert.Equal(t, 22*usps.Pound, q.BillableWeight, "13³ = 2,197 in³ ÷ 100 → 22 lb")

	// Same EffectiveFrom: the host's set replaces the default one.
	exact := sets[0]
	exact.ID = "host-exact"
	exact.Rules.DimSides = nsarates.SidesExact
	p, ids = casePricer(t, nsarates.WithRuleSet(exact))
	s = big(ids["PM"])
	s.Date = time.Date(2026, 7, 11, 0, 0, 0, 0, time.UTC)
	q, err = p.Quote(s)
	require.NoError(t, err)
	assert.Equal(t, "host-exact", q.RuleSet)
	assert.Equal(t, 11*usps.Pound, q.BillableWeight, "12.2³ = 1,815.8 in³ ÷ 166 → 11 lb on exact sides")
	got := p.RuleSets()
	require.Len(t, got, 2)
	assert.Equal(t, "host-exact", got[0].ID)
	assert.Equal(t, time.Date(2019, 6, 23, 0, 0, 0, 0, nsarates.Central()), got[0].EffectiveFrom)
	assert.Equal(t, time.Date(2027, 1, 17, 0, 0, 0, 0, nsarates.Central()), got[1].KnownThrough)

	// Bad sets are refused with the field named.
	var ve *nsarates.ValidationError
	bad := sets[1]
	bad.ID = ""
	_, err = nsarates.NewPricer(nsarates.WithRuleSet(bad))
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "RuleSet.ID", ve.Field)
	bad = sets[1]
	bad.KnownThrough = time.Date(2026, 7, 11, 0, 0, 0, 0, time.UTC)
	_, err = nsarates.NewPricer(nsarates.WithRuleSet(bad))
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "RuleSet.KnownThrough", ve.Field)
	bad = sets[1]
	bad.Rules.DimDivisor = 0
	_, err = nsarates.NewPricer(nsarates.WithRuleSet(bad))
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "Rules.DimDivisor", ve.Field)

	// WithRules: one set for every date.
	p, ids = casePricer(t, nsarates.WithRules(sets[1].Rules))
	s = big(ids["PM"])
	s.Date = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	q, err = p.Quote(s)
	require.NoError(t, err)
	assert.Equal(t, "custom", q.RuleSet)
	assert.Equal(t, 16*usps.Pound, q.BillableWeight)
}

// TestDefaultRuleSetsAreCopies: editing the returned sets does not change
// a pricer's rules.
func TestDefaultRuleSetsAreCopies(t *testing.T) {
	p, ids := casePricer(t)
	for _, rs := range p.RuleSets() {
		rs.Rules.DimMailClasses[0] = "CHANGED"
		rs.Rules.SoftPack[0].MaxLengthPlusWidth[0] = 1
	}
	s := big(ids["PM"])
	s.Date = time.Date(2026, 7, 12, 0, 0, 0, 0, time.UTC)
	q, err := p.Quote(s)
	require.NoError(t, err)
	assert.Equal(t, 16*usps.Pound, q.BillableWeight)
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
