package uspsbiztest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

func newServer(t *testing.T, opts ...uspsbiztest.Option) (*uspsbiztest.Server, string) {
	t.Helper()
	srv := uspsbiztest.NewServer(t, append([]uspsbiztest.Option{
		uspsbiztest.WithTime(time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)),
		uspsbiztest.WithApp(uspsbiztest.App{ClientID: "app", ClientSecret: "secret", CRID: "9999001"}),
		uspsbiztest.WithBusinessAccount(uspsbiztest.BusinessAccount{Username: "u", Password: "p", CRID: "56781234",
			MIDs: []string{"901234567"}, ManifestMIDs: []string{"902345678"},
			EPAs: []uspsbiztest.EPA{{AccountNumber: "1000000001"}, {AccountNumber: "1000000007", State: uspsbiztest.EPAInsufficientTrust}}}),
	}, opts...)...)
	res, err := http.PostForm(srv.URL+"/oauth2/v3/token", map[string][]string{"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {"secret"}})
	require.NoError(t, err)
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&tok))
	return srv, tok.AccessToken
}

type uspsErr struct {
	APIVersion string `json:"apiVersion"`
	Error      struct {
		Code   string `json:"code"`
		Errors []struct {
			Code   string `json:"code"`
			Source struct {
				Parameter  string `json:"parameter"`
				APIProduct string `json:"APIProduct"`
			} `json:"source"`
		} `json:"errors"`
	} `json:"error"`
}

func call(t *testing.T, srv *uspsbiztest.Server, tok, method, path, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, b
}

func codes(t *testing.T, b []byte) []string {
	t.Helper()
	var e uspsErr
	require.NoError(t, json.Unmarshal(b, &e), string(b))
	var out []string
	for _, d := range e.Error.Errors {
		out = append(out, d.Code)
	}
	return out
}

const (
	payer = `{"roleName":"PAYER","CRID":"56781234","accountType":"EPS","accountNumber":"1000000001"}`
	owner = `{"roleName":"LABEL_OWNER","CRID":"56781234","MID":"901234567","manifestMID":"902345678"}`
)

