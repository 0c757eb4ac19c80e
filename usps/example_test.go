package usps_test

import (
	"encoding/json"
	"fmt"

	"github.com/nsalink/nsalink/usps"
)

func ExampleParseCents() {
	for _, s := range []string{"9.35", "9.5", "9.351", "-1", "1e3"} {
		c, err := usps.ParseCents(s)
		fmt.Println(int64(c), err)
	}
	// Output:
	// 935 <nil>
	// 950 <nil>
	// 0 usps: "9.351": too many decimals
	// 0 usps: "-1": negative
	// 0 usps: "1e3": malformed number
}

func ExampleCents_UnmarshalJSON() {
	for _, s := range []string{"9.35", "0.30000000000000004", "9.345", "1e2", "-1"} {
		var c usps.Cents
		err := json.Unmarshal([]byte(s), &c)
		fmt.Println(s, "→", c, err)
	}
	// Output:
	// 9.35 → 9.35 <nil>
	// 0.30000000000000004 → 0.30 <nil>
	// 9.345 → 9.35 <nil>
	// 1e2 → 100.00 <nil>
	// -1 → 0.00 usps: "-1": negative
}

func ExampleParseWeight() {
	for _, s := range []string{"15.99oz", "1.25lb", "2lb"} {
		w, _ := usps.ParseWeight(s)
		fmt.Println(s, "→", int64(w), w, w.Pounds())
	}
	// Output:
	// 15.99oz → 1599 15.99oz 0.999375
	// 1.25lb → 2000 20oz 1.25
	// 2lb → 3200 2lb 2
}

func ExampleParseDimension() {
	d, _ := usps.ParseDimension("4.875")
	fmt.Println(int64(d), d, d == 4*usps.Inch+7*usps.EighthInch)
	// Output:
	// 4875 4.875 true
}

func ExampleParseEPSAccount() {
	eps, err := usps.ParseEPSAccount("1234-5678-90")
	fmt.Println(eps, eps.Reveal(), err)
	_, err = usps.ParseEPSAccount("123456789")
	fmt.Println(err)
	// Output:
	// ******7890 1234567890 <nil>
	// usps: EPS account "******6789": must be 10 digits, not 9
}
