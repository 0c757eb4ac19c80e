// Package decimal is the strict decimal parser behind usps.ParseCents,
// usps.ParseWeight, usps.ParseDimension and the cubic tiers and fee
// thresholds of nsarates tables: what a person or a rate table writes,
// parsed exactly, with nothing rounded.
package decimal

import (
	"errors"
	"strings"
)

// Errors of [Parse]; package usps exports them as its number errors.
var (
	ErrSyntax    = errors.New("malformed number")
	ErrPrecision = errors.New("too many decimals")
	ErrNegative  = errors.New("negative")
	ErrRange     = errors.New("out of range")
)

// maxIntDigits bounds the integer part so that scaling by up to 10⁶ never
// overflows int64.
const maxIntDigits = 12

// Parse parses a plain, non-negative decimal number exactly and returns it
// scaled by 10^frac: Parse("0.3", 1) is 3 and Parse("3456", 0) is 3456. The
// grammar is one or more ASCII digits, optionally followed by a point and
// one or more digits; signs, exponents, spaces, separators, NaN and Inf are
// ErrSyntax, a minus sign ErrNegative, more than frac fractional digits
// ErrPrecision, and more than 12 integer digits ErrRange. frac must be 0 to
// 6. The error is one of those sentinels, bare, for the caller to wrap with
// its input.
func Parse(s string, frac int) (int64, error) {
	if frac < 0 || frac > 6 {
		return 0, ErrRange
	}
	if strings.HasPrefix(s, "-") {
		if _, err := Parse(s[1:], frac); err == nil || errors.Is(err, ErrPrecision) || errors.Is(err, ErrRange) {
			return 0, ErrNegative
		}
		return 0, ErrSyntax
	}
	whole, fraction, hasPoint := strings.Cut(s, ".")
	if whole == "" || !AllDigits(whole) || (hasPoint && (fraction == "" || !AllDigits(fraction))) {
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

// AllDigits reports whether s holds only ASCII digits (true for "").
func AllDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
