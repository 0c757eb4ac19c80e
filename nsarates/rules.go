package nsarates

import (
	"slices"
	"strconv"
	"time"

	"github.com/nsalink/nsalink/usps"
)

// Rules are the billable-weight, tier and size rules of one period, kept as
// data so that a platform can follow USPS changes without a new release.
// [DefaultRuleSets] documents each default and where it comes from.
type Rules struct {
	// DimDivisor is the dimensional-weight divisor in cubic inches per pound.
	DimDivisor int64
	// DimOverCubicInches: dimensional weight applies only to parcels whose
	// volume (after DimSides rounding and the non-rectangular factor) is over
	// this many cubic inches.
	DimOverCubicInches int64
	// DimMailClasses are the mail classes dimensional weight applies to.
	DimMailClasses []string
	// DimRateIndicators, if not empty, narrows dimensional weight to these
	// rate indicators (flat-rate and soft-pack products are priced by
	// container, not weight). Cubic products never use it.
	DimRateIndicators []string
	// DimSides says how each side is rounded before the DIM volume is
	// computed.
	DimSides SideRounding
	// DimNonrectangular lists the rate indicators of non-rectangular parcels
	// (USPS "DN"), whose volume is multiplied by DimNonrectangularFactor
	// thousandths before the threshold test and the division.
	DimNonrectangular       []string
	DimNonrectangularFactor int64
	// DimMaxWeight caps the dimensional weight: a parcel whose DIM weight is
	// over it pays the DimMaxWeight price. Zero means no cap. It never caps
	// the actual weight (see Limits).
	DimMaxWeight usps.Weight

	// CubicMaxWeight is the heaviest parcel cubic and soft-pack pricing
	// accept.
	CubicMaxWeight usps.Weight
	// CubicMaxTenths is the largest cubic tier, in tenths of a cubic foot,
	// for classes whose Limit does not set its own.
	CubicMaxTenths int64
	// CubicQuantum: each side is rounded down to a multiple of it before the
	// cubic volume or the soft-pack length plus width is computed.
	CubicQuantum usps.Dimension
	// CubicMaxLength is the longest side cubic and soft-pack pricing accept;
	// zero means no limit of its own.
	CubicMaxLength usps.Dimension

	// SoftPack gives, per mail class, the soft-pack tiers chosen by length
	// plus width. A soft-pack product of a class without an entry is not
	// priced under these rules (ReasonNoRule).
	SoftPack []SoftPackRule

	// Oversized prices parcels of a class whose length plus girth is over a
	// threshold from the class's oversized product, regardless of weight.
	Oversized []OversizedRule

	// Limits are the size and weight limits per mail class. The entry with an
	// empty MailClass applies to classes without their own entry.
	Limits []Limit
}

// SideRounding says how a side is rounded to whole inches.
type SideRounding uint8

// Side roundings.
const (
	// SidesExact uses each side as given.
	SidesExact SideRounding = iota
	// SidesNearestInch rounds each side to the nearest whole inch, half an
	// inch up ("round off", DMM 604.7; 20¼ in → 20, 20¾ in → 21).
	SidesNearestInch
	// SidesUpInch rounds any fraction of an inch up to the next whole inch.
	SidesUpInch
)

// SoftPackRule is the soft-pack (and padded-envelope) cubic tiers of a mail
// class: tier i (0.1 × (i+1) cubic feet) holds parcels whose length plus
// width, each side rounded down to Rules.CubicQuantum, is at most
// MaxLengthPlusWidth[i]. Above the last bound the parcel is not eligible
// (a *LimitError).
type SoftPackRule struct {
	MailClass          string
	MaxLengthPlusWidth []usps.Dimension // ascending, at most 10
}

// OversizedRule sends parcels of MailClass whose length plus girth is over
// Over to the product of the same class and processing category with rate
// indicator RateIndicator (USPS "OS"), priced at its first tier whatever the
// weight. A table without that product does not price the parcel
// (ReasonNotCovered), and the next table is tried.
type OversizedRule struct {
	MailClass     string
	Over          usps.Dimension
	RateIndicator string
}

