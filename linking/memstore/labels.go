package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/storekit"
)

// labelRecords are the label purchases (linking.LabelStore), under their
// own mutex: they never take a link lock.
type labelRecords struct {
	mu   sync.Mutex
	recs map[[2]string]*linking.LabelRecord // by account id, purchase id
}

var _ linking.LabelStore = (*store)(nil)

// CreateLabelRecord implements linking.LabelStore.
func (s *store) CreateLabelRecord(ctx context.Context, r *linking.LabelRecord) (*linking.LabelRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := storekit.PrepareLabelCreate(r, time.Now())
	if err != nil {
		return nil, err
	}
	s.labels.mu.Lock()
	defer s.labels.mu.Unlock()
	if s.labels.recs == nil {
		s.labels.recs = map[[2]string]*linking.LabelRecord{}
	}
	k := [2]string{c.AccountID, c.PurchaseID}
	if _, ok := s.labels.recs[k]; ok {
		return nil, fmt.Errorf("memstore: label purchase %q: %w", c.PurchaseID, linking.ErrAlreadyExists)
	}
	s.labels.recs[k] = c
	return storekit.CloneLabelRecord(c), nil
}

// GetLabelRecord implements linking.LabelStore.
func (s *store) GetLabelRecord(ctx context.Context, accountID, purchaseID string) (*linking.LabelRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.labels.mu.Lock()
	defer s.labels.mu.Unlock()
	r, ok := s.labels.recs[[2]string{accountID, purchaseID}]
	if !ok {
		return nil, fmt.Errorf("memstore: label purchase %q: %w", purchaseID, linking.ErrNotFound)
	}
	return storekit.CloneLabelRecord(r), nil
}

// UpdateLabelRecord implements linking.LabelStore.
func (s *store) UpdateLabelRecord(ctx context.Context, r *linking.LabelRecord) (*linking.LabelRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := storekit.PrepareLabelUpdate(r)
	if err != nil {
		return nil, err
	}
	s.labels.mu.Lock()
	defer s.labels.mu.Unlock()
	old, ok := s.labels.recs[[2]string{c.AccountID, c.PurchaseID}]
	switch {
	case !ok:
		return nil, fmt.Errorf("memstore: label purchase %q: %w", c.PurchaseID, linking.ErrNotFound)
	case old.Version != c.Version:
		return nil, fmt.Errorf("memstore: label purchase %q: %w", c.PurchaseID, linking.ErrConflict)
	}
	// Fixed at creation.
	c.IdempotencyKey, c.RequestHash, c.Body, c.Expected, c.CreatedAt = old.IdempotencyKey, old.RequestHash, old.Body, old.Expected, old.CreatedAt
	c.Location = old.Location
	c.Version = old.Version + 1
	s.labels.recs[[2]string{c.AccountID, c.PurchaseID}] = c
	return storekit.CloneLabelRecord(c), nil
}

// PendingLabelRecords implements linking.LabelStore.
func (s *store) PendingLabelRecords(ctx context.Context, before time.Time, limit int) ([]*linking.LabelRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	before = before.UTC().Truncate(time.Microsecond) // the precision stores keep, as SQL compares
	s.labels.mu.Lock()
	defer s.labels.mu.Unlock()
	var out []*linking.LabelRecord
	for _, r := range s.labels.recs {
		if r.Status == linking.LabelPending && r.UpdatedAt.Before(before) {
			out = append(out, storekit.CloneLabelRecord(r))
		}
	}
	slices.SortFunc(out, func(a, b *linking.LabelRecord) int {
		return cmp.Or(a.UpdatedAt.Compare(b.UpdatedAt), cmp.Compare(a.AccountID, b.AccountID), cmp.Compare(a.PurchaseID, b.PurchaseID))
	})
	return out[:min(limit, len(out))], nil
}
