package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/usps"
)

var update = flag.Bool("update", false, "rewrite the sample data in sample/")

// The test's own model of the sample tables: prices follow a formula, so
// the expected totals are computed here without the pricer.
type modelProduct struct {
	key           nsarates.ProductKey
	tiers         []usps.Weight // published tiers
	underContract int           // the first tiers are in the contract
	base, step    usps.Cents
	dim           bool // dimensional weight applies (Priority Mail and Express)
}

var model = []modelProduct{
	{key: nsarates.ProductKey{MailClass: "PRIORITY_MAIL", RateIndicator: "SP", ProcessingCategory: "MACHINABLE"},
		tiers: lbs(1, 5, 20, 70), underContract: 4, base: 800, step: 350, dim: true},
	{key: nsarates.ProductKey{MailClass: "USPS_GROUND_ADVANTAGE", RateIndicator: "SP", ProcessingCategory: "MACHINABLE"},
		tiers: []usps.Weight{8 * usps.Ounce, 1599, 5 * usps.Pound, 20 * usps.Pound, 70 * usps.Pound}, underContract: 4, base: 500, step: 250,
		dim: true}, // DIM over 1 ft³ for Ground Advantage too (nsarates rule sets, both dates)
	{key: nsarates.ProductKey{MailClass: "PRIORITY_MAIL_EXPRESS", RateIndicator: "PA", ProcessingCategory: "MACHINABLE"},
		tiers: lbs(1, 5, 20, 70), base: 2800, step: 900, dim: true},
}

func lbs(ws ...int) []usps.Weight {
	out := make([]usps.Weight, len(ws))
	for i, w := range ws {
		out[i] = usps.Weight(w) * usps.Pound
	}
	return out
}

func (m modelProduct) published(z nsarates.Zone, ti int) usps.Cents {
	return m.base + 45*usps.Cents(z) + m.step*usps.Cents(ti)
}

// contract is 15 % off, rounded down to the cent.
func (m modelProduct) contract(z nsarates.Zone, ti int) usps.Cents {
	return m.published(z, ti) * 85 / 100
}

const sampleEPS = "1000000001"

var (
	contractFrom = time.Date(2026, 1, 18, 0, 0, 0, 0, time.UTC)
	mailDay      = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	earlyDay     = time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC) // before the contract
)

// sampleTables writes the contract and published tables of the model.
func sampleTables(t testing.TB) (contract, published []byte) {
	cb := nsarates.NewBuilder(nsarates.TableInfo{Account: sampleEPS, ID: "Priority Mail Contract 629", Version: "2026-01", EffectiveFrom: contractFrom})
	pb := nsarates.NewBuilder(nsarates.TableInfo{ID: "Commercial", Version: "2026-01"})
	for _, m := range model {
		for z := nsarates.Zone(1); z <= 9; z++ {
			for ti, w := range m.tiers {
				k := nsarates.CellKey{Product: m.key, Zone: z, Tier: nsarates.WeightTier(w)}
				require.NoError(t, pb.SetCell(k, m.published(z, ti)))
				if ti < m.underContract {
					require.NoError(t, cb.SetCell(k, m.contract(z, ti)))
				}
			}
		}
	}
	write := func(b *nsarates.Builder) []byte {
		tab, err := b.Build()
		require.NoError(t, err)
		var buf bytes.Buffer
		require.NoError(t, tab.WriteCSV(&buf))
		return buf.Bytes()
	}
	return write(cb), write(pb)
}

type modelShipment struct {
	id                    string
	product               int // index in model
	zone                  nsarates.Zone
	weight                usps.Weight
	length, width, height int // whole inches
	date                  time.Time
}

