package linking_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/internal/pgtest"
	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/memstore"
	"github.com/nsalink/nsalink/linking/sqlstore/postgres"
	"github.com/nsalink/nsalink/linking/sqlstore/sqlite"
	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/nsarates/uspsload"
	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// The contract file of epsActive: Priority Mail at 1, 2 and 4 lb (no 3 lb:
// a gap), from 2026-01-18 to 2027-01-17.
const contractCSV = nsarates.CSVHeader + `
table,1000000001,Priority Mail Contract 629,2026-01,2026-01-18,2027-01-17,,,,,,,,
cell,,,,,,PRIORITY_MAIL,SP,MACHINABLE,05,1lb,,,7.10
cell,,,,,,PRIORITY_MAIL,SP,MACHINABLE,05,2lb,,,8.05
cell,,,,,,PRIORITY_MAIL,SP,MACHINABLE,05,4lb,,,10.20
`

const commercialCSV = nsarates.CSVHeader + `
table,,Commercial,2026-01,2026-01-18,,,,,,,,,
cell,,,,,,PRIORITY_MAIL,SP,MACHINABLE,05,1lb,,,9.00
cell,,,,,,PRIORITY_MAIL,SP,MACHINABLE,05,2lb,,,11.40
cell,,,,,,PRIORITY_MAIL,SP,MACHINABLE,05,3lb,,,12.60
cell,,,,,,PRIORITY_MAIL,SP,MACHINABLE,05,4lb,,,13.75
`

var priorityKey = nsarates.ProductKey{MailClass: "PRIORITY_MAIL", RateIndicator: "SP", ProcessingCategory: "MACHINABLE"}

func readTable(t *testing.T, s string) *nsarates.Table {
	t.Helper()
	tab, err := nsarates.ReadCSV(strings.NewReader(s))
	require.NoError(t, err)
	return tab
}

// shipment is a Priority Mail parcel to zone 5 in March 2026.
func shipment(t *testing.T, p *nsarates.Pricer, w usps.Weight) nsarates.Shipment {
	id, err := p.Product(priorityKey)
	require.NoError(t, err)
	return nsarates.Shipment{Product: id, Zone: 5, Weight: w,
		Length: 10 * usps.Inch, Width: 8 * usps.Inch, Height: 6 * usps.Inch,
		Date: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}
}

// csvFiles is a ContractCSV opener over in-memory files, counting opens.
type csvFiles struct {
	files map[string]string
	opens atomic.Int32
}

func (f *csvFiles) open(_ context.Context, accountID string) (io.ReadCloser, error) {
	f.opens.Add(1)
	s, ok := f.files[accountID]
	if !ok {
		return nil, fmt.Errorf("no contract file for %s: %w", accountID, linking.ErrNotFound)
	}
	return io.NopCloser(strings.NewReader(s)), nil
}

func newPricer(t *testing.T) *nsarates.Pricer {
	p, err := nsarates.NewPricer()
	require.NoError(t, err)
	return p
}

func quote(t *testing.T, l *linking.Linker, p *nsarates.Pricer, s nsarates.Shipment) linking.Quote {
	t.Helper()
	q, err := l.Quote(t.Context(), p, account, s)
	require.NoError(t, err)
	return q
}

