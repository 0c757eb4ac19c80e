package nsarates

import (
	"fmt"
)

// ValidationError reports a bad argument: a shipment field, a table cell, a
// rule. Field names the Go field or CSV column at fault.
type ValidationError struct {
	Field  string
	Value  string
	Reason string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("nsarates: invalid %s %q: %s", e.Field, e.Value, e.Reason)
}

// LimitError reports a shipment outside a size or weight limit of its mail
// class or of cubic pricing. USPS would refuse it (error 030008 "size
// exceeds class max", docs/usps.md#prices-error-codes); the pricer never falls back to
// another table for it.
type LimitError struct {
	Field string // "Weight", "LengthPlusGirth", "Length", "CubicWeight", "CubicLength", "CubicVolume", "SoftPackLengthPlusWidth"
	Value string // the shipment's value with its unit
	Limit string // the limit with its unit
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("nsarates: %s %s exceeds the limit of %s", e.Field, e.Value, e.Limit)
}

// ParseError reports a bad CSV record. Line and Column are 1-based, as in
// encoding/csv; Field is the column name from the header.
type ParseError struct {
	Line   int
	Column int
	Field  string
	Err    error
}

func (e *ParseError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("nsarates: csv line %d, column %d: %v", e.Line, e.Column, e.Err)
	}
	return fmt.Sprintf("nsarates: csv line %d, column %d (%s): %v", e.Line, e.Column, e.Field, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// NoRateError reports a shipment that no table could price. Each field says
// why that table did not apply.
type NoRateError struct {
	Contract, Commercial, Retail Reason
}

func (e *NoRateError) Error() string {
	return fmt.Sprintf("nsarates: no rate: contract %s, commercial %s, retail %s", e.Contract, e.Commercial, e.Retail)
}

// Source says which kind of table priced a quote.
type Source uint8

// Price sources, in the order the pricer tries them.
const (
	SourceContract Source = iota + 1
	SourceCommercial
	SourceRetail
)

func (s Source) String() string {
	switch s {
	case SourceContract:
		return "contract"
	case SourceCommercial:
		return "commercial"
	case SourceRetail:
		return "retail"
	}
	return fmt.Sprintf("Source(%d)", uint8(s))
}

// Reason says why a table did not price a shipment.
type Reason uint8

// Fallback reasons.
const (
	ReasonNone         Reason = iota // the table priced the shipment
	ReasonNoTable                    // no table is installed (or the shipment names no account)
	ReasonNotCovered                 // the table has no such product
	ReasonOutsideDates               // the mailing date is outside [EffectiveFrom, EffectiveTo)
	ReasonBeyondTable                // the billable weight or cubic tier is above the table's last tier
	ReasonMissingCell                // the table has the product but no price for this zone and tier
	ReasonNoRule                     // the rule set has no rule to choose the product's tier (soft pack of a class without bounds)
)

func (r Reason) String() string {
	switch r {
	case ReasonNone:
		return "none"
	case ReasonNoTable:
		return "no table"
	case ReasonNotCovered:
		return "product not covered"
	case ReasonOutsideDates:
		return "outside effective dates"
	case ReasonBeyondTable:
		return "beyond the table"
	case ReasonMissingCell:
		return "missing cell"
	case ReasonNoRule:
		return "no rule"
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}
