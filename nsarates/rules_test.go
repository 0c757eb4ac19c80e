package nsarates

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/usps"
)

// TestBillableWeight checks the billable-weight and tier rules with worked
// examples. Sizes are in thousandths of an inch, weights in hundredths of an
// ounce.
func TestBillableWeight(t *testing.T) {
	// exact is the 2019 rule set with exact sides, for the cases that check
	// arithmetic on fractional sides; noGroundDIM turns DIM off for Ground
	// Advantage, to show the class list is data.
	exact := DefaultRuleSets()[0].Rules
	exact.DimSides = SidesExact
	noGroundDIM := DefaultRuleSets()[0].Rules
	noGroundDIM.DimMailClasses = []string{mailClassPriority, mailClassPriorityExpress}

	cases := []struct {
		name     string
		rules    *Rules
		product  ProductKey
		weight   usps.Weight
		l, w, h  usps.Dimension
		billable usps.Weight
		tier     Tier
	}{
		// 2.3 lb in a 10×8×6 in box (480 in³, not over 1,728): actual weight
		// rounded up to the 3 lb tier.
		{"actual rounds up to the pound", nil, keyPM, 2*usps.Pound + 480, 10000, 8000, 6000, 3 * usps.Pound, WeightTier(3 * usps.Pound)},
		// 5 lb in 20×12×10 in = 2,400 in³ > 1,728: DIM 2400/166 = 14.46 → 15 lb.
		{"DIM weight beats actual", nil, keyPM, 5 * usps.Pound, 20000, 12000, 10000, 15 * usps.Pound, WeightTier(15 * usps.Pound)},
		// Same box at 19.5 lb: DIM 15 lb < actual, so the 20 lb tier.
		{"actual beats DIM weight", nil, keyPM, 19*usps.Pound + 8*usps.Ounce, 20000, 12000, 10000, 20 * usps.Pound, WeightTier(20 * usps.Pound)},
		// 12×12×12 in is exactly 1,728 in³, not over it: no DIM.
		{"exactly one cubic foot: no DIM", nil, keyPM, usps.Pound, 12000, 12000, 12000, usps.Pound, WeightTier(usps.Pound)},
		// Exact sides: 12×12×12.01 in = 1,729.44 in³ > 1,728: DIM 1729.44/166 = 10.42 → 11 lb.
		{"just over one cubic foot: DIM (exact sides)", &exact, keyPM, usps.Pound, 12000, 12000, 12010, 11 * usps.Pound, WeightTier(11 * usps.Pound)},
		// 2019 rules: 12.01 in rounds off to 12 in, 1,728 in³ is not over: no DIM.
		{"just over one cubic foot: rounds off to 12 in", nil, keyPM, usps.Pound, 12000, 12000, 12010, usps.Pound, WeightTier(usps.Pound)},
		// Priority Mail Express single piece (PA) uses DIM too: 15 lb as above.
		{"DIM for Priority Mail Express", nil, keyPME, 5 * usps.Pound, 10000, 20000, 12000, 15 * usps.Pound, WeightTier(15 * usps.Pound)},
		// Ground Advantage: DIM by default ([3P] DMM 283 as quoted), off when configured.
		{"DIM for Ground Advantage", nil, keyGA, 5 * usps.Pound, 20000, 12000, 10000, 15 * usps.Pound, WeightTier(15 * usps.Pound)},
		{"no Ground Advantage DIM when configured", &noGroundDIM, keyGA, 5 * usps.Pound, 20000, 12000, 10000, 5 * usps.Pound, WeightTier(5 * usps.Pound)},
		// Flat-rate envelope: priced by container, DIM never applies.
		{"no DIM for flat rate", nil, keyFlat, 5 * usps.Pound, 20000, 12000, 10000, 70 * usps.Pound, WeightTier(70 * usps.Pound)},
		// Ounce tiers: 3.5 oz → 4 oz; 15.5 oz → 15.99 oz; 16 oz → 1 lb; 16.01 oz → 2 lb.
		{"ounce tier", nil, keyGA, 350, 6000, 4000, 1000, 4 * usps.Ounce, WeightTier(4 * usps.Ounce)},
		{"15.99 oz tier", nil, keyGA, 1550, 6000, 4000, 1000, 1599, WeightTier(1599)},
		{"16 oz is the 1 lb tier", nil, keyGA, 16 * usps.Ounce, 6000, 4000, 1000, usps.Pound, WeightTier(usps.Pound)},
		{"16.01 oz is the 2 lb tier", nil, keyGA, 1601, 6000, 4000, 1000, 2 * usps.Pound, WeightTier(2 * usps.Pound)},
		// Priority Mail has no ounce tiers: 3 oz is the 1 lb tier.
		{"no ounce tiers", nil, keyPM, 3 * usps.Ounce, 6000, 4000, 1000, usps.Pound, WeightTier(usps.Pound)},
		// Cubic: 11.9×8.6×5.3 in → 11.75×8.5×5.25 = 524.34 in³ = 0.303 ft³ → 0.4.
		{"cubic rounds sides down, volume up", nil, keyCubic, 3 * usps.Pound, 11900, 8600, 5300, 3 * usps.Pound, CubicTier(4)},
		// 12×12×6 in = 864 in³ = exactly 0.5 ft³.
		{"cubic at the top tier", nil, keyCubic, 3 * usps.Pound, 12000, 12000, 6000, 3 * usps.Pound, CubicTier(5)},
		// 12×12×6.2 in: 6.2 rounds down to 6, still 0.5 ft³.
		{"cubic rounding down keeps the tier", nil, keyCubic, 3 * usps.Pound, 12000, 6200, 12000, 3 * usps.Pound, CubicTier(5)},
		// 6×4×1 in = 24 in³ = 0.014 ft³ → 0.1.
		{"cubic smallest tier", nil, keyCubic, 8 * usps.Ounce, 6000, 4000, 1000, 8 * usps.Ounce, CubicTier(1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var opts []Option
			if tc.rules != nil {
				opts = append(opts, WithRules(*tc.rules))
			}
			tp := newTestPricer(t, opts...)
			q, err := tp.Quote(tp.ship(tc.product, tc.weight, tc.l, tc.w, tc.h))
			require.NoError(t, err)
			assert.Equal(t, SourceContract, q.Source)
			assert.Equal(t, tc.billable, q.BillableWeight, "billable weight")
			assert.Equal(t, tc.tier, q.Tier, "tier")
		})
	}
}