func TestTableReachesQuoteFromCSV(t *testing.T) {
	p := newPricer(t)
	files := &csvFiles{files: map[string]string{account: contractCSV}}
	e := newEnv(t, nil, linking.WithTables(p, linking.ContractCSV(files.open)))
	ctx := t.Context()
	require.NoError(t, e.linker.SetCommercialTable(ctx, readTable(t, commercialCSV)))
	s, err := linking.NewSyncer(ctx, e.linker)
	require.NoError(t, err)
	two := shipment(t, p, 2*usps.Pound)

	q := quote(t, e.linker, p, two)
	assert.Equal(t, linking.NotNSALinkNotActive, q.NotNSA)
	assert.Equal(t, usps.Cents(1140), q.Price, "the stored commercial table prices it")

	e.linkAccount(account)
	_, err = e.linker.SubmitCredentials(ctx, account, creds(epsActive))
	require.NoError(t, err)
	require.Equal(t, linking.StateActive, mustState(t, e, account))

	q = quote(t, e.linker, p, two)
	assert.Equal(t, linking.NotNSATableNotLoaded, q.NotNSA, "active, table not fetched yet")
	assert.Equal(t, nsarates.SourceCommercial, q.Source)
	assert.False(t, q.LinkNotActive)

	s.Step(ctx) // the activation is on the feed: the sync is queued
	assert.True(t, linking.Queued(e.linker, account))
	require.NoError(t, linking.SyncTable(ctx, e.linker, account))
	q = quote(t, e.linker, p, two)
	assert.Equal(t, linking.NotNSANone, q.NotNSA)
	assert.Equal(t, nsarates.SourceContract, q.Source)
	assert.Equal(t, usps.Cents(805), q.Price)

	st, err := e.linker.Status(ctx, account)
	require.NoError(t, err)
	require.NotNil(t, st.Table)
	assert.Equal(t, "Priority Mail Contract 629", st.Table.ID)
	assert.Equal(t, "2026-01", st.Table.Version)
	assert.True(t, st.Table.Loaded)
	assert.True(t, st.Table.Complete)
	assert.Equal(t, 3, st.Table.Done)
	assert.Equal(t, e.srv.Now().UTC().Truncate(time.Microsecond), st.Table.SyncedAt)

	// A second sync does nothing: the table is complete.
	require.NoError(t, linking.SyncTable(ctx, e.linker, account))
	assert.Equal(t, int32(1), files.opens.Load())

	// Outside the table's dates: its own reason.
	late := two
	late.Date = time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)
	q = quote(t, e.linker, p, late)
	assert.Equal(t, linking.NotNSAOutsideDates, q.NotNSA)
	assert.Equal(t, nsarates.SourceCommercial, q.Source)

	// The gap: no 3 lb contract tier. A 3-lb parcel is a missing cell at
	// published rates, never the 4-lb contract price.
	q = quote(t, e.linker, p, shipment(t, p, 3*usps.Pound))
	assert.Equal(t, linking.NotNSANotInTable, q.NotNSA)
	assert.Equal(t, nsarates.ReasonMissingCell, q.Fallback)
	assert.Equal(t, nsarates.SourceCommercial, q.Source)
	assert.Equal(t, usps.Cents(1260), q.Price)
	q = quote(t, e.linker, p, shipment(t, p, 4*usps.Pound))
	assert.Equal(t, nsarates.SourceContract, q.Source, "the 4-lb tier itself is priced")
	assert.Equal(t, usps.Cents(1020), q.Price)
	q = quote(t, e.linker, p, shipment(t, p, 2*usps.Pound+1))
	assert.Equal(t, nsarates.SourceCommercial, q.Source, "just over 2 lb is in the 3-lb hole")

	// The link leaves active: NSA stops at once in this process (no feed step).
	require.NoError(t, e.linker.Unlink(ctx, account, "user"))
	q = quote(t, e.linker, p, two)
	assert.Equal(t, linking.NotNSALinkNotActive, q.NotNSA)
	assert.Equal(t, nsarates.SourceCommercial, q.Source)
}

func TestContractFileForAnotherEPSIsRefused(t *testing.T) {
	p := newPricer(t)
	other := strings.Replace(contractCSV, "1000000001", "1000000009", 1)
	files := &csvFiles{files: map[string]string{account: other}}
	e := newEnv(t, nil, linking.WithTables(p, linking.ContractCSV(files.open)))
	ctx := t.Context()
	require.NoError(t, e.linker.SetCommercialTable(ctx, readTable(t, commercialCSV)))
	e.linkAccount(account)
	_, err := e.linker.SubmitCredentials(ctx, account, creds(epsActive))
	require.NoError(t, err)
	_, err = linking.NewSyncer(ctx, e.linker)
	require.NoError(t, err)
	err = linking.SyncTable(ctx, e.linker, account)
	require.ErrorContains(t, err, "EPS account …0009")
	require.NotContains(t, err.Error(), "1000000009", "only the last four digits")
	st, err := e.linker.Status(ctx, account)
	require.NoError(t, err)
	require.NotNil(t, st.Table)
	assert.False(t, st.Table.Loaded)
	assert.Contains(t, st.Table.LastError, "is not the link's")
	q := quote(t, e.linker, p, shipment(t, p, 2*usps.Pound))
	assert.Equal(t, linking.NotNSATableNotLoaded, q.NotNSA)

	require.ErrorContains(t, e.linker.SetContractTable(ctx, account, readTable(t, other)), "the link's is")
}

