package nsarates

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBillableWeight checks the billable-weight and tier rules with worked
// examples. Sizes are in hundredths of an inch, weights in hundredths of an
// ounce.
func TestBillableWeight(t *testing.T) {
	withGroundDIM := DefaultRules()
	withGroundDIM.DimMailClasses = append(withGroundDIM.DimMailClasses, MailClassGroundAdvantage)

	cases := []struct {
		name     string
		rules    *Rules
		product  ProductKey
		weight   Weight
		l, w, h  Dimension
		billable Weight
		tier     Tier
	}{
		// 2.3 lb in a 10×8×6 in box (480 in³, not over 1,728): actual weight
		// rounded up to the 3 lb tier.
		{"actual rounds up to the pound", nil, keyPM, 2*Pound + 480, 1000, 800, 600, 3 * Pound, WeightTier(3 * Pound)},
		// 5 lb in 20×12×10 in = 2,400 in³ > 1,728: DIM 2400/166 = 14.46 → 15 lb.
		{"DIM weight beats actual", nil, keyPM, 5 * Pound, 2000, 1200, 1000, 15 * Pound, WeightTier(15 * Pound)},
		// Same box at 19.5 lb: DIM 15 lb < actual, so the 20 lb tier.
		{"actual beats DIM weight", nil, keyPM, 19*Pound + 8*Ounce, 2000, 1200, 1000, 20 * Pound, WeightTier(20 * Pound)},
		// 12×12×12 in is exactly 1,728 in³, not over it: no DIM.
		{"exactly one cubic foot: no DIM", nil, keyPM, Pound, 1200, 1200, 1200, Pound, WeightTier(Pound)},
		// 12×12×12.01 in = 1,729.44 in³ > 1,728: DIM 1729.44/166 = 10.42 → 11 lb.
		{"just over one cubic foot: DIM", nil, keyPM, Pound, 1200, 1200, 1201, 11 * Pound, WeightTier(11 * Pound)},
		// Priority Mail Express single piece (PA) uses DIM too: 15 lb as above.
		{"DIM for Priority Mail Express", nil, keyPME, 5 * Pound, 1000, 2000, 1200, 15 * Pound, WeightTier(15 * Pound)},
		// Ground Advantage: DIM not confirmed, off by default.
		{"no DIM for Ground Advantage by default", nil, keyGA, 5 * Pound, 2000, 1200, 1000, 5 * Pound, WeightTier(5 * Pound)},
		{"Ground Advantage DIM when configured", &withGroundDIM, keyGA, 5 * Pound, 2000, 1200, 1000, 15 * Pound, WeightTier(15 * Pound)},
		// Flat-rate envelope: priced by container, DIM never applies.
		{"no DIM for flat rate", nil, keyFlat, 5 * Pound, 2000, 1200, 1000, 70 * Pound, WeightTier(70 * Pound)},
		// Ounce tiers: 3.5 oz → 4 oz; 15.5 oz → 15.99 oz; 16 oz → 1 lb; 16.01 oz → 2 lb.
		{"ounce tier", nil, keyGA, 350, 600, 400, 100, 4 * Ounce, WeightTier(4 * Ounce)},
		{"15.99 oz tier", nil, keyGA, 1550, 600, 400, 100, 1599, WeightTier(1599)},
		{"16 oz is the 1 lb tier", nil, keyGA, 16 * Ounce, 600, 400, 100, Pound, WeightTier(Pound)},
		{"16.01 oz is the 2 lb tier", nil, keyGA, 1601, 600, 400, 100, 2 * Pound, WeightTier(2 * Pound)},
		// Priority Mail has no ounce tiers: 3 oz is the 1 lb tier.
		{"no ounce tiers", nil, keyPM, 3 * Ounce, 600, 400, 100, Pound, WeightTier(Pound)},
		// Cubic: 11.9×8.6×5.3 in → 11.75×8.5×5.25 = 524.34 in³ = 0.303 ft³ → 0.4.
		{"cubic rounds sides down, volume up", nil, keyCubic, 3 * Pound, 1190, 860, 530, 3 * Pound, CubicTier(4)},
		// 12×12×6 in = 864 in³ = exactly 0.5 ft³.
		{"cubic at the top tier", nil, keyCubic, 3 * Pound, 1200, 1200, 600, 3 * Pound, CubicTier(5)},
		// 12×12×6.2 in: 6.2 rounds down to 6, still 0.5 ft³.
		{"cubic rounding down keeps the tier", nil, keyCubic, 3 * Pound, 1200, 620, 1200, 3 * Pound, CubicTier(5)},
		// 6×4×1 in = 24 in³ = 0.014 ft³ → 0.1.
		{"cubic smallest tier", nil, keyCubic, 8 * Ounce, 600, 400, 100, 8 * Ounce, CubicTier(1)},
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
		weight  Weight
		l, w, h Dimension
		field   string
	}{
		{"over 70 lb", keyPM, 70*Pound + 1, 1000, 1000, 1000, "Weight"},
		// 40 + 2×(20+15) = 110 in > 108 in.
		{"length plus girth", keyPM, Pound, 4000, 2000, 1500, "LengthPlusGirth"},
		// 50 + 2×(20+20) = 130.01 > 130 for Ground Advantage.
		{"length plus girth, Ground Advantage", keyGA, Pound, 5001, 2000, 2000, "LengthPlusGirth"},
		{"cubic over 20 lb", keyCubic, 20*Pound + 1, 600, 400, 100, "CubicWeight"},
		// 12×12×6.25 in = 900 in³ = 0.52 ft³ → 0.6 > 0.5.
		{"cubic over 0.5 cu ft", keyCubic, Pound, 1200, 1200, 625, "CubicVolume"},
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
		_, err := tp.Quote(tp.ship(keyGA, Pound, 4000, 2000, 1500))
		require.NoError(t, err)
	})
	t.Run("MaxLength is data", func(t *testing.T) {
		r := DefaultRules()
		r.Limits = append(r.Limits, Limit{MailClass: MailClassPriorityExpress, MaxWeight: 70 * Pound, MaxLength: 30 * Inch})
		tp := newTestPricer(t, WithRules(r))
		_, err := tp.Quote(tp.ship(keyPME, Pound, 3001, 100, 100))
		var le *LimitError
		require.ErrorAs(t, err, &le)
		assert.Equal(t, "Length", le.Field)
	})
}

func TestRulesValidation(t *testing.T) {
	for name, mutate := range map[string]func(*Rules){
		"Rules.DimDivisor":         func(r *Rules) { r.DimDivisor = 0 },
		"Rules.DimOverCubicInches": func(r *Rules) { r.DimOverCubicInches = -1 },
		"Rules.CubicMaxWeight":     func(r *Rules) { r.CubicMaxWeight = -1 },
		"Rules.CubicMaxTenths":     func(r *Rules) { r.CubicMaxTenths = 101 },
		"Rules.CubicQuantum":       func(r *Rules) { r.CubicQuantum = 0 },
		"Rules.Limits":             func(r *Rules) { r.Limits[0].MaxWeight = -1 },
	} {
		r := DefaultRules()
		mutate(&r)
		_, err := NewPricer(WithRules(r))
		var ve *ValidationError
		require.ErrorAs(t, err, &ve, name)
		assert.Equal(t, name, ve.Field)
	}
}
