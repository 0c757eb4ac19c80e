package usps

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nsalink/nsalink/internal/decimal"
)

// ErrInvalidIdentifier matches every *FieldError: a CRID, MID or EPS
// account number that is malformed.
var ErrInvalidIdentifier = errors.New("usps: invalid identifier")

// Field names used in FieldError.Field.
const (
	FieldCRID        = "CRID"
	FieldMID         = "MID"
	FieldManifestMID = "manifest MID"
	FieldEPS         = "EPS account"
)

// FieldError is a customer-entered identifier that failed its format check.
// Value is what was entered (spaces and dashes removed); for an EPS account
// number only its last four characters are kept.
type FieldError struct {
	Field  string // FieldCRID, FieldMID, FieldManifestMID or FieldEPS
	Value  string
	Reason string // e.g. "must be 6 digits starting 0-8 or 9 digits starting 9"
}

func (e *FieldError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("usps: %s: %s", e.Field, e.Reason)
	}
	return fmt.Sprintf("usps: %s %q: %s", e.Field, e.Value, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidIdentifier) true.
func (e *FieldError) Is(target error) bool { return target == ErrInvalidIdentifier }

// CRID is a Customer Registration ID: 2 to 18 digits.
type CRID string

// MID is a Mailer ID: 6 digits starting 0-8, or 9 digits starting 9.
type MID string

// EPSAccount is an Enterprise Payment System (EPA) account number: exactly
// 10 digits.
//
// The rule: docs/usps.md#identifiers knows the prices spec's "^\d+$" and USPS's EPS
// guide, which speaks of "your 10-digit EPA number"; the spec examples
// 1000000000 and 1234567890 have 10 digits. The Payments examples "1234"
// and "12345678" are placeholders. Ten digits catches the typos customers
// make (a digit dropped or doubled) before any USPS call is spent.
//
// An EPS account number lets whoever holds it pay postage from the
// customer's account, so it is treated like a secret: every formatting path
// (%v, %s, %q, %#v, String, JSON, text, slog) shows only the last four
// digits, e.g. "******7890". Reveal returns the number.
type EPSAccount string

// Reveal returns the account number, for sending it to USPS or storing it.
func (a EPSAccount) Reveal() string { return string(a) }

// Last4 returns the last four characters of the number.
func (a EPSAccount) Last4() string { return last4(string(a)) }

// String returns the redacted form, for callers that build messages
// without fmt.
func (a EPSAccount) String() string { return "******" + a.Last4() }

// Format implements fmt.Formatter so that no verb prints the number. fmt
// consults Format before GoString, so that is not needed.
func (a EPSAccount) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		_, _ = f.Write([]byte(strconv.Quote(a.String())))
		return
	}
	_, _ = f.Write([]byte(a.String()))
}

// LogValue implements slog.LogValuer.
func (a EPSAccount) LogValue() slog.Value { return slog.StringValue(a.String()) }

// MarshalText implements encoding.TextMarshaler with the redacted form;
// encoding/json uses it too. Store Reveal's value explicitly instead.
func (a EPSAccount) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

func last4(s string) string {
	// Count runes, not bytes, so that malformed input never splits one.
	n := utf8.RuneCountInString(s)
	if n <= 4 {
		return s
	}
	i := 0
	for j := range s {
		if i == n-4 {
			return s[j:]
		}
		i++
	}
	return s
}

// maxInput bounds what the parsers look at; longer input is rejected
// without being echoed in full.
const maxInput = 64

// normalizeDigits removes the spaces and dashes a customer may paste (ASCII
// space, tab, no-break spaces, hyphen-minus and the Unicode hyphens and
// dashes) from anywhere in s. It reports whether every remaining rune is an
// ASCII digit.
func normalizeDigits(s string) (string, bool) {
	var b strings.Builder
	ok := true
	for _, r := range s {
		switch r {
		case ' ', '\t', '\u00a0', '\u202f', '\u2007',
			'-', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2212':
			continue
		}
		if r < '0' || r > '9' {
			ok = false
		}
		b.WriteRune(r)
	}
	return b.String(), ok
}

