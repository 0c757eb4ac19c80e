package uspsbiz

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Secret is a credential: a client secret, an access or refresh token, a
// payment authorization token. Every formatting path (%v, %+v, %#v, %s, %q,
// String, JSON, text, slog) prints "[REDACTED]"; Reveal returns the value.
//
// Redaction fails closed: "[REDACTED]" never decodes back into a Secret
// (UnmarshalText, and so JSON, refuses it), so a Secret or Token that went
// through JSON cannot come back as a usable credential.
type Secret string

const redacted = "[REDACTED]"

// Reveal returns the secret's value, for sending it to USPS or sealing it.
func (s Secret) Reveal() string { return string(s) }

// Format implements fmt.Formatter so that no verb prints the value. fmt
// consults Format before String and GoString, so those are not needed.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		_, _ = f.Write([]byte(strconv.Quote(redacted)))
		return
	}
	_, _ = f.Write([]byte(redacted))
}

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText implements encoding.TextMarshaler; encoding/json uses it too,
// so a Secret marshals to the JSON string "[REDACTED]".
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// errRedacted is the refusal to decode a redacted value.
var errRedacted = errors.New("uspsbiz: a redacted secret cannot be decoded")

// UnmarshalText implements encoding.TextUnmarshaler (encoding/json uses it
// for JSON strings): it takes any value except "[REDACTED]", the output of
// MarshalText, which it refuses with an error.
func (s *Secret) UnmarshalText(b []byte) error {
	if string(b) == redacted {
		return errRedacted
	}
	*s = Secret(b)
	return nil
}

// Token is a USPS OAuth token with USPS's extra fields kept.
//
// The access and refresh tokens are Secrets: a Token can be logged or
// printed safely. To persist one, seal the output of MarshalBinary.
type Token struct {
	AccessToken  Secret
	TokenType    string
	Expiry       time.Time // of the access token, on this client's clock
	RefreshToken Secret
	// RefreshExpiry is when the refresh token stops working (zero: unknown).
	RefreshExpiry time.Time
	IssuedAt      time.Time // USPS's issued_at, when given
	RefreshCount  int       // USPS's refresh_count: 0 on first issue
	Scope         string    // space separated
	Issuer        string
	APIProducts   string // e.g. "[Public Access I]"
}

// Valid reports whether the access token is usable at now with margin to
// spare. A token holding "[REDACTED]" (what JSON and fmt print of a Secret)
// is never valid.
func (t *Token) Valid(now time.Time, margin time.Duration) bool {
	return t != nil && t.AccessToken != "" && t.AccessToken != redacted &&
		(t.Expiry.IsZero() || now.Add(margin).Before(t.Expiry))
}

// OAuth2 converts to golang.org/x/oauth2's type, for oauth2.Transport and
// friends. Note that *oauth2.Token prints its secrets with %+v.
func (t *Token) OAuth2() *oauth2.Token {
	return &oauth2.Token{
		AccessToken:  t.AccessToken.Reveal(),
		TokenType:    t.TokenType,
		RefreshToken: t.RefreshToken.Reveal(),
		Expiry:       t.Expiry,
	}
}

// tokenWire is Token's persisted form; it carries the secrets in clear, so
// it is only ever produced for sealing.
type tokenWire struct {
	V             int       `json:"v"`
	AccessToken   string    `json:"at"`
	TokenType     string    `json:"tt,omitempty"`
	Expiry        time.Time `json:"exp"`
	RefreshToken  string    `json:"rt,omitempty"`
	RefreshExpiry time.Time `json:"rexp"`
	IssuedAt      time.Time `json:"iat"`
	RefreshCount  int       `json:"rc,omitempty"`
	Scope         string    `json:"scope,omitempty"`
	Issuer        string    `json:"iss,omitempty"`
	APIProducts   string    `json:"prod,omitempty"`
}

