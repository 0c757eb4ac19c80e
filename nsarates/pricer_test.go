package nsarates

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/usps"
)

func TestQuoteContract(t *testing.T) {
	tp := newTestPricer(t)
	q, err := tp.Quote(tp.ship(keyPM, 2*usps.Pound+1, 10000, 8000, 6000))
	require.NoError(t, err)
	// keyPM is product 0 of the contract; zone 5; 3 lb is tier index 2.
	want := testPrice(500, 0, 5, 2)
	assert.Equal(t, Quote{
		Price: want, Postage: want, Source: SourceContract, Fallback: ReasonNone,
		TableID: "Priority Mail Contract 629", TableVersion: "v1",
		Zone: 5, Tier: WeightTier(3 * usps.Pound), BillableWeight: 3 * usps.Pound,
		RuleSet: "usps-2019-06-23",
	}, q)
}

func TestQuoteFallbackReasons(t *testing.T) {
	otherProduct := ProductKey{mailClassParcelSelect, "SP", "MACHINABLE"}

	cases := []struct {
		name   string
		setup  func(t *testing.T, tp *testPricer, s *Shipment)
		source Source
		reason Reason
	}{
		{"contract applies", func(*testing.T, *testPricer, *Shipment) {}, SourceContract, ReasonNone},
		{"no account on the shipment", func(_ *testing.T, _ *testPricer, s *Shipment) { s.Account = 0 }, SourceCommercial, ReasonNoTable},
		{"account without a table", func(t *testing.T, tp *testPricer, s *Shipment) {
			id, err := tp.Account("2000000002")
			require.NoError(t, err)
			s.Account = id
		}, SourceCommercial, ReasonNoTable},
		{"unknown account handle", func(_ *testing.T, _ *testPricer, s *Shipment) { s.Account = 999 }, SourceCommercial, ReasonNoTable},
		{"contract removed", func(_ *testing.T, tp *testPricer, _ *Shipment) { tp.RemoveContract(contractAccount) }, SourceCommercial, ReasonNoTable},
		{"product not covered", func(t *testing.T, tp *testPricer, s *Shipment) {
			require.NoError(t, tp.SetPublished(SourceCommercial, buildTable(t, publishedInfo("commercial"), 800, 70, otherProduct)))
			id, err := tp.Product(otherProduct)
			require.NoError(t, err)
			s.Product = id
		}, SourceCommercial, ReasonNotCovered},
		{"before the effective date", func(_ *testing.T, _ *testPricer, s *Shipment) {
			s.Date = time.Date(2026, 1, 17, 23, 59, 59, 0, time.UTC)
		}, SourceCommercial, ReasonOutsideDates},
		{"on the first effective date", func(_ *testing.T, _ *testPricer, s *Shipment) {
			s.Date = time.Date(2026, 1, 18, 0, 0, 0, 0, time.UTC)
		}, SourceContract, ReasonNone},
		{"on the end date (exclusive)", func(_ *testing.T, _ *testPricer, s *Shipment) {
			s.Date = time.Date(2027, 1, 17, 0, 0, 0, 0, time.UTC)
		}, SourceCommercial, ReasonOutsideDates},
		{"beyond the table", func(_ *testing.T, _ *testPricer, s *Shipment) { s.Weight = 20*usps.Pound + 1 }, SourceCommercial, ReasonBeyondTable},
		{"missing cell (zone 00)", func(_ *testing.T, _ *testPricer, s *Shipment) { s.Zone = ZoneDestinationEntry }, SourceRetail, ReasonMissingCell},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tp := newTestPricer(t)
			// Retail covers zone 00, which the other tables lack.
			rb := NewBuilderFrom(buildTable(t, publishedInfo("retail"), 900, 70, keyPM))
			require.NoError(t, rb.SetCell(CellKey{keyPM, ZoneDestinationEntry, WeightTier(3 * usps.Pound)}, 999))
			retail, err := rb.Build()
			require.NoError(t, err)
			require.NoError(t, tp.SetPublished(SourceRetail, retail))

			s := tp.ship(keyPM, 2*usps.Pound+1, 10000, 8000, 6000)
			tc.setup(t, tp, &s)
			q, err := tp.Quote(s)
			require.NoError(t, err)
			assert.Equal(t, tc.source, q.Source)
			assert.Equal(t, tc.reason, q.Fallback)
			assert.Positive(t, q.Price)
		})
	}
}

