package linking

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/nsalink/nsalink/nsarates"
)

// Tables: how a customer's contract table (and the published commercial
// table) reach every instance's Pricer.
//
// The Store is the tables' home (TableStore). RunSync, on every instance,
// loads them into the Pricer given to WithTables at start and again
// whenever the change feed says one changed; a link that becomes active
// gets its contract table from the TableSource of WithTables, once, by
// whichever instance claims it first.

// TableSource is where a newly active link's contract table comes from:
// ContractCSV (a contract price file the platform has) or ContractFromUSPS
// (a sync from USPS's prices API with the customer's token).
type TableSource interface {
	// fill loads rec's table for lk, saving progress with save (which
	// returns the stored record). It returns the last stored record.
	fill(ctx context.Context, l *Linker, lk *Link, rec *TableRecord, save func(*TableRecord) (*TableRecord, error)) (*TableRecord, error)
}

// WithTables makes the Linker keep pricer's tables from the Store, which
// must implement TableStore (memstore and sqlstore do): RunSync installs
// every stored table and follows changes, and Quote reports the state of
// the account's table. src gets the contract table of a link that becomes
// active; nil means the host stores tables itself with SetContractTable.
func WithTables(pricer *nsarates.Pricer, src TableSource) Option {
	return func(l *Linker) error {
		if pricer == nil {
			return errors.New("linking: WithTables: nil Pricer")
		}
		l.pricer, l.tableSrc = pricer, src
		return nil
	}
}

// WithCacheStaleness bounds how long another instance's change to a link or
// table may take to reach this Linker's cache (default 1 s): RunSync reads
// the change feed at least this often, and stops using the cache when it
// could not read the feed for this long. On PostgreSQL a NOTIFY wakes it at
// once, so the usual delay is a few milliseconds.
func WithCacheStaleness(d time.Duration) Option {
	return func(l *Linker) error {
		if d < 10*time.Millisecond || d > time.Minute {
			return errors.New("linking: WithCacheStaleness: between 10 ms and 1 minute")
		}
		l.staleness = d
		return nil
	}
}

// TableStatus is what a host shows about an account's contract table.
type TableStatus struct {
	// ID and Version of the table (empty until its first cells are stored).
	ID, Version string
	// Loaded: the table has prices; Complete: every cell of its source was
	// loaded (a sync from USPS fills it over hours: Done of Total cells).
	Loaded, Complete bool
	Done, Total      int
	// SyncedAt is when it last gained cells; LastError the last failed
	// sync's cause, without secrets.
	SyncedAt  time.Time
	LastError string
	// EffectiveFrom and EffectiveTo are the table's dates [from, to).
	EffectiveFrom, EffectiveTo time.Time
}

// tableMeta is what this process knows about one stored table.
type tableMeta struct {
	rec      TableRecord // without CSV and Checkpoint
	eps      string      // the installed table's account ("" for published)
	csvHash  [32]byte
	loaded   bool
	complete bool
	gaps     gapSet
}

// tableState is the tables' part of a Linker.
type tableState struct {
	mu    sync.Mutex
	metas map[string]*tableMeta // by record key
	// queue of accounts whose contract table should be fetched.
	queue  chan string
	queued sync.Map // account id -> struct{}
}

func (l *Linker) tableStore() (TableStore, error) {
	ts, ok := l.rawStore.(TableStore)
	if !ok {
		return nil, errors.New("linking: the Store does not keep tables (TableStore)")
	}
	return ts, nil
}

// SetContractTable stores t as accountID's contract table, complete. Every
// instance running RunSync installs it. t.Info().Account must be the EPS
// account of the link when the link has one.
func (l *Linker) SetContractTable(ctx context.Context, accountID string, t *nsarates.Table) error {
	if t == nil || t.Info().Account == "" {
		return errors.New("linking: SetContractTable: want a contract table (TableInfo.Account set)")
	}
	if lk, err := l.store.GetLink(ctx, accountID); err == nil && lk.EPSAccount != "" && lk.EPSAccount.Reveal() != t.Info().Account {
		return fmt.Errorf("linking: SetContractTable: table is for EPS account …%s, the link's is %s", last4(t.Info().Account), lk.EPSAccount.Last4())
	}
	return l.putWholeTable(ctx, TableKeyContract(accountID), accountID, t)
}

