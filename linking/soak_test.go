package linking_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/internal/pgtest"
	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/sqlstore/postgres"
	"github.com/nsalink/nsalink/linking/sqlstore/sqlite"
	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// The soak: a fleet of 4 Linker instances on one database keeps N linked
// customers for D days of the fake's clock, the reconciler running hourly
// on every instance, while USPS fails transiently, commits get lost,
// customers reset their passwords and their EPAs go bad and recover.
//
// NSALINK_SOAK=full runs 1,000 links for 30 days (see BENCHMARKS.md); the
// default is a short run that fits the normal test run.
type soakConfig struct {
	links, days, instances int
	perHour                int // the shared USPS budget, per API
	printing               float64
	seed                   uint64
}

func soakConfigFromEnv() soakConfig {
	if os.Getenv("NSALINK_SOAK") == "full" {
		return soakConfig{links: 1000, days: 30, instances: 4, perHour: 240, printing: 0.3, seed: 7}
	}
	return soakConfig{links: 25, days: 30, instances: 4, perHour: 60, printing: 0.3, seed: 7}
}

func TestSoakSQLite(t *testing.T) {
	cfg := soakConfigFromEnv()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "soak.db"))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	runSoak(t, cfg, store, func(now func() time.Time, b map[uspsbiz.API]uspsbiz.Budget) uspsbiz.Quota {
		q, err := uspsbiz.NewLocalQuota(b, now) // one process hosts the four instances: one bucket
		require.NoError(t, err)
		return q
	})
}

