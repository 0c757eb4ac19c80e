package nsarates

import (
	"sync/atomic"
	"time"

	// USPS states its changeover times in Central time ("midnight Central",
	// docs/usps.md#dated-rule-changes), so the pricer needs America/Chicago
	// on every machine. Embedding the zone database (about 450 kB) keeps a
	// distroless or scratch container, which has no /usr/share/zoneinfo,
	// from pricing in the wrong zone or failing at start.
	_ "time/tzdata"
)

// central is USPS's time zone. time.LoadLocation falls back to the embedded
// database above when the system has none.
var central = mustLoad("America/Chicago")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic("nsarates: " + err.Error()) // cannot happen with time/tzdata embedded
	}
	return loc
}

// Central returns USPS's time zone, America/Chicago, in which every mailing
// date, table date and rule date is a calendar day.
func Central() *time.Location { return central }

// Mailing dates are compared as day numbers: days since 1970-01-01 of a
// calendar date. A calendar date is read from a time.Time's own location
// (t.Date()), so time.Date(2026, 7, 12, 0, 0, 0, 0, time.UTC) and the same
// date in Chicago are both day 2026-07-12; the day is then taken to be that
// date in Central time.
const (
	minDay = int64(-1 << 40)
	maxDay = int64(1 << 40)
)

// dayOf returns the day number of t's calendar date in t's own location.
// It costs a zone lookup and integer arithmetic, no allocation.
func dayOf(t time.Time) int64 {
	s := t.Unix()
	if t.Location() != time.UTC { // UTC, the usual date-only value, needs no zone lookup
		_, off := t.Zone()
		s += int64(off)
	}
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return d
}

// dayOrMin is dayOf with the zero time meaning "always since".
func dayOrMin(t time.Time) int64 {
	if t.IsZero() {
		return minDay
	}
	return dayOf(t)
}

// dayOrMax is dayOf with the zero time meaning "open-ended".
func dayOrMax(t time.Time) int64 {
	if t.IsZero() {
		return maxDay
	}
	return dayOf(t)
}

// dayTime returns day d as midnight in Central time.
func dayTime(d int64) time.Time {
	u := time.Unix(d*86400, 0).UTC()
	return time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, central)
}

// today caches the pricer clock's current Central day with the Unix seconds
// it spans, so that a shipment without a date costs one clock read.
type today struct {
	from, to int64 // Unix seconds [from, to) of day
	day      int64
}

type todayCache struct{ p atomic.Pointer[today] }

func (tc *todayCache) day(now time.Time) int64 {
	s := now.Unix()
	if t := tc.p.Load(); t != nil && s >= t.from && s < t.to {
		return t.day
	}
	c := now.In(central)
	y, m, d := c.Date()
	start := time.Date(y, m, d, 0, 0, 0, 0, central)
	t := &today{from: start.Unix(), to: time.Date(y, m, d+1, 0, 0, 0, 0, central).Unix(), day: dayOf(start)}
	tc.p.Store(t)
	return t.day
}
