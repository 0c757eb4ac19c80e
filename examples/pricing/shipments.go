package main

import (
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

// parseError locates a bad value in the shipments file.
type parseError struct {
	Line, Column int // 1-based, as encoding/csv counts them
	Field        string
	Err          error
}

func (e *parseError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("shipments line %d, column %d: %v", e.Line, e.Column, e.Err)
	}
	return fmt.Sprintf("shipments line %d, column %d (%s): %v", e.Line, e.Column, e.Field, e.Err)
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
}

func newShipmentReader(r io.Reader, p *nsarates.Pricer) *shipmentReader {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(shipmentColumns)
	cr.ReuseRecord = true
	return &shipmentReader{cr: cr, pricer: p, products: map[nsarates.ProductKey]nsarates.ProductID{}}
}

// Read returns the next shipment, or io.EOF after the last. Every other
// error is a *parseError.
func (sr *shipmentReader) Read() (row, error) {
	if !sr.header {
		rec, err := sr.cr.Read()
		if err == io.EOF {
			return row{}, &parseError{Line: 1, Column: 1, Err: errors.New("empty file: want the header " + shipmentsHeader)}
		}
		if err != nil {
			return row{}, csvError(err)
		}
		for i, name := range shipmentColumns {
			if rec[i] != name {
				return row{}, sr.fieldError(i, fmt.Errorf("header: want %q", name))
			}
		}
		sr.header = true
	}
	rec, err := sr.cr.Read()
	if err != nil {
		if err == io.EOF {
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
		return r, sr.fieldError(colZone, err)
	}
	if r.ship.Weight, err = usps.ParseWeight(rec[colWeight]); err != nil {
		return r, sr.fieldError(colWeight, err)
	}
	if r.ship.Weight == 0 {
		return r, sr.fieldError(colWeight, errors.New("must be positive"))
	}
	for _, d := range []struct {
		col int
		v   *usps.Dimension
	}{{colLength, &r.ship.Length}, {colWidth, &r.ship.Width}, {colHeight, &r.ship.Height}} {
		if *d.v, err = usps.ParseDimension(rec[d.col]); err != nil {
			return r, sr.fieldError(d.col, err)
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

// fieldError locates err at column col of the record just read.
func (sr *shipmentReader) fieldError(col int, err error) *parseError {
	line, column := sr.cr.FieldPos(col)
	return &parseError{Line: line, Column: column, Field: shipmentColumns[col], Err: err}
}

func csvError(err error) error {
	var ce *csv.ParseError
	if errors.As(err, &ce) {
		return &parseError{Line: ce.Line, Column: max(ce.Column, 1), Err: ce.Err}
	}
	return err
}
