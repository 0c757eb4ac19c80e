package sqlimpl

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/storekit"
)

// Rate tables and the change feed (linking.TableStore), migration 0002.
// The feed is filled by triggers on nsalink_links and nsalink_tables.

var _ linking.TableStore = (*Store)(nil)

const tableCols = `key, account_id, table_id, version, effective_from_us, effective_to_us, csv,
	complete, done, total, checkpoint, lease_owner, lease_until_us, synced_at_us, last_error, rev`

// keepChanges is how many feed entries survive a prune; pruneEvery is how
// far the feed grows between prunes.
const (
	keepChanges = 100_000
	pruneEvery  = 10_000
)

// lastPrune is the newest seq seen at the last prune (per process; any
// process may prune).
var lastPrune atomic.Int64

func scanTable(sc scanner) (*linking.TableRecord, error) {
	var t linking.TableRecord
	var from, to, lease, synced int64
	var complete bool
	var csv, cp []byte
	if err := sc.Scan(&t.Key, &t.AccountID, &t.TableID, &t.Version, &from, &to, &csv,
		&complete, &t.Done, &t.Total, &cp, &t.LeaseOwner, &lease, &synced, &t.LastError, &t.Rev); err != nil {
		return nil, err
	}
	t.EffectiveFrom, t.EffectiveTo = fromMicros(from), fromMicros(to)
	t.LeaseUntil, t.SyncedAt = fromMicros(lease), fromMicros(synced)
	t.Complete, t.CSV, t.Checkpoint = complete, noneIfEmpty(csv), noneIfEmpty(cp)
	return &t, nil
}

// PutTable implements linking.TableStore.
func (s *Store) PutTable(ctx context.Context, t *linking.TableRecord) (*linking.TableRecord, error) {
	if err := storekit.CheckTableRecord(t); err != nil {
		return nil, err
	}
	c := storekit.CloneTableRecord(t)
	args := []any{c.AccountID, c.TableID, c.Version, micros(c.EffectiveFrom), micros(c.EffectiveTo), bytesArg(c.CSV),
		c.Complete, c.Done, c.Total, bytesArg(c.Checkpoint), c.LeaseOwner, micros(c.LeaseUntil), micros(c.SyncedAt), c.LastError}
	err := s.inTx(ctx, 0, func(tx *sql.Tx) error {
		var res sql.Result
		var err error
		if c.Rev == 0 {
			res, err = tx.ExecContext(ctx, s.q.rebind(`INSERT INTO nsalink_tables (`+tableCols+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT (key) DO NOTHING`),
				append([]any{c.Key}, args...)...)
		} else {
			res, err = tx.ExecContext(ctx, s.q.rebind(`UPDATE nsalink_tables SET
				account_id = ?, table_id = ?, version = ?, effective_from_us = ?, effective_to_us = ?, csv = ?,
				complete = ?, done = ?, total = ?, checkpoint = ?, lease_owner = ?, lease_until_us = ?,
				synced_at_us = ?, last_error = ?, rev = rev + 1
				WHERE key = ? AND rev = ?`), append(args, c.Key, c.Rev)...)
		}
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return fmt.Errorf("sqlstore: table %q rev %d: %w", c.Key, c.Rev, linking.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.Rev++
	return c, nil
}

// GetTable implements linking.TableStore.
func (s *Store) GetTable(ctx context.Context, key string) (*linking.TableRecord, error) {
	t, err := scanTable(s.rdb.QueryRowContext(ctx, s.q.rebind(`SELECT `+tableCols+` FROM nsalink_tables WHERE key = ?`), key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: table %q: %w", key, linking.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: get table: %w", err)
	}
	return t, nil
}

// ListTables implements linking.TableStore.
func (s *Store) ListTables(ctx context.Context) ([]*linking.TableRecord, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+tableCols+` FROM nsalink_tables ORDER BY key`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list tables: %w", err)
	}
	defer rows.Close()
	out := []*linking.TableRecord{}
	for rows.Next() {
		t, err := scanTable(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list tables: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list tables: %w", err)
	}
	return out, nil
}

// DeleteTable implements linking.TableStore.
func (s *Store) DeleteTable(ctx context.Context, key string) error {
	return s.inTx(ctx, 0, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q.rebind(`DELETE FROM nsalink_tables WHERE key = ?`), key)
		return err
	})
}

// Changes implements linking.TableStore.
func (s *Store) Changes(ctx context.Context, after int64, limit int) ([]linking.Change, error) {
	if limit <= 0 {
		return nil, nil
	}
	var pruned int64
	if err := s.rdb.QueryRowContext(ctx, `SELECT upto FROM nsalink_changes_pruned WHERE id = 1`).Scan(&pruned); err != nil {
		return nil, fmt.Errorf("sqlstore: changes: %w", err)
	}
	if after < pruned {
		return nil, fmt.Errorf("sqlstore: changes after %d: %w", after, linking.ErrChangesPruned)
	}
	rows, err := s.rdb.QueryContext(ctx, s.q.rebind(`SELECT seq, kind, key FROM nsalink_changes WHERE seq > ? ORDER BY seq LIMIT ?`), after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: changes: %w", err)
	}
	defer rows.Close()
	out := []linking.Change{}
	for rows.Next() {
		var c linking.Change
		if err := rows.Scan(&c.Seq, &c.Kind, &c.Key); err != nil {
			return nil, fmt.Errorf("sqlstore: changes: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: changes: %w", err)
	}
	if n := len(out); n > 0 && out[n-1].Seq-lastPrune.Load() > pruneEvery {
		s.prune(ctx, out[n-1].Seq)
	}
	return out, nil
}

// prune drops feed entries more than keepChanges behind newest. Failure is
// harmless: the next prune tries again.
func (s *Store) prune(ctx context.Context, newest int64) {
	lastPrune.Store(newest)
	upto := newest - keepChanges
	if upto <= 0 {
		return
	}
	_ = s.inTx(ctx, 0, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q.rebind(`UPDATE nsalink_changes_pruned SET upto = ? WHERE id = 1 AND upto < ?`), upto, upto); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q.rebind(`DELETE FROM nsalink_changes WHERE seq <= ?`), upto)
		return err
	})
}

// LastChange implements linking.TableStore.
func (s *Store) LastChange(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx, `SELECT max(seq) FROM nsalink_changes`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("sqlstore: last change: %w", err)
	}
	if !seq.Valid {
		var pruned int64
		err := s.rdb.QueryRowContext(ctx, `SELECT upto FROM nsalink_changes_pruned WHERE id = 1`).Scan(&pruned)
		return pruned, err
	}
	return seq.Int64, nil
}
