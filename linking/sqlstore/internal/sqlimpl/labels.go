package sqlimpl

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/storekit"
	"github.com/nsalink/nsalink/usps"
)

// Label purchases (linking.LabelStore), table nsalink_label_records
// (migration 0002).

var _ linking.LabelStore = (*Store)(nil)

const labelCols = `account_id, purchase_id, idempotency_key, request_hash, body,
	expected_postage, expected_sku, expected_zone, status, tracking_number, postage, sku, zone,
	price_mismatch, cancel_deadline_us, dispute_id, attempts, last_error, created_at_us, updated_at_us, version, location`

func scanLabel(sc scanner) (*linking.LabelRecord, error) {
	var r linking.LabelRecord
	var expPostage, postage, deadline, created, updated int64
	var status string
	if err := sc.Scan(&r.AccountID, &r.PurchaseID, &r.IdempotencyKey, &r.RequestHash, &r.Body,
		&expPostage, &r.Expected.SKU, &r.Expected.Zone, &status, &r.TrackingNumber, &postage, &r.SKU, &r.Zone,
		&r.PriceMismatch, &deadline, &r.DisputeID, &r.Attempts, &r.LastError, &created, &updated, &r.Version, &r.Location); err != nil {
		return nil, err
	}
	r.Expected.Postage, r.Postage, r.Status = usps.Cents(expPostage), usps.Cents(postage), linking.LabelStatus(status)
	r.CancelDeadline, r.CreatedAt, r.UpdatedAt = fromMicros(deadline), fromMicros(created), fromMicros(updated)
	return &r, nil
}

// CreateLabelRecord implements linking.LabelStore.
func (s *Store) CreateLabelRecord(ctx context.Context, r *linking.LabelRecord) (*linking.LabelRecord, error) {
	c, err := storekit.PrepareLabelCreate(r, time.Now())
	if err != nil {
		return nil, err
	}
	q := s.q.rebind(`INSERT INTO nsalink_label_records (` + labelCols + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (account_id, purchase_id) DO NOTHING`)
	err = s.inTx(ctx, 0, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q, c.AccountID, c.PurchaseID, c.IdempotencyKey, c.RequestHash, c.Body,
			int64(c.Expected.Postage), c.Expected.SKU, c.Expected.Zone, string(c.Status), c.TrackingNumber, int64(c.Postage), c.SKU, c.Zone,
			c.PriceMismatch, micros(c.CancelDeadline), c.DisputeID, c.Attempts, c.LastError, micros(c.CreatedAt), micros(c.UpdatedAt), c.Version, c.Location)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			if err == nil {
				err = fmt.Errorf("sqlstore: label purchase %q: %w", c.PurchaseID, linking.ErrAlreadyExists)
			}
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// GetLabelRecord implements linking.LabelStore.
func (s *Store) GetLabelRecord(ctx context.Context, accountID, purchaseID string) (*linking.LabelRecord, error) {
	r, err := scanLabel(s.rdb.QueryRowContext(ctx, s.q.rebind(`SELECT `+labelCols+` FROM nsalink_label_records
		WHERE account_id = ? AND purchase_id = ?`), accountID, purchaseID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: label purchase %q: %w", purchaseID, linking.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: get label record: %w", err)
	}
	return r, nil
}

// UpdateLabelRecord implements linking.LabelStore.
func (s *Store) UpdateLabelRecord(ctx context.Context, r *linking.LabelRecord) (*linking.LabelRecord, error) {
	c, err := storekit.PrepareLabelUpdate(r)
	if err != nil {
		return nil, err
	}
	q := s.q.rebind(`UPDATE nsalink_label_records SET
		status = ?, tracking_number = ?, postage = ?, sku = ?, zone = ?, price_mismatch = ?,
		cancel_deadline_us = ?, dispute_id = ?, attempts = ?, last_error = ?, updated_at_us = ?,
		version = version + 1
		WHERE account_id = ? AND purchase_id = ? AND version = ?
		RETURNING ` + labelCols)
	var stored *linking.LabelRecord
	err = s.inTx(ctx, 0, func(tx *sql.Tx) error {
		var err error
		stored, err = scanLabel(tx.QueryRowContext(ctx, q, string(c.Status), c.TrackingNumber, int64(c.Postage), c.SKU, c.Zone,
			c.PriceMismatch, micros(c.CancelDeadline), c.DisputeID, c.Attempts, c.LastError, micros(c.UpdatedAt),
			c.AccountID, c.PurchaseID, c.Version))
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var one int
		switch err := tx.QueryRowContext(ctx, s.q.rebind(`SELECT 1 FROM nsalink_label_records WHERE account_id = ? AND purchase_id = ?`),
			c.AccountID, c.PurchaseID).Scan(&one); {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sqlstore: label purchase %q: %w", c.PurchaseID, linking.ErrNotFound)
		case err != nil:
			return err
		}
		return fmt.Errorf("sqlstore: label purchase %q: %w", c.PurchaseID, linking.ErrConflict)
	})
	if err != nil {
		return nil, err
	}
	return stored, nil
}

// PendingLabelRecords implements linking.LabelStore.
func (s *Store) PendingLabelRecords(ctx context.Context, before time.Time, limit int) ([]*linking.LabelRecord, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.rdb.QueryContext(ctx, s.q.rebind(`SELECT `+labelCols+` FROM nsalink_label_records
		WHERE status = ? AND updated_at_us < ?
		ORDER BY updated_at_us, account_id, purchase_id LIMIT ?`), string(linking.LabelPending), micros(before), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: pending label records: %w", err)
	}
	defer rows.Close()
	var out []*linking.LabelRecord
	for rows.Next() {
		r, err := scanLabel(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: pending label records: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
