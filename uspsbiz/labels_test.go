package uspsbiz_test

import (
	"bytes"
	"fmt"
	"image/png"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

func labelReq() *uspsbiz.LabelRequest {
	return &uspsbiz.LabelRequest{
		To:   uspsbiz.LabelAddress{FirstName: "Ada", LastName: "Lovelace", StreetAddress: "4120 Russell Blvd", City: "St Louis", State: "MO", ZIPCode: zipDest},
		From: uspsbiz.LabelAddress{Firm: "Acme Goods", StreetAddress: "1 Main St", City: "Fredericksburg", State: "VA", ZIPCode: zipOrigin},
		Package: uspsbiz.LabelPackage{MailClass: "USPS_GROUND_ADVANTAGE", Weight: 2 * usps.Pound,
			Length: 10 * usps.Inch, Width: 8 * usps.Inch, Height: 4 * usps.Inch, MailingDate: testClock},
		Image: uspsbiz.LabelImageInfo{ImageType: "PNG", ReceiptOption: "SEPARATE_PAGE"},
	}
}

// labelsSetup: a fake with prices, a merchant client and a payment token
// of the test customer (PAYER and RATE_HOLDER epsActive, which has a
// contract price of 7.12 where the published one is 9.35).
func labelsSetup(t *testing.T, opts ...uspsbiz.Option) (*uspsbiztest.Server, *uspsbiz.Client, uspsbiz.Secret) {
	t.Helper()
	srv := newPricesFake(t)
	m, pat := merchant(t, srv, newClient(t, srv, opts...))
	return srv, m, pat
}

// merchant links the test customer and authorizes a payment: fresh tokens
// on the fake's current clock.
func merchant(t *testing.T, srv *uspsbiztest.Server, c *uspsbiz.Client) (*uspsbiz.Client, uspsbiz.Secret) {
	t.Helper()
	tok := link(t, srv, c, "")
	pa, err := c.AuthorizePayment(t.Context(), allRoles(t))
	require.NoError(t, err)
	return c.ForMerchant(oauth2.StaticTokenSource(tok.OAuth2())), pa.Token
}

func TestCreateLabel(t *testing.T) {
	srv, m, pat := labelsSetup(t)
	ctx := t.Context()
	key := uspsbiz.NewIdempotencyKey()
	lbl, err := m.CreateLabel(ctx, pat, key, labelReq())
	require.NoError(t, err)
	md := lbl.Metadata
	assert.Len(t, md.TrackingNumber, 22)
	assert.Equal(t, usps.Cents(712), md.Postage, "the contract price of the rate holder")
	assert.Equal(t, "DUXP0XXXXN01050", md.SKU)
	assert.Equal(t, uspsbiztest.Zone(zipOrigin, zipDest), md.Zone)
	assert.Equal(t, "image/png", lbl.ImageType)
	_, err = png.Decode(bytes.NewReader(lbl.Image))
	require.NoError(t, err, "the label image is a decoded PNG")
	assert.True(t, bytes.HasPrefix(lbl.Receipt, []byte("%PDF")))
	assert.Equal(t, key, lbl.IdempotencyKey)

	// The same key with the same payload: the same label, no second charge.
	again, err := m.CreateLabel(ctx, pat, key, labelReq())
	require.NoError(t, err)
	assert.Equal(t, md.TrackingNumber, again.Metadata.TrackingNumber)
	assert.Equal(t, 1, srv.ChargedLabels())

	// The same key with another payload: USPS's refusal, typed.
	other := labelReq()
	other.Package.Weight = 3 * usps.Pound
	_, err = m.CreateLabel(ctx, pat, key, other)
	require.ErrorIs(t, err, uspsbiz.ErrIdempotencyKeyReused)
	var ae *uspsbiz.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 400, ae.StatusCode)
	assert.Equal(t, 1, srv.ChargedLabels())

	// The request went out with both headers.
	reqs := srv.Requests()
	last := reqs[len(reqs)-1]
	assert.Equal(t, key, last.Header.Get("X-Idempotency-Key"))
	assert.Equal(t, pat.Reveal(), last.Header.Get("X-Payment-Authorization-Token"))

	// The documented 201 (USPS really answers 200) with a JSON answer
	// carrying base64 fields: read the same way.
	srv.InjectFault(uspsbiztest.Fault{Match: "POST /labels/v3/label", Status: 201,
		Body: `{"labelMetadata":{"trackingNumber":"9205500000000000000077","postage":7.12,"SKU":"DUXP0XXXXN01050","zone":"05"},"labelImage":"aGk="}`})
	j, err := m.CreateLabel(ctx, pat, uspsbiz.NewIdempotencyKey(), labelReq())
	require.NoError(t, err)
	assert.Equal(t, "9205500000000000000077", j.Metadata.TrackingNumber)
	assert.Equal(t, usps.Cents(712), j.Metadata.Postage)
	assert.Equal(t, []byte("hi"), j.Image)
}