// SetCommercialTable stores t as the published commercial table every
// instance's Pricer falls back to.
func (l *Linker) SetCommercialTable(ctx context.Context, t *nsarates.Table) error {
	if t == nil || t.Info().Account != "" {
		return errors.New("linking: SetCommercialTable: want a published table (no TableInfo.Account)")
	}
	return l.putWholeTable(ctx, TableKeyCommercial, "", t)
}

func (l *Linker) putWholeTable(ctx context.Context, key, accountID string, t *nsarates.Table) error {
	// key is StoreTable's key of accountID.
	ts, err := l.tableStore()
	if err != nil {
		return err
	}
	if err := StoreTable(ctx, ts, accountID, t, l.now()); err != nil {
		return err
	}
	l.installKey(ctx, key) // this instance at once; others via the feed
	return nil
}

// StoreTable stores t whole in ts as SetContractTable (accountID set) or
// SetCommercialTable (accountID empty) do: complete, without a sync
// checkpoint or error, synced at now. It is for tools that write a Store
// directly, such as the operator CLI; running Linkers install the table
// through RunSync's change feed. Unlike SetContractTable it does not read
// the link: a contract table's TableInfo.Account must be checked against
// the link's EPS account (OpenEPS) by the caller.
func StoreTable(ctx context.Context, ts TableStore, accountID string, t *nsarates.Table, now time.Time) error {
	switch {
	case t == nil:
		return errors.New("linking: StoreTable: nil table")
	case accountID != "" && t.Info().Account == "":
		return errors.New("linking: StoreTable: a contract table needs TableInfo.Account (the EPS account)")
	case accountID == "" && t.Info().Account != "":
		return errors.New("linking: StoreTable: the commercial table has no TableInfo.Account")
	}
	key := TableKeyCommercial
	if accountID != "" {
		key = TableKeyContract(accountID)
	}
	// A lost compare-and-swap (another writer in between) is retried a
	// few times.
	for attempt := 0; ; attempt++ {
		rec, err := ts.GetTable(ctx, key)
		if errors.Is(err, ErrNotFound) {
			rec, err = &TableRecord{Key: key, AccountID: accountID}, nil
		}
		if err != nil {
			return err
		}
		if err := setRecordTable(rec, t, t.Len(), t.Len()); err != nil {
			return err
		}
		rec.Complete, rec.Checkpoint, rec.LastError = true, nil, ""
		rec.SyncedAt = now.UTC()
		_, err = ts.PutTable(ctx, rec)
		if errors.Is(err, ErrConflict) && attempt < 10 {
			continue
		}
		return err
	}
}

func setRecordTable(rec *TableRecord, t *nsarates.Table, done, total int) error {
	var b bytes.Buffer
	if err := t.WriteCSV(&b); err != nil {
		return err
	}
	// The EPS account pays postage: it is kept only in the link, sealed,
	// and put back from the link when the table is installed (install).
	// The record keeps its last four digits, which are not secret, so
	// that a table of the link's previous EPS account is not installed
	// for its new one.
	info := t.Info()
	csv, _, err := nsarates.SetCSVAccount(b.Bytes(), last4(info.Account))
	if err != nil {
		return err
	}
	rec.TableID, rec.Version = info.ID, info.Version
	rec.EffectiveFrom, rec.EffectiveTo = info.EffectiveFrom, info.EffectiveTo
	rec.CSV, rec.Done, rec.Total = csv, done, total
	return nil
}

// installAll installs every stored table; it is RunSync's start.
func (l *Linker) installAll(ctx context.Context) error {
	ts, err := l.tableStore()
	if err != nil {
		return err
	}
	recs, err := ts.ListTables(ctx)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		l.install(rec, l.linkEPS(ctx, rec))
	}
	return nil
}

// installKey re-reads one table and installs it (or removes it).
func (l *Linker) installKey(ctx context.Context, key string) {
	ts, err := l.tableStore()
	if err != nil || l.pricer == nil {
		return
	}
	rec, err := ts.GetTable(ctx, key)
	if errors.Is(err, ErrNotFound) {
		l.uninstall(key)
		return
	}
	if err != nil {
		l.logger.LogAttrs(ctx, slog.LevelWarn, "table reload", slog.String("key", key), slog.String("error", err.Error()))
		return
	}
	l.install(rec, l.linkEPS(ctx, rec))
}

