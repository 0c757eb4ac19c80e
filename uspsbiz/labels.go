package uspsbiz

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nsalink/nsalink/internal/httpx"
	"github.com/nsalink/nsalink/usps"
)

// APILabels is the Domestic Labels 3.0 API, for budgets.
const APILabels API = "labels"

// Labels routes (spec usps-domestic-labels.yaml 3.9.13).
const (
	routeLabel         = "/labels/v3/label"
	routeLabelTracking = "/labels/v3/label/{trackingNumber}"
	routeLabelReprint  = "/labels/v3/label-reprint/{trackingNumber}"
)

// LabelAddress is an address of a label (toAddress, fromAddress,
// senderAddress). A name (FirstName and LastName) or Firm is required.
type LabelAddress struct {
	FirstName        string `json:"firstName,omitempty"`
	LastName         string `json:"lastName,omitempty"`
	Firm             string `json:"firm,omitempty"`
	StreetAddress    string `json:"streetAddress"`
	SecondaryAddress string `json:"secondaryAddress,omitempty"`
	City             string `json:"city"`
	State            string `json:"state"`
	ZIPCode          string `json:"ZIPCode"`
	ZIPPlus4         string `json:"ZIPPlus4,omitempty"`
	Phone            string `json:"phone,omitempty"`
	Email            string `json:"email,omitempty"`
	// PlatformUserID is senderAddress.platformUserId (at most 30
	// characters), with ShipperVisibility SENDER_INFORMATION.
	PlatformUserID string `json:"platformUserId,omitempty"`
}

func (a LabelAddress) check(field string) error {
	bad := func(reason string) error { return &LabelRequestError{Field: field, Reason: reason} }
	switch {
	case a.Firm == "" && (a.FirstName == "" || a.LastName == ""):
		return bad("needs FirstName and LastName, or Firm")
	case a.StreetAddress == "" || a.City == "":
		return bad("needs StreetAddress and City")
	case len(a.State) != 2:
		return bad("State must be a 2-letter code")
	case len(a.ZIPCode) != 5 || !allDigits(a.ZIPCode):
		return bad("ZIPCode must be 5 digits")
	case a.ZIPPlus4 != "" && (len(a.ZIPPlus4) != 4 || !allDigits(a.ZIPPlus4)):
		return bad("ZIPPlus4 must be 4 digits")
	case len(a.PlatformUserID) > 30:
		return bad("PlatformUserID has more than 30 characters")
	}
	return nil
}

// LabelPackage is a label's packageDescription.
type LabelPackage struct {
	MailClass string // e.g. "USPS_GROUND_ADVANTAGE", "PRIORITY_MAIL"
	// RateIndicator defaults to "SP", ProcessingCategory to "MACHINABLE",
	// DestinationEntryFacilityType to "NONE".
	RateIndicator                string
	ProcessingCategory           string
	DestinationEntryFacilityType string
	Weight                       usps.Weight // at most 70 lb
	Length, Width, Height        usps.Dimension
	// MailingDate is the day the package is mailed (today to 45 days
	// ahead; USPS 160001 otherwise). Only the date counts.
	MailingDate   time.Time
	ExtraServices []int // USPS codes such as 920
}

// LabelImageInfo chooses the label image. Zero values take USPS's defaults
// (PDF, 4X6LABEL, SAME_PAGE receipt).
type LabelImageInfo struct {
	ImageType     string `json:"imageType,omitempty"`     // PDF TIFF JPG PNG GIF SVG ZPL203DPI ZPL300DPI EPL300DPI LABEL_BROKER NONE
	LabelType     string `json:"labelType,omitempty"`     // 4X4LABEL 4X5LABEL 4X6LABEL 6X4LABEL 2X7LABEL
	ReceiptOption string `json:"receiptOption,omitempty"` // SAME_PAGE SEPARATE_PAGE NONE
}

