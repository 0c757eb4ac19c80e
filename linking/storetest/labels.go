package storetest

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/linking"
)

// RunLabels runs the conformance suite of linking.LabelStore against the
// stores newStore returns (fresh and empty, once per subtest); each must
// implement linking.LabelStore.
func RunLabels(t *testing.T, newStore func(t *testing.T) linking.Store) {
	for _, tc := range labelTests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			ls, ok := s.(linking.LabelStore)
			require.True(t, ok, "%T does not implement linking.LabelStore", s)
			tc.fn(t, ls)
		})
	}
}

// newLabelRecord returns a pending purchase with every creation field set.
func newLabelRecord(account, purchase string) *linking.LabelRecord {
	body := []byte(`{"toAddress":{"ZIPCode":"63118"},"purchase":"` + purchase + `"}`)
	sum := sha256.Sum256(body)
	return &linking.LabelRecord{
		AccountID: account, PurchaseID: purchase, IdempotencyKey: "8be4df61-93ca-11d2-aa0d-00e098032b8c",
		RequestHash: sum[:], Body: body,
		Expected: linking.ExpectedPrice{Postage: 712, SKU: "DUXP0XXXXN01050", Zone: "05"},
		Location: "East DC",
		Status:   linking.LabelPending, CreatedAt: base, UpdatedAt: base,
	}
}

func storedLabel(r *linking.LabelRecord) *linking.LabelRecord {
	c := *r
	c.CreatedAt, c.UpdatedAt, c.CancelDeadline = utcMicro(r.CreatedAt), utcMicro(r.UpdatedAt), utcMicro(r.CancelDeadline)
	c.Version = 1
	return &c
}

