package nsarates

import (
	"cmp"
	"encoding/binary"
	"math/bits"
	"slices"

	"github.com/nsalink/nsalink/usps"
)

// compiled is a table laid out for quoting: every product, zone and tier is a
// small integer, prices sit in one dense array, and a quote does no map
// lookup, string work or allocation. It is immutable once built, so a quote
// that loaded it sees one consistent table however often it is swapped.
//
// Each product is laid out once per rule set of the pricer (products[set ×
// nprod + i]): the rules are resolved at install time, so a quote only
// indexes by the rule set its mailing date picked.
type compiled struct {
	info     TableInfo
	from, to int64      // day numbers in Central time; [from, to)
	slot     []uint16   // ProductID → index into a set's products + 1; 0 = not covered
	nprod    int        // products per rule set
	products []cproduct // [set*nprod + i], in table order within a set
	prices   []int32    // per product: [zone*ntiers + tier]; -1 = no price
	fees     []cfee     // by kind, then highest threshold first
}

type cproduct struct {
	tierKind  TierKind
	dim       bool // dimensional weight applies
	nonrect   bool // DIM volume × dimFactor/1000
	oversized bool // this is an oversized (OS) product: first tier whatever the weight
	dimSides  SideRounding
	feeMask   uint16 // bit i set: fees[i] applies
	osSlot    uint16 // oversized product of the class: index + 1 in the set; 0 = none
	ntiers    int
	offset    int // of zone 00, tier 0 in prices

	maxWeight      usps.Weight
	maxLengthGirth usps.Dimension
	maxLength      usps.Dimension
	osOver         usps.Dimension // length + girth over it → oversized; 0 = no rule
	cubicMaxWeight usps.Weight
	cubicMaxTenths int64
	cubicMaxLength usps.Dimension
	quantum        usps.Dimension   // cubic and soft pack: sides round down to a multiple of it
	soft           []usps.Dimension // soft pack: length + width bound per tier; nil = no rule
	dimDivisor     int64            // (1/1000 in)³ per pound
	dimOverVolume  int64            // (1/1000 in)³
	dimFactor      int64            // thousandths, for nonrect
	dimMaxPounds   int64            // DIM weight cap in pounds; 0 = none

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

// compile lays t out for quoting under each of sets, with product ids and
// tier indexes from ids and tiers (both by product of t).
func compile(t *Table, sets []ruleSet, ids []ProductID, tiers []tierIndex) *compiled {
	c := &compiled{info: t.info, from: dayOrMin(t.info.EffectiveFrom), to: dayOrMax(t.info.EffectiveTo), nprod: len(t.products)}

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
	cells := 0
	for _, tp := range t.products {
		cells += len(tp.prices)
	}
	c.prices = make([]int32, 0, cells)
	offsets := make([]int, len(t.products))
	for i, tp := range t.products {
		c.slot[ids[i]] = uint16(i + 1)
		offsets[i] = len(c.prices)
		for _, price := range tp.prices {
			c.prices = append(c.prices, int32(price)) // absent (-1) stays -1
		}
	}
	c.products = make([]cproduct, 0, len(sets)*len(t.products))
	for si := range sets {
		rules := &sets[si].rules
		for i, tp := range t.products {
			limit := rules.limitFor(tp.key.MailClass)
			p := cproduct{
				tierKind:       tp.tiers[0].Kind,
				dimSides:       rules.DimSides,
				ntiers:         len(tp.tiers),
				offset:         offsets[i],
				maxWeight:      limit.MaxWeight,
				maxLengthGirth: limit.MaxLengthPlusGirth,
				maxLength:      limit.MaxLength,
				cubicMaxWeight: rules.CubicMaxWeight,
				cubicMaxTenths: cmp.Or(limit.CubicMaxTenths, rules.CubicMaxTenths),
				cubicMaxLength: rules.CubicMaxLength,
				quantum:        rules.CubicQuantum,
				dimDivisor:     rules.DimDivisor * cubicInch,
				dimOverVolume:  rules.DimOverCubicInches * cubicInch,
				dimFactor:      rules.DimNonrectangularFactor,
				dimMaxPounds:   int64(rules.DimMaxWeight / usps.Pound),
				tierIndex:      tiers[i],
			}
			if p.tierKind == SoftPackTiers {
				p.soft = rules.softPackFor(tp.key.MailClass)
			}
			if p.tierKind == WeightTiers {
				p.dim = rules.dimApplies(tp.key)
				p.nonrect = slices.Contains(rules.DimNonrectangular, tp.key.RateIndicator)
				if o, ok := rules.oversizedFor(tp.key.MailClass); ok {
					if tp.key.RateIndicator == o.RateIndicator {
						p.oversized, p.dim = true, false
					} else if j := oversizedProduct(t, tp.key, o.RateIndicator); j >= 0 {
						p.osOver, p.osSlot = o.Over, uint16(j+1)
					} else {
						p.osOver = o.Over // oversized parcels: not covered here
					}
				}
			}
			for j, f := range fees {
				if f.MailClass == "" || f.MailClass == tp.key.MailClass {
					p.feeMask |= 1 << j
				}
			}
			c.products = append(c.products, p)
		}
	}
	return c
}

// oversizedProduct finds, in t, the weight-priced product of k's mail class
// with rate indicator ri: the one with k's processing category if there is
// one, else the first in canonical order; -1 if none.
func oversizedProduct(t *Table, k ProductKey, ri string) int {
	found := -1
	for j, tp := range t.products {
		if tp.key.MailClass != k.MailClass || tp.key.RateIndicator != ri || tp.tiers[0].Kind != WeightTiers {
			continue
		}
		if tp.key.ProcessingCategory == k.ProcessingCategory {
			return j
		}
		if found < 0 {
			found = j
		}
	}
	return found
}

// parcel is a shipment with its derived measures, computed once per quote.
type parcel struct {
	weight                usps.Weight
	length, width, height usps.Dimension // sorted: length is the longest side
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
func (p *cproduct) dimPounds(pc *parcel) int64 {
	v := pc.volume
	if p.dimSides != SidesExact {
		// Sides are at most MaxDimension + 1 in, so the product stays far
		// inside int64.
		v = int64(p.dimSides.round(pc.length)) * int64(p.dimSides.round(pc.width)) * int64(p.dimSides.round(pc.height))
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
func (p *cproduct) cubicTenths(pc *parcel) int64 {
	l, w, h := roundDown(pc.length, p.quantum), roundDown(pc.width, p.quantum), roundDown(pc.height, p.quantum)
	v := int64(l) * int64(w) * int64(h)
	const tenthCubicFoot = 1728 * cubicInch / 10 // 172.8 in³, a whole number of units
	return (v + tenthCubicFoot - 1) / tenthCubicFoot
}

// softTenths is the soft-pack tier of pc in tenths of a cubic foot: the
// first tier whose length-plus-width bound holds the two longest sides,
// each rounded down to the quantum; 0 when pc is over the last bound.
func (p *cproduct) softTenths(pc *parcel) int64 {
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

// lookup finds pc's cell for product id: the product, the tier index and
// the postage. A Reason other than ReasonNone means this table does not
// apply; an error means no table may price pc. It returns scalars, not a
// struct, so that results stay in registers on the hot path.
func (c *compiled) lookup(id ProductID, pc *parcel) (p *cproduct, tier int, postage usps.Cents, reason Reason, err error) {
	if pc.day < c.from || pc.day >= c.to {
		return nil, 0, 0, ReasonOutsideDates, nil
	}
	if int(id) >= len(c.slot) || c.slot[id] == 0 {
		return nil, 0, 0, ReasonNotCovered, nil
	}
	base := pc.set * c.nprod
	p = &c.products[base+int(c.slot[id])-1]
	var key int64
	switch p.tierKind {
	case CubicTiers:
		key = p.cubicTenths(pc)
	case SoftPackTiers:
		if p.soft == nil {
			return nil, 0, 0, ReasonNoRule, nil
		}
		key = p.softTenths(pc)
	}
	if err := p.checkLimits(pc, key); err != nil {
		return nil, 0, 0, ReasonNone, err
	}
	k := key
	if p.tierKind == WeightTiers {
		if p.osOver > 0 && pc.length+2*(pc.width+pc.height) > p.osOver {
			// Oversized: the class's OS price for the zone, regardless of
			// weight.
			if p.osSlot == 0 {
				return nil, 0, 0, ReasonNotCovered, nil
			}
			p = &c.products[base+int(p.osSlot)-1]
			return c.cell(p, pc, 0)
		}
		if p.oversized {
			return c.cell(p, pc, 0)
		}
		w := pc.weight
		if p.dim {
			w = max(w, usps.Weight(p.dimPounds(pc))*usps.Pound)
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
// or soft-pack tier when the product has one.
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
	if p.tierKind == WeightTiers {
		return nil
	}
	if pc.weight > p.cubicMaxWeight {
		return &LimitError{Field: "CubicWeight", Value: pc.weight.String(), Limit: p.cubicMaxWeight.String()}
	}
	if p.cubicMaxLength > 0 && pc.length > p.cubicMaxLength {
		return &LimitError{Field: "CubicLength", Value: pc.length.String() + "in", Limit: p.cubicMaxLength.String() + "in"}
	}
	if p.tierKind == SoftPackTiers && tenths == 0 {
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
