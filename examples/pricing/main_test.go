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
	fmt.Fprintf(&b, "shipments         %10d\n", len(ms))
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
		{"bad shipment", []string{"-shipments", write("bad.csv", shipmentsHeader+"\nX1,PRIORITY_MAIL,SP,MACHINABLE,05,2kg,10,8,4,2026-03-02\n")},
			`shipments line 2, column 35 (weight): usps: "2kg": malformed number`},
		{"published as contract", []string{"-table", write("pub.csv", string(published))}, "names its EPS account"},
		{"bad table", []string{"-published", write("t.csv", "record\n")}, "csv line 1"},
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
	for _, tc := range []struct {
		in           string
		line, column int
		field        string
	}{
		{in: "", line: 1, column: 1},
		{in: "id,mail_class\n", line: 1, column: 1},
		{in: strings.Replace(shipmentsHeader, "weight", "weight_oz", 1) + "\n", line: 1, column: 55, field: "weight"},
		{in: shipmentsHeader + "\n" + good + ",extra\n", line: 2, column: 1},
		{in: shipmentsHeader + "\n" + strings.Replace(good, "S1", "", 1) + "\n", line: 2, column: 1, field: "id"},
		{in: shipmentsHeader + "\n" + strings.Replace(good, "S1", "\"S\r1\"", 1) + "\n", line: 2, column: 1, field: "id"},
		{in: shipmentsHeader + "\n" + strings.Replace(good, "2lb", "0oz", 1) + "\n", line: 2, column: 35, field: "weight"},
		{in: shipmentsHeader + "\n" + strings.Replace(good, "PRIORITY_MAIL", "priority", 1) + "\n", line: 2, column: 4, field: "mail_class"},
		{in: shipmentsHeader + "\n" + strings.Replace(good, ",SP,", ",S,", 1) + "\n", line: 2, column: 18, field: "rate_indicator"},
		{in: shipmentsHeader + "\n" + strings.Replace(good, "MACHINABLE", "", 1) + "\n", line: 2, column: 21, field: "processing_category"},
		{in: shipmentsHeader + "\n" + strings.Replace(good, ",05,", ",10,", 1) + "\n", line: 2, column: 32, field: "zone"},
		{in: shipmentsHeader + "\n" + strings.Replace(good, "2lb", "2.5", 1) + "\n", line: 2, column: 35, field: "weight"},
		{in: shipmentsHeader + "\n" + strings.Replace(good, ",10,", ",10.1255,", 1) + "\n", line: 2, column: 39, field: "length_in"},
		{in: shipmentsHeader + "\n" + strings.Replace(good, ",8,", ",-8,", 1) + "\n", line: 2, column: 42, field: "width_in"},
		{in: shipmentsHeader + "\n" + strings.Replace(good, ",4,", ",4in,", 1) + "\n", line: 2, column: 44, field: "height_in"},
		{in: shipmentsHeader + "\n" + strings.Replace(good, "2026-03-02", "03/02/2026", 1) + "\n", line: 2, column: 46, field: "date"},
		{in: shipmentsHeader + "\n" + good + "\n\"unterminated\n", line: 3, column: 15},
	} {
		p, err := nsarates.NewPricer()
		require.NoError(t, err)
		sr := newShipmentReader(strings.NewReader(tc.in), p)
		for err == nil {
			_, err = sr.Read()
		}
		var pe *parseError
		require.ErrorAs(t, err, &pe, tc.in)
		assert.Equal(t, []any{tc.line, tc.column, tc.field}, []any{pe.Line, pe.Column, pe.Field}, "%s: %v", tc.in, err)
	}
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
				require.Positive(t, pe.Column)
				return
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
