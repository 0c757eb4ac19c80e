package uspsbiz_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

const (
	zipOrigin = "22407"
	zipDest   = "63118"
)

func pkg() uspsbiz.Package {
	return uspsbiz.Package{OriginZIP: zipOrigin, DestinationZIP: zipDest, Weight: 2 * usps.Pound, Length: 10 * usps.Inch, Width: 8 * usps.Inch, Height: 4 * usps.Inch}
}

func newPricesFake(t testing.TB) *uspsbiztest.Server {
	t.Helper()
	srv := newPaymentsFake(t)
	require.NoError(t, srv.SetPublishedPrices(
		uspsbiztest.Price{MailClass: "USPS_GROUND_ADVANTAGE", RateIndicator: "SP", ProcessingCategory: "MACHINABLE", MaxWeight: 1 * usps.Pound, SKU: "DUXP0XXXXC01010", Price: "6.10"},
		uspsbiztest.Price{MailClass: "USPS_GROUND_ADVANTAGE", RateIndicator: "SP", ProcessingCategory: "MACHINABLE", MaxWeight: 5 * usps.Pound, SKU: "DUXP0XXXXC01050", Price: "9.35",
			Fees: []uspsbiztest.Fee{{Name: "Nonstandard Length > 22", SKU: "D811XUXXXXX0000", Price: "4"}}},
		uspsbiztest.Price{MailClass: "PRIORITY_MAIL", RateIndicator: "SP", ProcessingCategory: "MACHINABLE", SKU: "DPXX0XXXXC05050", Price: "0.30000000000000004"},
		uspsbiztest.Price{MailClass: "PRIORITY_MAIL", RateIndicator: "SP", ProcessingCategory: "MACHINABLE", PriceType: "RETAIL", SKU: "DPXX0XXXXR05050", Price: "12.40"},
	))
	require.NoError(t, srv.SetContractPrices(epsActive,
		uspsbiztest.Price{MailClass: "USPS_GROUND_ADVANTAGE", RateIndicator: "SP", ProcessingCategory: "MACHINABLE", MaxWeight: 5 * usps.Pound, SKU: "DUXP0XXXXN01050", Price: "7.12"},
	))
	require.NoError(t, srv.SetExtraServicePrices(uspsbiztest.ExtraServicePrice{Code: 920, Name: "USPS Tracking", SKU: "DXTV0EXXXCX0000", Price: "0.00"},
		uspsbiztest.ExtraServicePrice{Code: 930, Name: "Insurance <= $500", SKU: "DXIX0XXXXCX0100", Price: "2.55"}))
	srv.SetContractOnlyMailClasses("USPS_CONNECT_REGIONAL")
	return srv
}

func TestBaseRatesPublished(t *testing.T) {
	srv := newPricesFake(t)
	c := newClient(t, srv)
	res, err := c.BaseRates(t.Context(), uspsbiz.BaseRatesQuery{Package: pkg(), MailClass: "USPS_GROUND_ADVANTAGE"})
	require.NoError(t, err)
	require.Len(t, res.Options, 1)
	o := res.Options[0]
	assert.Equal(t, usps.Cents(1335), o.TotalBasePrice)
	require.Len(t, o.Rates, 1)
	r := o.Rates[0]
	assert.Equal(t, usps.Cents(935), r.Price)
	assert.Equal(t, uspsbiz.PriceCommercial, r.PriceType)
	assert.Equal(t, usps.Cents(400), r.Fees[0].Price)
	assert.False(t, r.PriceType.IsContract())
	assert.False(t, res.ContractRateNotFound)
	assert.ErrorIs(t, res.RequireContract(), uspsbiz.ErrContractRateNotFound)

	res, err = c.BaseRates(t.Context(), uspsbiz.BaseRatesQuery{Package: pkg(), MailClass: "PRIORITY_MAIL"})
	require.NoError(t, err)
	assert.Equal(t, usps.Cents(30), res.Options[0].Rates[0].Price, "float noise lands on the cent")
	res, err = c.BaseRates(t.Context(), uspsbiz.BaseRatesQuery{Package: pkg(), MailClass: "PRIORITY_MAIL", PriceType: uspsbiz.PriceRetail})
	require.NoError(t, err)
	assert.Equal(t, usps.Cents(1240), res.Options[0].Rates[0].Price)
	assert.Equal(t, uspsbiz.PriceRetail, res.Options[0].Rates[0].PriceType)

	_, err = c.BaseRates(t.Context(), uspsbiz.BaseRatesQuery{Package: pkg(), MailClass: "MEDIA_MAIL"})
	var ae *uspsbiz.APIError
	require.ErrorAs(t, err, &ae)
	assert.True(t, ae.HasCode("030002"))
}

