package linking_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/usps"
)

// FuzzParseCredentials: any input either parses to canonical digits that
// parse again unchanged, or names every bad field.
func FuzzParseCredentials(f *testing.F) {
	f.Add("5678-1234", "901 234 567", "", "10000-00001")
	f.Add("1", "912345", "12345678", "12345abcde")
	f.Add("", "", "", "")
	f.Add("１２３", "９0１２３４５６７", "\x00", "１000000001")
	f.Fuzz(func(t *testing.T, crid, mid, manifest, eps string) {
		p, err := linking.ParseCredentials(linking.CredentialsInput{CRID: crid, MID: mid, ManifestMID: manifest, EPS: eps})
		if err != nil {
			var ce *linking.CredentialsError
			if !errors.As(err, &ce) || len(ce.Fields) == 0 || len(ce.Fields) > 4 {
				t.Fatalf("want a CredentialsError naming fields, got %v", err)
			}
			for _, fp := range ce.Fields {
				if fp.Field == "" || fp.Message == "" || !errors.Is(fp.Err, usps.ErrInvalidIdentifier) {
					t.Fatalf("field problem incomplete: %+v", fp)
				}
			}
			return
		}
		again, err := linking.ParseCredentials(linking.CredentialsInput{CRID: string(p.CRID), MID: string(p.MID), ManifestMID: string(p.ManifestMID), EPS: p.EPS.Reveal()})
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Fatalf("canonical form not stable: %v %v", p, err)
		}
	})
}