// countingStore counts GetLink calls.
type countingStore struct {
	linking.Store
	gets atomic.Int64
}

func (c *countingStore) GetLink(ctx context.Context, id string) (*linking.Link, error) {
	c.gets.Add(1)
	return c.Store.GetLink(ctx, id)
}

// PutTable and the rest of TableStore pass through.
func (c *countingStore) ts() linking.TableStore { return c.Store.(linking.TableStore) }
func (c *countingStore) PutTable(ctx context.Context, r *linking.TableRecord) (*linking.TableRecord, error) {
	return c.ts().PutTable(ctx, r)
}
func (c *countingStore) GetTable(ctx context.Context, k string) (*linking.TableRecord, error) {
	return c.ts().GetTable(ctx, k)
}
func (c *countingStore) ListTables(ctx context.Context) ([]*linking.TableRecord, error) {
	return c.ts().ListTables(ctx)
}
func (c *countingStore) DeleteTable(ctx context.Context, k string) error {
	return c.ts().DeleteTable(ctx, k)
}
func (c *countingStore) Changes(ctx context.Context, after int64, limit int) ([]linking.Change, error) {
	return c.ts().Changes(ctx, after, limit)
}
func (c *countingStore) LastChange(ctx context.Context) (int64, error) { return c.ts().LastChange(ctx) }

func TestWarmQuoteAndPaymentTokenReadNoStore(t *testing.T) {
	p := newPricer(t)
	cs := &countingStore{Store: memstore.New()}
	e := newEnv(t, cs, linking.WithTables(p, nil))
	ctx := t.Context()
	e.linkAccount(account)
	_, err := e.linker.SubmitCredentials(ctx, account, creds(epsActive))
	require.NoError(t, err)
	require.NoError(t, e.linker.SetContractTable(ctx, account, readTable(t, contractCSV)))
	two := shipment(t, p, 2*usps.Pound)

	// Without RunSync every call reads the Store.
	before := cs.gets.Load()
	quote(t, e.linker, p, two)
	assert.Equal(t, before+1, cs.gets.Load())

	_, err = linking.NewSyncer(ctx, e.linker)
	require.NoError(t, err)
	tok, _, err := e.linker.PaymentToken(ctx, account) // warms the cache
	require.NoError(t, err)
	q := quote(t, e.linker, p, two)
	require.Equal(t, nsarates.SourceContract, q.Source)
	before = cs.gets.Load()
	for range 100 {
		quote(t, e.linker, p, two)
		again, _, err := e.linker.PaymentToken(ctx, account)
		require.NoError(t, err)
		require.Equal(t, tok.Reveal(), again.Reveal())
	}
	assert.Equal(t, before, cs.gets.Load(), "warm: no store read")

	// The cached payment token is not used past its renewal time.
	e.srv.Advance(8 * time.Hour)
	renewed, _, err := e.linker.PaymentToken(ctx, account)
	require.NoError(t, err)
	assert.NotEqual(t, tok.Reveal(), renewed.Reveal())
	assert.Greater(t, cs.gets.Load(), before)
}

func mustState(t *testing.T, e *env, acct string) linking.State {
	st, _ := e.state(acct)
	return st
}

// reopenable opens store handles ("processes") on one database, again and
// again: a restart is a new handle on the same data.
func reopenable(t *testing.T) map[string]func(t *testing.T) linking.Store {
	return map[string]func(t *testing.T) linking.Store{
		"sqlite": func() func(t *testing.T) linking.Store {
			var path string
			return func(t *testing.T) linking.Store {
				if path == "" {
					path = filepath.Join(t.TempDir(), "links.db")
				}
				s, err := sqlite.Open(t.Context(), path)
				require.NoError(t, err)
				t.Cleanup(func() { s.Close() })
				return s
			}
		}(),
		"postgres": func() func(t *testing.T) linking.Store {
			var dsn string
			return func(t *testing.T) linking.Store {
				if dsn == "" {
					dsn = pgtest.DSN(t)
				}
				s, err := postgres.Open(t.Context(), dsn)
				require.NoError(t, err)
				s.DB().SetMaxOpenConns(4)
				t.Cleanup(func() { s.Close() })
				return s
			}
		}(),
	}
}

