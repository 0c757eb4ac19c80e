package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/linking"
)

func startDemoWith(t *testing.T, pay linking.PaymentModel) *demo {
	t.Helper()
	d, err := startDemo(context.Background(), "127.0.0.1:0", filepath.Join(t.TempDir(), "test.db"), pay, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, d.Close()) })
	return d
}

// TestPlatformPaysDemo: with -payer platform, the form says the EPS
// account only holds the NSA prices, asks for no returns MID, and an EPA
// without a payment method links; the fake saw the platform's EPA as PAYER.
func TestPlatformPaysDemo(t *testing.T) {
	d := startDemoWith(t, linking.PaymentModel{Payer: linking.PayerPlatform, PlatformEPS: epaPlatform})
	w := linkedWalker(t, d)
	p, err := w.get(d.URL + "/settings/usps")
	require.NoError(t, err)
	assert.Contains(t, p.text("help-eps"), "pays the postage: this account is not charged")
	assert.NotContains(t, p.body, `name="returns_mid"`)
	assert.Contains(t, p.body, `name="nsa_contract"`)

	p, err = w.saveCredentials(demoMID, epaNoPayment)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, p.status)
	st, err := d.nsa.linker.Status(t.Context(), demoAccountID)
	require.NoError(t, err)
	assert.Equal(t, linking.StateApprovalPending, st.State, "pending only for the contract: no action needed")
	assert.Equal(t, linking.ReasonContractNotEffective, st.Reason)
	auths := d.usps.PaymentAuthorizations()
	require.NotEmpty(t, auths)
	payer, _ := auths[len(auths)-1].Role("PAYER")
	assert.Equal(t, epaPlatform, payer.AccountNumber)
	assert.Equal(t, platformCRID, payer.CRID)

	p, err = w.saveCredentials(demoMID, epaActive)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, p.status)
	st, err = d.nsa.linker.Status(t.Context(), demoAccountID)
	require.NoError(t, err)
	assert.Equal(t, linking.StateActive, st.State)
}

// TestReturnsDemo: with -returns the form asks for the returns MID and
// refuses to save without it.
func TestReturnsDemo(t *testing.T) {
	d := startDemoWith(t, linking.PaymentModel{Returns: true})
	w := linkedWalker(t, d)
	p, err := w.get(d.URL + "/settings/usps")
	require.NoError(t, err)
	assert.Contains(t, p.body, `name="returns_mid"`)
	assert.Contains(t, p.text("help-eps"), "pays your postage")

	p, err = w.post(d.URL+"/settings/usps/credentials", map[string][]string{"crid": {demoCRID}, "mid": {demoMID}, "eps": {epaActive}})
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnprocessableEntity, p.status)
	assert.Contains(t, p.text("err-returns_mid"), "required")

	p, err = w.saveCredentials(demoMID, epaActive) // sends the returns MID
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, p.status)
	st, err := d.nsa.linker.Status(t.Context(), demoAccountID)
	require.NoError(t, err)
	assert.Equal(t, linking.StateActive, st.State, st.LastError)
	assert.Equal(t, demoReturnsMID, st.ReturnsMID)
	auths := d.usps.PaymentAuthorizations()
	ro, ok := auths[len(auths)-1].Role("RETURN_LABEL_OWNER")
	require.True(t, ok)
	assert.Equal(t, demoReturnsMID, ro.MID)
}

func TestPayerFlag(t *testing.T) {
	err := run(t.Context(), []string{"-payer", "nobody"}, io.Discard)
	assert.ErrorContains(t, err, "want customer or platform")
	err = run(t.Context(), []string{"-payer", "platform", "-walkthrough"}, io.Discard)
	assert.ErrorContains(t, err, "customer-pays journey")
}