// LabelRequest is a domestic label (POST /labels/v3/label). Its JSON form
// (encoding/json) is a stable record of the request for a store; Body gives
// the exact bytes sent to USPS.
type LabelRequest struct {
	To      LabelAddress
	From    LabelAddress
	Sender  *LabelAddress `json:",omitempty"`
	Package LabelPackage
	Image   LabelImageInfo
	// ImmediateManifest asks USPS to manifest the label within 15 minutes,
	// which closes the window to cancel it (it can then only be refunded).
	ImmediateManifest bool `json:",omitempty"`
}

// LabelRequestError is a LabelRequest USPS would refuse, found before any
// call. Field names the request field.
type LabelRequestError struct {
	Field  string
	Reason string
}

func (e *LabelRequestError) Error() string {
	return fmt.Sprintf("uspsbiz: label request: %s %s", e.Field, e.Reason)
}

var (
	labelImageTypes = []string{"", "PDF", "TIFF", "JPG", "PNG", "GIF", "SVG", "ZPL203DPI", "ZPL300DPI", "EPL300DPI", "LABEL_BROKER", "NONE"}
	labelTypes      = []string{"", "4X4LABEL", "4X5LABEL", "4X6LABEL", "6X4LABEL", "2X7LABEL"}
	receiptOptions  = []string{"", "SAME_PAGE", "SEPARATE_PAGE", "NONE"}
)

func oneOf(v string, set []string) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}

// Check reports the first field USPS would refuse, as a *LabelRequestError.
func (r *LabelRequest) Check() error {
	if err := r.To.check("To"); err != nil {
		return err
	}
	if err := r.From.check("From"); err != nil {
		return err
	}
	if r.Sender != nil {
		if err := r.Sender.check("Sender"); err != nil {
			return err
		}
	}
	p := r.Package
	bad := func(field, reason string) error { return &LabelRequestError{Field: field, Reason: reason} }
	switch {
	case p.MailClass == "":
		return bad("Package.MailClass", "is required")
	case p.Weight <= 0 || p.Weight > 70*usps.Pound:
		return bad("Package.Weight", "must be more than 0 and at most 70 lb")
	case p.Length <= 0 || p.Width <= 0 || p.Height <= 0:
		return bad("Package.Length/Width/Height", "must be positive")
	case p.MailingDate.IsZero():
		return bad("Package.MailingDate", "is required")
	case !oneOf(r.Image.ImageType, labelImageTypes):
		return bad("Image.ImageType", "is not one of USPS's image types")
	case !oneOf(r.Image.LabelType, labelTypes):
		return bad("Image.LabelType", "is not one of USPS's label types")
	case !oneOf(r.Image.ReceiptOption, receiptOptions):
		return bad("Image.ReceiptOption", "must be SAME_PAGE, SEPARATE_PAGE or NONE")
	}
	return nil
}

type labelPackageWire struct {
	MailClass                    string      `json:"mailClass"`
	RateIndicator                string      `json:"rateIndicator"`
	WeightUOM                    string      `json:"weightUOM"`
	Weight                       json.Number `json:"weight"`
	DimensionsUOM                string      `json:"dimensionsUOM"`
	Length                       json.Number `json:"length"`
	Width                        json.Number `json:"width"`
	Height                       json.Number `json:"height"`
	ProcessingCategory           string      `json:"processingCategory"`
	DestinationEntryFacilityType string      `json:"destinationEntryFacilityType"`
	MailingDate                  string      `json:"mailingDate"`
	ExtraServices                []int       `json:"extraServices,omitempty"`
	// PackageOptions carries only immediateManifest; nsalink models no other option yet.
	PackageOptions *labelPackageOptions `json:"packageOptions,omitempty"`
}

type labelPackageOptions struct {
	ImmediateManifest bool `json:"immediateManifest"`
}

type labelRequestWire struct {
	ImageInfo          *LabelImageInfo  `json:"imageInfo,omitempty"`
	ToAddress          LabelAddress     `json:"toAddress"`
	FromAddress        LabelAddress     `json:"fromAddress"`
	SenderAddress      *LabelAddress    `json:"senderAddress,omitempty"`
	PackageDescription labelPackageWire `json:"packageDescription"`
}

