package keylock

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSet(t *testing.T) {
	var s Set
	unlock, err := s.Lock(t.Context(), "a")
	require.NoError(t, err)
	_, ok := s.TryLock("a")
	assert.False(t, ok, "held")
	other, ok := s.TryLock("b")
	require.True(t, ok, "keys are independent")
	other()

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err = s.Lock(ctx, "a")
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	unlock()
	again, ok := s.TryLock("a")
	require.True(t, ok)
	again()
	assert.Empty(t, s.m, "no entry outlives its holders and waiters")
}
