package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/storekit"
)

// Run runs the conformance suite against the stores newStore returns.
// newStore returns a fresh, empty store; it is called once per subtest and
// registers any cleanup with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) linking.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Link", linkTests},
		{"Events", eventTests},
		{"Values", valueTests},
		{"AuthRequest", authTests},
		{"LockLink", lockTests},
		{"ClaimDue", claimTests},
		{"ListAccountIDs", listTests},
		{"Tables", tableTests},   // tables.go
		{"Changes", changeTests}, // tables.go
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					tc.fn(t, newStore(t))
				})
			}
		})
	}
}

type test struct {
	name string
	fn   func(t *testing.T, s linking.Store)
}

var (
	ctxMu sync.Mutex
	ctxs  = map[*testing.T]context.Context{}
)

// ctx returns the test's context: it ends with the test and is bounded, so
// that a hung store fails the test instead of the whole run.
func ctx(t *testing.T) context.Context {
	ctxMu.Lock()
	defer ctxMu.Unlock()
	if c, ok := ctxs[t]; ok {
		return c
	}
	c, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	ctxs[t] = c
	t.Cleanup(func() {
		cancel()
		ctxMu.Lock()
		delete(ctxs, t)
		ctxMu.Unlock()
	})
	return c
}

// base is a time with nanoseconds in a non-UTC zone: stores must return it
// in UTC, truncated to microseconds.
var base = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.FixedZone("EST", -5*3600))