func TestQuoteNoRate(t *testing.T) {
	tp := newTestPricer(t)
	s := tp.ship(keyPM, 70*usps.Pound, 10000, 8000, 6000)
	s.Zone = ZoneDestinationEntry // no table has zone 00
	_, err := tp.Quote(s)
	var nr *NoRateError
	require.ErrorAs(t, err, &nr)
	assert.Equal(t, NoRateError{Contract: ReasonBeyondTable, Commercial: ReasonMissingCell, Retail: ReasonNoTable}, *nr)
	assert.EqualError(t, err, "nsarates: no rate: contract beyond the table, commercial missing cell, retail no table")

	// A product no table has ever seen.
	id, err := tp.Product(ProductKey{"USPS_CONNECT_LOCAL", "LC", "MACHINABLE"})
	require.NoError(t, err)
	s = tp.ship(keyPM, usps.Pound, 10000, 8000, 6000)
	s.Product = id
	_, err = tp.Quote(s)
	require.ErrorAs(t, err, &nr)
	assert.Equal(t, ReasonNotCovered, nr.Contract)
	assert.Equal(t, ReasonNotCovered, nr.Commercial)
}

func TestQuoteValidation(t *testing.T) {
	cases := map[string]func(*Shipment){
		"Product": func(s *Shipment) { s.Product = 0 },
		"Zone":    func(s *Shipment) { s.Zone = 10 },
		"Weight":  func(s *Shipment) { s.Weight = 0 },
		"Date":    func(s *Shipment) { s.Date = time.Date(2019, 6, 22, 0, 0, 0, 0, time.UTC) }, // before every rule set
		"Length":  func(s *Shipment) { s.Length = 0 },
		"Width":   func(s *Shipment) { s.Width = -1 },
		"Height":  func(s *Shipment) { s.Height = 1001 * usps.Inch },
	}
	tp := newTestPricer(t)
	for field, mutate := range cases {
		s := tp.ship(keyPM, usps.Pound, 10000, 8000, 6000)
		mutate(&s)
		_, err := tp.Quote(s)
		var ve *ValidationError
		require.ErrorAs(t, err, &ve, field)
		assert.Equal(t, field, ve.Field)
	}
}

func TestPricerValidation(t *testing.T) {
	p, err := NewPricer()
	require.NoError(t, err)
	var ve *ValidationError

	_, err = p.Account("12-34")
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "Account", ve.Field)

	_, err = p.Product(ProductKey{"priority", "SP", "MACHINABLE"})
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "MailClass", ve.Field)

	err = p.SetContract(buildTable(t, publishedInfo("commercial"), 1, 1, keyPM))
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "Account", ve.Field)

	err = p.SetPublished(SourceContract, buildTable(t, publishedInfo("commercial"), 1, 1, keyPM))
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "Source", ve.Field)

	require.NoError(t, p.SetPublished(SourceCommercial, nil))
	_, ok := p.Contract(contractAccount)
	assert.False(t, ok)
}

func TestPricerHandles(t *testing.T) {
	tp := newTestPricer(t)
	again, err := tp.Account(contractAccount)
	require.NoError(t, err)
	assert.Equal(t, tp.account, again)

	id, err := tp.Product(keyGA)
	require.NoError(t, err)
	assert.Equal(t, tp.ids[keyGA], id, "a key registered again keeps its handle")

	info, ok := tp.Contract(contractAccount)
	require.True(t, ok)
	assert.Equal(t, "v1", info.Version)
}

