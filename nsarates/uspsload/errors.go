package uspsload

import (
	"errors"
	"fmt"
	"time"

	"github.com/nsalink/nsalink/nsarates"
)

// ErrMaxCalls is what the error of a run that spent [Config.MaxCalls]
// matches.
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

// stoppedError reports a run that stopped before it was done; Load and
// SpotCheck document it. Err is the cause.
type stoppedError struct {
	Done, Total int // cells done (over all runs, for a load) and cells wanted
	// RetryAt is when USPS or the client's budget allows the next call, when
	// known.
	RetryAt time.Time
	Err     error
}

func (e *stoppedError) Error() string {
	s := fmt.Sprintf("uspsload: stopped after %d of %d cells: %v", e.Done, e.Total, e.Err)
	if !e.RetryAt.IsZero() {
		s += " (retry at " + e.RetryAt.UTC().Format(time.RFC3339) + ")"
	}
	return s
}

func (e *stoppedError) Unwrap() error { return e.Err }

// mismatchError reports a USPS price for something other than what was
// asked: another zone (the ZIP pair is not in that zone on USPS's chart) or
// another product. Nothing is recorded for the cell.
type mismatchError struct {
	Cell  nsarates.CellKey
	Field string // "zone", "mail class", "rate indicator", "processing category" or "weight"
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