func (s modelShipment) csv() string {
	k := model[s.product].key
	weight := s.weight.String() // "12.5oz", "3lb"
	if s.weight > usps.Pound && s.weight%usps.Pound != 0 && s.weight%16 == 0 {
		hundredths := s.weight / 16 // of a pound
		weight = strings.TrimRight(fmt.Sprintf("%d.%02d", hundredths/100, hundredths%100), "0") + "lb"
	}
	return fmt.Sprintf("%s,%s,%s,%s,%s,%s,%d,%d,%d,%s\n", s.id, k.MailClass, k.RateIndicator, k.ProcessingCategory,
		s.zone, weight, s.length, s.width, s.height, s.date.Format(time.DateOnly))
}

// expect prices s by the model: NSA and commercial price, and why the
// contract did not apply ("" when it did); ok is false when no table may
// price it (over 70 lb).
func (s modelShipment) expect() (nsa, com usps.Cents, fallback string, ok bool) {
	m := model[s.product]
	if s.weight > 70*usps.Pound {
		return 0, 0, "", false
	}
	w := s.weight
	if vol := s.length * s.width * s.height; m.dim && vol > 1728 {
		w = max(w, usps.Weight((vol+165)/166)*usps.Pound) // L×W×H/166, rounded up to the pound
	}
	ti := 0
	for m.tiers[ti] < w {
		ti++
	}
	com = m.published(s.zone, ti)
	switch {
	case s.date.Before(contractFrom):
		return com, com, "outside effective dates", true
	case m.underContract == 0:
		return com, com, "product not covered", true
	case ti >= m.underContract:
		return com, com, "beyond the table", true
	}
	return m.contract(s.zone, ti), com, "", true
}

// genShipments draws n shipments: mostly small boxes on the mailing day,
// some large boxes (dimensional weight), early dates and overweight parcels.
func genShipments(r *rand.Rand, n int) []modelShipment {
	out := make([]modelShipment, n)
	for i := range out {
		s := modelShipment{id: fmt.Sprintf("S%06d", i+1), product: r.IntN(len(model)), zone: nsarates.Zone(1 + r.IntN(9)),
			length: 10, width: 8, height: 4, date: mailDay}
		if r.IntN(3) == 0 {
			s.weight = usps.Weight(1+r.IntN(159)) * 10 // 0.1 to 15.9 oz
		} else {
			s.weight = usps.Weight(100+r.IntN(2901)) * 16 // 1.00 to 30.00 lb
		}
		switch r.IntN(50) {
		case 0:
			s.weight = 70*usps.Pound + usps.Weight(r.IntN(int(5*usps.Pound)))
		case 1, 2:
			s.length, s.width, s.height = 12+r.IntN(8), 12+r.IntN(4), 12+r.IntN(4)
		case 3:
			s.date = earlyDay
		case 4:
			s.weight = 70 * usps.Pound
		}
		out[i] = s
	}
	return out
}

// sampleModel is the embedded file's content: one shipment of each
// kind first, then random ones.
func sampleModel() []modelShipment {
	ms := []modelShipment{
		{id: "A-contract", product: 0, zone: 5, weight: 24 * usps.Ounce, length: 10, width: 8, height: 6, date: mailDay},
		{id: "B-express", product: 2, zone: 5, weight: 2 * usps.Pound, length: 10, width: 8, height: 6, date: mailDay},
		{id: "C-heavy", product: 1, zone: 3, weight: 30 * usps.Pound, length: 10, width: 8, height: 6, date: mailDay},
		{id: "D-early", product: 0, zone: 7, weight: 3 * usps.Pound, length: 10, width: 8, height: 6, date: earlyDay},
		{id: "E-dim", product: 0, zone: 8, weight: 2 * usps.Pound, length: 14, width: 14, height: 12, date: mailDay},
		{id: "F-overweight", product: 1, zone: 2, weight: 75 * usps.Pound, length: 10, width: 8, height: 6, date: mailDay},
	}
	return append(ms, genShipments(rand.New(rand.NewPCG(629, 1)), 24)...)
}

func shipmentsCSV(ms []modelShipment) []byte {
	var b bytes.Buffer
	b.WriteString(shipmentsHeader + "\n")
	for _, s := range ms {
		b.WriteString(s.csv())
	}
	return b.Bytes()
}