func utcMicro(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// newLink returns a link with every field set.
func newLink(id string) *linking.Link {
	return &linking.Link{
		AccountID:          id,
		State:              linking.StateApprovalPending,
		Reason:             linking.ReasonContractNotEffective,
		Environment:        "testing",
		CRID:               "12345678",
		MID:                "901234567",
		ManifestMID:        "901234568",
		EPSAccount:         "1000123456",
		Token:              []byte("sealed-token\x00\xff"),
		TokenExpiry:        base.Add(8 * time.Hour),
		RefreshExpiry:      base.Add(7 * 24 * time.Hour),
		PaymentToken:       []byte("sealed-payment"),
		PaymentTokenExpiry: base.Add(8 * time.Hour),
		CreatedAt:          base,
		UpdatedAt:          base,
		NextCheckAt:        base.Add(time.Minute),
		CheckAttempts:      2,
		LastError:          "contract rate not found",
		ReturnsMID:         "903456789",
		NSAContract:        "NSA-2026-0042",
		Locations: []linking.Location{
			{Label: "East DC", MID: "904567890", ManifestMID: "905678901", SealedEPS: []byte("sealed-eps\x00\xff"),
				PaymentToken: []byte("sealed-payment-east"), PaymentTokenExpiry: base.Add(8 * time.Hour)},
			{Label: "Ouest – entrepôt", MID: "906789012", ManifestMID: "906789012", EPSAccount: "1000654321"},
		},
	}
}

// stored returns what a store must give back for l.
func stored(l *linking.Link) *linking.Link {
	c := storekit.CloneLink(l)
	for _, p := range []*time.Time{&c.TokenExpiry, &c.RefreshExpiry, &c.PaymentTokenExpiry,
		&c.CreatedAt, &c.UpdatedAt, &c.NextCheckAt} {
		*p = utcMicro(*p)
	}
	for i := range c.Locations {
		c.Locations[i].PaymentTokenExpiry = utcMicro(c.Locations[i].PaymentTokenExpiry)
	}
	return c
}

// create stores l and returns the stored link, checking that the store
// left l alone.
func create(t *testing.T, s linking.Store, l *linking.Link) *linking.Link {
	t.Helper()
	before := exactCopy(l)
	got, err := s.CreateLink(ctx(t), l)
	require.NoError(t, err)
	require.Equal(t, before, l, "CreateLink must not modify the caller's link")
	return got
}

// update updates l and returns the stored link, checking that the store
// left l and ev alone.
func update(t *testing.T, s linking.Store, l *linking.Link, ev *linking.Event) *linking.Link {
	t.Helper()
	before, evBefore := exactCopy(l), cloneEvent(ev)
	got, err := s.UpdateLink(ctx(t), l, ev)
	require.NoError(t, err)
	require.Equal(t, before, l, "UpdateLink must not modify the caller's link")
	require.Equal(t, evBefore, ev, "UpdateLink must not modify the caller's event")
	require.Equal(t, l.Version+1, got.Version)
	return got
}

// updateErr is UpdateLink for the error cases.
func updateErr(t *testing.T, s linking.Store, l *linking.Link, ev *linking.Event) error {
	t.Helper()
	got, err := s.UpdateLink(ctx(t), l, ev)
	if err != nil {
		require.Nil(t, got, "a failed UpdateLink returns no link")
	}
	return err
}

// txUpdate is LinkTx.Update for the success cases.
func txUpdate(t *testing.T, tx linking.LinkTx, l *linking.Link, ev *linking.Event) *linking.Link {
	t.Helper()
	before := exactCopy(l)
	got, err := tx.Update(l, ev)
	require.NoError(t, err)
	require.Equal(t, before, l, "LinkTx.Update must not modify the caller's link")
	require.Equal(t, l.Version+1, got.Version)
	return got
}

// createErr keeps the error of a CreateLink.
func createErr(_ *linking.Link, err error) error { return err }

// txErr keeps the error of a LinkTx.Update.
func txErr(_ *linking.Link, err error) error { return err }

// exactCopy copies l keeping empty and nil byte slices apart, to check
// that a store left the caller's link alone.
func exactCopy(l *linking.Link) *linking.Link {
	c := *l
	c.Token, c.PaymentToken = bytes.Clone(l.Token), bytes.Clone(l.PaymentToken)
	c.Locations = nil
	for _, loc := range l.Locations {
		loc.SealedEPS, loc.PaymentToken = bytes.Clone(loc.SealedEPS), bytes.Clone(loc.PaymentToken)
		c.Locations = append(c.Locations, loc)
	}
	return &c
}

func cloneEvent(ev *linking.Event) *linking.Event {
	if ev == nil {
		return nil
	}
	c := *ev
	return &c
}

func get(t *testing.T, s linking.Store, id string) *linking.Link {
	t.Helper()
	l, err := s.GetLink(ctx(t), id)
	require.NoError(t, err)
	return l
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func newAuth(accountID, state string, expires time.Time) *linking.AuthRequest {
	return &linking.AuthRequest{
		StateHash:   hash(state),
		AccountID:   accountID,
		SessionHash: hash("session-" + state),
		Verifier:    []byte("sealed-verifier\x00"),
		Environment: "testing",
		RedirectURI: "https://platform.example/usps/callback?x=1",
		CreatedAt:   base,
		ExpiresAt:   expires,
	}
}

var linkTests = []test{
	{"NotFound", func(t *testing.T, s linking.Store) {
		_, err := s.GetLink(ctx(t), "missing")
		require.ErrorIs(t, err, linking.ErrNotFound)
		l := newLink("missing")
		l.Version = 1
		require.ErrorIs(t, updateErr(t, s, l, nil), linking.ErrNotFound)
		called := false
		err = s.LockLink(ctx(t), "missing", func(context.Context, linking.LinkTx) error { called = true; return nil })
		require.ErrorIs(t, err, linking.ErrNotFound)
		require.False(t, called, "fn must not run for a missing link")
	}},
	{"CreateAndGet", func(t *testing.T, s linking.Store) {
		l := newLink("a")
		l.Version = 42 // ignored: a new link starts at 1
		got := create(t, s, l)
		require.Equal(t, int64(1), got.Version)
		want := stored(l)
		want.Version = 1
		require.Equal(t, want, got, "CreateLink returns the stored link, normalised")
		require.Equal(t, want, get(t, s, "a"))
	}},
	{"CreateSetsTimes", func(t *testing.T, s linking.Store) {
		l := &linking.Link{AccountID: "a", State: linking.StateUnlinked}
		before := time.Now().Add(-time.Second)
		l = create(t, s, l)
		got := get(t, s, "a")
		require.WithinRange(t, got.CreatedAt, before, time.Now().Add(time.Second))
		require.Equal(t, got.CreatedAt, got.UpdatedAt)
		require.Equal(t, time.UTC, got.CreatedAt.Location())
		require.Equal(t, l.CreatedAt, got.CreatedAt)
		require.True(t, got.NextCheckAt.IsZero())
	}},
	{"AlreadyExists", func(t *testing.T, s linking.Store) {
		create(t, s, newLink("a"))
		dup := newLink("a")
		dup.CRID = "other"
		require.ErrorIs(t, createErr(s.CreateLink(ctx(t), dup)), linking.ErrAlreadyExists)
		require.EqualValues(t, "12345678", get(t, s, "a").CRID)
	}},
	{"Invalid", func(t *testing.T, s linking.Store) {
		for name, mut := range map[string]func(*linking.Link){
			"empty id":        func(l *linking.Link) { l.AccountID = "" },
			"long id":         func(l *linking.Link) { l.AccountID = string(bytes.Repeat([]byte("x"), 256)) },
			"unknown state":   func(l *linking.Link) { l.State = "bogus" },
			"empty state":     func(l *linking.Link) { l.State = "" },
			"unknown reason":  func(l *linking.Link) { l.Reason = "bogus" },
			"NUL in CRID":     func(l *linking.Link) { l.CRID = "1\x002" },
			"invalid UTF-8":   func(l *linking.Link) { l.EPSAccount = "\xc3\x28" },
			"negative checks": func(l *linking.Link) { l.CheckAttempts = -1 },
		} {
			l := newLink("a")
			mut(l)
			require.ErrorIs(t, createErr(s.CreateLink(ctx(t), l)), linking.ErrInvalidRecord, name)
		}
		_, err := s.GetLink(ctx(t), "a")
		require.ErrorIs(t, err, linking.ErrNotFound)

		l := create(t, s, newLink("a"))
		l.State = "bogus"
		require.ErrorIs(t, updateErr(t, s, l, nil), linking.ErrInvalidRecord)
		l.State = linking.StateActive
		require.ErrorIs(t, updateErr(t, s, l, &linking.Event{To: "bogus"}), linking.ErrInvalidRecord)
		require.ErrorIs(t, updateErr(t, s, l, &linking.Event{AccountID: "b", To: linking.StateActive}), linking.ErrInvalidRecord)
		require.Equal(t, int64(1), get(t, s, "a").Version)
	}},
	{"DeleteIdempotent", func(t *testing.T, s linking.Store) {
		require.NoError(t, s.DeleteLink(ctx(t), "missing"))
		l := create(t, s, newLink("a"))
		create(t, s, newLink("b"))
		l.State = linking.StateActive
		update(t, s, l, &linking.Event{From: linking.StateApprovalPending, To: linking.StateActive})
		require.NoError(t, s.PutAuthRequest(ctx(t), newAuth("a", "st", base.Add(time.Hour))))

		require.NoError(t, s.DeleteLink(ctx(t), "a"))
		require.NoError(t, s.DeleteLink(ctx(t), "a"))
		_, err := s.GetLink(ctx(t), "a")
		require.ErrorIs(t, err, linking.ErrNotFound)
		evs, err := s.Events(ctx(t), "a")
		require.NoError(t, err)
		require.Empty(t, evs, "DeleteLink erases the audit trail")
		_, err = s.ConsumeAuthRequest(ctx(t), hash("st"), base)
		require.ErrorIs(t, err, linking.ErrNotFound, "DeleteLink deletes the link's auth requests")
		get(t, s, "b") // other links untouched

		// The account can link again, and its trail starts over.
		l = create(t, s, newLink("a"))
		require.Equal(t, int64(1), l.Version)
		update(t, s, l, &linking.Event{To: linking.StateActive})
		evs, err = s.Events(ctx(t), "a")
		require.NoError(t, err)
		require.Len(t, evs, 1)
		require.Equal(t, int64(1), evs[0].Seq)
	}},
	{"UpdateWritesAllFields", func(t *testing.T, s linking.Store) {
		l := create(t, s, newLink("a"))
		created := l.CreatedAt
		u := &linking.Link{
			AccountID: "a", State: linking.StateActionRequired, Reason: linking.ReasonEPANotActive,
			Environment: "production", CRID: "c2", MID: "m2", ManifestMID: "mm2", EPSAccount: "e2",
			Token: []byte{1, 2, 3}, TokenExpiry: base.Add(time.Hour), RefreshExpiry: base.Add(2 * time.Hour),
			PaymentToken: []byte{4}, PaymentTokenExpiry: base.Add(3 * time.Hour),
			Version: l.Version, CreatedAt: base.Add(99 * time.Hour), // CreatedAt is immutable
			UpdatedAt: base.Add(5 * time.Hour), NextCheckAt: base.Add(6 * time.Hour),
			CheckAttempts: 7, LastError: "ach pending",
		}
		got := update(t, s, u, nil)
		require.Equal(t, int64(2), got.Version)
		require.Equal(t, created, got.CreatedAt, "UpdateLink keeps CreatedAt")
		want := stored(u)
		want.Version, want.CreatedAt = 2, created
		require.Equal(t, want, got, "UpdateLink returns the stored link")
		require.Equal(t, want, get(t, s, "a"))

		// Clearing fields clears them.
		got.Token, got.PaymentToken, got.TokenExpiry, got.NextCheckAt, got.CRID = nil, nil, time.Time{}, time.Time{}, ""
		want = stored(got)
		want.Version = 3
		got = update(t, s, got, nil)
		require.Equal(t, want, got)
		require.Equal(t, want, get(t, s, "a"))
	}},
	{"StaleVersion", func(t *testing.T, s linking.Store) {
		l := create(t, s, newLink("a"))
		stale := storekit.CloneLink(l)
		l.LastError = "first"
		update(t, s, l, nil)
		before := get(t, s, "a")

		stale.LastError = "stale"
		stale.Token = []byte("other")
		err := updateErr(t, s, stale, nil)
		require.ErrorIs(t, err, linking.ErrConflict)
		require.Equal(t, int64(1), stale.Version, "a failed update leaves the caller's version alone")
		require.Equal(t, before, get(t, s, "a"), "a stale update changes nothing")

		stale.Version = 99
		require.ErrorIs(t, updateErr(t, s, stale, nil), linking.ErrConflict)
		require.Equal(t, before, get(t, s, "a"))
	}},
	{"NestedUpdates", func(t *testing.T, s linking.Store) {
		create(t, s, newLink("a"))
		a, b := get(t, s, "a"), get(t, s, "a")
		a.LastError = "a"
		b.LastError = "b"
		errA := updateErr(t, s, a, nil)
		errB := updateErr(t, s, b, nil)
		require.NoError(t, errA)
		require.ErrorIs(t, errB, linking.ErrConflict)
		got := get(t, s, "a")
		require.Equal(t, "a", got.LastError)
		require.Equal(t, int64(2), got.Version)
	}},
	{"RacingUpdates", func(t *testing.T, s linking.Store) {
		// Two writers from the same version at the same time: exactly one wins.
		create(t, s, newLink("a"))
		for round := range 10 {
			x, y := get(t, s, "a"), get(t, s, "a")
			x.LastError, y.LastError = fmt.Sprint("x", round), fmt.Sprint("y", round)
			var errs [2]error
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i, l := range []*linking.Link{x, y} {
				wg.Go(func() { <-start; _, errs[i] = s.UpdateLink(ctx(t), l, nil) })
			}
			close(start)
			wg.Wait()
			require.True(t, (errs[0] == nil) != (errs[1] == nil), "exactly one of two racing updates must win: %v, %v", errs[0], errs[1])
			for _, err := range errs {
				if err != nil {
					require.ErrorIs(t, err, linking.ErrConflict)
				}
			}
		}
		require.Equal(t, int64(11), get(t, s, "a").Version)
	}},
	{"ParallelUpdatesLoseNothing", func(t *testing.T, s linking.Store) {
		const n = 100
		l := newLink("a")
		l.CheckAttempts = 0
		create(t, s, l)
		versions := make(chan int64, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range n {
			wg.Go(func() {
				<-start
				for {
					cur, err := s.GetLink(ctx(t), "a")
					if err != nil {
						t.Error(err)
						return
					}
					cur.CheckAttempts++
					cur, err = s.UpdateLink(ctx(t), cur, nil)
					if errors.Is(err, linking.ErrConflict) {
						time.Sleep(time.Duration(rand.IntN(1000)) * time.Microsecond)
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					versions <- cur.Version
					return
				}
			})
		}
		close(start)
		wg.Wait()
		close(versions)
		got := get(t, s, "a")
		require.Equal(t, n, got.CheckAttempts, "no update may be lost")
		require.Equal(t, int64(n+1), got.Version)
		var seen []int64
		for v := range versions {
			seen = append(seen, v)
		}
		slices.Sort(seen)
		want := make([]int64, n)
		for i := range want {
			want[i] = int64(i + 2)
		}
		require.Equal(t, want, seen, "versions of successful updates are unique and contiguous")
	}},
}

var eventTests = []test{
	{"AppendedWithUpdate", func(t *testing.T, s linking.Store) {
		l := create(t, s, newLink("a"))
		evs, err := s.Events(ctx(t), "a")
		require.NoError(t, err)
		require.Empty(t, evs)

		l.State, l.Reason, l.UpdatedAt = linking.StateActive, linking.ReasonNone, base.Add(time.Minute)
		ev1 := &linking.Event{From: linking.StateApprovalPending, To: linking.StateActive, Cause: "contract price probe", Actor: "reconciler"}
		l = update(t, s, l, ev1)
		want1 := *ev1
		want1.AccountID, want1.Seq = "a", 1
		want1.At = utcMicro(l.UpdatedAt) // At defaults to the link's UpdatedAt

		l.State, l.Reason = linking.StateActionRequired, linking.ReasonTokenRevoked
		ev2 := &linking.Event{AccountID: "a", At: base.Add(2 * time.Minute), From: linking.StateActive,
			To: linking.StateActionRequired, Reason: linking.ReasonTokenRevoked, Cause: "refresh: invalid_grant", Actor: "system"}
		l = update(t, s, l, ev2)
		want2 := *ev2
		want2.Seq, want2.At = 2, utcMicro(ev2.At)

		l = update(t, s, l, nil) // updates without events leave no gap
		ev3 := &linking.Event{To: linking.StateActionRequired}
		l = update(t, s, l, ev3)
		want3 := *ev3
		want3.AccountID, want3.Seq, want3.At = "a", 3, utcMicro(l.UpdatedAt)

		evs, err = s.Events(ctx(t), "a")
		require.NoError(t, err)
		require.Equal(t, []linking.Event{want1, want2, want3}, evs)
		require.Equal(t, time.UTC, evs[1].At.Location())
		require.Equal(t, base.Add(2*time.Minute).UTC().Truncate(time.Microsecond), evs[1].At)

		other, err := s.Events(ctx(t), "b")
		require.NoError(t, err)
		require.Empty(t, other)
	}},
	{"NotAppendedOnConflict", func(t *testing.T, s linking.Store) {
		l := create(t, s, newLink("a"))
		stale := storekit.CloneLink(l)
		update(t, s, l, &linking.Event{To: linking.StateActive})
		err := updateErr(t, s, stale, &linking.Event{To: linking.StateUnlinked})
		require.ErrorIs(t, err, linking.ErrConflict)
		evs, err := s.Events(ctx(t), "a")
		require.NoError(t, err)
		require.Len(t, evs, 1)
		require.Equal(t, linking.StateActive, evs[0].To)

		missing := newLink("missing")
		missing.Version = 1
		require.ErrorIs(t, updateErr(t, s, missing, &linking.Event{To: linking.StateActive}), linking.ErrNotFound)
		evs, err = s.Events(ctx(t), "missing")
		require.NoError(t, err)
		require.Empty(t, evs)
	}},
	{"ParallelSeqUnique", func(t *testing.T, s linking.Store) {
		const n = 20
		create(t, s, newLink("a"))
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				for {
					l, err := s.GetLink(ctx(t), "a")
					if err != nil {
						t.Error(err)
						return
					}
					_, err = s.UpdateLink(ctx(t), l, &linking.Event{To: l.State, Cause: fmt.Sprint(i)})
					if errors.Is(err, linking.ErrConflict) {
						continue
					}
					if err != nil {
						t.Error(err)
					}
					return
				}
			})
		}
		wg.Wait()
		evs, err := s.Events(ctx(t), "a")
		require.NoError(t, err)
		require.Len(t, evs, n)
		for i, e := range evs {
			require.Equal(t, int64(i+1), e.Seq)
		}
	}},
}

var valueTests = []test{
	{"Locations", func(t *testing.T, s linking.Store) {
		l := newLink("a")
		got := create(t, s, l)
		want := stored(l)
		want.Version = 1
		require.Equal(t, want, got)
		require.Equal(t, want, get(t, s, "a"))
		// Locations change, shrink and go away with an update.
		got.Locations = got.Locations[1:]
		got.Locations[0].PaymentToken = []byte("renewed")
		got = update(t, s, got, nil)
		require.Equal(t, stored(got), get(t, s, "a"))
		got.Locations, got.ReturnsMID, got.NSAContract = nil, "", ""
		got = update(t, s, got, nil)
		back := get(t, s, "a")
		require.Equal(t, stored(got), back)
		require.Nil(t, back.Locations, "no locations read back as nil")
		// Mutating a result changes nothing stored.
		again := get(t, s, "a")
		again.Locations = append(again.Locations, linking.Location{Label: "x"})
		require.Nil(t, get(t, s, "a").Locations)

		// A location without a label, a repeated label, or text a store
		// cannot keep is refused, naming the field, and nothing changes.
		for name, locs := range map[string][]linking.Location{
			"no label":  {{MID: "904567890"}},
			"repeated":  {{Label: "A"}, {Label: "A"}},
			"NUL label": {{Label: "A\x00"}},
			"bad UTF-8": {{Label: "A", MID: "\xff"}},
		} {
			bad := newLink("b-" + strings.ReplaceAll(name, " ", "-"))
			bad.Locations = locs
			err := createErr(s.CreateLink(ctx(t), bad))
			require.ErrorIs(t, err, linking.ErrInvalidRecord, name)
			require.Contains(t, err.Error(), "Locations[", name)
			_, err = s.GetLink(ctx(t), bad.AccountID)
			require.ErrorIs(t, err, linking.ErrNotFound, name)
			upd := get(t, s, "a")
			upd.Locations = locs
			require.ErrorIs(t, updateErr(t, s, upd, nil), linking.ErrInvalidRecord, name)
		}
		require.Equal(t, stored(got), get(t, s, "a"), "refused updates changed nothing")
	}},
	{"TimesUTC", func(t *testing.T, s linking.Store) {
		l := newLink("a")
		create(t, s, l)
		got := get(t, s, "a")
		for name, tm := range map[string]time.Time{
			"TokenExpiry": got.TokenExpiry, "RefreshExpiry": got.RefreshExpiry,
			"PaymentTokenExpiry": got.PaymentTokenExpiry, "CreatedAt": got.CreatedAt,
			"UpdatedAt": got.UpdatedAt, "NextCheckAt": got.NextCheckAt,
		} {
			require.Equal(t, time.UTC, tm.Location(), name)
		}
		require.True(t, got.CreatedAt.Equal(base.Truncate(time.Microsecond)))
		require.Equal(t, 535897000, got.CreatedAt.Nanosecond(), "microseconds are preserved")
		require.Equal(t, 20, got.CreatedAt.Hour(), "15:09 EST is 20:09 UTC")

		// Far past and future, and the zero time.
		got.TokenExpiry = time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC)
		got.RefreshExpiry = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
		got.PaymentTokenExpiry = time.Time{}
		got.NextCheckAt = time.Unix(0, 0)
		got = update(t, s, got, nil)
		back := get(t, s, "a")
		require.Equal(t, stored(got), back)
		require.True(t, back.PaymentTokenExpiry.IsZero(), "a zero time round-trips as zero")
		require.Equal(t, time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), back.RefreshExpiry)
		require.Equal(t, time.Unix(0, 0).UTC(), back.NextCheckAt, "the Unix epoch is not the zero time")
	}},
	{"BytesExact", func(t *testing.T, s linking.Store) {
		big := make([]byte, 64<<10)
		for i := range big {
			big[i] = byte(i * 7)
		}
		l := newLink("a")
		l.Token = []byte{0x00, 0xff, 0xfe, 0x80, 0x00, 'a', 0x00}
		l.PaymentToken = []byte{0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1} // invalid UTF-8
		create(t, s, l)
		got := get(t, s, "a")
		require.Equal(t, l.Token, got.Token)
		require.Equal(t, l.PaymentToken, got.PaymentToken)

		got.Token, got.PaymentToken = big, []byte{}
		update(t, s, got, nil)
		back := get(t, s, "a")
		require.True(t, bytes.Equal(big, back.Token))
		require.Nil(t, back.PaymentToken, "an empty slice is stored as none and read back as nil")
	}},
	{"CallerCopies", func(t *testing.T, s linking.Store) {
		l := newLink("a")
		create(t, s, l)
		l.Token[0] = 'X'
		l.CRID = "mutated"
		got := get(t, s, "a")
		require.Equal(t, byte('s'), got.Token[0], "CreateLink must copy the caller's bytes")
		require.EqualValues(t, "12345678", got.CRID)
		got.Token[0] = 'Y'
		got.PaymentToken[0] = 'Y'
		again := get(t, s, "a")
		require.Equal(t, byte('s'), again.Token[0], "GetLink must return a copy")
		require.Equal(t, byte('s'), again.PaymentToken[0])

		next := []byte("next")
		again.Token = next
		back := update(t, s, again, nil)
		next[0] = 'Z'
		require.Equal(t, []byte("next"), get(t, s, "a").Token, "UpdateLink must copy the caller's bytes")
		back.Token[0] = 'Y'
		require.Equal(t, []byte("next"), get(t, s, "a").Token, "UpdateLink must return a copy")

		a := newAuth("a", "st", base.Add(time.Hour))
		require.NoError(t, s.PutAuthRequest(ctx(t), a))
		a.Verifier[0] = 'X'
		a.SessionHash[0] ^= 0xff
		got2, err := s.ConsumeAuthRequest(ctx(t), hash("st"), base)
		require.NoError(t, err)
		require.Equal(t, []byte("sealed-verifier\x00"), got2.Verifier)
		require.Equal(t, hash("session-st"), got2.SessionHash)
	}},
}

