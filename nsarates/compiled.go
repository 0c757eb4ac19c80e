package nsarates

import (
	"cmp"
	"encoding/binary"
	"math"
	"math/bits"
	"slices"

	"github.com/nsalink/nsalink/usps"
)

// compiled is a table laid out for quoting: every product, zone and tier is a
// small integer, prices sit in one dense array, and a quote does no map
// lookup, string work or allocation. It is immutable once built, so a quote
// that loaded it sees one consistent table however often it is swapped.
// The rules are not in it: they depend on the product and the rule set, not
// on the table, so the pricer keeps them once for every table ([prodRule]).
type compiled struct {
	info     TableInfo
	from, to int64      // day numbers in Central time; [from, to)
	slot     []uint16   // ProductID → index into products + 1; 0 = not covered
	products []cproduct // in table order
	prices   []int32    // per product: [zone*ntiers + tier]; -1 = no price
	fees     []cfee     // by kind, then highest threshold first
}

type cproduct struct {
	tierKind TierKind
	feeMask  uint16 // bit i set: fees[i] applies
	ntiers   int
	offset   int // of zone 00, tier 0 in prices

	tierIndex // shared by every table with the same tiers
}

// prodRule is what one rule set says about one product, resolved when the
// product is registered, so that a quote reads it with one index.
type prodRule struct {
	dim       bool // dimensional weight applies (weight tiers)
	nonrect   bool // DIM volume × dimFactor/1000
	oversized bool // this is an oversized (OS) product: first tier whatever the weight
	dimSides  SideRounding
	sideAdd   usps.Dimension // added before truncating a side to the inch: 500 nearest, 999 up

	maxWeight      usps.Weight    // limits: "none" is stored as the largest value,
	maxLengthGirth usps.Dimension // so that a quote compares without a zero test
	maxLength      usps.Dimension
	osOver         usps.Dimension // length + girth over it → priced as osTarget; the largest value = no rule
	osTarget       ProductID      // the class's oversized product, same processing category
	cubicMaxWeight usps.Weight
	cubicMaxTenths int64
	cubicMaxLength usps.Dimension
	quantum        usps.Dimension   // cubic and soft pack: sides round down to a multiple of it
	soft           []usps.Dimension // soft pack: length + width bound per tier; nil = no rule
	dimDivisor     int64            // (1/1000 in)³ per pound
	dimOverVolume  int64            // (1/1000 in)³
	dimFactor      int64            // thousandths, for nonrect
	dimMaxPounds   int64            // DIM weight cap in pounds; 0 = none
}

// newProdRule resolves rules for product k; osID registers the oversized
// product it may be priced as.
func newProdRule(rules *Rules, k ProductKey, osID func(ProductKey) ProductID) prodRule {
	limit := rules.limitFor(k.MailClass)
	r := prodRule{
		dim:            rules.dimApplies(k),
		nonrect:        slices.Contains(rules.DimNonrectangular, k.RateIndicator),
		dimSides:       rules.DimSides,
		maxWeight:      cmp.Or(limit.MaxWeight, math.MaxInt64),
		maxLengthGirth: cmp.Or(limit.MaxLengthPlusGirth, math.MaxInt64),
		maxLength:      cmp.Or(limit.MaxLength, math.MaxInt64),
		cubicMaxWeight: rules.CubicMaxWeight,
		cubicMaxTenths: cmp.Or(limit.CubicMaxTenths, rules.CubicMaxTenths),
		cubicMaxLength: rules.CubicMaxLength,
		quantum:        rules.CubicQuantum,
		soft:           rules.softPackFor(k.MailClass),
		dimDivisor:     rules.DimDivisor * cubicInch,
		dimOverVolume:  rules.DimOverCubicInches * cubicInch,
		dimFactor:      rules.DimNonrectangularFactor,
		dimMaxPounds:   int64(rules.DimMaxWeight / usps.Pound),
		osOver:         math.MaxInt64,
	}
	switch rules.DimSides {
	case SidesNearestInch:
		r.sideAdd = usps.Inch / 2
	case SidesUpInch:
		r.sideAdd = usps.Inch - 1
	}
	if o, ok := rules.oversizedFor(k.MailClass); ok {
		if k.RateIndicator == o.RateIndicator {
			r.oversized, r.dim = true, false
		} else {
			r.osOver = o.Over
			r.osTarget = osID(ProductKey{MailClass: k.MailClass, RateIndicator: o.RateIndicator, ProcessingCategory: k.ProcessingCategory})
		}
	}
	return r
}