func TestCreateLabelRefusedLocally(t *testing.T) {
	srv, m, pat := labelsSetup(t)
	n := srv.Count("/labels/")
	for name, mut := range map[string]func(*uspsbiz.LabelRequest){
		"no name":       func(r *uspsbiz.LabelRequest) { r.To.FirstName, r.To.Firm = "", "" },
		"bad ZIP":       func(r *uspsbiz.LabelRequest) { r.From.ZIPCode = "123" },
		"too heavy":     func(r *uspsbiz.LabelRequest) { r.Package.Weight = 71 * usps.Pound },
		"no date":       func(r *uspsbiz.LabelRequest) { r.Package.MailingDate = time.Time{} },
		"bad imageType": func(r *uspsbiz.LabelRequest) { r.Image.ImageType = "BMP" },
	} {
		r := labelReq()
		mut(r)
		_, err := m.CreateLabel(t.Context(), pat, uspsbiz.NewIdempotencyKey(), r)
		var re *uspsbiz.LabelRequestError
		require.ErrorAs(t, err, &re, name)
	}
	_, err := m.CreateLabel(t.Context(), pat, "", labelReq())
	require.Error(t, err, "no key")
	_, err = m.CreateLabel(t.Context(), pat, "not-a-uuid", labelReq())
	require.Error(t, err, "bad key")
	_, err = m.CreateLabel(t.Context(), "", uspsbiz.NewIdempotencyKey(), labelReq())
	require.Error(t, err, "no payment token")
	assert.Equal(t, n, srv.Count("/labels/"), "nothing sent")
}

// A purchase whose answer is lost after USPS charged is recovered by the
// retry under the same key: one label, one charge.
func TestCreateLabelRecoversAfterCharge(t *testing.T) {
	// The hang is ended by the per-attempt timeout: 1.5 s, far above a
	// loopback call even on a loaded machine, so the retry is never cut.
	for kind, timeout := range map[uspsbiztest.LabelFaultKind]time.Duration{
		uspsbiztest.LabelHangAfterCharge: 1500 * time.Millisecond, uspsbiztest.LabelDropAfterCharge: 30 * time.Second} {
		srv, m, pat := labelsSetup(t, uspsbiz.WithHTTPClient(&http.Client{Timeout: timeout}))
		srv.InjectLabelFault(uspsbiztest.LabelFault{Kind: kind})
		lbl, err := m.CreateLabel(t.Context(), pat, uspsbiz.NewIdempotencyKey(), labelReq())
		require.NoError(t, err)
		assert.Equal(t, 2, srv.Count("POST /labels/v3/label"), "one retry")
		assert.Equal(t, 1, srv.ChargedLabels())
		assert.Equal(t, lbl.Metadata.TrackingNumber, srv.LabelCharges()[0].TrackingNumber)
	}
}

