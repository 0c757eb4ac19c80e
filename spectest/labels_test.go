package spectest_test

// Labels 3.0 (usps-domestic-labels.yaml 3.9.13): every request the client
// sends is validated against the spec, and every response the fake returns:
// JSON answers (cancel, errors) by the spec's own response validation; the
// multipart label answers part by part (labelMetadata against the
// LabelMetadata schema, images as base64), since kin-openapi does not
// decode multipart responses.
//
// The file's defect (docs/spec-defects.md#xml-example-in-a-json-schema): an
// XML string as an example of a JSON object. The documents are loaded
// without validating them (LoadFromFile does not), so the example never
// runs; TestLabelsSpecXMLExample shows the defect is real.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

func loadLabelsSpec(t *testing.T) *apiSpec {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join(specsDir, "usps-domestic-labels.yaml"))
	require.NoError(t, err)
	fixSpec(doc)
	doc.Servers = nil
	router, err := legacy.NewRouter(doc, openapi3.DisableExamplesValidation()) // the XML example
	require.NoError(t, err)
	return &apiSpec{base: "/labels/v3", doc: doc, router: router}
}

// validateLabelExchange checks one Labels exchange.
func validateLabelExchange(sp *apiSpec, ex exchange) error {
	name := ex.req.Method + " " + ex.req.URL.Path
	req := ex.req.Clone(context.Background())
	req.URL.Path = strings.TrimPrefix(ex.req.URL.Path, sp.base)
	req.URL.RawPath = ""
	req.Body = io.NopCloser(bytes.NewReader(ex.reqBody))
	route, params, err := sp.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("route %s: %w", name, err)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		return fmt.Errorf("request %s %s: %w", name, ex.reqBody, err)
	}
	mt, mparams, _ := mime.ParseMediaType(ex.header.Get("Content-Type"))
	if ex.status/100 == 2 && strings.HasPrefix(mt, "multipart/") {
		return validateLabelParts(sp, ex.body, mparams["boundary"])
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: ex.status, Header: ex.header, Options: opts}
	out.SetBodyBytes(ex.body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return fmt.Errorf("response %s %d %s: %w", name, ex.status, ex.body, err)
	}
	return nil
}

func validateLabelParts(sp *apiSpec, body []byte, boundary string) error {
	meta := sp.doc.Components.Schemas["LabelMetadata"].Value
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	seen := map[string]bool{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		raw, _ := io.ReadAll(p)
		seen[p.FormName()] = true
		switch p.FormName() {
		case "labelMetadata":
			var v any
			if err := json.Unmarshal(raw, &v); err != nil {
				return err
			}
			if err := meta.VisitJSON(v); err != nil {
				return fmt.Errorf("labelMetadata: %w", err)
			}
		case "labelImage", "receiptImage":
			if _, err := base64.StdEncoding.DecodeString(string(raw)); err != nil {
				return fmt.Errorf("%s is not base64: %w", p.FormName(), err)
			}
		default:
			return fmt.Errorf("unknown part %q", p.FormName())
		}
	}
	if !seen["labelMetadata"] {
		return fmt.Errorf("no labelMetadata part")
	}
	return nil
}