// The USPS sync: a plan of 1 product × 2 zones × 3 tiers; the 3-lb tier is
// not under contract (USPS answers with warning 001).
func uspsTables(t *testing.T, maxCalls int) linking.TableSource {
	src, err := linking.ContractFromUSPS(linking.USPSTables{
		Plan: uspsload.Plan{
			Info:     nsarates.TableInfo{ID: "Contract 629", Version: "2026-11"},
			Products: []nsarates.ProductKey{priorityKey},
			Zones:    []nsarates.Zone{1, 5},
			Tiers:    []nsarates.Tier{nsarates.WeightTier(usps.Pound), nsarates.WeightTier(2 * usps.Pound), nsarates.WeightTier(3 * usps.Pound)},
		},
		Zones:          map[nsarates.Zone]uspsload.ZIPPair{1: {Origin: "10001", Destination: "10099"}, 5: {Origin: "10001", Destination: "40001"}},
		MaxCallsPerRun: maxCalls,
	})
	require.NoError(t, err)
	return src
}

func seedGrid(t *testing.T, srv *uspsbiztest.Server) {
	require.Equal(t, "05", uspsbiztest.Zone("10001", "40001"))
	row := func(zone string, lb int, price string) uspsbiztest.Price {
		return uspsbiztest.Price{MailClass: "PRIORITY_MAIL", RateIndicator: "SP", ProcessingCategory: "MACHINABLE",
			Zone: zone, MaxWeight: usps.Weight(lb) * usps.Pound, Price: price}
	}
	require.NoError(t, srv.SetContractPrices(epsActive,
		row("01", 1, "6.10"), row("01", 2, "7.20"), row("05", 1, "7.10"), row("05", 2, "8.05"),
		// The activation probe's parcel (1 lb, 10001 → 94105).
		uspsbiztest.Price{MailClass: "PRIORITY_MAIL", Zone: uspsbiztest.Zone("10001", "94105"), MaxWeight: usps.Pound, Price: "8.05"},
	))
	require.NoError(t, srv.SetPublishedPrices(row("01", 3, "12.00"), row("05", 3, "12.60"),
		uspsbiztest.Price{MailClass: "PRIORITY_MAIL", Price: "11.50"}))
}

const baseRatesCall = "POST /prices/v3/base-rates/search"

func TestUSPSSyncResumesAcrossInstancesAndSurvivesRestart(t *testing.T) {
	for name, open := range reopenable(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			e := newEnv(t, open(t))
			seedGrid(t, e.srv)
			e.linkAccount(account)
			_, err := e.linker.SubmitCredentials(ctx, account, creds(epsActive))
			require.NoError(t, err)
			require.Equal(t, linking.StateActive, mustState(t, e, account))
			e.srv.ResetRequests()

			// Instance A's run stops after 4 of the 6 cells (its per-run cap).
			pa := newPricer(t)
			a := e.newLinker(open(t), linking.WithTables(pa, uspsTables(t, 4)))
			require.NoError(t, a.SetCommercialTable(ctx, readTable(t, commercialCSV)))
			_, err = linking.NewSyncer(ctx, a)
			require.NoError(t, err)
			err = linking.SyncTable(ctx, a, account)
			require.ErrorIs(t, err, uspsload.ErrMaxCalls)
			require.Equal(t, 4, e.srv.Count(baseRatesCall))
			st, err := a.Status(ctx, account)
			require.NoError(t, err)
			require.NotNil(t, st.Table)
			assert.False(t, st.Table.Complete)
			assert.Equal(t, 4, st.Table.Done)
			assert.Equal(t, 6, st.Table.Total)
			// The prices loaded so far apply; the rest says partial.
			q, err := a.Quote(ctx, pa, account, zone(shipment(t, pa, usps.Pound), 1))
			require.NoError(t, err)
			assert.Equal(t, nsarates.SourceContract, q.Source)
			assert.Equal(t, usps.Cents(610), q.Price)
			q, err = a.Quote(ctx, pa, account, shipment(t, pa, 2*usps.Pound))
			require.NoError(t, err)
			assert.Equal(t, linking.NotNSATablePartial, q.NotNSA)

			// Instance B resumes from the stored checkpoint: 2 more calls.
			pb := newPricer(t)
			b := e.newLinker(open(t), linking.WithTables(pb, uspsTables(t, 4)))
			_, err = linking.NewSyncer(ctx, b)
			require.NoError(t, err)
			require.NoError(t, linking.SyncTable(ctx, b, account))
			require.Equal(t, 6, e.srv.Count(baseRatesCall), "no cell fetched twice")
			q, err = b.Quote(ctx, pb, account, shipment(t, pb, 2*usps.Pound))
			require.NoError(t, err)
			assert.Equal(t, nsarates.SourceContract, q.Source)
			assert.Equal(t, usps.Cents(805), q.Price)
			// Warning 001 on the 3-lb cells: never a contract price.
			q, err = b.Quote(ctx, pb, account, shipment(t, pb, 3*usps.Pound))
			require.NoError(t, err)
			assert.Equal(t, linking.NotNSANotInTable, q.NotNSA)
			assert.NotEqual(t, nsarates.SourceContract, q.Source)

			// Every instance restarts: new handles, new Linkers, new Pricers.
			pc := newPricer(t)
			c := e.newLinker(open(t), linking.WithTables(pc, uspsTables(t, 4)))
			_, err = linking.NewSyncer(ctx, c)
			require.NoError(t, err)
			require.NoError(t, linking.SyncTable(ctx, c, account))
			q, err = c.Quote(ctx, pc, account, shipment(t, pc, 2*usps.Pound))
			require.NoError(t, err)
			assert.Equal(t, nsarates.SourceContract, q.Source, "the table came back from the Store")
			assert.Equal(t, usps.Cents(805), q.Price)
			assert.Equal(t, 6, e.srv.Count(baseRatesCall), "no USPS call to get it back")
			st, err = c.Status(ctx, account)
			require.NoError(t, err)
			assert.True(t, st.Table.Complete)
			assert.Equal(t, "Contract 629", st.Table.ID)
		})
	}
}