// Body returns the JSON body sent to USPS for r: the same bytes for equal
// requests, so its hash identifies the payload of an idempotency key.
func (r *LabelRequest) Body() ([]byte, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	p := r.Package
	w := labelRequestWire{
		ToAddress: r.To, FromAddress: r.From, SenderAddress: r.Sender,
		PackageDescription: labelPackageWire{
			MailClass: p.MailClass, RateIndicator: or(p.RateIndicator, "SP"),
			WeightUOM: "lb", Weight: json.Number(p.Weight.Pounds()),
			DimensionsUOM: "in", Length: json.Number(p.Length.String()), Width: json.Number(p.Width.String()), Height: json.Number(p.Height.String()),
			ProcessingCategory:           or(p.ProcessingCategory, "MACHINABLE"),
			DestinationEntryFacilityType: or(p.DestinationEntryFacilityType, "NONE"),
			MailingDate:                  p.MailingDate.Format(time.DateOnly),
			ExtraServices:                p.ExtraServices,
		},
	}
	if r.Image != (LabelImageInfo{}) {
		img := r.Image
		w.ImageInfo = &img
	}
	if r.ImmediateManifest {
		w.PackageDescription.PackageOptions = &labelPackageOptions{ImmediateManifest: true}
	}
	return json.Marshal(w)
}

// NewIdempotencyKey returns a random UUID (version 4) for X-Idempotency-Key.
func NewIdempotencyKey() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("uspsbiz: crypto/rand: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// validUUID reports the canonical 8-4-4-4-12 hex form.
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isDigit(c) && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
				return false
			}
		}
	}
	return true
}

// LabelFee is one fee of a label.
type LabelFee struct {
	Name  string     `json:"name"`
	SKU   string     `json:"SKU"`
	Price usps.Cents `json:"price"`
}

// LabelMetadata is the JSON part of a label response (USPS's
// LabelMetadata; fields nsalink does not use are left out).
type LabelMetadata struct {
	TrackingNumber     string     `json:"trackingNumber"`
	RoutingInformation string     `json:"routingInformation"`
	ConstructCode      string     `json:"constructCode"`
	SKU                string     `json:"SKU"`
	Postage            usps.Cents `json:"postage"` // without extra service fees
	ServiceTypeCode    string     `json:"serviceTypeCode"`
	Zone               string     `json:"zone"`
	MailingDate        string     `json:"mailingDate"`
	Fees               []LabelFee `json:"fees"`
	BannerText         string     `json:"bannerText"`
}

// Label is a bought (or reprinted) label: metadata, image and receipt as
// USPS sent them, base64-decoded.
type Label struct {
	Metadata LabelMetadata
	// Image and Receipt are the decoded files; ImageType and ReceiptType
	// their media types (e.g. application/pdf, image/png). Receipt is
	// empty when none was asked for.
	Image       []byte
	ImageType   string
	Receipt     []byte
	ReceiptType string
	// IdempotencyKey is the X-Idempotency-Key it was bought with.
	IdempotencyKey string
}

// Label errors: CreateLabel, CancelLabel and ReprintLabel return a
// *LabelError matching one of these when USPS's answer is a known label
// problem (docs/usps.md#label-errors). The *APIError stays reachable.
var (
	// ErrLabelOnScanForm: 160174, a label on a SCAN form cannot be cancelled.
	ErrLabelOnScanForm = errors.New("uspsbiz: label is on a SCAN form and cannot be cancelled")
	// ErrRefundRejected: USPS refused the refund request (already requested
	// today, or not eligible); try again after 24 hours.
	ErrRefundRejected = errors.New("uspsbiz: refund request rejected")
	// ErrNotEnrolledInShip: the label owner is not enrolled in USPS Ship.
	ErrNotEnrolledInShip = errors.New("uspsbiz: not enrolled in USPS Ship")
	// ErrIndiciaCompanyName: USPS must configure an indicia company name
	// for the manifest MID.
	ErrIndiciaCompanyName = errors.New("uspsbiz: no indicia company name configured for the manifest MID")
	// ErrLabelNotReprintable: a cancelled or disputed label, or past its
	// reprint limit.
	ErrLabelNotReprintable = errors.New("uspsbiz: label cannot be reprinted")
	// ErrMailingDate: 160001, mailing date in the past or more than 45 days
	// ahead.
	ErrMailingDate = errors.New("uspsbiz: mailing date out of range")
	// ErrIdempotencyKeyReused: the idempotency key was used with another
	// payload.
	ErrIdempotencyKeyReused = errors.New("uspsbiz: idempotency key already used with a different request")
	// ErrLabelNotFound: no label with that tracking number.
	ErrLabelNotFound = errors.New("uspsbiz: label not found")
)

