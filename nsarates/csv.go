package nsarates

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/nsalink/nsalink/internal/decimal"
	"github.com/nsalink/nsalink/usps"
)

// CSVHeader is the first line of a rate-table CSV file. Every record has all
// fourteen columns; the first says what the record is, and columns that do
// not belong to that kind of record must be empty:
//
//	record     "table", "fee" or "cell"
//	eps_account         table: EPS account of the contract; empty for a published table
//	table_id            table: the table's ID
//	version             table: the table's version
//	effective_from      table: first mailing date, "2026-01-18"; empty = always
//	effective_to        table: first date it no longer applies, same form; empty = open-ended
//	mail_class          fee (optional: empty = all products) and cell: e.g. PRIORITY_MAIL
//	rate_indicator      cell: e.g. SP, DR, C3
//	processing_category cell: e.g. MACHINABLE
//	zone                cell: 00–09
//	tier                cell: "4oz", "15.99oz", "2lb" (weight) or "0.3cuft" (cubic)
//	fee                 fee: its name
//	over                fee: exclusive threshold, "22in" (longest side) or "3456cuin" (volume)
//	price               fee and cell: dollars with at most two decimals, "9.35"
//
// Dates are calendar days in USPS's time zone, America/Chicago, written
// "2006-01-02" (ISO 8601 / RFC 3339 full-date, as USPS's own date fields):
// "2026-07-12" means from midnight at the start of July 12 in Chicago, and
// an effective_to of "2027-01-17" keeps the table through the end of
// January 16 in Chicago. For files written by older versions, an RFC 3339
// timestamp at midnight ("2026-01-18T00:00:00Z") is read as its date; any
// other time of day is an error, because a table applies to whole days.
// ReadCSV returns dates as midnight in [Central].
//
// Exactly one table record comes first. [Table.WriteCSV] writes the canonical
// form (table, then fees, then cells in [Table.Cells] order, dates as
// "2006-01-02"); reading it back and writing it again gives the same bytes.
const CSVHeader = "record,eps_account,table_id,version,effective_from,effective_to,mail_class,rate_indicator,processing_category,zone,tier,fee,over,price"

// Column positions in a record.
const (
	colRecord = iota
	colAccount
	colTableID
	colVersion
	colFrom
	colTo
	colMailClass
	colRateIndicator
	colCategory
	colZone
	colTier
	colFee
	colOver
	colPrice
	numCols
)

var columnNames = strings.Split(CSVHeader, ",")

// columns each kind of record may fill.
var recordColumns = map[string][]int{
	"table": {colAccount, colTableID, colVersion, colFrom, colTo},
	"fee":   {colMailClass, colFee, colOver, colPrice},
	"cell":  {colMailClass, colRateIndicator, colCategory, colZone, colTier, colPrice},
}

// ErrHeader is wrapped in a *ParseError when the first line is not
// [CSVHeader]: the input is not a rate table of this format at all.
var ErrHeader = errors.New("header does not match CSVHeader")

// Other CSV structure problems, wrapped in a *ParseError whose message and
// Line, Column and Field already say what is wrong and where.
var (
	errRecordKind   = errors.New(`want record "table", "fee" or "cell"`)
	errTableRecord  = errors.New("want exactly one table record, first")
	errColumnUnused = errors.New("must be empty for this kind of record")
	errDuplicate    = errors.New("duplicate cell")
)

// ReadCSV reads a table in the format of [CSVHeader]. Every error is a
// *[ParseError] giving the line, column and column name; its Err is a
// *[usps.NumberError], a *[ValidationError], [ErrHeader] or another
// structure error.
func ReadCSV(r io.Reader) (*Table, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = numCols
	cr.ReuseRecord = true

	rec, err := cr.Read()
	if err != nil {
		if err == io.EOF {
			return nil, &ParseError{Line: 1, Column: 1, Err: ErrHeader}
		}
		return nil, csvError(err)
	}
	for i, name := range columnNames {
		if rec[i] != name {
			return nil, fieldError(cr, i, ErrHeader)
		}
	}

	var b *Builder
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvError(err)
		}
		used, ok := recordColumns[rec[colRecord]]
		if !ok {
			return nil, fieldError(cr, colRecord, errRecordKind)
		}
		if err := checkUnused(cr, rec, used); err != nil {
			return nil, err
		}
		if (rec[colRecord] == "table") != (b == nil) {
			return nil, fieldError(cr, colRecord, errTableRecord)
		}
		switch rec[colRecord] {
		case "table":
			info, err := readInfo(cr, rec)
			if err != nil {
				return nil, err
			}
			b = NewBuilder(info)
		case "fee":
			err = readFee(cr, rec, b)
		case "cell":
			err = readCell(cr, rec, b)
		}
		if err != nil {
			return nil, err
		}
	}
	if b == nil {
		line, _ := cr.FieldPos(0)
		return nil, &ParseError{Line: line + 1, Column: 1, Field: columnNames[colRecord], Err: errTableRecord}
	}
	return b.Build() // identity was checked when read
}