// MarshalBinary encodes the token with its secrets in clear, for sealing
// before storage. Never store or log the result as is.
func (t *Token) MarshalBinary() ([]byte, error) {
	return json.Marshal(tokenWire{
		V: 1, AccessToken: t.AccessToken.Reveal(), TokenType: t.TokenType, Expiry: t.Expiry,
		RefreshToken: t.RefreshToken.Reveal(), RefreshExpiry: t.RefreshExpiry, IssuedAt: t.IssuedAt,
		RefreshCount: t.RefreshCount, Scope: t.Scope, Issuer: t.Issuer, APIProducts: t.APIProducts,
	})
}

// UnmarshalBinary decodes MarshalBinary's output.
func (t *Token) UnmarshalBinary(b []byte) error {
	var w tokenWire
	if err := json.Unmarshal(b, &w); err != nil {
		return errors.New("uspsbiz: stored token does not decode")
	}
	if w.V != 1 {
		return fmt.Errorf("uspsbiz: stored token version %d unknown", w.V)
	}
	if w.AccessToken == redacted || w.RefreshToken == redacted {
		return errRedacted
	}
	*t = Token{
		AccessToken: Secret(w.AccessToken), TokenType: w.TokenType, Expiry: w.Expiry,
		RefreshToken: Secret(w.RefreshToken), RefreshExpiry: w.RefreshExpiry, IssuedAt: w.IssuedAt,
		RefreshCount: w.RefreshCount, Scope: w.Scope, Issuer: w.Issuer, APIProducts: w.APIProducts,
	}
	return nil
}

// defaultAccessTokenLifetime is assumed when a token response has no
// expires_in at all: USPS documents 8 hours.
const defaultAccessTokenLifetime = 8 * time.Hour

// Bounds of the lifetimes a token answer may state. USPS documents 8 hours
// for access tokens and days for refresh tokens; anything outside these
// bounds is a broken or hostile answer, not a token to keep for decades.
const (
	maxAccessTokenLifetime  = 24 * time.Hour
	maxRefreshTokenLifetime = 400 * 24 * time.Hour
)

// ErrInvalidTokenResponse: the token endpoint answered 200 with a token
// this client will not use (a non-positive or absurd expires_in, a
// non-Bearer type, no refresh token after a code exchange …). It is matched
// by *TokenResponseError.
var ErrInvalidTokenResponse = errors.New("uspsbiz: invalid token response")

// TokenResponseError is a 200 token answer that was refused. After a code
// exchange, CodeSpent is true: the single-use authorization code was
// redeemed, so only a new authorization (a new COP visit) can link the
// customer; the error then also matches ErrReauthorizationRequired.
type TokenResponseError struct {
	Op        string // "exchange", "refresh" or "platform token"
	Err       error  // what is wrong with the answer; it quotes no token
	CodeSpent bool
}

func (e *TokenResponseError) Error() string {
	msg := "uspsbiz: " + e.Op + ": invalid token response: " + e.Err.Error()
	if e.CodeSpent {
		msg += " (the authorization code is spent: the customer must authorize again)"
	}
	return msg
}

// Unwrap returns the underlying problem.
func (e *TokenResponseError) Unwrap() error { return e.Err }

// Is matches ErrInvalidTokenResponse, and ErrReauthorizationRequired when
// the code is spent.
func (e *TokenResponseError) Is(target error) bool {
	return target == ErrInvalidTokenResponse || (e.CodeSpent && target == ErrReauthorizationRequired)
}

// tokenFields is the token response as x/oauth2 hands it over: the standard
// fields plus the raw extras (a JSON object's values, or form values).
type tokenFields interface {
	Extra(key string) any
}

// tokenFromOAuth2 builds a Token from x/oauth2's result. Lifetimes come from
// the wire's expires_in relative to now (our clock), not from x/oauth2's
// wall-clock Expiry, so that an injected clock governs expiry.
func tokenFromOAuth2(t *oauth2.Token, now time.Time) (*Token, error) {
	if t == nil || t.AccessToken == "" {
		return nil, errors.New("token response has no access_token")
	}
	return decodeTokenFields(t.AccessToken, t.TokenType, t.RefreshToken, t, now)
}

