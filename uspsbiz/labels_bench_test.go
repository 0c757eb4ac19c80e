package uspsbiz_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
)

// BenchmarkCreateLabel calls POST /labels/v3/label on the fake through
// uspsbiz.CreateLabel and through plain net/http in the same run. Both send
// the same body under the same idempotency key, so after the first call the
// fake answers each with the existing label (its replay path: no charge),
// and both parse the multipart answer: the metadata JSON and the base64
// label image and receipt. The ratio is the SDK's overhead on the label
// path: request checks and encoding, the retry layer, headers, budget and
// logging hooks, and the multipart reader.
//
//	go test -run '^$' -bench CreateLabel -benchmem -benchtime 3s ./uspsbiz/
func BenchmarkCreateLabel(b *testing.B) {
	srv := newPricesFake(b)
	c, bearer := benchClient(b, srv)
	a := usps.EPSAccount(epsActive)
	pa, err := c.AuthorizePayment(b.Context(), roles(payer(testCRID, a), epsRole(uspsbiz.RoleRateHolder, testCRID, a), labelOwner(testCRID, testMID, testManifestMID)))
	if err != nil {
		b.Fatal(err)
	}
	req := &uspsbiz.LabelRequest{
		To:   uspsbiz.LabelAddress{FirstName: "Ada", LastName: "Lovelace", StreetAddress: "4120 Russell Blvd", City: "St Louis", State: "MO", ZIPCode: zipDest},
		From: uspsbiz.LabelAddress{Firm: "Acme Goods", StreetAddress: "1 Main St", City: "Fredericksburg", State: "VA", ZIPCode: zipOrigin},
		Package: uspsbiz.LabelPackage{MailClass: "USPS_GROUND_ADVANTAGE", Weight: 2 * usps.Pound,
			Length: 10 * usps.Inch, Width: 8 * usps.Inch, Height: 4 * usps.Inch, MailingDate: testClock},
	}
	key := uspsbiz.NewIdempotencyKey()
	first, err := c.CreateLabel(b.Context(), pa.Token, key, req)
	if err != nil {
		b.Fatal(err)
	}
	body, err := req.Body()
	if err != nil {
		b.Fatal(err)
	}

	sdk := func() error {
		l, err := c.CreateLabel(b.Context(), pa.Token, key, req)
		if err == nil && l.Metadata.TrackingNumber != first.Metadata.TrackingNumber {
			err = errors.New("another label")
		}
		return err
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	url := srv.URL + "/labels/v3/label"
	plain := func() error {
		hreq, err := http.NewRequestWithContext(b.Context(), http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		hreq.Header.Set("Authorization", bearer)
		hreq.Header.Set("Content-Type", "application/json")
		hreq.Header.Set("Accept", "multipart/form-data, application/json")
		hreq.Header.Set("X-Payment-Authorization-Token", pa.Token.Reveal())
		hreq.Header.Set("X-Idempotency-Key", key)
		res, err := hc.Do(hreq)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		_, params, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
		if err != nil || res.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d: %v", res.StatusCode, err)
		}
		var meta struct {
			TrackingNumber string      `json:"trackingNumber"`
			Postage        json.Number `json:"postage"`
			SKU            string      `json:"SKU"`
		}
		var image, receipt []byte
		mr := multipart.NewReader(res.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			raw, _ := io.ReadAll(p)
			switch p.FormName() {
			case "labelMetadata":
				err = json.Unmarshal(raw, &meta)
			case "labelImage":
				image, err = base64.StdEncoding.DecodeString(string(raw))
			case "receiptImage":
				receipt, err = base64.StdEncoding.DecodeString(string(raw))
			}
			if err != nil {
				return err
			}
		}
		_, _ = io.Copy(io.Discard, res.Body) // the epilogue, so the connection is reused
		if meta.TrackingNumber != first.Metadata.TrackingNumber || len(image) == 0 || len(receipt) == 0 {
			return errors.New("bad label")
		}
		return nil
	}

	for _, side := range []struct {
		name string
		call func() error
	}{{"uspsbiz", sdk}, {"nethttp", plain}} {
		b.Run(side.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				srv.ResetRequests() // the fake's request log would grow the heap over the run
				if err := side.call(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// paired: the two calls alternate (order swapped each round) and each
	// is timed alone, so that load on a shared machine hits both alike;
	// the medians and their ratio are reported.
	b.Run("paired", func(b *testing.B) {
		var ds, dp []time.Duration
		i := 0
		for b.Loop() {
			srv.ResetRequests()
			order := []*[]time.Duration{&ds, &dp}
			calls := []func() error{sdk, plain}
			if i%2 == 1 {
				order[0], order[1], calls[0], calls[1] = order[1], order[0], calls[1], calls[0]
			}
			for j, call := range calls {
				t0 := time.Now()
				if err := call(); err != nil {
					b.Fatal(err)
				}
				*order[j] = append(*order[j], time.Since(t0))
			}
			i++
		}
		med := func(d []time.Duration) float64 {
			slices.Sort(d)
			return float64(d[len(d)/2])
		}
		ms, mp := med(ds), med(dp)
		b.ReportMetric(ms, "uspsbiz-ns")
		b.ReportMetric(mp, "nethttp-ns")
		b.ReportMetric(ms/mp, "ratio")
	})
}
