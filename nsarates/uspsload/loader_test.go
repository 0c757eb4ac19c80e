package uspsload_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/nsarates/uspsload"
	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

func TestLoadFull(t *testing.T) {
	srv := newFake(t)
	var logs bytes.Buffer
	l := newLoader(t, newClient(t, srv), func(c *uspsload.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})

	start := time.Now()
	res, err := l.Load(t.Context(), testPlan(), nil)
	require.NoError(t, err)
	t.Logf("loaded %d cells with %d calls in %v", res.Total, res.Calls, time.Since(start))

	want, wantMissing := expected(t)
	require.NotNil(t, res.Table)
	assert.Empty(t, nsarates.Compare(want, res.Table), "loaded table differs")
	assert.Equal(t, want.Info(), res.Table.Info())
	assert.Equal(t, 36, res.Table.Len())
	assert.Equal(t, wantMissing, res.Missing, "warning 001 cells are reported")
	for _, m := range res.Missing {
		_, ok := res.Table.Price(m.Cell)
		assert.False(t, ok, "published price of %v stored as a contract price", m.Cell)
	}
	assert.Equal(t, 60, res.Total)
	assert.Equal(t, 60, res.Done)
	assert.Equal(t, 60, res.Calls)
	assert.Equal(t, 60, res.Checkpoint.Calls)
	assert.Equal(t, 60, srv.Count(baseRates))

	// Every call asked for the account's contract price at the tier's upper
	// bound in the default box.
	for _, r := range srv.Requests() {
		if r.Path != "/prices/v3/base-rates/search" {
			continue
		}
		var q struct {
			AccountType, AccountNumber, PriceType string
			Length, Width, Height                 float64
		}
		require.NoError(t, json.Unmarshal(r.Body, &q))
		assert.Equal(t, "EPS", q.AccountType)
		assert.Equal(t, testEPS, q.AccountNumber)
		assert.Equal(t, "CONTRACT", q.PriceType)
		assert.Equal(t, []float64{6, 4, 2}, []float64{q.Length, q.Width, q.Height})
	}

	// Logs name the account by its last four digits only.
	assert.Contains(t, logs.String(), "******0001")
	assert.NotContains(t, logs.String(), testEPS)
	assert.Contains(t, logs.String(), "status=published")
}

// TestLoadResume stops a load mid-grid, by the client's budget or by
// MaxCalls, and resumes from the stored checkpoint until done: every cell
// is fetched exactly once.
func TestLoadResume(t *testing.T) {
	for _, tc := range []struct {
		name    string
		budget  int // client's WithBudget per hour; 0: none
		max     int // Config.MaxCalls
		runs    int
		errIs   error
		retryAt bool
	}{
		{name: "client budget", budget: 25, max: 1000, runs: 3, errIs: uspsbiz.ErrRateLimited, retryAt: true},
		{name: "max calls", max: 7, runs: 9, errIs: uspsload.ErrMaxCalls},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t, uspsbiztest.WithTime(time.Date(2026, 2, 2, 9, 0, 0, 0, time.UTC)))
			var opts []uspsbiz.Option
			if tc.budget > 0 {
				opts = append(opts, uspsbiz.WithBudget(uspsbiz.APIPrices, uspsbiz.Budget{PerHour: tc.budget}))
			}
			client := newClient(t, srv, opts...)
			var stored []byte // what the host persists
			saves := 0
			l := newLoader(t, client, func(c *uspsload.Config) {
				c.MaxCalls = tc.max
				c.Save = func(_ context.Context, cp *uspsload.Checkpoint) error {
					saves++
					var err error
					stored, err = json.Marshal(cp)
					return err
				}
			})

			var res *uspsload.Result
			var err error
			for run := 1; ; run++ {
				var cp *uspsload.Checkpoint
				if stored != nil {
					cp = new(uspsload.Checkpoint)
					require.NoError(t, json.Unmarshal(stored, cp))
				}
				res, err = l.Load(t.Context(), testPlan(), cp)
				if err == nil {
					require.Equal(t, tc.runs, run, "runs")
					break
				}
				require.NotNil(t, res, "a stopped run returns its Result")
				require.ErrorIs(t, err, tc.errIs)
				assert.Equal(t, tc.retryAt, !res.RetryAt.IsZero(), "RetryAt")
				assert.Equal(t, 60, res.Total)
				assert.Nil(t, res.Table)
				assert.Equal(t, srv.Count(baseRates), res.Done, "one call per cell done so far")
				require.Less(t, run, tc.runs, "too many runs")
				srv.Advance(time.Hour) // the budget refills
			}
			want, wantMissing := expected(t)
			assert.Empty(t, nsarates.Compare(want, res.Table))
			assert.ElementsMatch(t, wantMissing, res.Missing)
			assert.Equal(t, 60, srv.Count(baseRates), "no cell fetched twice")
			assert.Equal(t, 60, res.Checkpoint.Calls)
			assert.Equal(t, 60, saves)
			assertDistinctRequests(t, srv)
		})
	}
}