func zone(s nsarates.Shipment, z nsarates.Zone) nsarates.Shipment {
	s.Zone = z
	return s
}

// Two instances on one database: B caches an active link; A unlinks it; B
// stops NSA pricing after reading the feed (one step; on PostgreSQL RunSync
// is woken by NOTIFY well before its poll).
func TestLeavingActiveStopsNSAOnEveryInstance(t *testing.T) {
	for name, open := range reopenable(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			e := newEnv(t, open(t))
			e.linkAccount(account)
			_, err := e.linker.SubmitCredentials(ctx, account, creds(epsActive))
			require.NoError(t, err)
			pa, pb := newPricer(t), newPricer(t)
			a := e.newLinker(open(t), linking.WithTables(pa, nil))
			b := e.newLinker(open(t), linking.WithTables(pb, nil), linking.WithCacheStaleness(time.Minute))
			require.NoError(t, a.SetContractTable(ctx, account, readTable(t, contractCSV)))
			require.NoError(t, a.SetCommercialTable(ctx, readTable(t, commercialCSV)))
			sb, err := linking.NewSyncer(ctx, b)
			require.NoError(t, err)
			q, err := b.Quote(ctx, pb, account, shipment(t, pb, 2*usps.Pound))
			require.NoError(t, err)
			require.Equal(t, nsarates.SourceContract, q.Source)

			require.NoError(t, a.Unlink(ctx, account, "user"))
			sb.Step(ctx)
			q, err = b.Quote(ctx, pb, account, shipment(t, pb, 2*usps.Pound))
			require.NoError(t, err)
			assert.Equal(t, linking.NotNSALinkNotActive, q.NotNSA)
			assert.Equal(t, nsarates.SourceCommercial, q.Source)
		})
	}
}

