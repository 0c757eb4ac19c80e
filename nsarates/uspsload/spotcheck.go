package uspsload

import (
	"context"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/nsalink/nsalink/nsarates"
)

// Drift is what a spot check found: every checked cell matched when Changed
// and Missing are empty. They are in canonical cell order.
type Drift struct {
	// Checked is the number of cells fetched.
	Checked int
	// Changed lists cells USPS prices differently under the contract, with
	// USPS's contract price (the table's is Table.Price of the cell).
	Changed []CellResult
	// Missing lists cells the table prices but USPS has no contract price
	// for (StatusPublished carries the published price USPS gave instead).
	Missing []CellResult
	// Skipped counts the table's cells a spot check cannot fetch: cubic
	// tiers and zones without a ZIP pair in Config.Zones.
	Skipped int
	// Calls is the number of price calls made.
	Calls int
	// RetryAt is, for a check that stopped, when USPS or the client's
	// budget allows the next call, when known.
	RetryAt time.Time
}

// SpotCheck fetches n cells of t picked at random (by r; nil uses a random
// seed) from USPS and reports where they differ. t must be a contract table
// of the loader's account. A run that stops first (n above Config.MaxCalls,
// or any cause Load lists) returns the partial drift, with RetryAt when
// known, and the error; any other error comes with a nil Drift.
func (l *Loader) SpotCheck(ctx context.Context, t *nsarates.Table, n int, r *rand.Rand) (*Drift, error) {
	if t == nil || t.Info().Account != l.cfg.Account.Reveal() {
		return nil, &configError{Field: "table", Reason: "want a contract table of EPS account " + l.cfg.Account.String()}
	}
	if n <= 0 {
		return nil, &configError{Field: "n", Reason: "must be positive"}
	}
	if r == nil {
		r = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	d := &Drift{}
	var cells []nsarates.Cell
	for c := range t.Cells() {
		if _, ok := l.cfg.Zones[c.Zone]; !ok || c.Tier.Kind != nsarates.WeightTiers {
			d.Skipped++
			continue
		}
		cells = append(cells, c)
	}
	// A partial Fisher–Yates shuffle picks n distinct cells.
	n = min(n, len(cells))
	for i := range n {
		j := i + r.IntN(len(cells)-i)
		cells[i], cells[j] = cells[j], cells[i]
	}
	sample := cells[:n]
	slices.SortFunc(sample, func(a, b nsarates.Cell) int { return cmpCell(a.CellKey, b.CellKey) })

	start := time.Now()
	var total int
	for _, c := range sample {
		got, err := l.fetch(ctx, c.CellKey, &d.Calls, &total)
		if err != nil {
			l.log.InfoContext(ctx, "uspsload: spot check stopped", "account", l.cfg.Account, "checked", d.Checked, "of", n, "err", err)
			stop := stopped(d.Checked, n, err)
			d.RetryAt = stop.RetryAt
			return d, stop
		}
		d.Checked++
		switch {
		case got.Status != StatusContract && got.Status != StatusCommercial:
			d.Missing = append(d.Missing, got)
		case got.Price != c.Price:
			d.Changed = append(d.Changed, got)
		}
	}
	l.log.InfoContext(ctx, "uspsload: spot check done", "account", l.cfg.Account, "checked", d.Checked,
		"changed", len(d.Changed), "missing", len(d.Missing), "skipped", d.Skipped, "elapsed", time.Since(start))
	return d, nil
}
