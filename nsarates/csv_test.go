package nsarates

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/usps"
)

const tableLine = "table,1000000001,Priority Mail Contract 629,v1,2026-01-18,2027-01-17,,,,,,,,"

func cellLine(mailClass, ri, category, zone, tier, price string) string {
	return "cell,,,,,," + strings.Join([]string{mailClass, ri, category, zone, tier, "", "", price}, ",")
}

func csvDoc(lines ...string) string {
	return strings.Join(append([]string{CSVHeader}, lines...), "\n") + "\n"
}

func fullTable(t *testing.T) *Table {
	b := NewBuilderFrom(buildTable(t, contractInfo("v1"), 500, 70, allKeys...))
	require.NoError(t, b.SetCell(CellKey{keyPM, ZoneDestinationEntry, WeightTier(usps.Pound)}, 0))
	require.NoError(t, b.AddFee(Fee{Name: "nonstandard length 22", Kind: FeeLength, Over: 22 * int64(usps.Inch), Amount: 400}))
	require.NoError(t, b.AddFee(Fee{Name: "nonstandard volume", MailClass: mailClassGroundAdvantage, Kind: FeeVolume, Over: 3456, Amount: 1500}))
	tbl, err := b.Build()
	require.NoError(t, err)
	return tbl
}

func TestCSVRoundTrip(t *testing.T) {
	tbl := fullTable(t)
	var first bytes.Buffer
	require.NoError(t, tbl.WriteCSV(&first))

	back, err := ReadCSV(bytes.NewReader(first.Bytes()))
	require.NoError(t, err)
	assert.Empty(t, Compare(tbl, back))
	assert.Equal(t, tbl.Info(), back.Info())
	assert.Equal(t, tbl.Fees(), back.Fees())
	assert.Equal(t, tbl.Len(), back.Len())

	var second bytes.Buffer
	require.NoError(t, back.WriteCSV(&second))
	assert.Equal(t, first.String(), second.String(), "export, import, export is byte-for-byte stable")

	lines := strings.Split(first.String(), "\n")
	assert.Equal(t, CSVHeader, lines[0])
	assert.Equal(t, tableLine, lines[1])
	assert.Equal(t, "fee,,,,,,,,,,,nonstandard length 22,22in,4.00", lines[2])
	assert.Equal(t, "fee,,,,,,USPS_GROUND_ADVANTAGE,,,,,nonstandard volume,3456cuin,15.00", lines[3])
	assert.Equal(t, cellLine("PRIORITY_MAIL", "CP", "MACHINABLE", "01", "0.1cuft", "8.40"), lines[4])
}

func TestCSVTimestampsAndCRLF(t *testing.T) {
	doc := strings.ReplaceAll(csvDoc(
		"table,,commercial,2026-01,2026-01-18T00:00:00-05:00,,,,,,,,,",
		cellLine("USPS_GROUND_ADVANTAGE", "SP", "MACHINABLE", "1", "16oz", "5"),
	), "\n", "\r\n")
	tbl, err := ReadCSV(strings.NewReader(doc))
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, tbl.WriteCSV(&out))
	assert.Equal(t, csvDoc(
		"table,,commercial,2026-01,2026-01-18,,,,,,,,,",
		cellLine("USPS_GROUND_ADVANTAGE", "SP", "MACHINABLE", "01", "1lb", "5.00"),
	), out.String(), "canonical form: a date, two-digit zone, tier in pounds, two decimals")
	assert.Equal(t, time.Date(2026, 1, 18, 0, 0, 0, 0, Central()), tbl.Info().EffectiveFrom, "a CSV date is midnight in Chicago")

	// A timestamp that is not a whole day is refused: a table applies to days.
	_, err = ReadCSV(strings.NewReader(csvDoc(
		"table,,commercial,2026-01,2026-01-18T06:00:00-05:00,,,,,,,,,",
		cellLine("USPS_GROUND_ADVANTAGE", "SP", "MACHINABLE", "1", "16oz", "5"),
	)))
	var pe *ParseError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "effective_from", pe.Field)
}