func TestFees(t *testing.T) {
	// To 70 lb: a parcel over the volume fee's 2 ft³ has a DIM weight over 20 lb.
	b := NewBuilderFrom(buildTable(t, contractInfo("fees"), 500, 70, allKeys...))
	for _, f := range []Fee{
		{Name: "nonstandard length 22", Kind: FeeLength, Over: 22 * int64(usps.Inch), Amount: 400},
		{Name: "nonstandard length 30", Kind: FeeLength, Over: 30 * int64(usps.Inch), Amount: 1500},
		{Name: "nonstandard volume", Kind: FeeVolume, Over: 3456, Amount: 1500},
		{Name: "priority only", MailClass: mailClassPriorityExpress, Kind: FeeLength, Over: 10 * int64(usps.Inch), Amount: 100},
	} {
		require.NoError(t, b.AddFee(f))
	}
	table, err := b.Build()
	require.NoError(t, err)
	tp := newTestPricer(t)
	require.NoError(t, tp.SetContract(table))

	cases := []struct {
		name    string
		product ProductKey
		l, w, h usps.Dimension
		fees    usps.Cents
	}{
		{"no fee", keyGA, 22000, 5000, 5000, 0}, // 22 in is not over 22 in
		{"over 22 in", keyGA, 22010, 5000, 5000, 400},
		{"over 30 in replaces over 22 in", keyGA, 30010, 5000, 5000, 1500},
		// 31×12×10 = 3,720 in³ > 3,456 in³ (2 cu ft): both kinds add up.
		{"length and volume", keyGA, 31000, 12000, 10000, 1500 + 1500},
		{"mail-class fee", keyPME, 11000, 5000, 5000, 100},
	}
	for _, tc := range cases {
		q, err := tp.Quote(tp.ship(tc.product, usps.Pound, tc.l, tc.w, tc.h))
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.fees, q.Fees, tc.name)
		assert.Equal(t, q.Postage+q.Fees, q.Price, tc.name)
	}

	var ve *ValidationError
	require.ErrorAs(t, b.AddFee(Fee{Name: "again", Kind: FeeLength, Over: 22 * int64(usps.Inch), Amount: 1}), &ve)
	assert.Equal(t, "Fee", ve.Field)
	require.ErrorAs(t, b.AddFee(Fee{Name: "bad", Kind: FeeVolume, Over: 0, Amount: 1}), &ve)
	assert.Equal(t, "Fee.Over", ve.Field)
	require.ErrorAs(t, b.AddFee(Fee{Name: "bad", Kind: FeeVolume, Over: 1, Amount: -1}), &ve)
	assert.Equal(t, "Fee.Amount", ve.Field)
	require.ErrorAs(t, b.AddFee(Fee{Name: "", Kind: FeeVolume, Over: 1}), &ve)
	assert.Equal(t, "Fee.Name", ve.Field)
	require.ErrorAs(t, b.AddFee(Fee{Name: "x", MailClass: "bad class", Kind: FeeVolume, Over: 1}), &ve)
	assert.Equal(t, "Fee.MailClass", ve.Field)
}

// TestQuoteAllocs: a quote that succeeds allocates nothing.
func TestQuoteAllocs(t *testing.T) {
	tp := newTestPricer(t, WithClock(func() time.Time { return time.Date(2026, 8, 3, 16, 0, 0, 0, time.UTC) }))
	today := tp.ship(keyPM, 5*usps.Pound, 20000, 12000, 10000)
	today.Date = time.Time{} // the clock's day in Central time
	central := tp.ship(keyPM, 5*usps.Pound, 20000, 12000, 10000)
	central.Date = time.Date(2026, 8, 3, 23, 0, 0, 0, Central()) // a zone lookup
	ships := []Shipment{
		today,
		central,
		tp.ship(keyGA, 2*usps.Pound, 40000, 20000, 15000),   // oversized
		tp.ship(keyGAOS, 2*usps.Pound, 10000, 8000, 6000),   // the oversized product itself
		tp.ship(keyPM, 5*usps.Pound, 20000, 12000, 10000),   // contract, DIM
		tp.ship(keyCubic, 3*usps.Pound, 11900, 8600, 5300),  // contract, cubic
		tp.ship(keyGA, 30*usps.Pound, 10000, 8000, 6000),    // commercial: beyond the contract
		tp.ship(keyGA, 350, 6000, 4000, 1000),               // ounce tier
		tp.ship(keyPME, 10*usps.Pound, 31000, 12000, 10000), // DIM
	}
	for _, s := range ships {
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := tp.Quote(s); err != nil {
				t.Fatal(err)
			}
		})
		assert.Zero(t, allocs)
	}
}

// TestHotSwap quotes from several goroutines while another swaps the
// contract table between two versions; each quote's price must belong to the
// version it reports (no torn reads). Run with -race.
func TestHotSwap(t *testing.T) {
	tp := newTestPricer(t)
	versions := map[string]usps.Cents{"swap-a": 1000, "swap-b": 5000}
	tables := map[string]*Table{}
	for v, level := range versions {
		tables[v] = buildTable(t, contractInfo(v), level, 20, allKeys...)
	}

	var stop atomic.Bool
	var swaps atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			v := "swap-a"
			if i%2 == 1 {
				v = "swap-b"
			}
			assert.NoError(t, tp.SetContract(tables[v]))
			swaps.Add(1)
		}
	}()

	s := tp.ship(keyPM, 2*usps.Pound+1, 10000, 8000, 6000)
	seen := map[string]int{}
	var mu sync.Mutex
	var readers sync.WaitGroup
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			local := map[string]int{}
			for range 20000 {
				q, err := tp.Quote(s)
				if !assert.NoError(t, err) {
					return
				}
				level, ok := versions[q.TableVersion]
				if !ok {
					continue // newTestPricer's own table, before the first swap
				}
				assert.Equal(t, testPrice(level, 0, 5, 2), q.Price, "version %s", q.TableVersion)
				local[q.TableVersion]++
			}
			mu.Lock()
			for v, n := range local {
				seen[v] += n
			}
			mu.Unlock()
		}()
	}
	readers.Wait()
	stop.Store(true)
	wg.Wait()
	assert.Positive(t, swaps.Load())
	t.Logf("swaps %d, quotes per version %v", swaps.Load(), seen)
}

