package nsarates

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Cents is an amount of money in US cents. Prices are never floats.
type Cents int64

// MaxCents is the largest price or fee a table accepts ($9,999,999.99).
// It keeps every cell inside an int32 in the compiled form and keeps
// price × basis-point products far from int64 overflow.
const MaxCents Cents = 999_999_999

// String formats c as dollars with exactly two decimals ("9.35", "0.05").
// It is the inverse of [ParseCents] for every value ParseCents accepts.
func (c Cents) String() string {
	sign := ""
	if c < 0 {
		sign = "-"
		c = -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}

// ParseCents parses a dollar amount exactly: one or more digits, optionally
// followed by a point and one or two digits ("9", "9.3", "9.35" → 900, 930,
// 935). It rejects signs, exponents, NaN/Inf, blanks, thousands separators
// and more than two decimals with a *[NumberError].
func ParseCents(s string) (Cents, error) {
	v, err := parseFixed(s, 2)
	if err != nil {
		return 0, &NumberError{Input: s, Err: err}
	}
	if v > int64(MaxCents) {
		return 0, &NumberError{Input: s, Err: ErrRange}
	}
	return Cents(v), nil
}

// Weight is a weight in hundredths of an ounce (1 lb = 1600).
//
// The unit represents exactly every weight a scale or USPS input uses:
// 0.1 oz (10), 0.01 oz (1), 0.01 lb (16), 1/16 lb = 1 oz (100), and every
// ounce tier such as 15.99 oz (1599).
type Weight int64

// Weight units.
const (
	Ounce Weight = 100
	Pound Weight = 16 * Ounce
)

// String formats w as whole pounds when it is one ("3lb"), else in ounces
// with the fewest decimals needed ("15.99oz", "18.5oz"). [ParseWeight]
// reads it back.
func (w Weight) String() string {
	if w != 0 && w%Pound == 0 {
		return strconv.FormatInt(int64(w/Pound), 10) + "lb"
	}
	return formatFixed(int64(w), 2) + "oz"
}

// ParseWeight parses "12oz", "15.99oz", "2lb" or "1.25lb" exactly. Ounces take
// up to two decimals; pounds take up to four decimals and must be a whole
// number of hundredths of an ounce (1.0625lb is fine, 1.001lb is not).
func ParseWeight(s string) (Weight, error) {
	switch {
	case strings.HasSuffix(s, "oz"):
		v, err := parseFixed(strings.TrimSuffix(s, "oz"), 2)
		if err != nil {
			return 0, &NumberError{Input: s, Err: err}
		}
		return Weight(v), nil
	case strings.HasSuffix(s, "lb"):
		v, err := parseFixed(strings.TrimSuffix(s, "lb"), 4)
		if err != nil {
			return 0, &NumberError{Input: s, Err: err}
		}
		// v is pounds × 10⁴; one pound is 1600 units, so units = v × 16 / 100.
		if (v*16)%100 != 0 {
			return 0, &NumberError{Input: s, Err: ErrPrecision}
		}
		return Weight(v * 16 / 100), nil
	default:
		return 0, &NumberError{Input: s, Err: ErrSyntax}
	}
}

// Dimension is a length in hundredths of an inch (1 in = 100). Quarter
// inches (25) and the usual two-decimal inch inputs are exact.
type Dimension int64

// Dimension units.
const (
	Inch        Dimension = 100
	QuarterInch Dimension = 25
)

// maxDimension bounds each side so that volumes stay far inside int64.
const maxDimension = 1000 * Inch

// String formats d in inches with the fewest decimals needed ("12", "10.25").
func (d Dimension) String() string { return formatFixed(int64(d), 2) }

// ParseDimension parses inches with up to two decimals ("10", "10.25").
func ParseDimension(s string) (Dimension, error) {
	v, err := parseFixed(s, 2)
	if err != nil {
		return 0, &NumberError{Input: s, Err: err}
	}
	if v > int64(maxDimension) {
		return 0, &NumberError{Input: s, Err: ErrRange}
	}
	return Dimension(v), nil
}

// Zone is a USPS price zone: 1–9, or 0 for destination-entry prices, which
// USPS reports as zone "00" (REFERENCE.md §5.3).
type Zone uint8

// ZoneDestinationEntry is the zone of destination-entry prices ("00").
const ZoneDestinationEntry Zone = 0

// numZones is the number of zones a table row holds: 00 and 01–09.
const numZones = 10

// String formats z as USPS does: two digits ("00", "01" … "09").
func (z Zone) String() string { return fmt.Sprintf("%02d", uint8(z)) }

// ParseZone parses "00"–"09" or "0"–"9".
func ParseZone(s string) (Zone, error) {
	if (len(s) == 1 || len(s) == 2) && strings.Trim(s, "0123456789") == "" {
		n, _ := strconv.Atoi(s)
		if n < numZones && (len(s) == 1 || s[0] == '0') {
			return Zone(n), nil
		}
	}
	return 0, &NumberError{Input: s, Err: ErrSyntax}
}

// Number errors, wrapped in *[NumberError].
var (
	ErrSyntax    = errors.New("not a plain decimal number")
	ErrPrecision = errors.New("too many decimals")
	ErrNegative  = errors.New("negative")
	ErrRange     = errors.New("out of range")
)

// NumberError reports input that is not an exact, non-negative amount in the
// expected unit. Err is one of ErrSyntax, ErrPrecision, ErrNegative, ErrRange.
type NumberError struct {
	Input string
	Err   error
}

func (e *NumberError) Error() string {
	return fmt.Sprintf("nsarates: %q: %v", e.Input, e.Err)
}

func (e *NumberError) Unwrap() error { return e.Err }

// maxIntDigits bounds the integer part so that scaling never overflows.
const maxIntDigits = 12

// parseFixed parses digits[.digits] into an integer scaled by 10^frac. It is
// the single exact decimal parser behind money, weights and dimensions.
func parseFixed(s string, frac int) (int64, error) {
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
	if v < 0 {
		sign = "-"
		v = -v
	}
	scale := int64(1)
	for range frac {
		scale *= 10
	}
	s := sign + strconv.FormatInt(v/scale, 10)
	rest := v % scale
	if rest == 0 {
		return s
	}
	f := fmt.Sprintf("%0*d", frac, rest)
	return s + "." + strings.TrimRight(f, "0")
}
