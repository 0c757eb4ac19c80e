package uspsbiz

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/nsalink/nsalink/internal/httpx"
)

// version is this SDK's version; it is sent in the User-Agent.
const version = "0.1.0"

// Environment is the base URL of a USPS API host. Production and Testing
// are USPS's; any other https URL works too, and plain http only on a
// loopback host, such as a uspsbiztest server's (Environment(srv.URL)).
// The client never follows a redirect, so requests (and the credentials
// in them) only ever reach this host. linking records it on every authorization
// request and link.
type Environment string

// USPS's environments.
const (
	// Production is USPS's live API host.
	Production Environment = "https://apis.usps.com"
	// Testing is USPS's Testing Environment for Mailers (TEM): production
	// credentials, watermarked labels, no charges.
	Testing Environment = "https://apis-tem.usps.com"
)

// defaultCOPURL is the Customer Onboarding Platform entry point that a
// customer is sent to in order to authorize a platform.
const defaultCOPURL = "https://cop.usps.com/cop-navigator"

// RetryPolicy bounds automatic retries. Only idempotent calls retry; token
// requests and payment authorizations are sent again only when they never
// left this process.
type RetryPolicy struct {
	MaxRetries int           // retries after the first attempt (0..10)
	MinWait    time.Duration // first backoff; later ones grow exponentially with jitter
	MaxWait    time.Duration // cap of each exponential backoff
	// MaxRetryAfter is the longest Retry-After worth waiting for; such a wait
	// is honoured exactly. A 429 or 503 asking for longer returns at once as
	// an *APIError (matching ErrRateLimited for 429) with RetryAfter set.
	MaxRetryAfter time.Duration
}

// DefaultRetryPolicy returns the policy New uses: few and short retries,
// since every retry spends USPS quota (60 calls per API per hour by default).
func DefaultRetryPolicy() RetryPolicy { return RetryPolicy(httpx.DefaultPolicy) }

// Credentials are a platform app's Consumer Key and Secret from the USPS
// developer portal. The secret never appears in formatted output.
type Credentials struct {
	ClientID     string
	ClientSecret Secret
	// Scopes requested for the platform's own client-credentials token,
	// e.g. "payments", "prices", "tracking".
	Scopes []string
}

// Client calls the USPS APIs 3.0. It is safe for concurrent use. Build it
// with New; ForMerchant derives a client acting for a linked customer.
type Client struct {
	baseURL   *url.URL
	copURL    *url.URL
	userAgent string
	logger    *slog.Logger
	now       func() time.Time
	doer      *httpx.Doer
	creds     Credentials
	auth      tokenSource // bearer token for resource calls

	platform *platformTokens
	quotas   *quotaSet
	observe  func(context.Context, Call) // nil: no observer
}

// tokenSource gives the Authorization header of resource calls. It takes
// a context, unlike oauth2.TokenSource, so that a platform-token fetch obeys
// the caller's deadline.
type tokenSource interface {
	authorization(ctx context.Context) (string, error)
}

type config struct {
	baseURL    string
	copURL     string
	httpClient *http.Client
	logger     *slog.Logger
	userAgent  string
	retry      RetryPolicy
	creds      *Credentials
	now        func() time.Time
	budgets    map[API]Budget
	observe    func(context.Context, Call)
	quota      Quota
}

// Option configures a Client. Options validate their arguments; New returns
// the first error.
type Option func(*config) error

// WithEnvironment selects the API host: Production (the default), Testing,
// or any base URL such as a uspsbiztest server's (Environment(srv.URL)).
// Paths such as /oauth2/v3/token are joined to it.
func WithEnvironment(env Environment) Option {
	return func(c *config) error {
		if _, err := parseBaseURL(string(env)); err != nil {
			return err
		}
		c.baseURL = string(env)
		return nil
	}
}

// WithCOPURL sets the Customer Onboarding Platform entry URL (default
// https://cop.usps.com/cop-navigator); like WithEnvironment, https unless
// the host is loopback.
func WithCOPURL(raw string) Option {
	return func(c *config) error {
		if _, err := parseBaseURL(raw); err != nil {
			return fmt.Errorf("uspsbiz: COP URL: %w", err)
		}
		c.copURL = raw
		return nil
	}
}

// WithHTTPClient sets the HTTP client. It is copied, never modified; its
// Timeout bounds each attempt (default 30s).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error {
		if hc == nil {
			return errors.New("uspsbiz: WithHTTPClient: nil client")
		}
		c.httpClient = hc
		return nil
	}
}

// WithLogger logs each USPS attempt at debug level with method, host, route
// and status. Tokens, secrets and bodies are never logged. Default: silent.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("uspsbiz: WithLogger: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithUserAgent puts product (e.g. "acmeship/2.3") before nsalink's own
// User-Agent token.
func WithUserAgent(product string) Option {
	return func(c *config) error {
		if strings.ContainsAny(product, "\r\n") {
			return errors.New("uspsbiz: WithUserAgent: line break in user agent")
		}
		c.userAgent = product
		return nil
	}
}