// tierIndex finds a tier fast. Customers' tables nearly always share their
// tiers, so a pricer keeps one tierIndex per distinct tier list.
type tierIndex struct {
	bounds []int64 // tier upper bounds, ascending
	// start[k] is the first tier whose bound is at least k pounds (weight
	// tiers) or k tenths of a cubic foot (cubic tiers). A lookup starts there
	// and steps past the few ounce tiers a pound may hold.
	start []uint8
}

func newTierIndex(tiers []Tier) tierIndex {
	x := tierIndex{bounds: make([]int64, len(tiers))}
	for j, tier := range tiers {
		x.bounds[j] = tier.Max
	}
	step := int64(1)
	if tiers[0].Kind == WeightTiers {
		step = int64(usps.Pound)
	}
	x.start = make([]uint8, x.bounds[len(x.bounds)-1]/step+1)
	j := 0
	for k := range x.start {
		for x.bounds[j] < int64(k)*step {
			j++
		}
		x.start[k] = uint8(j)
	}
	return x
}

// tierCache interns tier indexes by tier list. It is guarded by Pricer.mu.
type tierCache map[string]tierIndex

func (tc tierCache) get(tiers []Tier) tierIndex {
	key := make([]byte, 0, 1+8*len(tiers))
	key = append(key, byte(tiers[0].Kind))
	for _, t := range tiers {
		key = binary.LittleEndian.AppendUint64(key, uint64(t.Max))
	}
	x, ok := tc[string(key)]
	if !ok {
		x = newTierIndex(tiers)
		tc[string(key)] = x
	}
	return x
}

type cfee struct {
	kind   FeeKind
	over   int64 // usps.Dimension units, or (1/1000 in)³ (see cubicInch)
	amount usps.Cents
}

// cubicInch is one cubic inch in (1/1000 in)³, the unit of L×W×H. Sides
// are at most usps.MaxDimension (10⁶ units), so a volume is at most 10¹⁸:
// inside int64, with room for the thresholds below.
const cubicInch = int64(usps.Inch) * int64(usps.Inch) * int64(usps.Inch)

// compile lays t out for quoting, with product ids and tier indexes from
// ids and tiers (both by product of t).
func compile(t *Table, ids []ProductID, tiers []tierIndex) *compiled {
	c := &compiled{info: t.info, from: dayOrMin(t.info.EffectiveFrom), to: dayOrMax(t.info.EffectiveTo)}

	fees := slices.Clone(t.fees)
	slices.SortStableFunc(fees, func(a, b Fee) int { return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(b.Over, a.Over)) })
	for _, f := range fees {
		over := f.Over
		if f.Kind == FeeVolume {
			over *= cubicInch
		}
		c.fees = append(c.fees, cfee{kind: f.Kind, over: over, amount: f.Amount})
	}

	c.slot = make([]uint16, slices.Max(append([]ProductID{0}, ids...))+1)
	c.products = make([]cproduct, len(t.products))
	cells := 0
	for _, tp := range t.products {
		cells += len(tp.prices)
	}
	c.prices = make([]int32, 0, cells)
	for i, tp := range t.products {
		c.slot[ids[i]] = uint16(i + 1)
		p := cproduct{
			tierKind:  tp.tiers[0].Kind,
			ntiers:    len(tp.tiers),
			offset:    len(c.prices),
			tierIndex: tiers[i],
		}
		for j, f := range fees {
			if f.MailClass == "" || f.MailClass == tp.key.MailClass {
				p.feeMask |= 1 << j
			}
		}
		for _, price := range tp.prices {
			c.prices = append(c.prices, int32(price)) // absent (-1) stays -1
		}
		c.products[i] = p
	}
	return c
}

// parcel is a shipment with its derived measures, computed once per quote.
type parcel struct {
	weight                usps.Weight
	length, width, height usps.Dimension // sorted: length is the longest side
	lengthGirth           usps.Dimension // length + 2 × (width + height)
	volume                int64          // L×W×H in (1/1000 in)³, exact
	day                   int64          // mailing date, day number in Central time
	set                   int            // index of the rule set in force on day
	zone                  Zone
}

