package usps

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nsalink/nsalink/internal/decimal"
)

// Number errors, wrapped in *[NumberError]. They are the errors of the
// strict decimal parser behind [ParseCents], [ParseWeight] and
// [ParseDimension], which nsarates shares for its table cells.
var (
	ErrSyntax    = decimal.ErrSyntax
	ErrPrecision = decimal.ErrPrecision
	ErrNegative  = decimal.ErrNegative
	ErrRange     = decimal.ErrRange
)

// NumberError reports input that is not an exact, non-negative amount in the
// expected unit. Err is, or wraps, one of ErrSyntax, ErrPrecision,
// ErrNegative or ErrRange.
type NumberError struct {
	Input string // the input, at most 40 bytes of it
	Err   error
}

func (e *NumberError) Error() string {
	return fmt.Sprintf("usps: %q: %v", e.Input, e.Err)
}

func (e *NumberError) Unwrap() error { return e.Err }

func numberError(input string, err error) *NumberError {
	return &NumberError{Input: truncate(input, 40), Err: err}
}

// truncate cuts s to at most n bytes without splitting a rune, marking the
// cut with "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// formatFixed formats v/10^frac with trailing fractional zeros removed.
func formatFixed(v int64, frac int) string {
	sign := ""
	u := uint64(v)
	if v < 0 {
		sign, u = "-", uint64(-v)
	}
	scale := uint64(1)
	for range frac {
		scale *= 10
	}
	s := sign + strconv.FormatUint(u/scale, 10)
	rest := u % scale
	if rest == 0 {
		return s
	}
	f := fmt.Sprintf("%0*d", frac, rest)
	return s + "." + strings.TrimRight(f, "0")
}

// maxJSONText bounds the text parseJSON reads: no USPS amount needs more.
const maxJSONText = 64

// parseJSON converts the text of a JSON number, as USPS's APIs send
// amounts, to an integer scaled by 10^frac, exactly and without going
// through float64. Digits beyond frac decimals are rounded half up. The
// result must not exceed limit.
//
// The rules:
//   - JSON number grammar only (optional '-', digits without a leading
//     zero, optional fraction, optional exponent such as 1e2); at most 64
//     characters, and exponents within ±20;
//   - negative values are rejected; "-0" and "-0.00" are zero;
//   - values above limit are rejected;
//   - more than frac decimals are rounded half up: at frac 2, 9.345 is
//     9.35, 9.3449 is 9.34, and float noise such as 0.30000000000000004 or
//     9.349999999999999 lands on the value it meant (0.30, 9.35).
func parseJSON(s string, frac int, limit int64) (int64, error) {
	syntax := func(reason string) (int64, error) { return 0, fmt.Errorf("%w: %s", ErrSyntax, reason) }
	if len(s) > maxJSONText {
		return 0, fmt.Errorf("%w: longer than %d characters", ErrRange, maxJSONText)
	}
	i := 0
	neg := false
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	}
	intStart := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intPart := s[intStart:i]
	if intPart == "" {
		return syntax("not a JSON number")
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return syntax("leading zero")
	}
	fraction := ""
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		fraction = s[fs:i]
		if fraction == "" {
			return syntax("no digits after the decimal point")
		}
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		es := 1
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			if s[i] == '-' {
				es = -1
			}
			i++
		}
		ds := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if ds == i {
			return syntax("no digits in the exponent")
		}
		e, _ := strconv.Atoi(s[ds:min(i, ds+4)])
		if i-ds > 3 || e > 20 {
			return 0, fmt.Errorf("%w: exponent beyond ±20", ErrRange)
		}
		exp = es * e
	}
	if i != len(s) {
		return syntax("not a JSON number")
	}
	// digits × 10^(exp - len(fraction)) units; shift by frac for the scale.
	digits := strings.TrimLeft(intPart+fraction, "0")
	shift := exp - len(fraction) + frac
	var whole, rest string // the scaled integer, and the digits after it
	switch {
	case digits == "":
		return 0, nil // any zero, including -0
	case shift >= 0:
		whole = digits + strings.Repeat("0", shift)
	case -shift >= len(digits):
		whole, rest = "0", strings.Repeat("0", -shift-len(digits))+digits
	default:
		whole, rest = digits[:len(digits)+shift], digits[len(digits)+shift:]
	}
	whole = strings.TrimLeft(whole, "0")
	if neg {
		return 0, ErrNegative
	}
	if len(whole) > 18 { // ≥ 10^18: beyond any limit, and near int64's end
		return 0, ErrRange
	}
	var v int64
	for j := 0; j < len(whole); j++ {
		v = v*10 + int64(whole[j]-'0')
	}
	if rest != "" && rest[0] >= '5' {
		v++
	}
	if v > limit {
		return 0, ErrRange
	}
	return v, nil
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }
