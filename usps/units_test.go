package usps_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/usps"
)

func TestParseWeight(t *testing.T) {
	valid := []struct {
		in   string
		want usps.Weight
	}{
		{"12oz", 12 * usps.Ounce},
		{"15.99oz", 1599},
		{"0.1oz", 10},
		{"2lb", 2 * usps.Pound},
		{"1.25lb", 20 * usps.Ounce},
		{"0.01lb", 16},     // 0.16 oz
		{"1.0625lb", 1700}, // 17 oz
	}
	for _, tc := range valid {
		got, err := usps.ParseWeight(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
		back, err := usps.ParseWeight(got.String())
		require.NoError(t, err)
		assert.Equal(t, got, back, "String round trip of %s", tc.in)
	}
	for in, want := range map[string]error{
		"1.001lb": usps.ErrPrecision, // 16.016 oz is not a whole hundredth of an ounce
		"1.234oz": usps.ErrPrecision,
		"2kg":     usps.ErrSyntax,
		"2":       usps.ErrSyntax,
		"-1lb":    usps.ErrNegative,
		"lb":      usps.ErrSyntax,
	} {
		_, err := usps.ParseWeight(in)
		var ne *usps.NumberError
		require.ErrorAs(t, err, &ne, in)
		assert.Equal(t, in, ne.Input)
		assert.ErrorIs(t, err, want, in)
	}
	assert.Equal(t, "1lb", usps.Pound.String())
	assert.Equal(t, "18.5oz", usps.Weight(1850).String())
}

func TestWeightPounds(t *testing.T) {
	for w, want := range map[usps.Weight]string{
		2 * usps.Pound: "2", 1599: "0.999375", 1: "0.000625", 10: "0.00625", 20 * usps.Ounce: "1.25", 0: "0",
	} {
		assert.Equal(t, want, w.Pounds(), "%d", w)
		back, err := usps.ParseJSONPounds(w.Pounds())
		require.NoError(t, err)
		assert.Equal(t, w, back)
	}
	for in, want := range map[string]usps.Weight{
		"2.5":                 40 * usps.Ounce,
		"1e0":                 usps.Pound,
		"0.30000000000000004": 480,  // float noise lands on 4.8 oz
		"0.0003125":           1,    // half a unit rounds up
		"0.0003124":           0,    // below half
		"0.9993749":           1599, // 15.9899… oz
	} {
		got, err := usps.ParseJSONPounds(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for in, want := range map[string]error{"-1": usps.ErrNegative, "1000000.001": usps.ErrRange, "2lb": usps.ErrSyntax, "": usps.ErrSyntax} {
		_, err := usps.ParseJSONPounds(in)
		assert.ErrorIs(t, err, want, in)
	}
}

func TestParseDimension(t *testing.T) {
	d, err := usps.ParseDimension("10.25")
	require.NoError(t, err)
	assert.Equal(t, 10*usps.Inch+usps.QuarterInch, d)
	assert.Equal(t, "10.25", d.String())
	d, err = usps.ParseDimension("4.875") // a tape measure's eighths
	require.NoError(t, err)
	assert.Equal(t, 4*usps.Inch+7*usps.EighthInch, d)
	assert.Equal(t, "4.875", d.String())
	assert.Equal(t, "12", (12 * usps.Inch).String())
	d, err = usps.ParseDimension("1000")
	require.NoError(t, err)
	assert.Equal(t, usps.MaxDimension, d)
	for in, want := range map[string]error{"1000.001": usps.ErrRange, "1.1255": usps.ErrPrecision, "-1": usps.ErrNegative, "1in": usps.ErrSyntax} {
		_, err = usps.ParseDimension(in)
		assert.ErrorIs(t, err, want, in)
	}
}
