package httpx

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var fastPolicy = Policy{MaxRetries: 3, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond, MaxRetryAfter: 2 * time.Second}

// statusServer answers each request with the next status (the last one
// repeats) and counts requests.
func statusServer(t *testing.T, header http.Header, statuses ...int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		for k, v := range header {
			w.Header()[k] = v
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(statuses[min(i, len(statuses)-1)])
		_, _ = io.WriteString(w, `{"n":`+string(rune('0'+i))+`}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func send(t *testing.T, d *Doer, ctx context.Context, method, url string, class Class) (Result, error) {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(`{"x":1}`)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	require.NoError(t, err)
	res, err := d.Do(ctx, req, class, "/route/{id}", nil)
	if err == nil {
		t.Cleanup(func() { res.Body.Close() })
	}
	return res, err
}

func TestIdempotentRetriesServerErrors(t *testing.T) {
	srv, n := statusServer(t, nil, 503, 502, 200)
	d := New(Config{Policy: fastPolicy})
	res, err := send(t, d, t.Context(), http.MethodGet, srv.URL, Idempotent)
	require.NoError(t, err)
	assert.Equal(t, 200, res.StatusCode)
	assert.Equal(t, 3, res.Attempts)
	assert.EqualValues(t, 3, n.Load())
}

func TestRetriesExhaustedReturnLastResponse(t *testing.T) {
	srv, n := statusServer(t, nil, 500)
	d := New(Config{Policy: fastPolicy})
	res, err := send(t, d, t.Context(), http.MethodGet, srv.URL, Idempotent)
	require.NoError(t, err, "the last USPS answer reaches the caller, body intact")
	assert.Equal(t, 500, res.StatusCode)
	assert.Equal(t, 4, res.Attempts)
	assert.EqualValues(t, 4, n.Load())
	b, _ := io.ReadAll(res.Body)
	assert.Equal(t, `{"n":3}`, string(b))
}

func TestNotImplementedAndClientErrorsAreNotRetried(t *testing.T) {
	for _, status := range []int{400, 401, 404, 501} {
		srv, n := statusServer(t, nil, status)
		d := New(Config{Policy: fastPolicy})
		res, err := send(t, d, t.Context(), http.MethodGet, srv.URL, Idempotent)
		require.NoError(t, err)
		assert.Equal(t, status, res.StatusCode)
		assert.EqualValues(t, 1, n.Load(), "status %d", status)
	}
}

func TestNonIdempotentAndTokenAreNotRetriedOnceSent(t *testing.T) {
	for _, class := range []Class{NonIdempotent, Token} {
		srv, n := statusServer(t, nil, 503, 200)
		d := New(Config{Policy: fastPolicy})
		res, err := send(t, d, t.Context(), http.MethodPost, srv.URL, class)
		require.NoError(t, err)
		assert.Equal(t, 503, res.StatusCode)
		assert.EqualValues(t, 1, n.Load())
	}
}

func TestNonIdempotentNotRetriedAfterConnectionDrop(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		conn, _, err := w.(http.Hijacker).Hijack()
		require.NoError(t, err)
		conn.Close()
	}))
	defer srv.Close()
	d := New(Config{Policy: fastPolicy})
	_, err := send(t, d, t.Context(), http.MethodPost, srv.URL, Token)
	require.Error(t, err)
	assert.EqualValues(t, 1, n.Load(), "a request that may have arrived is never sent again")

	n.Store(0)
	_, err = send(t, d, t.Context(), http.MethodGet, srv.URL, Idempotent)
	require.Error(t, err)
	assert.EqualValues(t, 4, n.Load(), "an idempotent GET retries the drop")
}

func TestDialFailureIsRetriedForEveryClass(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens: connection refused
	d := New(Config{Policy: fastPolicy})
	for _, class := range []Class{Idempotent, NonIdempotent, Token} {
		res, err := send(t, d, t.Context(), http.MethodPost, "http://"+addr+"/route/1234567890", class)
		var te *TransportError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, 4, te.Attempts, "class %d", class)
		assert.Equal(t, 4, res.Attempts)
		assert.NotContains(t, err.Error(), "1234567890", "errors name the route, not the path")
		assert.Contains(t, err.Error(), "/route/{id}")
	}
}

func TestRetryAfterSecondsHonoured(t *testing.T) {
	srv, n := statusServer(t, http.Header{"Retry-After": {"1"}}, 429, 200)
	d := New(Config{Policy: fastPolicy})
	start := time.Now()
	res, err := send(t, d, t.Context(), http.MethodGet, srv.URL, Idempotent)
	require.NoError(t, err)
	assert.Equal(t, 200, res.StatusCode)
	assert.EqualValues(t, 2, n.Load())
	assert.GreaterOrEqual(t, time.Since(start), 950*time.Millisecond, "waited as asked, not MaxWait")
}

func TestRetryAfterHTTPDateHonoured(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, layout := range []string{http.TimeFormat, time.RFC850, time.ANSIC} {
		h := http.Header{"Retry-After": {now.Add(time.Second).Format(layout)}}
		if layout == time.RFC850 {
			h.Set("Retry-After", now.Add(time.Second).Format("Monday, 02-Jan-06 15:04:05 GMT"))
		}
		wait, ok := RetryAfter(h, now)
		require.True(t, ok, layout)
		assert.Equal(t, time.Second, wait, layout)
	}
	srv, n := statusServer(t, http.Header{"Retry-After": {now.Add(time.Second).Format(http.TimeFormat)}}, 503, 200)
	d := New(Config{Policy: fastPolicy, Now: func() time.Time { return now }})
	start := time.Now()
	res, err := send(t, d, t.Context(), http.MethodGet, srv.URL, Idempotent)
	require.NoError(t, err)
	assert.Equal(t, 200, res.StatusCode)
	assert.EqualValues(t, 2, n.Load())
	assert.GreaterOrEqual(t, time.Since(start), 950*time.Millisecond)
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"30", 30 * time.Second, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"", 0, false},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true}, // past date: now
		{"99999999999999", 365 * 24 * time.Hour, true},         // absurd: clamped
	}
	for _, c := range cases {
		h := http.Header{}
		if c.in != "" {
			h.Set("Retry-After", c.in)
		}
		got, ok := RetryAfter(h, now)
		assert.Equal(t, c.ok, ok, c.in)
		assert.Equal(t, c.want, got, c.in)
	}
}

func TestRetryAfterAboveCapReturnsAtOnce(t *testing.T) {
	srv, n := statusServer(t, http.Header{"Retry-After": {"3600"}}, 429)
	d := New(Config{Policy: fastPolicy})
	start := time.Now()
	res, err := send(t, d, t.Context(), http.MethodGet, srv.URL, Idempotent)
	require.NoError(t, err)
	assert.Equal(t, 429, res.StatusCode)
	assert.EqualValues(t, 1, n.Load())
	assert.Less(t, time.Since(start), 500*time.Millisecond, "no long sleep")
}

func TestCancelDuringBackoffReturnsPromptly(t *testing.T) {
	srv, _ := statusServer(t, http.Header{"Retry-After": {"2"}}, 503)
	d := New(Config{Policy: Policy{MaxRetries: 3, MinWait: time.Millisecond, MaxWait: time.Millisecond, MaxRetryAfter: 5 * time.Second}})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := send(t, d, ctx, http.MethodGet, srv.URL, Idempotent)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 600*time.Millisecond)
}

func TestBackoffJitterStaysInBounds(t *testing.T) {
	d := New(Config{Policy: fastPolicy})
	seen := map[time.Duration]bool{}
	for i := 0; i < 200; i++ {
		w := d.backoff(10*time.Millisecond, 80*time.Millisecond, 3, nil)
		require.GreaterOrEqual(t, w, 10*time.Millisecond)
		require.LessOrEqual(t, w, 80*time.Millisecond)
		seen[w] = true
	}
	assert.Greater(t, len(seen), 10, "waits are jittered, not in lockstep")
}

func TestCallerClientIsNotModified(t *testing.T) {
	rt := http.DefaultTransport.(*http.Transport).Clone()
	hc := &http.Client{Transport: rt, Timeout: 7 * time.Second}
	srv, _ := statusServer(t, nil, 200)
	d := New(Config{HTTPClient: hc, Policy: fastPolicy})
	_, err := send(t, d, t.Context(), http.MethodGet, srv.URL, Idempotent)
	require.NoError(t, err)
	assert.Same(t, rt, hc.Transport)
	assert.Equal(t, 7*time.Second, hc.Timeout)
	assert.Nil(t, hc.CheckRedirect)
}

func TestLogsCarryRouteNotURL(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, _ := statusServer(t, nil, 503, 200)
	d := New(Config{Logger: logger, Policy: fastPolicy})
	_, err := send(t, d, t.Context(), http.MethodGet, srv.URL+"/payments/v3/payment-account/1234567890?secret=canary", Idempotent)
	require.NoError(t, err)
	out := buf.String()
	assert.Contains(t, out, `"route":"/route/{id}"`)
	assert.Contains(t, out, `"status":503`)
	assert.Contains(t, out, `"attempt":2`)
	assert.NotContains(t, out, "1234567890")
	assert.NotContains(t, out, "canary")
}

func TestPolicyValidate(t *testing.T) {
	require.NoError(t, DefaultPolicy.Validate())
	for _, p := range []Policy{
		{MaxRetries: -1},
		{MaxRetries: 11},
		{MinWait: time.Second, MaxWait: time.Millisecond},
		{MaxRetryAfter: -time.Second},
	} {
		assert.Error(t, p.Validate(), "%+v", p)
	}
}

func TestErrorKind(t *testing.T) {
	assert.Equal(t, "canceled", errorKind(context.Canceled))
	assert.Equal(t, "deadline exceeded", errorKind(context.DeadlineExceeded))
	assert.Equal(t, "dial failed", errorKind(&net.OpError{Op: "dial", Err: errors.New("x")}))
	assert.Equal(t, "connection closed", errorKind(io.ErrUnexpectedEOF))
	assert.Equal(t, "transport error", errorKind(errors.New("https://secret@host/")))
}

func TestUntrustedCertificateIsNotRetried(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.Add(1) }))
	defer srv.Close()
	d := New(Config{Policy: fastPolicy}) // default transport: the test CA is not trusted
	res, err := send(t, d, t.Context(), http.MethodGet, srv.URL, Idempotent)
	require.Error(t, err)
	assert.Equal(t, 1, res.Attempts, "a retry cannot fix an untrusted certificate")
	assert.Zero(t, n.Load())
}