// dimPounds is the dimensional weight of pc in whole pounds (rounded up and
// capped at the rule's maximum), or 0 when pc is not over the DIM volume
// threshold.
//
// Worked examples: 20 × 12 × 10 in = 2,400 in³ > 1,728 → 2400/166 = 14.46 →
// 15 lb (2019 rules) or 2400/139 = 17.3 → 18 lb (2026 rules); 12.2 in cube →
// 12 in (nearest inch, 1,728 in³, no DIM) in 2019, 13 in (up, 2,197 in³ → 16
// lb) in 2026.
func (p *prodRule) dimPounds(pc *parcel) int64 {
	v := pc.volume
	if p.dimSides != SidesExact {
		// Sides are at most MaxDimension + 1 in, so the product stays far
		// inside int64.
		// Each side plus sideAdd, truncated to the inch: nearest (half
		// up) or up, written out so that it inlines.
		a := p.sideAdd
		v = int64((pc.length+a)/usps.Inch*usps.Inch) * int64((pc.width+a)/usps.Inch*usps.Inch) * int64((pc.height+a)/usps.Inch*usps.Inch)
	}
	var lb int64
	if p.nonrect {
		// v × factor / 1000 exactly, in 128 bits: v ≤ 1.01e18.
		hi, lo := bits.Mul64(uint64(v), uint64(p.dimFactor))
		ohi, olo := bits.Mul64(uint64(p.dimOverVolume), 1000)
		if hi < ohi || hi == ohi && lo <= olo {
			return 0
		}
		den := uint64(p.dimDivisor) * 1000 // ≤ 1e18
		q, r := bits.Div64(hi, lo, den)    // hi < den: v × factor < 1.01e21
		lb = int64(q)
		if r != 0 {
			lb++
		}
	} else {
		if v <= p.dimOverVolume {
			return 0
		}
		lb = (v + p.dimDivisor - 1) / p.dimDivisor
	}
	if p.dimMaxPounds > 0 && lb > p.dimMaxPounds {
		lb = p.dimMaxPounds // DIM weight over the cap pays the cap's price
	}
	return lb
}

// cubicTenths is the cubic tier of pc in tenths of a cubic foot, from sides
// rounded down to the quantum, rounded up to the next tenth.
//
// Worked example: 11.9 × 8.6 × 5.3 in → 11.75 × 8.5 × 5.25 = 524.34 in³ =
// 0.3034 ft³ → tier 0.4.
func (p *prodRule) cubicTenths(pc *parcel) int64 {
	l, w, h := roundDown(pc.length, p.quantum), roundDown(pc.width, p.quantum), roundDown(pc.height, p.quantum)
	v := int64(l) * int64(w) * int64(h)
	const tenthCubicFoot = 1728 * cubicInch / 10 // 172.8 in³, a whole number of units
	return (v + tenthCubicFoot - 1) / tenthCubicFoot
}

// softTenths is the soft-pack tier of pc in tenths of a cubic foot: the
// first tier whose length-plus-width bound holds the two longest sides,
// each rounded down to the quantum; 0 when pc is over the last bound.
func (p *prodRule) softTenths(pc *parcel) int64 {
	lw := roundDown(pc.length, p.quantum) + roundDown(pc.width, p.quantum)
	for i, b := range p.soft {
		if lw <= b {
			return int64(i + 1)
		}
	}
	return 0
}

func roundDown(d, q usps.Dimension) usps.Dimension {
	if q == usps.QuarterInch { // constant divisor: a multiply, not a division
		return d / usps.QuarterInch * usps.QuarterInch
	}
	return d / q * q
}