// TestPackageUnits: weights go to USPS as exact pounds and sizes as exact
// inches, and the weights USPS answers come back as usps.Weight.
func TestPackageUnits(t *testing.T) {
	srv := newPricesFake(t)
	c := newClient(t, srv)
	p := pkg()
	p.Weight = 1599 // 15.99 oz
	p.Length = 4*usps.Inch + 7*usps.EighthInch
	res, err := c.BaseRates(t.Context(), uspsbiz.BaseRatesQuery{Package: p, MailClass: "USPS_GROUND_ADVANTAGE"})
	require.NoError(t, err)
	body := string(srv.Requests()[len(srv.Requests())-1].Body)
	assert.Contains(t, body, `"weight":0.999375`)
	assert.Contains(t, body, `"length":4.875`)
	assert.Contains(t, body, `"width":8`)
	assert.Equal(t, usps.Weight(1599), res.Options[0].Rates[0].Weight, "the fake echoes the weight")

	// USPS's weights may carry float noise or come as strings.
	srv.InjectFault(uspsbiztest.Fault{Match: "POST /prices/v3/base-rates/search", Status: 200,
		Body: `{"totalBasePrice":7.12,"rates":[{"priceType":"COMMERCIAL","price":7.12,"weight":0.30000000000000004,"dimWeight":"15"}]}`})
	res, err = c.BaseRates(t.Context(), uspsbiz.BaseRatesQuery{Package: pkg(), MailClass: "USPS_GROUND_ADVANTAGE"})
	require.NoError(t, err)
	assert.Equal(t, usps.Weight(480), res.Options[0].Rates[0].Weight)
	assert.Equal(t, 15*usps.Pound, res.Options[0].Rates[0].DimWeight)
	srv.InjectFault(uspsbiztest.Fault{Match: "POST /prices/v3/base-rates/search", Status: 200,
		Body: `{"totalBasePrice":7.12,"rates":[{"priceType":"COMMERCIAL","price":7.12,"weight":-1}]}`})
	_, err = c.BaseRates(t.Context(), uspsbiz.BaseRatesQuery{Package: pkg(), MailClass: "USPS_GROUND_ADVANTAGE"})
	require.ErrorIs(t, err, uspsbiz.ErrMalformedResponse)
	require.ErrorIs(t, err, usps.ErrNegative)
}

func TestBaseRatesContract(t *testing.T) {
	srv := newPricesFake(t)
	c := newClient(t, srv)
	res, err := c.BaseRates(t.Context(), uspsbiz.BaseRatesQuery{Package: pkg(), MailClass: "USPS_GROUND_ADVANTAGE", EPS: eps(t, epsActive)})
	require.NoError(t, err)
	r := res.Options[0].Rates[0]
	assert.Equal(t, uspsbiz.PriceContract, r.PriceType)
	assert.Equal(t, "DUXP0XXXXN01050", r.SKU)
	assert.Equal(t, usps.Cents(712), r.Price)
	assert.True(t, r.PriceType.IsContract())
	assert.NoError(t, res.RequireContract())
	body := srv.Requests()[len(srv.Requests())-1].Body
	assert.Contains(t, string(body), `"accountType":"EPS"`)
	assert.Contains(t, string(body), `"accountNumber":"`+epsActive+`"`)
	assert.Contains(t, string(body), `"priceType":"CONTRACT"`)

	// No contract row for this package (too heavy): published + warning 001.
	heavy := pkg()
	heavy.Weight = 20 * usps.Pound
	require.NoError(t, srv.SetPublishedPrices(uspsbiztest.Price{MailClass: "USPS_GROUND_ADVANTAGE", SKU: "DUXP0XXXXC01200", Price: "25.00"}))
	res, err = c.BaseRates(t.Context(), uspsbiz.BaseRatesQuery{Package: heavy, MailClass: "USPS_GROUND_ADVANTAGE", EPS: eps(t, epsActive)})
	require.NoError(t, err)
	r = res.Options[0].Rates[0]
	assert.True(t, res.ContractRateNotFound)
	assert.True(t, r.ContractRateNotFound)
	assert.False(t, r.PriceType.IsContract())
	assert.Equal(t, usps.Cents(2500), r.Price)
	assert.ErrorIs(t, res.RequireContract(), uspsbiz.ErrContractRateNotFound)
	require.Len(t, r.Warnings, 1)
	assert.Equal(t, "001", r.Warnings[0].Code)

	// An account without any contract: published + 001 as well.
	res, err = c.BaseRates(t.Context(), uspsbiz.BaseRatesQuery{Package: pkg(), MailClass: "USPS_GROUND_ADVANTAGE", EPS: eps(t, epsPendingACH)})
	require.NoError(t, err)
	assert.True(t, res.ContractRateNotFound)
}

