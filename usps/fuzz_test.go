package usps

import (
	"encoding/json"
	"errors"
	"math/big"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nsalink/nsalink/internal/decimal"
)

func fuzzIdentifier[T interface {
	~string
	Valid() bool
}](f *testing.F, parse func(string) (T, error), check func(string) bool, seeds ...string) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		v, err := parse(in)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalidIdentifier) || fe.Reason == "" {
				t.Fatalf("error %v is not a *FieldError", err)
			}
			if !utf8.ValidString(err.Error()) {
				t.Fatalf("error text is not UTF-8: %q", err.Error())
			}
			if T(in).Valid() {
				t.Fatalf("%q is Valid but does not parse", in)
			}
			return
		}
		if !check(string(v)) || !v.Valid() {
			t.Fatalf("%q parsed to invalid %q", in, v)
		}
		// Idempotent.
		again, err := parse(string(v))
		if err != nil || again != v {
			t.Fatalf("reparse of %q: %q, %v", v, again, err)
		}
		// Valid is exactly "parses to itself".
		if T(in).Valid() != (v == T(in)) {
			t.Fatalf("Valid(%q) = %v, but it parses to %q", in, T(in).Valid(), v)
		}
	})
}

func digitsLen(s string, lo, hi int) bool {
	return len(s) >= lo && len(s) <= hi && decimal.AllDigits(s)
}

func FuzzParseCRID(f *testing.F) {
	fuzzIdentifier(f, ParseCRID, func(s string) bool { return digitsLen(s, 2, 18) }, "56781234", " 12-34 ", "1", "x", "١٢٣")
}

func FuzzParseMID(f *testing.F) {
	fuzzIdentifier(f, ParseMID, func(s string) bool {
		return len(s) == 6 && decimal.AllDigits(s) && s[0] != '9' || len(s) == 9 && decimal.AllDigits(s) && s[0] == '9'
	}, "123456", "901234567", "912345", "9-0-1")
}

func FuzzParseManifestMID(f *testing.F) {
	fuzzIdentifier(f, ParseManifestMID, func(s string) bool {
		return len(s) == 6 && decimal.AllDigits(s) && s[0] != '9' || len(s) == 9 && decimal.AllDigits(s) && s[0] == '9'
	}, "123456", "901234567", "912345", "9-0-1")
}

func FuzzParseEPSAccount(f *testing.F) {
	fuzzIdentifier(f, ParseEPSAccount, func(s string) bool { return digitsLen(s, 10, 10) }, "1000000001", "1000 0000 01", "123")
}

var plainMoney = regexp.MustCompile(`^[0-9]+(\.[0-9]{1,2})?$`)

// FuzzParseCents: ParseCents accepts exactly the plain decimal forms with at
// most two decimals (within MaxCents), and String inverts it.
func FuzzParseCents(f *testing.F) {
	for _, s := range []string{"9.35", "0", "0.05", "9.351", "-1", "NaN", "1e3", "9999999.99", "10000000", ".5", "9.", "007.10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCents(s)
		if !plainMoney.MatchString(s) {
			if err == nil {
				t.Fatalf("accepted %q as %d", s, c)
			}
			return
		}
		if err != nil {
			if !errors.Is(err, ErrRange) {
				t.Fatalf("rejected plain %q: %v", s, err)
			}
			return
		}
		if c < 0 || c > MaxCents {
			t.Fatalf("%q → %d out of range", s, c)
		}
		back, err := ParseCents(c.String())
		if err != nil || back != c {
			t.Fatalf("%q → %d → %q → %d, %v", s, c, c.String(), back, err)
		}
		// Independent check: digits with the point removed, padded to two
		// decimals, are the cents.
		whole, frac, _ := strings.Cut(s, ".")
		want := strings.TrimLeft(whole+frac+strings.Repeat("0", 2-len(frac)), "0")
		if want == "" {
			want = "0"
		}
		if got := strings.TrimLeft(strings.Replace(c.String(), ".", "", 1), "0"); got != want && !(got == "" && want == "0") {
			t.Fatalf("%q → %s, want digits %s", s, c, want)
		}
	})
}

