package usps

import "github.com/nsalink/nsalink/internal/decimal"

// Dimension is a length in thousandths of an inch (1 in = 1000).
//
// The unit holds exactly both what a ruler gives in eighths (4.875 in =
// 4875) and the two-decimal inches of USPS's price lists and rules (10.25
// in, the quarter inch of cubic pricing).
type Dimension int64

// Dimension units.
const (
	Inch        Dimension = 1000
	QuarterInch Dimension = Inch / 4
	EighthInch  Dimension = Inch / 8
)

// MaxDimension is the longest side [ParseDimension] accepts (1000 in). It
// keeps a volume in (1/1000 in)³ inside int64.
const MaxDimension = 1000 * Inch

// String formats d as a plain decimal number of inches with the fewest
// decimals needed ("12", "10.25", "4.875"), exactly: the form of USPS's
// length, width and height fields. [ParseDimension] reads it back.
func (d Dimension) String() string { return formatFixed(int64(d), 3) }

// ParseDimension parses inches with up to three decimals ("10", "10.25",
// "4.875"), up to MaxDimension. The error is a *[NumberError].
func ParseDimension(s string) (Dimension, error) {
	v, err := decimal.Parse(s, 3)
	if err == nil && v > int64(MaxDimension) {
		err = ErrRange
	}
	if err != nil {
		return 0, numberError(s, err)
	}
	return Dimension(v), nil
}
