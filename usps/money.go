package usps

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/nsalink/nsalink/internal/decimal"
)

// Cents is an amount of US dollars in whole cents. Money never passes
// through float64.
type Cents int64

// MaxCents is the largest amount any parser accepts ($9,999,999.99): far
// above any USPS price, fee or total, small enough that a price fits an
// int32 (the rate engine's compiled tables) and that price × 10,000 (a
// discount in basis points) and sums of many prices stay far from int64
// overflow.
const MaxCents Cents = 999_999_999

// String formats c as dollars with exactly two decimals ("9.35", "0.05",
// "-2.50"). It is the inverse of [ParseCents] for every value ParseCents
// accepts.
func (c Cents) String() string {
	sign := ""
	u := uint64(c)
	if c < 0 {
		sign, u = "-", uint64(-c)
	}
	s := strconv.FormatUint(u%100+100, 10) // "1xx": two digits with a leading zero
	return sign + strconv.FormatUint(u/100, 10) + "." + s[1:]
}

// ParseCents parses a dollar amount exactly, as a person or a rate table
// writes it: one or more digits, optionally followed by a point and one or
// two digits ("9", "9.3", "9.35" → 900, 930, 935). Signs, exponents,
// NaN/Inf, blanks, thousands separators and more than two decimals are
// errors, as are amounts above MaxCents; the error is a *[NumberError].
//
// USPS's JSON amounts follow [Cents.UnmarshalJSON] instead.
func ParseCents(s string) (Cents, error) {
	v, err := decimal.Parse(s, 2)
	if err == nil && v > int64(MaxCents) {
		err = ErrRange
	}
	if err != nil {
		return 0, numberError(s, err)
	}
	return Cents(v), nil
}

// parseJSONCents converts the text of a JSON number in dollars to cents
// with the rules of [Cents.UnmarshalJSON].
func parseJSONCents(s string) (Cents, error) {
	v, err := parseJSON(s, 2, int64(MaxCents))
	if err != nil {
		return 0, numberError(s, err)
	}
	return Cents(v), nil
}

// MarshalJSON writes c as a JSON number in dollars with two decimals
// ("9.35"), the form USPS's APIs take.
func (c Cents) MarshalJSON() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalJSON reads a JSON number in dollars (or a string holding one),
// such as USPS's "price": 9.35, as cents, exactly and without going through
// float64. It is the rule for amounts USPS sends; null leaves c unchanged:
//   - JSON number grammar (an exponent such as 1e2 = $100.00 is fine, a
//     leading zero or a '+' is not); at most 64 characters, exponents within
//     ±20;
//   - negative amounts are rejected (USPS prices, fees and totals are never
//     negative); "-0" and "-0.00" are zero;
//   - amounts above MaxCents are rejected;
//   - more than two decimals are rounded half up to whole cents: 9.345 is
//     9.35, 9.3449 is 9.34, and float noise such as 0.30000000000000004 or
//     9.349999999999999 lands on the cent it meant (0.30, 9.35). Rounding
//     rather than rejecting keeps a price usable when a USPS system prints
//     a binary float; the rounding error is under half a cent.
//
// The error is a *[NumberError].
func (c *Cents) UnmarshalJSON(b []byte) error {
	s, null, err := jsonNumberText(b)
	if err != nil || null {
		return err
	}
	v, err := parseJSONCents(s)
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// jsonNumberText returns the text of a JSON number, unquoting a string that
// holds one (USPS sends some numbers as strings).
func jsonNumberText(b []byte) (s string, null bool, err error) {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return "", true, nil
	}
	s = string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return "", false, err
		}
	}
	return s, false, nil
}
