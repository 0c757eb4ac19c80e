package uspsload

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
)

// ZIPPair is an origin and a destination ZIP Code (5 digits) that USPS's
// zone chart puts in one zone.
type ZIPPair struct {
	Origin, Destination string
}

// Box is the parcel size sent with every price call.
type Box struct {
	Length, Width, Height usps.Dimension
}

// defaultBox is 6 × 4 × 2 in: 48 in³ is far below the 1,728 in³ where
// dimensional weight starts and no side is near a nonstandard-size fee, so
// USPS answers the tier's plain price.
var defaultBox = Box{6 * usps.Inch, 4 * usps.Inch, 2 * usps.Inch}

// Config is one customer's loader setup.
type Config struct {
	// Account is the customer's EPS account: USPS answers with the contract
	// prices configured in it.
	Account usps.EPSAccount
	// Zones gives, for each zone 01–09 to load, a ZIP pair in that zone of
	// USPS's real zone chart (uspsbiztest.Zone for the fake). Zone 00
	// (destination entry) needs an entry facility, not a ZIP pair, and is
	// not loaded.
	Zones map[nsarates.Zone]ZIPPair
	// Box is the parcel size priced. Zero means 6 × 4 × 2 in, small enough
	// that dimensional weight and size fees never apply.
	Box Box
	// MailingDate is sent with each call (USPS accepts today to 7 days
	// ahead); zero lets USPS use today. Set it to load a contract that
	// starts in a few days.
	MailingDate time.Time
	// MaxCalls bounds the price calls of one Load or SpotCheck run, on top
	// of any budget of the client (uspsbiz.WithBudget): USPS allows about
	// 60 an hour and other features need some. Required. The client's
	// retries of a failed call are not counted here (the client's budget
	// counts them).
	MaxCalls int
	// Save, if set, is called with the checkpoint after each cell a load
	// records. An error stops the load.
	Save func(context.Context, *Checkpoint) error
	// Logger gets a debug line per call and an info line per run; nil is
	// silent. The EPS account appears only as its last four digits.
	Logger *slog.Logger
	// Published loads USPS's published commercial prices instead of an
	// account's contract prices (Account must be empty): the fallback table
	// of a Pricer, with real USPS prices. Cells come back as
	// StatusCommercial; an answer of another price type is an error.
	Published bool
}

// Loader fetches contract prices for one EPS account. It is safe for
// concurrent use, but runs are meant to be one at a time: each spends the
// same USPS quota.
type Loader struct {
	client *uspsbiz.Client
	cfg    Config
	log    *slog.Logger
}