// wantTotals is the totals block run must print for ms.
func wantTotals(ms []modelShipment) string {
	var nsa, com usps.Cents
	var atNSA, failed int
	fell := map[string]int{}
	for _, s := range ms {
		n, c, fallback, ok := s.expect()
		switch {
		case !ok:
			failed++
			continue
		case fallback == "":
			atNSA++
		default:
			fell[fallback]++
		}
		nsa += n
		com += c
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\ncontract Priority Mail Contract 629 version 2026-01\n")
	fmt.Fprintf(&b, "rows              %10d\n", len(ms))
	fmt.Fprintf(&b, "  bad             %10d\n", 0)
	fmt.Fprintf(&b, "  ok (shipments)  %10d\n", len(ms))
	fmt.Fprintf(&b, "  at NSA rates    %10d\n", atNSA)
	for _, reason := range []string{"product not covered", "outside effective dates", "beyond the table"} { // nsarates.Reason order
		if fell[reason] > 0 {
			fmt.Fprintf(&b, "  fell back       %10d  %s\n", fell[reason], reason)
		}
	}
	fmt.Fprintf(&b, "  not priced      %10d\n", failed)
	fmt.Fprintf(&b, "NSA total         %10s\n", nsa)
	fmt.Fprintf(&b, "commercial total  %10s\n", com)
	bp := int64(com-nsa) * 10000 / int64(com)
	fmt.Fprintf(&b, "saving            %10s  %d.%02d%% of commercial\n", com-nsa, bp/100, bp%100)
	return b.String()
}

// TestSampleData checks that the embedded sample files are what the model
// generates; -update rewrites them.
func TestSampleData(t *testing.T) {
	contract, published := sampleTables(t)
	files := map[string][]byte{"contract.csv": contract, "published.csv": published, "shipments.csv": shipmentsCSV(sampleModel())}
	if *update {
		for name, b := range files {
			require.NoError(t, os.WriteFile(filepath.Join("sample", name), b, 0o644))
		}
	}
	assert.Equal(t, string(files["contract.csv"]), string(sampleContract))
	assert.Equal(t, string(files["published.csv"]), string(samplePublished))
	assert.Equal(t, string(files["shipments.csv"]), string(sampleShipments))
	for name, b := range files {
		assert.Less(t, len(b), 8<<10, "%s stays small", name)
	}
}

func TestRunSample(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(nil, &stdout, &stderr))
	out := stdout.String()
	t.Logf("\n%s", out)
	assert.True(t, strings.HasSuffix(out, wantTotals(sampleModel())), "totals")
	for _, s := range sampleModel() {
		nsa, com, fallback, ok := s.expect()
		line := lineOf(t, out, s.id)
		switch {
		case !ok:
			assert.Contains(t, line, "error: nsarates: Weight")
		case fallback == "":
			assert.Contains(t, line, fmt.Sprintf("%10s %10s %8s  contract", nsa, com, com-nsa))
		default:
			assert.Contains(t, line, fmt.Sprintf("%10s %10s %8s  commercial (%s)", nsa, com, com-nsa, fallback))
		}
	}
	// 14×14×12 in is 2352 in³: 15 lb dimensional weight, in the 20 lb tier.
	assert.Contains(t, lineOf(t, out, "E-dim"), "     20lb ", "billable: dimensional weight")
	assert.Empty(t, stderr.String(), "no progress bar unless asked or on a terminal")
}

func lineOf(t *testing.T, out, id string) string {
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, id+" ") {
			return line
		}
	}
	t.Fatalf("no line for %s", id)
	return ""
}

