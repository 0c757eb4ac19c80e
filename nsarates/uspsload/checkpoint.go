package uspsload

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/usps"
)

// Status is the outcome of one cell, spelled as in a checkpoint's JSON.
type Status string

// Cell outcomes. Only StatusContract (StatusCommercial for a load of
// published prices) puts a price in the table.
const (
	// StatusContract: USPS returned the account's contract price.
	StatusContract Status = "contract"
	// StatusCommercial: USPS returned its published commercial price, as a
	// load of published prices (Config.Published) asked.
	StatusCommercial Status = "commercial"
	// StatusPublished: USPS returned a published price with warning 001
	// (contract rate not found); the price is kept for the report only.
	StatusPublished Status = "published"
	// StatusNoContract: USPS answered 160212, no approved contract for the
	// mail class.
	StatusNoContract Status = "no-contract"
	// StatusNoPrice: USPS answered 030002, no price for the product at this
	// weight and zone.
	StatusNoPrice Status = "no-price"
)

// CellResult is one fetched cell. Price is the contract price
// (StatusContract) or the published price USPS returned instead
// (StatusPublished); zero otherwise.
type CellResult struct {
	Cell   nsarates.CellKey
	Status Status
	Price  usps.Cents
}

// Checkpoint records the cells a load has done, so that a later run fetches
// only the rest. It encodes to JSON (json.Marshal) for the caller to store,
// and decodes strictly: a stored checkpoint is data from outside.
type Checkpoint struct {
	// Account is the last four digits of the EPS account (empty for a load
	// of published prices): enough to catch a mix-up, useless to anyone who
	// reads the store.
	Account string
	// Plan fingerprints the plan and the settings that decide each cell's
	// price (ZIP pairs, box, mailing date); Load refuses a checkpoint of
	// another plan.
	Plan string
	// Calls counts the price calls of every run so far.
	Calls int
	// Cells are the cells done, in the order they were fetched.
	Cells []CellResult
}

// checkpointVersion is the version of the JSON form.
const checkpointVersion = 1

type checkpointJSON struct {
	Version int        `json:"version"`
	Account string     `json:"account"`
	Plan    string     `json:"plan"`
	Calls   int        `json:"calls"`
	Cells   []cellJSON `json:"cells"`
}

// cellJSON spells a cell as nsarates's CSV does, so that no unit or float
// leaks into stored data.
type cellJSON struct {
	Product string `json:"product"` // MAIL_CLASS/RI/CATEGORY
	Zone    string `json:"zone"`    // "05"
	Tier    string `json:"tier"`    // "2lb", "15.99oz"
	Status  string `json:"status"`
	Price   string `json:"price,omitempty"` // dollars, "9.35"
}

// MarshalJSON encodes the checkpoint in its canonical form.
func (cp *Checkpoint) MarshalJSON() ([]byte, error) {
	w := checkpointJSON{Version: checkpointVersion, Account: cp.Account, Plan: cp.Plan, Calls: cp.Calls, Cells: make([]cellJSON, len(cp.Cells))}
	for i, c := range cp.Cells {
		w.Cells[i] = cellJSON{Product: c.Cell.Product.String(), Zone: c.Cell.Zone.String(), Tier: c.Cell.Tier.String(), Status: string(c.Status)}
		if c.Status == StatusContract || c.Status == StatusPublished || c.Status == StatusCommercial {
			w.Cells[i].Price = c.Price.String()
		}
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes a checkpoint written by MarshalJSON. Unknown
// fields, another version, malformed cells and duplicate cells are errors
// that name the JSON field at fault, e.g. "cells[3].tier".
func (cp *Checkpoint) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var w checkpointJSON
	if err := dec.Decode(&w); err != nil {
		return &checkpointError{Field: "json", Err: err}
	}
	if dec.More() {
		return &checkpointError{Field: "json", Err: errors.New("data after the checkpoint")}
	}
	if w.Version != checkpointVersion {
		return &checkpointError{Field: "version", Err: fmt.Errorf("want %d, got %d", checkpointVersion, w.Version)}
	}
	if w.Account != "" && (len(w.Account) != 4 || strings.Trim(w.Account, "0123456789") != "") {
		return &checkpointError{Field: "account", Err: errors.New("want the last four digits of the EPS account (empty for published prices)")}
	}
	if len(w.Plan) != 64 || strings.Trim(w.Plan, "0123456789abcdef") != "" {
		return &checkpointError{Field: "plan", Err: errors.New("want a SHA-256 fingerprint in lower-case hex")}
	}
	if w.Calls < 0 {
		return &checkpointError{Field: "calls", Err: errors.New("negative")}
	}
	out := Checkpoint{Account: w.Account, Plan: w.Plan, Calls: w.Calls, Cells: make([]CellResult, 0, len(w.Cells))}
	check := nsarates.NewBuilder(nsarates.TableInfo{}) // validates keys and finds duplicates
	for i, c := range w.Cells {
		r, field, err := c.decode(check)
		if err != nil {
			return &checkpointError{Field: fmt.Sprintf("cells[%d].%s", i, field), Err: err}
		}
		out.Cells = append(out.Cells, r)
	}
	*cp = out
	return nil
}

// decode parses one cell; field names the part at fault.
func (c cellJSON) decode(seen *nsarates.Builder) (r CellResult, field string, err error) {
	parts := strings.Split(c.Product, "/")
	if len(parts) != 3 {
		return r, "product", errors.New("want MAIL_CLASS/RATE_INDICATOR/PROCESSING_CATEGORY")
	}
	r.Cell.Product = nsarates.ProductKey{MailClass: parts[0], RateIndicator: parts[1], ProcessingCategory: parts[2]}
	if r.Cell.Zone, err = nsarates.ParseZone(c.Zone); err != nil {
		return r, "zone", err
	}
	if r.Cell.Zone == nsarates.ZoneDestinationEntry {
		return r, "zone", errors.New("zone 00 is not loaded")
	}
	if r.Cell.Tier, err = nsarates.ParseTier(c.Tier); err != nil {
		return r, "tier", err
	}
	if r.Cell.Tier.Kind != nsarates.WeightTiers {
		return r, "tier", errors.New("want a weight tier")
	}
	if _, dup := seen.Cell(r.Cell); dup {
		return r, "tier", errors.New("duplicate cell")
	}
	if err := seen.SetCell(r.Cell, 0); err != nil {
		return r, "product", err
	}
	r.Status = Status(c.Status)
	switch r.Status {
	case StatusContract, StatusPublished, StatusCommercial:
		if r.Price, err = usps.ParseCents(c.Price); err != nil {
			return r, "price", err
		}
	case StatusNoContract, StatusNoPrice:
		if c.Price != "" {
			return r, "price", fmt.Errorf("must be empty for status %s", r.Status)
		}
	default:
		return r, "status", fmt.Errorf("unknown status %q", c.Status)
	}
	return r, "", nil
}
