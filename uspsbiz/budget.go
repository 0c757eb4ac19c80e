package uspsbiz

import (
	"fmt"
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

type quotaSet struct {
	now      func() time.Time
	limiters map[API]*rate.Limiter // read-only after construction
}

func newQuotaSet(budgets map[API]Budget, now func() time.Time) *quotaSet {
	q := &quotaSet{now: now, limiters: map[API]*rate.Limiter{}}
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

// take spends one call of api's budget, if it has one.
func (q *quotaSet) take(api API) error {
	l, ok := q.limiters[api]
	if !ok {
		return nil
	}
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