// TestRunLarge prices a generated file of many shipments from files on
// disk, with the progress bar, and checks the totals to the cent.
func TestRunLarge(t *testing.T) {
	n := 200_000
	if raceEnabled || testing.Short() {
		n = 40_000 // the race detector slows parsing about tenfold
	}
	dir := t.TempDir()
	contract, published := sampleTables(t)
	ms := genShipments(rand.New(rand.NewPCG(1, 2)), n)
	paths := map[string][]byte{"contract.csv": contract, "published.csv": published, "shipments.csv": shipmentsCSV(ms)}
	for name, b := range paths {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}

	var stdout, stderr bytes.Buffer
	start := time.Now()
	err := run([]string{"-summary", "-progress",
		"-shipments", filepath.Join(dir, "shipments.csv"), "-table", filepath.Join(dir, "contract.csv"), "-published", filepath.Join(dir, "published.csv"),
	}, &stdout, &stderr)
	elapsed := time.Since(start)
	require.NoError(t, err)
	t.Logf("priced %d shipments (%.1f MB) in %v: %.0f shipments/s", n, float64(len(paths["shipments.csv"]))/1e6, elapsed, float64(n)/elapsed.Seconds())

	assert.Equal(t, wantTotals(ms), stdout.String())
	progress := stderr.String()
	assert.Equal(t, n/progressEvery+1, strings.Count(progress, "\r["), "one update every %d rows, and a last one", progressEvery)
	assert.Contains(t, progress, fmt.Sprintf("] 100%% %d shipments in ", n))
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}
	_, published := sampleTables(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"-shipments", filepath.Join(dir, "none.csv")}, "no such file"},
		{"published as contract", []string{"-table", write("pub.csv", string(published))}, "names its EPS account"},
		{"bad table", []string{"-published", write("t.csv", "record\n")}, "t.csv: line 1: the header does not match; want\n\t" + nsarates.CSVHeader},
		{"table with a spaced tier", []string{"-published", write("tier.csv", strings.Replace(string(published), ",01,1lb,", ",01,1 lb,", 1))},
			`tier.csv: line 3, field tier: "1 lb": write the weight without spaces`},
		{"table with zone 10", []string{"-published", write("zone.csv", strings.Replace(string(published), ",01,1lb,", ",10,1lb,", 1))},
			`zone.csv: line 3, field zone: zone "10" does not exist: want 01 to 09`},
		{"shipments header", []string{"-shipments", write("h.csv", strings.Replace(shipmentsHeader, "weight", "weight_oz", 1)+"\n")},
			"h.csv: shipments line 1: the header does not match: field 6 is \"weight_oz\", want \"weight\"; the header is\n\t" + shipmentsHeader},
		{"bad flag", []string{"-nope"}, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(tc.args, io.Discard, io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	require.NoError(t, run([]string{"-h"}, io.Discard, io.Discard))
}

func TestShipmentErrors(t *testing.T) {
	good := "S1,PRIORITY_MAIL,SP,MACHINABLE,05,2lb,10,8,4,2026-03-02"
	row := func(old, new string) string {
		return shipmentsHeader + "\n" + strings.Replace(good, old, new, 1) + "\n"
	}
	for _, tc := range []struct {
		in    string
		line  int
		field string
		fatal bool
		msg   string // in the message, when it matters
	}{
		{in: "", line: 1, fatal: true, msg: "empty file: want the header " + shipmentsHeader},
		{in: "id,mail_class\n", line: 1, fatal: true, msg: `field 3 is missing, want "rate_indicator"; the header is`},
		{in: strings.Replace(shipmentsHeader, "weight", "weight_oz", 1) + "\n", line: 1, fatal: true, msg: `field 6 is "weight_oz", want "weight"`},
		{in: shipmentsHeader + ",extra\n", line: 1, fatal: true, msg: "the header has 11 fields, want 10"},
		{in: shipmentsHeader + "\n" + good + ",extra\n", line: 2, msg: "wrong number of fields: want 10"},
		{in: row("S1", ""), line: 2, field: "id"},
		{in: row("S1", "\"S\r1\""), line: 2, field: "id"},
		{in: row("2lb", "0oz"), line: 2, field: "weight", msg: "must be positive"},
		{in: row("PRIORITY_MAIL", "priority"), line: 2, field: "mail_class"},
		{in: row(",SP,", ",S,"), line: 2, field: "rate_indicator"},
		{in: row("MACHINABLE", ""), line: 2, field: "processing_category"},
		{in: row(",05,", ",10,"), line: 2, field: "zone", msg: `zone "10" does not exist: want 01 to 09, or 00 for destination entry`},
		{in: row(",05,", ",5a,"), line: 2, field: "zone", msg: `"5a" is not a zone`},
		{in: row("2lb", "1.5"), line: 2, field: "weight", msg: `"1.5" has no unit: write 1.5lb or 1.5oz`},
		{in: row("2lb", "1 lb"), line: 2, field: "weight", msg: `"1 lb": write the weight without spaces`},
		{in: row("2lb", "2kg"), line: 2, field: "weight", msg: `unit "kg" is not known: want oz or lb`},
		{in: row("2lb", "1.5555oz"), line: 2, field: "weight", msg: "ounces take at most 2 decimals"},
		{in: row("2lb", "1.001lb"), line: 2, field: "weight", msg: "not a whole hundredth of an ounce"},
		{in: row("2lb", "-2lb"), line: 2, field: "weight", msg: "negative"},
		{in: row(",10,", ",10.1255,"), line: 2, field: "length_in", msg: "inches take at most 3 decimals"},
		{in: row(",8,", ",-8,"), line: 2, field: "width_in", msg: "negative"},
		{in: row(",4,", ",4in,"), line: 2, field: "height_in", msg: `"4in": write inches as a bare number, "4"`},
		{in: row("2026-03-02", "03/02/2026"), line: 2, field: "date"},
		{in: shipmentsHeader + "\n" + good + "\n\"unterminated\n", line: 3},
	} {
		p, err := nsarates.NewPricer()
		require.NoError(t, err)
		sr := newShipmentReader(strings.NewReader(tc.in), p)
		for err == nil {
			_, err = sr.Read()
		}
		var pe *parseError
		require.ErrorAs(t, err, &pe, tc.in)
		assert.Equal(t, []any{tc.line, tc.field, tc.fatal}, []any{pe.Line, pe.Field, pe.Fatal}, "%s: %v", tc.in, err)
		assert.Contains(t, err.Error(), tc.msg, tc.in)
		assert.NotContains(t, err.Error(), "column", "a field is named, not a byte offset")
	}
}

// TestBadRowsDoNotStopTheBatch: each bad row is reported with its line and
// field, the good rows are priced, and the summary counts both.
func TestBadRowsDoNotStopTheBatch(t *testing.T) {
	dir := t.TempDir()
	ms := sampleModel()[:6]
	var b strings.Builder
	b.WriteString("\xEF\xBB\xBF" + shipmentsHeader + "\n") // as Excel writes "CSV UTF-8"
	for i, s := range ms {
		b.WriteString(s.csv())
		switch i {
		case 1:
			b.WriteString("Z-zone,PRIORITY_MAIL,SP,MACHINABLE,10,2lb,10,8,4,2026-03-02\n")
		case 3:
			b.WriteString("Z-weight,PRIORITY_MAIL,SP,MACHINABLE,05,1.5,10,8,4,2026-03-02\n")
			b.WriteString("Z-fields,PRIORITY_MAIL\n")
		}
	}
	path := filepath.Join(dir, "s.csv")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))

	var stdout, stderr bytes.Buffer
	err := run([]string{"-shipments", path}, &stdout, &stderr)
	require.EqualError(t, err, path+": 3 of 9 rows were bad and not priced (listed above)")
	assert.Equal(t, path+`: shipments line 4, field zone: zone "10" does not exist: want 01 to 09, or 00 for destination entry
`+path+`: shipments line 7, field weight: "1.5" has no unit: write 1.5lb or 1.5oz
`+path+`: shipments line 8: wrong number of fields: want 10 (`+shipmentsHeader+`)
`+path+`: note: the file starts with a UTF-8 byte order mark (BOM); skipped it
`, stderr.String())
	for _, s := range ms {
		lineOf(t, stdout.String(), s.id) // every good row is priced
	}
	want := wantTotals(ms)
	want = strings.Replace(want, fmt.Sprintf("rows              %10d\n  bad             %10d\n", len(ms), 0),
		fmt.Sprintf("rows              %10d\n  bad             %10d\n", len(ms)+3, 3), 1)
	assert.True(t, strings.HasSuffix(stdout.String(), want), "summary:\n%s", stdout.String())
}

