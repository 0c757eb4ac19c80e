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
	m       sync.Map // account id -> *linkView
	gen     atomic.Uint64
	enabled atomic.Bool
}

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
	// (gaps.go); nil for almost every table.
	gaps gapSet
}

func (c *linkCache) get(accountID string) *linkView {
	if !c.enabled.Load() {
		return nil
	}
	v, ok := c.m.Load(accountID)
	if !ok {
		return nil
	}
	return v.(*linkView)
}

// put caches v if nothing was dropped since gen was read.
func (c *linkCache) put(gen uint64, v *linkView) {
	if !c.enabled.Load() {
		return
	}
	c.m.Store(v.accountID, v)
	if c.gen.Load() != gen { // a drop raced with the load: v may be stale
		c.m.CompareAndDelete(v.accountID, v)
	}
}

func (c *linkCache) drop(accountID string) {
	c.gen.Add(1)
	c.m.Delete(accountID)
}

func (c *linkCache) dropAll() {
	c.gen.Add(1)
	c.m.Clear()
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
		c.pricer, c.acct = pricer, acct
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
	if tok, exp, ok := l.cachedPaymentToken(lk); ok {
		v.payTok, v.payExp = tok, exp
	}
	if m, ok := l.tableMetaOf(accountID); ok {
		v.gaps = m.gaps
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
