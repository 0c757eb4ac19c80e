package linking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/nsarates/uspsload"
	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
)

// USPSTables configures ContractFromUSPS: the grid to load and how.
type USPSTables struct {
	// Plan is the grid: products × zones × weight tiers. Plan.Info names
	// the table (its Account is set to the link's EPS account).
	Plan uspsload.Plan
	// Zones gives a ZIP pair in each zone of the plan (uspsload.Config).
	Zones map[nsarates.Zone]uspsload.ZIPPair
	// Box is the parcel size priced (uspsload.Config; zero: 6 × 4 × 2 in).
	Box uspsload.Box
	// MaxCallsPerRun bounds the price calls of one sync run, on top of the
	// client's USPS budget (uspsbiz.WithBudget), so that one customer's
	// table does not spend the whole hour. Required.
	MaxCallsPerRun int
}

// ContractFromUSPS is a TableSource that loads a newly active link's
// contract table from USPS's Domestic Prices API with the customer's own
// token (Linker.TokenSource), cell by cell, inside the client's USPS budget.
// The uspsload checkpoint is saved in the Store after every cell, so a run
// that stops (budget spent, MaxCallsPerRun reached, USPS down, the process
// ended) is resumed later by any instance without fetching a done cell
// again. Prices USPS returns with warning 001 (published, not contract) are
// never stored; such cells quote at published rates with NotNSANotInTable.
// Until the plan is done the table is partial (Status.Table.Done of Total)
// and holds the contract prices loaded so far.
func ContractFromUSPS(cfg USPSTables) (TableSource, error) {
	if cfg.MaxCallsPerRun <= 0 {
		return nil, errors.New("linking: ContractFromUSPS: MaxCallsPerRun is required")
	}
	if len(cfg.Plan.Products) == 0 || len(cfg.Plan.Zones) == 0 || len(cfg.Plan.Tiers) == 0 {
		return nil, errors.New("linking: ContractFromUSPS: Plan needs products, zones and tiers")
	}
	return uspsSource{cfg: cfg}, nil
}

type uspsSource struct{ cfg USPSTables }

func (s uspsSource) fill(ctx context.Context, l *Linker, lk *Link, rec *TableRecord, save func(*TableRecord) (*TableRecord, error)) (*TableRecord, error) {
	client := l.usps.ForMerchant(l.TokenSource(ctx, lk.AccountID))
	return fillFromUSPS(ctx, l, client, s.cfg, lk.EPSAccount, rec, save)
}

// fillFromUSPS loads cfg's plan with uspsload: an account's contract prices,
// or the published ones when eps is empty. The checkpoint is saved in rec
// after every cell.
func fillFromUSPS(ctx context.Context, l *Linker, client *uspsbiz.Client, cfg USPSTables, eps usps.EPSAccount,
	rec *TableRecord, save func(*TableRecord) (*TableRecord, error)) (*TableRecord, error) {
	plan := cfg.Plan
	plan.Info.Account = eps.Reveal()
	var cp *uspsload.Checkpoint
	if len(rec.Checkpoint) > 0 {
		cp = new(uspsload.Checkpoint)
		if err := json.Unmarshal(rec.Checkpoint, cp); err != nil {
			return rec, fmt.Errorf("stored checkpoint: %w", err)
		}
	}
	total := len(plan.Products) * len(plan.Zones) * len(plan.Tiers)
	cur := rec
	saveCP := func(ctx context.Context, c *uspsload.Checkpoint) error {
		b, err := json.Marshal(c)
		if err != nil {
			return err
		}
		next := cloneRecord(cur)
		next.Checkpoint, next.Done, next.Total, next.SyncedAt = b, doneCells(c), total, l.now().UTC()
		stored, err := save(next)
		if err != nil {
			return err // another instance took the sync over: stop
		}
		cur = stored
		return nil
	}
	loader, err := uspsload.New(client, uspsload.Config{
		Account: eps, Published: eps == "", Zones: cfg.Zones, Box: cfg.Box,
		MaxCalls: cfg.MaxCallsPerRun, Save: saveCP, Logger: l.logger,
	})
	if err != nil {
		return rec, err
	}
	res, lerr := loader.Load(ctx, plan, cp)
	if res == nil {
		return cur, lerr
	}
	out := cloneRecord(cur)
	t := res.Table
	if t == nil {
		// Partial: the prices loaded so far, so that they apply while the
		// rest waits for USPS's quota.
		if t, err = partialTable(plan.Info, res.Checkpoint); err != nil {
			return cur, errors.Join(lerr, err)
		}
	}
	if err := setRecordTable(out, t, res.Done, res.Total); err != nil {
		return cur, errors.Join(lerr, err)
	}
	out.Checkpoint = nil
	if b, err := json.Marshal(res.Checkpoint); err == nil && res.Table == nil {
		out.Checkpoint = b
	}
	out.Complete = res.Table != nil
	out.SyncedAt = l.now().UTC()
	stored, err := save(out)
	if err != nil {
		return cur, errors.Join(lerr, err)
	}
	if lerr != nil && !res.RetryAt.IsZero() {
		lerr = &retryAtError{err: lerr, at: res.RetryAt}
	}
	return stored, lerr
}

// partialTable builds the table of the contract prices a checkpoint holds.
func partialTable(info nsarates.TableInfo, cp *uspsload.Checkpoint) (*nsarates.Table, error) {
	b := nsarates.NewBuilder(info)
	if cp != nil {
		for _, c := range cp.Cells {
			if c.Status == uspsload.StatusContract || c.Status == uspsload.StatusCommercial {
				if err := b.SetCell(c.Cell, c.Price); err != nil {
					return nil, err
				}
			}
		}
	}
	return b.Build()
}

func doneCells(cp *uspsload.Checkpoint) int {
	if cp == nil {
		return 0
	}
	return len(cp.Cells)
}

// cloneRecord copies r (sharing its byte slices, which nobody mutates) for the next PutTable.
func cloneRecord(r *TableRecord) *TableRecord {
	c := *r
	return &c
}