func TestReadCSVErrors(t *testing.T) {
	good := cellLine("PRIORITY_MAIL", "SP", "MACHINABLE", "01", "1lb", "9.35")
	cases := []struct {
		name  string
		doc   string
		line  int
		field string // column name; "" for structural errors
		err   error  // errors.Is target, or nil to only check the type
		col   int    // expected column; 0 = start of the field named
	}{
		{"empty input", "", 1, "", ErrHeader, 1},
		{"wrong header", strings.Replace(CSVHeader, "zone", "zones", 1) + "\n", 1, "zone", ErrHeader, 0},
		{"field count", csvDoc(tableLine, "cell,x"), 3, "", csv.ErrFieldCount, 1},
		{"bare quote", csvDoc(tableLine, strings.Replace(good, "9.35", `9"35`, 1)), 3, "", csv.ErrBareQuote, 0},
		{"no table record", csvDoc(good), 2, "record", errTableRecord, 0},
		{"header only", csvDoc(), 2, "record", errTableRecord, 1},
		{"two table records", csvDoc(tableLine, tableLine), 3, "record", errTableRecord, 0},
		{"unknown record", csvDoc(tableLine, strings.Replace(good, "cell", "cel", 1)), 3, "record", errRecordKind, 0},
		{"unused column", csvDoc(tableLine, strings.Replace(good, ",,,9.35", ",fee name,,9.35", 1)), 3, "fee", errColumnUnused, 0},
		{"three decimals", csvDoc(tableLine, strings.Replace(good, "9.35", "9.351", 1)), 3, "price", usps.ErrPrecision, 0},
		{"negative", csvDoc(tableLine, strings.Replace(good, "9.35", "-9.35", 1)), 3, "price", usps.ErrNegative, 0},
		{"exponent", csvDoc(tableLine, strings.Replace(good, "9.35", "9e2", 1)), 3, "price", usps.ErrSyntax, 0},
		{"NaN", csvDoc(tableLine, strings.Replace(good, "9.35", "NaN", 1)), 3, "price", usps.ErrSyntax, 0},
		{"too big", csvDoc(tableLine, strings.Replace(good, "9.35", "10000000", 1)), 3, "price", usps.ErrRange, 0},
		{"zone", csvDoc(tableLine, strings.Replace(good, ",01,", ",10,", 1)), 3, "zone", usps.ErrSyntax, 0},
		{"tier", csvDoc(tableLine, strings.Replace(good, "1lb", "1kg", 1)), 3, "tier", usps.ErrSyntax, 0},
		{"mail class", csvDoc(tableLine, strings.Replace(good, "PRIORITY_MAIL", "Priority", 1)), 3, "mail_class", nil, 0},
		{"rate indicator", csvDoc(tableLine, strings.Replace(good, ",SP,", ",SPX,", 1)), 3, "rate_indicator", nil, 0},
		{"category", csvDoc(tableLine, strings.Replace(good, "MACHINABLE", "", 1)), 3, "processing_category", nil, 0},
		{"duplicate cell", csvDoc(tableLine, good, good), 4, "tier", errDuplicate, 0},
		{"mixed tier kinds", csvDoc(tableLine, good, strings.Replace(good, "1lb", "0.1cuft", 1)), 4, "tier", nil, 0},
		{"date", csvDoc(strings.Replace(tableLine, "2026-01-18", "18/01/2026", 1)), 2, "effective_from", nil, 0},
		{"end before start", csvDoc(strings.Replace(tableLine, "2027-01-17", "2025-01-17", 1)), 2, "effective_to", nil, 0},
		{"account", csvDoc(strings.Replace(tableLine, "1000000001", "10000-0001", 1)), 2, "eps_account", nil, 0},
		{"table id", csvDoc(strings.Replace(tableLine, "Priority Mail Contract 629", "", 1)), 2, "table_id", nil, 0},
		{"fee threshold", csvDoc(tableLine, "fee,,,,,,,,,,,long,22cm,4.00"), 3, "over", usps.ErrSyntax, 0},
		{"fee threshold negative", csvDoc(tableLine, "fee,,,,,,,,,,,long,-22in,4.00"), 3, "over", usps.ErrNegative, 0},
		{"fee volume", csvDoc(tableLine, "fee,,,,,,,,,,,big,34.5cuin,4.00"), 3, "over", usps.ErrPrecision, 0},
		{"fee amount", csvDoc(tableLine, "fee,,,,,,,,,,,long,22in,4.001"), 3, "price", usps.ErrPrecision, 0},
		{"fee name", csvDoc(tableLine, "fee,,,,,,,,,,,,22in,4.00"), 3, "fee", nil, 0},
		{"fee mail class", csvDoc(tableLine, "fee,,,,,,priority,,,,,long,22in,4.00"), 3, "mail_class", nil, 0},
		{"fee zero threshold", csvDoc(tableLine, "fee,,,,,,,,,,,long,0in,4.00"), 3, "over", nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(tc.doc))
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.line, pe.Line, "line")
			assert.Equal(t, tc.field, pe.Field, "field")
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err)
			}
			if tc.col != 0 {
				assert.Equal(t, tc.col, pe.Column, "column")
			} else if tc.field != "" {
				assert.Equal(t, fieldStart(tc.doc, tc.line, tc.field), pe.Column, "column")
			} else {
				assert.Positive(t, pe.Column)
			}
			assert.Contains(t, err.Error(), "line")
		})
	}
}

