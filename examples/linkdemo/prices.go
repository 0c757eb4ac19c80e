package main

import (
	_ "embed"
	"strings"
	"time"

	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// commercialCSV is the demo's published Priority Mail table (made-up prices).
//
//go:embed rates/commercial.csv
var commercialCSV string

// nsaDiscount is how far below commercial the demo's NSA contract prices are.
const nsaDiscount = 1800 // basis points: 18% off

var sampleProduct = nsarates.ProductKey{MailClass: "PRIORITY_MAIL", RateIndicator: "SP", ProcessingCategory: "MACHINABLE"}

// rateBook holds the platform's rate tables: published commercial prices and
// one NSA contract table per EPS account whose contract the platform holds.
type rateBook struct {
	pricer     *nsarates.Pricer
	commercial *nsarates.Table
	sample     nsarates.Shipment // the label the pages quote
}

func newRateBook() (*rateBook, error) {
	commercial, err := nsarates.ReadCSV(strings.NewReader(commercialCSV))
	if err != nil {
		return nil, err
	}
	// The tables reach the pricer through the Linker (glue.go): the
	// commercial one from this file, contract ones from USPS.
	pricer, err := nsarates.NewPricer()
	if err != nil {
		return nil, err
	}
	product, err := pricer.Product(sampleProduct)
	if err != nil {
		return nil, err
	}
	return &rateBook{pricer: pricer, commercial: commercial, sample: nsarates.Shipment{
		Product: product, Zone: 8, Weight: 2 * usps.Pound,
		Length: 10 * usps.Inch, Width: 8 * usps.Inch, Height: 6 * usps.Inch,
	}}, nil
}

// sampleLabel describes rateBook.sample.
const sampleLabel = "Priority Mail, 2 lb, 10×8×6 in, zone 8"

// contract is the demo NSA table of an EPS account.
func (b *rateBook) contract(eps string) (*nsarates.Table, error) {
	return b.commercial.Derive(nsarates.TableInfo{Account: eps, ID: "Priority Mail Contract - demo", Version: "2026-01"},
		nsarates.Discount{BasisPoints: nsaDiscount})
}

// commercialQuote prices the sample label at published prices.
func (b *rateBook) commercialQuote() (nsarates.Quote, error) {
	s := b.sample
	s.Date = time.Now()
	return b.pricer.Quote(s)
}

// fakeRows turns a table into the fake USPS's price rows, so that the fake
// answers the same prices the platform's tables hold.
func fakeRows(t *nsarates.Table) []uspsbiztest.Price {
	var rows []uspsbiztest.Price
	for c := range t.Cells() {
		if c.Tier.Kind != nsarates.WeightTiers {
			continue // the demo's tables have weight tiers only
		}
		rows = append(rows, uspsbiztest.Price{
			MailClass: c.Product.MailClass, RateIndicator: c.Product.RateIndicator,
			ProcessingCategory: c.Product.ProcessingCategory, Zone: c.Zone.String(),
			MaxWeight: usps.Weight(c.Tier.Max), Price: c.Price.String(),
		})
	}
	return rows
}