// New checks cfg and returns a loader that calls USPS with client (the
// platform's client or a customer's: USPS selects contract prices by the
// account number).
func New(client *uspsbiz.Client, cfg Config) (*Loader, error) {
	if client == nil {
		return nil, &configError{Field: "client", Reason: "is nil"}
	}
	switch a, err := usps.ParseEPSAccount(cfg.Account.Reveal()); {
	case cfg.Published && cfg.Account != "":
		return nil, &configError{Field: "Account", Reason: "must be empty for published prices"}
	case !cfg.Published && (err != nil || a != cfg.Account):
		return nil, &configError{Field: "Account", Reason: fmt.Sprintf("%s is not a 10-digit EPS account", cfg.Account)}
	}
	if len(cfg.Zones) == 0 {
		return nil, &configError{Field: "Zones", Reason: "give a ZIP pair for each zone to load"}
	}
	zones := make(map[nsarates.Zone]ZIPPair, len(cfg.Zones))
	for z, p := range cfg.Zones {
		if z == nsarates.ZoneDestinationEntry || z > 9 {
			return nil, &configError{Field: "Zones", Reason: fmt.Sprintf("zone %s: want 01 to 09", z)}
		}
		if !isZIP(p.Origin) || !isZIP(p.Destination) {
			return nil, &configError{Field: "Zones", Reason: fmt.Sprintf("zone %s: want 5-digit origin and destination ZIP Codes", z)}
		}
		zones[z] = p
	}
	cfg.Zones = zones // a copy: the caller may change theirs
	if cfg.Box == (Box{}) {
		cfg.Box = defaultBox
	}
	for _, d := range []usps.Dimension{cfg.Box.Length, cfg.Box.Width, cfg.Box.Height} {
		if d <= 0 || d > 100*usps.Inch {
			return nil, &configError{Field: "Box", Reason: "want sides between 0 and 100 in"}
		}
	}
	if cfg.MaxCalls <= 0 {
		return nil, &configError{Field: "MaxCalls", Reason: "must be positive"}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Loader{client: client, cfg: cfg, log: log}, nil
}

func isZIP(s string) bool {
	return len(s) == 5 && strings.Trim(s, "0123456789") == ""
}

// Plan is the grid a load fills: every product × zone × tier.
type Plan struct {
	// Info is the identity of the table built. Info.Account may be left
	// empty (it is set to the loader's account) but must not name another.
	Info     nsarates.TableInfo
	Products []nsarates.ProductKey
	// Zones to load; each needs a ZIP pair in Config.Zones.
	Zones []nsarates.Zone
	// Tiers are weight tiers; each is priced at its upper bound. Cubic
	// tiers are priced by box size, not weight, and are not loaded.
	Tiers []nsarates.Tier
}

// normalize checks p against the loader's config and sorts it into the
// canonical order (that of nsarates.Table.Cells), which is the fetch order.
func (l *Loader) normalize(p Plan) (Plan, error) {
	switch p.Info.Account {
	case "":
		p.Info.Account = l.cfg.Account.Reveal()
	case l.cfg.Account.Reveal():
	default:
		return p, &configError{Field: "Plan.Info.Account", Reason: "is not the loader's EPS account " + l.cfg.Account.String()}
	}
	if len(p.Products) == 0 || len(p.Zones) == 0 || len(p.Tiers) == 0 {
		return p, &configError{Field: "Plan", Reason: "needs products, zones and tiers"}
	}
	p.Products = slices.Clone(p.Products)
	slices.SortFunc(p.Products, func(a, b nsarates.ProductKey) int {
		return cmp.Or(cmp.Compare(a.MailClass, b.MailClass), cmp.Compare(a.RateIndicator, b.RateIndicator), cmp.Compare(a.ProcessingCategory, b.ProcessingCategory))
	})
	p.Products = slices.Compact(p.Products)
	p.Zones = slices.Compact(slices.Sorted(slices.Values(p.Zones)))
	p.Tiers = slices.Clone(p.Tiers)
	slices.SortFunc(p.Tiers, func(a, b nsarates.Tier) int { return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Max, b.Max)) })
	p.Tiers = slices.Compact(p.Tiers)
	for _, z := range p.Zones {
		if _, ok := l.cfg.Zones[z]; !ok {
			return p, &configError{Field: "Plan.Zones", Reason: "zone " + z.String() + " has no ZIP pair in Config.Zones"}
		}
	}
	for _, t := range p.Tiers {
		if t.Kind != nsarates.WeightTiers {
			return p, &configError{Field: "Plan.Tiers", Reason: "tier " + t.String() + ": only weight tiers are loaded"}
		}
	}
	// A scratch builder checks product and tier spellings as the table will.
	check := nsarates.NewBuilder(p.Info)
	for _, prod := range p.Products {
		for _, t := range p.Tiers {
			if err := check.SetCell(nsarates.CellKey{Product: prod, Zone: p.Zones[0], Tier: t}, 0); err != nil {
				return p, &configError{Field: "Plan", Reason: err.Error()}
			}
		}
	}
	if _, err := check.Build(); err != nil {
		return p, &configError{Field: "Plan.Info", Reason: err.Error()}
	}
	return p, nil
}

// cells lists the plan's cells in fetch order.
func (p Plan) cells() []nsarates.CellKey {
	out := make([]nsarates.CellKey, 0, len(p.Products)*len(p.Zones)*len(p.Tiers))
	for _, prod := range p.Products {
		for _, z := range p.Zones {
			for _, t := range p.Tiers {
				out = append(out, nsarates.CellKey{Product: prod, Zone: z, Tier: t})
			}
		}
	}
	return out
}

