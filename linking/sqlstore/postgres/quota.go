package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/nsalink/nsalink/uspsbiz"
)

// Quota is a uspsbiz.Quota kept in a PostgreSQL table, so that every
// instance of a fleet draws on one allowance per USPS API: USPS counts its
// quota per app (60 calls an hour per API by default), not per process.
// Give every instance's uspsbiz.Client the same budgets with
// uspsbiz.WithQuota(q).
//
// Each API is a token bucket in one row (nsalink_usps_quota): Take refills
// it for the time elapsed and spends one call in a single UPDATE, which
// PostgreSQL serialises on the row, so concurrent instances never spend
// more than the budget. A refused Take spends nothing and returns a
// *uspsbiz.BudgetError (matching uspsbiz.ErrRateLimited) with the time one
// call fits again. Instances' clocks should agree to a second or so; a
// clock behind the stored one refills nothing.
type Quota struct {
	db      *sql.DB
	now     func() time.Time
	budgets map[uspsbiz.API]uspsbiz.Budget
}

// NewQuota creates the quota table if needed and returns a Quota with
// budgets on db (for example the Store's DB()). A bucket that already
// exists keeps its current level, so restarting an instance grants no new
// burst. now is the clock (nil: time.Now).
func NewQuota(ctx context.Context, db *sql.DB, budgets map[uspsbiz.API]uspsbiz.Budget, now func() time.Time) (*Quota, error) {
	if db == nil {
		return nil, errors.New("postgres: NewQuota: nil db")
	}
	for api, b := range budgets {
		if api == "" || b.PerHour <= 0 || b.Burst < 0 {
			return nil, fmt.Errorf("postgres: NewQuota(%s): need an API name, PerHour > 0 and Burst >= 0", api)
		}
	}
	if now == nil {
		now = time.Now
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS nsalink_usps_quota (
		api TEXT PRIMARY KEY,
		tokens DOUBLE PRECISION NOT NULL,
		updated_at_us BIGINT NOT NULL)`); err != nil {
		return nil, fmt.Errorf("postgres: NewQuota: %w", err)
	}
	q := &Quota{db: db, now: now, budgets: map[uspsbiz.API]uspsbiz.Budget{}}
	for api, b := range budgets {
		if b.Burst == 0 {
			b.Burst = b.PerHour
		}
		q.budgets[api] = b
		if _, err := db.ExecContext(ctx, `INSERT INTO nsalink_usps_quota (api, tokens, updated_at_us)
			VALUES ($1, $2, $3) ON CONFLICT (api) DO NOTHING`, string(api), float64(b.Burst), now().UnixMicro()); err != nil {
			return nil, fmt.Errorf("postgres: NewQuota: %w", err)
		}
	}
	return q, nil
}

// Take implements uspsbiz.Quota.
func (q *Quota) Take(ctx context.Context, api uspsbiz.API) error {
	b, ok := q.budgets[api]
	if !ok {
		return nil
	}
	now := q.now()
	perMicro := float64(b.PerHour) / float64(time.Hour/time.Microsecond)
	var left float64
	err := q.db.QueryRowContext(ctx, `UPDATE nsalink_usps_quota
		SET tokens = LEAST($2::float8, tokens + GREATEST($3::bigint - updated_at_us, 0) * $4::float8) - 1,
			updated_at_us = GREATEST(updated_at_us, $3::bigint)
		WHERE api = $1 AND LEAST($2::float8, tokens + GREATEST($3::bigint - updated_at_us, 0) * $4::float8) >= 1
		RETURNING tokens`, string(api), float64(b.Burst), now.UnixMicro(), perMicro).Scan(&left)
	if err == nil {
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("postgres: quota %s: %w", api, err)
	}
	// Refused: say when one call fits.
	var tokens float64
	var at int64
	if err := q.db.QueryRowContext(ctx, `SELECT tokens, updated_at_us FROM nsalink_usps_quota WHERE api = $1`, string(api)).Scan(&tokens, &at); err != nil {
		return fmt.Errorf("postgres: quota %s: %w", api, err)
	}
	level := math.Min(float64(b.Burst), tokens+math.Max(float64(now.UnixMicro()-at), 0)*perMicro)
	wait := time.Duration(math.Ceil((1-level)/perMicro)) * time.Microsecond
	return &uspsbiz.BudgetError{API: api, RetryAt: now.Add(max(wait, 0))}
}