func TestLabelsConformance(t *testing.T) {
	sp := loadLabelsSpec(t)
	srv := newFake(t, uspsbiztest.WithTime(testClock))
	require.NoError(t, srv.AddEPA(testUser, uspsbiztest.EPA{AccountNumber: epsActive}))
	require.NoError(t, srv.SetPublishedPrices(uspsbiztest.Price{MailClass: "USPS_GROUND_ADVANTAGE", SKU: "DUXP0XXXXC01050", Price: "9.35"},
		uspsbiztest.Price{MailClass: "PRIORITY_MAIL", SKU: "DPXX0XXXXC05050", Price: "11.50"}))
	require.NoError(t, srv.SetContractPrices(epsActive, uspsbiztest.Price{MailClass: "USPS_GROUND_ADVANTAGE", SKU: "DUXP0XXXXN01050", Price: "7.12"}))
	rec := &recorder{base: http.DefaultTransport}
	c := newClient(t, srv, uspsbiz.WithHTTPClient(&http.Client{Transport: rec, Timeout: 10 * time.Second}))
	ctx := t.Context()
	tok := link(t, srv, c, "")
	m := c.ForMerchant(oauth2.StaticTokenSource(tok.OAuth2()))
	a := eps(t, epsActive)
	pa, err := c.AuthorizePayment(ctx, roles(payer(testCRID, a), epsRole(uspsbiz.RoleRateHolder, testCRID, a),
		labelOwner(testCRID, testMID, testManifestMID), uspsbiz.Role{Name: uspsbiz.RolePlatform, CRID: testPlatformCRID}))
	require.NoError(t, err)
	pat := pa.Token

	base := uspsbiz.LabelRequest{
		To:   uspsbiz.LabelAddress{FirstName: "Ada", LastName: "Lovelace", StreetAddress: "4120 Russell Blvd", City: "St Louis", State: "MO", ZIPCode: "63118", ZIPPlus4: "1234", Phone: "3145550100", Email: "ada@example.com"},
		From: uspsbiz.LabelAddress{Firm: "Acme Goods", StreetAddress: "1 Main St", SecondaryAddress: "Ste 2", City: "Fredericksburg", State: "VA", ZIPCode: "22407"},
		Package: uspsbiz.LabelPackage{MailClass: "USPS_GROUND_ADVANTAGE", Weight: 2 * usps.Pound,
			Length: 10 * usps.Inch, Width: 8 * usps.Inch, Height: 4 * usps.Inch, MailingDate: testClock},
	}
	variants := []func(r *uspsbiz.LabelRequest){
		func(*uspsbiz.LabelRequest) {},
		func(r *uspsbiz.LabelRequest) {
			r.Image = uspsbiz.LabelImageInfo{ImageType: "PNG", LabelType: "4X6LABEL", ReceiptOption: "SEPARATE_PAGE"}
		},
		func(r *uspsbiz.LabelRequest) { r.ImmediateManifest = true; r.Package.ExtraServices = []int{920} },
		func(r *uspsbiz.LabelRequest) {
			r.Sender = &uspsbiz.LabelAddress{Firm: "Acme Goods", StreetAddress: "9 Elm St", City: "Richmond", State: "VA", ZIPCode: "23219", PlatformUserID: "acme-42"}
			r.Image = uspsbiz.LabelImageInfo{ImageType: "NONE"}
		},
		func(r *uspsbiz.LabelRequest) {
			r.Package.MailClass, r.Package.RateIndicator, r.Package.ProcessingCategory = "PRIORITY_MAIL", "SP", "MACHINABLE"
		},
		func(r *uspsbiz.LabelRequest) { r.Package.MailingDate = testClock.AddDate(0, 0, -2) }, // refused: 160001
	}
	var tns []string
	for i, v := range variants {
		r := base
		v(&r)
		key := uspsbiz.NewIdempotencyKey()
		lbl, err := m.CreateLabel(ctx, pat, key, &r)
		if i == len(variants)-1 {
			require.ErrorIs(t, err, uspsbiz.ErrMailingDate)
			continue
		}
		require.NoError(t, err, "variant %d", i)
		tns = append(tns, lbl.Metadata.TrackingNumber)
		if i == 0 {
			_, err = m.CreateLabel(ctx, pat, key, &r) // replay
			require.NoError(t, err)
			other := r
			other.Package.Weight = 3 * usps.Pound
			_, err = m.CreateLabel(ctx, pat, key, &other) // conflict
			require.ErrorIs(t, err, uspsbiz.ErrIdempotencyKeyReused)
		}
	}
	_, err = m.ReprintLabel(ctx, pat, tns[0], uspsbiz.LabelImageInfo{ImageType: "PDF", LabelType: "4X6LABEL"})
	require.NoError(t, err)
	_, err = m.ReprintLabel(ctx, pat, tns[1], uspsbiz.LabelImageInfo{})
	require.NoError(t, err)
	res, err := m.CancelLabel(ctx, pat, tns[0])
	require.NoError(t, err)
	assert.Equal(t, uspsbiz.Cancelled, res.Status)
	_, err = m.ReprintLabel(ctx, pat, tns[0], uspsbiz.LabelImageInfo{})
	require.ErrorIs(t, err, uspsbiz.ErrLabelNotReprintable)
	srv.Advance(20 * time.Minute) // past the immediate manifest of tns[2]
	res, err = m.CancelLabel(ctx, pat, tns[2])
	require.NoError(t, err)
	assert.Equal(t, uspsbiz.Disputed, res.Status)
	_, err = m.CancelLabel(ctx, pat, tns[2])
	require.ErrorIs(t, err, uspsbiz.ErrRefundRejected)
	_, err = m.CancelLabel(ctx, pat, "9205500000000000009999")
	require.ErrorIs(t, err, uspsbiz.ErrLabelNotFound)

	seen := map[string]int{}
	for _, ex := range rec.exchanges() {
		if !strings.HasPrefix(ex.req.URL.Path, "/labels/") {
			continue
		}
		assert.NoError(t, validateLabelExchange(sp, ex))
		seen[fmt.Sprintf("%s %s %d", ex.req.Method, strings.Split(ex.req.URL.Path, "/")[3], ex.status)]++
	}
	for _, k := range []string{"POST label 200", "POST label 400", "POST label-reprint 200", "POST label-reprint 400", "DELETE label 200", "DELETE label 400"} {
		assert.Positive(t, seen[k], k)
	}
}

