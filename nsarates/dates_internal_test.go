package nsarates

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestDayOf checks day numbers against the calendar, in several zones and
// on both sides of 1970, and that dayTime is their inverse in Central time.
func TestDayOf(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	zones := []*time.Location{time.UTC, Central(), time.FixedZone("+14", 14*3600), time.FixedZone("-11", -11*3600)}
	for range 2000 {
		y, m, d := 1900+rng.IntN(250), time.Month(1+rng.IntN(12)), 1+rng.IntN(28)
		want := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400 // exact: midnight UTC
		for _, loc := range zones {
			at := time.Date(y, m, d, rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(1e9), loc)
			assert.Equal(t, want, dayOf(at), "%v", at)
		}
		back := dayTime(want)
		assert.Equal(t, time.Date(y, m, d, 0, 0, 0, 0, Central()), back)
	}
	// The last second of a Central day and the first of the next.
	end := time.Date(2026, 7, 11, 23, 59, 59, 999999999, Central())
	assert.Equal(t, dayOf(time.Date(2026, 7, 11, 0, 0, 0, 0, time.UTC)), dayOf(end))
	assert.Equal(t, dayOf(end)+1, dayOf(end.Add(time.Nanosecond)))
}
