package nsarates

import (
	"slices"
	"strconv"

	"github.com/nsalink/nsalink/usps"
)

// Rules are the billable-weight and size rules, kept as data so that a
// platform can follow USPS changes without a new release. [DefaultRules]
// documents each default and where it comes from.
type Rules struct {
	// DimDivisor is the dimensional-weight divisor in cubic inches per pound.
	DimDivisor int64
	// DimOverCubicInches: dimensional weight applies only to parcels whose
	// volume is over this many cubic inches.
	DimOverCubicInches int64
	// DimMailClasses are the mail classes dimensional weight applies to.
	DimMailClasses []string
	// DimRateIndicators, if not empty, narrows dimensional weight to these
	// rate indicators (flat-rate and soft-pack products are priced by
	// container, not weight). Cubic products never use it.
	DimRateIndicators []string

	// CubicMaxWeight is the heaviest parcel cubic pricing accepts.
	CubicMaxWeight usps.Weight
	// CubicMaxTenths is the largest cubic tier, in tenths of a cubic foot.
	CubicMaxTenths int64
	// CubicQuantum: each side is rounded down to a multiple of it before the
	// cubic volume is computed.
	CubicQuantum usps.Dimension

	// Limits are the size and weight limits per mail class. The entry with an
	// empty MailClass applies to classes without their own entry.
	Limits []Limit
}

// Limit is the size and weight limit of a mail class. Zero means no limit.
type Limit struct {
	MailClass          string
	MaxWeight          usps.Weight
	MaxLengthPlusGirth usps.Dimension // length (longest side) + 2 × (width + height)
	MaxLength          usps.Dimension // longest side
}

// DefaultRules returns the rules nsarates uses unless told otherwise.
//
// Dimensional weight (REFERENCE.md §12, from secondary sources: postaltimes,
// formaxdirect, postaladvocate, shipware, DMM 123.1.4 as quoted): since
// 2019-06-23, L×W×H/166 for parcels over 1 cubic foot (1,728 in³), in all
// zones, fractions of a pound rounded up, for Priority Mail and Priority Mail
// Express. Whether USPS Ground Advantage also uses it is not confirmed
// (REFERENCE.md §12, §14 item 8), so it is off by default: append
// MailClassGroundAdvantage to DimMailClasses to turn it on. The rule applies
// to rate indicators SP (single piece), PA (Priority Mail Express single
// piece), DR and DN (dimensional rectangular and non-rectangular,
// REFERENCE.md §5.2; USPS answers 030007 when DIM applies to other
// ingredients, §5.4), not to flat-rate or soft-pack products. Dimensions are used exactly as given
// (no rounding to the inch) and the historical ×0.785 for non-rectangular
// parcels is not applied.
//
// Cubic pricing (REFERENCE.md §12; tiers C1–C5 in §5.2): each side rounded
// down to the quarter inch, (L×W×H)/1728 cubic feet, tiers 0.1–0.5 cu ft, at
// most 20 lb.
//
// Limits: 70 lb and 108 in length plus girth for every class, 130 in for USPS
// Ground Advantage and Parcel Select. These are USPS's published limits
// (DMM 201); REFERENCE.md only confirms that USPS rejects oversize parcels
// (030008, §5.4), so check them against the current Notice 123.
func DefaultRules() Rules {
	return Rules{
		DimDivisor:         166,
		DimOverCubicInches: 1728,
		DimMailClasses:     []string{MailClassPriority, MailClassPriorityExpress},
		DimRateIndicators:  []string{"SP", "PA", "DR", "DN"},
		CubicMaxWeight:     20 * usps.Pound,
		CubicMaxTenths:     5,
		CubicQuantum:       usps.QuarterInch,
		Limits: []Limit{
			{MaxWeight: 70 * usps.Pound, MaxLengthPlusGirth: 108 * usps.Inch},
			{MailClass: MailClassGroundAdvantage, MaxWeight: 70 * usps.Pound, MaxLengthPlusGirth: 130 * usps.Inch},
			{MailClass: MailClassParcelSelect, MaxWeight: 70 * usps.Pound, MaxLengthPlusGirth: 130 * usps.Inch},
		},
	}
}

func (r Rules) validate() error {
	switch {
	case r.DimDivisor <= 0 || r.DimDivisor > 1_000_000:
		return &ValidationError{Field: "Rules.DimDivisor", Value: strconv.FormatInt(r.DimDivisor, 10), Reason: "want 1 to 1000000"}
	case r.DimOverCubicInches < 0 || r.DimOverCubicInches > 1_000_000_000:
		return &ValidationError{Field: "Rules.DimOverCubicInches", Value: strconv.FormatInt(r.DimOverCubicInches, 10), Reason: "want 0 to 1000000000"}
	case r.CubicMaxWeight < 0:
		return &ValidationError{Field: "Rules.CubicMaxWeight", Value: r.CubicMaxWeight.String(), Reason: "must not be negative"}
	case r.CubicMaxTenths < 0 || r.CubicMaxTenths > maxTierCubic:
		return &ValidationError{Field: "Rules.CubicMaxTenths", Value: strconv.FormatInt(r.CubicMaxTenths, 10), Reason: "want 0 to 100"}
	case r.CubicQuantum <= 0:
		return &ValidationError{Field: "Rules.CubicQuantum", Value: r.CubicQuantum.String(), Reason: "must be positive"}
	}
	for _, l := range r.Limits {
		if l.MaxWeight < 0 || l.MaxLengthPlusGirth < 0 || l.MaxLength < 0 {
			return &ValidationError{Field: "Rules.Limits", Value: l.MailClass, Reason: "limits must not be negative"}
		}
	}
	return nil
}

// limitFor returns the limit of a mail class: its own entry, else the
// default (empty MailClass) entry, else no limit.
func (r Rules) limitFor(mailClass string) Limit {
	var def Limit
	for _, l := range r.Limits {
		if l.MailClass == mailClass {
			return l
		}
		if l.MailClass == "" {
			def = l
		}
	}
	return def
}

// dimApplies reports whether dimensional weight applies to weight-priced
// product k.
func (r Rules) dimApplies(k ProductKey) bool {
	return slices.Contains(r.DimMailClasses, k.MailClass) &&
		(len(r.DimRateIndicators) == 0 || slices.Contains(r.DimRateIndicators, k.RateIndicator))
}