// WithRetryPolicy replaces DefaultRetryPolicy().
func WithRetryPolicy(p RetryPolicy) Option {
	return func(c *config) error {
		if err := httpx.Policy(p).Validate(); err != nil {
			return fmt.Errorf("uspsbiz: %w", err)
		}
		c.retry = p
		return nil
	}
}

// WithCredentials sets the platform app's credentials, needed for every
// token call and for calls made with the platform's own token.
func WithCredentials(cr Credentials) Option {
	return func(c *config) error {
		if cr.ClientID == "" || cr.ClientSecret == "" {
			return errors.New("uspsbiz: WithCredentials: client id and secret are required")
		}
		cr.Scopes = append([]string(nil), cr.Scopes...)
		c.creds = &cr
		return nil
	}
}

// WithClock sets the clock used for token expiry and Retry-After dates.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return errors.New("uspsbiz: WithClock: nil clock")
		}
		c.now = now
		return nil
	}
}

// New returns a Client for Production unless an option says otherwise.
func New(opts ...Option) (*Client, error) {
	cfg := config{baseURL: string(Production), copURL: defaultCOPURL, retry: DefaultRetryPolicy(), now: time.Now}
	for _, opt := range opts {
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	base, _ := parseBaseURL(cfg.baseURL)
	cop, _ := parseBaseURL(cfg.copURL)
	logger := cfg.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ua := "nsalink-go/" + version
	if cfg.userAgent != "" {
		ua = cfg.userAgent + " " + ua
	}
	c := &Client{
		baseURL:   base,
		copURL:    cop,
		userAgent: ua,
		logger:    logger,
		now:       cfg.now,
		doer: httpx.New(httpx.Config{
			HTTPClient: cfg.httpClient,
			Logger:     logger,
			Policy:     httpx.Policy(cfg.retry),
			Now:        cfg.now,
			UserAgent:  ua,
			Observe:    attemptObserver(cfg.observe),
		}),
		quotas:  newQuotaSet(cfg.budgets, cfg.now, cfg.quota),
		observe: cfg.observe,
	}
	if cfg.creds != nil {
		c.creds = *cfg.creds
	}
	c.platform = &platformTokens{c: c, sem: make(chan struct{}, 1)}
	c.auth = c.platform
	return c, nil
}

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("uspsbiz: base URL: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("uspsbiz: base URL %q: need http(s)://host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("uspsbiz: base URL %q: no query or fragment allowed", raw)
	}
	// Plain http would send the client secret and customer tokens in clear:
	// only a loopback host (a test server) may use it.
	if u.Scheme != "https" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("uspsbiz: base URL %q: need https (http only on a loopback host)", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("uspsbiz: base URL: no user info allowed")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// Environment returns the API host the client talks to.
func (c *Client) Environment() Environment { return Environment(c.baseURL.String()) }

// ForMerchant returns a client that authenticates resource calls with a
// linked customer's token source (linking's Linker.TokenSource keeps one
// fresh across processes) instead of the platform's own token. Token calls
// still use the platform credentials. The two clients share connections,
// retry policy and call budgets.
//
// If ts also has a method
//
//	TokenRejected(ctx context.Context, accessToken string) (retry bool, err error)
//
// a 401 on a call is reported to it with the access token sent; when it
// answers retry, the call is sent again with ts's next token (at most twice),
// and its error, if any, is returned instead of the 401. linking's token
// source uses this to refresh a token USPS stopped accepting, and to
// recognise a revoked grant (a 401 right after a successful refresh).
func (c *Client) ForMerchant(ts oauth2.TokenSource) *Client {
	m := *c
	m.auth = staticSource{ts}
	return &m
}

type staticSource struct{ ts oauth2.TokenSource }

// tokenRejecter is the optional interface of a ForMerchant token source.
type tokenRejecter interface {
	TokenRejected(ctx context.Context, accessToken string) (retry bool, err error)
}

func (s staticSource) authorization(context.Context) (string, error) {
	t, err := s.ts.Token()
	if err != nil {
		return "", err
	}
	return t.Type() + " " + t.AccessToken, nil
}

// call is one USPS request.
type call struct {
	method string
	path   string // escaped path below the base URL
	route  string // the path template, for logs, errors and budgets
	api    API
	query  url.Values
	body   any // JSON-encoded when non-nil
	header http.Header
	class  httpx.Class
	noAuth bool
}

// do sends cl and decodes a 2xx JSON body into out (unless out is nil).
// Any other status becomes an *APIError.
//
// A 401 on a call made with the platform's own token means USPS stopped
// accepting that token before its local expiry (revoked, or a new one
// replaced it): the cached token is dropped, if it is still the one sent,
// and the call is sent once more with a fresh token.
func (c *Client) do(ctx context.Context, cl call, out any) (http.Header, error) {
	var payload []byte
	if raw, ok := cl.body.(json.RawMessage); ok { // already encoded (labels, Raw): sent as is
		payload = raw
	} else if cl.body != nil {
		b, err := json.Marshal(cl.body)
		if err != nil {
			return nil, fmt.Errorf("uspsbiz: %s %s: encode request: %w", cl.method, cl.route, err)
		}
		payload = b
	}
	u, err := url.Parse(c.baseURL.String() + cl.path)
	if err != nil {
		return nil, fmt.Errorf("uspsbiz: %s %s: bad path", cl.method, cl.route)
	}
	if len(cl.query) > 0 {
		u.RawQuery = cl.query.Encode()
	}
	platform, _ := c.auth.(*platformTokens)
	var rejecter tokenRejecter
	if s, ok := c.auth.(staticSource); ok {
		rejecter, _ = s.ts.(tokenRejecter)
	}
	for attempt := 0; ; attempt++ {
		hdr, authz, err := c.send(ctx, cl, u.String(), payload, out)
		var ae *APIError
		if authz == "" || !errors.As(err, &ae) || ae.StatusCode != http.StatusUnauthorized {
			return hdr, err
		}
		switch {
		case platform != nil && attempt == 0:
			platform.drop(authz)
			continue
		case rejecter != nil && attempt < 2:
			_, access, _ := strings.Cut(authz, " ")
			retry, rerr := rejecter.TokenRejected(ctx, access)
			if rerr != nil {
				return hdr, rerr
			}
			if retry {
				continue
			}
		}
		return hdr, err
	}
}

// send makes one call (with the retry policy's retries) and returns the
// Authorization header it sent.
func (c *Client) send(ctx context.Context, cl call, rawURL string, payload []byte, out any) (http.Header, string, error) {
	if err := c.quotas.take(ctx, cl.api); err != nil {
		return nil, "", err
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, rawURL, body)
	if err != nil {
		return nil, "", fmt.Errorf("uspsbiz: %s %s: %w", cl.method, cl.route, err)
	}
	for k, vs := range cl.header {
		req.Header[k] = vs
	}
	req.Header.Set("User-Agent", c.userAgent)
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	var authz string
	if !cl.noAuth {
		if authz, err = c.auth.authorization(ctx); err != nil {
			return nil, "", err
		}
		req.Header.Set("Authorization", authz)
	}
	// Every retry is a USPS call too: charge it to the budget.
	quotas, api := c.quotas, cl.api // captured alone, so cl stays on the stack
	res, err := c.doer.Do(c.observed(ctx, cl.api, ""), req, cl.class, cl.route, func() error { return quotas.take(ctx, api) })
	if err != nil {
		var be *BudgetError
		if errors.As(err, &be) {
			return nil, authz, be
		}
		if errors.Is(err, ErrRateLimited) { // a shared Quota's own error
			return nil, authz, err
		}
		return nil, authz, fmt.Errorf("uspsbiz: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return res.Header, authz, newAPIError(res.Response, cl.method, cl.route, res.Attempts, c.now())
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxErrorBody))
		return res.Header, authz, nil
	}
	if rr, ok := out.(responseReader); ok { // labels (multipart), Raw
		if err := rr.readResponse(res.Response); err != nil {
			return res.Header, authz, &decodeError{Route: cl.route, Status: res.StatusCode, Err: err}
		}
		return res.Header, authz, nil
	}
	if err := decodeJSON(res.Body, out); err != nil {
		return res.Header, authz, &decodeError{Route: cl.route, Status: res.StatusCode, Err: err}
	}
	return res.Header, authz, nil
}

// maxResponseBody bounds what a decoder reads from USPS.
const maxResponseBody = 8 << 20

// decodeJSON decodes one JSON value. Bytes after it are not read: checking
// for them would cost a buffer refill on every call.
func decodeJSON(r io.Reader, out any) error {
	return json.NewDecoder(io.LimitReader(r, maxResponseBody)).Decode(out)
}

// decodeError is a 2xx response whose body is not what the USPS spec
// promises (it matches ErrMalformedResponse). It holds no body text.
type decodeError struct {
	Route  string
	Status int
	Err    error
}

func (e *decodeError) Error() string {
	return fmt.Sprintf("uspsbiz: %s: status %d: malformed response: %v", e.Route, e.Status, e.Err)
}

func (e *decodeError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrMalformedResponse) true.
func (e *decodeError) Is(target error) bool { return target == ErrMalformedResponse }

// Format prints the client's host only: fmt would otherwise reach the
// credentials through unexported fields, where Secret's methods don't run.
// It has a value receiver so that a Client value (not only a pointer)
// prints redacted with every verb.
func (c Client) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "uspsbiz.Client{%s}", c.baseURL.Redacted())
}