// decodeTokenFields reads USPS's fields, which arrive as JSON numbers or as
// strings depending on the endpoint version.
func decodeTokenFields(access, typ, refresh string, extra tokenFields, now time.Time) (*Token, error) {
	tok := &Token{AccessToken: Secret(access), TokenType: typ, RefreshToken: Secret(refresh)}
	if tok.TokenType == "" {
		tok.TokenType = "Bearer"
	}
	if !strings.EqualFold(tok.TokenType, "bearer") {
		return nil, fmt.Errorf("token_type %q is not Bearer", truncate(tok.TokenType, 20))
	}
	lifetime := defaultAccessTokenLifetime
	if secs, ok, err := intField(extra, "expires_in"); err != nil {
		return nil, err
	} else if ok {
		if lifetime, err = boundedLifetime("expires_in", secs, maxAccessTokenLifetime); err != nil {
			return nil, err
		}
	}
	tok.Expiry = now.Add(lifetime)
	if secs, ok, err := intField(extra, "refresh_token_expires_in"); err != nil {
		return nil, err
	} else if ok && refresh != "" {
		d, err := boundedLifetime("refresh_token_expires_in", secs, maxRefreshTokenLifetime)
		if err != nil {
			return nil, err
		}
		tok.RefreshExpiry = now.Add(d)
	}
	if ms, ok, err := intField(extra, "issued_at"); err != nil {
		return nil, err
	} else if ok && ms > 0 && ms < 1e15 {
		tok.IssuedAt = time.UnixMilli(ms).UTC()
	}
	if n, ok, err := intField(extra, "refresh_count"); err != nil {
		return nil, err
	} else if ok {
		if n < 0 || n > math.MaxInt32 {
			return nil, fmt.Errorf("refresh_count %d out of range", n)
		}
		tok.RefreshCount = int(n)
	}
	tok.Scope = stringField(extra, "scope")
	tok.Issuer = stringField(extra, "issuer")
	tok.APIProducts = stringField(extra, "api_products")
	return tok, nil
}

// boundedLifetime turns a lifetime in seconds into a duration, refusing
// zero, negative and absurd values.
func boundedLifetime(key string, secs int64, limit time.Duration) (time.Duration, error) {
	if secs <= 0 || secs > int64(limit/time.Second) {
		return 0, fmt.Errorf("%s %d outside 1..%d seconds", key, secs, int64(limit/time.Second))
	}
	return time.Duration(secs) * time.Second, nil
}

// intField reads a whole number given as a JSON number or a decimal string.
func intField(f tokenFields, key string) (int64, bool, error) {
	switch v := f.Extra(key).(type) {
	case nil:
		return 0, false, nil
	case float64:
		if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			return 0, false, fmt.Errorf("%s is not a whole number", key)
		}
		return int64(v), true, nil
	case json.Number:
		n, err := v.Int64()
		if err != nil {
			return 0, false, fmt.Errorf("%s is not a whole number", key)
		}
		return n, true, nil
	case string:
		v = strings.TrimSpace(v)
		if v == "" {
			return 0, false, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("%s %q is not a whole number", key, truncate(v, 20))
		}
		return n, true, nil
	default:
		return 0, false, fmt.Errorf("%s has type %T", key, v)
	}
}

func stringField(f tokenFields, key string) string {
	switch v := f.Extra(key).(type) {
	case string:
		return v
	case []any: // api_products sometimes arrives as a JSON array
		parts := make([]string, 0, len(v))
		for _, p := range v {
			if s, ok := p.(string); ok {
				parts = append(parts, s)
			}
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// jsonFields adapts a decoded JSON object to tokenFields; x/oauth2 keeps a
// JSON token response's members the same way.
type jsonFields map[string]any

func (m jsonFields) Extra(key string) any { return m[key] }