var labelTests = []struct {
	name string
	fn   func(t *testing.T, s linking.LabelStore)
}{
	{"CreateGet", func(t *testing.T, s linking.LabelStore) {
		r := newLabelRecord("acct-1", "order-1")
		got, err := s.CreateLabelRecord(ctx(t), r)
		require.NoError(t, err)
		require.Equal(t, storedLabel(r), got)
		back, err := s.GetLabelRecord(ctx(t), "acct-1", "order-1")
		require.NoError(t, err)
		require.Equal(t, storedLabel(r), back)
		back.Body[0] = 'X'
		again, err := s.GetLabelRecord(ctx(t), "acct-1", "order-1")
		require.NoError(t, err)
		require.Equal(t, storedLabel(r), again, "results are copies")
		_, err = s.GetLabelRecord(ctx(t), "acct-2", "order-1")
		require.ErrorIs(t, err, linking.ErrNotFound)
		// The same purchase id in another account is another purchase.
		_, err = s.CreateLabelRecord(ctx(t), newLabelRecord("acct-2", "order-1"))
		require.NoError(t, err)
	}},
	{"CreateDuplicate", func(t *testing.T, s linking.LabelStore) {
		_, err := s.CreateLabelRecord(ctx(t), newLabelRecord("acct-1", "order-1"))
		require.NoError(t, err)
		other := newLabelRecord("acct-1", "order-1")
		other.IdempotencyKey = "00000000-0000-4000-8000-000000000000"
		_, err = s.CreateLabelRecord(ctx(t), other)
		require.ErrorIs(t, err, linking.ErrAlreadyExists)
		back, err := s.GetLabelRecord(ctx(t), "acct-1", "order-1")
		require.NoError(t, err)
		require.Equal(t, "8be4df61-93ca-11d2-aa0d-00e098032b8c", back.IdempotencyKey, "the first intent stays")
	}},
	{"CreateConcurrent", func(t *testing.T, s linking.LabelStore) {
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				r := newLabelRecord("acct-1", "order-1")
				r.IdempotencyKey = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
				_, errs[i] = s.CreateLabelRecord(ctx(t), r)
			})
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
			} else {
				require.ErrorIs(t, err, linking.ErrAlreadyExists)
			}
		}
		require.Equal(t, 1, won, "exactly one intent is recorded")
	}},
	{"Invalid", func(t *testing.T, s linking.LabelStore) {
		for name, mut := range map[string]func(*linking.LabelRecord){
			"AccountID":      func(r *linking.LabelRecord) { r.AccountID = "" },
			"PurchaseID":     func(r *linking.LabelRecord) { r.PurchaseID = "" },
			"IdempotencyKey": func(r *linking.LabelRecord) { r.IdempotencyKey = "" },
			"RequestHash":    func(r *linking.LabelRecord) { r.RequestHash = r.RequestHash[:8] },
			"Body":           func(r *linking.LabelRecord) { r.Body = nil },
			"Status":         func(r *linking.LabelRecord) { r.Status = "bought" },
		} {
			r := newLabelRecord("acct-1", "order-1")
			mut(r)
			_, err := s.CreateLabelRecord(ctx(t), r)
			require.ErrorIs(t, err, linking.ErrInvalidRecord, name)
			require.Contains(t, err.Error(), name, name)
		}
		_, err := s.GetLabelRecord(ctx(t), "acct-1", "order-1")
		require.ErrorIs(t, err, linking.ErrNotFound, "nothing stored")
	}},
	{"Update", func(t *testing.T, s linking.LabelStore) {
		r, err := s.CreateLabelRecord(ctx(t), newLabelRecord("acct-1", "order-1"))
		require.NoError(t, err)
		next := *r
		next.Status, next.TrackingNumber, next.Postage, next.SKU, next.Zone = linking.LabelPurchased, "9205500000000000000001", 935, "DUXP0XXXXC01050", "5"
		next.PriceMismatch, next.CancelDeadline, next.DisputeID = "postage 9.35 != 7.12", base.Add(20*time.Hour), "104001"
		next.Attempts, next.LastError, next.UpdatedAt = 2, "timed out", base.Add(time.Minute)
		// Fields fixed at creation are not written.
		next.IdempotencyKey, next.Body, next.Expected.Postage, next.CreatedAt = "11111111-1111-4111-8111-111111111111", []byte(`{}`), 1, base.Add(time.Hour)
		next.RequestHash, next.Location = make([]byte, 32), "elsewhere"
		got, err := s.UpdateLabelRecord(ctx(t), &next)
		require.NoError(t, err)
		want := storedLabel(r)
		want.Status, want.TrackingNumber, want.Postage, want.SKU, want.Zone = next.Status, next.TrackingNumber, next.Postage, next.SKU, next.Zone
		want.PriceMismatch, want.CancelDeadline, want.DisputeID = next.PriceMismatch, utcMicro(next.CancelDeadline), next.DisputeID
		want.Attempts, want.LastError, want.UpdatedAt, want.Version = 2, "timed out", utcMicro(next.UpdatedAt), 2
		require.Equal(t, want, got)
		back, err := s.GetLabelRecord(ctx(t), "acct-1", "order-1")
		require.NoError(t, err)
		require.Equal(t, want, back)
		// A stale version conflicts and writes nothing.
		stale := *r
		stale.Status = linking.LabelFailed
		_, err = s.UpdateLabelRecord(ctx(t), &stale)
		require.ErrorIs(t, err, linking.ErrConflict)
		back, err = s.GetLabelRecord(ctx(t), "acct-1", "order-1")
		require.NoError(t, err)
		require.Equal(t, want, back)
		missing := newLabelRecord("acct-1", "order-9")
		missing.Version = 1
		_, err = s.UpdateLabelRecord(ctx(t), missing)
		require.ErrorIs(t, err, linking.ErrNotFound)
		bad := *back
		bad.Status = "lost"
		_, err = s.UpdateLabelRecord(ctx(t), &bad)
		require.ErrorIs(t, err, linking.ErrInvalidRecord)
	}},
	{"UpdateConcurrent", func(t *testing.T, s linking.LabelStore) {
		r, err := s.CreateLabelRecord(ctx(t), newLabelRecord("acct-1", "order-1"))
		require.NoError(t, err)
		const n = 6
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				next := *r
				next.Attempts = i + 1
				_, errs[i] = s.UpdateLabelRecord(ctx(t), &next)
			})
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
			} else if !errors.Is(err, linking.ErrConflict) {
				require.NoError(t, err)
			}
		}
		require.Equal(t, 1, won, "compare and swap: one writer per version")
	}},
	{"Pending", func(t *testing.T, s linking.LabelStore) {
		for i, st := range []linking.LabelStatus{linking.LabelPending, linking.LabelPurchased, linking.LabelPending, linking.LabelPending, linking.LabelFailed} {
			r := newLabelRecord(fmt.Sprintf("acct-%d", i%2), fmt.Sprintf("order-%d", i))
			r.Status, r.UpdatedAt = st, base.Add(time.Duration(10-i)*time.Minute)
			_, err := s.CreateLabelRecord(ctx(t), r)
			require.NoError(t, err)
		}
		got, err := s.PendingLabelRecords(ctx(t), base.Add(time.Hour), 10)
		require.NoError(t, err)
		var ids []string
		for _, r := range got {
			require.Equal(t, linking.LabelPending, r.Status)
			ids = append(ids, r.PurchaseID)
		}
		require.Equal(t, []string{"order-3", "order-2", "order-0"}, ids, "oldest first")
		got, err = s.PendingLabelRecords(ctx(t), base.Add(8*time.Minute), 10)
		require.NoError(t, err)
		require.Len(t, got, 1, "only those updated before")
		got, err = s.PendingLabelRecords(ctx(t), base.Add(time.Hour), 2)
		require.NoError(t, err)
		require.Len(t, got, 2)
		got, err = s.PendingLabelRecords(ctx(t), base.Add(time.Hour), 0)
		require.NoError(t, err)
		require.Empty(t, got)
	}},
}
