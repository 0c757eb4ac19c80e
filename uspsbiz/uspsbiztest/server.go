package uspsbiztest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a fake USPS: OAuth, the Customer Onboarding Platform pages and
// the resource APIs, over real HTTP on loopback. Its methods are safe for
// concurrent use.
type Server struct {
	// URL is the base URL to give uspsbiz.WithEnvironment, as
	// uspsbiz.Environment(srv.URL).
	URL string

	srv *httptest.Server
	mux *http.ServeMux

	mu        sync.Mutex
	now       time.Time
	clockReal bool // follow the wall clock until SetTime/Advance
	started   time.Time

	apps     map[string]*App             // by client id
	accounts map[string]*BusinessAccount // by username
	codes    map[string]*authCode
	access   map[string]*grant        // access token → grant
	refresh  map[string]*refreshGrant // refresh token → grant
	flows    map[string]*copFlow      // COP browser sessions
	rotate   bool
	strNums  bool
	// accessTTL is the lifetime of the access tokens it issues (default
	// 8 hours, USPS's).
	accessTTL time.Duration

	faults   []*Fault
	requests []Request

	res resources // state of the resource APIs (payments, prices, tracking)
}

// Option configures a Server.
type Option func(*Server)

// WithApp registers a platform app (a later one with the same ClientID
// replaces it).
func WithApp(a App) Option { return func(s *Server) { s.addApp(a) } }

// WithBusinessAccount seeds a USPS Business Account (a later one with the
// same Username replaces it, EPAs and all).
func WithBusinessAccount(a BusinessAccount) Option {
	return func(s *Server) { s.addBusinessAccount(a) }
}

// WithRefreshRotation sets whether refreshing issues a new refresh token and
// kills the old one (default true). Reusing a rotated refresh token is
// answered with invalid_grant and revokes every token of that grant.
func WithRefreshRotation(on bool) Option { return func(s *Server) { s.rotate = on } }

// WithStringNumbers makes token responses carry expires_in, issued_at and
// friends as JSON strings, as USPS's README examples show.
func WithStringNumbers() Option { return func(s *Server) { s.strNums = true } }

// WithAccessTokenLifetime sets how long the access tokens it issues
// (platform and customer) live; USPS's are 8 hours. For testing clients
// against short-lived tokens.
func WithAccessTokenLifetime(d time.Duration) Option {
	return func(s *Server) {
		if d >= 2*time.Second {
			s.accessTTL = d
		}
	}
}

// WithTime starts the fake's clock at t (default: the wall clock, followed
// until the first SetTime or Advance).
func WithTime(t time.Time) Option { return func(s *Server) { s.now = t; s.clockReal = false } }

// NewServer starts a fake USPS for a test and closes it at cleanup.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := Start(opts...)
	t.Cleanup(s.Close)
	return s
}

// Start starts a fake USPS outside a test (for demos); call Close.
func Start(opts ...Option) *Server {
	s := &Server{
		mux:       http.NewServeMux(),
		clockReal: true,
		started:   time.Now(),
		apps:      map[string]*App{},
		accounts:  map[string]*BusinessAccount{},
		codes:     map[string]*authCode{},
		access:    map[string]*grant{},
		refresh:   map[string]*refreshGrant{},
		flows:     map[string]*copFlow{},
		rotate:    true,
		accessTTL: accessTokenLifetime,
	}
	s.res.init()
	for _, o := range opts {
		o(s)
	}
	s.routes()
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// COPURL is the fake Customer Onboarding Platform's entry URL, for
// uspsbiz.WithCOPURL.
func (s *Server) COPURL() string { return s.URL + "/cop-navigator" }

func (s *Server) routes() {
	s.mux.HandleFunc("POST /oauth2/v3/token", s.handleToken)
	s.mux.HandleFunc("POST /oauth2/v3/revoke", s.handleRevoke)
	s.mux.HandleFunc("GET /cop-navigator", s.handleCOPStart)
	s.mux.HandleFunc("POST /cop/signin", s.handleCOPSignIn)
	s.mux.HandleFunc("POST /cop/mfa", s.handleCOPMFA)
	s.mux.HandleFunc("POST /cop/authorize", s.handleCOPAuthorize)
	s.mux.HandleFunc("GET /cop/success", s.handleCOPSuccess)
	s.registerResources()
}

// Now is the fake's clock.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nowLocked()
}

func (s *Server) nowLocked() time.Time {
	if s.clockReal {
		return time.Now()
	}
	return s.now
}

// SetTime sets the fake's clock; it stands still until moved again.
func (s *Server) SetTime(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now, s.clockReal = t, false
}

// Advance moves the fake's clock forward (it then stands still).
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now, s.clockReal = s.nowLocked().Add(d), false
}

// Request is one request the server received.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
	At     time.Time
}