func TestCancelLabelByTheClock(t *testing.T) {
	srv, m, pat := labelsSetup(t)
	ctx := t.Context()
	buy := func(immediate bool) *uspsbiz.Label {
		r := labelReq()
		r.ImmediateManifest = immediate
		l, err := m.CreateLabel(ctx, pat, uspsbiz.NewIdempotencyKey(), r)
		require.NoError(t, err)
		return l
	}
	// Before the cutoff a cancel voids.
	a := buy(false)
	res, err := m.CancelLabel(ctx, pat, a.Metadata.TrackingNumber)
	require.NoError(t, err)
	assert.Equal(t, uspsbiz.Cancelled, res.Status)
	assert.Empty(t, res.DisputeID)
	_, err = m.ReprintLabel(ctx, pat, a.Metadata.TrackingNumber, uspsbiz.LabelImageInfo{})
	require.ErrorIs(t, err, uspsbiz.ErrLabelNotReprintable)

	// Immediate manifest: 15 minutes.
	b := buy(true)
	srv.Advance(16 * time.Minute)
	res, err = m.CancelLabel(ctx, pat, b.Metadata.TrackingNumber)
	require.NoError(t, err)
	assert.Equal(t, uspsbiz.Disputed, res.Status)
	assert.NotEmpty(t, res.DisputeID)
	_, err = m.CancelLabel(ctx, pat, b.Metadata.TrackingNumber)
	require.ErrorIs(t, err, uspsbiz.ErrRefundRejected, "one refund request per label and day")

	// Otherwise 12:30 am Central after the mailing date (May: CDT, 05:30 UTC).
	c := buy(false)
	cut := uspsbiz.ManifestCutoff(testClock, srv.Now(), false)
	assert.Equal(t, time.Date(2026, 5, 5, 5, 30, 0, 0, time.UTC), cut)
	srv.SetTime(cut.Add(-time.Second))
	m, pat = merchant(t, srv, newClient(t, srv)) // the day's tokens expired overnight
	rp, err := m.ReprintLabel(ctx, pat, c.Metadata.TrackingNumber, uspsbiz.LabelImageInfo{ImageType: "PDF"})
	require.NoError(t, err)
	assert.Equal(t, "application/pdf", rp.ImageType)
	srv.SetTime(cut)
	res, err = m.CancelLabel(ctx, pat, c.Metadata.TrackingNumber)
	require.NoError(t, err)
	assert.Equal(t, uspsbiz.Disputed, res.Status)

	ch := srv.LabelCharges()
	require.Len(t, ch, 3)
	assert.Equal(t, []string{"CANCELED", "DISPUTED", "DISPUTED"}, []string{ch[0].Status, ch[1].Status, ch[2].Status})
	assert.Equal(t, 2, srv.ChargedLabels())
}

func TestManifestCutoffCentralTime(t *testing.T) {
	chicago, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Skip("no time zone database")
	}
	for d := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2028; d = d.AddDate(0, 0, 1) {
		y, m, dd := d.Date()
		want := time.Date(y, m, dd+1, 0, 30, 0, 0, chicago)
		require.True(t, want.Equal(uspsbiz.ManifestCutoff(d, time.Time{}, false)), "mailing date %s", d.Format(time.DateOnly))
	}
	now := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	assert.Equal(t, now.Add(15*time.Minute), uspsbiz.ManifestCutoff(now, now, true))
}

func TestLabelErrorsTyped(t *testing.T) {
	srv, m, pat := labelsSetup(t)
	for body, want := range map[string]error{
		`{"apiVersion":"/labels/v3","error":{"code":"400","message":"Bad Request","errors":[{"code":"160174","title":"Labels associated with a scan form cannot be canceled"}]}}`: uspsbiz.ErrLabelOnScanForm,
		`{"apiVersion":"/labels/v3","error":{"code":"400","message":"Bad Request","errors":[{"title":"Must be enrolled in USPS Ship Outbound/Returns"}]}}`:                        uspsbiz.ErrNotEnrolledInShip,
		`{"apiVersion":"/labels/v3","error":{"code":"400","message":"Bad Request","errors":[{"title":"An indicia company name must be configured by USPS for manifestMID"}]}}`:    uspsbiz.ErrIndiciaCompanyName,
		`{"apiVersion":"/labels/v3","error":{"code":"400","message":"Bad Request","errors":[{"code":"160001","title":"Mailing date cannot be in the past"}]}}`:                    uspsbiz.ErrMailingDate,
	} {
		srv.InjectFault(uspsbiztest.Fault{Match: "POST /labels/v3/label", Status: 400, Body: body})
		_, err := m.CreateLabel(t.Context(), pat, uspsbiz.NewIdempotencyKey(), labelReq())
		require.ErrorIs(t, err, want)
		var le *uspsbiz.LabelError
		require.ErrorAs(t, err, &le)
		require.NotNil(t, le.Err)
	}
	// A mailing date USPS refuses, from the fake itself.
	r := labelReq()
	r.Package.MailingDate = testClock.AddDate(0, 0, -1)
	_, err := m.CreateLabel(t.Context(), pat, uspsbiz.NewIdempotencyKey(), r)
	require.ErrorIs(t, err, uspsbiz.ErrMailingDate)
	// Unknown tracking number.
	_, err = m.CancelLabel(t.Context(), pat, "9205500000000000000000")
	require.ErrorIs(t, err, uspsbiz.ErrLabelNotFound)
	// An expired payment token is a 401.
	srv.Advance(9 * time.Hour)
	_, err = m.CreateLabel(t.Context(), pat, uspsbiz.NewIdempotencyKey(), labelReq())
	require.ErrorIs(t, err, uspsbiz.ErrUnauthorized)
	assert.Equal(t, 0, srv.ChargedLabels())
}