func TestContractRateNeverReportedWith001(t *testing.T) {
	srv := newPricesFake(t)
	c := newClient(t, srv)
	// A (contradictory) answer with priceType CONTRACT and warning 001.
	srv.InjectFault(uspsbiztest.Fault{Match: "POST /prices/v3/base-rates/search", Status: 200, Body: `{"totalBasePrice":7.12,"rates":[{"SKU":"X","priceType":"CONTRACT","price":7.12,"warnings":[{"warningCode":"001","warningDescription":"Contract rate not found for request. Published rate returned."}]}]}`})
	res, err := c.BaseRates(t.Context(), uspsbiz.BaseRatesQuery{Package: pkg(), MailClass: "USPS_GROUND_ADVANTAGE", EPS: eps(t, epsActive)})
	require.NoError(t, err)
	r := res.Options[0].Rates[0]
	assert.Equal(t, uspsbiz.PricePublished, r.PriceType)
	assert.False(t, r.PriceType.IsContract())
	assert.True(t, res.ContractRateNotFound)
	// Warning codes given as numbers are read too.
	srv.InjectFault(uspsbiztest.Fault{Match: "POST /prices/v3/base-rates/search", Status: 200, Body: `{"totalBasePrice":7.12,"rates":[{"priceType":"NSA","price":7.12,"warnings":[{"warningCode":1}]}]}`})
	res, err = c.BaseRates(t.Context(), uspsbiz.BaseRatesQuery{Package: pkg(), MailClass: "USPS_GROUND_ADVANTAGE", EPS: eps(t, epsActive)})
	require.NoError(t, err)
	assert.True(t, res.Options[0].Rates[0].PriceType.IsContract(), "numeric 1 is not the string 001")
	// A malformed price fails the whole answer.
	srv.InjectFault(uspsbiztest.Fault{Match: "POST /prices/v3/base-rates/search", Status: 200, Body: `{"totalBasePrice":-7.12,"rates":[]}`})
	_, err = c.BaseRates(t.Context(), uspsbiz.BaseRatesQuery{Package: pkg(), MailClass: "USPS_GROUND_ADVANTAGE"})
	require.ErrorIs(t, err, uspsbiz.ErrMalformedResponse)
	require.ErrorIs(t, err, usps.ErrNegative)
}

func TestPriceErrorCodes(t *testing.T) {
	srv := newPricesFake(t)
	c := newClient(t, srv)
	_, err := c.BaseRates(t.Context(), uspsbiz.BaseRatesQuery{Package: pkg(), MailClass: "USPS_CONNECT_REGIONAL"})
	require.ErrorIs(t, err, uspsbiz.ErrAccountRequired) // 160207
	var ae *uspsbiz.APIError
	require.ErrorAs(t, err, &ae)
	assert.True(t, ae.HasCode("160207"))

	_, err = c.BaseRates(t.Context(), uspsbiz.BaseRatesQuery{Package: pkg(), MailClass: "USPS_CONNECT_REGIONAL", EPS: eps(t, epsActive)})
	require.ErrorIs(t, err, uspsbiz.ErrNoContract) // 160212
	require.ErrorAs(t, err, &ae)
	assert.True(t, ae.HasCode("160212"))
	assert.NotContains(t, err.Error(), testEPSCanaryTxt)

	srv.InjectFault(uspsbiztest.Fault{Match: "POST /prices/", Status: 400, Body: `{"apiVersion":"/prices/v3","error":{"code":"400","message":"Bad Request","errors":[{"status":"400","code":"160208","title":"accountNumber is required"}]}}`})
	_, err = c.BaseRates(t.Context(), uspsbiz.BaseRatesQuery{Package: pkg(), MailClass: "USPS_GROUND_ADVANTAGE"})
	require.ErrorIs(t, err, uspsbiz.ErrAccountRequired) // 160208
	assert.NotErrorIs(t, err, uspsbiz.ErrNoContract)

	// Bad input never reaches USPS.
	n := srv.Count("/prices/")
	for _, q := range []uspsbiz.BaseRatesQuery{
		{Package: pkg()},
		{Package: uspsbiz.Package{OriginZIP: "2240", DestinationZIP: zipDest, Weight: 1 * usps.Pound, Length: 1 * usps.Inch, Width: 1 * usps.Inch, Height: 1 * usps.Inch}, MailClass: "PRIORITY_MAIL"},
		{Package: uspsbiz.Package{OriginZIP: zipOrigin, DestinationZIP: zipDest}, MailClass: "PRIORITY_MAIL"},
		{Package: pkg(), MailClass: "PRIORITY_MAIL", EPS: "12"},
	} {
		_, err := c.BaseRates(t.Context(), q)
		require.Error(t, err)
	}
	assert.Equal(t, n, srv.Count("/prices/"))
}