// assertDistinctRequests checks that no two price calls asked for the same
// cell.
func assertDistinctRequests(t *testing.T, srv *uspsbiztest.Server) {
	seen := map[string]bool{}
	for _, r := range srv.Requests() {
		if r.Path != "/prices/v3/base-rates/search" {
			continue
		}
		var q struct {
			MailClass          string
			DestinationZIPCode string
			Weight             json.Number
		}
		require.NoError(t, json.Unmarshal(r.Body, &q))
		k := q.MailClass + " " + q.DestinationZIPCode + " " + q.Weight.String()
		assert.False(t, seen[k], "fetched twice: %s", k)
		seen[k] = true
	}
}

func TestLoadStopsOnFailureAndCancel(t *testing.T) {
	srv := newFake(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var cp *uspsload.Checkpoint
	l := newLoader(t, newClient(t, srv), func(c *uspsload.Config) {
		c.Save = func(_ context.Context, saved *uspsload.Checkpoint) error {
			cp = saved
			if len(saved.Cells) == 10 {
				cancel() // the host shuts down
			}
			return nil
		}
	})

	res, err := l.Load(ctx, testPlan(), nil)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 10, res.Done)

	// USPS fails twice (the client retries once): the load stops, keeping
	// what it had.
	srv.InjectFault(uspsbiztest.Fault{Match: baseRates, Kind: uspsbiztest.FaultStatus, Status: http.StatusServiceUnavailable, Times: 2})
	res, err = l.Load(t.Context(), testPlan(), cp)
	var ae *uspsbiz.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusServiceUnavailable, ae.StatusCode)
	assert.Equal(t, 10, res.Done)

	res, err = l.Load(t.Context(), testPlan(), cp)
	require.NoError(t, err)
	want, _ := expected(t)
	assert.Empty(t, nsarates.Compare(want, res.Table))
	assert.Equal(t, 50, res.Fetched)
	assert.Equal(t, 62, srv.Count(baseRates), "60 cells and the two failed attempts")
	assertDistinctSuccess(t, srv)
}

// assertDistinctSuccess: the failed attempts aside, no cell was asked twice.
func assertDistinctSuccess(t *testing.T, srv *uspsbiztest.Server) {
	calls := map[string]int{}
	for _, r := range srv.Requests() {
		if r.Path == "/prices/v3/base-rates/search" {
			calls[string(r.Body)]++
		}
	}
	twice := 0
	for _, n := range calls {
		twice += n - 1
	}
	assert.Equal(t, 2, twice, "only the failed cell was asked again")
}

func TestLoadNoContractAndNoPrice(t *testing.T) {
	srv := newFake(t)
	srv.SetContractOnlyMailClasses("USPS_CONNECT_LOCAL")
	connect := nsarates.ProductKey{MailClass: "USPS_CONNECT_LOCAL", RateIndicator: "SP", ProcessingCategory: "MACHINABLE"}
	unknown := nsarates.ProductKey{MailClass: "PARCEL_SELECT", RateIndicator: "DN", ProcessingCategory: "MACHINABLE"}
	l := newLoader(t, newClient(t, srv), nil)
	plan := uspsload.Plan{Info: testInfo(), Products: []nsarates.ProductKey{connect, unknown, priority}, Zones: []nsarates.Zone{5}, Tiers: tiers[:1]}
	res, err := l.Load(t.Context(), plan, nil)
	require.NoError(t, err)
	tier := tiers[0]
	assert.Equal(t, []uspsload.CellResult{
		{Cell: nsarates.CellKey{Product: unknown, Zone: 5, Tier: tier}, Status: uspsload.StatusNoPrice},
		{Cell: nsarates.CellKey{Product: connect, Zone: 5, Tier: tier}, Status: uspsload.StatusNoContract},
	}, res.Missing)
	assert.Equal(t, 1, res.Table.Len())
	got, ok := res.Table.Price(nsarates.CellKey{Product: priority, Zone: 5, Tier: tier})
	assert.True(t, ok)
	assert.Equal(t, contract(0, 5, 0), got)
}

