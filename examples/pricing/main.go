// Command pricing prices a file of shipments for a linked customer at their
// NSA contract rates, next to USPS's published commercial rates, and prints
// each quote, the totals and the saving.
//
//	go run ./examples/pricing        # the embedded sample data
//	go run ./examples/pricing -shipments shipments.csv -table contract.csv -published published.csv
//
// -table is the customer's contract table and -published the commercial
// table, both in nsarates's CSV format (nsarates.CSVHeader); the contract
// table's eps_account is the linked account. The shipments file is
// described at shipmentsHeader. A quote that falls back to commercial rates
// says why (product not covered, beyond the table, outside the effective
// dates …): a shipment is never silently priced as if under contract.
//
// A bad shipment row does not stop the batch: it is reported on stderr
// with its line and field name and what to write instead, the other rows
// are priced, the summary counts rows ok and bad, and the exit status is 1.
// A bad header or table stops it, showing the header expected. A UTF-8
// byte order mark (Excel's "CSV UTF-8") is skipped, with a note.
//
// In a host, the contract table is installed only once the customer's link
// is active, and the pricer lives as long as the process; here it lives for
// one file.
package main

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/usps"
)

// Sample data, so that the program runs on a fresh machine. main_test.go
// generates it (go test ./examples/pricing -run TestSampleData -update).
var (
	//go:embed sample/shipments.csv
	sampleShipments []byte
	//go:embed sample/contract.csv
	sampleContract []byte
	//go:embed sample/published.csv
	samplePublished []byte
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "pricing:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pricing", flag.ContinueOnError)
	fs.SetOutput(stderr)
	shipmentsPath := fs.String("shipments", "", "shipments CSV `file` (default: embedded sample)")
	contractPath := fs.String("table", "", "the customer's contract table, nsarates CSV `file` (default: embedded sample)")
	publishedPath := fs.String("published", "", "published commercial table, nsarates CSV `file` (default: embedded sample)")
	showProgress := fs.Bool("progress", false, "show progress on stderr even when it is not a terminal")
	summary := fs.Bool("summary", false, "print the totals only")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}

	contract, err := readTable(*contractPath, sampleContract, stderr)
	if err != nil {
		return err
	}
	if contract.Info().Account == "" {
		return fmt.Errorf("%s: a contract table names its EPS account (eps_account)", or(*contractPath, "sample contract"))
	}
	published, err := readTable(*publishedPath, samplePublished, stderr)
	if err != nil {
		return err
	}
	pricer, err := nsarates.NewPricer()
	if err != nil {
		return err
	}
	if err := pricer.SetContract(contract); err != nil {
		return err
	}
	if err := pricer.SetPublished(nsarates.SourceCommercial, published); err != nil {
		return err
	}
	account, err := pricer.Account(contract.Info().Account)
	if err != nil {
		return err
	}

	in, size, closeIn, err := open(*shipmentsPath, sampleShipments)
	if err != nil {
		return err
	}
	defer closeIn()
	counted := &countingReader{r: in}
	var bar *progressBar
	if *showProgress || isTerminal(stderr) {
		bar = &progressBar{w: stderr, size: size, read: &counted.n, start: time.Now()}
	}

	out := bufio.NewWriter(stdout)
	defer out.Flush() // on an error too: the lines before it are printed
	if !*summary {
		fmt.Fprintf(out, "%-12s %-36s %4s %8s %10s %10s %8s  %s\n", "id", "product", "zone", "billable", "NSA", "commercial", "saving", "source")
	}
	tot := totals{fallbacks: map[nsarates.Reason]int{}}
	sr := newShipmentReader(counted, pricer)
	name := or(*shipmentsPath, "sample shipments")
	for {
		r, err := sr.Read()
		if err == io.EOF {
			break
		}
		var pe *parseError
		if errors.As(err, &pe) && !pe.Fatal {
			// One bad row: say where and why, and go on with the next.
			if tot.bad++; tot.bad <= maxBadRowsShown {
				fmt.Fprintf(stderr, "%s: %v\n", name, err)
			}
			bar.tick()
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		line := tot.add(pricer, account, r)
		if !*summary {
			out.WriteString(line)
		}
		bar.tick()
	}
	bar.done()
	if sr.BOM {
		fmt.Fprintf(stderr, "%s: note: the file starts with a UTF-8 byte order mark (BOM); skipped it\n", name)
	}
	if tot.bad > maxBadRowsShown {
		fmt.Fprintf(stderr, "%s: … and %d more bad rows\n", name, tot.bad-maxBadRowsShown)
	}
	tot.print(out, contract.Info())
	if err := out.Flush(); err != nil {
		return err
	}
	if tot.bad > 0 {
		return fmt.Errorf("%s: %d of %d rows were bad and not priced (listed above)", name, tot.bad, tot.bad+tot.shipments)
	}
	return nil
}

// maxBadRowsShown bounds the bad rows reported one by one: a file in the
// wrong format should not print a million lines.
const maxBadRowsShown = 100

// totals sums what was priced. Shipments that no table could price (over a
// size limit, say) are counted but add to no sum.
type totals struct {
	bad                         int // rows that could not be read
	shipments, contract, failed int
	fallbacks                   map[nsarates.Reason]int
	nsa, commercial             usps.Cents
}

