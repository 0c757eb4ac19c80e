package uspsbiztest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"time"

	_ "time/tzdata" // America/Chicago for the manifest clock, on any host

	"github.com/nsalink/nsalink/usps"
)

// Labels: the fake serves POST /labels/v3/label, DELETE
// /labels/v3/label/{trackingNumber} and POST
// /labels/v3/label-reprint/{trackingNumber}, with USPS's idempotency key
// rule, the manifest clock, and a record of every charge.

const labelsVer = "/labels/v3"

// Codes of the fake's own for label errors USPS answers without a public
// code; their titles say "(uspsbiztest code)".
const (
	codeIdempotencyConflict = "169910"
	codeLabelState          = "169911"
)

// LabelCharge is one label the fake charged to an EPS account.
type LabelCharge struct {
	TrackingNumber string
	IdempotencyKey string
	CRID           string // LABEL_OWNER of the payment token
	EPS            string // PAYER account charged
	Postage        usps.Cents
	SKU            string
	Zone           string
	// Contract reports an NSA (contract) price; false is a published one.
	Contract bool
	// Status is "CHARGED", "CANCELED" (voided, nothing owed) or "DISPUTED"
	// (a refund request was filed; DisputeID names it).
	Status    string
	DisputeID string
	CreatedAt time.Time
	// Cutoff is when the label is manifested: 12:30 am Central time after
	// the mailing date, or 15 minutes after creation with immediate
	// manifest. Before it a cancel voids the label; after it, it files a
	// refund request.
	Cutoff   time.Time
	Reprints int
}

// LabelFaultKind is a label-purchase fault.
type LabelFaultKind int

const (
	// LabelHangAfterCharge charges the label, then holds the response
	// until the client gives up (a timeout after USPS charged).
	LabelHangAfterCharge LabelFaultKind = iota + 1
	// LabelDropAfterCharge charges the label, then closes the connection
	// without an answer (a dropped response).
	LabelDropAfterCharge
	// LabelBillPublished prices the label at the published price even when
	// the payment token's rate holder has a contract price (the invoice
	// surprise of karrio PR #1121).
	LabelBillPublished
)

// LabelFault is a fault of POST /labels/v3/label; Times as in Fault.
type LabelFault struct {
	Kind  LabelFaultKind
	Times int
}

// labelState is the fake's labels; guarded by Server.mu.
type labelState struct {
	byTracking map[string]*fakeLabel
	byKey      map[string]*fakeLabel // CRID + " " + idempotency key
	payRoles   map[string][]wireRole // payment token → its roles
	faults     []*LabelFault
	seq        int
	disputeSeq int
}

type fakeLabel struct {
	charge  LabelCharge
	payload [32]byte
	meta    map[string]any
	image   string // imageType
	receipt bool
}

func (l *labelState) init() {
	l.byTracking = map[string]*fakeLabel{}
	l.byKey = map[string]*fakeLabel{}
	l.payRoles = map[string][]wireRole{}
}

// InjectLabelFault adds a fault for the next label purchases.
func (s *Server) InjectLabelFault(f LabelFault) {
	if f.Times == 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.res.labels.faults = append(s.res.labels.faults, &f)
}

// takeLabelFault returns the first pending fault of a kind in kinds; s.mu held.
func (s *Server) takeLabelFault(kinds ...LabelFaultKind) LabelFaultKind {
	for i, f := range s.res.labels.faults {
		if !slices.Contains(kinds, f.Kind) {
			continue
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.res.labels.faults = slices.Delete(s.res.labels.faults, i, i+1)
			}
		}
		return f.Kind
	}
	return 0
}

// LabelCharges returns every label charged so far, oldest first.
func (s *Server) LabelCharges() []LabelCharge {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]LabelCharge, 0, len(s.res.labels.byTracking))
	for _, l := range s.res.labels.byTracking {
		out = append(out, l.charge)
	}
	slices.SortFunc(out, func(a, b LabelCharge) int { return strings.Compare(a.TrackingNumber, b.TrackingNumber) })
	return out
}

