package nsarates

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzReadCSV: any input either fails with a *ParseError or gives a table
// whose export reads back to the same table and exports to the same bytes.
func FuzzReadCSV(f *testing.F) {
	f.Add(csvDoc(tableLine, cellLine("PRIORITY_MAIL", "SP", "MACHINABLE", "01", "1lb", "9.35")))
	f.Add(csvDoc("table,,commercial,2026-01,2026-01-18T06:00:00-05:00,,,,,,,,,",
		"fee,,,,,,,,,,,nonstandard length 22,22in,4.00",
		"fee,,,,,,USPS_GROUND_ADVANTAGE,,,,,volume,3456cuin,15",
		cellLine("USPS_GROUND_ADVANTAGE", "SP", "MACHINABLE", "9", "15.99oz", "5.5"),
		cellLine("PRIORITY_MAIL", "CP", "MACHINABLE", "00", "0.3cuft", "7")))
	f.Add(csvDoc(tableLine, `cell,,,,,,"PRIORITY_MAIL",SP,MACHINABLE,01,1lb,,,9.35`))
	f.Add(csvDoc(tableLine, cellLine("PRIORITY_MAIL", "SP", "MACHINABLE", "01", "1lb", "1e3")))
	f.Add("")
	f.Add(CSVHeader)

	f.Fuzz(func(t *testing.T, doc string) {
		tbl, err := ReadCSV(strings.NewReader(doc))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is %T, want *ParseError: %v", err, err)
			}
			if pe.Line < 1 || pe.Column < 1 {
				t.Fatalf("position %d:%d", pe.Line, pe.Column)
			}
			return
		}
		var first bytes.Buffer
		if err := tbl.WriteCSV(&first); err != nil {
			t.Fatal(err)
		}
		back, err := ReadCSV(bytes.NewReader(first.Bytes()))
		if err != nil {
			t.Fatalf("re-reading the export: %v\n%s", err, first.String())
		}
		if d := Compare(tbl, back); len(d) != 0 {
			t.Fatalf("cells differ after a round trip: %+v", d)
		}
		if !tbl.Info().EffectiveFrom.Equal(back.Info().EffectiveFrom) || !tbl.Info().EffectiveTo.Equal(back.Info().EffectiveTo) {
			t.Fatalf("dates differ: %+v vs %+v", tbl.Info(), back.Info())
		}
		var second bytes.Buffer
		if err := back.WriteCSV(&second); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first.Bytes(), second.Bytes()) {
			t.Fatalf("export not stable:\n%s\n---\n%s", first.String(), second.String())
		}
	})
}