// TestLimits checks that each size and weight limit gives a *LimitError
// naming the field.
func TestLimits(t *testing.T) {
	cases := []struct {
		name    string
		product ProductKey
		weight  usps.Weight
		l, w, h usps.Dimension
		field   string
	}{
		{"over 70 lb", keyPM, 70*usps.Pound + 1, 10000, 10000, 10000, "Weight"},
		// 40 + 2×(20+15) = 110 in > 108 in.
		{"length plus girth", keyPM, usps.Pound, 40000, 20000, 15000, "LengthPlusGirth"},
		// 50 + 2×(20+20) = 130.01 > 130 for Ground Advantage.
		{"length plus girth, Ground Advantage", keyGA, usps.Pound, 50010, 20000, 20000, "LengthPlusGirth"},
		{"cubic over 20 lb", keyCubic, 20*usps.Pound + 1, 6000, 4000, 1000, "CubicWeight"},
		// 12×12×6.25 in = 900 in³ = 0.52 ft³ → 0.6 > 0.5.
		{"cubic over 0.5 cu ft", keyCubic, usps.Pound, 12000, 12000, 6250, "CubicVolume"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tp := newTestPricer(t)
			_, err := tp.Quote(tp.ship(tc.product, tc.weight, tc.l, tc.w, tc.h))
			var le *LimitError
			require.ErrorAs(t, err, &le)
			assert.Equal(t, tc.field, le.Field)
			assert.Contains(t, err.Error(), tc.field)
		})
	}

	t.Run("Ground Advantage allows 110 in", func(t *testing.T) {
		tp := newTestPricer(t)
		_, err := tp.Quote(tp.ship(keyGA, usps.Pound, 40000, 20000, 15000))
		require.NoError(t, err)
	})
	t.Run("MaxLength is data", func(t *testing.T) {
		r := DefaultRuleSets()[0].Rules
		r.Limits = append(r.Limits, Limit{MailClass: mailClassPriorityExpress, MaxWeight: 70 * usps.Pound, MaxLength: 30 * usps.Inch})
		tp := newTestPricer(t, WithRules(r))
		_, err := tp.Quote(tp.ship(keyPME, usps.Pound, 30010, 1000, 1000))
		var le *LimitError
		require.ErrorAs(t, err, &le)
		assert.Equal(t, "Length", le.Field)
	})
}

func TestRulesValidation(t *testing.T) {
	for name, mutate := range map[string]func(*Rules){
		"Rules.DimDivisor":              func(r *Rules) { r.DimDivisor = 0 },
		"Rules.DimOverCubicInches":      func(r *Rules) { r.DimOverCubicInches = -1 },
		"Rules.CubicMaxWeight":          func(r *Rules) { r.CubicMaxWeight = -1 },
		"Rules.CubicMaxTenths":          func(r *Rules) { r.CubicMaxTenths = 101 },
		"Rules.CubicQuantum":            func(r *Rules) { r.CubicQuantum = 0 },
		"Rules.Limits":                  func(r *Rules) { r.Limits[0].MaxWeight = -1 },
		"Rules.DimSides":                func(r *Rules) { r.DimSides = 9 },
		"Rules.DimMaxWeight":            func(r *Rules) { r.DimMaxWeight = -1 },
		"Rules.CubicMaxLength":          func(r *Rules) { r.CubicMaxLength = -1 },
		"Rules.DimNonrectangularFactor": func(r *Rules) { r.DimNonrectangularFactor = 0 },
		"Rules.SoftPack":                func(r *Rules) { r.SoftPack[0].MaxLengthPlusWidth = []usps.Dimension{30 * usps.Inch, 20 * usps.Inch} },
		"Rules.Oversized":               func(r *Rules) { r.Oversized[0].RateIndicator = "O" },
	} {
		r := DefaultRuleSets()[0].Rules
		mutate(&r)
		_, err := NewPricer(WithRules(r))
		var ve *ValidationError
		require.ErrorAs(t, err, &ve, name)
		assert.Equal(t, name, ve.Field)
	}
}
