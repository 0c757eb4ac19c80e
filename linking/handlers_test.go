package linking_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// host mounts the flow's handlers the way a platform would: under a prefix,
// with the signed-in account taken from its own session cookie.
func host(t *testing.T, e *env) *httptest.Server {
	t.Helper()
	h, err := e.linker.Handler(linking.HandlerOptions{
		Identify: func(r *http.Request) (string, string, bool) {
			c, err := r.Cookie("sid")
			if err != nil {
				return "", "", false
			}
			return account, c.Value, true
		},
		ReturnTo: "/settings/usps",
	})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/usps/", http.StripPrefix("/usps", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func browser(t *testing.T, srv *httptest.Server) *http.Client {
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(srv.URL)
	jar.SetCookies(u, []*http.Cookie{{Name: "sid", Value: session}})
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func getJSON(t *testing.T, c *http.Client, u string) (int, map[string]any) {
	t.Helper()
	res, err := c.Get(u)
	require.NoError(t, err)
	defer res.Body.Close()
	var m map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&m))
	return res.StatusCode, m
}

func TestHandlersWalkTheFlow(t *testing.T) {
	e := newEnv(t, nil)
	srv := host(t, e)
	c := browser(t, srv)

	status, body := getJSON(t, c, srv.URL+"/usps/status")
	require.Equal(t, 200, status)
	assert.Equal(t, "unlinked", body["state"])
	assert.Equal(t, true, body["show_popup"])
	assert.Equal(t, "banner.connect", body["banner"].(map[string]any)["key"])
	assert.Contains(t, body["banner"].(map[string]any)["text"], "Acme Ship")
	assert.Len(t, body["steps"], 5)

	res, err := c.PostForm(srv.URL+"/usps/start", nil)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	cop := res.Header.Get("Location")
	assert.True(t, strings.HasPrefix(cop, e.srv.COPURL()))

	back, err := e.srv.Authorize(cop, uspsbiztest.Consent{Username: username, Password: password, MFACode: mfaCode})
	require.NoError(t, err)
	cb := srv.URL + "/usps/callback?" + back.RawQuery
	res, err = c.Get(cb)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, "/settings/usps?linked=1", res.Header.Get("Location"))
	assert.Equal(t, "no-referrer", res.Header.Get("Referrer-Policy"))
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))

	res, err = c.Get(cb) // replay
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, "/settings/usps?link_error=state_used", res.Header.Get("Location"))

	res, err = c.PostForm(srv.URL+"/usps/credentials", url.Values{"crid": {"12"}, "mid": {"12345"}, "eps": {"abc"}})
	require.NoError(t, err)
	var bad map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&bad))
	res.Body.Close()
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	fields := bad["fields"].(map[string]any)
	assert.Contains(t, fields, "mid")
	assert.Contains(t, fields, "eps")
	assert.NotContains(t, fields, "crid", "12 is a valid 2-digit CRID")

	status, body = getJSON(t, c, srv.URL+"/usps/status")
	require.Equal(t, 200, status)
	assert.Equal(t, "awaiting_credentials", body["state"], "bad input changed nothing")
}

func TestHandlersRejectCrossSitePost(t *testing.T) {
	e := newEnv(t, nil)
	srv := host(t, e)
	c := browser(t, srv)
	for _, path := range []string{"/usps/start", "/usps/credentials", "/usps/unlink"} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader("crid=1"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Origin", "https://evil.example")
		res, err := c.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, http.StatusForbidden, res.StatusCode, path)
	}
	assert.Zero(t, e.srv.Count("/"), "nothing reached USPS")
}

func TestHandlersNeedSignIn(t *testing.T) {
	e := newEnv(t, nil)
	srv := host(t, e)
	res, err := http.Get(srv.URL + "/usps/status")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
}

func TestCallbackHandlerDoesNotReflectInput(t *testing.T) {
	e := newEnv(t, nil)
	srv := host(t, e)
	c := browser(t, srv)
	res, err := c.Get(srv.URL + "/usps/callback?state=%3Cscript%3E&error=%3Cimg%20src%3Dx%3E")
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	loc := res.Header.Get("Location")
	assert.Equal(t, "/settings/usps?link_error=invalid_state", loc)
	assert.NotContains(t, string(b), "<img")
	assert.NotContains(t, string(b), "<script")
}

func TestHandlerOptionsValidate(t *testing.T) {
	e := newEnv(t, nil)
	_, err := e.linker.Handler(linking.HandlerOptions{})
	assert.Error(t, err)
	id := func(*http.Request) (string, string, bool) { return "", "", false }
	for _, bad := range []string{"https://evil.example/", "//evil.example/x", "relative"} {
		_, err = e.linker.Handler(linking.HandlerOptions{Identify: id, ReturnTo: bad})
		assert.Error(t, err, bad)
	}
}