// TestLabelsValidatorCatches proves the label validation is not vacuous.
func TestLabelsValidatorCatches(t *testing.T) {
	sp := loadLabelsSpec(t)
	mk := func(body string, header http.Header) exchange {
		req, err := http.NewRequest("POST", "http://fake/labels/v3/label", nil)
		require.NoError(t, err)
		req.Header = header
		req.Header.Set("Content-Type", "application/json")
		return exchange{req: req, reqBody: []byte(body), status: 400, header: http.Header{"Content-Type": {"application/json"}},
			body: []byte(`{"apiVersion":"/labels/v3","error":{"code":"400","message":"Bad Request","errors":[]}}`)}
	}
	r := uspsbiz.LabelRequest{
		To:   uspsbiz.LabelAddress{FirstName: "Ada", LastName: "Lovelace", StreetAddress: "4120 Russell Blvd", City: "St Louis", State: "MO", ZIPCode: "63118"},
		From: uspsbiz.LabelAddress{Firm: "Acme", StreetAddress: "1 Main St", City: "Fredericksburg", State: "VA", ZIPCode: "22407"},
		Package: uspsbiz.LabelPackage{MailClass: "USPS_GROUND_ADVANTAGE", Weight: usps.Pound,
			Length: usps.Inch, Width: usps.Inch, Height: usps.Inch, MailingDate: testClock},
	}
	good, err := r.Body()
	require.NoError(t, err)
	h := func() http.Header {
		return http.Header{"X-Payment-Authorization-Token": {"pat"}, "X-Idempotency-Key": {uspsbiz.NewIdempotencyKey()}}
	}
	require.NoError(t, validateLabelExchange(sp, mk(string(good), h())))
	noPAT := h()
	noPAT.Del("X-Payment-Authorization-Token")
	for name, ex := range map[string]exchange{
		"no payment token": mk(string(good), noPAT),
		"kg":               mk(strings.Replace(string(good), `"weightUOM":"lb"`, `"weightUOM":"kg"`, 1), h()),
		"unknown field":    mk(strings.Replace(string(good), `"toAddress"`, `"bogus":1,"toAddress"`, 1), h()),
		"no fromAddress":   mk(strings.Replace(string(good), `"fromAddress"`, `"fromAddressX"`, 1), h()),
		"bad image type":   mk(strings.Replace(string(good), `"toAddress"`, `"imageInfo":{"imageType":"BMP"},"toAddress"`, 1), h()),
		"bad ZIP":          mk(strings.Replace(string(good), `"63118"`, `"6311"`, 1), h()),
	} {
		assert.Error(t, validateLabelExchange(sp, ex), name)
	}
}

// TestLabelsSpecXMLExample: validating the document with its examples
// fails on the XML example; without example validation it passes.
func TestLabelsSpecXMLExample(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join(specsDir, "usps-domestic-labels.yaml"))
	require.NoError(t, err)
	err = doc.Validate(context.Background())
	require.Error(t, err)
	require.NoError(t, doc.Validate(context.Background(), openapi3.DisableExamplesValidation()))
}
