package uspsbiz

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/oauth2"

	"github.com/nsalink/nsalink/internal/httpx"
)

// Sentinel errors, for errors.Is. An *APIError matches the one its status
// or USPS code implies.
var (
	// ErrRateLimited: USPS answered 429 (see APIError.RetryAfter), or a
	// client-side budget (WithBudget) ran out.
	ErrRateLimited = errors.New("uspsbiz: rate limited")
	// ErrUnauthorized: 401; the token is missing, expired or revoked.
	ErrUnauthorized = errors.New("uspsbiz: unauthorized")
	// ErrNotEntitled: 403; the app's API product or the customer's grant does
	// not cover this call.
	ErrNotEntitled = errors.New("uspsbiz: not entitled")
	// ErrNotFound: 404.
	ErrNotFound = errors.New("uspsbiz: not found")
	// ErrReauthorizationRequired: the customer's grant is gone (invalid_grant
	// or invalid_refresh_token from the token endpoint: refresh token
	// expired, revoked or reused, or the customer reset their USPS password). Only a new COP authorization
	// fixes it.
	ErrReauthorizationRequired = errors.New("uspsbiz: customer must authorize again")
	// ErrMalformedResponse: a 2xx body that does not decode.
	ErrMalformedResponse = errors.New("uspsbiz: malformed USPS response")
)

// maxErrorBody caps the raw error body kept on an APIError.
const maxErrorBody = 1 << 20

// APIError is a non-2xx answer from a USPS resource API, decoded from either
// USPS's {apiVersion, error:{code, message, errors[]}} body or the API
// gateway's {fault:{faultstring, detail:{errorcode}}} body.
type APIError struct {
	StatusCode int
	Method     string
	Route      string // path template, e.g. /payments/v3/payment-account/{accountNumber}
	APIVersion string
	Code       string // error.code (the HTTP status as text) or the gateway errorcode
	Message    string
	Errors     []ErrorDetail
	RequestID  string
	// RetryAfter is the wait USPS asked for on 429/503 (zero when absent);
	// RetryAt is when that wait ends.
	RetryAfter time.Duration
	RetryAt    time.Time
	Attempts   int
	// Body is the raw response body, at most 1 MiB.
	Body []byte
}