// linkEPS is the EPS account of the link a stored contract table belongs
// to, which the table record does not keep (setRecordTable): "" for the
// commercial table, a table without cells, or a link that is missing or
// has no EPS account (the table then stays uninstalled). It reads the
// Store, so it runs before install takes the tables' lock.
func (l *Linker) linkEPS(ctx context.Context, rec *TableRecord) string {
	if rec.Key == TableKeyCommercial || rec.AccountID == "" || len(rec.CSV) == 0 {
		return ""
	}
	lk, err := l.store.GetLink(ctx, rec.AccountID)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			l.logger.LogAttrs(ctx, slog.LevelWarn, "table reload: reading its link",
				slog.String("key", rec.Key), slog.String("error", err.Error()))
		}
		return ""
	}
	return lk.EPSAccount.Reveal()
}

// install puts rec's table, with eps (linkEPS) as its EPS account, into
// the pricer (when its CSV or eps changed) and records what Quote and
// Status need.
func (l *Linker) install(rec *TableRecord, eps string) {
	if l.pricer == nil {
		return
	}
	ts := &l.tables
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.metas == nil {
		ts.metas = make(map[string]*tableMeta)
	}
	old := ts.metas[rec.Key]
	csv, mismatch, storedEPS := rec.CSV, error(nil), ""
	if len(csv) > 0 && rec.Key != TableKeyCommercial {
		// The record keeps the last four digits of the table's EPS
		// account (or, written before, all of them); the link has it.
		withEPS, stored, err := nsarates.SetCSVAccount(csv, eps)
		switch {
		case err != nil: // ReadCSV below says what is wrong
		case eps != "" && stored != "" && stored != eps && stored != last4(eps):
			mismatch = fmt.Errorf("the table is for EPS account …%s, the link's is …%s", last4(stored), last4(eps))
			storedEPS = last4(stored)
		default:
			csv = withEPS
		}
	}
	m := &tableMeta{rec: *rec, csvHash: sha256.Sum256(csv), complete: rec.Complete}
	m.rec.CSV, m.rec.Checkpoint = nil, nil
	if old != nil {
		m.eps, m.loaded, m.gaps = old.eps, old.loaded, old.gaps
	}
	if len(rec.CSV) > 0 && (old == nil || old.csvHash != m.csvHash || !old.loaded) {
		t, err := nsarates.ReadCSV(bytes.NewReader(csv))
		if mismatch != nil {
			err = mismatch
		}
		if err == nil {
			switch {
			case rec.Key == TableKeyCommercial:
				err = l.pricer.SetPublished(nsarates.SourceCommercial, t)
			case t.Info().Account == "":
				err = errors.New("contract table without an EPS account (no link, or the link has none)")
			default:
				err = l.pricer.SetContract(t)
			}
		}
		if err != nil {
			l.logger.LogAttrs(context.Background(), slog.LevelError, "stored table does not install",
				slog.String("key", rec.Key), slog.String("error", err.Error()))
			if mismatch != nil && !m.loaded {
				// Not the link's account: syncTable and maybeEnqueue
				// see it as stale and load the link's table.
				m.eps = storedEPS
			}
		} else {
			if old != nil && old.eps != "" && old.eps != t.Info().Account {
				l.pricer.RemoveContract(old.eps) // the link's EPS account changed
			}
			m.eps, m.loaded = t.Info().Account, true
			if rec.Key != TableKeyCommercial {
				m.gaps = tierGaps(t)
			}
		}
	}
	ts.metas[rec.Key] = m
	if rec.AccountID != "" {
		l.cache.drop(rec.AccountID)
	}
}

func (l *Linker) uninstall(key string) {
	ts := &l.tables
	ts.mu.Lock()
	defer ts.mu.Unlock()
	m := ts.metas[key]
	if m == nil {
		return
	}
	delete(ts.metas, key)
	switch {
	case key == TableKeyCommercial:
		_ = l.pricer.SetPublished(nsarates.SourceCommercial, nil)
	case m.eps != "":
		l.pricer.RemoveContract(m.eps)
	}
	if m.rec.AccountID != "" {
		l.cache.drop(m.rec.AccountID)
	}
}

