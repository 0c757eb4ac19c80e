package nsarates

import (
	"fmt"
	"iter"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/usps"
)

func TestBuilderErrors(t *testing.T) {
	pm3 := CellKey{keyPM, 1, WeightTier(3 * usps.Pound)}
	cases := []struct {
		field string
		key   CellKey
		price usps.Cents
	}{
		{"MailClass", CellKey{ProductKey{"", "SP", "MACHINABLE"}, 1, pm3.Tier}, 1},
		{"RateIndicator", CellKey{ProductKey{mailClassPriority, "S", "MACHINABLE"}, 1, pm3.Tier}, 1},
		{"RateIndicator", CellKey{ProductKey{mailClassPriority, "sp", "MACHINABLE"}, 1, pm3.Tier}, 1},
		{"ProcessingCategory", CellKey{ProductKey{mailClassPriority, "SP", "machinable"}, 1, pm3.Tier}, 1},
		{"Zone", CellKey{keyPM, 10, pm3.Tier}, 1},
		{"Tier", CellKey{keyPM, 1, Tier{}}, 1},
		{"Tier", CellKey{keyPM, 1, WeightTier(0)}, 1},
		{"Tier", CellKey{keyPM, 1, CubicTier(101)}, 1},
		{"Tier", CellKey{keyPM, 1, CubicTier(1)}, 1}, // mixes kinds with the 3 lb tier
		{"Price", pm3, -1},
		{"Price", pm3, usps.MaxCents + 1},
	}
	b := NewBuilder(contractInfo("v1"))
	require.NoError(t, b.SetCell(pm3, 100))
	for _, tc := range cases {
		err := b.SetCell(tc.key, tc.price)
		var ve *ValidationError
		require.ErrorAs(t, err, &ve, "%+v", tc)
		assert.Equal(t, tc.field, ve.Field, "%+v", tc)
	}
	assert.Equal(t, 1, b.Len())

	// At most 255 tiers per product.
	for i := 1; i <= 255; i++ {
		require.NoError(t, b.SetCell(CellKey{keyGA, 1, WeightTier(usps.Weight(i))}, 1))
	}
	var ve *ValidationError
	require.ErrorAs(t, b.SetCell(CellKey{keyGA, 1, WeightTier(256)}, 1), &ve)
	assert.Equal(t, "Tier", ve.Field)
	require.NoError(t, b.SetCell(CellKey{keyGA, 2, WeightTier(255)}, 1), "an existing tier in another zone")
}

func TestTableInfoErrors(t *testing.T) {
	from := time.Date(2026, 1, 18, 0, 0, 0, 0, time.UTC)
	for field, info := range map[string]TableInfo{
		"Account":     {Account: "12a", ID: "x", Version: "1"},
		"ID":          {ID: "", Version: "1"},
		"Version":     {ID: "x", Version: " 1"},
		"EffectiveTo": {ID: "x", Version: "1", EffectiveFrom: from, EffectiveTo: from},
	} {
		_, err := NewBuilder(info).Build()
		var ve *ValidationError
		require.ErrorAs(t, err, &ve, field)
		assert.Equal(t, field, ve.Field)
	}
}

func TestTableAccessors(t *testing.T) {
	tbl := buildTable(t, contractInfo("v1"), 500, 3, keyGA, keyCubic)
	assert.Equal(t, []ProductKey{keyPM.with("CP"), keyGA}, tbl.Products(), "canonical order")
	assert.Equal(t, []Tier{WeightTier(400), WeightTier(800), WeightTier(1200), WeightTier(1599), WeightTier(usps.Pound), WeightTier(2 * usps.Pound), WeightTier(3 * usps.Pound)}, tbl.Tiers(keyGA))
	assert.Nil(t, tbl.Tiers(keyPM))
	assert.Equal(t, 9*7+9*5, tbl.Len())

	p, ok := tbl.Price(CellKey{keyGA, 2, WeightTier(1599)})
	require.True(t, ok)
	assert.Equal(t, testPrice(500, 0, 2, 3), p)
	_, ok = tbl.Price(CellKey{keyGA, 0, WeightTier(1599)})
	assert.False(t, ok, "zone 00 is not set")
	_, ok = tbl.Price(CellKey{keyGA, 2, WeightTier(1598)})
	assert.False(t, ok, "no such tier")

	positions := slices.Collect(grid(tbl))
	assert.Len(t, positions, 10*7+10*5, "every zone including 00")
	cells := slices.Collect(tbl.Cells())
	assert.Len(t, cells, tbl.Len())
	assert.True(t, slices.IsSortedFunc(cells, func(a, b Cell) int {
		return cmpKeyZoneTier(a.CellKey, b.CellKey)
	}))

	// Stopping early is allowed.
	for range tbl.Cells() {
		break
	}
	for range grid(tbl) {
		break
	}
}

