package nsarates

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/usps"
)

var (
	keyPM    = ProductKey{mailClassPriority, "SP", "MACHINABLE"}
	keyPME   = ProductKey{mailClassPriorityExpress, "PA", "MACHINABLE"}
	keyGA    = ProductKey{mailClassGroundAdvantage, "SP", "MACHINABLE"}
	keyCubic = ProductKey{mailClassPriority, "CP", "MACHINABLE"}
	keyFlat  = ProductKey{mailClassPriority, "FE", "FLATS"}
	// keyGAOS is Ground Advantage's oversized product: one price per zone.
	keyGAOS = ProductKey{mailClassGroundAdvantage, "OS", "MACHINABLE"}

	allKeys = []ProductKey{keyPM, keyPME, keyGA, keyCubic, keyFlat, keyGAOS}

	// shipDay is a mailing date inside every test table's effective dates.
	shipDay = time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)

	contractAccount = "1000000001"
)

// tiersOf returns the tiers the test tables give a product: Ground Advantage
// has ounce tiers, cubic products 0.1–0.5 cu ft, flat-rate a single tier.
func tiersOf(k ProductKey, maxLb int) []Tier {
	var tiers []Tier
	switch k {
	case keyCubic:
		for t := 1; t <= 5; t++ {
			tiers = append(tiers, CubicTier(t))
		}
		return tiers
	case keyFlat, keyGAOS:
		return []Tier{WeightTier(70 * usps.Pound)}
	case keyGA:
		tiers = append(tiers, WeightTier(4*usps.Ounce), WeightTier(8*usps.Ounce), WeightTier(12*usps.Ounce), WeightTier(1599))
	}
	for lb := 1; lb <= maxLb; lb++ {
		tiers = append(tiers, WeightTier(usps.Weight(lb)*usps.Pound))
	}
	return tiers
}

// testPrice is the price of a test cell: rising with product, zone and tier.
func testPrice(level usps.Cents, product, zone, tier int) usps.Cents {
	return level + usps.Cents(100*product+40*zone+75*tier)
}

// buildTable builds a table of the given products over zones 01–09 with
// weight tiers to maxLb pounds.
func buildTable(tb testing.TB, info TableInfo, level usps.Cents, maxLb int, keys ...ProductKey) *Table {
	tb.Helper()
	b := NewBuilder(info)
	for pi, k := range keys {
		for z := Zone(1); z <= 9; z++ {
			for ti, tier := range tiersOf(k, maxLb) {
				require.NoError(tb, b.SetCell(CellKey{k, z, tier}, testPrice(level, pi, int(z), ti)))
			}
		}
	}
	t, err := b.Build()
	require.NoError(tb, err)
	return t
}

func contractInfo(version string) TableInfo {
	return TableInfo{
		Account:       contractAccount,
		ID:            "Priority Mail Contract 629",
		Version:       version,
		EffectiveFrom: time.Date(2026, 1, 18, 0, 0, 0, 0, Central()),
		EffectiveTo:   time.Date(2027, 1, 17, 0, 0, 0, 0, Central()),
	}
}

func publishedInfo(id string) TableInfo {
	return TableInfo{ID: id, Version: "2026-01"}
}

// testPricer has a contract for contractAccount (all products to 20 lb, level
// 500), a commercial table (all products to 70 lb, level 800) and no retail
// table.
type testPricer struct {
	*Pricer
	account AccountID
	ids     map[ProductKey]ProductID
}

func newTestPricer(tb testing.TB, opts ...Option) *testPricer {
	tb.Helper()
	p, err := NewPricer(opts...)
	require.NoError(tb, err)
	require.NoError(tb, p.SetContract(buildTable(tb, contractInfo("v1"), 500, 20, allKeys...)))
	require.NoError(tb, p.SetPublished(SourceCommercial, buildTable(tb, publishedInfo("commercial"), 800, 70, allKeys...)))
	tp := &testPricer{Pricer: p, ids: map[ProductKey]ProductID{}}
	tp.account, err = p.Account(contractAccount)
	require.NoError(tb, err)
	for _, k := range allKeys {
		tp.ids[k], err = p.Product(k)
		require.NoError(tb, err)
	}
	return tp
}

// ship is a contract shipment of product k in zone 5 on shipDay.
func (tp *testPricer) ship(k ProductKey, w usps.Weight, l, wd, h usps.Dimension) Shipment {
	return Shipment{Account: tp.account, Product: tp.ids[k], Zone: 5, Weight: w, Length: l, Width: wd, Height: h, Date: shipDay}
}