// tableMetaOf returns what this process knows of accountID's contract table.
func (l *Linker) tableMetaOf(accountID string) (tableMeta, bool) {
	l.tables.mu.Lock()
	defer l.tables.mu.Unlock()
	m := l.tables.metas[TableKeyContract(accountID)]
	if m == nil {
		return tableMeta{}, false
	}
	return *m, true
}

func (l *Linker) tableStatus(accountID string) *TableStatus {
	m, ok := l.tableMetaOf(accountID)
	if !ok {
		return nil
	}
	r := m.rec
	return &TableStatus{
		ID: r.TableID, Version: r.Version, Loaded: m.loaded, Complete: m.complete,
		Done: r.Done, Total: r.Total, SyncedAt: r.SyncedAt, LastError: r.LastError,
		EffectiveFrom: r.EffectiveFrom, EffectiveTo: r.EffectiveTo,
	}
}

// ---------------------------------------------------------------------------
// Fetching a newly active link's table.

// tableLease is how long a claim on a table sync keeps other instances away.
const tableLease = 10 * time.Minute

// enqueueTable asks the sync worker to get accountID's contract table.
func (l *Linker) enqueueTable(accountID string) {
	if l.tableSrc == nil || l.tables.queue == nil {
		return
	}
	if _, dup := l.tables.queued.LoadOrStore(accountID, struct{}{}); dup {
		return
	}
	select {
	case l.tables.queue <- accountID:
	default:
		l.tables.queued.Delete(accountID) // full: a later change or rescan brings it back
	}
}

