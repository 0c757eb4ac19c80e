package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/usps"
)

// shipmentsHeader is the first line of a shipments file. Every later line
// is one shipment:
//
//	id                   your reference, 1–64 characters
//	mail_class           USPS spelling, e.g. PRIORITY_MAIL
//	rate_indicator       e.g. SP
//	processing_category  e.g. MACHINABLE
//	zone                 01–09 (or 00 for destination entry)
//	weight               with its unit: "12oz", "15.99oz", "2lb", "2.5lb"
//	length_in, width_in, height_in   inches, up to three decimals: "10", "10.25", "4.875"
//	date                 mailing date, "2026-03-02"
//
// Numbers are parsed exactly (usps.ParseWeight, usps.ParseDimension,
// nsarates.ParseZone): no floats, no rounding.
const shipmentsHeader = "id,mail_class,rate_indicator,processing_category,zone,weight,length_in,width_in,height_in,date"

var shipmentColumns = strings.Split(shipmentsHeader, ",")

const (
	colID = iota
	colMailClass
	colRateIndicator
	colCategory
	colZone
	colWeight
	colLength
	colWidth
	colHeight
	colDate
)

// parseError locates a bad value in the shipments file by its line and the
// name of its field (encoding/csv's "column" is a byte offset in the line,
// which helps nobody find a field). Fatal errors (the header, a read
// error) end the file; any other is one bad row, and reading goes on.
type parseError struct {
	Line  int    // 1-based
	Field string // from the header; "" for a row that is not well-formed CSV
	Err   error
	Fatal bool
}

