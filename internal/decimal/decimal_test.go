package decimal

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	v, err := Parse("0.3", 1)
	require.NoError(t, err)
	assert.Equal(t, int64(3), v)
	v, err = Parse("3456", 0)
	require.NoError(t, err)
	assert.Equal(t, int64(3456), v)
	for in, want := range map[string]error{"34.5": ErrPrecision, "-1": ErrNegative, "-x": ErrSyntax, "1e3": ErrSyntax, "1234567890123": ErrRange} {
		_, err := Parse(in, 0)
		assert.ErrorIs(t, err, want, in)
	}
	_, err = Parse("1", 7)
	assert.ErrorIs(t, err, ErrRange)
}
