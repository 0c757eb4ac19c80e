package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWalkthrough(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := filepath.Join(t.TempDir(), "walk.db")
	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"-walkthrough", "-db", db}, &out), out.String())
	t.Log("\n" + out.String())

	for _, want := range []string{
		"1. Signed in to Acme Ship as pat@acme.example.",
		`pop-up "Connect your USPS business account to keep your NSA rates. Click See Guidelines to begin." (Your USPS business account)`,
		`banner "Connect your USPS business account to Acme Ship to access NSA rates." with See Guidelines`,
		`"Connect USPS Business Account" with 5 steps`,
		`"Grant Acme Ship Access"`,
		`"Successful Integration"`,
		`Clicked "Go to Acme Ship" → back at Acme Ship`,
		`Saved MID "90123" → rejected with "MID: must be 6 or 9 digits, not 5"`,
		"(ACH pending) → Action required: Your Enterprise Payment Account is not active yet.",
		"verified the micro-debits",
		`Saved again → banner "USPS business account approval pending"`,
		"the sample label is still commercial $13.40",
		"Link active: NSA rate $10.99 vs commercial $13.40",
		"Bought the sample label 9205",
		"vs NSA quote $10.99 (as quoted); label image 400x600 PNG",
		"Walkthrough complete.",
	} {
		assert.Contains(t, out.String(), want)
	}

	// The demo's sealing key sits beside the database, private.
	fi, err := os.Stat(db + ".key")
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db.key")
	k1, err := loadOrCreateKey(path)
	require.NoError(t, err)
	require.Len(t, k1, 32)
	k2, err := loadOrCreateKey(path)
	require.NoError(t, err)
	assert.Equal(t, k1, k2, "a restart must open the tokens already stored")

	require.NoError(t, os.WriteFile(path, []byte("not hex\n"), 0o600))
	_, err = loadOrCreateKey(path)
	assert.ErrorContains(t, err, "want 64 hex digits")
}

func TestLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:8080", "localhost:0"} {
		assert.NoError(t, checkLoopback(addr), addr)
	}
	for _, addr := range []string{"0.0.0.0:8080", ":8080", "192.0.2.1:80", "example.com:80"} {
		assert.Error(t, checkLoopback(addr), addr)
	}
}

// startTestDemo runs the demo on a throwaway database.
func startTestDemo(t *testing.T) *demo {
	t.Helper()
	d, err := startDemo(context.Background(), "127.0.0.1:0", filepath.Join(t.TempDir(), "test.db"), linking.PaymentModel{}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, d.Close()) })
	return d
}

// linkedWalker is a signed-in browser stand-in whose account has been
// through the USPS consent, waiting for CRID, MID and EPS.
func linkedWalker(t *testing.T, d *demo) *walker {
	t.Helper()
	w := newWalker(t.Context(), d, io.Discard)
	require.NoError(t, w.signIn())
	require.NoError(t, w.authorizeAtUSPS())
	return w
}

func TestCrossSitePostsRejected(t *testing.T) {
	d := startTestDemo(t)
	w := linkedWalker(t, d)
	for _, path := range []string{
		"/usps/start", "/usps/credentials", "/usps/unlink", // nsalink's handler
		"/settings/usps/credentials", "/dashboard/dismiss-popup", "/signout", // the host's own
		"/demo/usps-portal/verify", "/demo/usps-portal/contract",
	} {
		for name, header := range map[string]http.Header{
			"Sec-Fetch-Site": {"Sec-Fetch-Site": {"cross-site"}},
			"Origin":         {"Origin": {"https://evil.example"}},
		} {
			req, err := http.NewRequest(http.MethodPost, d.URL+path, strings.NewReader(url.Values{
				"crid": {demoCRID}, "mid": {demoMID}, "eps": {epaActive}, "epa": {epaPendingACH}}.Encode()))
			require.NoError(t, err)
			req.Header = header
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := w.hc.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusForbidden, resp.StatusCode, "%s with a cross-site %s", path, name)
		}
	}
	// Nothing happened: still waiting for credentials, and still signed in.
	st, err := d.nsa.linker.Status(t.Context(), demoAccountID)
	require.NoError(t, err)
	assert.Equal(t, linking.StateAwaitingCredentials, st.State)
	assert.False(t, d.usps.hasContract(epaPendingACH))
	p, err := w.get(d.URL + "/settings/usps")
	require.NoError(t, err)
	assert.Equal(t, "/settings/usps", p.url.Path, "still signed in")

	// A same-origin browser POST passes.
	req, err := http.NewRequest(http.MethodPost, d.URL+"/dashboard/dismiss-popup", nil)
	require.NoError(t, err)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", d.URL)
	resp, err := w.hc.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "/dashboard", resp.Request.URL.Path)
}

