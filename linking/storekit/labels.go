package storekit

import (
	"fmt"
	"slices"
	"time"

	"github.com/nsalink/nsalink/linking"
)

// Label records (linking.LabelStore): the checks and preparation every
// store shares.

var labelStatuses = []linking.LabelStatus{linking.LabelPending, linking.LabelPurchased, linking.LabelFailed,
	linking.LabelCancelled, linking.LabelRefundRequested}

// CheckLabelRecord validates a label record; the error (matching
// linking.ErrInvalidRecord) names the field, never its value.
func CheckLabelRecord(r *linking.LabelRecord) error {
	bad := func(field, why string) error {
		return fmt.Errorf("%w: label record %s %s", linking.ErrInvalidRecord, field, why)
	}
	switch {
	case r == nil:
		return fmt.Errorf("%w: nil label record", linking.ErrInvalidRecord)
	case checkID("AccountID", r.AccountID) != nil:
		return checkID("AccountID", r.AccountID)
	case r.PurchaseID == "" || len(r.PurchaseID) > 200:
		return bad("PurchaseID", "must have 1 to 200 bytes")
	case checkText("PurchaseID", r.PurchaseID) != nil:
		return checkText("PurchaseID", r.PurchaseID)
	case r.IdempotencyKey == "" || len(r.IdempotencyKey) > 64:
		return bad("IdempotencyKey", "must have 1 to 64 bytes")
	case len(r.RequestHash) != 32:
		return bad("RequestHash", "must be a SHA-256 (32 bytes)")
	case len(r.Body) == 0:
		return bad("Body", "is empty")
	case !slices.Contains(labelStatuses, r.Status):
		return bad("Status", "is not a known status")
	case r.Attempts < 0:
		return bad("Attempts", "is negative")
	case checkText("Location", r.Location) != nil:
		return checkText("Location", r.Location)
	}
	return nil
}

// CloneLabelRecord returns a deep copy of r.
func CloneLabelRecord(r *linking.LabelRecord) *linking.LabelRecord {
	c := *r
	c.RequestHash = slices.Clone(r.RequestHash)
	c.Body = slices.Clone(r.Body)
	return &c
}

// PrepareLabelCreate is CreateLabelRecord's common part: it validates r and
// returns the copy to store, with CreatedAt and UpdatedAt now when zero,
// Version 1 and times normalised.
func PrepareLabelCreate(r *linking.LabelRecord, now time.Time) (*linking.LabelRecord, error) {
	if err := CheckLabelRecord(r); err != nil {
		return nil, err
	}
	c := CloneLabelRecord(r)
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = now
	}
	c.Version = 1
	normalizeLabelTimes(c)
	return c, nil
}

// PrepareLabelUpdate is UpdateLabelRecord's common part: it validates r and
// returns the copy to store with times normalised; the store sets Version
// and keeps the fields UpdateLabelRecord does not write.
func PrepareLabelUpdate(r *linking.LabelRecord) (*linking.LabelRecord, error) {
	if err := CheckLabelRecord(r); err != nil {
		return nil, err
	}
	c := CloneLabelRecord(r)
	normalizeLabelTimes(c)
	return c, nil
}

func normalizeLabelTimes(r *linking.LabelRecord) {
	for _, t := range []*time.Time{&r.CreatedAt, &r.UpdatedAt, &r.CancelDeadline} {
		*t = normTime(*t)
	}
}
