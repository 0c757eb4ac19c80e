package uspsbiz

import (
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func fuzzIdentifier[T ~string](f *testing.F, parse func(string) (T, error), check func(string) bool, seeds ...string) {
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
			return
		}
		if !check(string(v)) {
			t.Fatalf("%q parsed to invalid %q", in, v)
		}
		// Idempotent.
		again, err := parse(string(v))
		if err != nil || again != v {
			t.Fatalf("reparse of %q: %q, %v", v, again, err)
		}
	})
}

func digitsLen(s string, lo, hi int) bool {
	return len(s) >= lo && len(s) <= hi && allDigits(s)
}

func FuzzParseCRID(f *testing.F) {
	fuzzIdentifier(f, ParseCRID, func(s string) bool { return digitsLen(s, 2, 18) }, "56781234", " 12-34 ", "1", "x", "١٢٣")
}

func FuzzParseMID(f *testing.F) {
	fuzzIdentifier(f, ParseMID, func(s string) bool {
		return len(s) == 6 && allDigits(s) && s[0] != '9' || len(s) == 9 && allDigits(s) && s[0] == '9'
	}, "123456", "901234567", "912345", "9-0-1")
}

func FuzzParseEPSAccount(f *testing.F) {
	fuzzIdentifier(f, ParseEPSAccount, func(s string) bool { return digitsLen(s, 10, 10) }, "1000000001", "1000 0000 01", "123")
}

// FuzzParseCents checks ParseCents against exact rational arithmetic.
func FuzzParseCents(f *testing.F) {
	for _, s := range []string{"9.35", "0.30000000000000004", "1e2", "-0", "-1", "0.005", "999999999.995", "1E-2", "05", "1.", ".1", "1e21"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ParseCents(in)
		valid := json.Valid([]byte(in)) && len(in) > 0 && (in[0] == '-' || in[0] >= '0' && in[0] <= '9')
		if err != nil {
			if !errors.Is(err, ErrInvalidMoney) {
				t.Fatalf("error %v does not match ErrInvalidMoney", err)
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
		// want = floor(r*100 + 1/2)
		r.Mul(r, big.NewRat(100, 1)).Add(r, big.NewRat(1, 2))
		want := new(big.Int).Quo(r.Num(), r.Denom())
		if want.Sign() < 0 || !want.IsInt64() || Cents(want.Int64()) != got {
			t.Fatalf("%q: got %d want %s", in, got, want)
		}
		if got < 0 || got > MaxCents {
			t.Fatalf("%q: %d out of range", in, got)
		}
		back, err := ParseCents(got.String())
		if err != nil || back != got {
			t.Fatalf("round trip of %s: %d, %v", got, back, err)
		}
	})
}

func FuzzDecodeErrorBody(f *testing.F) {
	for _, s := range []string{
		`{"apiVersion":"/payments/v3","error":{"code":"400","message":"m","errors":[{"status":"400","code":"100002","title":"t","detail":"d","source":{"parameter":"roles[0].accountNumber"}}]}}`,
		`{"error":{"code":400,"errors":[{"code":100001}]}}`,
		`{"fault":{"faultstring":"Invalid access token","detail":{"errorcode":"oauth.v2.InvalidAccessToken"}}}`,
		`{"error":"invalid_client","error_description":"x"}`,
		`{"error":null}`, `[]`, `null`, `{"error":{"errors":"x"}}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e := decodeErrorBody(body)
		if e == nil {
			t.Fatal("nil APIError")
		}
		_ = e.Error()
		_ = e.HasCode("100002")
		if _, ok := EPAStatusOf(e); ok && !strings.HasPrefix(epaCode(e), "10000") {
			t.Fatalf("EPA status without an EPA code: %+v", e.Errors)
		}
	})
}

// FuzzDecodeTokenFields feeds a token response's JSON members through the
// decoder that reads USPS's numbers-or-strings fields.
func FuzzDecodeTokenFields(f *testing.F) {
	for _, s := range []string{
		`{"expires_in":28799,"issued_at":1714800000000,"refresh_count":0,"scope":"prices tracking"}`,
		`{"expires_in":"28799","issued_at":"1714800000000","refresh_token_expires_in":"604799","refresh_count":"3"}`,
		`{"expires_in":1.5}`, `{"expires_in":-1}`, `{"refresh_count":99999999999}`, `{"api_products":["a","b"]}`,
		`{"expires_in":true}`, `{}`,
	} {
		f.Add([]byte(s), "Bearer", "rt")
	}
	now := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte, typ, refresh string) {
		var m map[string]any
		if json.Unmarshal(body, &m) != nil {
			return
		}
		tok, err := decodeTokenFields("at", typ, refresh, jsonFields(m), now)
		if err != nil {
			return
		}
		if !tok.Expiry.After(now) {
			t.Fatalf("expiry %v not after now", tok.Expiry)
		}
		if tok.RefreshCount < 0 {
			t.Fatalf("negative refresh count")
		}
		if !tok.RefreshExpiry.IsZero() && refresh == "" {
			t.Fatalf("refresh expiry without a refresh token")
		}
	})
}