func TestBaseRatesListAndTotalRates(t *testing.T) {
	srv := newPricesFake(t)
	c := newClient(t, srv)
	res, err := c.BaseRatesList(t.Context(), uspsbiz.RateListQuery{Package: pkg()})
	require.NoError(t, err)
	assert.Len(t, res.Options, 2, "Ground Advantage (best weight tier) and Priority Mail commercial")

	res, err = c.BaseRatesList(t.Context(), uspsbiz.RateListQuery{Package: pkg(), MailClasses: []string{"USPS_GROUND_ADVANTAGE"}, EPS: eps(t, epsActive)})
	require.NoError(t, err)
	require.Len(t, res.Options, 1)
	require.NoError(t, res.RequireContract())

	_, err = c.BaseRatesList(t.Context(), uspsbiz.RateListQuery{Package: pkg(), EPS: eps(t, epsActive)})
	var ae *uspsbiz.APIError
	require.ErrorAs(t, err, &ae, "contract prices need a specific mail class")

	tr, err := c.TotalRates(t.Context(), uspsbiz.TotalRatesQuery{
		RateListQuery: uspsbiz.RateListQuery{Package: pkg(), MailClasses: []string{"USPS_GROUND_ADVANTAGE"}, EPS: eps(t, epsActive)},
		ItemValue:     12050, ExtraServices: []int{920, 930},
	})
	require.NoError(t, err)
	require.Len(t, tr.Options, 1)
	o := tr.Options[0]
	assert.NoError(t, tr.RequireContract(), "the base rate is a contract rate; extra services do not count")
	assert.True(t, o.ContractRateNotFound, "extra services came back published with 001")
	assert.True(t, tr.ContractRateNotFound)
	require.Len(t, o.ExtraServices, 2)
	assert.False(t, o.ExtraServices[1].PriceType.IsContract())
	assert.Equal(t, usps.Cents(255), o.ExtraServices[1].Price)
	assert.Equal(t, usps.Cents(712+255), o.TotalPrice)
	body := srv.Requests()[len(srv.Requests())-1].Body
	assert.Contains(t, string(body), `"itemValue":120.50`)
	assert.Contains(t, string(body), `"extraServices":[920,930]`)
}

func TestPricesWithMerchantToken(t *testing.T) {
	srv := newPricesFake(t)
	c := newClient(t, srv)
	tok := link(t, srv, c, "")
	m := c.ForMerchant(oauth2.StaticTokenSource(tok.OAuth2()))
	res, err := m.BaseRates(t.Context(), uspsbiz.BaseRatesQuery{Package: pkg(), MailClass: "USPS_GROUND_ADVANTAGE", EPS: eps(t, epsActive)})
	require.NoError(t, err)
	assert.NoError(t, res.RequireContract())
	reqs := srv.Requests()
	assert.Regexp(t, `^Bearer merchant-`, reqs[len(reqs)-1].Header.Get("Authorization"))
}

func TestPricesQuota(t *testing.T) {
	srv := newPricesFake(t)
	srv.SetQuota("prices", 2)
	c := newClient(t, srv, uspsbiz.WithRetryPolicy(uspsbiz.RetryPolicy{MaxRetries: 2, MinWait: 1, MaxWait: 1, MaxRetryAfter: 1}))
	q := uspsbiz.BaseRatesQuery{Package: pkg(), MailClass: "USPS_GROUND_ADVANTAGE"}
	for range 2 {
		_, err := c.BaseRates(t.Context(), q)
		require.NoError(t, err)
	}
	_, err := c.BaseRates(t.Context(), q)
	require.ErrorIs(t, err, uspsbiz.ErrRateLimited)
	var ae *uspsbiz.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 429, ae.StatusCode)
	assert.Greater(t, ae.RetryAfter.Seconds(), 3500.0)
	assert.Equal(t, 1, ae.Attempts, "a Retry-After above MaxRetryAfter is not waited for")
	srv.Advance(ae.RetryAfter)
	_, err = c.BaseRates(t.Context(), q)
	require.NoError(t, err)
}
