package storekit

import (
	"errors"
	"time"

	"github.com/nsalink/nsalink/linking"
)

// CheckTableRecord is the validation every TableStore applies to PutTable.
func CheckTableRecord(t *linking.TableRecord) error {
	switch {
	case t == nil:
		return errors.Join(linking.ErrInvalidRecord, errors.New("nil table record"))
	case t.Key == "" || len(t.Key) > 300:
		return errors.Join(linking.ErrInvalidRecord, errors.New("TableRecord.Key: empty or over 300 bytes"))
	case t.Rev < 0:
		return errors.Join(linking.ErrInvalidRecord, errors.New("TableRecord.Rev: negative"))
	case t.Done < 0 || t.Total < 0 || t.Done > t.Total && t.Total > 0:
		return errors.Join(linking.ErrInvalidRecord, errors.New("TableRecord.Done/Total: out of range"))
	}
	return nil
}

// CloneTableRecord returns a deep copy of t.
func CloneTableRecord(t *linking.TableRecord) *linking.TableRecord {
	c := *t
	c.CSV = append([]byte(nil), t.CSV...)
	c.Checkpoint = append([]byte(nil), t.Checkpoint...)
	if len(t.CSV) == 0 {
		c.CSV = nil
	}
	if len(t.Checkpoint) == 0 {
		c.Checkpoint = nil
	}
	c.EffectiveFrom, c.EffectiveTo = normUTC(t.EffectiveFrom), normUTC(t.EffectiveTo)
	c.LeaseUntil, c.SyncedAt = normUTC(t.LeaseUntil), normUTC(t.SyncedAt)
	return &c
}

func normUTC(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}
