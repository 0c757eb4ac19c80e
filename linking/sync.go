package linking

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"time"
)

// RunSync keeps this instance coherent with the fleet until ctx ends; run
// it on every instance. It
//
//   - installs every table the Store keeps into the Pricer of WithTables,
//     before the cache is turned on;
//   - follows the Store's change feed (every WithCacheStaleness, at once on
//     a PostgreSQL NOTIFY): links another instance changed leave this
//     instance's cache, changed tables are installed again;
//   - gets the contract table of every active link that lacks a complete
//     one from the TableSource (one instance per table, resumable).
//
// While it runs, Quote and a cached PaymentToken make no store round trip.
// Without it they read the Store every call. The Store must implement
// TableStore; RunSync returns an error at once when it does not.
func (l *Linker) RunSync(ctx context.Context) error {
	s, err := l.newSyncer(ctx)
	if err != nil {
		return err
	}
	defer l.cache.enabled.Store(false)
	if l.tableSrc != nil {
		go l.tableWorker(ctx)
		go func() { _ = l.rescanActive(ctx) }()
	}
	notifier, _ := l.rawStore.(ChangeNotifier)
	for {
		s.step(ctx)
		wait, cancel := context.WithTimeout(ctx, l.staleness/2)
		if notifier != nil {
			_ = notifier.WaitForChange(wait)
		} else {
			<-wait.Done()
		}
		cancel()
		if ctx.Err() != nil {
			return nil
		}
	}
}

// syncer follows the change feed.
type syncer struct {
	l  *Linker
	ts TableStore
	// cursor: every entry with Seq <= cursor was applied. Entries above a
	// gap were applied too (seen) but the gap may still fill in: a
	// transaction that took a lower Seq commits later.
	cursor   int64
	seen     map[int64]bool
	gapSince time.Time
	okAt     time.Time // last successful read of the feed (the Linker's clock)
}

// gapTimeout is how long a hole in the feed's Seq is waited for before it is
// taken for a rolled-back transaction. It exceeds the longest a link
// write's transaction may stay open (sqlstore's lock hold, 30 s).
const gapTimeout = time.Minute

func (l *Linker) newSyncer(ctx context.Context) (*syncer, error) {
	ts, err := l.tableStore()
	if err != nil {
		return nil, err
	}
	s := &syncer{l: l, ts: ts, seen: map[int64]bool{}}
	if err := s.reset(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// reset starts from scratch: cursor at the newest entry, every table
// installed, the cache empty and on.
func (s *syncer) reset(ctx context.Context) error {
	s.l.cache.enabled.Store(false)
	seq, err := s.ts.LastChange(ctx)
	if err != nil {
		return err
	}
	if s.l.pricer != nil {
		if err := s.l.installAll(ctx); err != nil {
			return err
		}
	}
	s.cursor, s.seen, s.gapSince = seq, map[int64]bool{}, time.Time{}
	s.l.cache.dropAll()
	s.okAt = s.l.now()
	s.l.cache.enabled.Store(true)
	return nil
}

// step reads and applies the feed once. When the feed cannot be read for
// longer than the staleness bound, the cache is turned off (every call
// reads the Store) until a reset succeeds.
func (s *syncer) step(ctx context.Context) {
	err := s.read(ctx)
	if errors.Is(err, ErrChangesPruned) || err == nil && !s.l.cache.enabled.Load() {
		err = s.reset(ctx) // pruned past the cursor, or back after an outage
	}
	if err == nil {
		s.okAt = s.l.now()
		return
	}
	if ctx.Err() != nil {
		return
	}
	s.l.logger.LogAttrs(ctx, slog.LevelWarn, "change feed", slog.String("error", err.Error()))
	if s.l.now().Sub(s.okAt) > s.l.staleness {
		s.l.cache.enabled.Store(false)
		s.l.cache.dropAll()
	}
}

func (s *syncer) read(ctx context.Context) error {
	for after := s.cursor; ; {
		changes, err := s.ts.Changes(ctx, after, 1000)
		if err != nil {
			return err
		}
		for _, c := range changes {
			if c.Seq > s.cursor && !s.seen[c.Seq] {
				s.apply(ctx, c)
				s.seen[c.Seq] = true
			}
		}
		if len(changes) < 1000 {
			break
		}
		after = changes[len(changes)-1].Seq
	}
	advanced := s.advance()
	switch {
	case len(s.seen) == 0:
		s.gapSince = time.Time{}
	case s.gapSince.IsZero() || advanced:
		s.gapSince = s.l.now()
	case s.l.now().Sub(s.gapSince) > gapTimeout:
		// The hole never filled (a rolled-back transaction took its Seq).
		s.cursor = slices.Min(slices.Collect(maps.Keys(s.seen))) - 1
		s.advance()
		s.gapSince = s.l.now()
	}
	return nil
}

// advance moves the cursor over the contiguous run of applied entries.
func (s *syncer) advance() bool {
	moved := false
	for s.seen[s.cursor+1] {
		delete(s.seen, s.cursor+1)
		s.cursor++
		moved = true
	}
	return moved
}

func (s *syncer) apply(ctx context.Context, c Change) {
	switch c.Kind {
	case ChangeLink:
		s.l.cache.drop(c.Key)
		if m, ok := s.l.tableMetaOf(c.Key); ok && !m.loaded && m.rec.Done > 0 {
			// A contract table stored before its link had an EPS account
			// (which the table record does not keep) installs now.
			s.l.installKey(ctx, TableKeyContract(c.Key))
		}
		if s.l.tableSrc != nil {
			s.l.maybeEnqueue(ctx, c.Key)
		}
	case ChangeTable:
		s.l.installKey(ctx, c.Key)
	}
}

// maybeEnqueue queues accountID's table sync when its link is active and
// this instance does not know of a complete table of the link's EPS account.
func (l *Linker) maybeEnqueue(ctx context.Context, accountID string) {
	lk, err := l.store.GetLink(ctx, accountID)
	if err != nil || lk.State != StateActive {
		return
	}
	if m, ok := l.tableMetaOf(accountID); ok && m.complete && (m.eps == "" || m.eps == lk.EPSAccount.Reveal()) {
		return
	}
	l.enqueueTable(accountID)
}

// rescanActive queues every active link without a complete table (at start,
// and for syncs that stopped and wait for USPS's quota).
func (l *Linker) rescanActive(ctx context.Context) error {
	after := ""
	for {
		ids, err := l.store.ListAccountIDs(ctx, after, 500)
		if err != nil || len(ids) == 0 {
			return err
		}
		for _, id := range ids {
			l.maybeEnqueue(ctx, id)
		}
		after = ids[len(ids)-1]
	}
}

// tableWorker runs the queued table syncs one at a time (each spends the
// shared USPS budget) and rescans every few minutes for syncs to resume.
func (l *Linker) tableWorker(ctx context.Context) {
	rescan := time.NewTicker(5 * time.Minute)
	defer rescan.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-l.tables.queue:
			l.tables.queued.Delete(id)
			if err := l.syncTable(ctx, id); err != nil && ctx.Err() == nil {
				l.logger.LogAttrs(ctx, slog.LevelWarn, "table sync", slog.String("account_id", id), slog.String("error", err.Error()))
			}
		case <-rescan.C:
			_ = l.rescanActive(ctx)
		}
	}
}