func (k ProductKey) with(ri string) ProductKey { k.RateIndicator = ri; return k }

func cmpKeyZoneTier(a, b CellKey) int {
	if c := cmpKey(a.Product, b.Product); c != 0 {
		return c
	}
	if a.Zone != b.Zone {
		return int(a.Zone) - int(b.Zone)
	}
	return int(a.Tier.Max - b.Tier.Max)
}

func TestDerive(t *testing.T) {
	b := NewBuilder(publishedInfo("commercial"))
	prices := map[Tier]usps.Cents{
		WeightTier(1 * usps.Pound): 1001, // 50 % → 500.5 → 501 (half up)
		WeightTier(2 * usps.Pound): 935,  // 50 % → 467.5 → 468
		WeightTier(3 * usps.Pound): 1,    // 50 % → 0.5; MinPrice 200 stops at the base price 1
		WeightTier(4 * usps.Pound): 998,  // 50 % → 499
		WeightTier(5 * usps.Pound): 300,  // 50 % → 150, raised to MinPrice 200
		WeightTier(6 * usps.Pound): 2000, // 50 % → 1000, raised to the floor 1200
	}
	for tier, c := range prices {
		require.NoError(t, b.SetCell(CellKey{keyPM, 1, tier}, c))
	}
	base, err := b.Build()
	require.NoError(t, err)
	fb := NewBuilder(publishedInfo("floor"))
	require.NoError(t, fb.SetCell(CellKey{keyPM, 1, WeightTier(6 * usps.Pound)}, 1200))
	floor, err := fb.Build()
	require.NoError(t, err)

	d, err := base.Derive(contractInfo("derived"), Discount{BasisPoints: 5000, MinPrice: 200, Floor: floor})
	require.NoError(t, err)
	assert.Equal(t, contractInfo("derived"), d.Info())
	want := map[Tier]usps.Cents{
		WeightTier(1 * usps.Pound): 501,
		WeightTier(2 * usps.Pound): 468,
		WeightTier(3 * usps.Pound): 1,
		WeightTier(4 * usps.Pound): 499,
		WeightTier(5 * usps.Pound): 200,
		WeightTier(6 * usps.Pound): 1200,
	}
	for tier, c := range want {
		got, ok := d.Price(CellKey{keyPM, 1, tier})
		require.True(t, ok)
		assert.Equal(t, c, got, tier.String())
	}

	// Half-up at other discounts: 935 at 12.5 % = 818.125 → 818;
	// 999 at 33.33 % = 666.0333 → 666; 1 at 0 % = 1; anything at 100 % = 0.
	for _, tc := range []struct {
		c    usps.Cents
		bp   int64
		want usps.Cents
	}{{935, 1250, 818}, {999, 3333, 666}, {1, 0, 1}, {usps.MaxCents, 10000, 0}, {15, 1000, 14}, {5, 1000, 5}} {
		assert.Equal(t, tc.want, derive(tc.c, []Discount{{BasisPoints: tc.bp}}, nil), "%d at %d bp", tc.c, tc.bp)
	}

	var ve *ValidationError
	_, err = base.Derive(contractInfo("x"), Discount{BasisPoints: 10001})
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "BasisPoints", ve.Field)
	_, err = base.Derive(contractInfo("x"), Discount{MinPrice: -1})
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "MinPrice", ve.Field)
	_, err = base.Derive(TableInfo{}, Discount{})
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "ID", ve.Field)
}

