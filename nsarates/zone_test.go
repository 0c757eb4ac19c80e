package nsarates

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/usps"
)

func TestParseZone(t *testing.T) {
	for in, want := range map[string]Zone{"00": 0, "0": 0, "01": 1, "1": 1, "09": 9, "9": 9} {
		z, err := ParseZone(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, z, in)
	}
	for _, in := range []string{"", "10", "010", "a", "-1", "1 ", "19"} {
		_, err := ParseZone(in)
		assert.ErrorIs(t, err, usps.ErrSyntax, in)
	}
	assert.Equal(t, "00", ZoneDestinationEntry.String())
}

func TestParseTier(t *testing.T) {
	valid := map[string]Tier{
		"4oz":     WeightTier(4 * usps.Ounce),
		"15.99oz": WeightTier(1599),
		"16oz":    WeightTier(usps.Pound), // the same tier as 1lb
		"70lb":    WeightTier(70 * usps.Pound),
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
		"0oz":      usps.ErrRange,
		"151lb":    usps.ErrRange,
		"0cuft":    usps.ErrRange,
		"10.1cuft": usps.ErrRange,
		"0.25cuft": usps.ErrPrecision,
		"flat":     usps.ErrSyntax,
	} {
		_, err := ParseTier(in)
		assert.ErrorIs(t, err, want, in)
	}
}
