package sqlstore_test

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/linking/sqlstore/postgres"
	"github.com/nsalink/nsalink/uspsbiz"
)

func TestPostgresQuotaIsSharedByInstances(t *testing.T) {
	dsn := postgresDSN(t)
	var mu sync.Mutex
	clock := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	budgets := map[uspsbiz.API]uspsbiz.Budget{uspsbiz.APIOAuth: {PerHour: 60, Burst: 10}}
	var quotas []*postgres.Quota
	for range 4 { // four instances, each with its own pool
		db, err := sql.Open("pgx", dsn)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		q, err := postgres.NewQuota(context.Background(), db, budgets, now)
		require.NoError(t, err)
		quotas = append(quotas, q)
	}
	var granted, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			err := quotas[i%4].Take(context.Background(), uspsbiz.APIOAuth)
			if err == nil {
				granted.Add(1)
				return
			}
			var be *uspsbiz.BudgetError
			if assert.ErrorAs(t, err, &be) {
				refused.Add(1)
				assert.ErrorIs(t, err, uspsbiz.ErrRateLimited)
				assert.Equal(t, uspsbiz.APIOAuth, be.API)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(10), granted.Load(), "the burst is shared, not multiplied by instances")
	assert.Equal(t, int64(30), refused.Load())

	err := quotas[0].Take(context.Background(), uspsbiz.APIOAuth)
	var be *uspsbiz.BudgetError
	require.ErrorAs(t, err, &be)
	assert.WithinDuration(t, clock.Add(time.Minute), be.RetryAt, time.Second, "60/hour refills one a minute")

	mu.Lock()
	clock = clock.Add(3 * time.Minute)
	mu.Unlock()
	for range 3 {
		require.NoError(t, quotas[1].Take(context.Background(), uspsbiz.APIOAuth))
	}
	require.Error(t, quotas[2].Take(context.Background(), uspsbiz.APIOAuth))
	require.NoError(t, quotas[3].Take(context.Background(), uspsbiz.APIPrices), "an API without a budget is not limited")

	// A restarted instance gets no fresh burst.
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	q, err := postgres.NewQuota(context.Background(), db, budgets, now)
	require.NoError(t, err)
	require.Error(t, q.Take(context.Background(), uspsbiz.APIOAuth))

	_, err = postgres.NewQuota(context.Background(), db, map[uspsbiz.API]uspsbiz.Budget{uspsbiz.APIOAuth: {}}, now)
	require.Error(t, err)
}
