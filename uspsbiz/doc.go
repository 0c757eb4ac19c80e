// Package uspsbiz is a typed client of the USPS APIs 3.0 that linking a USPS
// Business Account to a shipping platform needs: OAuth (the platform's own
// client-credentials token; a customer's authorization code, refresh and
// revoke; the Customer Onboarding Platform entry URL), Payments (payment
// account lookup, payment authorization with roles), Domestic Prices
// (including contract prices by EPS account), Tracking and Domestic Labels
// (CreateLabel under an idempotency key, CancelLabel, ReprintLabel), plus Raw
// for a route not typed yet.
//
// # Environments
//
// New talks to Production (https://apis.usps.com) unless WithEnvironment
// picks Testing (https://apis-tem.usps.com, USPS's TEM: production
// credentials, no charges) or another host, such as a uspsbiztest server's
// (Environment(srv.URL)).
//
// # Authentication
//
// WithCredentials holds the platform app's Consumer Key and Secret. The
// platform token is fetched once, cached, and renewed EarlyExpiry before it
// expires; concurrent callers share one token call. A customer links through
// COPURL (state and PKCE S256), the COP redirects back with a code, and
// Exchange returns the customer's Token, Refresh redeems its refresh token
// (USPS may rotate it: save the result before using it) and Revoke ends the
// grant. linking's Linker.TokenSource keeps a customer's token fresh across
// processes with these calls; ForMerchant makes calls with such a token
// source.
//
// Payments: LookupEPA and CheckFunds ask about an EPS account;
// AuthorizePayment checks a PaymentRequest's roles against the Payments
// spec's rules before asking USPS for the payment authorization token that
// labels carry. What a verdict means for the customer (guidance, states) is
// linking's business.
//
// Tokens and secrets are of type Secret, which prints as [REDACTED] through
// every fmt verb, JSON and slog, and fails closed: "[REDACTED]" never
// decodes back into a Secret, and a Token holding it is never Valid.
// Token.MarshalBinary is the one way to get the values out in bulk: seal
// its output before storing it.
//
// # Errors
//
// A non-2xx answer from a resource API is an *APIError, decoded from USPS's
// error{} body or the gateway's fault{} body, with status, USPS sub-codes,
// RetryAfter and the raw body (at most 1 MiB). It matches ErrRateLimited,
// ErrUnauthorized, ErrNotEntitled or ErrNotFound with errors.Is. Token
// endpoint failures keep *oauth2.RetrieveError (errors.As), and
// invalid_grant and invalid_refresh_token match ErrReauthorizationRequired:
// the customer must authorize again. A 401 on a call made with the
// platform's own token drops that cached token and sends the call once more
// with a new one.
//
// # Retries and quotas
//
// USPS allows 60 calls per hour per API by default, so retries are few
// (DefaultRetryPolicy()). Only idempotent calls retry; token calls and payment
// authorizations are sent again only when the connection was never made.
// Retry-After is honoured when it is at most RetryPolicy.MaxRetryAfter;
// above that the 429 returns at once with RetryAfter set. USPS counts its
// quota per app, so a fleet shares one allowance: WithQuota draws every call
// and retry on a Quota shared by all instances (NewLocalQuota in one
// process; linking/sqlstore/postgres.NewQuota across a fleet), refusing a
// call before USPS would. WithBudget adds one client's own budget per API.
//
// # Logging
//
// WithLogger logs each attempt at debug level: method, host, route template,
// attempt and status. No URL, header, body, token or account number is
// logged. WithCallObserver hands the same facts, with the API and the OAuth
// grant, to a function of the host's after every attempt: the hook behind
// the OpenTelemetry module github.com/nsalink/nsalink/otel.
//
// # Testing
//
// Package uspsbiztest is a fake USPS over real HTTP for your tests: seed
// apps, business accounts and EPAs, walk the COP consent, inject faults,
// move its clock, and inspect what it received.
package uspsbiz