func checkInput(field, raw string, redact bool) (string, *FieldError) {
	value := func(v string) string {
		if redact && v != "" {
			return "******" + last4(v)
		}
		return v
	}
	if len(raw) > maxInput {
		return "", &FieldError{Field: field, Reason: fmt.Sprintf("is longer than %d characters", maxInput)}
	}
	if !utf8.ValidString(raw) {
		return "", &FieldError{Field: field, Reason: "is not valid text"}
	}
	s, digits := normalizeDigits(raw)
	switch {
	case s == "":
		return "", &FieldError{Field: field, Reason: "is empty"}
	case !digits:
		return "", &FieldError{Field: field, Value: value(s), Reason: "must contain only digits"}
	}
	return s, nil
}

// ParseCRID trims spaces and dashes and checks for 2 to 18 digits.
func ParseCRID(s string) (CRID, error) {
	d, fe := checkInput(FieldCRID, s, false)
	if fe != nil {
		return "", fe
	}
	if len(d) < 2 || len(d) > 18 {
		return "", &FieldError{Field: FieldCRID, Value: d, Reason: fmt.Sprintf("must have 2 to 18 digits, not %d", len(d))}
	}
	return CRID(d), nil
}

// ParseMID trims spaces and dashes and checks for 6 digits starting 0-8 or 9
// digits starting 9 (Postal Bulletin 22290). It serves for outbound,
// manifest and returns MIDs alike.
func ParseMID(s string) (MID, error) { return parseMID(FieldMID, s) }

// ParseManifestMID is ParseMID with errors naming the manifest MID field.
func ParseManifestMID(s string) (MID, error) { return parseMID(FieldManifestMID, s) }

func parseMID(field, s string) (MID, error) {
	d, fe := checkInput(field, s, false)
	if fe != nil {
		return "", fe
	}
	switch {
	case len(d) == 6 && d[0] != '9', len(d) == 9 && d[0] == '9':
		return MID(d), nil
	case len(d) == 6:
		return "", &FieldError{Field: field, Value: d, Reason: "a 6-digit MID cannot start with 9"}
	case len(d) == 9:
		return "", &FieldError{Field: field, Value: d, Reason: "a 9-digit MID must start with 9"}
	}
	return "", &FieldError{Field: field, Value: d, Reason: fmt.Sprintf("must be 6 or 9 digits, not %d", len(d))}
}

// ParseEPSAccount trims spaces and dashes and checks for exactly 10 digits.
// Errors show only the last four characters of the input.
func ParseEPSAccount(s string) (EPSAccount, error) {
	d, fe := checkInput(FieldEPS, s, true)
	if fe != nil {
		return "", fe
	}
	if len(d) != 10 {
		return "", &FieldError{Field: FieldEPS, Value: "******" + last4(d), Reason: fmt.Sprintf("must be 10 digits, not %d", len(d))}
	}
	return EPSAccount(d), nil
}

// Valid reports whether c is in the form ParseCRID returns: 2 to 18 ASCII
// digits.
func (c CRID) Valid() bool { return len(c) >= 2 && len(c) <= 18 && decimal.AllDigits(string(c)) }

// Valid reports whether m is in the form ParseMID returns: 6 ASCII digits
// starting 0-8, or 9 starting 9.
func (m MID) Valid() bool {
	return decimal.AllDigits(string(m)) && (len(m) == 6 && m[0] != '9' || len(m) == 9 && m[0] == '9')
}

// Valid reports whether a is in the form ParseEPSAccount returns: exactly
// 10 ASCII digits. Clients check it on every call with an account, so it
// allocates nothing.
func (a EPSAccount) Valid() bool { return len(a) == 10 && decimal.AllDigits(string(a)) }