func TestLoadZoneMismatch(t *testing.T) {
	srv := newFake(t)
	l := newLoader(t, newClient(t, srv), func(c *uspsload.Config) {
		c.Zones[5] = uspsload.ZIPPair{Origin: "10001", Destination: "80001"} // zone 09 on the chart
	})
	res, err := l.Load(t.Context(), testPlan(), nil)
	var me *uspsload.MismatchError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, "zone", me.Field)
	assert.Equal(t, "09", me.Got)
	assert.Equal(t, nsarates.Zone(5), me.Cell.Zone)
	assert.Equal(t, 10, res.Done, "zones 01 and 02 of the first product")
	for _, c := range res.Checkpoint.Cells {
		assert.NotEqual(t, nsarates.Zone(5), c.Cell.Zone)
	}
}

func TestLoadCheckpointMismatch(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv)
	l := newLoader(t, c, func(c *uspsload.Config) { c.MaxCalls = 3 })
	res, err := l.Load(t.Context(), testPlan(), nil)
	require.ErrorIs(t, err, uspsload.ErrMaxCalls)
	cp := res.Checkpoint

	other := testPlan()
	other.Zones = zones[:2]
	_, err = l.Load(t.Context(), other, cp)
	require.ErrorIs(t, err, uspsload.ErrCheckpointMismatch)

	otherAccount, err := uspsload.New(c, uspsload.Config{Account: usps.EPSAccount(otherEPS), Zones: zonePairs(t), MaxCalls: 5})
	require.NoError(t, err)
	_, err = otherAccount.Load(t.Context(), testPlan(), cp)
	var ce *uspsload.CheckpointError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "account", ce.Field)

	// A checkpoint's identity may change (a new version of the table); its
	// cells stay valid.
	renamed := testPlan()
	renamed.Info.Version = "2026-02"
	res, err = l.Load(t.Context(), renamed, cp)
	require.ErrorIs(t, err, uspsload.ErrMaxCalls)
	assert.Equal(t, 6, res.Done)

	// A checkpoint naming a cell outside the plan is refused.
	forged := *cp
	forged.Cells = append(forged.Cells, uspsload.CellResult{Cell: nsarates.CellKey{Product: ground, Zone: 3, Tier: tiers[0]}, Status: uspsload.StatusContract, Price: 1})
	_, err = l.Load(t.Context(), testPlan(), &forged)
	require.ErrorIs(t, err, uspsload.ErrCheckpointMismatch)
	assert.Equal(t, 6, srv.Count(baseRates))
}

func TestConfigErrors(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv)
	good := func() uspsload.Config {
		return uspsload.Config{Account: usps.EPSAccount(testEPS), Zones: zonePairs(t), MaxCalls: 10}
	}
	for _, tc := range []struct {
		field string
		edit  func(*uspsload.Config)
	}{
		{"Account", func(c *uspsload.Config) { c.Account = "12345" }},
		{"Account", func(c *uspsload.Config) { c.Account = "1000-000001" }},
		{"Zones", func(c *uspsload.Config) { c.Zones = nil }},
		{"Zones", func(c *uspsload.Config) { c.Zones[0] = uspsload.ZIPPair{"10001", "10002"} }},
		{"Zones", func(c *uspsload.Config) { c.Zones[3] = uspsload.ZIPPair{"1000", "20001"} }},
		{"Box", func(c *uspsload.Config) { c.Box = uspsload.Box{Length: 10 * usps.Inch} }},
		{"MaxCalls", func(c *uspsload.Config) { c.MaxCalls = 0 }},
	} {
		cfg := good()
		tc.edit(&cfg)
		_, err := uspsload.New(c, cfg)
		var ce *uspsload.ConfigError
		require.ErrorAs(t, err, &ce, tc.field)
		assert.Equal(t, tc.field, ce.Field)
		assert.NotContains(t, err.Error(), "000001", "no EPS digits beyond the last four")
	}

	l := newLoader(t, c, nil)
	for _, tc := range []struct {
		field string
		edit  func(*uspsload.Plan)
	}{
		{"Plan", func(p *uspsload.Plan) { p.Products = nil }},
		{"Plan", func(p *uspsload.Plan) { p.Products = []nsarates.ProductKey{{MailClass: "priority"}} }},
		{"Plan.Zones", func(p *uspsload.Plan) { p.Zones = []nsarates.Zone{0} }},
		{"Plan.Tiers", func(p *uspsload.Plan) { p.Tiers = []nsarates.Tier{nsarates.CubicTier(3)} }},
		{"Plan.Info.Account", func(p *uspsload.Plan) { p.Info.Account = otherEPS }},
		{"Plan.Info", func(p *uspsload.Plan) { p.Info.ID = "" }},
	} {
		p := testPlan()
		tc.edit(&p)
		_, err := l.Load(t.Context(), p, nil)
		var ce *uspsload.ConfigError
		require.ErrorAs(t, err, &ce, tc.field)
		assert.Equal(t, tc.field, ce.Field)
	}
	assert.Zero(t, srv.Count(baseRates))
}