func TestPaymentAuthorizationRoleCodes(t *testing.T) {
	srv, tok := newServer(t)
	for _, tc := range []struct {
		name, roles string
		codes       []string
	}{
		{"ok", payer + "," + owner, nil},
		{"ok with platform", payer + "," + owner + `,{"roleName":"PLATFORM","CRID":"9999001"}`, nil},
		{"no roles", ``, []string{"160228", "160229"}},
		{"no label owner", payer, []string{"160229"}},
		{"no payer", owner, []string{"160228"}},
		{"duplicate", payer + "," + payer + "," + owner, []string{"160227"}},
		{"role name", payer + "," + owner + `,{"CRID":"1"}`, []string{"160219"}},
		{"CRID", `{"roleName":"PAYER","accountType":"EPS","accountNumber":"1000000001"},` + owner, []string{"160218"}},
		{"payer account type", `{"roleName":"PAYER","CRID":"56781234"},` + owner, []string{"160220"}},
		{"rate holder account type", payer + "," + owner + `,{"roleName":"RATE_HOLDER","CRID":"56781234"}`, []string{"160223"}},
		{"MID", payer + `,{"roleName":"LABEL_OWNER","CRID":"56781234","manifestMID":"902345678"}`, []string{"160221"}},
		{"manifestMID", payer + `,{"roleName":"LABEL_OWNER","CRID":"56781234","MID":"901234567"}`, []string{"160222"}},
		{"EPS number", `{"roleName":"PAYER","CRID":"56781234","accountType":"EPS"},` + owner, []string{"160224"}},
		{"permit", `{"roleName":"PAYER","CRID":"56781234","accountType":"PERMIT"},` + owner, []string{"160225", "160226"}},
		{"meter", `{"roleName":"PAYER","CRID":"56781234","accountType":"METER"},` + owner, []string{"160289", "160290"}},
		{"account type", `{"roleName":"PAYER","CRID":"56781234","accountType":"CASH"},` + owner, []string{"160390"}},
		{"label provider", payer + "," + owner + `,{"roleName":"LABEL_PROVIDER","CRID":"9999001","accountType":"PERMIT","permitNumber":"1","permitZIP":"22012"}`, []string{"160372"}},
		{"EPA unknown", `{"roleName":"PAYER","CRID":"56781234","accountType":"EPS","accountNumber":"1999999999"},` + owner, []string{"100001"}},
		{"EPA trust", `{"roleName":"PAYER","CRID":"56781234","accountType":"EPS","accountNumber":"1000000007"},` + owner, []string{"100007"}},
		{"CRID not found", payer + `,{"roleName":"LABEL_OWNER","CRID":"11","MID":"901234567","manifestMID":"902345678"}`, []string{uspsbiztest.CodeCRIDNotFound}},
		{"MIDs not enrolled", payer + `,{"roleName":"LABEL_OWNER","CRID":"56781234","MID":"123456","manifestMID":"654321"}`, []string{uspsbiztest.CodeMIDNotEnrolled, uspsbiztest.CodeMIDNotEnrolled}},
		{"platform CRID", payer + "," + owner + `,{"roleName":"PLATFORM","CRID":"1234"}`, []string{uspsbiztest.CodeCRIDNotFound}},
		{"EPA and MID together", `{"roleName":"PAYER","CRID":"56781234","accountType":"EPS","accountNumber":"1000000007"},{"roleName":"LABEL_OWNER","CRID":"56781234","MID":"123456","manifestMID":"902345678"}`, []string{"100007", uspsbiztest.CodeMIDNotEnrolled}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, b := call(t, srv, tok, "POST", "/payments/v3/payment-authorization", `{"roles":[`+tc.roles+`]}`)
			if tc.codes == nil {
				require.Equal(t, 200, res.StatusCode, string(b))
				var out struct {
					Token string `json:"paymentAuthorizationToken"`
				}
				require.NoError(t, json.Unmarshal(b, &out))
				assert.True(t, srv.PaymentTokenValid(out.Token))
				return
			}
			require.Equal(t, 400, res.StatusCode, string(b))
			assert.ElementsMatch(t, tc.codes, codes(t, b))
		})
	}
	res, _ := call(t, srv, tok, "POST", "/payments/v3/payment-authorization", `{`)
	assert.Equal(t, 400, res.StatusCode)
	res, _ = call(t, srv, "nope", "POST", "/payments/v3/payment-authorization", `{}`)
	assert.Equal(t, 401, res.StatusCode)

	// Payment tokens last 8 hours on the fake clock.
	_, b := call(t, srv, tok, "POST", "/payments/v3/payment-authorization", `{"roles":[`+payer+","+owner+`]}`)
	var out struct {
		Token string `json:"paymentAuthorizationToken"`
	}
	require.NoError(t, json.Unmarshal(b, &out))
	srv.Advance(8*time.Hour - time.Second)
	assert.True(t, srv.PaymentTokenValid(out.Token))
	srv.Advance(time.Second)
	assert.False(t, srv.PaymentTokenValid(out.Token))
	assert.False(t, srv.PaymentTokenValid("pat-unknown"))
}

func TestPaymentAccount(t *testing.T) {
	srv, tok := newServer(t)
	res, b := call(t, srv, tok, "GET", "/payments/v3/payment-account/1000000001?accountType=EPS", "")
	require.Equal(t, 200, res.StatusCode)
	assert.JSONEq(t, `{"accountType":"EPS","accountNumber":"1000000001","nonProfitStatus":false}`, string(b))
	res, b = call(t, srv, tok, "GET", "/payments/v3/payment-account/1000000007?accountType=EPS", "")
	require.Equal(t, 400, res.StatusCode)
	assert.Equal(t, []string{"100007"}, codes(t, b))
	res, b = call(t, srv, tok, "GET", "/payments/v3/payment-account/1000000001", "")
	require.Equal(t, 400, res.StatusCode)
	assert.Equal(t, []string{"160220"}, codes(t, b))
	res, b = call(t, srv, tok, "GET", "/payments/v3/payment-account/1?accountType=PERMIT", "")
	require.Equal(t, 400, res.StatusCode)
	assert.Equal(t, []string{"160215"}, codes(t, b))
	res, _ = call(t, srv, tok, "GET", "/payments/v3/payment-account/1000000001?accountType=EPS&amount=x", "")
	assert.Equal(t, 400, res.StatusCode)

	require.Error(t, srv.AddEPA("nobody", uspsbiztest.EPA{AccountNumber: "1"}))
	require.Error(t, srv.SetEPAState("nope", uspsbiztest.EPAActive))
	require.NoError(t, srv.SetEPAState("1000000001", uspsbiztest.EPACardUnavailable))
	_, b = call(t, srv, tok, "GET", "/payments/v3/payment-account/1000000001?accountType=EPS", "")
	assert.Equal(t, []string{"100005"}, codes(t, b))
	require.Error(t, srv.VerifyMicroDebits("nope", 1, 2))
}

