package linking_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/memstore"
	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/usps"
)

// faultyFeed is a memstore whose change feed can fail or be scripted.
type faultyFeed struct {
	countingStore
	mu   sync.Mutex
	err  error          // Changes fails with it
	hide map[int64]bool // entries not visible yet
	// real is the feed behind the faults (replaceable by a test).
	real func(context.Context, int64, int) ([]linking.Change, error)
}

func newFaultyFeed() *faultyFeed {
	f := &faultyFeed{hide: map[int64]bool{}}
	f.Store = memstore.New()
	f.real = f.countingStore.Changes
	return f
}

func (f *faultyFeed) Changes(ctx context.Context, after int64, limit int) ([]linking.Change, error) {
	f.mu.Lock()
	err, hide := f.err, f.hide
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	all, err := f.real(ctx, after, limit)
	var out []linking.Change
	for _, c := range all {
		if !hide[c.Seq] {
			out = append(out, c)
		}
	}
	return out, err
}

func (f *faultyFeed) set(err error, hide ...int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err, f.hide = err, map[int64]bool{}
	for _, s := range hide {
		f.hide[s] = true
	}
}

// activeWithTables is an env whose account is active with its contract
// table, quoted once through a running syncer (cache warm).
func activeWithTables(t *testing.T, store linking.Store) (*env, *linking.Syncer, *nsarates.Pricer, nsarates.Shipment) {
	p := newPricer(t)
	e := newEnv(t, store, linking.WithTables(p, nil), linking.WithCacheStaleness(time.Second))
	ctx := t.Context()
	e.linkAccount(account)
	_, err := e.linker.SubmitCredentials(ctx, account, creds(epsActive))
	require.NoError(t, err)
	require.NoError(t, e.linker.SetContractTable(ctx, account, readTable(t, contractCSV)))
	require.NoError(t, e.linker.SetCommercialTable(ctx, readTable(t, commercialCSV)))
	s, err := linking.NewSyncer(ctx, e.linker)
	require.NoError(t, err)
	two := shipment(t, p, 2*usps.Pound)
	require.Equal(t, nsarates.SourceContract, quote(t, e.linker, p, two).Source)
	return e, s, p, two
}

func TestFeedOutageTurnsTheCacheOffAfterTheBound(t *testing.T) {
	f := newFaultyFeed()
	e, s, p, two := activeWithTables(t, f)
	ctx := t.Context()

	f.set(errors.New("database down"))
	s.Step(ctx)
	before := f.gets.Load()
	quote(t, e.linker, p, two)
	assert.Equal(t, before, f.gets.Load(), "within the bound the cache still serves")

	e.srv.Advance(2 * time.Second) // past the 1 s staleness bound
	s.Step(ctx)
	quote(t, e.linker, p, two)
	assert.Equal(t, before+1, f.gets.Load(), "past the bound every quote reads the Store")
	quote(t, e.linker, p, two)
	assert.Equal(t, before+2, f.gets.Load())

	f.set(nil)
	s.Step(ctx) // the feed is back: start over, cache on
	restarted := f.gets.Load()
	assert.Equal(t, before+3, restarted, "reinstalling the contract table reads its link once (its EPS account)")
	quote(t, e.linker, p, two)
	quote(t, e.linker, p, two)
	assert.Equal(t, restarted+1, f.gets.Load(), "one read to warm up again")
	assert.Contains(t, e.logs.String(), "database down")
}

func TestPrunedFeedStartsOver(t *testing.T) {
	f := newFaultyFeed()
	e, s, p, two := activeWithTables(t, f)
	ctx := t.Context()
	// Another instance unlinks while this one's feed is pruned past its cursor.
	other := e.newLinker(f.Store)
	require.NoError(t, other.Unlink(ctx, account, "user"))
	assert.Equal(t, nsarates.SourceContract, quote(t, e.linker, p, two).Source, "stale until the feed is read")
	f.mu.Lock()
	f.real = func(ctx context.Context, after int64, limit int) ([]linking.Change, error) {
		// Pruned once: the first read after the fault fails again with it.
		f.real = f.countingStore.Changes
		return nil, linking.ErrChangesPruned
	}
	f.mu.Unlock()
	s.Step(ctx)
	assert.Equal(t, linking.NotNSALinkNotActive, quote(t, e.linker, p, two).NotNSA, "a reset drops the whole cache")
}

// On PostgreSQL a transaction holding a lower Seq may commit after a higher
// one is visible. The syncer must apply the late entry when it shows up.
func TestFeedGapIsWaitedFor(t *testing.T) {
	f := newFaultyFeed()
	e, s, p, two := activeWithTables(t, f)
	ctx := t.Context()
	other := e.newLinker(f.Store)
	last, err := f.LastChange(ctx)
	require.NoError(t, err)

	// An unrelated write takes seq last+2 while the unlink's entry (last+1)
	// is not visible yet.
	require.NoError(t, other.Unlink(ctx, account, "user"))
	require.NoError(t, other.SetContractTable(ctx, "acct-other", readTable(t, contractCSV)))
	f.set(nil, last+1)
	s.Step(ctx)
	assert.Equal(t, nsarates.SourceContract, quote(t, e.linker, p, two).Source, "the unlink's entry is not visible yet")

	f.set(nil) // it committed
	s.Step(ctx)
	assert.Equal(t, linking.NotNSALinkNotActive, quote(t, e.linker, p, two).NotNSA)
}