// ErrorDetail is one item of error.errors[]; Code is USPS's subordinate code
// such as "100002" or "030002".
type ErrorDetail struct {
	Status string `json:"status,omitempty"`
	Code   string `json:"code,omitempty"`
	Title  string `json:"title,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Parameter and Example are USPS's source.parameter (the offending
	// parameter, e.g. "roles[2].MID") and source.example.
	Parameter string `json:"parameter,omitempty"`
	Example   string `json:"example,omitempty"`
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "uspsbiz: %s %s: %d", e.Method, e.Route, e.StatusCode)
	if m := cleanText(e.Message, 200); m != "" {
		fmt.Fprintf(&b, " %s", m)
	}
	for i, d := range e.Errors {
		if i == 3 {
			fmt.Fprintf(&b, " (+%d more)", len(e.Errors)-i)
			break
		}
		fmt.Fprintf(&b, " [%s", cleanCode(d.Code))
		if t := cleanText(d.Title, 100); t != "" {
			fmt.Fprintf(&b, " %s", t)
		}
		b.WriteString("]")
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Format prints Error's filtered text for every verb, %#v included: the
// raw fields (Body, Message, Errors) may echo an account number and are
// for code to inspect, not for logs.
func (e *APIError) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		_, _ = f.Write([]byte(strconv.Quote(e.Error())))
		return
	}
	_, _ = f.Write([]byte(e.Error()))
}

// cleanText makes USPS's free text safe for an error string or a log
// line: control characters become spaces, runs of five or more digits
// (an EPS, CRID or MID number USPS may echo) become "#", and the result is
// cut to n bytes on a rune boundary.
func cleanText(s string, n int) string {
	var b strings.Builder
	flush := func(run string) {
		if len(run) >= 5 {
			b.WriteByte('#')
		} else {
			b.WriteString(run)
		}
	}
	start := -1
	for i, r := range s {
		if r >= '0' && r <= '9' {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			flush(s[start:i])
			start = -1
		}
		if unicode.IsControl(r) || r == utf8.RuneError || r == '\u2028' || r == '\u2029' {
			b.WriteByte(' ')
			continue
		}
		b.WriteRune(r)
	}
	if start >= 0 {
		flush(s[start:])
	}
	out := strings.TrimSpace(b.String())
	if len(out) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = out[:cut] + "…"
	}
	return out
}

// cleanCode keeps a short code such as "100002" or "invalid_grant" whole
// and refuses anything else in it.
func cleanCode(s string) string {
	if len(s) > 40 {
		return "(long code)"
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return "(malformed code)"
		}
	}
	return s
}

// Is matches the sentinels by status.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrNotEntitled:
		return e.StatusCode == http.StatusForbidden
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	}
	return false
}

// IsUSPSBody reports whether the body was a USPS or API-gateway error
// document. A 404 without one (an HTML page from a proxy, an empty body)
// says nothing about the resource asked for, such as an EPS account.
func (e *APIError) IsUSPSBody() bool {
	return e.APIVersion != "" || e.Code != "" || e.Message != "" || len(e.Errors) > 0
}

// HasCode reports whether USPS gave the subordinate code (e.g. "100002").
func (e *APIError) HasCode(code string) bool {
	for _, d := range e.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}

// newAPIError reads (at most 1 MiB of) res's body. It never fails: a body
// that is not JSON leaves the decoded fields empty.
func newAPIError(res *http.Response, method, route string, attempts int, now time.Time) *APIError {
	body, _ := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
	e := decodeErrorBody(body)
	e.StatusCode = res.StatusCode
	e.Method = method
	e.Route = route
	e.Attempts = attempts
	e.Body = body
	e.RequestID = firstHeader(res.Header, "X-Request-Id", "X-Correlation-Id", "X-B3-Traceid")
	if wait, ok := httpx.RetryAfter(res.Header, now); ok {
		e.RetryAfter = wait
		e.RetryAt = now.Add(wait)
	}
	return e
}

func firstHeader(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// decodeErrorBody decodes a USPS or gateway error body into an APIError with
// only the body fields set. Unknown shapes give an empty APIError; it never
// panics and reads nothing beyond body.
func decodeErrorBody(body []byte) *APIError {
	var wire struct {
		APIVersion string          `json:"apiVersion"`
		Error      json.RawMessage `json:"error"`
		Fault      *struct {
			FaultString string `json:"faultstring"`
			Detail      struct {
				ErrorCode string `json:"errorcode"`
			} `json:"detail"`
		} `json:"fault"`
	}
	e := &APIError{}
	if json.Unmarshal(body, &wire) != nil {
		return e
	}
	e.APIVersion = wire.APIVersion
	if wire.Fault != nil {
		e.Code = wire.Fault.Detail.ErrorCode
		e.Message = wire.Fault.FaultString
		return e
	}
	var inner struct {
		Code    json.RawMessage `json:"code"`
		Message string          `json:"message"`
		Errors  []struct {
			Status json.RawMessage `json:"status"`
			Code   json.RawMessage `json:"code"`
			Title  string          `json:"title"`
			Detail string          `json:"detail"`
			Source struct {
				Parameter string `json:"parameter"`
				Example   string `json:"example"`
			} `json:"source"`
		} `json:"errors"`
	}
	if len(wire.Error) == 0 {
		return e
	}
	// OAuth-style {"error":"invalid_client","error_description":"…"} at a
	// resource path: keep the code.
	var s string
	if json.Unmarshal(wire.Error, &s) == nil {
		e.Code = s
		var desc struct {
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(body, &desc)
		e.Message = desc.Description
		return e
	}
	if json.Unmarshal(wire.Error, &inner) != nil {
		return e
	}
	e.Code = scalarText(inner.Code)
	e.Message = inner.Message
	for _, d := range inner.Errors {
		e.Errors = append(e.Errors, ErrorDetail{
			Status:    scalarText(d.Status),
			Code:      scalarText(d.Code),
			Title:     d.Title,
			Detail:    d.Detail,
			Parameter: d.Source.Parameter, Example: d.Source.Example,
		})
	}
	return e
}

// scalarText accepts a JSON string or number: USPS documents codes as
// strings but examples carry both.
func scalarText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// tokenError classifies a token-endpoint failure. The *oauth2.RetrieveError
// stays reachable with errors.As; invalid_grant also matches
// ErrReauthorizationRequired. The RetrieveError's own text (which may quote
// the body) is not repeated here.
type tokenError struct {
	op  string
	err *oauth2.RetrieveError
}

func (e *tokenError) Error() string {
	status := 0
	if e.err.Response != nil {
		status = e.err.Response.StatusCode
	}
	code := cleanCode(e.err.ErrorCode)
	if code == "" {
		code = "unrecognized error body"
	}
	return fmt.Sprintf("uspsbiz: %s: token endpoint: %d %s", e.op, status, code)
}

func (e *tokenError) Unwrap() error { return e.err }

func (e *tokenError) Is(target error) bool {
	switch target {
	case ErrReauthorizationRequired:
		// USPS also answers invalid_refresh_token, with
		// refresh_token_status "Unknown", for a refresh token it dropped
		// early (USPS/api-examples#84): the same remedy, a new authorization.
		return e.err.ErrorCode == "invalid_grant" || e.err.ErrorCode == "invalid_refresh_token"
	case ErrRateLimited:
		return e.err.Response != nil && e.err.Response.StatusCode == http.StatusTooManyRequests
	case ErrUnauthorized:
		return e.err.ErrorCode == "invalid_client"
	}
	return false
}

// wrapTokenError keeps *oauth2.RetrieveError reachable and strips URLs from
// transport errors.
func wrapTokenError(op string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return &tokenError{op: op, err: re}
	}
	var te *httpx.TransportError
	if errors.As(err, &te) {
		return fmt.Errorf("uspsbiz: %s: %w", op, te)
	}
	return fmt.Errorf("uspsbiz: %s: %w", op, err)
}