func checkUnused(cr *csv.Reader, rec []string, used []int) error {
	for i := colRecord + 1; i < numCols; i++ {
		if rec[i] != "" && !containsInt(used, i) {
			return fieldError(cr, i, errColumnUnused)
		}
	}
	return nil
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func readInfo(cr *csv.Reader, rec []string) (TableInfo, error) {
	info := TableInfo{Account: rec[colAccount], ID: rec[colTableID], Version: rec[colVersion]}
	var err error
	if info.EffectiveFrom, err = parseDate(rec[colFrom]); err != nil {
		return info, fieldError(cr, colFrom, err)
	}
	if info.EffectiveTo, err = parseDate(rec[colTo]); err != nil {
		return info, fieldError(cr, colTo, err)
	}
	if err := info.validate(); err != nil {
		var ve *ValidationError
		errors.As(err, &ve)
		col := map[string]int{"Account": colAccount, "ID": colTableID, "Version": colVersion, "EffectiveTo": colTo}[ve.Field]
		return info, fieldError(cr, col, err)
	}
	return info, nil
}

func parseDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		if t, err = time.Parse(time.RFC3339, s); err != nil {
			return time.Time{}, &ValidationError{Field: "date", Value: s, Reason: `want "2006-01-02" (a day in Central time)`}
		}
		if h, m, sec := t.Clock(); h != 0 || m != 0 || sec != 0 || t.Nanosecond() != 0 {
			return time.Time{}, &ValidationError{Field: "date", Value: s, Reason: "a table date is a whole day: want \"2006-01-02\""}
		}
	}
	y, mo, d := t.Date()
	if y < 1 || y > 9999 {
		return time.Time{}, &ValidationError{Field: "date", Value: s, Reason: "want a year from 0001 to 9999"}
	}
	return time.Date(y, mo, d, 0, 0, 0, 0, central), nil
}

func formatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.DateOnly)
}

func readFee(cr *csv.Reader, rec []string, b *Builder) error {
	f := Fee{Name: rec[colFee], MailClass: rec[colMailClass]}
	if !isLabel(f.Name) {
		return fieldError(cr, colFee, &ValidationError{Field: "Fee.Name", Value: f.Name, Reason: "want 1–64 characters of letters, digits, space and ._:/-"})
	}
	if f.MailClass != "" && !isUSPSWord(f.MailClass, "_-") {
		return fieldError(cr, colMailClass, &ValidationError{Field: "Fee.MailClass", Value: f.MailClass, Reason: "want upper-case USPS spelling or empty"})
	}
	over := rec[colOver]
	if n, ok := strings.CutSuffix(over, "cuin"); ok {
		v, err := decimal.Parse(n, 0)
		if err != nil {
			return fieldError(cr, colOver, &usps.NumberError{Input: over, Err: err})
		}
		f.Kind, f.Over = FeeVolume, v
	} else if n, ok := strings.CutSuffix(over, "in"); ok {
		d, err := usps.ParseDimension(n)
		if err != nil {
			return fieldError(cr, colOver, &usps.NumberError{Input: over, Err: errors.Unwrap(err)})
		}
		f.Kind, f.Over = FeeLength, int64(d)
	} else {
		return fieldError(cr, colOver, &usps.NumberError{Input: over, Err: usps.ErrSyntax})
	}
	var err error
	if f.Amount, err = usps.ParseCents(rec[colPrice]); err != nil {
		return fieldError(cr, colPrice, err)
	}
	if err := b.AddFee(f); err != nil {
		return fieldError(cr, colOver, err)
	}
	return nil
}