func TestSoakPostgres(t *testing.T) {
	cfg := soakConfigFromEnv()
	dsn := pgtest.DSN(t)
	store, err := postgres.Open(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	runSoak(t, cfg, store, func(now func() time.Time, b map[uspsbiz.API]uspsbiz.Budget) uspsbiz.Quota {
		q, err := postgres.NewQuota(context.Background(), store.DB(), b, now)
		require.NoError(t, err)
		return q
	})
}

// customer is one simulated merchant.
type customer struct {
	acct, user, eps string
	printing        bool
	// Customer-side causes, in fake time.
	epaBadFrom, epaBadUntil time.Time // zero: never
	resetAt                 time.Time // password reset; zero: never
}

func (c *customer) epaBad(t time.Time) bool {
	return !c.epaBadFrom.IsZero() && !t.Before(c.epaBadFrom) && t.Before(c.epaBadUntil)
}

func (c *customer) revoked(t time.Time) bool { return !c.resetAt.IsZero() && !t.Before(c.resetAt) }

func runSoak(t *testing.T, cfg soakConfig, store linking.Store, newQuota func(func() time.Time, map[uspsbiz.API]uspsbiz.Budget) uspsbiz.Quota) {
	if testing.Short() && os.Getenv("NSALINK_SOAK") != "full" {
		t.Skip("soak skipped in -short")
	}
	ctx := context.Background()
	rng := mrand.New(mrand.NewPCG(cfg.seed, 1))
	start := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	var customers []*customer
	opts := []uspsbiztest.Option{
		uspsbiztest.WithTime(start),
		uspsbiztest.WithApp(uspsbiztest.App{ClientID: clientID, ClientSecret: clientSecret, Name: "Acme Ship", RedirectURIs: []string{redirectURI}, CRID: platformCRID}),
	}
	for i := range cfg.links {
		c := &customer{acct: fmt.Sprintf("acct-%04d", i), user: fmt.Sprintf("merchant-%04d", i), eps: fmt.Sprintf("2%09d", i), printing: rng.Float64() < cfg.printing}
		customers = append(customers, c)
		opts = append(opts, uspsbiztest.WithBusinessAccount(uspsbiztest.BusinessAccount{
			Username: c.user, Password: password, MFACode: mfaCode,
			CRID: fmt.Sprintf("7%07d", i), MIDs: []string{fmt.Sprintf("9%08d", i)},
			EPAs: []uspsbiztest.EPA{{AccountNumber: c.eps}},
		}))
	}
	srv := uspsbiztest.NewServer(t, opts...)
	must(srv.SetPublishedPrices(priorityContract("11.50")))
	for _, c := range customers {
		must(srv.SetContractPrices(c.eps, priorityContract("8.05")))
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := linking.NewAESGCMSealer("k1", map[string][]byte{"k1": key})
	require.NoError(t, err)
	newClient := func(extra ...uspsbiz.Option) *uspsbiz.Client {
		c, err := uspsbiz.New(append([]uspsbiz.Option{
			uspsbiz.WithEnvironment(uspsbiz.Environment(srv.URL)),
			uspsbiz.WithCOPURL(srv.COPURL()),
			uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: clientID, ClientSecret: clientSecret}),
			uspsbiz.WithClock(srv.Now),
			uspsbiz.WithRetryPolicy(uspsbiz.RetryPolicy{MaxRetries: 1, MinWait: time.Millisecond, MaxWait: 2 * time.Millisecond, MaxRetryAfter: time.Millisecond}),
		}, extra...)...)
		require.NoError(t, err)
		return c
	}
	base := []linking.Option{linking.WithRedirectURI(redirectURI), linking.WithPlatform("Acme Ship", platformCRID), linking.WithClock(srv.Now)}

	// Day 0: every customer links and becomes active (not counted).
	setup, err := linking.New(newClient(), store, sealer, base...)
	require.NoError(t, err)
	for _, c := range customers {
		u, err := setup.Start(ctx, c.acct, "s-"+c.acct)
		require.NoError(t, err)
		back, err := srv.Authorize(u, uspsbiztest.Consent{Username: c.user, Password: password, MFACode: mfaCode})
		require.NoError(t, err)
		_, err = setup.Callback(ctx, c.acct, "s-"+c.acct, back.Query())
		require.NoError(t, err)
		i := strings.TrimPrefix(c.acct, "acct-")
		st, err := setup.SubmitCredentials(ctx, c.acct, linking.CredentialsInput{CRID: "7" + "000" + i, MID: "9" + "0000" + i, EPS: c.eps})
		require.NoError(t, err)
		require.Equal(t, linking.StateActive, st.State, c.acct)
	}

	// Customer-side causes, drawn up front: 10% of EPAs go bad for 1–3
	// days, 3% of customers reset their USPS password.
	end := start.Add(time.Duration(cfg.days) * 24 * time.Hour)
	for _, c := range customers {
		if rng.Float64() < 0.10 {
			c.epaBadFrom = start.Add(time.Duration(24+rng.IntN((cfg.days-5)*24)) * time.Hour).Add(time.Duration(rng.IntN(60)) * time.Minute)
			c.epaBadUntil = c.epaBadFrom.Add(time.Duration(24+rng.IntN(48)) * time.Hour)
		}
		if rng.Float64() < 0.03 {
			c.resetAt = start.Add(time.Duration(24+rng.IntN((cfg.days-2)*24)) * time.Hour).Add(time.Duration(rng.IntN(60)) * time.Minute)
		}
	}

	// Every run has both causes, however few its links.
	if !slices.ContainsFunc(customers, func(c *customer) bool { return !c.resetAt.IsZero() }) {
		customers[1].resetAt = start.Add(9*24*time.Hour + 17*time.Minute)
	}
	if !slices.ContainsFunc(customers, func(c *customer) bool { return !c.epaBadFrom.IsZero() }) {
		customers[2].epaBadFrom = start.Add(4*24*time.Hour + 7*time.Minute)
		customers[2].epaBadUntil = customers[2].epaBadFrom.Add(36 * time.Hour)
	}

	// The fleet: 4 instances, each its own client and Linker, all drawing
	// on one shared quota, each store connection losing a commit now and then.
	budgets := map[uspsbiz.API]uspsbiz.Budget{
		uspsbiz.APIOAuth: {PerHour: cfg.perHour}, uspsbiz.APIPayments: {PerHour: cfg.perHour}, uspsbiz.APIPrices: {PerHour: cfg.perHour},
	}
	quota := newQuota(srv.Now, budgets)
	var mu sync.Mutex
	var left []linking.Event // transitions out of active, and back
	hook := func(_ context.Context, ev linking.Event) {
		mu.Lock()
		defer mu.Unlock()
		left = append(left, ev)
	}
	var fleet []*linking.Linker
	var lossy []*lossyStore
	for i := range cfg.instances {
		ls := &lossyStore{Store: store, rng: mrand.New(mrand.NewPCG(cfg.seed, uint64(100+i))), p: 0.01}
		lossy = append(lossy, ls)
		l, err := linking.New(newClient(uspsbiz.WithQuota(quota)), ls, sealer, append(base, linking.WithTransitionHook(hook))...)
		require.NoError(t, err)
		fleet = append(fleet, l)
	}
	steady := srv.Now()
	srv.ResetRequests()

	lastPrint := map[string]time.Time{}
	var customerErrs, budgetRefusals int
	for now := srv.Now(); now.Before(end); now = srv.Now() {
		srv.Advance(time.Hour)
		now = srv.Now()
		// Customer-side causes that start or end this hour.
		for _, c := range customers {
			hourAgo := now.Add(-time.Hour)
			if !c.epaBadFrom.IsZero() && !c.epaBadFrom.After(now) && c.epaBadFrom.After(hourAgo) {
				must(srv.SetEPAState(c.eps, uspsbiztest.EPACardInvalid))
			}
			if !c.epaBadUntil.IsZero() && !c.epaBadUntil.After(now) && c.epaBadUntil.After(hourAgo) {
				must(srv.SetEPAState(c.eps, uspsbiztest.EPAActive))
			}
			if !c.resetAt.IsZero() && !c.resetAt.After(now) && c.resetAt.After(hourAgo) {
				srv.RevokeAll(c.user)
			}
		}
		// USPS having a bad hour now and then: 5xx, 429, dropped connections.
		switch rng.IntN(12) {
		case 0:
			srv.InjectFault(uspsbiztest.Fault{Match: "/", Status: 503, Times: 3})
		case 1:
			srv.InjectFault(uspsbiztest.Fault{Match: "/", Status: 429, RetryAfter: "60", Times: 2})
		case 2:
			srv.InjectFault(uspsbiztest.Fault{Match: "/", Kind: uspsbiztest.FaultDropConnection, Times: 2})
		}
		// Printing customers print every few hours on any instance.
		for _, c := range customers {
			if !c.printing || now.Sub(lastPrint[c.acct]) < time.Duration(3+rng.IntN(4))*time.Hour {
				continue
			}
			lastPrint[c.acct] = now
			l := fleet[rng.IntN(len(fleet))]
			if _, _, err := l.PaymentToken(ctx, c.acct); err != nil {
				customerErrs++
				if errors.Is(err, uspsbiz.ErrRateLimited) {
					budgetRefusals++
				}
			}
			if _, err := l.TokenSource(ctx, c.acct).Token(); err != nil {
				customerErrs++
			}
		}
		// The reconciler, hourly on every instance at once.
		var wg sync.WaitGroup
		for _, l := range fleet {
			wg.Go(func() { _, _ = l.Reconcile(ctx, linking.ReconcileOptions{Limit: 50}) })
		}
		wg.Wait()
		srv.ClearFaults()
	}

	// Count.
	reqs := srv.Requests()
	// The audit trail is the truth: a hook misses a transition whose commit
	// answer was lost (the writer cannot know it committed).
	mu.Lock()
	hooked := len(left)
	mu.Unlock()
	var events []linking.Event
	for _, c := range customers {
		evs, err := store.Events(ctx, c.acct)
		require.NoError(t, err)
		events = append(events, evs...)
	}
	byAcct := map[string]*customer{}
	for _, c := range customers {
		byAcct[c.acct] = c
	}
	// 1. Links that lost NSA rates without a customer-side cause.
	lostWithoutCause := 0
	for _, ev := range events {
		if ev.From != linking.StateActive || ev.To == linking.StateActive {
			continue
		}
		c := byAcct[ev.AccountID]
		if !c.epaBad(ev.At) && !c.revoked(ev.At) {
			lostWithoutCause++
			t.Logf("lost NSA without cause: %s at %s: %s %s", ev.AccountID, ev.At, ev.Reason, ev.Cause)
		}
	}
	// 2. Links still active too long after their EPA went bad or their
	// grant was revoked. USPS tells nobody: the SDK learns it from its next
	// call for that customer, so the bound is the check cadence: the daily
	// health check (payment account) plus one reconcile interval, and for
	// a revoked grant the next refresh (keep-alive, at most every 5 days,
	// or a printing customer's 8-hourly one) plus one interval.
	lateEPA, lateGrant := 0, 0
	var maxEPA, maxGrant time.Duration
	late := func(c *customer, what string) {
		t.Logf("late %s: %s (epa bad %v–%v, reset %v)", what, c.acct, c.epaBadFrom, c.epaBadUntil, c.resetAt)
		for _, ev := range events {
			if ev.AccountID == c.acct {
				t.Logf("  %s %s->%s %s %s", ev.At, ev.From, ev.To, ev.Reason, ev.Cause)
			}
		}
	}
	for _, c := range customers {
		// Only a link that was active when the cause arose can stay active too long.
		if !c.epaBadFrom.IsZero() && stateAt(events, c.acct, c.epaBadFrom) == linking.StateActive {
			d := leftActiveAfter(events, c.acct, c.epaBadFrom, c.epaBadUntil)
			maxEPA = max(maxEPA, d)
			if d > 24*time.Hour+time.Hour {
				lateEPA++
				late(c, "EPA")
			}
		}
		if !c.resetAt.IsZero() && stateAt(events, c.acct, c.resetAt) == linking.StateActive {
			d := leftActiveAfter(events, c.acct, c.resetAt, end)
			maxGrant = max(maxGrant, d)
			if d > 5*24*time.Hour+time.Hour {
				lateGrant++
				late(c, "grant")
			}
		}
	}
	// 3. USPS calls per link per day in steady state.
	calls := len(reqs)
	perLinkDay := float64(calls) / float64(cfg.links) / float64(cfg.days)
	// 4. Calls beyond the shared budget: replay every call USPS received
	// through the budget's token bucket.
	beyond := beyondBudget(reqs, budgets, steady)
	// Links that recovered: every customer whose EPA came back is active
	// again, unless their grant was revoked.
	notRecovered := 0
	for _, c := range customers {
		st, err := fleet[0].Status(ctx, c.acct)
		require.NoError(t, err)
		want := linking.StateActive
		if c.revoked(end) {
			want = linking.StateActionRequired
		}
		// A grant revoked in the last keep-alive window may not be noticed yet.
		undetectedYet := c.revoked(end) && end.Sub(c.resetAt) < 5*24*time.Hour+time.Hour && st.State == linking.StateActive
		if st.State != want && !undetectedYet {
			notRecovered++
			t.Logf("%s ends %s/%s (epa bad %v–%v, reset %v)", c.acct, st.State, st.Reason, c.epaBadFrom, c.epaBadUntil, c.resetAt)
		}
	}
	lost := 0
	for _, ls := range lossy {
		lost += ls.lost()
	}
	t.Logf("soak: %d links × %d days, %d instances: %d USPS calls = %.2f per link per day; beyond budget %d; lost NSA without cause %d; late EPA %d (max %s), late grant %d (max %s); not recovered %d; lost commits injected %d; customer-visible errors %d (budget %d); transitions during the run %d in the audit trail, %d seen by hooks",
		cfg.links, cfg.days, cfg.instances, calls, perLinkDay, beyond, lostWithoutCause, lateEPA, maxEPA, lateGrant, maxGrant, notRecovered, lost, customerErrs, budgetRefusals, countAfter(events, steady), hooked)
	require.Zero(t, lostWithoutCause, "links that lost NSA rates without a customer-side cause")
	require.Zero(t, lateEPA, "links active more than a health interval plus one reconcile interval after their EPA went bad")
	require.Zero(t, lateGrant, "links active more than a keep-alive window plus one reconcile interval after their grant was revoked")
	require.LessOrEqual(t, perLinkDay, 6.0, "USPS calls per link per day")
	require.Zero(t, beyond, "calls beyond the shared budget")
	require.Zero(t, notRecovered, "links not back to active after their EPA recovered")
	require.Positive(t, lost, "the run injected lost commits")
}