// add prices one shipment at the customer's rates and at commercial rates,
// and returns its output line.
func (t *totals) add(p *nsarates.Pricer, account nsarates.AccountID, r row) string {
	t.shipments++
	s := r.ship
	s.Account = account
	nsa, err := p.Quote(s)
	var com nsarates.Quote
	if err == nil {
		s.Account = 0 // no account: published rates
		com, err = p.Quote(s)
	}
	if err != nil {
		t.failed++
		return fmt.Sprintf("%-12s %-36s %4s %8s %10s %10s %8s  error: %v\n", r.id, r.product, s.Zone, "", "", "", "", err)
	}
	source := nsa.Source.String()
	if nsa.Source == nsarates.SourceContract {
		t.contract++
	} else {
		t.fallbacks[nsa.Fallback]++
		source += " (" + nsa.Fallback.String() + ")"
	}
	t.nsa += nsa.Price
	t.commercial += com.Price
	return fmt.Sprintf("%-12s %-36s %4s %8s %10s %10s %8s  %s\n", r.id, r.product, nsa.Zone, nsa.BillableWeight,
		nsa.Price, com.Price, com.Price-nsa.Price, source)
}

func (t *totals) print(w io.Writer, contract nsarates.TableInfo) {
	fmt.Fprintf(w, "\ncontract %s version %s\n", contract.ID, contract.Version)
	fmt.Fprintf(w, "rows              %10d\n", t.bad+t.shipments)
	fmt.Fprintf(w, "  bad             %10d\n", t.bad)
	fmt.Fprintf(w, "  ok (shipments)  %10d\n", t.shipments)
	fmt.Fprintf(w, "  at NSA rates    %10d\n", t.contract)
	for _, reason := range slices.Sorted(maps.Keys(t.fallbacks)) {
		fmt.Fprintf(w, "  fell back       %10d  %s\n", t.fallbacks[reason], reason)
	}
	fmt.Fprintf(w, "  not priced      %10d\n", t.failed)
	fmt.Fprintf(w, "NSA total         %10s\n", t.nsa)
	fmt.Fprintf(w, "commercial total  %10s\n", t.commercial)
	saving := t.commercial - t.nsa
	fmt.Fprintf(w, "saving            %10s  %s of commercial\n", saving, percent(saving, t.commercial))
}

// percent formats a/b with two decimals, rounded down, in integers.
func percent(a, b usps.Cents) string {
	if b <= 0 {
		return "-"
	}
	bp := int64(a) * 10000 / int64(b)
	sign := ""
	if bp < 0 {
		sign, bp = "-", -bp
	}
	return fmt.Sprintf("%s%d.%02d%%", sign, bp/100, bp%100)
}

func readTable(path string, sample []byte, stderr io.Writer) (*nsarates.Table, error) {
	in, _, closeIn, err := open(path, sample)
	if err != nil {
		return nil, err
	}
	defer closeIn()
	name := or(path, "sample table")
	br := bufio.NewReader(in)
	if skipBOM(br) {
		fmt.Fprintf(stderr, "%s: note: the file starts with a UTF-8 byte order mark (BOM); skipped it\n", name)
	}
	t, err := nsarates.ReadCSV(br)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, tableProblem(err))
	}
	return t, nil
}

// tableProblem restates an error of nsarates.ReadCSV by line and field
// name, with what to write instead where the parser says only "malformed".
func tableProblem(err error) error {
	var pe *nsarates.ParseError
	if !errors.As(err, &pe) {
		return err
	}
	var ne *usps.NumberError
	switch {
	case errors.Is(pe.Err, nsarates.ErrHeader) || pe.Line == 1:
		return fmt.Errorf("line 1: the header does not match; want\n\t%s", nsarates.CSVHeader)
	case errors.Is(pe.Err, csv.ErrFieldCount):
		return fmt.Errorf("line %d: wrong number of fields: want %d (%s)", pe.Line, strings.Count(nsarates.CSVHeader, ",")+1, nsarates.CSVHeader)
	case pe.Field == "":
		return fmt.Errorf("line %d: %v", pe.Line, pe.Err)
	case pe.Field == "zone" && errors.As(pe.Err, &ne):
		return fmt.Errorf("line %d, field zone: %w", pe.Line, zoneProblem(ne.Input))
	case pe.Field == "tier" && errors.As(pe.Err, &ne) && !strings.HasSuffix(ne.Input, "cuft"):
		return fmt.Errorf("line %d, field tier: %w (or a cubic tier such as \"0.5cuft\")", pe.Line, weightProblem(ne.Input, ne.Err))
	}
	return fmt.Errorf("line %d, field %s: %w", pe.Line, pe.Field, pe.Err)
}

// open opens path, or the sample when path is empty, and says its size.
func open(path string, sample []byte) (r io.Reader, size int64, closeFn func(), err error) {
	if path == "" {
		return bytes.NewReader(sample), int64(len(sample)), func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, err
	}
	return bufio.NewReaderSize(f, 1<<16), fi.Size(), func() { f.Close() }, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
