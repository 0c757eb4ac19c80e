package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nsalink/nsalink/internal/keylock"
	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/storekit"
)

// store is the in-memory linking.Store.
type store struct {
	mu     sync.Mutex // guards the maps below
	links  map[string]*linking.Link
	events map[string][]linking.Event
	auth   map[string]*linking.AuthRequest // by string(StateHash)

	// locks are the per-link locks of LockLink. Lock order: a link lock,
	// then mu; code holding mu only ever try-locks a link lock.
	locks keylock.Set

	labels labelRecords // labels.go
	feed   feed         // rate tables and the change feed (tables.go)
}

// New returns an empty in-memory linking.Store: for tests and single-process
// demos (it forgets everything when the process ends). Its LockLink is a
// per-link mutex, and ClaimDue skips links locked by it.
func New() linking.Store {
	return &store{
		links:  make(map[string]*linking.Link),
		events: make(map[string][]linking.Event),
		auth:   make(map[string]*linking.AuthRequest),
	}
}

// CreateLink implements linking.Store.
func (s *store) CreateLink(ctx context.Context, l *linking.Link) (*linking.Link, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := storekit.PrepareCreate(l, time.Now())
	if err != nil {
		return nil, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.links[c.AccountID]; ok {
		return nil, fmt.Errorf("memstore: link %q: %w", c.AccountID, linking.ErrAlreadyExists)
	}
	s.links[c.AccountID] = c
	s.changed(linking.ChangeLink, c.AccountID)
	return storekit.CloneLink(c), nil
}

// GetLink implements linking.Store.
func (s *store) GetLink(ctx context.Context, accountID string) (*linking.Link, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.links[accountID]
	if !ok {
		return nil, fmt.Errorf("memstore: link %q: %w", accountID, linking.ErrNotFound)
	}
	return storekit.CloneLink(l), nil
}

// UpdateLink implements linking.Store. It waits for the link's lock.
func (s *store) UpdateLink(ctx context.Context, l *linking.Link, ev *linking.Event) (*linking.Link, error) {
	c, e, err := storekit.PrepareUpdate(l, ev)
	if err != nil {
		return nil, err
	}
	unlock, err := s.locks.Lock(ctx, l.AccountID)
	if err != nil {
		return nil, err
	}
	defer unlock()

	s.mu.Lock()
	defer s.mu.Unlock()
	stored, err := apply(s.links[l.AccountID], lastSeq(s.events[l.AccountID]), c, e)
	if err != nil {
		return nil, err
	}
	s.links[l.AccountID] = stored
	s.changed(linking.ChangeLink, l.AccountID)
	if e != nil {
		s.events[l.AccountID] = append(s.events[l.AccountID], *e)
	}
	return storekit.CloneLink(stored), nil
}

// DeleteLink implements linking.Store. It waits for the link's lock.
func (s *store) DeleteLink(ctx context.Context, accountID string) error {
	unlock, err := s.locks.Lock(ctx, accountID)
	if err != nil {
		return err
	}
	defer unlock()

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.links[accountID]; ok {
		s.changed(linking.ChangeLink, accountID)
	}
	delete(s.links, accountID)
	delete(s.events, accountID)
	for k, a := range s.auth {
		if a.AccountID == accountID {
			delete(s.auth, k)
		}
	}
	return nil
}

// Events implements linking.Store.
func (s *store) Events(ctx context.Context, accountID string) ([]linking.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events[accountID]), nil
}

