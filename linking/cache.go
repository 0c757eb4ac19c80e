package linking

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/uspsbiz"
)

// The link cache keeps, per account, what Quote and PaymentToken need, so
// that neither makes a store round trip once warm.
//
// Coherence:
//   - in the process that writes a link (every write goes through
//     watchedStore), the account's entry is dropped when the write returns,
//     before the caller sees the result; a load racing with the write is not
//     cached (the generation check of put);
//   - across processes, RunSync follows the Store's change feed
//     (TableStore.Changes; woken at once by PostgreSQL NOTIFY) and drops the
//     entries of the links others changed. The cache is used only while
//     RunSync runs and has read the feed within the staleness bound
//     (WithCacheStaleness, default 1 s); otherwise every call reads the
//     Store, as without a cache.
type linkCache struct {
	// read is an immutable map of slots, swapped whole: a lookup is one
	// atomic load and one map access, without a lock. Slots are updated in
	// place (their atomic pointer); new accounts wait in dirty until enough
	// of them make it worth copying read (amortised O(1) per account).
	read    atomic.Pointer[map[string]*cacheSlot]
	mu      sync.Mutex
	dirty   map[string]*cacheSlot // slots not in read yet
	misses  int                   // lookups that had to lock since the last promotion
	gen     atomic.Uint64
	enabled atomic.Bool
}

type cacheSlot struct{ v atomic.Pointer[linkView] }

// linkView is an immutable snapshot of one link, as of one store read.
type linkView struct {
	accountID string
	state     State
	eps       string // digits, "" if none
	// acct is eps's handle in pricer (nil pricer: not resolved).
	pricer *nsarates.Pricer
	acct   nsarates.AccountID
	// payTok is the opened payment token while cachedPaymentToken allows it.
	payTok uspsbiz.Secret
	payExp time.Time
	// gaps are the holes in the tiers of the account's contract table
	// (gaps.go), by ProductID of pricer; nil for almost every table.
	gaps    [][]gapTier
	gapKeys gapSet
}