func countAfter(events []linking.Event, t time.Time) int {
	n := 0
	for _, ev := range events {
		if ev.At.After(t) {
			n++
		}
	}
	return n
}

// stateAt is the account's state at t, from the fleet's transitions (every
// link is active when the fleet starts).
func stateAt(events []linking.Event, acct string, t time.Time) linking.State {
	st := linking.StateActive
	for _, ev := range events {
		if ev.AccountID == acct && !ev.At.After(t) {
			st = ev.To
		}
	}
	return st
}

// leftActiveAfter is how long after from the account left active (its
// first transition out of active at or after from, before until); until-from
// when it never left.
func leftActiveAfter(events []linking.Event, acct string, from, until time.Time) time.Duration {
	for _, ev := range events {
		if ev.AccountID == acct && ev.From == linking.StateActive && ev.To != linking.StateActive && !ev.At.Before(from) {
			return ev.At.Sub(from)
		}
	}
	return until.Sub(from)
}

// beyondBudget replays the calls USPS received since start through token
// buckets with the budgets (full at start) and counts the calls that found
// their bucket empty.
func beyondBudget(reqs []uspsbiztest.Request, budgets map[uspsbiz.API]uspsbiz.Budget, start time.Time) int {
	type bucket struct {
		level float64
		at    time.Time
	}
	buckets := map[uspsbiz.API]*bucket{}
	over := 0
	for _, r := range reqs {
		var api uspsbiz.API
		switch {
		case strings.HasPrefix(r.Path, "/oauth2/"):
			api = uspsbiz.APIOAuth
		case strings.HasPrefix(r.Path, "/payments/"):
			api = uspsbiz.APIPayments
		case strings.HasPrefix(r.Path, "/prices/"):
			api = uspsbiz.APIPrices
		default:
			continue
		}
		b, ok := budgets[api]
		if !ok || r.At.Before(start) {
			continue
		}
		burst := float64(b.PerHour)
		bk := buckets[api]
		if bk == nil {
			bk = &bucket{level: burst, at: start}
			buckets[api] = bk
		}
		bk.level = min(burst, bk.level+r.At.Sub(bk.at).Hours()*float64(b.PerHour))
		bk.at = r.At
		if bk.level < 1-1e-9 {
			over++
			continue
		}
		bk.level--
	}
	return over
}