// Limit is the size and weight limit of a mail class. Zero means no limit.
type Limit struct {
	MailClass          string
	MaxWeight          usps.Weight
	MaxLengthPlusGirth usps.Dimension // length (longest side) + 2 × (width + height)
	MaxLength          usps.Dimension // longest side
	// CubicMaxTenths, if not zero, replaces Rules.CubicMaxTenths for the
	// class.
	CubicMaxTenths int64
}

// RuleSet is Rules with the mailing dates they apply to. A pricer holds
// several; each quote uses the newest set whose EffectiveFrom is on or
// before the shipment's mailing date, and names it in [Quote.RuleSet].
type RuleSet struct {
	// ID names the set in quotes, e.g. "usps-2026-07-12".
	ID string
	// EffectiveFrom is the first mailing date the set applies to. Only its
	// calendar date counts (Year, Month, Day in the value's own location),
	// read as a day in USPS's time zone, America/Chicago. Zero means every
	// date.
	EffectiveFrom time.Time
	// KnownThrough is the last mailing date the set's sources were known to
	// describe (a calendar date, as EffectiveFrom). A later date on the
	// newest set is still priced, with Quote.PastHorizon set, because USPS
	// may have changed the rules since. Zero means no horizon.
	KnownThrough time.Time
	Rules        Rules
}

// Dates of the default rule sets.
var (
	// rules2019 starts with the all-zone DIM rule, divisor 166.
	rules2019 = time.Date(2019, 6, 23, 0, 0, 0, 0, time.UTC)
	// rules2026 is the effective date of FR 2026-09785.
	rules2026 = time.Date(2026, 7, 12, 0, 0, 0, 0, time.UTC)
	// knownThrough2026 is the last day of the last dated USPS schedule the
	// research of 2026-11 found (seasonal prices to 2027-01-17, [3P]); USPS
	// publishes its next changes in January, so later dates are flagged.
	knownThrough2026 = time.Date(2027, 1, 17, 0, 0, 0, 0, time.UTC)
)