func TestBadInputGetsClearMessages(t *testing.T) {
	d := startTestDemo(t)
	w := linkedWalker(t, d)

	p, err := w.post(d.URL+"/settings/usps/credentials", url.Values{
		"crid": {"12a"}, "mid": {"90123"}, "manifest_mid": {"123456789"}, "eps": {"12345"}})
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnprocessableEntity, p.status)
	assert.Equal(t, "Please correct the fields marked below; nothing was saved.", p.text("error"))
	assert.Equal(t, "CRID: must contain only digits", p.text("err-crid"))
	assert.Equal(t, "MID: must be 6 or 9 digits, not 5", p.text("err-mid"))
	assert.Equal(t, "manifest MID: a 9-digit MID must start with 9", p.text("err-manifest_mid"))
	assert.Contains(t, p.text("err-eps"), "EPS account")
	assert.Contains(t, p.body, `id="mid" name="mid" value="90123"`, "what was typed stays in the form")
	assert.NotContains(t, p.body, `value="12345"`, "the EPS number is never echoed")

	// An EPA without a payment method: the guidance says what to do.
	p, err = w.saveCredentials(demoMID, epaNoPayment)
	require.NoError(t, err)
	assert.Equal(t, "Your Enterprise Payment Account has no payment method. Add a credit card or ACH debit in the USPS Business Portal.", p.text("action-text"))
	assert.Empty(t, p.text("error"), "a verdict is not an outage: no 'could not finish checking'")

	// Wrong micro-debits.
	p, err = w.post(d.URL+"/demo/usps-portal/verify", url.Values{"epa": {epaPendingACH}, "amount1": {"0.00"}, "amount2": {"abc"}})
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnprocessableEntity, p.status)
	assert.Equal(t, "Enter both amounts in dollars, each under $1.00, like 0.32.", p.text("error"))
	debits, _ := d.usps.microDebits(epaPendingACH)
	p, err = w.post(d.URL+"/demo/usps-portal/verify", url.Values{"epa": {epaPendingACH},
		"amount1": {cents(debits[0]%99 + 1)}, "amount2": {cents(debits[1]%99 + 1)}})
	require.NoError(t, err)
	assert.Contains(t, p.text("error"), "do not match")

	// A wrong password at sign-in.
	p, err = newWalker(t.Context(), d, io.Discard).post(d.URL+"/signin", url.Values{"email": {demoEmail}, "password": {"nope"}})
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, p.status)
	assert.Contains(t, p.text("error"), "That email and password do not match.")
}

func TestCredentialsBeforeLinking(t *testing.T) {
	d := startTestDemo(t)
	w := newWalker(t.Context(), d, io.Discard)
	require.NoError(t, w.signIn())
	p, err := w.saveCredentials(demoMID, epaActive)
	require.NoError(t, err)
	assert.Equal(t, http.StatusConflict, p.status)
	assert.Contains(t, p.text("error"), "Link your USPS business account first")
}

func TestNothingReflectedUnescaped(t *testing.T) {
	d := startTestDemo(t)
	w := linkedWalker(t, d)
	const evil = `"><script>alert(1)</script>`

	p, err := w.post(d.URL+"/settings/usps/credentials", url.Values{"crid": {evil}, "mid": {evil}, "manifest_mid": {evil}, "eps": {evil}})
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnprocessableEntity, p.status)
	assert.NotContains(t, p.body, "<script")
	assert.Contains(t, p.body, `value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`)

	p, err = newWalker(t.Context(), d, io.Discard).post(d.URL+"/signin", url.Values{"email": {evil}, "password": {"x"}})
	require.NoError(t, err)
	assert.NotContains(t, p.body, "<script")
	assert.Contains(t, p.body, "&lt;script&gt;")

	u := newWalker(t.Context(), d, io.Discard) // callback errors show only while the account has no grant: unlink it
	require.NoError(t, u.signIn())
	require.NoError(t, d.nsa.unlink(t.Context(), demoAccountID, "test"))
	p, err = u.get(d.URL + "/settings/usps?link_error=" + url.QueryEscape(evil))
	require.NoError(t, err)
	assert.NotContains(t, p.body, "<script")
	assert.Equal(t, "Linking did not complete. Please link your business account again.", p.text("error"))
}

// A USPS failure while saving is not the customer's: the credentials stay
// saved and pending, and the reconciler finishes the check later.
func TestUSPSOutageWhileSaving(t *testing.T) {
	d := startTestDemo(t)
	w := linkedWalker(t, d)
	d.usps.InjectFault(uspsbiztest.Fault{Match: "/payments", Status: http.StatusForbidden, Times: -1})
	p, err := w.saveCredentials(demoMID, epaActive)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, p.status)
	assert.Equal(t, "Saved. We could not finish checking with USPS and will try again automatically.", p.text("error"))
	assert.Equal(t, "USPS business account approval pending", p.text("banner-text"))

	d.usps.ClearFaults()
	assert.Eventually(t, func() bool {
		st, err := d.nsa.linker.Status(t.Context(), demoAccountID)
		return err == nil && st.State == linking.StateActive
	}, 20*time.Second, 100*time.Millisecond, "the reconciler activates the link")
}