// LabelError is a USPS answer recognised as a known label problem: Kind is
// one of the ErrLabel… sentinels above, Err USPS's full answer.
type LabelError struct {
	Kind error
	Err  *APIError
}

func (e *LabelError) Error() string { return e.Kind.Error() + ": " + e.Err.Error() }

// Unwrap gives the *APIError.
func (e *LabelError) Unwrap() error { return e.Err }

// Is matches Kind.
func (e *LabelError) Is(target error) bool { return target == e.Kind }

// classifyLabelError wraps a recognised *APIError in a *LabelError.
func classifyLabelError(err error) error {
	var ae *APIError
	if !errors.As(err, &ae) {
		return err
	}
	text := strings.ToLower(ae.Message)
	for _, d := range ae.Errors {
		text += " " + strings.ToLower(d.Title+" "+d.Detail)
	}
	var kind error
	switch {
	case ae.HasCode("160174") || strings.Contains(text, "scan form cannot be cancel"):
		kind = ErrLabelOnScanForm
	case ae.HasCode("160001"):
		kind = ErrMailingDate
	case strings.Contains(text, "idempotency"):
		kind = ErrIdempotencyKeyReused
	case strings.Contains(text, "refund request"):
		kind = ErrRefundRejected
	case strings.Contains(text, "enrolled in usps ship"):
		kind = ErrNotEnrolledInShip
	case strings.Contains(text, "indicia company name"):
		kind = ErrIndiciaCompanyName
	case strings.Contains(text, "reprint"):
		kind = ErrLabelNotReprintable
	case strings.Contains(text, "not found") || ae.StatusCode == http.StatusNotFound:
		kind = ErrLabelNotFound
	default:
		return err
	}
	return &LabelError{Kind: kind, Err: ae}
}

func paymentHeader(pat Secret, key string) (http.Header, error) {
	if pat == "" {
		return nil, errors.New("uspsbiz: labels: a payment authorization token is required")
	}
	if strings.ContainsAny(string(pat), "\r\n") {
		return nil, errors.New("uspsbiz: labels: line break in payment authorization token")
	}
	h := http.Header{"X-Payment-Authorization-Token": {pat.Reveal()}}
	if key != "" {
		if !validUUID(key) {
			return nil, &LabelRequestError{Field: "IdempotencyKey", Reason: "must be a UUID"}
		}
		h.Set("X-Idempotency-Key", key)
	}
	return h, nil
}

// CreateLabel buys a label (POST /labels/v3/label) paid with the payment
// authorization token pat (from AuthorizePayment, or linking's
// Linker.PaymentToken), under the idempotency key key (NewIdempotencyKey;
// required).
//
// The key makes the purchase safe to repeat: USPS answers the same key
// with the same payload with the existing label, without a second charge.
// So this call retries like a lookup (transport errors, 429, 5xx), and
// after any failure whose outcome is unknown (a timeout, a dropped
// connection) the caller must send the same request with the same key
// again, never a new key. linking's Linker.BuyLabel does this with a record
// in its Store.
//
// A 200 (USPS's actual answer) and a 201 (its documented one) are both
// success. Known label problems come back as a *LabelError.
func (c *Client) CreateLabel(ctx context.Context, pat Secret, key string, req *LabelRequest) (*Label, error) {
	if key == "" {
		return nil, &LabelRequestError{Field: "IdempotencyKey", Reason: "is required"}
	}
	body, err := req.Body()
	if err != nil {
		return nil, err
	}
	return c.createLabel(ctx, pat, key, body)
}