// syncTable gets accountID's contract table from the TableSource if its
// link is active and the table is not complete, unless another instance
// holds the sync's lease or USPS asked to wait.
func (l *Linker) syncTable(ctx context.Context, accountID string) error {
	if l.tableSrc == nil {
		return nil
	}
	lk, err := l.store.GetLink(ctx, accountID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if lk.State != StateActive {
		return nil
	}
	// A table of another EPS account (the customer changed it) is
	// replaced, not kept as complete.
	m, ok := l.tableMetaOf(accountID)
	stale := ok && m.eps != "" && m.eps != lk.EPSAccount.Reveal()
	return l.syncRecord(ctx, TableKeyContract(accountID), accountID, stale, func(rec *TableRecord, save func(*TableRecord) (*TableRecord, error)) (*TableRecord, error) {
		return l.tableSrc.fill(ctx, l, lk, rec, save)
	})
}

// SyncCommercialTable loads USPS's published commercial prices for cfg's
// plan (no account: the platform's own client and USPS budget) into the
// stored commercial table, which every instance then installs, so that
// fallback prices are real USPS prices. Like a contract sync it is
// resumable: a run that stops (MaxCallsPerRun, the USPS budget, an error)
// keeps its checkpoint in the Store, and the next call, on any instance,
// carries on without fetching a cell twice. It returns nil once the table
// is complete (and then does nothing), or the error that stopped the run.
// Only one instance runs it at a time (a lease in the Store); others
// return nil at once.
func (l *Linker) SyncCommercialTable(ctx context.Context, cfg USPSTables) error {
	if cfg.MaxCallsPerRun <= 0 || len(cfg.Plan.Products) == 0 || len(cfg.Plan.Zones) == 0 || len(cfg.Plan.Tiers) == 0 {
		return errors.New("linking: SyncCommercialTable: want a plan and MaxCallsPerRun")
	}
	if cfg.Plan.Info.Account != "" {
		return errors.New("linking: SyncCommercialTable: a published table has no TableInfo.Account")
	}
	return l.syncRecord(ctx, TableKeyCommercial, "", false, func(rec *TableRecord, save func(*TableRecord) (*TableRecord, error)) (*TableRecord, error) {
		return fillFromUSPS(ctx, l, l.usps, cfg, "", rec, save)
	})
}

// syncRecord claims the table of key (a lease in the Store), runs fill, and
// stores the outcome: the table so far, its coverage, the checkpoint, the
// error and, when USPS said so, the time before which nobody tries again.
// With restart, what is stored is dropped first and the table loaded anew.
func (l *Linker) syncRecord(ctx context.Context, key, accountID string, restart bool,
	fill func(rec *TableRecord, save func(*TableRecord) (*TableRecord, error)) (*TableRecord, error)) error {
	ts, err := l.tableStore()
	if err != nil {
		return err
	}
	rec, err := ts.GetTable(ctx, key)
	if errors.Is(err, ErrNotFound) {
		rec, err = &TableRecord{Key: key, AccountID: accountID}, nil
	}
	if err != nil {
		return err
	}
	now := l.now().UTC()
	if rec.Complete && !restart || now.Before(rec.LeaseUntil) {
		return nil // done, being synced elsewhere, or USPS asked to wait
	}
	if restart {
		rec.CSV, rec.Checkpoint, rec.Complete, rec.Done, rec.Total = nil, nil, false, 0, 0
		rec.TableID, rec.Version, rec.EffectiveFrom, rec.EffectiveTo = "", "", time.Time{}, time.Time{}
	}
	rec.LeaseOwner, rec.LeaseUntil = l.instance, now.Add(tableLease)
	rec, err = ts.PutTable(ctx, rec)
	if errors.Is(err, ErrConflict) {
		return nil // another instance claimed it first
	}
	if err != nil {
		return err
	}
	save := func(r *TableRecord) (*TableRecord, error) {
		r.LeaseOwner, r.LeaseUntil = l.instance, l.now().UTC().Add(tableLease)
		return ts.PutTable(ctx, r)
	}
	out, ferr := fill(rec, save)
	if out == nil {
		out = rec
	}
	out = cloneRecord(out)
	if ferr != nil {
		out.LastError = shortError(ferr)
		l.logger.LogAttrs(ctx, slog.LevelWarn, "table sync stopped",
			slog.String("key", key), slog.String("error", out.LastError))
	} else {
		out.LastError = ""
	}
	if out.LeaseOwner == l.instance {
		out.LeaseOwner, out.LeaseUntil = "", time.Time{}
	}
	if retry := retryAtOf(ferr); !retry.IsZero() {
		out.LeaseUntil = retry // nobody tries before USPS allows it
	}
	if _, err := ts.PutTable(context.WithoutCancel(ctx), out); err != nil && !errors.Is(err, ErrConflict) {
		return errors.Join(ferr, err)
	}
	l.installKey(ctx, key)
	return ferr
}

// retryAtError is an error that knows when USPS allows the next call.
type retryAtError struct {
	err error
	at  time.Time
}

func (e *retryAtError) Error() string { return e.err.Error() }
func (e *retryAtError) Unwrap() error { return e.err }

func retryAtOf(err error) time.Time {
	var r *retryAtError
	if errors.As(err, &r) {
		return r.at
	}
	return time.Time{}
}

func shortError(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

func last4(s string) string {
	if len(s) <= 4 {
		return s
	}
	return s[len(s)-4:]
}

// ContractCSV is a TableSource reading the contract price file the platform
// already has for an account (nsarates.CSVHeader format): open returns it,
// or an error wrapping ErrNotFound when there is none yet (the sync is
// tried again on the next change or start). The file's EPS account must be
// the link's.
func ContractCSV(open func(ctx context.Context, accountID string) (io.ReadCloser, error)) TableSource {
	return csvSource{open: open}
}

type csvSource struct {
	open func(ctx context.Context, accountID string) (io.ReadCloser, error)
}

func (s csvSource) fill(ctx context.Context, l *Linker, lk *Link, rec *TableRecord, save func(*TableRecord) (*TableRecord, error)) (*TableRecord, error) {
	rc, err := s.open(ctx, lk.AccountID)
	if err != nil {
		return rec, fmt.Errorf("contract file: %w", err)
	}
	t, err := nsarates.ReadCSV(rc)
	_ = rc.Close()
	if err != nil {
		return rec, fmt.Errorf("contract file: %w", err)
	}
	if t.Info().Account != lk.EPSAccount.Reveal() {
		return rec, fmt.Errorf("contract file: its EPS account …%s is not the link's (%s)", last4(t.Info().Account), lk.EPSAccount.Last4())
	}
	if err := setRecordTable(rec, t, t.Len(), t.Len()); err != nil {
		return rec, err
	}
	rec.Complete, rec.SyncedAt = true, l.now().UTC()
	return save(rec)
}