// fieldStart is the 1-based byte column where the named field begins on a
// line of doc.
func fieldStart(doc string, line int, field string) int {
	idx := map[string]int{}
	for i, name := range columnNames {
		idx[name] = i
	}
	text := strings.Split(doc, "\n")[line-1]
	col := 1
	for i, f := range strings.Split(text, ",") {
		if i == idx[field] {
			return col
		}
		col += len(f) + 1
	}
	return -1
}

func TestErrorMessages(t *testing.T) {
	assert.Equal(t, "nsarates: csv line 3, column 9 (price): x", (&ParseError{Line: 3, Column: 9, Field: "price", Err: assertErr("x")}).Error())
	assert.Equal(t, "nsarates: csv line 1, column 1: x", (&ParseError{Line: 1, Column: 1, Err: assertErr("x")}).Error())
	assert.Equal(t, `usps: "9.351": too many decimals`, (&usps.NumberError{Input: "9.351", Err: usps.ErrPrecision}).Error())
	assert.Equal(t, "nsarates: Weight 71lb exceeds the limit of 70lb", (&LimitError{Field: "Weight", Value: "71lb", Limit: "70lb"}).Error())
	assert.Equal(t, `nsarates: invalid Zone "10": want 00 to 09`, (&ValidationError{Field: "Zone", Value: "10", Reason: "want 00 to 09"}).Error())
	assert.Equal(t, "Source(9)", Source(9).String())
	assert.Equal(t, "Reason(9)", Reason(9).String())
	assert.Equal(t, "retail", SourceRetail.String())
	assert.Equal(t, "Tier(0,0)", Tier{}.String())
}

type assertErr string

func (e assertErr) Error() string { return string(e) }

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, assertErr("disk full") }

func TestWriteCSVError(t *testing.T) {
	assert.EqualError(t, fullTable(t).WriteCSV(failingWriter{}), "disk full")
}

func TestSetCSVAccount(t *testing.T) {
	tbl := fullTable(t)
	var full bytes.Buffer
	require.NoError(t, tbl.WriteCSV(&full))
	const eps = "1000000001"
	require.Equal(t, 1, strings.Count(full.String(), eps), "only the table record carries the EPS account")

	blank, old, err := SetCSVAccount(full.Bytes(), "")
	require.NoError(t, err)
	assert.Equal(t, eps, old)
	assert.NotContains(t, string(blank), eps)
	assert.Equal(t, strings.Replace(full.String(), tableLine, strings.Replace(tableLine, eps, "", 1), 1), string(blank),
		"only the eps_account field changes")
	noAccount, err := ReadCSV(bytes.NewReader(blank))
	require.NoError(t, err)
	assert.Empty(t, noAccount.Info().Account)
	assert.Empty(t, Compare(tbl, noAccount))

	back, old, err := SetCSVAccount(blank, eps)
	require.NoError(t, err)
	assert.Empty(t, old)
	assert.Equal(t, full.String(), string(back), "blank then restore gives the same bytes")

	// A table ID that needs quoting keeps its quotes.
	quoted := csvDoc(`table,,"Contract, ""629""",v1,,,,,,,,,,`, cellLine("PRIORITY_MAIL", "CP", "MACHINABLE", "01", "0.1cuft", "8.40"))
	out, _, err := SetCSVAccount([]byte(quoted), eps)
	require.NoError(t, err)
	assert.Equal(t, strings.Replace(quoted, "table,,", "table,"+eps+",", 1), string(out))

	for name, in := range map[string]string{
		"empty":        "",
		"header only":  CSVHeader + "\n",
		"cell first":   csvDoc(cellLine("PRIORITY_MAIL", "CP", "MACHINABLE", "01", "0.1cuft", "8.40")),
		"short record": csvDoc("table,1"),
	} {
		_, _, err := SetCSVAccount([]byte(in), eps)
		assert.Error(t, err, name)
	}
}
