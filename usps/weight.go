package usps

import (
	"strconv"
	"strings"

	"github.com/nsalink/nsalink/internal/decimal"
)

// Weight is a weight in hundredths of an ounce (1 lb = 1600).
//
// The unit holds exactly every weight a scale or a USPS price list uses:
// 0.1 oz (10), 0.01 oz (1), 0.01 lb (16), 1/16 lb = 1 oz (100), and every
// ounce tier such as 15.99 oz (1599). USPS's APIs take pounds; one unit is
// 0.000625 lb, so [Weight.Pounds] is exact with at most six decimals.
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

// Pounds formats w as a plain decimal number of pounds with the fewest
// decimals needed ("2", "0.999375" for 15.99 oz), exactly: the form of
// USPS's "weight" fields. [ParseJSONPounds] reads it back.
func (w Weight) Pounds() string { return formatFixed(int64(w)*625, 6) }

// ParseWeight parses "12oz", "15.99oz", "2lb" or "1.25lb" exactly. Ounces
// take up to two decimals; pounds take up to four decimals and must be a
// whole number of hundredths of an ounce (1.0625lb is fine, 1.001lb is
// not). The error is a *[NumberError].
func ParseWeight(s string) (Weight, error) {
	switch {
	case strings.HasSuffix(s, "oz"):
		v, err := decimal.Parse(strings.TrimSuffix(s, "oz"), 2)
		if err != nil {
			return 0, numberError(s, err)
		}
		return Weight(v), nil
	case strings.HasSuffix(s, "lb"):
		v, err := decimal.Parse(strings.TrimSuffix(s, "lb"), 4)
		if err != nil {
			return 0, numberError(s, err)
		}
		// v is pounds × 10⁴; one pound is 1600 units, so units = v × 16 / 100.
		if (v*16)%100 != 0 {
			return 0, numberError(s, ErrPrecision)
		}
		return Weight(v * 16 / 100), nil
	default:
		return 0, numberError(s, ErrSyntax)
	}
}

// maxJSONPounds bounds ParseJSONPounds: far above anything USPS carries.
const maxJSONPounds = 1_000_000

// ParseJSONPounds converts the text of a JSON number in pounds, as USPS's
// APIs send weights ("weight": 2.5), to a Weight, exactly and without going
// through float64. It follows [Cents.UnmarshalJSON]'s rules: JSON number
// grammar, no negative values, and anything finer than a hundredth of an
// ounce rounded half up (float noise such as 0.30000000000000004 lb lands
// on 4.8 oz). Weights above 1,000,000 lb are ErrRange. The error is a
// *[NumberError].
func ParseJSONPounds(s string) (Weight, error) {
	// Millionths of a pound first (1/100 oz = 625 of them), then to units.
	// The half-unit points (312.5 millionths) fall between millionths, so
	// the two roundings are one rounding half up.
	micro, err := parseJSON(s, 6, maxJSONPounds*1_000_000)
	if err != nil {
		return 0, numberError(s, err)
	}
	return Weight((2*micro + 625) / 1250), nil
}