// checkJSONRounding checks a JSON-number parser against exact rational
// arithmetic: got must be floor(in × scale + 1/2).
func checkJSONRounding(t *testing.T, in string, got int64, err error, scale int64) {
	valid := json.Valid([]byte(in)) && len(in) > 0 && (in[0] == '-' || in[0] >= '0' && in[0] <= '9')
	if err != nil {
		var ne *NumberError
		if !errors.As(err, &ne) {
			t.Fatalf("error %v is not a *NumberError", err)
		}
		if utf8.ValidString(in) && !utf8.ValidString(ne.Input) {
			t.Fatalf("truncating %q split a rune: %q", in, ne.Input)
		}
		return
	}
	if !valid {
		t.Fatalf("%q is not a JSON number but parsed to %d", in, got)
	}
	r, ok := new(big.Rat).SetString(in)
	if !ok {
		t.Fatalf("big.Rat rejects %q", in)
	}
	r.Mul(r, big.NewRat(scale, 1)).Add(r, big.NewRat(1, 2))
	want := new(big.Int).Quo(r.Num(), r.Denom())
	if want.Sign() < 0 || !want.IsInt64() || want.Int64() != got {
		t.Fatalf("%q: got %d want %s", in, got, want)
	}
}

var jsonSeeds = []string{"9.35", "0.30000000000000004", "1e2", "-0", "-1", "0.005", "9999999.995", "1E-2", "05", "1.", ".1", "1e21", "0.0003125"}

// FuzzParseJSONCents checks parseJSONCents against exact rational
// arithmetic.
func FuzzParseJSONCents(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := parseJSONCents(in)
		checkJSONRounding(t, in, int64(got), err, 100)
		if err != nil {
			return
		}
		if got < 0 || got > MaxCents {
			t.Fatalf("%q: %d out of range", in, got)
		}
		back, err := parseJSONCents(got.String())
		if err != nil || back != got {
			t.Fatalf("round trip of %s: %d, %v", got, back, err)
		}
	})
}

// FuzzParseJSONPounds checks ParseJSONPounds against exact rational
// arithmetic, and Weight.Pounds against it.
func FuzzParseJSONPounds(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ParseJSONPounds(in)
		checkJSONRounding(t, in, int64(got), err, int64(Pound))
		if err != nil {
			return
		}
		back, err := ParseJSONPounds(got.Pounds())
		if err != nil || back != got {
			t.Fatalf("round trip of %s: %d, %v", got.Pounds(), back, err)
		}
	})
}

// FuzzParseWeight: whatever ParseWeight accepts, String gives back.
func FuzzParseWeight(f *testing.F) {
	for _, s := range []string{"12oz", "15.99oz", "1.0625lb", "1.001lb", "-1lb", "2kg", "0oz", "999999999999lb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseWeight(s)
		if err != nil {
			var ne *NumberError
			if !errors.As(err, &ne) {
				t.Fatalf("error %v is not a *NumberError", err)
			}
			return
		}
		if w < 0 {
			t.Fatalf("%q → negative %d", s, w)
		}
		back, err := ParseWeight(w.String())
		if err != nil || back != w {
			t.Fatalf("%q → %d → %q → %d, %v", s, w, w.String(), back, err)
		}
	})
}

// FuzzParseDimension: whatever ParseDimension accepts is in range, and
// String gives it back.
func FuzzParseDimension(f *testing.F) {
	for _, s := range []string{"10", "10.25", "4.875", "1000", "1000.001", "1.1255", "-1", ".5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDimension(s)
		if err != nil {
			var ne *NumberError
			if !errors.As(err, &ne) {
				t.Fatalf("error %v is not a *NumberError", err)
			}
			return
		}
		if d < 0 || d > MaxDimension {
			t.Fatalf("%q → %d out of range", s, d)
		}
		back, err := ParseDimension(d.String())
		if err != nil || back != d {
			t.Fatalf("%q → %d → %q → %d, %v", s, d, d.String(), back, err)
		}
	})
}