// CreateLabelBody is CreateLabel with the body as LabelRequest.Body
// returned it, for a purchase recovered from a record: the bytes are sent
// unchanged, so USPS sees the same payload under the same key.
func (c *Client) CreateLabelBody(ctx context.Context, pat Secret, key string, body []byte) (*Label, error) {
	if key == "" {
		return nil, &LabelRequestError{Field: "IdempotencyKey", Reason: "is required"}
	}
	if !json.Valid(body) {
		return nil, &LabelRequestError{Field: "body", Reason: "is not JSON"}
	}
	return c.createLabel(ctx, pat, key, body)
}

func (c *Client) createLabel(ctx context.Context, pat Secret, key string, body []byte) (*Label, error) {
	h, err := paymentHeader(pat, key)
	if err != nil {
		return nil, err
	}
	h.Set("Accept", "multipart/form-data, application/json")
	var lr labelResponse
	if _, err := c.do(ctx, call{
		method: http.MethodPost, path: routeLabel, route: routeLabel, api: APILabels,
		body: json.RawMessage(body), header: h,
		class: httpx.Idempotent, // safe: the key makes USPS answer a repeat with the same label
	}, &lr); err != nil {
		return nil, classifyLabelError(err)
	}
	lr.label.IdempotencyKey = key
	return &lr.label, nil
}

// CancelStatus is USPS's answer to a cancel.
type CancelStatus string

// Cancel outcomes.
const (
	// Cancelled: the label was voided before its manifest; nothing is charged.
	Cancelled CancelStatus = "CANCELED"
	// Disputed: the label was already manifested; a refund request was
	// filed (CancelResult.DisputeID tracks it).
	Disputed CancelStatus = "DISPUTED"
)

// CancelResult is the answer of CancelLabel.
type CancelResult struct {
	TrackingNumber string       `json:"trackingNumber"`
	Status         CancelStatus `json:"status"`
	DisputeID      string       `json:"disputeId"`
}

// CancelLabel cancels a label (DELETE /labels/v3/label/{trackingNumber}):
// before the label's manifest (ManifestCutoff) USPS voids it (Cancelled);
// after, it files a refund request (Disputed, with a DisputeID). USPS takes
// one refund request per label per CRID per day, so a repeat is refused
// with ErrRefundRejected: the call is not retried once sent.
func (c *Client) CancelLabel(ctx context.Context, pat Secret, trackingNumber string) (*CancelResult, error) {
	n, err := normalizeTrackingNumber(trackingNumber)
	if err != nil {
		return nil, err
	}
	h, err := paymentHeader(pat, "")
	if err != nil {
		return nil, err
	}
	var out CancelResult
	if _, err := c.do(ctx, call{
		method: http.MethodDelete, path: "/labels/v3/label/" + url.PathEscape(n), route: routeLabelTracking,
		api: APILabels, header: h, class: httpx.NonIdempotent,
	}, &out); err != nil {
		return nil, classifyLabelError(err)
	}
	if out.Status != Cancelled && out.Status != Disputed {
		return nil, &decodeError{Route: routeLabelTracking, Status: http.StatusOK, Err: fmt.Errorf("unknown status %q", truncate(string(out.Status), 20))}
	}
	return &out, nil
}