// ChargedLabels counts the labels created and not voided (CHARGED or
// DISPUTED: a refund request is not a refund).
func (s *Server) ChargedLabels() int {
	n := 0
	for _, c := range s.LabelCharges() {
		if c.Status != "CANCELED" {
			n++
		}
	}
	return n
}

// recordPaymentRoles keeps the roles of an issued payment token; s.mu held.
func (s *Server) recordPaymentRoles(token string, roles []wireRole) {
	s.res.labels.payRoles[token] = slices.Clone(roles)
}

func (s *Server) registerLabels() {
	s.mux.HandleFunc("POST /labels/v3/label", s.limited("labels", s.handleCreateLabel))
	s.mux.HandleFunc("DELETE /labels/v3/label/{trackingNumber}", s.limited("labels", s.handleCancelLabel))
	s.mux.HandleFunc("POST /labels/v3/label-reprint/{trackingNumber}", s.limited("labels", s.handleReprintLabel))
}

// paymentRoles checks the bearer token and X-Payment-Authorization-Token
// and returns the token's roles; it answers the error itself.
func (s *Server) paymentRoles(w http.ResponseWriter, r *http.Request) ([]wireRole, bool) {
	if s.authenticate(w, r, "labels") == nil {
		return nil, false
	}
	tok := r.Header.Get("X-Payment-Authorization-Token")
	s.mu.Lock()
	exp, ok := s.res.payTokens[tok]
	roles := s.res.labels.payRoles[tok]
	valid := ok && s.nowLocked().Before(exp)
	s.mu.Unlock()
	if !valid {
		writeUSPSError(w, http.StatusUnauthorized, labelsVer, "The payment authorization token is missing, invalid or expired.")
		return nil, false
	}
	return roles, true
}

func roleOf(roles []wireRole, names ...string) *wireRole {
	for _, n := range names {
		for i := range roles {
			if roles[i].RoleName == n {
				return &roles[i]
			}
		}
	}
	return nil
}

type labelReq struct {
	ImageInfo *struct {
		ImageType     string `json:"imageType"`
		ReceiptOption string `json:"receiptOption"`
	} `json:"imageInfo"`
	ToAddress          struct{ ZIPCode string } `json:"toAddress"`
	FromAddress        struct{ ZIPCode string } `json:"fromAddress"`
	PackageDescription struct {
		MailClass                    string      `json:"mailClass"`
		RateIndicator                string      `json:"rateIndicator"`
		ProcessingCategory           string      `json:"processingCategory"`
		DestinationEntryFacilityType string      `json:"destinationEntryFacilityType"`
		Weight                       json.Number `json:"weight"`
		Length                       json.Number `json:"length"`
		Width                        json.Number `json:"width"`
		Height                       json.Number `json:"height"`
		MailingDate                  string      `json:"mailingDate"`
		PackageOptions               struct {
			ImmediateManifest bool `json:"immediateManifest"`
		} `json:"packageOptions"`
	} `json:"packageDescription"`
}

// canonicalHash hashes a JSON body independent of spacing and key order.
func canonicalHash(body []byte) ([32]byte, bool) {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return [32]byte{}, false
	}
	b, _ := json.Marshal(v)
	return sha256.Sum256(b), true
}

