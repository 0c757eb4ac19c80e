package uspsbiz

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// API names a USPS API for call budgets; USPS counts its quota per API.
type API string

// The APIs this client calls.
const (
	APIOAuth    API = "oauth2"
	APIPayments API = "payments"
	APIPrices   API = "prices"
	APITracking API = "tracking"
)

// Budget is a client-side allowance of calls to one API, refilled evenly:
// PerHour calls an hour with bursts of up to Burst (default PerHour).
type Budget struct {
	PerHour int
	Burst   int
}

// WithBudget keeps this client inside a USPS quota: a call that would exceed
// the budget for its API fails at once with a *BudgetError (matching
// ErrRateLimited) instead of spending a USPS call on a 429. USPS's default
// product allows 60 calls per hour per API. Clients derived with ForMerchant
// share the budget.
func WithBudget(api API, b Budget) Option {
	return func(c *config) error {
		if api == "" {
			return fmt.Errorf("uspsbiz: WithBudget: empty API name")
		}
		if b.PerHour <= 0 || b.Burst < 0 {
			return fmt.Errorf("uspsbiz: WithBudget(%s): PerHour must be positive and Burst not negative", api)
		}
		if c.budgets == nil {
			c.budgets = map[API]Budget{}
		}
		c.budgets[api] = b
		return nil
	}
}

// BudgetError is a call refused by the client-side budget; no request was
// sent.
type BudgetError struct {
	API     API
	RetryAt time.Time // when one more call fits
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("uspsbiz: call budget for %s API exhausted until %s", e.API, e.RetryAt.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *BudgetError) Is(target error) bool { return target == ErrRateLimited }

// Quota is an allowance of USPS calls that several clients, processes or
// machines draw on. USPS counts its quota per app and API (60 calls an hour
// by default), so every instance of a platform must draw on one Quota:
// NewLocalQuota for a single process, linking/sqlstore/postgres.NewQuota for
// a fleet sharing a PostgreSQL database.
//
// Take spends one call of api or, when none is left, returns an error
// matching ErrRateLimited (a *BudgetError says when one fits again) and
// spends nothing. The client calls it before every USPS request it sends,
// retries included. An API the quota does not limit always succeeds.
type Quota interface {
	Take(ctx context.Context, api API) error
}

// WithQuota makes the client draw every call on q, in addition to its own
// WithBudget budgets. Clients derived with ForMerchant share it.
func WithQuota(q Quota) Option {
	return func(c *config) error {
		if q == nil {
			return fmt.Errorf("uspsbiz: WithQuota: nil quota")
		}
		c.quota = q
		return nil
	}
}

// NewLocalQuota returns an in-process Quota: per API, budgets[api].PerHour
// calls an hour refilled evenly, bursts up to Burst (default PerHour). now is
// its clock (nil: time.Now). It is safe for concurrent use; share one value
// between all clients of a process.
func NewLocalQuota(budgets map[API]Budget, now func() time.Time) (Quota, error) {
	for api, b := range budgets {
		if api == "" || b.PerHour <= 0 || b.Burst < 0 {
			return nil, fmt.Errorf("uspsbiz: NewLocalQuota(%s): need an API name, PerHour > 0 and Burst >= 0", api)
		}
	}
	if now == nil {
		now = time.Now
	}
	return &localQuota{q: newQuotaSet(budgets, now, nil)}, nil
}

type localQuota struct{ q *quotaSet }

func (l *localQuota) Take(ctx context.Context, api API) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return l.q.takeLocal(api)
}

type quotaSet struct {
	now      func() time.Time
	mu       sync.Mutex            // makes a refused take spend nothing, atomically
	limiters map[API]*rate.Limiter // read-only after construction
	shared   Quota                 // WithQuota; nil when unset
}

func newQuotaSet(budgets map[API]Budget, now func() time.Time, shared Quota) *quotaSet {
	q := &quotaSet{now: now, limiters: map[API]*rate.Limiter{}, shared: shared}
	for api, b := range budgets {
		burst := b.Burst
		if burst == 0 {
			burst = b.PerHour
		}
		l := rate.NewLimiter(rate.Limit(float64(b.PerHour)/3600), burst)
		// Start full at the injected clock's "now", not at the wall clock.
		l.SetBurstAt(now(), burst)
		q.limiters[api] = l
	}
	return q
}

// take spends one call of api's budget, if it has one, and one of the
// shared quota's.
func (q *quotaSet) take(ctx context.Context, api API) error {
	if err := q.takeLocal(api); err != nil {
		return err
	}
	if q.shared != nil {
		return q.shared.Take(ctx, api)
	}
	return nil
}

func (q *quotaSet) takeLocal(api API) error {
	l, ok := q.limiters[api]
	if !ok {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	r := l.ReserveN(now, 1)
	if !r.OK() {
		return &BudgetError{API: api, RetryAt: now}
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return &BudgetError{API: api, RetryAt: now.Add(d)}
	}
	return nil
}

// Remaining reports how many calls api's budget allows right now, and false
// when the client has no budget for api.
func (c *Client) Remaining(api API) (int, bool) {
	l, ok := c.quotas.limiters[api]
	if !ok {
		return 0, false
	}
	return int(l.TokensAt(c.quotas.now())), true
}
