package usps_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/usps"
)

func TestParseCRID(t *testing.T) {
	for _, tc := range []struct {
		in, want, reason string
	}{
		{in: "56781234", want: "56781234"},
		{in: " 5678-1234 ", want: "56781234"},
		{in: "12", want: "12"},
		{in: "123456789012345678", want: "123456789012345678"},
		{in: "1", reason: "must have 2 to 18 digits, not 1"},
		{in: "1234567890123456789", reason: "must have 2 to 18 digits, not 19"},
		{in: "", reason: "is empty"},
		{in: " - ", reason: "is empty"},
		{in: "5678123A", reason: "must contain only digits"},
		{in: "５６７８", reason: "must contain only digits"}, // full-width digits
		{in: "56\u00a078\u201312", want: "567812"},       // no-break space, en dash
		{in: strings.Repeat("1", 65), reason: "is longer than 64 characters"},
		{in: "\xff\xfe", reason: "is not valid text"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := usps.ParseCRID(tc.in)
			if tc.reason == "" {
				require.NoError(t, err)
				assert.Equal(t, usps.CRID(tc.want), got)
				return
			}
			var fe *usps.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, usps.FieldCRID, fe.Field)
			assert.Equal(t, tc.reason, fe.Reason)
			assert.ErrorIs(t, err, usps.ErrInvalidIdentifier)
		})
	}
}

func TestParseMID(t *testing.T) {
	for _, tc := range []struct {
		in, want, reason string
	}{
		{in: "123456", want: "123456"},
		{in: "012345", want: "012345"},
		{in: "812345", want: "812345"},
		{in: "901234567", want: "901234567"},
		{in: "901-234-567", want: "901234567"},
		{in: "912345", reason: "a 6-digit MID cannot start with 9"},
		{in: "801234567", reason: "a 9-digit MID must start with 9"},
		{in: "1234567", reason: "must be 6 or 9 digits, not 7"},
		{in: "12345", reason: "must be 6 or 9 digits, not 5"},
		{in: "12345O", reason: "must contain only digits"},
		{in: "", reason: "is empty"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := usps.ParseMID(tc.in)
			if tc.reason == "" {
				require.NoError(t, err)
				assert.Equal(t, usps.MID(tc.want), got)
				return
			}
			var fe *usps.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, usps.FieldMID, fe.Field)
			assert.Equal(t, tc.reason, fe.Reason)
		})
	}
	_, err := usps.ParseManifestMID("1")
	var fe *usps.FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, usps.FieldManifestMID, fe.Field)
	assert.Contains(t, err.Error(), "manifest MID")
}

func TestParseEPSAccount(t *testing.T) {
	for _, tc := range []struct {
		in, want, reason, value string
	}{
		{in: "1000000001", want: "1000000001"},
		{in: "100 000 0001", want: "1000000001"},
		{in: "1000-0000-01", want: "1000000001"},
		{in: "100000001", reason: "must be 10 digits, not 9", value: "******0001"},
		{in: "10000000012", reason: "must be 10 digits, not 11", value: "******0012"},
		{in: "10000x0001", reason: "must contain only digits", value: "******0001"},
		{in: "", reason: "is empty"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := usps.ParseEPSAccount(tc.in)
			if tc.reason == "" {
				require.NoError(t, err)
				assert.Equal(t, tc.want, got.Reveal())
				return
			}
			var fe *usps.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, usps.FieldEPS, fe.Field)
			assert.Equal(t, tc.reason, fe.Reason)
			assert.Equal(t, tc.value, fe.Value)
			// Never more than the last four digits.
			assert.NotContains(t, err.Error(), "100000")
		})
	}
}

func TestEPSAccountRedacted(t *testing.T) {
	a, err := usps.ParseEPSAccount("1234567890")
	require.NoError(t, err)
	for _, s := range []string{
		fmt.Sprint(a), fmt.Sprintf("%v %+v %#v %s %q %x %d", a, a, a, a, a, a, a), a.String(),
		fmt.Sprintf("%v", struct{ A usps.EPSAccount }{a}), fmt.Sprintf("%#v", []usps.EPSAccount{a}),
	} {
		assert.NotContains(t, s, "123456", s)
		assert.Contains(t, s, "7890")
	}
	b, err := json.Marshal(struct{ A usps.EPSAccount }{a})
	require.NoError(t, err)
	assert.Equal(t, `{"A":"******7890"}`, string(b))
	assert.Equal(t, `******7890|******7890|"******7890"`, fmt.Sprintf("%v|%#v|%q", a, a, a))
	var sb strings.Builder
	slog.New(slog.NewJSONHandler(&sb, nil)).Info("x", "eps", a)
	assert.NotContains(t, sb.String(), "123456")
	assert.Equal(t, "1234567890", a.Reveal())
	assert.Equal(t, "7890", a.Last4())
}

func TestFieldErrorIs(t *testing.T) {
	_, err := usps.ParseCRID("x")
	assert.True(t, errors.Is(err, usps.ErrInvalidIdentifier))
	assert.False(t, errors.Is(err, usps.ErrSyntax))
}
