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

// checkGap re-checks a contract quote whose tier follows a hole: when the
// parcel's tier is inside the hole, it is re-priced at published rates.
func (l *Linker) checkGap(v *linkView, pricer *nsarates.Pricer, s nsarates.Shipment, out Quote) (Quote, error) {
	pk, ok := pricer.ProductKey(s.Product)
	if !ok {
		return out, nil
	}
	prev, gapped := v.gaps[pk][out.Tier]
	if !gapped {
		return out, nil
	}
	// The published table's tier is the one USPS bills (it has no holes);
	// without one, the actual weight rounded up to the pound.
	s.Account = 0
	pub, err := pricer.Quote(s)
	want := usps.Weight(0)
	if err == nil && pub.Tier.Kind == nsarates.WeightTiers {
		want = usps.Weight(pub.Tier.Max)
	} else {
		w := max(s.Weight, prev+1)
		want = (w + usps.Pound - 1) / usps.Pound * usps.Pound
	}
	if want >= usps.Weight(out.Tier.Max) {
		return out, nil // the parcel really is in this tier
	}
	if err != nil {
		var nr *nsarates.NoRateError
		if errors.As(err, &nr) {
			nr.Contract = nsarates.ReasonMissingCell
		}
		return Quote{}, err
	}
	out.Quote = pub
	out.Fallback = nsarates.ReasonMissingCell
	out.NotNSA = NotNSANotInTable
	return out, nil
}