func readCell(cr *csv.Reader, rec []string, b *Builder) error {
	k := CellKey{Product: ProductKey{MailClass: rec[colMailClass], RateIndicator: rec[colRateIndicator], ProcessingCategory: rec[colCategory]}}
	if err := k.Product.validate(); err != nil {
		col := map[string]int{"MailClass": colMailClass, "RateIndicator": colRateIndicator, "ProcessingCategory": colCategory}[err.(*ValidationError).Field]
		return fieldError(cr, col, err)
	}
	var err error
	if k.Zone, err = ParseZone(rec[colZone]); err != nil {
		return fieldError(cr, colZone, err)
	}
	if k.Tier, err = ParseTier(rec[colTier]); err != nil {
		return fieldError(cr, colTier, err)
	}
	price, err := usps.ParseCents(rec[colPrice])
	if err != nil {
		return fieldError(cr, colPrice, err)
	}
	if _, dup := b.Cell(k); dup {
		return fieldError(cr, colTier, errDuplicate)
	}
	if err := b.SetCell(k, price); err != nil {
		return fieldError(cr, colTier, err)
	}
	return nil
}

// fieldError locates err at column col of the record just read.
func fieldError(cr *csv.Reader, col int, err error) *ParseError {
	line, column := cr.FieldPos(col)
	return &ParseError{Line: line, Column: column, Field: columnNames[col], Err: err}
}

func csvError(err error) error {
	var ce *csv.ParseError
	if errors.As(err, &ce) {
		return &ParseError{Line: ce.Line, Column: max(ce.Column, 1), Err: ce.Err}
	}
	return err
}

// WriteCSV writes t in the canonical form described at [CSVHeader].
func (t *Table) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	rec := make([]string, numCols)
	write := func() error {
		err := cw.Write(rec)
		clear(rec)
		return err
	}
	if err := cw.Write(columnNames); err != nil {
		return err
	}
	rec[colRecord] = "table"
	rec[colAccount], rec[colTableID], rec[colVersion] = t.info.Account, t.info.ID, t.info.Version
	rec[colFrom], rec[colTo] = formatDate(t.info.EffectiveFrom), formatDate(t.info.EffectiveTo)
	if err := write(); err != nil {
		return err
	}
	for _, f := range t.fees {
		rec[colRecord], rec[colMailClass], rec[colFee], rec[colOver], rec[colPrice] = "fee", f.MailClass, f.Name, f.overString(), f.Amount.String()
		if err := write(); err != nil {
			return err
		}
	}
	for c := range t.Cells() {
		rec[colRecord] = "cell"
		rec[colMailClass], rec[colRateIndicator], rec[colCategory] = c.Product.MailClass, c.Product.RateIndicator, c.Product.ProcessingCategory
		rec[colZone], rec[colTier], rec[colPrice] = c.Zone.String(), c.Tier.String(), c.Price.String()
		if err := write(); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// SetCSVAccount returns a copy of b, a table in the format of [CSVHeader],
// with the eps_account of its table record set to account, and the value
// it replaced. Every other byte is kept as is. It lets a store keep a
// contract table without its full EPS account (which pays postage) and put
// it back on reading. It does not check the rest of the file; ReadCSV does.
func SetCSVAccount(b []byte, account string) (out []byte, old string, err error) {
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = numCols
	if _, err := r.Read(); err != nil { // the header; ReadCSV checks its names
		return nil, "", csvError(err)
	}
	head := r.InputOffset()
	rec, err := r.Read()
	if err != nil {
		return nil, "", csvError(err)
	}
	if rec[colRecord] != "table" {
		return nil, "", &ParseError{Line: 2, Column: colRecord + 1, Field: columnNames[colRecord], Err: errTableRecord}
	}
	rest := r.InputOffset()
	old, rec[colAccount] = rec[colAccount], account
	var buf bytes.Buffer
	buf.Grow(len(b) + len(account))
	buf.Write(b[:head])
	cw := csv.NewWriter(&buf)
	if err := cw.Write(rec); err != nil {
		return nil, "", err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return nil, "", err
	}
	buf.Write(b[rest:])
	return buf.Bytes(), old, nil
}