// Requests returns the requests received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Count returns how many received requests match "METHOD /path-prefix"
// (or just "/path-prefix" for any method).
func (s *Server) Count(match string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if matches(match, r.Method, r.Path) {
			n++
		}
	}
	return n
}

// ResetRequests forgets the recorded requests.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

func matches(match, method, path string) bool {
	if m, p, ok := strings.Cut(match, " "); ok {
		return m == method && strings.HasPrefix(path, p)
	}
	return strings.HasPrefix(path, match)
}

// FaultKind selects what an injected fault does.
type FaultKind int

const (
	// FaultStatus answers Status with Body (default: a USPS error body).
	FaultStatus FaultKind = iota
	// FaultMalformedJSON answers 200 with a truncated JSON body.
	FaultMalformedJSON
	// FaultGateway answers Status (default 401) with an API gateway
	// fault{} body instead of USPS's error{} body.
	FaultGateway
	// FaultInvalidGrant answers the token endpoint's invalid_grant.
	FaultInvalidGrant
	// FaultLatency only delays the request by Latency, then serves it.
	FaultLatency
	// FaultDropConnection closes the connection without an answer.
	FaultDropConnection
	// FaultInvalidRefreshToken answers the token endpoint's
	// invalid_refresh_token with refresh_token_status "Unknown", which USPS
	// gives for refresh tokens it dropped early (USPS/api-examples#84).
	FaultInvalidRefreshToken
)

// Fault is a response the server gives instead of (or before) the real one.
type Fault struct {
	// Match is "METHOD /path-prefix" or "/path-prefix".
	Match      string
	Kind       FaultKind
	Status     int
	RetryAfter string // Retry-After header value, e.g. "3" or an HTTP-date
	Body       string // raw body for FaultStatus (default: a USPS error body)
	Latency    time.Duration
	// Times is how many matching requests the fault applies to (0 means 1;
	// negative means until ClearFaults).
	Times int
}

// InjectFault adds a fault; faults apply in the order added.
func (s *Server) InjectFault(f Fault) {
	if f.Times == 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults removes all injected faults.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

func (s *Server) takeFault(method, path string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if !matches(f.Match, method, path) {
			continue
		}
		cp := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return &cp
	}
	return nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.mu.Lock()
	s.requests = append(s.requests, Request{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(),
		Header: r.Header.Clone(), Body: body, At: s.nowLocked(),
	})
	s.mu.Unlock()
	w.Header().Set("X-Request-Id", randomHex(8))
	if f := s.takeFault(r.Method, r.URL.Path); f != nil {
		if s.applyFault(w, r, f) {
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// applyFault serves f and reports whether the request is answered.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f *Fault) bool {
	if f.Latency > 0 {
		select {
		case <-time.After(f.Latency):
		case <-r.Context().Done():
			return true
		}
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	switch f.Kind {
	case FaultLatency:
		return false
	case FaultMalformedJSON:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"apiVersion":"v3","broken":`)
	case FaultGateway:
		status := f.Status
		if status == 0 {
			status = http.StatusUnauthorized
		}
		writeJSON(w, status, map[string]any{"fault": map[string]any{
			"faultstring": "Invalid access token",
			"detail":      map[string]any{"errorcode": "oauth.v2.InvalidAccessToken"},
		}})
	case FaultInvalidGrant:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "The refresh token is invalid or expired."})
	case FaultInvalidRefreshToken:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_refresh_token", "error_description": "Invalid refresh token", "refresh_token_status": "Unknown"})
	case FaultDropConnection:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler)
	default:
		status := f.Status
		if status == 0 {
			status = http.StatusInternalServerError
		}
		if f.Body != "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, f.Body)
			return true
		}
		writeUSPSError(w, status, apiVersionOf(r.URL.Path), http.StatusText(status))
	}
	return true
}

func apiVersionOf(path string) string {
	parts := strings.SplitN(strings.TrimPrefix(path, "/"), "/", 3)
	if len(parts) >= 2 {
		return "/" + parts[0] + "/" + parts[1]
	}
	return "/" + parts[0]
}

// detail is one entry of a USPS error body's errors[].
type detail struct {
	Code      string
	Title     string
	Detail    string
	Parameter string
}

// writeUSPSError writes USPS's ErrorMessage shape.
func writeUSPSError(w http.ResponseWriter, status int, apiVersion, message string, details ...detail) {
	errs := make([]map[string]any, 0, len(details))
	for _, d := range details {
		e := map[string]any{"status": strconv.Itoa(status), "code": d.Code, "title": d.Title, "detail": d.Detail}
		if d.Parameter != "" {
			e["source"] = map[string]any{"parameter": d.Parameter}
		}
		errs = append(errs, e)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://api.usps.com"`)
	}
	writeJSON(w, status, map[string]any{
		"apiVersion": apiVersion,
		"error":      map[string]any{"code": strconv.Itoa(status), "message": message, "errors": errs},
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("uspsbiztest: random: %v", err))
	}
	return hex.EncodeToString(b)
}