// TestQuoteProperties checks, over random shipments: price never decreases
// as weight rises (the test tables never decrease with tier); billable weight
// is at least actual weight; cubic quotes succeed exactly when the parcel is
// eligible.
func TestQuoteProperties(t *testing.T) {
	tp := newTestPricer(t)
	rng := rand.New(rand.NewPCG(1, 2))
	dim := func() usps.Dimension { return usps.Dimension(1 + rng.IntN(int(30*usps.Inch))) }

	for range 5000 {
		k := allKeys[rng.IntN(len(allKeys))]
		s := tp.ship(k, usps.Weight(1+rng.IntN(int(72*usps.Pound))), dim(), dim(), dim())
		s.Zone = Zone(1 + rng.IntN(9))
		q, err := tp.Quote(s)

		if k == keyCubic {
			sides := []usps.Dimension{s.Length, s.Width, s.Height}
			vol := int64(1)
			for _, d := range sides {
				vol *= int64(d / usps.QuarterInch * usps.QuarterInch)
			}
			eligible := s.Weight <= 20*usps.Pound && vol*10 <= 5*1728*cubicInch && withinLengthGirth(s, 108*usps.Inch) &&
				max(s.Length, s.Width, s.Height) <= 18*usps.Inch // 2019 rules: longest side 18 in
			assert.Equal(t, eligible, err == nil, "cubic %+v: %v", s, err)
			continue
		}
		if err != nil {
			var le *LimitError
			require.ErrorAs(t, err, &le)
			continue
		}
		assert.GreaterOrEqual(t, q.BillableWeight, s.Weight, "%+v", s)

		heavier := s
		heavier.Weight += usps.Weight(rng.IntN(int(5 * usps.Pound)))
		q2, err := tp.Quote(heavier)
		if err == nil {
			assert.GreaterOrEqual(t, q2.Price, q.Price, "heavier %+v", heavier)
			assert.GreaterOrEqual(t, q2.BillableWeight, q.BillableWeight)
		}
	}
}

func withinLengthGirth(s Shipment, limit usps.Dimension) bool {
	l := max(s.Length, s.Width, s.Height)
	return l+2*(s.Length+s.Width+s.Height-l) <= limit
}

// TestRegisterWhileQuoting registers products (and with them their rules)
// from one goroutine while others quote and install tables that use them.
// Run with -race: quotes read the rules without a lock.
func TestRegisterWhileQuoting(t *testing.T) {
	tp := newTestPricer(t)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			s := tp.ship(keyGA, 2*usps.Pound, 40000, 20000, 15000)
			for !stop.Load() {
				_, err := tp.Quote(s)
				assert.NoError(t, err)
			}
		})
	}
	for i := range 200 {
		k := ProductKey{mailClassGroundAdvantage, "SP", fmt.Sprintf("CATEGORY_%d", i)}
		tbl := buildTable(t, publishedInfo("retail"), 900, 2, k)
		require.NoError(t, tp.SetPublished(SourceRetail, tbl))
		id, err := tp.Product(k)
		require.NoError(t, err)
		s := tp.ship(keyGA, usps.Pound, 10000, 8000, 6000)
		s.Product = id
		q, err := tp.Quote(s)
		require.NoError(t, err)
		assert.Equal(t, SourceRetail, q.Source)
		// Its oversized product was registered with it, not priced here.
		s.Length, s.Width, s.Height = 40000, 20000, 15000
		_, err = tp.Quote(s)
		var nr *NoRateError
		require.ErrorAs(t, err, &nr)
		assert.Equal(t, ReasonNotCovered, nr.Retail)
	}
	stop.Store(true)
	wg.Wait()
}

func TestHandlesSurviveGrowth(t *testing.T) {
	// Registering many accounts while quoting must not lose an installed table.
	tp := newTestPricer(t)
	s := tp.ship(keyPM, usps.Pound, 10000, 8000, 6000)
	for i := range 300 {
		_, err := tp.Account(strconv.Itoa(3000000000 + i))
		require.NoError(t, err)
	}
	q, err := tp.Quote(s)
	require.NoError(t, err)
	assert.Equal(t, SourceContract, q.Source)
}