func TestSpotCheckFindsDrift(t *testing.T) {
	srv := newFake(t)
	l := newLoader(t, newClient(t, srv), nil)
	res, err := l.Load(t.Context(), testPlan(), nil)
	require.NoError(t, err)
	table := res.Table

	// Nothing changed: a sample matches.
	d, err := l.SpotCheck(t.Context(), table, 10, rand.New(rand.NewPCG(1, 2)))
	require.NoError(t, err)
	assert.Empty(t, d.Changed)
	assert.Empty(t, d.Missing)
	assert.Equal(t, 10, d.Checked)
	assert.Equal(t, 10, d.Calls)

	// USPS changes one contract price and drops the Priority Mail 10 lb
	// price of zone 09 from the contract.
	changed := nsarates.CellKey{Product: ground, Zone: 5, Tier: tiers[2]}
	dropped := nsarates.CellKey{Product: priority, Zone: 9, Tier: tiers[4]}
	require.NoError(t, srv.SetContractPrices(testEPS, driftedContract(changed, dropped)...))

	calls := srv.Count(baseRates)
	d, err = l.SpotCheck(t.Context(), table, 1000, nil) // every cell
	require.NoError(t, err)
	assert.Equal(t, 36, d.Checked)
	assert.Equal(t, []uspsload.CellResult{{Cell: changed, Status: uspsload.StatusContract, Price: contract(2, 5, 2) + 12}}, d.Changed)
	was, _ := table.Price(changed)
	assert.Equal(t, contract(2, 5, 2), was)
	assert.Equal(t, []uspsload.CellResult{{Cell: dropped, Status: uspsload.StatusPublished, Price: published(0, 9, 4)}}, d.Missing)
	assert.Equal(t, 36, srv.Count(baseRates)-calls)

	// MaxCalls bounds a spot check too.
	small := newLoader(t, newClient(t, srv), func(c *uspsload.Config) { c.MaxCalls = 5 })
	d, err = small.SpotCheck(t.Context(), table, 8, nil)
	require.ErrorIs(t, err, uspsload.ErrMaxCalls)
	assert.Equal(t, 5, d.Checked)

	_, err = l.SpotCheck(t.Context(), table, 0, nil)
	require.Error(t, err)
	other, err := table.Derive(nsarates.TableInfo{Account: otherEPS, ID: "x", Version: "1"}, nsarates.Discount{})
	require.NoError(t, err)
	_, err = l.SpotCheck(t.Context(), other, 3, nil)
	var ce *uspsload.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.NotContains(t, err.Error(), otherEPS)
}

// driftedContract is the contract of seedPrices with 12 cents more on
// cell changed and no row for cell dropped.
func driftedContract(changed, dropped nsarates.CellKey) []uspsbiztest.Price {
	price := func(p, z, ti int) usps.Cents {
		if (nsarates.CellKey{Product: products[p], Zone: nsarates.Zone(z), Tier: tiers[ti]}) == changed {
			return contract(p, z, ti) + 12
		}
		return contract(p, z, ti)
	}
	return priceRows(price, func(k nsarates.CellKey, p, ti int) bool { return underContract(p, ti) && k != dropped })
}

func TestStoppedErrorText(t *testing.T) {
	at := time.Date(2026, 2, 2, 10, 0, 0, 0, time.UTC)
	err := error(&uspsload.StoppedError{Done: 3, Total: 60, RetryAt: at, Err: uspsload.ErrMaxCalls})
	assert.Equal(t, "uspsload: stopped after 3 of 60 cells: uspsload: max calls for this run reached (retry at 2026-02-02T10:00:00Z)", err.Error())
	assert.True(t, errors.Is(err, uspsload.ErrMaxCalls))
	assert.Equal(t, "published", fmt.Sprint(uspsload.StatusPublished))
}