// fingerprint hashes what decides the cells and their prices: the account's
// last four digits, the grid, the ZIP pairs, the box and the mailing date.
// The table's identity is left out so that a resumed load may bump the
// version.
func (l *Loader) fingerprint(p Plan) string {
	h := sha256.New()
	fmt.Fprintf(h, "uspsload v1\naccount %s\nbox %s %s %s\ndate %s\n", l.cfg.Account.Last4(),
		l.cfg.Box.Length, l.cfg.Box.Width, l.cfg.Box.Height, l.mailingDate())
	for _, prod := range p.Products {
		fmt.Fprintf(h, "product %s\n", prod)
	}
	for _, z := range p.Zones {
		zp := l.cfg.Zones[z]
		fmt.Fprintf(h, "zone %s %s %s\n", z, zp.Origin, zp.Destination)
	}
	for _, t := range p.Tiers {
		fmt.Fprintf(h, "tier %s\n", t)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (l *Loader) mailingDate() string {
	if l.cfg.MailingDate.IsZero() {
		return "today"
	}
	return l.cfg.MailingDate.Format(time.DateOnly)
}

// Result is the outcome of a load run.
type Result struct {
	// Table holds every contract price of the plan; nil until the plan is
	// done.
	Table *nsarates.Table
	// Checkpoint is the checkpoint, updated; store it to resume.
	Checkpoint *Checkpoint
	// Missing lists the cells done so far that have no contract price, with
	// why (and the published price USPS gave instead, for StatusPublished).
	Missing []CellResult
	// Calls is the number of price calls this run made; Fetched the cells it
	// recorded.
	Calls, Fetched int
	// Done counts the plan's cells done over all runs, Total all of them.
	Done, Total int
	// RetryAt is, for a run that stopped, when USPS or the client's budget
	// allows the next call, when known.
	RetryAt time.Time
}

// Load fetches the plan's cells that cp has not done yet, recording each in
// cp (a nil cp starts afresh) and calling Config.Save after each. When every
// cell is done it returns the table. When it stops first it returns the
// Result so far (with RetryAt, when known) and the error that stopped it:
// [ErrMaxCalls], a *uspsbiz.BudgetError or *uspsbiz.APIError (both match
// uspsbiz.ErrRateLimited when the quota ran out), a context error, a price
// USPS gave for another zone or product than asked (the ZIP pair is not in
// that zone), an error of Config.Save, or another USPS failure; Load again
// later with the stored checkpoint to carry on. Any other error comes with
// a nil Result. A checkpoint of another account or plan is an
// error matching [ErrCheckpointMismatch].
func (l *Loader) Load(ctx context.Context, p Plan, cp *Checkpoint) (*Result, error) {
	p, err := l.normalize(p)
	if err != nil {
		return nil, err
	}
	fp := l.fingerprint(p)
	if cp == nil {
		cp = &Checkpoint{Account: l.cfg.Account.Last4(), Plan: fp}
	}
	switch {
	case cp.Account != l.cfg.Account.Last4():
		return nil, &checkpointError{Field: "account", Err: ErrCheckpointMismatch}
	case cp.Plan != fp:
		return nil, &checkpointError{Field: "plan", Err: ErrCheckpointMismatch}
	}
	cells := p.cells()
	res := &Result{Checkpoint: cp, Total: len(cells)}
	b := nsarates.NewBuilder(p.Info)
	done := make(map[nsarates.CellKey]bool, len(cp.Cells))
	for i, c := range cp.Cells {
		if _, ok := slices.BinarySearchFunc(cells, c.Cell, cmpCell); !ok || done[c.Cell] {
			return nil, &checkpointError{Field: fmt.Sprintf("cells[%d]", i), Err: fmt.Errorf("%w: cell %s", ErrCheckpointMismatch, cellString(c.Cell))}
		}
		done[c.Cell] = true
		if err := res.add(b, c); err != nil {
			return nil, &checkpointError{Field: fmt.Sprintf("cells[%d]", i), Err: err}
		}
	}
	res.Done = len(done)

	start := time.Now()
	for _, k := range cells {
		if done[k] {
			continue
		}
		c, err := l.fetch(ctx, k, &res.Calls, &cp.Calls)
		if err == nil {
			cp.Cells = append(cp.Cells, c)
			res.Fetched++
			res.Done++
			if err = res.add(b, c); err == nil && l.cfg.Save != nil {
				if err = l.cfg.Save(ctx, cp); err != nil {
					err = fmt.Errorf("uspsload: save checkpoint: %w", err)
				}
			}
		}
		if err != nil {
			stop := stopped(res.Done, res.Total, err)
			res.RetryAt = stop.RetryAt
			l.log.InfoContext(ctx, "uspsload: load stopped", "account", l.cfg.Account, "done", res.Done, "total", res.Total,
				"calls", res.Calls, "elapsed", time.Since(start), "err", err)
			return res, stop
		}
	}
	if res.Table, err = b.Build(); err != nil {
		return nil, err
	}
	l.log.InfoContext(ctx, "uspsload: load done", "account", l.cfg.Account, "cells", res.Total,
		"contract", res.Table.Len(), "missing", len(res.Missing), "calls", res.Calls, "elapsed", time.Since(start))
	return res, nil
}

func (r *Result) add(b *nsarates.Builder, c CellResult) error {
	if c.Status != StatusContract && c.Status != StatusCommercial {
		r.Missing = append(r.Missing, c)
		return nil
	}
	return b.SetCell(c.Cell, c.Price)
}

func cmpCell(a, b nsarates.CellKey) int {
	return cmp.Or(cmp.Compare(a.Product.MailClass, b.Product.MailClass), cmp.Compare(a.Product.RateIndicator, b.Product.RateIndicator),
		cmp.Compare(a.Product.ProcessingCategory, b.Product.ProcessingCategory), cmp.Compare(a.Zone, b.Zone), cmp.Compare(a.Tier.Max, b.Tier.Max))
}

// stopped wraps the cause of a stop, with when to retry if USPS or the
// client's budget said.
func stopped(done, total int, err error) *stoppedError {
	e := &stoppedError{Done: done, Total: total, Err: err}
	var be *uspsbiz.BudgetError
	var ae *uspsbiz.APIError
	switch {
	case errors.As(err, &be):
		e.RetryAt = be.RetryAt
	case errors.As(err, &ae):
		e.RetryAt = ae.RetryAt
	}
	return e
}

// fetch asks USPS for one cell's contract price. It counts the call in
// both counters unless the client's budget refused it unsent.
func (l *Loader) fetch(ctx context.Context, k nsarates.CellKey, runCalls, totalCalls *int) (CellResult, error) {
	if *runCalls >= l.cfg.MaxCalls {
		return CellResult{}, ErrMaxCalls
	}
	if err := ctx.Err(); err != nil {
		return CellResult{}, err
	}
	zp := l.cfg.Zones[k.Zone]
	q := uspsbiz.BaseRatesQuery{
		Package: uspsbiz.Package{
			OriginZIP: zp.Origin, DestinationZIP: zp.Destination,
			Weight: usps.Weight(k.Tier.Max), // the tier's upper bound
			Length: l.cfg.Box.Length, Width: l.cfg.Box.Width, Height: l.cfg.Box.Height,
			MailingDate: l.cfg.MailingDate,
		},
		MailClass:          k.Product.MailClass,
		RateIndicator:      k.Product.RateIndicator,
		ProcessingCategory: k.Product.ProcessingCategory,
		EPS:                l.cfg.Account,
	}
	res, err := l.client.BaseRates(ctx, q)
	var be *uspsbiz.BudgetError
	if !errors.As(err, &be) { // a call the budget refused was never sent
		*runCalls++
		*totalCalls++
	}
	c := CellResult{Cell: k}
	var ae *uspsbiz.APIError
	switch {
	case errors.Is(err, uspsbiz.ErrNoContract):
		c.Status = StatusNoContract
	case errors.As(err, &ae) && ae.HasCode("030002"):
		c.Status = StatusNoPrice
	case err != nil:
		return c, err
	default:
		if c, err = l.cell(k, res); err != nil {
			return c, err
		}
	}
	l.log.DebugContext(ctx, "uspsload: cell", "account", l.cfg.Account, "cell", cellString(k), "status", c.Status, "price", c.Price.String())
	return c, nil
}

// roundUpPound rounds w up to a whole pound.
func roundUpPound(w usps.Weight) usps.Weight {
	return (w + usps.Pound - 1) / usps.Pound * usps.Pound
}

// cell reads one base-rates answer.
func (l *Loader) cell(k nsarates.CellKey, res *uspsbiz.RateResult) (CellResult, error) {
	c := CellResult{Cell: k}
	if len(res.Options) == 0 || len(res.Options[0].Rates) == 0 {
		return c, fmt.Errorf("uspsload: cell %s: %w: no rates", cellString(k), uspsbiz.ErrMalformedResponse)
	}
	opt := res.Options[0]
	rate := opt.Rates[0]
	if rate.Zone != "" {
		if z, err := nsarates.ParseZone(rate.Zone); err != nil || z != k.Zone {
			return c, &mismatchError{Cell: k, Field: "zone", Got: rate.Zone}
		}
	}
	for _, f := range []struct{ name, want, got string }{
		{"mail class", k.Product.MailClass, rate.MailClass},
		{"rate indicator", k.Product.RateIndicator, rate.RateIndicator},
		{"processing category", k.Product.ProcessingCategory, rate.ProcessingCategory},
	} {
		if f.got != "" && f.got != f.want {
			return c, &mismatchError{Cell: k, Field: f.name, Got: f.got}
		}
	}
	// The weight USPS priced (the greater of weight and dimWeight) must be
	// in this tier: a box that triggers dimensional weight would price a
	// higher tier under this cell's name. USPS reports pounds, which may be
	// rounded up to the pound, so the check allows that rounding.
	if priced := max(rate.Weight, rate.DimWeight); priced > 0 && priced > roundUpPound(usps.Weight(k.Tier.Max)) {
		return c, &mismatchError{Cell: k, Field: "weight", Got: priced.String()}
	}
	// The cell's price is the postage USPS charges for the tier: the sum
	// of rates[].price (a tier may come as a rate plus pound postage),
	// without fees, which the table keeps as Fee records and the small box
	// never incurs. totalBasePrice is "the rate, fees and pound postage":
	// it must equal that sum plus the fees, or the answer is inconsistent
	// and nothing is stored.
	var postage, fees usps.Cents
	for _, r := range opt.Rates {
		postage += r.Price
		for _, f := range r.Fees {
			fees += f.Price
		}
	}
	if opt.TotalBasePrice != 0 && opt.TotalBasePrice != postage+fees {
		return c, fmt.Errorf("uspsload: cell %s: %w: totalBasePrice %s is not rates %s + fees %s",
			cellString(k), uspsbiz.ErrMalformedResponse, opt.TotalBasePrice, postage, fees)
	}
	if postage < 0 || postage > usps.Cents(usps.MaxCents) {
		return c, fmt.Errorf("uspsload: cell %s: price %s out of range", cellString(k), postage)
	}
	c.Price = postage
	if l.cfg.Published {
		if rate.PriceType != uspsbiz.PriceCommercial {
			return c, &mismatchError{Cell: k, Field: "price type", Got: string(rate.PriceType)}
		}
		c.Status = StatusCommercial
		return c, nil
	}
	// Warning 001 or any non-contract price type: a published price, which
	// must never pass for the customer's contract price.
	if res.RequireContract() != nil {
		c.Status = StatusPublished
	} else {
		c.Status = StatusContract
	}
	return c, nil
}