func TestQuota429(t *testing.T) {
	srv, tok := newServer(t)
	srv.SetQuota("payments", 2)
	for range 2 {
		res, _ := call(t, srv, tok, "GET", "/payments/v3/payment-account/1000000001?accountType=EPS", "")
		require.Equal(t, 200, res.StatusCode)
	}
	srv.Advance(10 * time.Minute)
	res, b := call(t, srv, tok, "GET", "/payments/v3/payment-account/1000000001?accountType=EPS", "")
	require.Equal(t, 429, res.StatusCode)
	assert.Equal(t, "3000", res.Header.Get("Retry-After"))
	var e uspsErr
	require.NoError(t, json.Unmarshal(b, &e))
	assert.Equal(t, "/payments/v3", e.APIVersion)
	assert.Equal(t, "429", e.Error.Code)
	require.Len(t, e.Error.Errors, 1)
	assert.Equal(t, "Public Access I", e.Error.Errors[0].Source.APIProduct)
	assert.Equal(t, "API product or default", e.Error.Errors[0].Source.Parameter)
	// Other APIs are not limited.
	res, _ = call(t, srv, tok, "GET", "/tracking/v3/tracking/9400100000000000000001", "")
	assert.Equal(t, 404, res.StatusCode)
	srv.Advance(50 * time.Minute)
	res, _ = call(t, srv, tok, "GET", "/payments/v3/payment-account/1000000001?accountType=EPS", "")
	assert.Equal(t, 200, res.StatusCode)
	srv.SetQuota("payments", 0)
	for range 3 {
		res, _ = call(t, srv, tok, "GET", "/payments/v3/payment-account/1000000001?accountType=EPS", "")
		assert.Equal(t, 200, res.StatusCode)
	}
}

func TestPricesVerbatimAndExact(t *testing.T) {
	srv, tok := newServer(t)
	require.Error(t, srv.SetPublishedPrices(uspsbiztest.Price{MailClass: "X", Price: "9,35"}))
	require.Error(t, srv.SetPublishedPrices(uspsbiztest.Price{Price: "1"}))
	require.Error(t, srv.SetContractPrices("1", uspsbiztest.Price{MailClass: "X", Price: "1", Fees: []uspsbiztest.Fee{{Price: "x"}}}))
	require.Error(t, srv.SetExtraServicePrices(uspsbiztest.ExtraServicePrice{Code: 920, Price: ""}))
	require.NoError(t, srv.SetPublishedPrices(uspsbiztest.Price{MailClass: "PRIORITY_MAIL", Price: "0.1", Fees: []uspsbiztest.Fee{{Name: "f", Price: "0.2"}}},
		uspsbiztest.Price{MailClass: "MEDIA_MAIL", Price: "1e2"}))
	q := `{"originZIPCode":"22407","destinationZIPCode":"63118","weight":1,"length":1,"width":1,"height":1,"mailClass":"%s","processingCategory":"MACHINABLE","rateIndicator":"SP","destinationEntryFacilityType":"NONE","priceType":"COMMERCIAL"}`
	res, b := call(t, srv, tok, "POST", "/prices/v3/base-rates/search", strings.Replace(q, "%s", "PRIORITY_MAIL", 1))
	require.Equal(t, 200, res.StatusCode, string(b))
	assert.Contains(t, string(b), `"totalBasePrice":0.30}`, "exact sum, not 0.30000000000000004")
	assert.Contains(t, string(b), `"price":0.1,`)
	_, b = call(t, srv, tok, "POST", "/prices/v3/base-rates/search", strings.Replace(q, "%s", "MEDIA_MAIL", 1))
	assert.Contains(t, string(b), `"price":1e2`)
	assert.Contains(t, string(b), `"totalBasePrice":100.00`)
	res, b = call(t, srv, tok, "POST", "/prices/v3/base-rates/search", `{"originZIPCode":"1"}`)
	assert.Equal(t, 400, res.StatusCode)
	assert.Equal(t, []string{"030010"}, codes(t, b))
}

