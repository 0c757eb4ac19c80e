package linking_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/usps"
)

const ratesCSV = nsarates.CSVHeader + `
table,1000000001,Priority Mail Contract 629,2026-01,2026-01-18,,,,,,,,,
cell,,,,,,PRIORITY_MAIL,SP,MACHINABLE,05,2lb,,,9.35
`

const publishedCSV = nsarates.CSVHeader + `
table,,Commercial,2026-01,2026-01-18,,,,,,,,,
cell,,,,,,PRIORITY_MAIL,SP,MACHINABLE,05,2lb,,,11.40
`

func TestNSARatesOnlyWhileActive(t *testing.T) {
	e := newEnv(t, nil)
	p, err := nsarates.NewPricer()
	require.NoError(t, err)
	contract, err := nsarates.ReadCSV(strings.NewReader(ratesCSV))
	require.NoError(t, err)
	published, err := nsarates.ReadCSV(strings.NewReader(publishedCSV))
	require.NoError(t, err)
	require.NoError(t, p.SetContract(contract))
	require.NoError(t, p.SetPublished(nsarates.SourceCommercial, published))
	priority, err := p.Product(nsarates.ProductKey{MailClass: "PRIORITY_MAIL", RateIndicator: "SP", ProcessingCategory: "MACHINABLE"})
	require.NoError(t, err)
	ship := nsarates.Shipment{Product: priority, Zone: 5, Weight: 2 * usps.Pound,
		Length: 10 * usps.Inch, Width: 8 * usps.Inch, Height: 6 * usps.Inch,
		Date: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}

	q, err := e.linker.Quote(t.Context(), p, account, ship)
	require.NoError(t, err)
	assert.Equal(t, nsarates.SourceCommercial, q.Source, "never linked: published rates")
	assert.True(t, q.LinkNotActive)
	assert.Equal(t, usps.Cents(1140), q.Price)

	e.linkAccount(account)
	_, err = e.linker.SubmitCredentials(t.Context(), account, creds(epsNoNSA))
	require.NoError(t, err)
	q, err = e.linker.Quote(t.Context(), p, account, ship)
	require.NoError(t, err)
	assert.Equal(t, "approval_pending", string(q.LinkState))
	assert.Equal(t, nsarates.SourceCommercial, q.Source, "pending: still published rates")

	_, err = e.linker.SubmitCredentials(t.Context(), account, creds(epsActive))
	require.NoError(t, err)
	q, err = e.linker.Quote(t.Context(), p, account, ship)
	require.NoError(t, err)
	assert.Equal(t, nsarates.SourceContract, q.Source)
	assert.False(t, q.LinkNotActive)
	assert.Equal(t, usps.Cents(935), q.Price)

	require.NoError(t, e.linker.Unlink(t.Context(), account, "user"))
	q, err = e.linker.Quote(t.Context(), p, account, ship)
	require.NoError(t, err)
	assert.Equal(t, nsarates.SourceCommercial, q.Source, "unlinked: back to published rates")
	assert.Equal(t, nsarates.ReasonNoTable, q.Fallback)
}

// TestQuoteAtLocation: each location prices with its own EPS account's
// contract table; the default keeps its own.
func TestQuoteAtLocation(t *testing.T) {
	e := newEnv(t, nil)
	p, err := nsarates.NewPricer()
	require.NoError(t, err)
	for _, csv := range []string{ratesCSV, strings.ReplaceAll(strings.ReplaceAll(ratesCSV, epsActive, epsEast), ",9.35", ",8.10")} {
		contract, err := nsarates.ReadCSV(strings.NewReader(csv))
		require.NoError(t, err)
		require.NoError(t, p.SetContract(contract))
	}
	published, err := nsarates.ReadCSV(strings.NewReader(publishedCSV))
	require.NoError(t, err)
	require.NoError(t, p.SetPublished(nsarates.SourceCommercial, published))
	priority, err := p.Product(nsarates.ProductKey{MailClass: "PRIORITY_MAIL", RateIndicator: "SP", ProcessingCategory: "MACHINABLE"})
	require.NoError(t, err)
	ship := nsarates.Shipment{Product: priority, Zone: 5, Weight: 2 * usps.Pound,
		Length: 10 * usps.Inch, Width: 8 * usps.Inch, Height: 6 * usps.Inch,
		Date: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}

	e.linkAccount(account)
	in := creds(epsActive)
	in.Locations = []linking.LocationInput{{Label: "East", MID: eastMID, EPS: epsEast}}
	st, err := e.linker.SubmitCredentials(t.Context(), account, in)
	require.NoError(t, err)
	require.Equal(t, linking.StateActive, st.State, st.LastError)

	q, err := e.linker.QuoteAt(t.Context(), p, account, "East", ship)
	require.NoError(t, err)
	assert.Equal(t, nsarates.SourceContract, q.Source)
	assert.Equal(t, usps.Cents(810), q.Price)
	q, err = e.linker.QuoteAt(t.Context(), p, account, "", ship)
	require.NoError(t, err)
	assert.Equal(t, usps.Cents(935), q.Price)
	_, err = e.linker.QuoteAt(t.Context(), p, account, "West", ship)
	require.ErrorIs(t, err, linking.ErrUnknownLocation)
}