func (s *Server) handleCreateLabel(w http.ResponseWriter, r *http.Request) {
	roles, ok := s.paymentRoles(w, r)
	if !ok {
		return
	}
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(r.Body)
	var req labelReq
	dec := json.NewDecoder(bytes.NewReader(body.Bytes()))
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		writeUSPSError(w, http.StatusBadRequest, labelsVer, "The request body is not valid JSON.", detail{Code: "000001", Title: "Invalid request body."})
		return
	}
	hash, _ := canonicalHash(body.Bytes())
	key := r.Header.Get("X-Idempotency-Key")
	owner := roleOf(roles, "LABEL_OWNER")
	payer := roleOf(roles, "PAYER")
	if owner == nil || payer == nil {
		writeUSPSError(w, http.StatusBadRequest, labelsVer, "Bad Request", detail{Code: "160229", Title: "The payment authorization lacks a PAYER or LABEL_OWNER."})
		return
	}
	pd := req.PackageDescription
	weight, err := usps.ParseJSONPounds(pd.Weight.String())
	if err != nil || weight <= 0 || weight > 70*usps.Pound {
		writeUSPSError(w, http.StatusBadRequest, labelsVer, "Bad Request", detail{Code: "000002", Title: "Invalid weight.", Parameter: "packageDescription.weight"})
		return
	}
	mailing, err := time.Parse(time.DateOnly, pd.MailingDate)
	if err != nil {
		writeUSPSError(w, http.StatusBadRequest, labelsVer, "Bad Request", detail{Code: "160001", Title: "Invalid mailing date.", Parameter: "packageDescription.mailingDate"})
		return
	}

	s.mu.Lock()
	now := s.nowLocked()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if mailing.Before(today) || mailing.After(today.AddDate(0, 0, 45)) {
		s.mu.Unlock()
		writeUSPSError(w, http.StatusBadRequest, labelsVer, "Bad Request", detail{Code: "160001", Title: "The mailing date cannot be in the past or more than 45 days in the future.", Parameter: "packageDescription.mailingDate"})
		return
	}
	st := &s.res.labels
	if key != "" {
		if old := st.byKey[owner.CRID+" "+key]; old != nil {
			s.mu.Unlock()
			if old.payload != hash {
				writeUSPSError(w, http.StatusBadRequest, labelsVer, "Bad Request", detail{Code: codeIdempotencyConflict,
					Title:  "Idempotency key already used with a different request payload (uspsbiztest code).",
					Detail: "The X-Idempotency-Key was already used for another label request of this CRID.", Parameter: "X-Idempotency-Key"})
				return
			}
			s.writeLabel(w, old, true) // the existing label, no second charge
			return
		}
	}
	fault := s.takeLabelFault(LabelHangAfterCharge, LabelDropAfterCharge, LabelBillPublished)
	q := &priceQuery{OriginZIPCode: req.FromAddress.ZIPCode, DestinationZIPCode: req.ToAddress.ZIPCode, PriceType: "COMMERCIAL"}
	if rh := roleOf(roles, "RATE_HOLDER", "PAYER"); rh != nil && rh.AccountType == "EPS" && fault != LabelBillPublished {
		q.AccountType, q.AccountNumber = "EPS", rh.AccountNumber
	}
	match := func(p Price) bool {
		return or(p.RateIndicator, "SP") == or(pd.RateIndicator, "SP") &&
			or(p.ProcessingCategory, "MACHINABLE") == or(pd.ProcessingCategory, "MACHINABLE") &&
			or(p.DestinationEntryFacilityType, "NONE") == or(pd.DestinationEntryFacilityType, "NONE")
	}
	pr, d := s.lookup(q, pd.MailClass, weight, match)
	if d == nil && len(pr.rows) == 0 {
		d = &detail{Code: "160012", Title: "No price found for the package.", Parameter: "packageDescription"}
	}
	if d != nil {
		s.mu.Unlock()
		writeUSPSError(w, http.StatusBadRequest, labelsVer, "Bad Request", *d)
		return
	}
	row := pr.rows[0]
	var postage usps.Cents
	if err := postage.UnmarshalJSON([]byte(row.Price)); err != nil {
		s.mu.Unlock()
		writeUSPSError(w, http.StatusInternalServerError, labelsVer, "price table error")
		return
	}
	st.seq++
	tn := fmt.Sprintf("9205%018d", 5500000000000000+st.seq)
	zone := Zone(req.FromAddress.ZIPCode, req.ToAddress.ZIPCode)
	lbl := &fakeLabel{
		charge: LabelCharge{TrackingNumber: tn, IdempotencyKey: key, CRID: owner.CRID, EPS: payer.AccountNumber,
			Postage: postage, SKU: row.SKU, Zone: zone, Contract: pr.contract, Status: "CHARGED", CreatedAt: now,
			Cutoff: manifestCutoff(mailing, now, pd.PackageOptions.ImmediateManifest)},
		payload: hash,
		image:   "PDF",
		receipt: true,
	}
	if req.ImageInfo != nil {
		lbl.image = or(req.ImageInfo.ImageType, "PDF")
		lbl.receipt = req.ImageInfo.ReceiptOption != "NONE"
	}
	lbl.meta = map[string]any{
		"trackingNumber": tn, "routingInformation": "420" + req.ToAddress.ZIPCode, "constructCode": "C01",
		"SKU": row.SKU, "postage": json.Number(postage.String()), "serviceTypeCode": "001", "zone": zone,
		"mailingDate": mailing.Add(22 * time.Hour).Format(time.RFC3339), "weightUOM": "lb", "weight": pd.Weight,
		"fees": []any{}, "bannerText": "USPS TRACKING # USPS Ship",
	}
	st.byTracking[tn] = lbl
	if key != "" {
		st.byKey[owner.CRID+" "+key] = lbl
	}
	s.mu.Unlock()

	switch fault {
	case LabelHangAfterCharge:
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
		return
	case LabelDropAfterCharge:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	s.writeLabel(w, lbl, true)
}

