package nsarates

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseCents(t *testing.T) {
	valid := []struct {
		in   string
		want Cents
	}{
		{"9.35", 935},
		{"9.3", 930},
		{"9", 900},
		{"0", 0},
		{"0.05", 5},
		{"007.10", 710}, // leading zeros are harmless
		{"9999999.99", MaxCents},
	}
	for _, tc := range valid {
		got, err := ParseCents(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}

	invalid := []struct {
		in   string
		want error
	}{
		{"", ErrSyntax},
		{"9.351", ErrPrecision},
		{"9.350", ErrPrecision}, // three decimals even if the last is zero
		{"-1", ErrNegative},
		{"-0.001", ErrNegative},
		{"NaN", ErrSyntax},
		{"Inf", ErrSyntax},
		{"1e3", ErrSyntax},
		{"1E3", ErrSyntax},
		{"0x10", ErrSyntax},
		{"+1", ErrSyntax},
		{" 1", ErrSyntax},
		{"1 ", ErrSyntax},
		{"1,000.00", ErrSyntax},
		{"$9.35", ErrSyntax},
		{"9.", ErrSyntax},
		{".5", ErrSyntax},
		{"--1", ErrSyntax},
		{"10000000.00", ErrRange},
		{"99999999999999999999999", ErrRange},
	}
	for _, tc := range invalid {
		_, err := ParseCents(tc.in)
		var ne *NumberError
		require.ErrorAs(t, err, &ne, tc.in)
		assert.Equal(t, tc.in, ne.Input)
		assert.ErrorIs(t, err, tc.want, tc.in)
	}
}

func TestCentsString(t *testing.T) {
	for c, want := range map[Cents]string{0: "0.00", 5: "0.05", 935: "9.35", 100: "1.00", -250: "-2.50", MaxCents: "9999999.99"} {
		assert.Equal(t, want, c.String())
	}
}

func TestParseWeight(t *testing.T) {
	valid := []struct {
		in   string
		want Weight
	}{
		{"12oz", 12 * Ounce},
		{"15.99oz", 1599},
		{"0.1oz", 10},
		{"2lb", 2 * Pound},
		{"1.25lb", 20 * Ounce},
		{"0.01lb", 16},     // 0.16 oz
		{"1.0625lb", 1700}, // 17 oz
	}
	for _, tc := range valid {
		got, err := ParseWeight(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
		back, err := ParseWeight(got.String())
		require.NoError(t, err)
		assert.Equal(t, got, back, "String round trip of %s", tc.in)
	}
	for in, want := range map[string]error{
		"1.001lb": ErrPrecision, // 16.016 oz is not a whole hundredth of an ounce
		"1.234oz": ErrPrecision,
		"2kg":     ErrSyntax,
		"2":       ErrSyntax,
		"-1lb":    ErrNegative,
		"lb":      ErrSyntax,
	} {
		_, err := ParseWeight(in)
		assert.ErrorIs(t, err, want, in)
	}
	assert.Equal(t, "1lb", Pound.String())
	assert.Equal(t, "18.5oz", Weight(1850).String())
}

func TestParseDimension(t *testing.T) {
	d, err := ParseDimension("10.25")
	require.NoError(t, err)
	assert.Equal(t, 10*Inch+QuarterInch, d)
	assert.Equal(t, "10.25", d.String())
	_, err = ParseDimension("1000.01")
	assert.ErrorIs(t, err, ErrRange)
	_, err = ParseDimension("1.125")
	assert.ErrorIs(t, err, ErrPrecision)
}

func TestParseZone(t *testing.T) {
	for in, want := range map[string]Zone{"00": 0, "0": 0, "01": 1, "1": 1, "09": 9, "9": 9} {
		z, err := ParseZone(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, z, in)
	}
	for _, in := range []string{"", "10", "010", "a", "-1", "1 ", "19"} {
		_, err := ParseZone(in)
		assert.ErrorIs(t, err, ErrSyntax, in)
	}
	assert.Equal(t, "00", ZoneDestinationEntry.String())
}

func TestParseTier(t *testing.T) {
	valid := map[string]Tier{
		"4oz":     WeightTier(4 * Ounce),
		"15.99oz": WeightTier(1599),
		"16oz":    WeightTier(Pound), // the same tier as 1lb
		"70lb":    WeightTier(70 * Pound),
		"0.3cuft": CubicTier(3),
		"1cuft":   CubicTier(10),
	}
	for in, want := range valid {
		got, err := ParseTier(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	assert.Equal(t, "0.3cuft", CubicTier(3).String())
	assert.Equal(t, "1.0cuft", CubicTier(10).String())
	assert.Equal(t, "15.99oz", WeightTier(1599).String())

	for in, want := range map[string]error{
		"0oz":      ErrRange,
		"151lb":    ErrRange,
		"0cuft":    ErrRange,
		"10.1cuft": ErrRange,
		"0.25cuft": ErrPrecision,
		"flat":     ErrSyntax,
	} {
		_, err := ParseTier(in)
		assert.ErrorIs(t, err, want, in)
	}
}
