package uspsbiz

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

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
		if c := epaCode(e); c != "" && (!strings.HasPrefix(c, "10000") || !e.HasCode(c)) {
			t.Fatalf("EPA code %q not among the errors: %+v", c, e.Errors)
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
