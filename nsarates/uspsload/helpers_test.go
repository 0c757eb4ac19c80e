package uspsload_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/nsarates/uspsload"
	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

const (
	testClientID = "loader-platform"
	testSecret   = "loader-secret-9c1d"
	testEPS      = "1000000001"
	otherEPS     = "1000000002"
	baseRates    = "POST /prices/v3/base-rates/search"
)

var (
	ground   = nsarates.ProductKey{MailClass: "USPS_GROUND_ADVANTAGE", RateIndicator: "SP", ProcessingCategory: "MACHINABLE"}
	priority = nsarates.ProductKey{MailClass: "PRIORITY_MAIL", RateIndicator: "SP", ProcessingCategory: "MACHINABLE"}
	express  = nsarates.ProductKey{MailClass: "PRIORITY_MAIL_EXPRESS", RateIndicator: "PA", ProcessingCategory: "MACHINABLE"}

	// The grid: 3 products × 4 zones × 5 tiers = 60 cells, 36 of them
	// under contract. Products are in canonical order, the fetch order.
	products = []nsarates.ProductKey{priority, express, ground}
	zones    = []nsarates.Zone{1, 2, 5, 9}
	tiers    = []nsarates.Tier{
		nsarates.WeightTier(8 * usps.Ounce), nsarates.WeightTier(usps.Pound), nsarates.WeightTier(2 * usps.Pound),
		nsarates.WeightTier(5 * usps.Pound), nsarates.WeightTier(10 * usps.Pound),
	}
	// groundContractTiers: Ground Advantage is under contract up to 5 lb
	// only, so its 10 lb cells come back with warning 001.
	groundContractTiers = 4
)

// zonePairs gives a ZIP pair per zone of the fake's chart: origin 10001,
// destinations chosen by uspsbiztest.Zone's rule (checked in the test).
func zonePairs(t testing.TB) map[nsarates.Zone]uspsload.ZIPPair {
	m := map[nsarates.Zone]uspsload.ZIPPair{1: {"10001", "10099"}, 2: {"10001", "11001"}}
	for z := nsarates.Zone(3); z <= 9; z++ {
		m[z] = uspsload.ZIPPair{Origin: "10001", Destination: fmt.Sprintf("%d0001", z-1)}
	}
	for z, p := range m {
		require.Equal(t, z.String(), uspsbiztest.Zone(p.Origin, p.Destination), "zone %s", z)
	}
	return m
}

// published is the fake's commercial price of a cell; contract is the
// account's NSA price: 15 % off, rounded down to the cent.
func published(p, z, ti int) usps.Cents { return usps.Cents(500 + 150*p + 35*z + 120*ti) }
func contract(p, z, ti int) usps.Cents  { return published(p, z, ti) * 85 / 100 }

// underContract reports whether the fake's contract covers grid cell
// (product p, tier ti): Ground Advantage up to 5 lb and Priority Mail.
func underContract(p, ti int) bool {
	return products[p] == priority || (products[p] == ground && ti < groundContractTiers)
}

// priceRows lists a fake price row for each grid cell that keep accepts,
// priced by price.
func priceRows(price func(p, z, ti int) usps.Cents, keep func(k nsarates.CellKey, p, ti int) bool) []uspsbiztest.Price {
	var rows []uspsbiztest.Price
	for p, prod := range products {
		for _, z := range zones {
			for ti, tier := range tiers {
				if !keep(nsarates.CellKey{Product: prod, Zone: z, Tier: tier}, p, ti) {
					continue
				}
				rows = append(rows, uspsbiztest.Price{
					MailClass: prod.MailClass, RateIndicator: prod.RateIndicator, ProcessingCategory: prod.ProcessingCategory,
					Zone: z.String(), MaxWeight: usps.Weight(tier.Max), Price: price(p, int(z), ti).String(),
				})
			}
		}
	}
	return rows
}

// seedPrices fills the fake's tables: published rows for every cell,
// contract rows for the cells underContract.
func seedPrices(t testing.TB, srv *uspsbiztest.Server) {
	require.NoError(t, srv.SetPublishedPrices(priceRows(published, func(nsarates.CellKey, int, int) bool { return true })...))
	require.NoError(t, srv.SetContractPrices(testEPS, priceRows(contract, func(_ nsarates.CellKey, p, ti int) bool { return underContract(p, ti) })...))
}

// expected is the table a full load must build, and the cells it must
// report as published.
func expected(t testing.TB) (*nsarates.Table, []uspsload.CellResult) {
	info := testInfo()
	info.Account = testEPS // Load fills it in from the loader's account
	b := nsarates.NewBuilder(info)
	var missing []uspsload.CellResult
	for p, prod := range products {
		for _, z := range zones {
			for ti, tier := range tiers {
				k := nsarates.CellKey{Product: prod, Zone: z, Tier: tier}
				if !underContract(p, ti) {
					missing = append(missing, uspsload.CellResult{Cell: k, Status: uspsload.StatusPublished, Price: published(p, int(z), ti)})
					continue
				}
				require.NoError(t, b.SetCell(k, contract(p, int(z), ti)))
			}
		}
	}
	tab, err := b.Build()
	require.NoError(t, err)
	return tab, missing
}

func testInfo() nsarates.TableInfo {
	return nsarates.TableInfo{ID: "Contract 629", Version: "2026-01", EffectiveFrom: time.Date(2026, 1, 18, 0, 0, 0, 0, time.UTC)}
}

func testPlan() uspsload.Plan {
	return uspsload.Plan{Info: testInfo(), Products: products, Zones: zones, Tiers: tiers}
}

// newFake starts the fake USPS with an app, a business account whose EPA
// is testEPS, and the price tables.
func newFake(t testing.TB, opts ...uspsbiztest.Option) *uspsbiztest.Server {
	base := []uspsbiztest.Option{
		uspsbiztest.WithApp(uspsbiztest.App{ClientID: testClientID, ClientSecret: testSecret, RedirectURIs: []string{"https://platform.example/cb"}}),
		uspsbiztest.WithBusinessAccount(uspsbiztest.BusinessAccount{Username: "acme", Password: "pw-3141", CRID: "56781234",
			EPAs: []uspsbiztest.EPA{{AccountNumber: testEPS}}}),
	}
	srv := uspsbiztest.NewServer(t, append(base, opts...)...)
	seedPrices(t, srv)
	return srv
}

func newClient(t testing.TB, srv *uspsbiztest.Server, opts ...uspsbiz.Option) *uspsbiz.Client {
	base := []uspsbiz.Option{
		uspsbiz.WithEnvironment(uspsbiz.Environment(srv.URL)),
		uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: testClientID, ClientSecret: testSecret}),
		uspsbiz.WithClock(srv.Now),
		uspsbiz.WithRetryPolicy(uspsbiz.RetryPolicy{MaxRetries: 1, MinWait: time.Millisecond, MaxWait: 2 * time.Millisecond, MaxRetryAfter: 10 * time.Millisecond}),
	}
	c, err := uspsbiz.New(append(base, opts...)...)
	require.NoError(t, err)
	return c
}

func newLoader(t testing.TB, c *uspsbiz.Client, edit func(*uspsload.Config)) *uspsload.Loader {
	cfg := uspsload.Config{Account: usps.EPSAccount(testEPS), Zones: zonePairs(t), MaxCalls: 1000}
	if edit != nil {
		edit(&cfg)
	}
	l, err := uspsload.New(c, cfg)
	require.NoError(t, err)
	return l
}