func TestNotifyWakesRunSyncOnPostgres(t *testing.T) {
	ctx := t.Context()
	open := reopenable(t)["postgres"]
	e := newEnv(t, open(t))
	e.linkAccount(account)
	_, err := e.linker.SubmitCredentials(ctx, account, creds(epsActive))
	require.NoError(t, err)
	pa, pb := newPricer(t), newPricer(t)
	a := e.newLinker(open(t), linking.WithTables(pa, nil))
	// A one-minute staleness: RunSync polls every 30 s, so only a NOTIFY
	// can bring the change within the test's bound.
	b := e.newLinker(open(t), linking.WithTables(pb, nil), linking.WithCacheStaleness(time.Minute))
	require.NoError(t, a.SetContractTable(ctx, account, readTable(t, contractCSV)))
	require.NoError(t, a.SetCommercialTable(ctx, readTable(t, commercialCSV)))
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.RunSync(rctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	two := shipment(t, pb, 2*usps.Pound)
	waitFor(t, 10*time.Second, func() bool {
		q, err := b.Quote(ctx, pb, account, two)
		return err == nil && q.Source == nsarates.SourceContract
	})
	require.NoError(t, a.Unlink(ctx, account, "user"))
	waitFor(t, 10*time.Second, func() bool {
		q, err := b.Quote(ctx, pb, account, two)
		return err == nil && q.NotNSA == linking.NotNSALinkNotActive
	})
}

// waitFor polls cond until it holds or the bound (far above the expected
// milliseconds) passes.
func waitFor(t *testing.T, bound time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", bound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCommercialTableFromUSPS(t *testing.T) {
	ctx := t.Context()
	store := memstore.New()
	e := newEnv(t, store)
	row := func(zone string, lb int, price string) uspsbiztest.Price {
		return uspsbiztest.Price{MailClass: "PRIORITY_MAIL", RateIndicator: "SP", ProcessingCategory: "MACHINABLE",
			Zone: zone, MaxWeight: usps.Weight(lb) * usps.Pound, Price: price}
	}
	require.NoError(t, e.srv.SetPublishedPrices(row("01", 1, "9.10"), row("01", 2, "10.20"), row("01", 3, "11.30"),
		row("05", 1, "9.50"), row("05", 2, "11.40"), row("05", 3, "12.60")))
	cfg := linking.USPSTables{
		Plan: uspsload.Plan{Info: nsarates.TableInfo{ID: "USPS Commercial", Version: "2026-11"},
			Products: []nsarates.ProductKey{priorityKey}, Zones: []nsarates.Zone{1, 5},
			Tiers: []nsarates.Tier{nsarates.WeightTier(usps.Pound), nsarates.WeightTier(2 * usps.Pound), nsarates.WeightTier(3 * usps.Pound)}},
		Zones:          map[nsarates.Zone]uspsload.ZIPPair{1: {Origin: "10001", Destination: "10099"}, 5: {Origin: "10001", Destination: "40001"}},
		MaxCallsPerRun: 4,
	}
	e.srv.ResetRequests()
	a := e.newLinker(store, linking.WithTables(newPricer(t), nil))
	require.ErrorIs(t, a.SyncCommercialTable(ctx, cfg), uspsload.ErrMaxCalls)
	rec, err := store.(linking.TableStore).GetTable(ctx, linking.TableKeyCommercial)
	require.NoError(t, err)
	assert.False(t, rec.Complete)
	assert.Equal(t, 4, rec.Done)
	assert.Equal(t, 6, rec.Total)

	b := e.newLinker(store, linking.WithTables(newPricer(t), nil))
	require.NoError(t, b.SyncCommercialTable(ctx, cfg))
	require.NoError(t, b.SyncCommercialTable(ctx, cfg), "complete: nothing to do")
	assert.Equal(t, 6, e.srv.Count(baseRatesCall), "each cell fetched once, across two instances")

	// A restarted instance prices at USPS's published price, with no call.
	p := newPricer(t)
	c := e.newLinker(store, linking.WithTables(p, nil))
	_, err = linking.NewSyncer(ctx, c)
	require.NoError(t, err)
	q, err := c.Quote(ctx, p, "acct-never-linked", shipment(t, p, 2*usps.Pound))
	require.NoError(t, err)
	assert.Equal(t, nsarates.SourceCommercial, q.Source)
	assert.Equal(t, usps.Cents(1140), q.Price)
	assert.Equal(t, "USPS Commercial", q.TableID)
	assert.Equal(t, 6, e.srv.Count(baseRatesCall))

	require.ErrorContains(t, c.SyncCommercialTable(ctx, linking.USPSTables{}), "want a plan")
}

// The customer moves their link to another EPS account: the table of the
// old one is replaced, never kept as "complete" for the new one.
func TestNewEPSAccountGetsItsOwnTable(t *testing.T) {
	p := newPricer(t)
	achCSV := strings.Replace(contractCSV, "1000000001", epsACH, 1)
	achCSV = strings.Replace(achCSV, "2lb,,,8.05", "2lb,,,7.95", 1)
	files := &csvFiles{files: map[string]string{account: contractCSV}}
	e := newEnv(t, nil, linking.WithTables(p, linking.ContractCSV(files.open)))
	ctx := t.Context()
	require.NoError(t, e.linker.SetCommercialTable(ctx, readTable(t, commercialCSV)))
	s, err := linking.NewSyncer(ctx, e.linker)
	require.NoError(t, err)
	e.linkAccount(account)
	_, err = e.linker.SubmitCredentials(ctx, account, creds(epsActive))
	require.NoError(t, err)
	require.NoError(t, linking.SyncTable(ctx, e.linker, account))
	two := shipment(t, p, 2*usps.Pound)
	require.Equal(t, usps.Cents(805), quote(t, e.linker, p, two).Price)

	// The EPS account with pending ACH is verified, and the customer
	// switches the link to it; the platform has its contract file too.
	require.NoError(t, e.srv.VerifyMicroDebits(epsACH, 17, 42))
	_, err = e.linker.SubmitCredentials(ctx, account, creds(epsACH))
	require.NoError(t, err)
	require.Equal(t, linking.StateActive, mustState(t, e, account))
	q := quote(t, e.linker, p, two)
	assert.Equal(t, linking.NotNSATableNotLoaded, q.NotNSA, "the old account's table does not apply")

	files.files[account] = achCSV
	s.Step(ctx)
	assert.True(t, linking.Queued(e.linker, account), "a complete table of another EPS account is re-synced")
	require.NoError(t, linking.SyncTable(ctx, e.linker, account))
	q = quote(t, e.linker, p, two)
	assert.Equal(t, nsarates.SourceContract, q.Source)
	assert.Equal(t, usps.Cents(795), q.Price)
}

func TestStoreTableRefusesTheWrongKind(t *testing.T) {
	ctx := t.Context()
	store := memstore.New().(linking.TableStore)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	contract, commercial := readTable(t, contractCSV), readTable(t, commercialCSV)
	require.ErrorContains(t, linking.StoreTable(ctx, store, "acct-1", nil, now), "nil table")
	require.ErrorContains(t, linking.StoreTable(ctx, store, "acct-1", commercial, now), "needs TableInfo.Account")
	require.ErrorContains(t, linking.StoreTable(ctx, store, "", contract, now), "has no TableInfo.Account")
	recs, err := store.ListTables(ctx)
	require.NoError(t, err)
	require.Empty(t, recs)

	require.NoError(t, linking.StoreTable(ctx, store, "acct-1", contract, now))
	require.NoError(t, linking.StoreTable(ctx, store, "", commercial, now))
	rec, err := store.GetTable(ctx, linking.TableKeyContract("acct-1"))
	require.NoError(t, err)
	require.Equal(t, "acct-1", rec.AccountID)
	require.True(t, rec.Complete)
	require.Equal(t, contract.Len(), rec.Done)
	require.True(t, now.Equal(rec.SyncedAt))
	rec, err = store.GetTable(ctx, linking.TableKeyCommercial)
	require.NoError(t, err)
	require.Empty(t, rec.AccountID)
	require.Equal(t, commercial.Len(), rec.Total)
}

// A contract table stored before its link exists cannot install (the
// record does not keep the EPS account); once the link is active with its
// EPS account, the link's change installs it.
func TestTableStoredBeforeTheLinkInstallsOnceItIsActive(t *testing.T) {
	p := newPricer(t)
	e := newEnv(t, nil, linking.WithTables(p, nil))
	ctx := t.Context()
	require.NoError(t, e.linker.SetCommercialTable(ctx, readTable(t, commercialCSV)))
	require.NoError(t, e.linker.SetContractTable(ctx, account, readTable(t, contractCSV)))
	s, err := linking.NewSyncer(ctx, e.linker)
	require.NoError(t, err)
	assert.Contains(t, e.logs.String(), "contract table without an EPS account")
	_, ok := p.Contract(epsActive)
	assert.False(t, ok, "no link, no EPS account: not installed")

	e.linkAccount(account)
	_, err = e.linker.SubmitCredentials(ctx, account, creds(epsActive))
	require.NoError(t, err)
	s.Step(ctx)
	_, ok = p.Contract(epsActive)
	require.True(t, ok, "installed with the link's EPS account")
	q := quote(t, e.linker, p, shipment(t, p, 2*usps.Pound))
	assert.Equal(t, nsarates.SourceContract, q.Source)
	assert.Equal(t, usps.Cents(805), q.Price)
}
