package uspsbiz

import (
	"context"
	"errors"
	"time"

	"github.com/nsalink/nsalink/internal/httpx"
)

// Call is one HTTP attempt at a USPS API, as a call observer sees it (see
// WithCallObserver). It holds the route template, never the raw path with
// an account or tracking number, and no header, body, token or secret.
type Call struct {
	API API
	// Route is the path template, such as
	// "/payments/v3/payment-account/{accountNumber}" or "/oauth2/v3/token".
	Route  string
	Method string
	// Grant is set on OAuth calls only: which token operation this was.
	Grant Grant
	// Attempt is 1 for the first attempt, 2 for the first retry, and so on.
	Attempt int
	// Status is the HTTP status, or 0 when no response came (see Err).
	Status int
	// Start is when the attempt was sent (wall clock, not WithClock's), and
	// Duration how long the response headers took to arrive.
	Start    time.Time
	Duration time.Duration
	// Err is "" when a response came, else one fixed word on the transport
	// failure: "canceled", "deadline exceeded", "dial failed", "read
	// failed", "write failed", "connection closed" or "transport error".
	Err string
}

// Grant names the OAuth operation of a Call to the token or revocation
// endpoint.
type Grant string

// The OAuth operations this client performs.
const (
	GrantClientCredentials Grant = "client_credentials" // the platform's own token
	GrantAuthorizationCode Grant = "authorization_code" // Exchange
	GrantRefreshToken      Grant = "refresh_token"      // Refresh
	// GrantRevoke is a call to the revocation endpoint (Revoke), not an
	// OAuth grant type.
	GrantRevoke Grant = "revoke"
)

// WithCallObserver calls fn after every attempt at a USPS API, retries and
// OAuth token calls included, in the goroutine that made the call and with
// its context, so that a tracing observer's spans are children of the
// caller's. A call refused by WithBudget never reaches USPS and is not
// observed. fn must be quick and must not block; clients derived with
// ForMerchant share it. Default: none, at no cost.
func WithCallObserver(fn func(context.Context, Call)) Option {
	return func(c *config) error {
		if fn == nil {
			return errors.New("uspsbiz: WithCallObserver: nil observer")
		}
		c.observe = fn
		return nil
	}
}

// callInfo rides in the context of an observed call: the facts about it
// that the HTTP layer does not know.
type callInfo struct {
	api   API
	grant Grant
}

type callInfoKey struct{}

// observed tags ctx with the call's API and grant when an observer is set;
// without one it returns ctx as is and allocates nothing.
func (c *Client) observed(ctx context.Context, api API, grant Grant) context.Context {
	if c.observe == nil {
		return ctx
	}
	return context.WithValue(ctx, callInfoKey{}, callInfo{api: api, grant: grant})
}

// attemptObserver adapts fn to the HTTP layer's per-attempt hook.
func attemptObserver(fn func(context.Context, Call)) func(context.Context, httpx.Attempt) {
	if fn == nil {
		return nil
	}
	return func(ctx context.Context, a httpx.Attempt) {
		info, _ := ctx.Value(callInfoKey{}).(callInfo)
		fn(ctx, Call{
			API: info.api, Route: a.Route, Method: a.Method, Grant: info.grant,
			Attempt: a.Number, Status: a.Status, Start: a.Start, Duration: a.Duration, Err: a.Err,
		})
	}
}