func (e *parseError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("shipments line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("shipments line %d, field %s: %v", e.Line, e.Field, e.Err)
}

func (e *parseError) Unwrap() error { return e.Err }

// row is one parsed shipment. ship has its product handle resolved; its
// Account is left for the caller.
type row struct {
	id      string
	product nsarates.ProductKey
	ship    nsarates.Shipment
}

// shipmentReader reads a shipments file record by record, so that files of
// any size stream through in constant memory.
type shipmentReader struct {
	cr       *csv.Reader
	pricer   *nsarates.Pricer
	products map[nsarates.ProductKey]nsarates.ProductID // handles, resolved once per product
	header   bool
	fatal    error // once set, every Read returns it

	// BOM reports that the file started with a UTF-8 byte order mark,
	// which was skipped.
	BOM bool
}

func newShipmentReader(r io.Reader, p *nsarates.Pricer) *shipmentReader {
	br := bufio.NewReader(r)
	bom := skipBOM(br)
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = len(shipmentColumns)
	cr.ReuseRecord = true
	return &shipmentReader{cr: cr, pricer: p, products: map[nsarates.ProductKey]nsarates.ProductID{}, BOM: bom}
}

// skipBOM skips a UTF-8 byte order mark at the start of r (Excel's "CSV
// UTF-8" writes one), and reports whether there was one.
func skipBOM(r *bufio.Reader) bool {
	if b, err := r.Peek(3); err == nil && string(b) == "\xEF\xBB\xBF" {
		_, _ = r.Discard(3)
		return true
	}
	return false
}

// Read returns the next shipment, or io.EOF after the last. Every other
// error is a *parseError, or an error reading the file; after a
// *parseError that is not Fatal, Read goes on with the next row.
func (sr *shipmentReader) Read() (row, error) {
	if sr.fatal != nil {
		return row{}, sr.fatal
	}
	if !sr.header {
		if err := sr.readHeader(); err != nil {
			sr.fatal = err
			return row{}, err
		}
		sr.header = true
	}
	rec, err := sr.cr.Read()
	if err != nil {
		if err == io.EOF {
			return row{}, err
		}
		if !errors.As(err, new(*csv.ParseError)) { // a read error: nothing after it can be trusted
			sr.fatal = err
			return row{}, err
		}
		return row{}, csvError(err)
	}
	var r row
	if r.id = rec[colID]; !validID(r.id) {
		return r, sr.fieldError(colID, errors.New("want 1 to 64 printable characters"))
	}
	r.product = nsarates.ProductKey{MailClass: rec[colMailClass], RateIndicator: rec[colRateIndicator], ProcessingCategory: rec[colCategory]}
	id, ok := sr.products[r.product]
	if !ok {
		if id, err = sr.pricer.Product(r.product); err != nil {
			return r, sr.fieldError(productColumn(err), err)
		}
		sr.products[r.product] = id
	}
	r.ship.Product = id
	if r.ship.Zone, err = nsarates.ParseZone(rec[colZone]); err != nil {
		return r, sr.fieldError(colZone, zoneProblem(rec[colZone]))
	}
	if r.ship.Weight, err = usps.ParseWeight(rec[colWeight]); err != nil {
		return r, sr.fieldError(colWeight, weightProblem(rec[colWeight], err))
	}
	if r.ship.Weight == 0 {
		return r, sr.fieldError(colWeight, errors.New("must be positive"))
	}
	for _, d := range []struct {
		col int
		v   *usps.Dimension
	}{{colLength, &r.ship.Length}, {colWidth, &r.ship.Width}, {colHeight, &r.ship.Height}} {
		if *d.v, err = usps.ParseDimension(rec[d.col]); err != nil {
			return r, sr.fieldError(d.col, dimensionProblem(rec[d.col], err))
		}
		if *d.v == 0 {
			return r, sr.fieldError(d.col, errors.New("must be positive"))
		}
	}
	if r.ship.Date, err = time.Parse(time.DateOnly, rec[colDate]); err != nil {
		return r, sr.fieldError(colDate, errors.New(`want a date such as "2026-03-02"`))
	}
	return r, nil
}

// validID accepts the references printed in the output: no control
// characters that would garble a terminal.
func validID(s string) bool {
	if s == "" || len(s) > 64 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// productColumn is the column of the product field err names.
func productColumn(err error) int {
	var ve *nsarates.ValidationError
	if errors.As(err, &ve) {
		switch ve.Field {
		case "RateIndicator":
			return colRateIndicator
		case "ProcessingCategory":
			return colCategory
		}
	}
	return colMailClass
}

// readHeader reads and checks the first line.
func (sr *shipmentReader) readHeader() *parseError {
	rec, err := sr.cr.Read()
	if err == io.EOF {
		return &parseError{Line: 1, Err: errors.New("empty file: want the header " + shipmentsHeader), Fatal: true}
	}
	if err != nil && !errors.Is(err, csv.ErrFieldCount) {
		pe := csvError(err)
		pe.Fatal = true
		return pe
	}
	for i, name := range shipmentColumns {
		if i >= len(rec) || rec[i] != name {
			got := "missing"
			if i < len(rec) {
				got = fmt.Sprintf("%q", rec[i])
			}
			return &parseError{Line: 1, Fatal: true,
				Err: fmt.Errorf("the header does not match: field %d is %s, want %q; the header is\n\t%s", i+1, got, name, shipmentsHeader)}
		}
	}
	if len(rec) != len(shipmentColumns) {
		return &parseError{Line: 1, Fatal: true, Err: fmt.Errorf("the header has %d fields, want %d:\n\t%s", len(rec), len(shipmentColumns), shipmentsHeader)}
	}
	return nil
}

// fieldError locates err at column col of the record just read.
func (sr *shipmentReader) fieldError(col int, err error) *parseError {
	line, _ := sr.cr.FieldPos(col)
	return &parseError{Line: line, Field: shipmentColumns[col], Err: err}
}

func csvError(err error) *parseError {
	var ce *csv.ParseError
	if errors.As(err, &ce) {
		if errors.Is(ce.Err, csv.ErrFieldCount) {
			return &parseError{Line: ce.StartLine, Err: fmt.Errorf("wrong number of fields: want %d (%s)", len(shipmentColumns), shipmentsHeader)}
		}
		return &parseError{Line: ce.StartLine, Err: ce.Err}
	}
	return &parseError{Line: 1, Err: err, Fatal: true}
}

// The messages below say what is wrong with a value and how to write it,
// where usps's and nsarates's parsers only say "malformed number".

func zoneProblem(s string) error {
	if s != "" && strings.Trim(s, "0123456789") == "" {
		return fmt.Errorf("zone %q does not exist: want 01 to 09, or 00 for destination entry", s)
	}
	return fmt.Errorf("%q is not a zone: want two digits, 01 to 09 (00 for destination entry)", s)
}

// weightProblem explains a weight ParseWeight refused with err.
func weightProblem(s string, err error) error {
	const forms = `such as "12oz", "15.99oz", "2lb" or "2.5lb"`
	num := strings.TrimRight(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
	unit := s[len(num):]
	switch {
	case s == "":
		return errors.New("missing: want a weight " + forms)
	case strings.HasPrefix(s, "-"):
		return fmt.Errorf("%q is negative", s)
	case strings.ContainsAny(s, " \t"):
		return fmt.Errorf("%q: write the weight without spaces, %s", s, forms)
	case unit == "" && isDecimal(num):
		return fmt.Errorf("%q has no unit: write %slb or %soz", s, s, s)
	case unit != "oz" && unit != "lb" && isDecimal(num):
		return fmt.Errorf("%q: unit %q is not known: want oz or lb, %s", s, unit, forms)
	case errors.Is(err, usps.ErrPrecision) && unit == "oz":
		return fmt.Errorf("%q: ounces take at most 2 decimals", s)
	case errors.Is(err, usps.ErrPrecision):
		return fmt.Errorf("%q: not a whole hundredth of an ounce; pounds take at most 4 decimals (1.0625lb = 1lb 1oz)", s)
	case errors.Is(err, usps.ErrRange):
		return fmt.Errorf("%q is too large", s)
	}
	return fmt.Errorf("%q is not a weight: want a number and its unit, %s", s, forms)
}

// dimensionProblem explains a length, width or height ParseDimension
// refused with err.
func dimensionProblem(s string, err error) error {
	num, unit, _ := strings.Cut(strings.TrimRight(s, "abcdefghijklmnopqrstuvwxyz\""), " ")
	switch {
	case s == "":
		return errors.New(`missing: want inches, such as "10" or "10.25"`)
	case strings.HasPrefix(s, "-"):
		return fmt.Errorf("%q is negative", s)
	case unit == "" && num != s && isDecimal(num):
		return fmt.Errorf("%q: write inches as a bare number, %q (the field is in inches)", s, num)
	case errors.Is(err, usps.ErrPrecision):
		return fmt.Errorf("%q: inches take at most 3 decimals", s)
	case errors.Is(err, usps.ErrRange):
		return fmt.Errorf("%q is too large", s)
	}
	return fmt.Errorf(`%q is not a number of inches: want a number such as "10" or "10.25"`, s)
}

// isDecimal reports whether s is digits with at most one decimal point.
func isDecimal(s string) bool {
	whole, frac, _ := strings.Cut(s, ".")
	return whole != "" && strings.Trim(whole, "0123456789") == "" && strings.Trim(frac, "0123456789") == ""
}