// A file of nothing but bad rows reports the first ones, not all.
func TestBadRowsReportedUpToALimit(t *testing.T) {
	var b strings.Builder
	b.WriteString(shipmentsHeader + "\n")
	for range maxBadRowsShown + 5 {
		b.WriteString("Z,PRIORITY_MAIL,SP,MACHINABLE,10,2lb,10,8,4,2026-03-02\n")
	}
	path := filepath.Join(t.TempDir(), "bad.csv")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	var stderr bytes.Buffer
	err := run([]string{"-shipments", path, "-summary"}, io.Discard, &stderr)
	require.ErrorContains(t, err, fmt.Sprintf("%d of %d rows were bad", maxBadRowsShown+5, maxBadRowsShown+5))
	assert.Equal(t, maxBadRowsShown+1, strings.Count(stderr.String(), "\n"))
	assert.Contains(t, stderr.String(), "… and 5 more bad rows")
}

// FuzzShipments: the parser never panics, reports errors as *parseError
// with a position, and what it accepts formats back to a line it reads the
// same way.
func FuzzShipments(f *testing.F) {
	f.Add(shipmentsCSV(sampleModel()[:8]))
	f.Add([]byte(shipmentsHeader + "\nS1,PRIORITY_MAIL,SP,MACHINABLE,5,1.0625lb,10.25,8,0.5,2026-03-02\n"))
	f.Add([]byte(shipmentsHeader + "\n\"a,b\",X,Y1,Z,00,0.01oz,0,1,1,2026-02-30\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := nsarates.NewPricer()
		require.NoError(t, err)
		sr := newShipmentReader(bytes.NewReader(in), p)
		for {
			r, err := sr.Read()
			if err == io.EOF {
				return
			}
			if err != nil {
				var pe *parseError
				require.True(t, errors.As(err, &pe), "%T %v", err, err)
				require.Positive(t, pe.Line)
				if pe.Fatal {
					return
				}
				continue // a bad row: reading goes on
			}
			var line bytes.Buffer
			w := csv.NewWriter(&line)
			require.NoError(t, w.Write([]string{r.id, r.product.MailClass, r.product.RateIndicator, r.product.ProcessingCategory,
				r.ship.Zone.String(), r.ship.Weight.String(), r.ship.Length.String(), r.ship.Width.String(), r.ship.Height.String(), r.ship.Date.Format(time.DateOnly)}))
			w.Flush()
			again, err := newShipmentReader(strings.NewReader(shipmentsHeader+"\n"+line.String()), p).Read()
			require.NoError(t, err, line.String())
			require.Equal(t, r, again, line.String())
		}
	})
}

// A read error is not a bad row: it ends the file, and every later Read
// returns it.
func TestReadErrorEndsTheFile(t *testing.T) {
	p, err := nsarates.NewPricer()
	require.NoError(t, err)
	broken := errors.New("disk on fire")
	sr := newShipmentReader(io.MultiReader(bytes.NewReader(shipmentsCSV(sampleModel()[:1])), iotest.ErrReader(broken)), p)
	_, err = sr.Read()
	require.NoError(t, err)
	_, err = sr.Read()
	require.ErrorIs(t, err, broken)
	assert.False(t, errors.As(err, new(*parseError)), "not a bad row")
	_, err = sr.Read()
	require.ErrorIs(t, err, broken)
}
