package memstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/storekit"
)

// Rate tables and the change feed (linking.TableStore).

// maxChanges is how many feed entries the store keeps; older ones are
// pruned and a reader that fell further behind gets ErrChangesPruned.
const maxChanges = 100_000

// feed is the store's change feed and its tables.
type feed struct {
	mu      sync.Mutex
	seq     int64
	changes []linking.Change
	tables  map[string]*linking.TableRecord
}

var _ linking.TableStore = (*store)(nil)

// changed appends one entry to the feed.
func (s *store) changed(kind linking.ChangeKind, key string) {
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	s.changedLocked(kind, key)
}

func (s *store) changedLocked(kind linking.ChangeKind, key string) {
	s.feed.seq++
	s.feed.changes = append(s.feed.changes, linking.Change{Seq: s.feed.seq, Kind: kind, Key: key})
	if len(s.feed.changes) > maxChanges {
		s.feed.changes = slices.Delete(s.feed.changes, 0, len(s.feed.changes)-maxChanges/2)
	}
}

// PutTable implements linking.TableStore.
func (s *store) PutTable(ctx context.Context, t *linking.TableRecord) (*linking.TableRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := storekit.CheckTableRecord(t); err != nil {
		return nil, err
	}
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	var rev int64
	if cur, ok := s.feed.tables[t.Key]; ok {
		rev = cur.Rev
	}
	if rev != t.Rev {
		return nil, fmt.Errorf("memstore: table %q rev %d: %w", t.Key, t.Rev, linking.ErrConflict)
	}
	c := storekit.CloneTableRecord(t)
	c.Rev++
	if s.feed.tables == nil {
		s.feed.tables = make(map[string]*linking.TableRecord)
	}
	s.feed.tables[t.Key] = c
	s.changedLocked(linking.ChangeTable, t.Key)
	return storekit.CloneTableRecord(c), nil
}

// GetTable implements linking.TableStore.
func (s *store) GetTable(ctx context.Context, key string) (*linking.TableRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	t, ok := s.feed.tables[key]
	if !ok {
		return nil, fmt.Errorf("memstore: table %q: %w", key, linking.ErrNotFound)
	}
	return storekit.CloneTableRecord(t), nil
}

// ListTables implements linking.TableStore.
func (s *store) ListTables(ctx context.Context) ([]*linking.TableRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	out := make([]*linking.TableRecord, 0, len(s.feed.tables))
	for _, t := range s.feed.tables {
		out = append(out, storekit.CloneTableRecord(t))
	}
	slices.SortFunc(out, func(a, b *linking.TableRecord) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// DeleteTable implements linking.TableStore.
func (s *store) DeleteTable(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	if _, ok := s.feed.tables[key]; ok {
		delete(s.feed.tables, key)
		s.changedLocked(linking.ChangeTable, key)
	}
	return nil
}

// Changes implements linking.TableStore.
func (s *store) Changes(ctx context.Context, after int64, limit int) ([]linking.Change, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	if len(s.feed.changes) > 0 && s.feed.changes[0].Seq > after+1 {
		return nil, fmt.Errorf("memstore: changes after %d: %w", after, linking.ErrChangesPruned)
	}
	i, _ := slices.BinarySearchFunc(s.feed.changes, after+1, func(c linking.Change, seq int64) int {
		return int(c.Seq - seq)
	})
	end := min(len(s.feed.changes), i+limit)
	return slices.Clone(s.feed.changes[i:end]), nil
}

// LastChange implements linking.TableStore.
func (s *store) LastChange(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.feed.mu.Lock()
	defer s.feed.mu.Unlock()
	return s.feed.seq, nil
}