// lossyStore loses commits: with probability p a LockLink whose callback
// succeeded reports an error (half the time after committing, half the
// time by failing the write), and an UpdateLink reports an error after
// committing. Both look like a database whose answer never came back.
type lossyStore struct {
	linking.Store
	p   float64
	mu  sync.Mutex
	rng *mrand.Rand
	n   int
}

func (s *lossyStore) roll() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rng.Float64() >= s.p {
		return 0
	}
	s.n++
	return 1 + s.rng.IntN(2)
}

func (s *lossyStore) lost() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

var errLostCommit = errors.New("soak: commit answer lost")

func (s *lossyStore) LockLink(ctx context.Context, id string, fn func(context.Context, linking.LinkTx) error) error {
	mode := s.roll()
	err := s.Store.LockLink(ctx, id, func(ctx context.Context, tx linking.LinkTx) error {
		if mode == 2 {
			return fn(ctx, &failingTx{LinkTx: tx, s: &failingStore{fails: 1}})
		}
		return fn(ctx, tx)
	})
	if err == nil && mode == 1 {
		return errLostCommit
	}
	return err
}

func (s *lossyStore) UpdateLink(ctx context.Context, l *linking.Link, ev *linking.Event) (*linking.Link, error) {
	out, err := s.Store.UpdateLink(ctx, l, ev)
	if err == nil && s.roll() != 0 {
		return nil, errLostCommit
	}
	return out, err
}