// DefaultRuleSets returns the rule sets nsarates uses unless told otherwise:
// "usps-2019-06-23" (mailing dates 2019-06-23 to 2026-07-11) and
// "usps-2026-07-12" (from 2026-07-12, known through 2027-01-17). The package
// documentation has the rules table with every source; sources tagged [3P]
// are third-party quotations of the USPS text, not the USPS text itself.
func DefaultRuleSets() []RuleSet {
	before := Rules{
		// Divisor 166 over 1,728 in³, all zones, since 2019-06-23: [3P]
		// formaxdirect, postaladvocate, iosconnect ("The DIM divisor will
		// change from 194 to 166"). Over 1,728 in³ strictly: [P-hist] DMM
		// Advisory 2006-10-30 ("1,728 cubic inches or less … does not
		// apply").
		DimDivisor:         166,
		DimOverCubicInches: 1728,
		// Classes: PM and PME [3P] DMM 123 as quoted; Ground Advantage
		// [3P] DMM 283 as quoted and USPS's 2022 proposal ("Dimensional
		// Weight"); Parcel Select [3P] DMM 253.1.3 as quoted.
		DimMailClasses:    []string{mailClassPriority, mailClassPriorityExpress, mailClassGroundAdvantage, mailClassParcelSelect},
		DimRateIndicators: []string{"SP", "PA", "DR", "DN"},
		// Round off to the nearest whole inch: [P-hist] DMM Advisory
		// 2006-10-30 ("20-1/4 inches is considered 20 inches; 20-3/4
		// inches is 21 inches") and cns.usps.com/modals/girth.html; [3P]
		// old DMM 123.1.4.1a quoted on slippertalk. Exact halves round up
		// (DMM 604.7 "round off" not read: NOT CONFIRMED).
		DimSides: SidesNearestInch,
		// ×0.785 for non-rectangular, threshold tested after it: [P-hist]
		// cns.usps.com; [3P] old DMM 123.1.4.2c.
		DimNonrectangular:       []string{"DN"},
		DimNonrectangularFactor: 785,
		// DIM weight over 70 lb pays the 70 lb price: [P-hist]
		// cns.usps.com ("the mailer pays the 70 pound price"); [3P] old DMM
		// 123.1.4.2e.
		DimMaxWeight: 70 * usps.Pound,
		// Cubic: sides rounded down to ¼ in, 20 lb, longest side 18 in:
		// [3P] DMM 223.1.3.3 as scraped (milimore), appath, pirateship.
		// Priority Mail 0.5 ft³ (C1–C5 [P] USPS prices API); Ground
		// Advantage 1.0 ft³ [3P] ShippingEasy via ecommercebytes.
		CubicMaxWeight: 20 * usps.Pound,
		CubicMaxTenths: 5,
		CubicQuantum:   usps.QuarterInch,
		CubicMaxLength: 18 * usps.Inch,
		// Priority Mail soft pack by length plus width: [3P] easypost
		// soft-pack table; DMM 223.1.3.4 as scraped. Ground Advantage's ten
		// soft-pack bounds were not found, so it has no entry here.
		SoftPack: []SoftPackRule{{MailClass: mailClassPriority, MaxLengthPlusWidth: pmSoftPack()}},
		// Oversized over 108 in up to 130 in, regardless of weight: [3P]
		// DMM 253 as quoted ("use oversized prices, regardless of
		// weight"); rate indicator OS [P] USPS prices API.
		Oversized: []OversizedRule{
			{MailClass: mailClassGroundAdvantage, Over: 108 * usps.Inch, RateIndicator: "OS"},
			{MailClass: mailClassParcelSelect, Over: 108 * usps.Inch, RateIndicator: "OS"},
		},
		// 70 lb every class; 108 in PM/PME; 130 in GA and PS: [3P] DMM 201
		// as quoted (woocommerce-services#607) and usps.com copies.
		Limits: []Limit{
			{MaxWeight: 70 * usps.Pound, MaxLengthPlusGirth: 108 * usps.Inch},
			{MailClass: mailClassGroundAdvantage, MaxWeight: 70 * usps.Pound, MaxLengthPlusGirth: 130 * usps.Inch, CubicMaxTenths: 10},
			{MailClass: mailClassParcelSelect, MaxWeight: 70 * usps.Pound, MaxLengthPlusGirth: 130 * usps.Inch},
		},
	}
	after := before.clone()
	// FR 2026-09785 (91 FR 27837, effective 2026-07-12, [P] for the date and
	// product scope). Its body could not be read; the numbers are [3P]:
	// divisor 139 and every fractional inch rounded up (thelogisticnews,
	// logisticscurated, savepostage, DMM 123/283 as quoted).
	after.DimDivisor = 139
	after.DimSides = SidesUpInch
	// Cubic maximum length 18 → 22 in for boxes, soft packs and padded
	// envelopes: [3P] PostalPro plan via ecommercebytes; the FR has a
	// "Priority Mail Cubic Maximum" section [P] whose text was not read.
	after.CubicMaxLength = 22 * usps.Inch
	// Ground Advantage soft-pack tiers aligned with Priority Mail: [3P]
	// PostalPro plan via ecommercebytes.
	after.SoftPack = append(after.SoftPack, SoftPackRule{MailClass: mailClassGroundAdvantage, MaxLengthPlusWidth: pmSoftPack()})
	return []RuleSet{
		{ID: "usps-2019-06-23", EffectiveFrom: rules2019, Rules: before},
		{ID: "usps-2026-07-12", EffectiveFrom: rules2026, KnownThrough: knownThrough2026, Rules: after},
	}
}

// pmSoftPack is Priority Mail's soft-pack bounds: length plus width up to
// 21, 27, 31, 34 and 36 in for tiers 0.1–0.5 ([3P] easypost).
func pmSoftPack() []usps.Dimension {
	return []usps.Dimension{21 * usps.Inch, 27 * usps.Inch, 31 * usps.Inch, 34 * usps.Inch, 36 * usps.Inch}
}

// clone returns r with its own slices, so that a caller's later edits do not
// reach a pricer.
func (r Rules) clone() Rules {
	r.DimMailClasses = slices.Clone(r.DimMailClasses)
	r.DimRateIndicators = slices.Clone(r.DimRateIndicators)
	r.DimNonrectangular = slices.Clone(r.DimNonrectangular)
	r.Oversized = slices.Clone(r.Oversized)
	r.Limits = slices.Clone(r.Limits)
	r.SoftPack = slices.Clone(r.SoftPack)
	for i := range r.SoftPack {
		r.SoftPack[i].MaxLengthPlusWidth = slices.Clone(r.SoftPack[i].MaxLengthPlusWidth)
	}
	return r
}