// lookup finds pc's cell for product id under rule r (id's rule in pc's
// rule set): the product, the tier index and the postage. A Reason other
// than ReasonNone means this table does not apply; an error means no table
// may price pc. It returns scalars, not a struct, so that results stay in
// registers on the hot path.
func (c *compiled) lookup(id ProductID, r *prodRule, pc *parcel) (p *cproduct, tier int, postage usps.Cents, reason Reason, err error) {
	if pc.day < c.from || pc.day >= c.to {
		return nil, 0, 0, ReasonOutsideDates, nil
	}
	if int(id) >= len(c.slot) || c.slot[id] == 0 {
		return nil, 0, 0, ReasonNotCovered, nil
	}
	p = &c.products[c.slot[id]-1]
	var key int64
	switch p.tierKind {
	case CubicTiers:
		key = r.cubicTenths(pc)
	case SoftPackTiers:
		if r.soft == nil {
			return nil, 0, 0, ReasonNoRule, nil
		}
		key = r.softTenths(pc)
	}
	if pc.weight > r.maxWeight || pc.lengthGirth > r.maxLengthGirth || pc.length > r.maxLength || p.tierKind != WeightTiers {
		if err := r.checkLimits(p.tierKind, pc, key); err != nil {
			return nil, 0, 0, ReasonNone, err
		}
	}
	k := key
	if p.tierKind == WeightTiers {
		if pc.lengthGirth > r.osOver {
			// Oversized: the class's OS price for the zone, regardless of
			// weight.
			os := r.osTarget
			if int(os) >= len(c.slot) || c.slot[os] == 0 || c.products[c.slot[os]-1].tierKind != WeightTiers {
				return nil, 0, 0, ReasonNotCovered, nil
			}
			return c.cell(&c.products[c.slot[os]-1], pc, 0)
		}
		if r.oversized {
			return c.cell(p, pc, 0)
		}
		w := pc.weight
		if r.dim {
			w = max(w, usps.Weight(r.dimPounds(pc))*usps.Pound)
		}
		key = int64(w)
		k = key / int64(usps.Pound)
	}
	if k >= int64(len(p.start)) {
		return nil, 0, 0, ReasonBeyondTable, nil
	}
	i := int(p.start[k])
	for i < p.ntiers && p.bounds[i] < key {
		i++
	}
	if i == p.ntiers {
		return nil, 0, 0, ReasonBeyondTable, nil
	}
	return c.cell(p, pc, i)
}

// cell returns the price of tier i of p in pc's zone.
func (c *compiled) cell(p *cproduct, pc *parcel, i int) (*cproduct, int, usps.Cents, Reason, error) {
	cents := c.prices[p.offset+int(pc.zone)*p.ntiers+i]
	if cents < 0 {
		return nil, 0, 0, ReasonMissingCell, nil
	}
	return p, i, usps.Cents(cents), ReasonNone, nil
}

// checkLimits checks pc against the product's limits; tenths is its cubic
// or soft-pack tier when the product (of tier kind kind) has one.
func (p *prodRule) checkLimits(kind TierKind, pc *parcel, tenths int64) error {
	if pc.weight > p.maxWeight {
		return &LimitError{Field: "Weight", Value: pc.weight.String(), Limit: p.maxWeight.String()}
	}
	if lg := pc.lengthGirth; lg > p.maxLengthGirth {
		return &LimitError{Field: "LengthPlusGirth", Value: lg.String() + "in", Limit: p.maxLengthGirth.String() + "in"}
	}
	if pc.length > p.maxLength {
		return &LimitError{Field: "Length", Value: pc.length.String() + "in", Limit: p.maxLength.String() + "in"}
	}
	if kind == WeightTiers {
		return nil
	}
	if pc.weight > p.cubicMaxWeight {
		return &LimitError{Field: "CubicWeight", Value: pc.weight.String(), Limit: p.cubicMaxWeight.String()}
	}
	if p.cubicMaxLength > 0 && pc.length > p.cubicMaxLength {
		return &LimitError{Field: "CubicLength", Value: pc.length.String() + "in", Limit: p.cubicMaxLength.String() + "in"}
	}
	if kind == SoftPackTiers && tenths == 0 {
		lw := roundDown(pc.length, p.quantum) + roundDown(pc.width, p.quantum)
		return &LimitError{Field: "SoftPackLengthPlusWidth", Value: lw.String() + "in", Limit: p.soft[len(p.soft)-1].String() + "in"}
	}
	if tenths > p.cubicMaxTenths {
		return &LimitError{Field: "CubicVolume", Value: CubicTier(int(tenths)).String(), Limit: CubicTier(int(p.cubicMaxTenths)).String()}
	}
	return nil
}

// feesFor adds, for each fee kind, the applicable fee with the highest
// exceeded threshold.
func (c *compiled) feesFor(mask uint16, pc *parcel) usps.Cents {
	var total usps.Cents
	var charged [3]bool // by FeeKind
	for i := range c.fees {
		f := &c.fees[i]
		if mask&(1<<i) == 0 || charged[f.kind] {
			continue
		}
		v := int64(pc.length)
		if f.kind == FeeVolume {
			v = pc.volume
		}
		if v > f.over {
			total += f.amount
			charged[f.kind] = true
		}
	}
	return total
}
