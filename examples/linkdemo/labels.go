package main

// Buying the sample label on the customer's EPA at the NSA rate: the glue
// (buyLabel, the part to copy) and its two pages. The fake USPS charges the
// label at the contract price the platform's table quotes, so the page shows
// the price billed next to the quote.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"image/png"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/uspsbiz"
)

// sampleAddresses are the sample label's ends: ZIP Codes 2xxxx → 8xxxx are
// zone 8 on the fake's chart, as rateBook.sample.
var (
	sampleFrom = uspsbiz.LabelAddress{Firm: "Acme Widgets", StreetAddress: "1 Main St", City: "Fredericksburg", State: "VA", ZIPCode: "22407"}
	sampleTo   = uspsbiz.LabelAddress{FirstName: "Ada", LastName: "Lovelace", StreetAddress: "1701 Wynkoop St", City: "Denver", State: "CO", ZIPCode: "80202"}
)

// buyLabel buys the sample label for account, exactly once per purchaseID:
// it prices it at the account's NSA rate, then buys it expecting that price.
// A *linking.PriceMismatchError comes back with the label when USPS billed
// anything else.
func (n *nsa) buyLabel(ctx context.Context, account, purchaseID string, rates *rateBook) (*linking.LabelResult, linking.Quote, error) {
	s := rates.sample
	s.Date = time.Now()
	q, err := n.linker.Quote(ctx, n.pricer, account, s)
	if err != nil {
		return nil, q, err
	}
	if q.LinkNotActive {
		return nil, q, linking.ErrNotActive
	}
	res, err := n.linker.BuyLabel(ctx, account, linking.LabelPurchase{
		PurchaseID: purchaseID,
		Request: uspsbiz.LabelRequest{
			From: sampleFrom, To: sampleTo,
			Package: uspsbiz.LabelPackage{MailClass: sampleProduct.MailClass, RateIndicator: sampleProduct.RateIndicator,
				ProcessingCategory: sampleProduct.ProcessingCategory,
				Weight:             s.Weight, Length: s.Length, Width: s.Width, Height: s.Height, MailingDate: s.Date},
			Image: uspsbiz.LabelImageInfo{ImageType: "PNG", ReceiptOption: "NONE"},
		},
		Expected: linking.ExpectQuote(q),
	})
	return res, q, err
}

// boughtLabels keeps the labels bought in this run, for their pages.
type boughtLabels struct {
	mu     sync.Mutex
	labels map[string]*boughtLabel // by purchase id
	seq    int
}

type boughtLabel struct {
	Purchase, Tracking, Billed, Quoted, Check string
	Mismatch                                  bool
	image                                     []byte
}

var labelPage = template.Must(template.New("label").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Label {{.Tracking}} · Acme Ship</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:44rem}.ok{color:#15603a}.bad{color:#a61b1b;font-weight:bold}img{border:1px solid #ccc;max-width:300px}</style></head>
<body><p><a href="/dashboard">← Dashboard</a></p>
<h1>Label bought</h1>
<p>Tracking number <strong id="label-tracking">{{.Tracking}}</strong> (purchase {{.Purchase}})</p>
<p>Billed <strong id="label-billed">{{.Billed}}</strong>, NSA quote <strong id="label-quoted">{{.Quoted}}</strong>:
<span id="label-check" class="{{if .Mismatch}}bad{{else}}ok{{end}}">{{.Check}}</span></p>
<p><img id="label-image" src="/labels/{{.Purchase}}/image" alt="USPS label {{.Tracking}}"></p>
</body></html>`))

var labels = &boughtLabels{labels: map[string]*boughtLabel{}}

// get returns the bought label with id, or nil.
func (l *boughtLabels) get(id string) *boughtLabel {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.labels[id]
}

// labelRoutes adds POST /labels/buy, GET /labels/{id} and its image.
func (a *app) labelRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /labels/buy", a.signedIn(a.buySampleLabel))
	mux.HandleFunc("GET /labels/{id}", a.signedIn(a.labelPage))
	mux.HandleFunc("GET /labels/{id}/image", a.signedIn(a.labelImage))
}

func (a *app) buySampleLabel(w http.ResponseWriter, r *http.Request, s *session) {
	labels.mu.Lock()
	labels.seq++
	id := fmt.Sprintf("demo-%d-%d", time.Now().Unix(), labels.seq) // the host's order id
	labels.mu.Unlock()
	res, q, err := a.nsa.buyLabel(r.Context(), s.accountID, id, a.rates)
	var pm *linking.PriceMismatchError
	switch {
	case errors.Is(err, linking.ErrNotActive):
		http.Error(w, "Link your USPS business account first: labels are paid by your EPA at your NSA rate.", http.StatusConflict)
		return
	case err != nil && !errors.As(err, &pm):
		a.fail(w, r, err)
		return
	}
	b := &boughtLabel{Purchase: id, Tracking: res.Record.TrackingNumber, image: res.Label.Image,
		Billed: "$" + res.Label.Metadata.Postage.String(), Quoted: "$" + q.Postage.String(), Check: "as quoted"}
	if pm != nil {
		b.Mismatch, b.Check = true, "PRICE MISMATCH: "+pm.Check.String()
	}
	labels.mu.Lock()
	labels.labels[id] = b
	labels.mu.Unlock()
	http.Redirect(w, r, "/labels/"+url.PathEscape(id), http.StatusSeeOther)
}

func (a *app) labelPage(w http.ResponseWriter, r *http.Request, _ *session) {
	b := labels.get(r.PathValue("id"))
	if b == nil {
		http.NotFound(w, r)
		return
	}
	var buf bytes.Buffer
	if err := labelPage.Execute(&buf, b); err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

func (a *app) labelImage(w http.ResponseWriter, r *http.Request, _ *session) {
	b := labels.get(r.PathValue("id"))
	if b == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(b.image)
}

// buyLabel is the walkthrough's last step: buy the sample label and check
// its page and image.
func (w *walker) buyLabel() error {
	p, err := w.post(w.d.URL+"/labels/buy", nil)
	if err != nil {
		return err
	}
	t, err := p.need("label-tracking", "label-billed", "label-quoted", "label-check")
	if err != nil {
		return err
	}
	img, err := w.hc.Get(p.url.String() + "/image")
	if err != nil {
		return err
	}
	defer img.Body.Close()
	cfg, err := png.DecodeConfig(img.Body)
	if err != nil {
		return fmt.Errorf("label image: %w", err)
	}
	w.say("Bought the sample label %s on the customer's EPA: billed %s vs NSA quote %s (%s); label image %dx%d PNG.",
		t[0], t[1], t[2], t[3], cfg.Width, cfg.Height)
	if t[3] != "as quoted" {
		return fmt.Errorf("label not billed as quoted: %s", t[3])
	}
	return nil
}