func (r Rules) validate() error {
	switch {
	case r.DimDivisor <= 0 || r.DimDivisor > 1_000_000:
		return &ValidationError{Field: "Rules.DimDivisor", Value: strconv.FormatInt(r.DimDivisor, 10), Reason: "want 1 to 1000000"}
	case r.DimOverCubicInches < 0 || r.DimOverCubicInches > 1_000_000_000:
		return &ValidationError{Field: "Rules.DimOverCubicInches", Value: strconv.FormatInt(r.DimOverCubicInches, 10), Reason: "want 0 to 1000000000"}
	case r.DimSides > SidesUpInch:
		return &ValidationError{Field: "Rules.DimSides", Value: strconv.Itoa(int(r.DimSides)), Reason: "want SidesExact, SidesNearestInch or SidesUpInch"}
	case len(r.DimNonrectangular) > 0 && (r.DimNonrectangularFactor <= 0 || r.DimNonrectangularFactor > 1000):
		return &ValidationError{Field: "Rules.DimNonrectangularFactor", Value: strconv.FormatInt(r.DimNonrectangularFactor, 10), Reason: "want 1 to 1000 thousandths"}
	case r.DimMaxWeight < 0:
		return &ValidationError{Field: "Rules.DimMaxWeight", Value: r.DimMaxWeight.String(), Reason: "must not be negative"}
	case r.CubicMaxWeight < 0:
		return &ValidationError{Field: "Rules.CubicMaxWeight", Value: r.CubicMaxWeight.String(), Reason: "must not be negative"}
	case r.CubicMaxTenths < 0 || r.CubicMaxTenths > maxTierCubic:
		return &ValidationError{Field: "Rules.CubicMaxTenths", Value: strconv.FormatInt(r.CubicMaxTenths, 10), Reason: "want 0 to 100"}
	case r.CubicQuantum <= 0:
		return &ValidationError{Field: "Rules.CubicQuantum", Value: r.CubicQuantum.String(), Reason: "must be positive"}
	case r.CubicMaxLength < 0:
		return &ValidationError{Field: "Rules.CubicMaxLength", Value: r.CubicMaxLength.String(), Reason: "must not be negative"}
	}
	for _, l := range r.Limits {
		if l.MaxWeight < 0 || l.MaxLengthPlusGirth < 0 || l.MaxLength < 0 || l.CubicMaxTenths < 0 || l.CubicMaxTenths > maxTierCubic {
			return &ValidationError{Field: "Rules.Limits", Value: l.MailClass, Reason: "limits must not be negative (cubic tenths at most 100)"}
		}
	}
	for _, s := range r.SoftPack {
		if len(s.MaxLengthPlusWidth) == 0 || len(s.MaxLengthPlusWidth) > 10 ||
			!slices.IsSorted(s.MaxLengthPlusWidth) || s.MaxLengthPlusWidth[0] <= 0 {
			return &ValidationError{Field: "Rules.SoftPack", Value: s.MailClass, Reason: "want 1 to 10 positive bounds in ascending order"}
		}
	}
	for _, o := range r.Oversized {
		if o.Over <= 0 || len(o.RateIndicator) != 2 || !isUSPSWord(o.RateIndicator, "") {
			return &ValidationError{Field: "Rules.Oversized", Value: o.MailClass, Reason: "want a positive threshold and a two-character rate indicator"}
		}
	}
	return nil
}

// limitFor returns the limit of a mail class: its own entry, else the
// default (empty MailClass) entry, else no limit.
func (r *Rules) limitFor(mailClass string) Limit {
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
func (r *Rules) dimApplies(k ProductKey) bool {
	return slices.Contains(r.DimMailClasses, k.MailClass) &&
		(len(r.DimRateIndicators) == 0 || slices.Contains(r.DimRateIndicators, k.RateIndicator))
}

func (r *Rules) softPackFor(mailClass string) []usps.Dimension {
	for _, s := range r.SoftPack {
		if s.MailClass == mailClass {
			return s.MaxLengthPlusWidth
		}
	}
	return nil
}

func (r *Rules) oversizedFor(mailClass string) (OversizedRule, bool) {
	for _, o := range r.Oversized {
		if o.MailClass == mailClass {
			return o, true
		}
	}
	return OversizedRule{}, false
}