// TestDeriveChainRoundsOnce derives a table from a derived table: the
// discounts compose on the base price and round once.
func TestDeriveChainRoundsOnce(t *testing.T) {
	b := NewBuilder(publishedInfo("base"))
	require.NoError(t, b.SetCell(CellKey{keyPM, 1, WeightTier(usps.Pound)}, 1005))
	require.NoError(t, b.SetCell(CellKey{keyPM, 1, WeightTier(2 * usps.Pound)}, 1000))
	base, err := b.Build()
	require.NoError(t, err)
	once, err := base.Derive(contractInfo("half"), Discount{BasisPoints: 5000})
	require.NoError(t, err)
	twice, err := once.Derive(contractInfo("quarter"), Discount{BasisPoints: 5000})
	require.NoError(t, err)

	// 1005 × 0.5 × 0.5 = 251.25 → 251; rounding each step would give
	// round(round(502.5) × 0.5) = round(251.5) = 252.
	got, _ := twice.Price(CellKey{keyPM, 1, WeightTier(usps.Pound)})
	assert.Equal(t, usps.Cents(251), got)
	got, _ = twice.Price(CellKey{keyPM, 1, WeightTier(2 * usps.Pound)})
	assert.Equal(t, usps.Cents(250), got)

	// A floor of an earlier step applies to that step's exact value: 1000 ×
	// 0.5 = 500 raised to 700, then × 0.5 = 350.
	floored, err := base.Derive(contractInfo("floored"), Discount{BasisPoints: 5000, MinPrice: 700})
	require.NoError(t, err)
	again, err := floored.Derive(contractInfo("again"), Discount{BasisPoints: 5000})
	require.NoError(t, err)
	got, _ = again.Price(CellKey{keyPM, 1, WeightTier(2 * usps.Pound)})
	assert.Equal(t, usps.Cents(350), got)

	// At most four discounts chain.
	tbl := base
	for i := range maxChain {
		tbl, err = tbl.Derive(contractInfo(fmt.Sprint("step", i)), Discount{BasisPoints: 1})
		require.NoError(t, err)
	}
	_, err = tbl.Derive(contractInfo("one too many"), Discount{BasisPoints: 1})
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "Discount", ve.Field)
}

// TestDeriveFloorNeverAboveBase checks that MinPrice and Floor stop at the
// undiscounted price unless FloorAboveBase says otherwise.
func TestDeriveFloorNeverAboveBase(t *testing.T) {
	b := NewBuilder(publishedInfo("base"))
	k := CellKey{keyPM, 1, WeightTier(usps.Pound)}
	require.NoError(t, b.SetCell(k, 300))
	base, err := b.Build()
	require.NoError(t, err)
	fb := NewBuilder(publishedInfo("floor"))
	require.NoError(t, fb.SetCell(k, 450))
	floor, err := fb.Build()
	require.NoError(t, err)

	for _, tc := range []struct {
		name string
		d    Discount
		want usps.Cents
	}{
		{"min price above base stops at base", Discount{BasisPoints: 1000, MinPrice: 400}, 300},
		{"floor above base stops at base", Discount{BasisPoints: 1000, Floor: floor}, 300},
		{"min price below base raises", Discount{BasisPoints: 5000, MinPrice: 200}, 200},
		{"explicitly above base", Discount{BasisPoints: 1000, Floor: floor, FloorAboveBase: true}, 450},
		{"no floor: the discount", Discount{BasisPoints: 1000}, 270},
	} {
		d, err := base.Derive(contractInfo("d"), tc.d)
		require.NoError(t, err)
		got, _ := d.Price(k)
		assert.Equal(t, tc.want, got, tc.name)
	}
}

func TestCompare(t *testing.T) {
	a := buildTable(t, contractInfo("a"), 500, 2, keyPM)
	assert.Empty(t, Compare(a, a))

	b := NewBuilderFrom(a)
	changed := CellKey{keyPM, 3, WeightTier(2 * usps.Pound)}
	added := CellKey{keyPM, 0, WeightTier(usps.Pound)}
	require.NoError(t, b.SetCell(changed, 1))
	require.NoError(t, b.SetCell(added, 2))
	bt, err := b.Build()
	require.NoError(t, err)

	old, _ := a.Price(changed)
	assert.Equal(t, []CellDiff{
		{CellKey: added, B: 2, InB: true},
		{CellKey: changed, A: old, B: 1, InA: true, InB: true},
	}, Compare(a, bt))
	assert.Equal(t, []CellDiff{
		{CellKey: added, A: 2, InA: true},
		{CellKey: changed, A: 1, B: old, InA: true, InB: true},
	}, Compare(bt, a))

	got, ok := b.Cell(added)
	assert.True(t, ok)
	assert.Equal(t, usps.Cents(2), got)
	_, ok = b.Cell(CellKey{keyGA, 1, WeightTier(usps.Pound)})
	assert.False(t, ok)
}

// grid yields every position of the table's grid, priced or not: each
// product × zones 00–09 × that product's tiers, in canonical order.
func grid(t *Table) iter.Seq[CellKey] {
	return func(yield func(CellKey) bool) {
		for _, p := range t.products {
			for z := range Zone(numZones) {
				for _, tier := range p.tiers {
					if !yield(CellKey{p.key, z, tier}) {
						return
					}
				}
			}
		}
	}
}
