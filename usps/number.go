package usps

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Number errors, wrapped in *[NumberError].
var (
	ErrSyntax    = errors.New("malformed number")
	ErrPrecision = errors.New("too many decimals")
	ErrNegative  = errors.New("negative")
	ErrRange     = errors.New("out of range")
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

// ParseDecimal parses a plain, non-negative decimal number exactly and
// returns it scaled by 10^decimals: ParseDecimal("0.3", 1) is 3 and
// ParseDecimal("3456", 0) is 3456. The grammar is one or more ASCII digits,
// optionally followed by a point and one or more digits; signs, exponents,
// spaces, separators, NaN and Inf are ErrSyntax, a minus sign ErrNegative,
// more than decimals fractional digits ErrPrecision, and more than 12
// integer digits ErrRange. It is the parser behind [ParseCents],
// [ParseWeight] and [ParseDimension]; decimals must be 0 to 6.
func ParseDecimal(s string, decimals int) (int64, error) {
	v, err := parseFixed(s, decimals)
	if err != nil {
		return 0, numberError(s, err)
	}
	return v, nil
}

// maxIntDigits bounds the integer part so that scaling by up to 10⁶ never
// overflows int64.
const maxIntDigits = 12

// parseFixed is ParseDecimal returning a bare sentinel error.
func parseFixed(s string, frac int) (int64, error) {
	if frac < 0 || frac > 6 {
		return 0, ErrRange
	}
	if strings.HasPrefix(s, "-") {
		if _, err := parseFixed(s[1:], frac); err == nil || errors.Is(err, ErrPrecision) || errors.Is(err, ErrRange) {
			return 0, ErrNegative
		}
		return 0, ErrSyntax
	}
	whole, fraction, hasPoint := strings.Cut(s, ".")
	if whole == "" || !allDigits(whole) || (hasPoint && (fraction == "" || !allDigits(fraction))) {
		return 0, ErrSyntax
	}
	if len(fraction) > frac {
		return 0, ErrPrecision
	}
	whole = strings.TrimLeft(whole, "0")
	if len(whole) > maxIntDigits {
		return 0, ErrRange
	}
	var v int64
	for _, r := range whole {
		v = v*10 + int64(r-'0')
	}
	for i := range frac {
		v *= 10
		if i < len(fraction) {
			v += int64(fraction[i] - '0')
		}
	}
	return v, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
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
