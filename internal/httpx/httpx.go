// Package httpx is the HTTP plumbing behind uspsbiz: go-retryablehttp configured
// for USPS's quotas (only idempotent calls retry, token calls never retry once
// sent, Retry-After honoured and capped), per-attempt logging that names the
// route but never a secret, and response bodies always closed.
package httpx

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// Class says how a request may be retried.
type Class int

const (
	// Idempotent requests (GET, searches) retry on transport errors, 429 and
	// 5xx other than 501.
	Idempotent Class = iota
	// NonIdempotent requests (payment authorization, labels) retry only when
	// the request provably never left this process (a dial failure).
	NonIdempotent
	// Token requests are treated like NonIdempotent: an authorization code
	// or a rotating refresh token must not be sent twice.
	Token
)

// Policy bounds retries. The zero value is not useful; see DefaultPolicy.
type Policy struct {
	MaxRetries    int           // retries after the first attempt
	MinWait       time.Duration // first backoff
	MaxWait       time.Duration // cap of the exponential backoff
	MaxRetryAfter time.Duration // longest Retry-After waited for; above it the 429/503 is returned at once
}

// DefaultPolicy suits a 60-calls-per-hour quota: few retries, short waits.
var DefaultPolicy = Policy{MaxRetries: 2, MinWait: 250 * time.Millisecond, MaxWait: 5 * time.Second, MaxRetryAfter: 10 * time.Second}

// Validate reports a policy that cannot work.
func (p Policy) Validate() error {
	switch {
	case p.MaxRetries < 0 || p.MaxRetries > 10:
		return fmt.Errorf("retry policy: MaxRetries %d outside 0..10", p.MaxRetries)
	case p.MinWait < 0 || p.MaxWait < p.MinWait:
		return fmt.Errorf("retry policy: need 0 <= MinWait <= MaxWait, got %v and %v", p.MinWait, p.MaxWait)
	case p.MaxRetryAfter < 0:
		return fmt.Errorf("retry policy: MaxRetryAfter %v is negative", p.MaxRetryAfter)
	}
	return nil
}

// Config configures a Doer.
type Config struct {
	HTTPClient *http.Client // copied; its Transport is used as the base
	Logger     *slog.Logger // nil: silent
	Policy     Policy
	Now        func() time.Time // for Retry-After HTTP-dates
	UserAgent  string           // set on requests that carry none
	// Observe, when not nil, is called after every attempt with the
	// attempt's context (the caller's, so its trace span is the parent).
	// It runs in the request's goroutine and must not block.
	Observe func(context.Context, Attempt)
}

// Attempt is one HTTP attempt as Config.Observe sees it: the route
// template, never the raw path, and no header or body.
type Attempt struct {
	Method   string
	Route    string
	Number   int // 1 for the first attempt, 2 for the first retry…
	Status   int // 0 when no response came
	Start    time.Time
	Duration time.Duration
	// Err is "" when a response came, else a short fixed word for the
	// transport failure ("dial failed", "deadline exceeded"…), never
	// the error's text, which may hold a URL.
	Err string
}

// Doer sends requests with the retry policy of their Class.
type Doer struct {
	retry  *retryablehttp.Client
	logger *slog.Logger
	now    func() time.Time
	policy Policy
	ua     string
}

// reqState rides in a request's context: retryablehttp's hooks see only
// the request. One value, not four, keeps the hot path to one allocation.
type reqState struct {
	class       Class
	route       string
	attempts    int
	beforeRetry func() error
}

type stateKey struct{}

func stateOf(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	if st == nil {
		return &reqState{route: "(unnamed route)"}
	}
	return st
}

func prepareRetry(req *http.Request) error {
	if fn := stateOf(req.Context()).beforeRetry; fn != nil {
		return fn()
	}
	return nil
}

// New builds a Doer. The caller's client is copied, never modified.
func New(cfg Config) *Doer {
	base := http.Client{Timeout: 30 * time.Second}
	if cfg.HTTPClient != nil {
		base = *cfg.HTTPClient
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	d := &Doer{logger: logger, now: now, policy: cfg.Policy, ua: cfg.UserAgent}
	// Never follow a redirect: following one re-sends the body (client
	// secret, authorization code, refresh token, EPS number) and, for
	// token calls, would accept another host's token answer as USPS's.
	// The 3xx itself comes back to the caller, who treats it as a failure.
	base.CheckRedirect = refuseRedirect
	base.Transport = &logTransport{base: transportOf(&base), logger: logger, observe: cfg.Observe}
	d.retry = &retryablehttp.Client{
		HTTPClient:     &base,
		Logger:         nil, // its messages carry full URLs; logTransport logs instead
		RetryWaitMin:   cfg.Policy.MinWait,
		RetryWaitMax:   cfg.Policy.MaxWait,
		RetryMax:       cfg.Policy.MaxRetries,
		CheckRetry:     d.checkRetry,
		Backoff:        d.backoff,
		ErrorHandler:   retryablehttp.PassthroughErrorHandler,
		RequestLogHook: countAttempt,
		PrepareRetry:   prepareRetry,
	}
	return d
}

// refuseRedirect makes the client return a redirect response as is, with
// its Location unfollowed. USPS's APIs never redirect.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func transportOf(c *http.Client) http.RoundTripper {
	if c.Transport != nil {
		return c.Transport
	}
	return http.DefaultTransport
}

// Result is a response with the number of attempts it took.
type Result struct {
	*http.Response
	Attempts int
}

// Do sends req (whose body must be replayable: nil, or set with GetBody as
// http.NewRequest does for bytes and strings). route names the endpoint in
// logs and errors instead of the raw path, which may hold an account number.
// beforeRetry, when not nil, runs before every retry; its error ends the
// request (uspsbiz charges each retry to a call budget with it, since USPS
// counts every attempt). On success the caller must close the body; on
// error it is already closed.
func (d *Doer) Do(ctx context.Context, req *http.Request, class Class, route string, beforeRetry func() error) (Result, error) {
	st := &reqState{class: class, route: route, beforeRetry: beforeRetry}
	req = req.WithContext(context.WithValue(ctx, stateKey{}, st))
	if d.ua != "" && req.Header.Get("User-Agent") == "" {
		req.Header = req.Header.Clone()
		req.Header.Set("User-Agent", d.ua)
	}
	rreq, err := retryablehttp.FromRequest(req)
	if err != nil {
		return Result{}, fmt.Errorf("%s %s: %w", req.Method, route, err)
	}
	resp, err := d.retry.Do(rreq)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = ctxErr
		}
		return Result{Attempts: st.attempts}, &TransportError{Method: req.Method, Route: route, Attempts: st.attempts, Err: unwrapURLError(err)}
	}
	return Result{Response: resp, Attempts: st.attempts}, nil
}

// StandardClient returns an *http.Client whose requests all go through the
// Token class: for golang.org/x/oauth2, which makes its own token requests.
func (d *Doer) StandardClient(route string) *http.Client {
	return &http.Client{Transport: classTransport{d: d, class: Token, route: route}, CheckRedirect: refuseRedirect}
}

type classTransport struct {
	d     *Doer
	class Class
	route string
}

func (t classTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.d.Do(req.Context(), req, t.class, t.route, nil)
	if err != nil {
		return nil, err
	}
	return res.Response, nil
}

// TransportError is a request that got no HTTP response. Its text names the
// route, never the URL, so no account number or query reaches a log.
type TransportError struct {
	Method   string
	Route    string
	Attempts int
	Err      error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("%s %s: after %d attempt(s): %v", e.Method, e.Route, e.Attempts, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// unwrapURLError drops *url.Error, whose text holds the full URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func countAttempt(_ retryablehttp.Logger, req *http.Request, _ int) {
	stateOf(req.Context()).attempts++
}

func (d *Doer) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return false, ctxErr
	}
	class := stateOf(ctx).class
	if err != nil {
		if class == Idempotent {
			return retryableTransportError(err), nil
		}
		return neverSent(err), nil
	}
	if class != Idempotent {
		return false, nil
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		if wait, ok := RetryAfter(resp.Header, d.now()); ok && wait > d.policy.MaxRetryAfter {
			return false, nil // the caller gets the 429 with its RetryAfter at once
		}
		return true, nil
	case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
		return true, nil
	}
	return false, nil
}

// retryableTransportError excludes errors a retry cannot fix; timeouts,
// resets and EOFs mid-response are worth another try for an idempotent call.
func retryableTransportError(err error) bool {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return false
	case errors.As(err, &certErr):
		return false
	}
	return true
}

// neverSent reports a failure before any byte of the request was written:
// a failed dial or a refused connection.
func neverSent(err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// backoff honours Retry-After (checkRetry already refused waits above
// MaxRetryAfter; the cap here only guards a header that changed) and otherwise waits
// exponentially with full jitter, so that a fleet does not retry in step.
func (d *Doer) backoff(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if wait, ok := RetryAfter(resp.Header, d.now()); ok {
			return min(wait, d.policy.MaxRetryAfter)
		}
	}
	ceiling := lo << min(attempt, 20)
	if ceiling <= 0 || ceiling > hi {
		ceiling = hi
	}
	if ceiling <= lo {
		return lo
	}
	return lo + rand.N(ceiling-lo)
}

// RetryAfter parses a Retry-After header as delay-seconds or any of the three
// HTTP-date forms of RFC 9110 §5.6.7. A date in the past means now.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(365*24*time.Hour/time.Second) {
			secs = int64(365 * 24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// logTransport logs each attempt with method, host, route and status only,
// and hands the same facts to the observer.
type logTransport struct {
	base    http.RoundTripper
	logger  *slog.Logger
	observe func(context.Context, Attempt)
}

func (t *logTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	if t.observe != nil {
		t.report(req, start, resp, err)
	}
	if !t.logger.Enabled(req.Context(), slog.LevelDebug) {
		return resp, err
	}
	st := stateOf(req.Context())
	attrs := []slog.Attr{
		slog.String("method", req.Method),
		slog.String("host", req.URL.Host),
		slog.String("route", st.route),
		slog.Int("attempt", st.attempts),
		slog.Duration("elapsed", time.Since(start)),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", errorKind(err)))
	} else {
		attrs = append(attrs, slog.Int("status", resp.StatusCode))
	}
	t.logger.LogAttrs(req.Context(), slog.LevelDebug, "usps request", attrs...)
	return resp, err
}

// report passes one attempt to the observer.
func (t *logTransport) report(req *http.Request, start time.Time, resp *http.Response, err error) {
	st := stateOf(req.Context())
	a := Attempt{Method: req.Method, Route: st.route, Number: st.attempts, Start: start, Duration: time.Since(start)}
	if err != nil {
		a.Err = errorKind(err)
	} else {
		a.Status = resp.StatusCode
	}
	t.observe(req.Context(), a)
}

// errorKind names a transport failure without its text, which may hold a URL.
func errorKind(err error) string {
	var opErr *net.OpError
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline exceeded"
	case errors.As(err, &opErr):
		return opErr.Op + " failed"
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return "connection closed"
	}
	return "transport error"
}