// TestEveryPageConsistent walks every state of the link over HTTP and
// checks the dashboard and the settings page in each: no message of another
// state, no control that does not apply, nothing said twice. The replayed
// callback and Unlink are part of the walk.
func TestEveryPageConsistent(t *testing.T) {
	d := startTestDemo(t)
	w := newWalker(t.Context(), d, io.Discard)
	require.NoError(t, w.signIn())
	check := func(name, path string, want linking.State) *page {
		t.Helper()
		p, err := w.get(d.URL + path)
		require.NoError(t, err)
		ps := stateOf(p)
		require.Equal(t, want, ps.State, "%s: %s", name, p.summary())
		assert.NotEmpty(t, ps.Messages, name)
		assertConsistent(t, name, ps)
		return p
	}
	both := func(name string, want linking.State) {
		t.Helper()
		check(name+": dashboard", "/dashboard", want)
		check(name+": settings", "/settings/usps", want)
	}

	p := check("unlinked: dashboard with the pop-up", "/dashboard", linking.StateUnlinked)
	assert.Contains(t, p.body, `id="popup"`)
	both("unlinked", linking.StateUnlinked)
	p = check("unlinked: a cancelled sign-in", "/settings/usps?link_error=access_denied", linking.StateUnlinked)
	assert.Contains(t, p.text("error"), "You cancelled at USPS")

	require.NoError(t, w.authorizeAtUSPS())
	p = check("connected: back from USPS", "/settings/usps?linked=1", linking.StateAwaitingCredentials)
	assert.Equal(t, "Your USPS business account is connected.", p.text("notice"))
	assert.Equal(t, "One last step to NSA rates: enter your CRID, MID and EPS number.", p.text("banner-text"))
	both("awaiting credentials", linking.StateAwaitingCredentials)

	p, err := w.saveCredentials(demoMID, epaPendingACH)
	require.NoError(t, err)
	assertConsistent(t, "action required: after saving", stateOf(p))
	assert.Empty(t, p.text("banner-text"), "the action is shown once, not as a banner too")
	both("action required", linking.StateActionRequired)

	debits, _ := d.usps.microDebits(epaPendingACH)
	require.NoError(t, d.usps.VerifyMicroDebits(epaPendingACH, debits[0], debits[1]))
	p, err = w.saveCredentials(demoMID, epaPendingACH)
	require.NoError(t, err)
	assertConsistent(t, "approval pending: after saving", stateOf(p))
	both("approval pending", linking.StateApprovalPending)

	require.NoError(t, d.usps.makeContractEffective(epaPendingACH))
	require.Eventually(t, func() bool {
		st, err := d.nsa.linker.Status(t.Context(), demoAccountID)
		return err == nil && st.State == linking.StateActive
	}, 20*time.Second, 50*time.Millisecond, "the reconciler activates the link")
	both("active", linking.StateActive)

	// The browser's back button replays USPS's redirect: the code is spent,
	// the link stays active, and the page does not say otherwise.
	p, err = w.get(w.callbackURL)
	require.NoError(t, err)
	assert.Equal(t, "state_used", p.url.Query().Get("link_error"))
	ps := stateOf(p)
	assert.Equal(t, linking.StateActive, ps.State)
	assertConsistent(t, "active: replayed callback", ps)
	assert.Empty(t, p.text("error"))
	assert.NotEmpty(t, p.text("active"))

	// Unlink, through the form.
	p, err = w.post(d.URL+"/settings/usps/unlink", nil)
	require.NoError(t, err)
	assert.Equal(t, "/settings/usps", p.url.Path)
	ps = stateOf(p)
	assert.Equal(t, linking.StateUnlinked, ps.State)
	assertConsistent(t, "unlinked again", ps)
	assert.Equal(t, "Your USPS business account is unlinked: labels are priced at commercial rates until you link it again.", p.text("notice"))
	st, err := d.nsa.linker.Status(t.Context(), demoAccountID)
	require.NoError(t, err)
	assert.Equal(t, linking.StateUnlinked, st.State)
	assert.False(t, st.NSARatesApply)
	p = check("unlinked again: dashboard", "/dashboard", linking.StateUnlinked)
	assert.NotEmpty(t, p.text("quote-note"), "the sample label is commercial again")
	assert.Empty(t, p.text("quote-nsa"))
	// A stale "linked" or "unlinked" URL says nothing that no longer holds.
	p = check("unlinked: a stale ?linked=1", "/settings/usps?linked=1", linking.StateUnlinked)
	assert.Empty(t, p.text("notice"))
}
