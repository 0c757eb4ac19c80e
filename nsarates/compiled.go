package nsarates

import (
	"cmp"
	"encoding/binary"
	"math"
	"slices"

	"github.com/nsalink/nsalink/usps"
)

// compiled is a table laid out for quoting: every product, zone and tier is a
// small integer, prices sit in one dense array, and a quote does no map
// lookup, string work or allocation. It is immutable once built, so a quote
// that loaded it sees one consistent table however often it is swapped.
type compiled struct {
	info     TableInfo
	from, to int64      // Unix seconds; [from, to)
	slot     []uint16   // ProductID → index into products + 1; 0 = not covered
	products []cproduct // in table order
	prices   []int32    // per product: [zone*ntiers + tier]; -1 = no price
	fees     []cfee     // by kind, then highest threshold first
}

type cproduct struct {
	cubic    bool
	tierKind TierKind
	dim      bool   // dimensional weight applies
	feeMask  uint16 // bit i set: fees[i] applies
	ntiers   int
	offset   int // of zone 00, tier 0 in prices

	maxWeight      usps.Weight
	maxLengthGirth usps.Dimension
	maxLength      usps.Dimension
	cubicMaxWeight usps.Weight
	cubicMaxTenths int64
	quantum        usps.Dimension // cubic: sides round down to a multiple of it
	dimDivisor     int64          // (1/1000 in)³ per pound
	dimOverVolume  int64          // (1/1000 in)³

	tierIndex // shared by every table with the same tiers
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

// compile lays t out for quoting under rules, with product ids and tier
// indexes from ids and tiers (both by product of t).
func compile(t *Table, rules *Rules, ids []ProductID, tiers []tierIndex) *compiled {
	c := &compiled{info: t.info, from: math.MinInt64, to: math.MaxInt64}
	if !t.info.EffectiveFrom.IsZero() {
		c.from = t.info.EffectiveFrom.Unix()
	}
	if !t.info.EffectiveTo.IsZero() {
		c.to = t.info.EffectiveTo.Unix()
	}

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
		limit := rules.limitFor(tp.key.MailClass)
		p := cproduct{
			cubic:          tp.tiers[0].Kind == CubicTiers,
			tierKind:       tp.tiers[0].Kind,
			ntiers:         len(tp.tiers),
			offset:         len(c.prices),
			maxWeight:      limit.MaxWeight,
			maxLengthGirth: limit.MaxLengthPlusGirth,
			maxLength:      limit.MaxLength,
			cubicMaxWeight: rules.CubicMaxWeight,
			cubicMaxTenths: rules.CubicMaxTenths,
			quantum:        rules.CubicQuantum,
			dimDivisor:     rules.DimDivisor * cubicInch,
			dimOverVolume:  rules.DimOverCubicInches * cubicInch,
			tierIndex:      tiers[i],
		}
		p.dim = !p.cubic && rules.dimApplies(tp.key)
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
	volume                int64          // L×W×H in (1/1000 in)³, exact
	date                  int64
	zone                  Zone
}

// dimWeight is the dimensional weight of pc in whole pounds (rounded up), or
// 0 when pc is not over the DIM volume threshold.
//
// Worked example: 20 × 12 × 10 in = 2,400 in³ > 1,728 → 2400/166 = 14.46 →
// 15 lb.
func (p *cproduct) dimWeight(pc *parcel) usps.Weight {
	if pc.volume <= p.dimOverVolume {
		return 0
	}
	return usps.Weight((pc.volume+p.dimDivisor-1)/p.dimDivisor) * usps.Pound
}

// cubicTenths is the cubic tier of pc in tenths of a cubic foot, from sides
// rounded down to the quantum, rounded up to the next tenth.
//
// Worked example: 11.9 × 8.6 × 5.3 in → 11.75 × 8.5 × 5.25 = 524.34 in³ =
// 0.3034 ft³ → tier 0.4.
func (p *cproduct) cubicTenths(pc *parcel) int64 {
	l, w, h := roundDown(pc.length, p.quantum), roundDown(pc.width, p.quantum), roundDown(pc.height, p.quantum)
	v := int64(l) * int64(w) * int64(h)
	const tenthCubicFoot = 1728 * cubicInch / 10 // 172.8 in³, a whole number of units
	return (v + tenthCubicFoot - 1) / tenthCubicFoot
}

func roundDown(d, q usps.Dimension) usps.Dimension {
	if q == usps.QuarterInch { // constant divisor: a multiply, not a division
		return d / usps.QuarterInch * usps.QuarterInch
	}
	return d / q * q
}

// lookup finds pc's cell for product id: the product, the tier index and
// the postage. A Reason other than ReasonNone means this table does not
// apply; an error means no table may price pc. It returns scalars, not a
// struct, so that results stay in registers on the hot path.
func (c *compiled) lookup(id ProductID, pc *parcel) (p *cproduct, tier int, postage usps.Cents, reason Reason, err error) {
	if pc.date < c.from || pc.date >= c.to {
		return nil, 0, 0, ReasonOutsideDates, nil
	}
	if int(id) >= len(c.slot) || c.slot[id] == 0 {
		return nil, 0, 0, ReasonNotCovered, nil
	}
	p = &c.products[c.slot[id]-1]
	var key int64
	if p.cubic {
		key = p.cubicTenths(pc)
	}
	if err := p.checkLimits(pc, key); err != nil {
		return nil, 0, 0, ReasonNone, err
	}
	k := key
	if !p.cubic {
		w := pc.weight
		if p.dim {
			w = max(w, p.dimWeight(pc))
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
	cents := c.prices[p.offset+int(pc.zone)*p.ntiers+i]
	if cents < 0 {
		return nil, 0, 0, ReasonMissingCell, nil
	}
	return p, i, usps.Cents(cents), ReasonNone, nil
}

// checkLimits checks pc against the product's limits; tenths is its cubic
// tier when the product is cubic.
func (p *cproduct) checkLimits(pc *parcel, tenths int64) error {
	if p.maxWeight > 0 && pc.weight > p.maxWeight {
		return &LimitError{Field: "Weight", Value: pc.weight.String(), Limit: p.maxWeight.String()}
	}
	if lg := pc.length + 2*(pc.width+pc.height); p.maxLengthGirth > 0 && lg > p.maxLengthGirth {
		return &LimitError{Field: "LengthPlusGirth", Value: lg.String() + "in", Limit: p.maxLengthGirth.String() + "in"}
	}
	if p.maxLength > 0 && pc.length > p.maxLength {
		return &LimitError{Field: "Length", Value: pc.length.String() + "in", Limit: p.maxLength.String() + "in"}
	}
	if !p.cubic {
		return nil
	}
	if pc.weight > p.cubicMaxWeight {
		return &LimitError{Field: "CubicWeight", Value: pc.weight.String(), Limit: p.cubicMaxWeight.String()}
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