var authTests = []test{
	{"ConsumeOnce", func(t *testing.T, s linking.Store) {
		create(t, s, newLink("a"))
		a := newAuth("a", "st", base.Add(10*time.Minute))
		a.StateHash = append(a.StateHash[:31:31], 0x00) // NUL bytes in keys are fine
		a.CreatedAt = base.Add(123 * time.Nanosecond)
		before := storekit.CloneAuthRequest(a)
		require.NoError(t, s.PutAuthRequest(ctx(t), a))
		require.Equal(t, before, a, "PutAuthRequest must not modify the caller's request")
		now := base.Add(time.Minute + 123456789*time.Nanosecond)
		got, err := s.ConsumeAuthRequest(ctx(t), a.StateHash, now)
		require.NoError(t, err)
		want := storekit.CloneAuthRequest(a)
		want.CreatedAt, want.ExpiresAt, want.UsedAt = utcMicro(a.CreatedAt), utcMicro(a.ExpiresAt), utcMicro(now)
		require.Equal(t, want, got)
		require.Equal(t, time.UTC, got.UsedAt.Location())

		_, err = s.ConsumeAuthRequest(ctx(t), a.StateHash, now)
		require.ErrorIs(t, err, linking.ErrAuthRequestUsed, "a replay must be rejected")
		_, err = s.ConsumeAuthRequest(ctx(t), a.StateHash, now.Add(-time.Hour))
		require.ErrorIs(t, err, linking.ErrAuthRequestUsed)
	}},
	{"ConcurrentConsumeOneWinner", func(t *testing.T, s linking.Store) {
		const n = 50
		create(t, s, newLink("a"))
		require.NoError(t, s.PutAuthRequest(ctx(t), newAuth("a", "st", base.Add(time.Hour))))
		var wins, used atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range n {
			wg.Go(func() {
				<-start
				_, err := s.ConsumeAuthRequest(ctx(t), hash("st"), base)
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, linking.ErrAuthRequestUsed):
					used.Add(1)
				default:
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		require.Equal(t, int32(1), wins.Load(), "exactly one consumer wins")
		require.Equal(t, int32(n-1), used.Load())
	}},
	{"Expired", func(t *testing.T, s linking.Store) {
		create(t, s, newLink("a"))
		require.NoError(t, s.PutAuthRequest(ctx(t), newAuth("a", "st", base.Add(10*time.Minute))))
		_, err := s.ConsumeAuthRequest(ctx(t), hash("st"), base.Add(10*time.Minute))
		require.ErrorIs(t, err, linking.ErrAuthRequestExpired, "ExpiresAt itself is expired")
		_, err = s.ConsumeAuthRequest(ctx(t), hash("st"), base)
		require.ErrorIs(t, err, linking.ErrAuthRequestUsed, "an expired request cannot be retried")

		require.NoError(t, s.PutAuthRequest(ctx(t), newAuth("a", "st2", base.Add(10*time.Minute))))
		_, err = s.ConsumeAuthRequest(ctx(t), hash("st2"), base.Add(10*time.Minute-time.Microsecond))
		require.NoError(t, err, "one microsecond before expiry is still valid")
	}},
	{"Unknown", func(t *testing.T, s linking.Store) {
		_, err := s.ConsumeAuthRequest(ctx(t), hash("nope"), base)
		require.ErrorIs(t, err, linking.ErrNotFound)
		_, err = s.ConsumeAuthRequest(ctx(t), nil, base)
		require.ErrorIs(t, err, linking.ErrNotFound)
		_, err = s.ConsumeAuthRequest(ctx(t), hash("nope"), time.Time{})
		require.ErrorIs(t, err, linking.ErrInvalidRecord, "now must be set")
	}},
	{"PutRules", func(t *testing.T, s linking.Store) {
		require.ErrorIs(t, s.PutAuthRequest(ctx(t), newAuth("a", "st", base.Add(time.Hour))), linking.ErrNotFound,
			"an auth request needs its link")
		create(t, s, newLink("a"))
		require.NoError(t, s.PutAuthRequest(ctx(t), newAuth("a", "st", base.Add(time.Hour))))
		require.ErrorIs(t, s.PutAuthRequest(ctx(t), newAuth("a", "st", base.Add(2*time.Hour))), linking.ErrAlreadyExists)
		bad := newAuth("a", "x", base.Add(time.Hour))
		bad.StateHash = nil
		require.ErrorIs(t, s.PutAuthRequest(ctx(t), bad), linking.ErrInvalidRecord)
		bad = newAuth("a", "x", time.Time{})
		require.ErrorIs(t, s.PutAuthRequest(ctx(t), bad), linking.ErrInvalidRecord)
	}},
	{"DeleteExpired", func(t *testing.T, s linking.Store) {
		create(t, s, newLink("a"))
		for i, d := range []time.Duration{-time.Minute, 0, time.Minute} {
			require.NoError(t, s.PutAuthRequest(ctx(t), newAuth("a", fmt.Sprint("st", i), base.Add(d))))
		}
		_, err := s.ConsumeAuthRequest(ctx(t), hash("st0"), base.Add(-2*time.Minute))
		require.NoError(t, err)
		n, err := s.DeleteExpiredAuthRequests(ctx(t), base)
		require.NoError(t, err)
		require.Equal(t, 1, n, "only requests expiring strictly before `before` go")
		_, err = s.ConsumeAuthRequest(ctx(t), hash("st0"), base)
		require.ErrorIs(t, err, linking.ErrNotFound)
		_, err = s.ConsumeAuthRequest(ctx(t), hash("st2"), base)
		require.NoError(t, err)
		n, err = s.DeleteExpiredAuthRequests(ctx(t), base.Add(time.Hour))
		require.NoError(t, err)
		require.Equal(t, 2, n)
	}},
}

var lockTests = []test{
	{"MutualExclusion", func(t *testing.T, s linking.Store) {
		const n = 20
		l := newLink("a")
		l.CheckAttempts = 0
		create(t, s, l)
		var inside, overlaps atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range n {
			wg.Go(func() {
				<-start
				err := s.LockLink(ctx(t), "a", func(_ context.Context, tx linking.LinkTx) error {
					if inside.Add(1) != 1 {
						overlaps.Add(1)
					}
					defer inside.Add(-1)
					cur, err := tx.Get()
					if err != nil {
						return err
					}
					time.Sleep(time.Millisecond) // widen the window a peer could slip into
					cur.CheckAttempts++
					_, err = tx.Update(cur, &linking.Event{To: cur.State, Cause: "tick"})
					return err
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		require.Zero(t, overlaps.Load(), "LockLink callers must never overlap")
		got := get(t, s, "a")
		require.Equal(t, n, got.CheckAttempts, "no update under the lock may conflict or be lost")
		require.Equal(t, int64(n+1), got.Version)
		evs, err := s.Events(ctx(t), "a")
		require.NoError(t, err)
		require.Len(t, evs, n)
	}},
	{"GetSeesOwnUpdates", func(t *testing.T, s linking.Store) {
		create(t, s, newLink("a"))
		err := s.LockLink(ctx(t), "a", func(_ context.Context, tx linking.LinkTx) error {
			l, err := tx.Get()
			require.NoError(t, err)
			require.Equal(t, int64(1), l.Version)
			l.Token = []byte("rotated")
			l = txUpdate(t, tx, l, &linking.Event{To: l.State, Cause: "refresh"})
			require.Equal(t, int64(2), l.Version)
			again, err := tx.Get()
			require.NoError(t, err)
			require.Equal(t, stored(l), again)
			again.LastError = "twice"
			txUpdate(t, tx, again, nil)
			stale := storekit.CloneLink(l)
			require.ErrorIs(t, txErr(tx.Update(stale, nil)), linking.ErrConflict, "CAS applies inside the lock too")
			other := newLink("b")
			other.Version = 1
			require.ErrorIs(t, txErr(tx.Update(other, nil)), linking.ErrInvalidRecord, "a LinkTx only updates its own link")
			return nil
		})
		require.NoError(t, err)
		got := get(t, s, "a")
		require.Equal(t, int64(3), got.Version)
		require.Equal(t, []byte("rotated"), got.Token)
		require.Equal(t, "twice", got.LastError)
	}},
	{"RollbackOnError", func(t *testing.T, s linking.Store) {
		create(t, s, newLink("a"))
		before := get(t, s, "a")
		boom := errors.New("boom")
		err := s.LockLink(ctx(t), "a", func(_ context.Context, tx linking.LinkTx) error {
			l, err := tx.Get()
			require.NoError(t, err)
			l.Token = []byte("lost")
			txUpdate(t, tx, l, &linking.Event{To: linking.StateActive})
			return boom
		})
		require.ErrorIs(t, err, boom, "LockLink returns fn's error")
		require.Equal(t, before, get(t, s, "a"), "updates are rolled back")
		evs, err := s.Events(ctx(t), "a")
		require.NoError(t, err)
		require.Empty(t, evs, "events are rolled back")
	}},
	{"RollbackOnPanic", func(t *testing.T, s linking.Store) {
		create(t, s, newLink("a"))
		before := get(t, s, "a")
		func() {
			defer func() { require.Equal(t, "fn panicked", recover()) }()
			_ = s.LockLink(ctx(t), "a", func(_ context.Context, tx linking.LinkTx) error {
				l, _ := tx.Get()
				l.LastError = "lost"
				txUpdate(t, tx, l, nil)
				panic("fn panicked")
			})
		}()
		require.Equal(t, before, get(t, s, "a"))
		// The lock was released.
		c, cancel := context.WithTimeout(ctx(t), 10*time.Second)
		defer cancel()
		require.NoError(t, s.LockLink(c, "a", func(context.Context, linking.LinkTx) error { return nil }))
	}},
	{"TxDoneAfterReturn", func(t *testing.T, s linking.Store) {
		create(t, s, newLink("a"))
		var kept linking.LinkTx
		require.NoError(t, s.LockLink(ctx(t), "a", func(_ context.Context, tx linking.LinkTx) error {
			kept = tx
			return nil
		}))
		_, err := kept.Get()
		require.ErrorIs(t, err, linking.ErrTxDone)
		l := get(t, s, "a")
		require.ErrorIs(t, txErr(kept.Update(l, nil)), linking.ErrTxDone)
		require.Equal(t, int64(1), get(t, s, "a").Version)
	}},
	{"WritersWaitForLock", func(t *testing.T, s linking.Store) {
		// A plain UpdateLink waits for the lock holder and then loses the CAS,
		// so the holder's save can never conflict.
		create(t, s, newLink("a"))
		outside := get(t, s, "a")
		done := make(chan error, 1)
		err := s.LockLink(ctx(t), "a", func(_ context.Context, tx linking.LinkTx) error {
			go func() {
				outside.LastError = "outside"
				_, err := s.UpdateLink(ctx(t), outside, nil)
				done <- err
			}()
			select {
			case err := <-done:
				return fmt.Errorf("UpdateLink did not wait for the lock: %v", err)
			case <-time.After(150 * time.Millisecond):
			}
			l, err := tx.Get()
			if err != nil {
				return err
			}
			l.LastError = "holder"
			_, err = tx.Update(l, nil)
			return err
		})
		require.NoError(t, err)
		require.ErrorIs(t, <-done, linking.ErrConflict)
		require.Equal(t, "holder", get(t, s, "a").LastError)
	}},
	{"WaitHonoursContext", func(t *testing.T, s linking.Store) {
		create(t, s, newLink("a"))
		release := make(chan struct{})
		locked := make(chan struct{})
		holder := make(chan error, 1)
		go func() {
			holder <- s.LockLink(ctx(t), "a", func(context.Context, linking.LinkTx) error {
				close(locked)
				<-release
				return nil
			})
		}()
		<-locked
		c, cancel := context.WithTimeout(ctx(t), 100*time.Millisecond)
		defer cancel()
		began := time.Now()
		err := s.LockLink(c, "a", func(context.Context, linking.LinkTx) error { return errors.New("must not run") })
		require.Error(t, err)
		require.True(t, errors.Is(err, context.DeadlineExceeded) || errors.Is(err, linking.ErrLockTimeout),
			"want a deadline or lock timeout error, got %v", err)
		require.Less(t, time.Since(began), 5*time.Second)
		close(release)
		require.NoError(t, <-holder)
	}},
	{"OtherLinksIndependent", func(t *testing.T, s linking.Store) {
		// Reads never wait for the lock (SQLite may serialise writes of
		// other links, so only reads are checked here).
		create(t, s, newLink("a"))
		create(t, s, newLink("b"))
		err := s.LockLink(ctx(t), "a", func(c context.Context, _ linking.LinkTx) error {
			rc, cancel := context.WithTimeout(c, 5*time.Second)
			defer cancel()
			if _, err := s.GetLink(rc, "a"); err != nil {
				return err
			}
			_, err := s.GetLink(rc, "b")
			return err
		})
		require.NoError(t, err)
	}},
}

func pending(id string, next time.Time) *linking.Link {
	l := newLink(id)
	l.State = linking.StateApprovalPending
	l.NextCheckAt = next
	return l
}

var claimTests = []test{
	{"DueOnly", func(t *testing.T, s linking.Store) {
		now := base.Add(time.Hour)
		lease := 5 * time.Minute
		create(t, s, pending("p1", now.Add(-3*time.Minute)))
		create(t, s, pending("p2", now.Add(-time.Minute)))
		create(t, s, pending("p3", time.Time{})) // never scheduled: due at once
		create(t, s, pending("p4", now.Add(time.Minute)))
		create(t, s, pending("p5", now))     // due exactly now
		active := pending("x1", time.Time{}) // active, nothing scheduled
		active.State = linking.StateActive
		create(t, s, active)
		keepAlive := pending("k1", now.Add(-30*time.Second)) // active, keep-alive due
		keepAlive.State = linking.StateActive
		create(t, s, keepAlive)
		unlinked := pending("x4", time.Time{})
		unlinked.State = linking.StateUnlinked
		create(t, s, unlinked)
		unscheduled := pending("x2", time.Time{}) // action required, no re-check
		unscheduled.State = linking.StateActionRequired
		create(t, s, unscheduled)
		recheck := pending("r1", now.Add(-2*time.Minute)) // action required, re-check scheduled
		recheck.State = linking.StateActionRequired
		create(t, s, recheck)
		later := pending("x3", now.Add(time.Minute))
		later.State = linking.StateActionRequired
		create(t, s, later)

		got, err := s.ClaimDue(ctx(t), now, 3, lease)
		require.NoError(t, err)
		require.Equal(t, []string{"p3", "p1", "r1"}, ids(got), "earliest NextCheckAt first, up to limit")
		for _, l := range got {
			require.Equal(t, utcMicro(now.Add(lease)), l.NextCheckAt)
			require.Equal(t, int64(2), l.Version)
			require.Equal(t, l, get(t, s, l.AccountID), "the claim is stored")
		}
		got, err = s.ClaimDue(ctx(t), now, 10, lease)
		require.NoError(t, err)
		require.Equal(t, []string{"p2", "k1", "p5"}, ids(got), "any state with NextCheckAt set is due")
		got, err = s.ClaimDue(ctx(t), now, 10, lease)
		require.NoError(t, err)
		require.Empty(t, got, "claimed links are leased")

		// A claimed link is updated with its new version.
		p1 := get(t, s, "p1")
		p1.CheckAttempts++
		update(t, s, p1, nil)

		// After the lease, they are due again.
		got, err = s.ClaimDue(ctx(t), now.Add(lease), 10, lease)
		require.NoError(t, err)
		require.ElementsMatch(t, []string{"k1", "p1", "p2", "p3", "p4", "p5", "r1", "x3"}, ids(got))

		got, err = s.ClaimDue(ctx(t), now.Add(time.Hour), 0, lease)
		require.NoError(t, err)
		require.Empty(t, got)
		_, err = s.ClaimDue(ctx(t), now, 1, 0)
		require.ErrorIs(t, err, linking.ErrInvalidRecord)
	}},
	{"ConcurrentClaimersNeverShare", func(t *testing.T, s linking.Store) {
		const links, claimers = 40, 8
		now := base.Add(time.Hour)
		for i := range links {
			create(t, s, pending(fmt.Sprintf("p%02d", i), now.Add(-time.Duration(i)*time.Second)))
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range claimers {
			wg.Go(func() {
				<-start
				for {
					got, err := s.ClaimDue(ctx(t), now, 3, time.Minute)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					if len(got) > 3 {
						t.Errorf("ClaimDue returned %d links, limit 3", len(got))
					}
					mu.Lock()
					for _, l := range got {
						seen[l.AccountID]++
					}
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		require.Len(t, seen, links, "every due link is claimed")
		for id, n := range seen {
			require.Equal(t, 1, n, "link %s claimed %d times", id, n)
		}
	}},
}

func ids(ls []*linking.Link) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.AccountID
	}
	return out
}

var listTests = []test{
	{"PagesThroughEveryLinkOnce", func(t *testing.T, s linking.Store) {
		want := []string{}
		for i := range 23 {
			id := fmt.Sprintf("acct-%02d", i)
			create(t, s, newLink(id))
			want = append(want, id)
		}
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 10, "paging must end")
			ids, err := s.ListAccountIDs(ctx(t), after, 5)
			require.NoError(t, err)
			require.LessOrEqual(t, len(ids), 5)
			if len(ids) == 0 {
				break
			}
			require.True(t, slices.IsSorted(ids), "ascending: %v", ids)
			got = append(got, ids...)
			after = ids[len(ids)-1]
		}
		require.Equal(t, want, got)
		ids, err := s.ListAccountIDs(ctx(t), "", 0)
		require.NoError(t, err)
		require.Empty(t, ids)
	}},
	{"Empty", func(t *testing.T, s linking.Store) {
		ids, err := s.ListAccountIDs(ctx(t), "", 10)
		require.NoError(t, err)
		require.Empty(t, ids)
	}},
}