// ReprintLabel prints a label again (POST
// /labels/v3/label-reprint/{trackingNumber}), possibly in another image
// format; USPS allows 3 reprints up to the mailing date, and none of a
// cancelled label (ErrLabelNotReprintable). No charge.
func (c *Client) ReprintLabel(ctx context.Context, pat Secret, trackingNumber string, img LabelImageInfo) (*Label, error) {
	n, err := normalizeTrackingNumber(trackingNumber)
	if err != nil {
		return nil, err
	}
	if !oneOf(img.ImageType, labelImageTypes) || !oneOf(img.LabelType, labelTypes) {
		return nil, &LabelRequestError{Field: "Image", Reason: "has an unknown image or label type"}
	}
	h, err := paymentHeader(pat, "")
	if err != nil {
		return nil, err
	}
	h.Set("Accept", "multipart/form-data, application/json")
	body := struct {
		ImageInfo *reprintImage `json:"imageInfo,omitempty"`
	}{}
	if img.ImageType != "" || img.LabelType != "" {
		body.ImageInfo = &reprintImage{ImageType: img.ImageType, LabelType: img.LabelType}
	}
	var lr labelResponse
	if _, err := c.do(ctx, call{
		method: http.MethodPost, path: "/labels/v3/label-reprint/" + url.PathEscape(n), route: routeLabelReprint,
		api: APILabels, body: body, header: h, class: httpx.Idempotent,
	}, &lr); err != nil {
		return nil, classifyLabelError(err)
	}
	return &lr.label, nil
}

type reprintImage struct {
	ImageType string `json:"imageType,omitempty"`
	LabelType string `json:"labelType,omitempty"`
}

// labelResponse reads a label answer: multipart (USPS's default) or one
// JSON object with base64 fields.
type labelResponse struct{ label Label }

// maxLabelPart bounds one part of a label answer.
const maxLabelPart = 8 << 20

func (lr *labelResponse) readResponse(res *http.Response) error {
	mt, params, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if err != nil {
		return fmt.Errorf("content type: %w", err)
	}
	if mt == "application/json" {
		var wire struct {
			Metadata LabelMetadata `json:"labelMetadata"`
			Image    []byte        `json:"labelImage"`
			Receipt  []byte        `json:"receiptImage"`
		}
		if err := decodeJSON(res.Body, &wire); err != nil {
			return err
		}
		lr.label = Label{Metadata: wire.Metadata, Image: wire.Image, Receipt: wire.Receipt}
		return lr.check()
	}
	if !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return fmt.Errorf("unexpected content type %q", truncate(mt, 40))
	}
	mr := multipart.NewReader(io.LimitReader(res.Body, 3*maxLabelPart), params["boundary"])
	var sawMeta bool
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		raw, err := io.ReadAll(io.LimitReader(p, maxLabelPart))
		if err != nil {
			return err
		}
		ct := p.Header.Get("Content-Type")
		switch p.FormName() {
		case "labelMetadata":
			if err := json.Unmarshal(raw, &lr.label.Metadata); err != nil {
				return fmt.Errorf("labelMetadata: %w", err)
			}
			sawMeta = true
		case "labelImage":
			if lr.label.Image, err = decodeBase64(raw); err != nil {
				return fmt.Errorf("labelImage: %w", err)
			}
			lr.label.ImageType = ct
		case "receiptImage":
			if lr.label.Receipt, err = decodeBase64(raw); err != nil {
				return fmt.Errorf("receiptImage: %w", err)
			}
			lr.label.ReceiptType = ct
		}
	}
	// The bytes after the closing boundary, so that the connection is reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4<<10))
	if !sawMeta {
		return errors.New("no labelMetadata part")
	}
	return lr.check()
}

func (lr *labelResponse) check() error {
	if lr.label.Metadata.TrackingNumber == "" {
		return errors.New("labelMetadata without trackingNumber")
	}
	return nil
}

// decodeBase64 ignores line breaks, which MIME encoders insert.
func decodeBase64(raw []byte) ([]byte, error) {
	if bytes.ContainsAny(raw, "\r\n ") {
		raw = bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' {
				return -1
			}
			return r
		}, raw)
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(raw)))
	n, err := base64.StdEncoding.Decode(out, raw)
	return out[:n], err
}

