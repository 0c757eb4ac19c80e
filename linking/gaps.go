package linking

import (
	"errors"

	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/usps"
)

// A contract table whose weight tiers skip a pound (1 lb, 2 lb, 4 lb: no
// 3 lb) would price a 3-lb parcel at its 4-lb contract price, since the
// pricer takes the first tier at least the billable weight. That cell is
// missing, not the next tier up: Quote falls back for it (NotNSANotInTable,
// Fallback ReasonMissingCell).

// gapSet lists, per product, the tiers that follow a hole in a contract
// table's pound tiers, with the bound of the tier before the hole.
type gapSet map[nsarates.ProductKey]map[nsarates.Tier]usps.Weight

// tierGaps finds the holes of t's pound tiers (nil when there is none).
func tierGaps(t *nsarates.Table) gapSet {
	var g gapSet
	for _, p := range t.Products() {
		prev := usps.Weight(0)
		for _, tier := range t.Tiers(p) {
			if tier.Kind != nsarates.WeightTiers {
				break
			}
			w := usps.Weight(tier.Max)
			// Tiers above 1 lb come in whole pounds; a first tier above
			// 1 lb leaves the lighter parcels without a contract price.
			if w > usps.Pound && w-max(prev, 0) > usps.Pound && (prev == 0 || prev >= usps.Pound) {
				if g == nil {
					g = gapSet{}
				}
				if g[p] == nil {
					g[p] = map[nsarates.Tier]usps.Weight{}
				}
				g[p][tier] = prev
			}
			prev = w
		}
	}
	return g
}

// gapTier is a tier that follows a hole, and the bound of the tier before.
type gapTier struct {
	tier nsarates.Tier
	prev usps.Weight
}

// byProductID resolves g for pricer: a slice indexed by ProductID, so that
// a quote checks it without a map lookup or a lock.
func (g gapSet) byProductID(pricer *nsarates.Pricer) [][]gapTier {
	if g == nil || pricer == nil {
		return nil
	}
	var out [][]gapTier
	for pk, tiers := range g {
		id, err := pricer.Product(pk)
		if err != nil {
			continue
		}
		for int(id) >= len(out) {
			out = append(out, nil)
		}
		for tier, prev := range tiers {
			out[id] = append(out[id], gapTier{tier, prev})
		}
	}
	return out
}

// gapBefore reports whether tier of product follows a hole, and the bound
// of the tier before it.
func (v *linkView) gapBefore(product nsarates.ProductID, tier nsarates.Tier) (usps.Weight, bool) {
	if int(product) >= len(v.gaps) {
		return 0, false
	}
	for _, g := range v.gaps[product] {
		if g.tier == tier {
			return g.prev, true
		}
	}
	return 0, false
}

// repriceGap re-checks a contract quote whose tier follows a hole: when the
// parcel's tier is inside the hole, it is re-priced at published rates.
func (l *Linker) repriceGap(pricer *nsarates.Pricer, s nsarates.Shipment, prev usps.Weight, out *Quote) error {
	// The published table's tier is the one USPS bills (it has no holes);
	// without one, the actual weight rounded up to the pound.
	s.Account = 0
	pub, err := pricer.Quote(s)
	var want usps.Weight
	if err == nil && pub.Tier.Kind == nsarates.WeightTiers {
		want = usps.Weight(pub.Tier.Max)
	} else {
		w := max(s.Weight, prev+1)
		want = (w + usps.Pound - 1) / usps.Pound * usps.Pound
	}
	if want >= usps.Weight(out.Tier.Max) {
		return nil // the parcel really is in this tier
	}
	if err != nil {
		var nr *nsarates.NoRateError
		if errors.As(err, &nr) {
			nr.Contract = nsarates.ReasonMissingCell
		}
		*out = Quote{}
		return err
	}
	out.Quote = pub
	out.Fallback = nsarates.ReasonMissingCell
	out.NotNSA = NotNSANotInTable
	return nil
}