func TestZone(t *testing.T) {
	assert.Equal(t, "01", uspsbiztest.Zone("22407", "22401"))
	assert.Equal(t, "06", uspsbiztest.Zone("22407", "63118"))
	assert.Equal(t, "09", uspsbiztest.Zone("02540", "99501"))
	assert.Equal(t, "09", uspsbiztest.Zone("", "99501"))
}

func TestReplacingAnAccountDropsItsOldEPAs(t *testing.T) {
	srv := uspsbiztest.NewServer(t, uspsbiztest.WithBusinessAccount(uspsbiztest.BusinessAccount{
		Username: "u", EPAs: []uspsbiztest.EPA{{AccountNumber: "1000000001"}, {AccountNumber: "1000000002"}}}))
	srv.AddBusinessAccount(uspsbiztest.BusinessAccount{Username: "u", EPAs: []uspsbiztest.EPA{{AccountNumber: "1000000002"}}})
	_, ok := srv.EPA("1000000001")
	require.False(t, ok, "the replaced account's EPA is gone")
	_, ok = srv.EPA("1000000002")
	require.True(t, ok)
}

// TestPaymentModelRoles: the platform paying from its own EPA with the
// customer's EPA as rate card only; return labels need a MID enrolled for
// returns; every request is recorded with its roles and codes.
func TestPaymentModelRoles(t *testing.T) {
	srv, tok := newServer(t,
		uspsbiztest.WithBusinessAccount(uspsbiztest.BusinessAccount{Username: "u", Password: "p", CRID: "56781234",
			MIDs: []string{"901234567"}, ManifestMIDs: []string{"902345678"}, ReturnsMIDs: []string{"903456789"},
			EPAs: []uspsbiztest.EPA{{AccountNumber: "1000000001"}, {AccountNumber: "1000000003", State: uspsbiztest.EPANoPaymentMethod}}}),
		uspsbiztest.WithBusinessAccount(uspsbiztest.BusinessAccount{Username: "platform", Password: "p", CRID: "9999001",
			EPAs: []uspsbiztest.EPA{{AccountNumber: "1000000900"}}}))
	const (
		owner    = `{"roleName":"LABEL_OWNER","CRID":"56781234","MID":"901234567","manifestMID":"902345678"}`
		platform = `{"roleName":"PLATFORM","CRID":"9999001"}`
		rateCard = `{"roleName":"RATE_HOLDER","CRID":"56781234","accountType":"EPS","accountNumber":"1000000003"}`
	)
	for _, tc := range []struct {
		name, roles string
		status      int
		codes       []string
	}{
		{"customer pays with an unfunded EPA", `{"roleName":"PAYER","CRID":"56781234","accountType":"EPS","accountNumber":"1000000003"},` + rateCard + "," + owner + "," + platform, 400, []string{"100003"}},
		{"platform pays, unfunded rate card", `{"roleName":"PAYER","CRID":"9999001","accountType":"EPS","accountNumber":"1000000900"},` + rateCard + "," + owner + "," + platform, 200, nil},
		{"platform's EPA under the customer's CRID", `{"roleName":"PAYER","CRID":"56781234","accountType":"EPS","accountNumber":"1000000900"},` + rateCard + "," + owner + "," + platform, 400, []string{"169903"}},
		{"returns with the returns MID", `{"roleName":"PAYER","CRID":"9999001","accountType":"EPS","accountNumber":"1000000900"},` + rateCard + "," + owner +
			`,{"roleName":"RETURN_LABEL_OWNER","CRID":"56781234","MID":"903456789","manifestMID":"902345678"},` + platform, 200, nil},
		{"returns with an outbound MID", `{"roleName":"PAYER","CRID":"9999001","accountType":"EPS","accountNumber":"1000000900"},` + rateCard + "," + owner +
			`,{"roleName":"RETURN_LABEL_OWNER","CRID":"56781234","MID":"901234567","manifestMID":"902345678"},` + platform, 400, []string{"169902"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(srv.PaymentAuthorizations())
			res, _ := call(t, srv, tok, "POST", "/payments/v3/payment-authorization", `{"roles":[`+tc.roles+`]}`)
			assert.Equal(t, tc.status, res.StatusCode)
			auths := srv.PaymentAuthorizations()
			require.Len(t, auths, n+1)
			assert.Equal(t, tc.codes, auths[n].Codes)
			p, ok := auths[n].Role("PAYER")
			require.True(t, ok)
			assert.NotEmpty(t, p.AccountNumber)
		})
	}
}