func TestRaw(t *testing.T) {
	srv, m, _ := labelsSetup(t)
	srv.InjectFault(uspsbiztest.Fault{Match: "GET /addresses/v3/address", Status: 503})
	_, err := m.Raw(t.Context(), uspsbiz.RawRequest{Method: "GET", Path: "/addresses/v3/address", Idempotent: true})
	// The fake does not serve Addresses: after the retried 503, its 404.
	require.ErrorIs(t, err, uspsbiz.ErrNotFound)
	assert.Equal(t, 2, srv.Count("GET /addresses/v3/address"), "retried like a typed idempotent call")
	reqs := srv.Requests()
	assert.Contains(t, reqs[len(reqs)-1].Header.Get("Authorization"), "Bearer ")

	res, err := m.Raw(t.Context(), uspsbiz.RawRequest{Method: "GET", Path: "/tracking/v3/tracking/9400100000000000000001", Route: "/tracking/v3/tracking/{trackingNumber}"})
	var ae *uspsbiz.APIError
	if err != nil {
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, "/tracking/v3/tracking/{trackingNumber}", ae.Route, "errors name the route, not the path")
	} else {
		assert.Equal(t, 200, res.StatusCode)
	}
	_, err = m.Raw(t.Context(), uspsbiz.RawRequest{Method: "GET", Path: "/x", Header: http.Header{"Authorization": {"Bearer stolen"}}})
	require.Error(t, err)
	_, err = m.Raw(t.Context(), uspsbiz.RawRequest{Method: "GET", Path: "x"})
	require.Error(t, err)

	// Budgets apply to Raw too.
	b, err := uspsbiz.New(uspsbiz.WithEnvironment(uspsbiz.Environment(srv.URL)),
		uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: testClientID, ClientSecret: testSecret}),
		uspsbiz.WithBudget("addresses", uspsbiz.Budget{PerHour: 1}))
	require.NoError(t, err)
	_, _ = b.Raw(t.Context(), uspsbiz.RawRequest{Method: "GET", Path: "/addresses/v3/address"})
	_, err = b.Raw(t.Context(), uspsbiz.RawRequest{Method: "GET", Path: "/addresses/v3/address"})
	require.ErrorIs(t, err, uspsbiz.ErrRateLimited)
}

// The payment token and the label's addresses never reach a log line or an
// error's text.
func TestLabelsRedaction(t *testing.T) {
	var logs bytes.Buffer
	srv, m, pat := labelsSetup(t, uspsbiz.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	lbl, err := m.CreateLabel(t.Context(), pat, uspsbiz.NewIdempotencyKey(), labelReq())
	require.NoError(t, err)
	srv.InjectFault(uspsbiztest.Fault{Match: "DELETE /labels/", Status: 400})
	_, err = m.CancelLabel(t.Context(), pat, lbl.Metadata.TrackingNumber)
	require.Error(t, err)
	require.NotEmpty(t, logs.String())
	for _, secret := range []string{pat.Reveal(), "Lovelace", "4120 Russell"} {
		assert.NotContains(t, logs.String(), secret)
		assert.NotContains(t, err.Error(), secret)
	}
	assert.Contains(t, logs.String(), "/labels/v3/label/{trackingNumber}", "routes, not paths")
	assert.NotContains(t, fmt.Sprintf("%v %+v", pat, pat), pat.Reveal())
}

// FuzzLabelResponse: no answer body, however broken, panics the label
// reader; it either yields a label with a tracking number or an error.
func FuzzLabelResponse(f *testing.F) {
	f.Add("multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"labelMetadata\"\r\n\r\n{\"trackingNumber\":\"9205\",\"postage\":1.5}\r\n--b\r\nContent-Disposition: form-data; name=\"labelImage\"\r\n\r\naGk=\r\n--b--\r\n")
	f.Add("application/json", `{"labelMetadata":{"trackingNumber":"1"},"labelImage":"aGk="}`)
	f.Add("multipart/form-data; boundary=b", "--b\r\n\r\n--b--")
	f.Add("text/html", "<html>")
	f.Fuzz(func(t *testing.T, ctype, body string) {
		lbl, err := uspsbiz.ReadLabelResponseForTest(ctype, body)
		if err == nil && lbl.Metadata.TrackingNumber == "" {
			t.Fatal("a label without a tracking number")
		}
	})
}