// PutAuthRequest implements linking.Store.
func (s *store) PutAuthRequest(ctx context.Context, a *linking.AuthRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := storekit.PrepareAuthRequest(a, time.Now())
	if err != nil {
		return err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.links[c.AccountID]; !ok {
		return fmt.Errorf("memstore: auth request for link %q: %w", c.AccountID, linking.ErrNotFound)
	}
	key := string(c.StateHash)
	if _, ok := s.auth[key]; ok {
		return fmt.Errorf("memstore: auth request: %w", linking.ErrAlreadyExists)
	}
	s.auth[key] = c
	return nil
}

// ConsumeAuthRequest implements linking.Store.
func (s *store) ConsumeAuthRequest(ctx context.Context, stateHash []byte, now time.Time) (*linking.AuthRequest, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if now.IsZero() {
		return nil, fmt.Errorf("%w: now is zero", linking.ErrInvalidRecord)
	}
	now = normTime(now)

	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.auth[string(stateHash)]
	switch {
	case !ok:
		return nil, fmt.Errorf("memstore: auth request: %w", linking.ErrNotFound)
	case !a.UsedAt.IsZero():
		return nil, fmt.Errorf("memstore: auth request: %w", linking.ErrAuthRequestUsed)
	}
	a.UsedAt = now
	if !now.Before(a.ExpiresAt) {
		return nil, fmt.Errorf("memstore: auth request: %w", linking.ErrAuthRequestExpired)
	}
	return storekit.CloneAuthRequest(a), nil
}

// ListAccountIDs implements linking.Store, in byte order.
func (s *store) ListAccountIDs(ctx context.Context, after string, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	s.mu.Lock()
	ids := make([]string, 0, len(s.links))
	for id := range s.links {
		if id > after {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	slices.Sort(ids)
	return ids[:min(limit, len(ids))], nil
}

// DeleteExpiredAuthRequests implements linking.Store.
func (s *store) DeleteExpiredAuthRequests(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	before = normTime(before)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, a := range s.auth {
		if a.ExpiresAt.Before(before) {
			delete(s.auth, k)
			n++
		}
	}
	return n, nil
}

// LockLink implements linking.Store with a per-link lock. Updates made
// through the LinkTx are staged and applied only when fn returns nil.
func (s *store) LockLink(ctx context.Context, accountID string, fn func(context.Context, linking.LinkTx) error) error {
	unlock, err := s.locks.Lock(ctx, accountID)
	if err != nil {
		return err
	}
	defer unlock()

	s.mu.Lock()
	cur, ok := s.links[accountID]
	tx := &memTx{id: accountID, cur: storekit.CloneLink(cur), lastSeq: lastSeq(s.events[accountID])}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("memstore: link %q: %w", accountID, linking.ErrNotFound)
	}

	defer func() { tx.done = true }() // also on panic
	if err := fn(ctx, tx); err != nil {
		return err
	}
	tx.done = true
	if !tx.dirty {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Holding the link lock, nobody else changed the link or its events.
	s.links[accountID] = tx.cur
	s.events[accountID] = append(s.events[accountID], tx.events...)
	s.changed(linking.ChangeLink, accountID)
	return nil
}

// ClaimDue implements linking.Store. Links locked by LockLink or being
// updated are skipped, like FOR UPDATE SKIP LOCKED.
func (s *store) ClaimDue(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*linking.Link, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if now.IsZero() || lease <= 0 {
		return nil, fmt.Errorf("%w: ClaimDue needs a non-zero now and a positive lease", linking.ErrInvalidRecord)
	}
	if limit <= 0 {
		return nil, nil
	}
	now = normTime(now)
	next := normTime(now.Add(lease))

	s.mu.Lock()
	defer s.mu.Unlock()
	var due []*linking.Link
	for _, l := range s.links {
		scheduled := l.State == linking.StateApprovalPending || !l.NextCheckAt.IsZero()
		if scheduled && !l.NextCheckAt.After(now) {
			due = append(due, l)
		}
	}
	slices.SortFunc(due, func(a, b *linking.Link) int {
		return cmp.Or(a.NextCheckAt.Compare(b.NextCheckAt), cmp.Compare(a.AccountID, b.AccountID))
	})
	var out []*linking.Link
	for _, l := range due {
		if len(out) == limit {
			break
		}
		unlock, ok := s.locks.TryLock(l.AccountID)
		if !ok {
			continue
		}
		l.NextCheckAt, l.UpdatedAt = next, now
		l.Version++
		unlock()
		s.changed(linking.ChangeLink, l.AccountID)
		out = append(out, storekit.CloneLink(l))
	}
	return out, nil
}

// memTx is the LinkTx of LockLink: a private copy of the link plus the
// events to append on commit.
type memTx struct {
	id      string
	cur     *linking.Link
	lastSeq int64
	events  []linking.Event
	dirty   bool
	done    bool
}

func (t *memTx) Get() (*linking.Link, error) {
	if t.done {
		return nil, linking.ErrTxDone
	}
	return storekit.CloneLink(t.cur), nil
}

func (t *memTx) Update(l *linking.Link, ev *linking.Event) (*linking.Link, error) {
	if t.done {
		return nil, linking.ErrTxDone
	}
	c, e, err := storekit.PrepareUpdate(l, ev)
	if err != nil {
		return nil, err
	}
	if l.AccountID != t.id {
		return nil, fmt.Errorf("%w: LinkTx of %q cannot update link %q", linking.ErrInvalidRecord, t.id, l.AccountID)
	}
	stored, err := apply(t.cur, t.lastSeq, c, e)
	if err != nil {
		return nil, err
	}
	t.cur, t.dirty = stored, true
	if e != nil {
		t.events = append(t.events, *e)
		t.lastSeq = e.Seq
	}
	return storekit.CloneLink(stored), nil
}

// apply is the compare and swap of UpdateLink on the prepared copies c and
// e (see storekit.PrepareUpdate): it checks c against cur and completes c
// and e with the store-assigned fields (Version, CreatedAt, Seq). It does
// not modify cur.
func apply(cur *linking.Link, lastSeq int64, c *linking.Link, e *linking.Event) (*linking.Link, error) {
	if cur == nil {
		return nil, fmt.Errorf("memstore: link %q: %w", c.AccountID, linking.ErrNotFound)
	}
	if cur.Version != c.Version {
		return nil, fmt.Errorf("memstore: link %q version %d: %w", c.AccountID, c.Version, linking.ErrConflict)
	}
	c.CreatedAt = cur.CreatedAt
	c.Version = cur.Version + 1
	if e != nil {
		e.Seq = lastSeq + 1
	}
	return c, nil
}

func lastSeq(evs []linking.Event) int64 {
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Seq
}

// normTime returns t in UTC truncated to microseconds; zero stays zero.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}