func (c *linkCache) slot(accountID string) *cacheSlot {
	if m := c.read.Load(); m != nil {
		if s := (*m)[accountID]; s != nil {
			return s
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.dirty[accountID]
	if s != nil {
		c.misses++
		c.promoteLocked(false)
	}
	return s
}

// hot is get for Quote's fast path, small enough to inline: a view in
// read, resolved for pricer, or nil.
func (c *linkCache) hot(accountID string, pricer *nsarates.Pricer) *linkView {
	if m := c.read.Load(); m != nil && c.enabled.Load() {
		if s := (*m)[accountID]; s != nil {
			if v := s.v.Load(); v != nil && v.pricer == pricer {
				return v
			}
		}
	}
	return nil
}

func (c *linkCache) get(accountID string) *linkView {
	if !c.enabled.Load() {
		return nil
	}
	if s := c.slot(accountID); s != nil {
		return s.v.Load()
	}
	return nil
}

// put caches v if nothing was dropped since gen was read.
func (c *linkCache) put(gen uint64, v *linkView) {
	if !c.enabled.Load() {
		return
	}
	s := c.slot(v.accountID)
	if s == nil {
		c.mu.Lock()
		if s = c.dirty[v.accountID]; s == nil {
			s = new(cacheSlot)
			if c.dirty == nil {
				c.dirty = make(map[string]*cacheSlot)
			}
			c.dirty[v.accountID] = s
			c.promoteLocked(true)
		}
		c.mu.Unlock()
	}
	s.v.Store(v)
	if c.gen.Load() != gen { // a drop raced with the load: v may be stale
		s.v.CompareAndSwap(v, nil)
	}
}

// promoteLocked moves dirty into a new read map once the lookups that had
// to lock for it, or the accounts it holds, pay for copying read: the copy
// is O(len(read)), so it waits for len(read)/64 of either.
func (c *linkCache) promoteLocked(grew bool) {
	old := c.read.Load()
	n := 0
	if old != nil {
		n = len(*old)
	}
	if grew && len(c.dirty) < n/4+8 || !grew && c.misses < max(len(c.dirty), n/64) {
		return
	}
	m := make(map[string]*cacheSlot, n+len(c.dirty))
	if old != nil {
		for k, s := range *old {
			m[k] = s
		}
	}
	for k, s := range c.dirty {
		m[k] = s
	}
	c.read.Store(&m)
	c.dirty, c.misses = nil, 0
}

func (c *linkCache) drop(accountID string) {
	c.gen.Add(1)
	if s := c.slot(accountID); s != nil {
		s.v.Store(nil)
	}
}

func (c *linkCache) dropAll() {
	c.gen.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.read.Store(nil)
	c.dirty, c.misses = nil, 0
}

// view returns the cached view of accountID, or reads the link and caches
// its view. A missing link is an unlinked view (not cached: it has no
// feed entry until CreateLink, which drops it anyway).
func (l *Linker) view(ctx context.Context, accountID string, pricer *nsarates.Pricer) (*linkView, error) {
	if v := l.cache.get(accountID); v != nil {
		if v.pricer == pricer || v.state != StateActive || pricer == nil {
			return v, nil
		}
		// Another Pricer than the one cached: resolve its handle (rare).
		acct, err := pricer.Account(v.eps)
		if err != nil {
			return nil, errors.New("linking: active link without a valid EPS account")
		}
		c := *v
		c.pricer, c.acct, c.gaps = pricer, acct, v.gapKeys.byProductID(pricer)
		return &c, nil
	}
	gen := l.cache.gen.Load()
	lk, err := l.store.GetLink(ctx, accountID)
	if errors.Is(err, ErrNotFound) {
		v := &linkView{accountID: accountID, state: StateUnlinked}
		l.cache.put(gen, v)
		return v, nil
	}
	if err != nil {
		return nil, err
	}
	v := &linkView{accountID: accountID, state: lk.State, eps: lk.EPSAccount.Reveal(), pricer: pricer}
	if v.state == StateActive && pricer != nil {
		if v.acct, err = pricer.Account(v.eps); err != nil {
			return nil, errors.New("linking: active link without a valid EPS account")
		}
	}
	if tok, exp, ok := l.cachedPaymentToken(lk, ""); ok {
		v.payTok, v.payExp = tok, exp
	}
	if m, ok := l.tableMetaOf(accountID); ok {
		v.gapKeys, v.gaps = m.gaps, m.gaps.byProductID(pricer)
	}
	l.cache.put(gen, v)
	return v, nil
}

// watchedStore is the Store as the Linker uses it: every write drops the
// account's cache entry when it returns, committed or not.
type watchedStore struct {
	Store
	c *linkCache
}

func (s *watchedStore) CreateLink(ctx context.Context, lk *Link) (*Link, error) {
	defer s.c.drop(lk.AccountID)
	return s.Store.CreateLink(ctx, lk)
}

func (s *watchedStore) UpdateLink(ctx context.Context, lk *Link, ev *Event) (*Link, error) {
	defer s.c.drop(lk.AccountID)
	return s.Store.UpdateLink(ctx, lk, ev)
}

func (s *watchedStore) DeleteLink(ctx context.Context, accountID string) error {
	defer s.c.drop(accountID)
	return s.Store.DeleteLink(ctx, accountID)
}

func (s *watchedStore) LockLink(ctx context.Context, accountID string, fn func(context.Context, LinkTx) error) error {
	defer s.c.drop(accountID)
	return s.Store.LockLink(ctx, accountID, fn)
}

func (s *watchedStore) ClaimDue(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*Link, error) {
	links, err := s.Store.ClaimDue(ctx, now, limit, lease)
	for _, lk := range links {
		s.c.drop(lk.AccountID)
	}
	return links, err
}