func TestHandlersStartAsJSONAndUnlink(t *testing.T) {
	e := newEnv(t, nil)
	srv := host(t, e)
	c := browser(t, srv)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/usps/start", nil)
	req.Header.Set("Accept", "application/json")
	res, err := c.Do(req)
	require.NoError(t, err)
	var started map[string]string
	require.NoError(t, json.NewDecoder(res.Body).Decode(&started))
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.True(t, strings.HasPrefix(started["url"], e.srv.COPURL()))
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))

	back, err := e.srv.Authorize(started["url"], uspsbiztest.Consent{Username: username, Password: password, MFACode: mfaCode})
	require.NoError(t, err)
	res, err = c.Get(srv.URL + "/usps/callback?" + back.RawQuery)
	require.NoError(t, err)
	res.Body.Close()

	res, err = c.PostForm(srv.URL+"/usps/unlink", nil)
	require.NoError(t, err)
	var body map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "unlinked", body["state"])
	assert.Equal(t, 1, e.srv.Count("POST /oauth2/v3/revoke"), "the grant is revoked at USPS")

	res, err = c.Post(srv.URL+"/usps/credentials", "application/json", strings.NewReader(`{"crid":"56781234","mid":"901234567","eps":"1000000001"}`))
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusConflict, res.StatusCode, "no credentials without a link")
	res, err = c.Post(srv.URL+"/usps/credentials", "application/json", strings.NewReader(`{"crid":1} trailing`))
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
}

// fieldNames lists the names of a status body's fields, and which are
// required.
func fieldNames(t *testing.T, body map[string]any) (names []string, required map[string]bool, help map[string]string) {
	t.Helper()
	required, help = map[string]bool{}, map[string]string{}
	for _, f := range body["fields"].([]any) {
		m := f.(map[string]any)
		n := m["name"].(string)
		names = append(names, n)
		required[n] = m["required"].(bool)
		help[n] = m["help"].(map[string]any)["key"].(string)
	}
	return names, required, help
}

// TestHandlersAskWhatTheModelNeeds: the status view lists the credential
// fields of the Linker's payment model, and the credentials endpoint takes
// them (returns MID, NSA contract, locations as JSON or as form lists).
func TestHandlersAskWhatTheModelNeeds(t *testing.T) {
	e := newEnv(t, nil)
	srv := host(t, e)
	c := browser(t, srv)
	_, body := getJSON(t, c, srv.URL+"/usps/status")
	names, required, help := fieldNames(t, body)
	assert.Equal(t, []string{"crid", "mid", "manifest_mid", "eps", "nsa_contract", "locations"}, names, "customer pays: no returns MID")
	assert.Equal(t, "field.eps.customer_pays", help["eps"])
	assert.True(t, required["eps"])
	assert.False(t, required["manifest_mid"])

	e = newEnv(t, nil, linking.WithPaymentModel(linking.PaymentModel{Payer: linking.PayerPlatform, PlatformEPS: epsPlatform, Returns: true}))
	srv = host(t, e)
	c = browser(t, srv)
	_, body = getJSON(t, c, srv.URL+"/usps/status")
	names, required, help = fieldNames(t, body)
	assert.Equal(t, []string{"crid", "mid", "manifest_mid", "eps", "returns_mid", "nsa_contract", "locations"}, names)
	assert.True(t, required["returns_mid"])
	assert.Equal(t, "field.eps.platform_pays", help["eps"])
	for _, s := range body["steps"].([]any) {
		step := s.(map[string]any)
		if step["key"] == "payment_account" {
			details := step["details"].([]any)
			require.Len(t, details, 1)
			assert.Equal(t, "payment_account.rate_card", details[0].(map[string]any)["key"], "no payment method asked for")
		}
	}

	e.linkAccount(account)
	// Form: the returns MID is required by this model.
	res, err := c.PostForm(srv.URL+"/usps/credentials", url.Values{"crid": {custCRID}, "mid": {custMID}, "eps": {epsNoMethod}})
	require.NoError(t, err)
	var bad map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&bad))
	res.Body.Close()
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	assert.Equal(t, []string{"returns_mid"}, keys(bad["fields"].(map[string]any)))

	// Form with a location row and an empty row.
	res, err = c.PostForm(srv.URL+"/usps/credentials", url.Values{"crid": {custCRID}, "mid": {custMID}, "eps": {epsNoMethod},
		"returns_mid": {returnsMID}, "nsa_contract": {"NSA-7"},
		"location_label": {"East", ""}, "location_mid": {eastMID, ""}, "location_manifest_mid": {eastManifestMID, ""}, "location_eps": {epsEast, ""}})
	require.NoError(t, err)
	var ok map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&ok))
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, ok)
	assert.Equal(t, "active", ok["state"], "an unfunded rate card is fine when the platform pays")
	assert.Equal(t, []any{"East"}, ok["locations"])
	assert.Equal(t, "NSA-7", ok["nsa_contract"])

	// JSON: a bad location field is named.
	res, err = c.Post(srv.URL+"/usps/credentials", "application/json", strings.NewReader(
		`{"crid":"56781234","mid":"901234567","eps":"1000000001","returns_mid":"903456789","locations":[{"label":"East","mid":"1","eps":"1000000005"}]}`))
	require.NoError(t, err)
	bad = nil
	require.NoError(t, json.NewDecoder(res.Body).Decode(&bad))
	res.Body.Close()
	assert.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
	assert.Equal(t, []string{"locations[0].mid"}, keys(bad["fields"].(map[string]any)))
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