// RawRequest is a call to a USPS route nsalink has no method for yet, e.g.
// POST /addresses/v3/address. It goes through the client's auth, retries,
// budget, logging and error handling like every typed call.
type RawRequest struct {
	Method string
	// Path is below the environment's base URL, already escaped, e.g.
	// "/labels/v3/branding".
	Path string
	// Route is the path template logged and reported in errors instead of
	// Path (which may hold an identifier), e.g.
	// "/labels/v3/branding/{imageUUID}". Default: Path.
	Route  string
	Query  url.Values
	Header http.Header // Authorization and User-Agent are the client's
	// Body is sent as JSON when not nil (a json.RawMessage as is).
	Body any
	// Idempotent lets transport errors, 429 and 5xx be retried; leave it
	// false for anything that charges or creates.
	Idempotent bool
}

// RawResponse is a 2xx answer of Raw.
type RawResponse struct {
	StatusCode int
	Header     http.Header
	Body       []byte // at most 8 MiB
}

// Raw sends r with the client's token (the platform's, or the merchant's
// on a ForMerchant client) and returns a 2xx answer; any other status is an
// *APIError. The API's budget is the first path segment ("addresses").
func (c *Client) Raw(ctx context.Context, r RawRequest) (*RawResponse, error) {
	if r.Method == "" || !strings.HasPrefix(r.Path, "/") || strings.Contains(r.Path, "//") {
		return nil, errors.New("uspsbiz: Raw: need a method and a path starting with one /")
	}
	for k := range r.Header {
		if ck := http.CanonicalHeaderKey(k); ck == "Authorization" || ck == "User-Agent" {
			return nil, fmt.Errorf("uspsbiz: Raw: header %s is the client's", ck)
		}
	}
	api, _, _ := strings.Cut(strings.TrimPrefix(r.Path, "/"), "/")
	class := httpx.NonIdempotent
	if r.Idempotent {
		class = httpx.Idempotent
	}
	var out rawResponse
	if _, err := c.do(ctx, call{
		method: r.Method, path: r.Path, route: or(r.Route, r.Path), api: API(api),
		query: r.Query, body: r.Body, header: r.Header.Clone(), class: class,
	}, &out); err != nil {
		return nil, err
	}
	return &out.res, nil
}

type rawResponse struct{ res RawResponse }

func (rr *rawResponse) readResponse(res *http.Response) error {
	b, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBody))
	rr.res = RawResponse{StatusCode: res.StatusCode, Header: res.Header.Clone(), Body: b}
	return err
}

// responseReader is an out value of Client.do that reads the 2xx response
// itself instead of having it decoded as JSON.
type responseReader interface {
	readResponse(res *http.Response) error
}

// ManifestCutoff is when USPS manifests a label, after which CancelLabel
// files a refund instead of voiding it: 12:30 am Central time on the day
// after mailingDate, or 15 minutes after creation with immediate manifest
// (docs/usps.md#manifest-cutoff-cancel-and-refund). Central time follows the
// US daylight-saving rule (second Sunday of March to first Sunday of
// November), computed here so that no time zone database is needed.
func ManifestCutoff(mailingDate, created time.Time, immediate bool) time.Time {
	if immediate {
		return created.Add(15 * time.Minute)
	}
	y, m, d := mailingDate.Date()
	next := time.Date(y, m, d+1, 0, 30, 0, 0, time.UTC)
	offset := 6 * time.Hour // CST is UTC-6
	if centralDST(next) {
		offset = 5 * time.Hour // CDT is UTC-5
	}
	return next.Add(offset)
}

// centralDST reports whether the local date of t (read as a wall clock)
// is in US daylight-saving time, for a wall time of 00:30.
func centralDST(t time.Time) bool {
	y := t.Year()
	start := nthSunday(y, time.March, 2)
	end := nthSunday(y, time.November, 1)
	day := time.Date(y, t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	// 00:30 is before the 2 am switch: the start day is still standard
	// time, the end day still daylight time.
	return day.After(start) && !day.After(end)
}

func nthSunday(y int, m time.Month, n int) time.Time {
	d := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	for d.Weekday() != time.Sunday {
		d = d.AddDate(0, 0, 1)
	}
	return d.AddDate(0, 0, 7*(n-1))
}
