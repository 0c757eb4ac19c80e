package usps_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/usps"
)

func TestParseCents(t *testing.T) {
	valid := []struct {
		in   string
		want usps.Cents
	}{
		{"9.35", 935},
		{"9.3", 930},
		{"9", 900},
		{"0", 0},
		{"0.05", 5},
		{"007.10", 710}, // leading zeros are harmless
		{"9999999.99", usps.MaxCents},
	}
	for _, tc := range valid {
		got, err := usps.ParseCents(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}

	invalid := []struct {
		in   string
		want error
	}{
		{"", usps.ErrSyntax},
		{"9.351", usps.ErrPrecision},
		{"9.350", usps.ErrPrecision}, // three decimals even if the last is zero
		{"-1", usps.ErrNegative},
		{"-0.001", usps.ErrNegative},
		{"NaN", usps.ErrSyntax},
		{"Inf", usps.ErrSyntax},
		{"1e3", usps.ErrSyntax},
		{"1E3", usps.ErrSyntax},
		{"0x10", usps.ErrSyntax},
		{"+1", usps.ErrSyntax},
		{" 1", usps.ErrSyntax},
		{"1 ", usps.ErrSyntax},
		{"1,000.00", usps.ErrSyntax},
		{"$9.35", usps.ErrSyntax},
		{"9.", usps.ErrSyntax},
		{".5", usps.ErrSyntax},
		{"--1", usps.ErrSyntax},
		{"10000000.00", usps.ErrRange},
		{"99999999999999999999999", usps.ErrRange},
	}
	for _, tc := range invalid {
		_, err := usps.ParseCents(tc.in)
		var ne *usps.NumberError
		require.ErrorAs(t, err, &ne, tc.in)
		assert.Equal(t, tc.in, ne.Input)
		assert.ErrorIs(t, err, tc.want, tc.in)
	}
}

func TestParseJSONCents(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want usps.Cents
		err  error
	}{
		{in: "9.35", want: 935},
		{in: "0", want: 0},
		{in: "-0", want: 0},
		{in: "-0.00", want: 0},
		{in: "0.1", want: 10},
		{in: "5", want: 500},
		{in: "2.00", want: 200},
		{in: "0.30000000000000004", want: 30}, // 0.1+0.2 in binary floating point
		{in: "9.349999999999999", want: 935},  // 9.35 as a float prints like this
		{in: "0.29999999999999999", want: 30}, // rounds up
		{in: "9.345", want: 935},              // half up
		{in: "9.3449", want: 934},             // below half
		{in: "0.005", want: 1},                // half a cent up
		{in: "0.0049999", want: 0},            // just below
		{in: "1e2", want: 10000},              // exponent
		{in: "1E+2", want: 10000},             // exponent with sign
		{in: "935e-2", want: 935},             // negative exponent
		{in: "1.5e-3", want: 0},               // 0.0015 → 0
		{in: "9999999.99", want: usps.MaxCents},
		{in: "9999999.994", want: usps.MaxCents},
		{in: "9999999.995", err: usps.ErrRange}, // rounds up past the limit
		{in: "10000000", err: usps.ErrRange},
		{in: "1e20", err: usps.ErrRange},
		{in: "123456789012345678901234567890", err: usps.ErrRange},
		{in: "1e21", err: usps.ErrRange},
		{in: "1e-1000", err: usps.ErrRange},
		{in: "-0.01", err: usps.ErrNegative},
		{in: "-5", err: usps.ErrNegative},
		{in: "", err: usps.ErrSyntax},
		{in: ".5", err: usps.ErrSyntax},
		{in: "5.", err: usps.ErrSyntax},
		{in: "05", err: usps.ErrSyntax},
		{in: "1e", err: usps.ErrSyntax},
		{in: "+5", err: usps.ErrSyntax},
		{in: "5 ", err: usps.ErrSyntax},
		{in: "NaN", err: usps.ErrSyntax},
		{in: "0x10", err: usps.ErrSyntax},
		{in: "1,5", err: usps.ErrSyntax},
		{in: "0.000000000000000000000000000000000000000000000000000000000000001", err: usps.ErrRange}, // too long
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := usps.ParseJSONCents(tc.in)
			if tc.err != nil {
				var ne *usps.NumberError
				require.ErrorAs(t, err, &ne)
				assert.ErrorIs(t, err, tc.err)
				assert.LessOrEqual(t, len(ne.Input), 40+len("…"))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	_, err := usps.ParseJSONCents("05")
	assert.EqualError(t, err, `usps: "05": malformed number: leading zero`)
}

func TestCentsJSON(t *testing.T) {
	var v struct {
		A, B, C, D usps.Cents
	}
	v.D = 7
	require.NoError(t, json.Unmarshal([]byte(`{"A":9.35,"B":"0.30000000000000004","C":1e2,"D":null}`), &v))
	assert.Equal(t, usps.Cents(935), v.A)
	assert.Equal(t, usps.Cents(30), v.B)
	assert.Equal(t, usps.Cents(10000), v.C)
	assert.Equal(t, usps.Cents(7), v.D, "null leaves the value")
	require.ErrorIs(t, json.Unmarshal([]byte(`{"A":-1}`), &v), usps.ErrNegative)
	require.Error(t, json.Unmarshal([]byte(`{"A":true}`), &v))
	b, err := json.Marshal(struct{ P usps.Cents }{1005})
	require.NoError(t, err)
	assert.Equal(t, `{"P":10.05}`, string(b))
}

func TestCentsString(t *testing.T) {
	for c, want := range map[usps.Cents]string{0: "0.00", 5: "0.05", 935: "9.35", 100: "1.00", -250: "-2.50", -5: "-0.05", usps.MaxCents: "9999999.99"} {
		assert.Equal(t, want, c.String())
	}
}

func TestNumberErrorTruncates(t *testing.T) {
	_, err := usps.ParseCents("9.35" + string(make([]byte, 100)))
	var ne *usps.NumberError
	require.ErrorAs(t, err, &ne)
	assert.Equal(t, "9.35"+string(make([]byte, 36))+"…", ne.Input)
	_, err = usps.ParseWeight("€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€oz") // 3-byte runes: no rune is split
	require.ErrorAs(t, err, &ne)
	assert.Equal(t, "€€€€€€€€€€€€€…", ne.Input)
	assert.Equal(t, `usps: "9.351": too many decimals`, (&usps.NumberError{Input: "9.351", Err: usps.ErrPrecision}).Error())
}
