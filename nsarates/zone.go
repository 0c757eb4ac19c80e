package nsarates

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nsalink/nsalink/usps"
)

// Zone is a USPS price zone: 1–9, or 0 for destination-entry prices, which
// USPS reports as zone "00" (docs/usps.md#rate-details).
type Zone uint8

// ZoneDestinationEntry is the zone of destination-entry prices ("00").
const ZoneDestinationEntry Zone = 0

// numZones is the number of zones a table row holds: 00 and 01–09.
const numZones = 10

// String formats z as USPS does: two digits ("00", "01" … "09").
func (z Zone) String() string { return fmt.Sprintf("%02d", uint8(z)) }

// ParseZone parses "00"–"09" or "0"–"9". The error is a *[usps.NumberError].
func ParseZone(s string) (Zone, error) {
	if (len(s) == 1 || len(s) == 2) && strings.Trim(s, "0123456789") == "" {
		n, _ := strconv.Atoi(s)
		if n < numZones && (len(s) == 1 || s[0] == '0') {
			return Zone(n), nil
		}
	}
	return 0, &usps.NumberError{Input: s, Err: usps.ErrSyntax}
}
