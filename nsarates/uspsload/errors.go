package uspsload

import (
	"errors"
	"fmt"
	"time"

	"github.com/nsalink/nsalink/nsarates"
)

// ErrMaxCalls is the cause of a *[StoppedError] when a run spent
// [Config.MaxCalls].
var ErrMaxCalls = errors.New("uspsload: max calls for this run reached")

// ErrCheckpointMismatch: the checkpoint belongs to another account or plan.
var ErrCheckpointMismatch = errors.New("uspsload: checkpoint belongs to another account or plan")

// configError reports a bad [Config] or [Plan] field.
type configError struct {
	Field  string
	Reason string
}

func (e *configError) Error() string {
	return fmt.Sprintf("uspsload: %s: %s", e.Field, e.Reason)
}

// StoppedError reports a run that stopped before it was done. The work done
// so far is kept (in the checkpoint for [Loader.Load], in the partial
// *[Drift] for [Loader.SpotCheck]); run again to carry on. Err is the cause:
// [ErrMaxCalls], a *uspsbiz.BudgetError or *uspsbiz.APIError (both match
// uspsbiz.ErrRateLimited when the quota ran out), a context error, a price
// USPS gave for another zone or product than asked (the ZIP pair is not in
// that zone), an error of Config.Save, or another USPS failure.
type StoppedError struct {
	Done, Total int // cells done (over all runs, for a load) and cells wanted
	// RetryAt is when USPS or the client's budget allows the next call, when
	// known.
	RetryAt time.Time
	Err     error
}

func (e *StoppedError) Error() string {
	s := fmt.Sprintf("uspsload: stopped after %d of %d cells: %v", e.Done, e.Total, e.Err)
	if !e.RetryAt.IsZero() {
		s += " (retry at " + e.RetryAt.UTC().Format(time.RFC3339) + ")"
	}
	return s
}

func (e *StoppedError) Unwrap() error { return e.Err }

// mismatchError reports a USPS price for something other than what was
// asked: another zone (the ZIP pair is not in that zone on USPS's chart) or
// another product. Nothing is recorded for the cell.
type mismatchError struct {
	Cell  nsarates.CellKey
	Field string // "zone", "mail class", "rate indicator" or "processing category"
	Got   string // what USPS answered
}

func (e *mismatchError) Error() string {
	return fmt.Sprintf("uspsload: cell %s: USPS priced %s %q", cellString(e.Cell), e.Field, e.Got)
}

// checkpointError reports a checkpoint that does not decode or does not
// belong to the plan. Field names the JSON field at fault, e.g.
// "cells[3].tier".
type checkpointError struct {
	Field string
	Err   error
}

func (e *checkpointError) Error() string {
	return fmt.Sprintf("uspsload: checkpoint %s: %v", e.Field, e.Err)
}

func (e *checkpointError) Unwrap() error { return e.Err }

// cellString names a cell in errors and logs: "PRIORITY_MAIL/SP/MACHINABLE 05 2lb".
func cellString(k nsarates.CellKey) string {
	return k.Product.String() + " " + k.Zone.String() + " " + k.Tier.String()
}