// writeLabel answers a label as USPS does: 200 (not the documented 201,
// USPS/api-examples#24), multipart/form-data with labelMetadata,
// labelImage and receiptImage, the images base64-encoded.
func (s *Server) writeLabel(w http.ResponseWriter, l *fakeLabel, receipt bool) {
	s.mu.Lock()
	meta, _ := json.Marshal(l.meta)
	tn := l.charge.TrackingNumber
	imgType := l.image
	receipt = receipt && l.receipt
	s.mu.Unlock()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	part := func(name, filename, ctype string, data []byte) {
		h := textproto.MIMEHeader{}
		cd := fmt.Sprintf(`form-data; name=%q`, name)
		if filename != "" {
			cd += fmt.Sprintf(`; filename=%q`, filename)
		}
		h.Set("Content-Disposition", cd)
		h.Set("Content-Type", ctype)
		pw, _ := mw.CreatePart(h)
		_, _ = pw.Write(data)
	}
	part("labelMetadata", "", "application/json", meta)
	if imgType != "NONE" {
		ctype, data := labelImage(imgType, tn)
		part("labelImage", "label", ctype, []byte(base64.StdEncoding.EncodeToString(data)))
	}
	if receipt {
		part("receiptImage", "receipt.pdf", "application/pdf", []byte(base64.StdEncoding.EncodeToString(fakePDF("Receipt "+tn))))
	}
	_ = mw.Close()
	w.Header().Set("Content-Type", mw.FormDataContentType())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// labelImage draws a stand-in label: a PNG with a border and bars from the
// tracking number, or a one-page PDF naming it.
func labelImage(imageType, tn string) (string, []byte) {
	if imageType != "PNG" {
		return "application/pdf", fakePDF("USPS label " + tn)
	}
	img := image.NewGray(image.Rect(0, 0, 400, 600))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	black := color.Gray{}
	for x := 0; x < 400; x++ {
		for _, y := range []int{0, 1, 598, 599, 120} {
			img.SetGray(x, y, black)
		}
	}
	for y := 0; y < 600; y++ {
		for _, x := range []int{0, 1, 398, 399} {
			img.SetGray(x, y, black)
		}
	}
	x := 40
	for _, c := range tn {
		wd := int(c-'0')%3 + 1
		for dx := 0; dx < wd*2; dx++ {
			for y := 420; y < 540; y++ {
				img.SetGray(x+dx, y, black)
			}
		}
		x += wd*2 + 4
		if x > 360 {
			break
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return "image/png", b.Bytes()
}

func fakePDF(text string) []byte {
	return []byte("%PDF-1.4\n% uspsbiztest stand-in\n1 0 obj << /Type /Catalog >> endobj\n% " + text + "\n%%EOF\n")
}

func (s *Server) handleCancelLabel(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.paymentRoles(w, r); !ok {
		return
	}
	tn := r.PathValue("trackingNumber")
	s.mu.Lock()
	l := s.res.labels.byTracking[tn]
	if l == nil {
		s.mu.Unlock()
		writeUSPSError(w, http.StatusBadRequest, labelsVer, "Bad Request", detail{Code: "00000XX", Title: "Bad Request", Detail: "Order not found", Parameter: "trackingNumber"})
		return
	}
	now := s.nowLocked()
	c := &l.charge
	switch {
	case c.Status == "CANCELED":
		s.mu.Unlock()
		writeUSPSError(w, http.StatusBadRequest, labelsVer, "Bad Request", detail{Code: codeLabelState, Title: "Label already canceled (uspsbiztest code).", Detail: "Order not found", Parameter: "trackingNumber"})
		return
	case c.Status == "DISPUTED":
		s.mu.Unlock()
		writeUSPSError(w, http.StatusBadRequest, labelsVer, "Bad Request", detail{Code: "00000XX", Title: "Bad Request",
			Detail: "The refund request was rejected. Please try again after 24 hours", Parameter: "trackingNumber"})
		return
	case now.Before(c.Cutoff):
		c.Status = "CANCELED"
	default:
		s.res.labels.disputeSeq++
		c.Status, c.DisputeID = "DISPUTED", fmt.Sprintf("%d", 104000+s.res.labels.disputeSeq)
	}
	out := map[string]any{"trackingNumber": tn, "status": c.Status}
	if c.DisputeID != "" {
		out["disputeId"] = c.DisputeID
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleReprintLabel(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.paymentRoles(w, r); !ok {
		return
	}
	var body struct {
		ImageInfo struct {
			ImageType string `json:"imageType"`
		} `json:"imageInfo"`
	}
	if r.ContentLength != 0 && !decodeBody(w, r, &body) {
		return
	}
	tn := r.PathValue("trackingNumber")
	s.mu.Lock()
	l := s.res.labels.byTracking[tn]
	var msg string
	switch {
	case l == nil:
		msg = "Order not found"
	case l.charge.Status != "CHARGED":
		msg = "Canceled labels are not eligible for reprint."
	case l.charge.Reprints >= 3:
		msg = "Labels can only be reprinted up to 3 times."
	}
	if msg != "" {
		s.mu.Unlock()
		writeUSPSError(w, http.StatusBadRequest, labelsVer, "Bad Request", detail{Code: codeLabelState, Title: "Label cannot be reprinted (uspsbiztest code).", Detail: msg, Parameter: "trackingNumber"})
		return
	}
	l.charge.Reprints++
	cp := *l
	if body.ImageInfo.ImageType != "" {
		cp.image = body.ImageInfo.ImageType
	}
	s.mu.Unlock()
	s.writeLabel(w, &cp, false)
}

var central = mustLoad("America/Chicago")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// manifestCutoff is computed with the time zone database, independently of
// uspsbiz.ManifestCutoff, so each checks the other.
func manifestCutoff(mailing, created time.Time, immediate bool) time.Time {
	if immediate {
		return created.Add(15 * time.Minute)
	}
	y, m, d := mailing.Date()
	return time.Date(y, m, d+1, 0, 30, 0, 0, central).UTC()
}
