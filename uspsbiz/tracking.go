package uspsbiz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-querystring/query"

	"github.com/nsalink/nsalink/internal/httpx"
)

// Tracking routes.
const (
	routeTracking      = "/tracking/v3/tracking/{trackingNumber}"
	routeTrackingBatch = "/tracking/v3r2/tracking"
)

// maxTrackingBatch is the most tracking numbers TrackMany sends in one call.
const maxTrackingBatch = 35

// TrackingOptions refine a lookup. The zero value asks for the summary.
type TrackingOptions struct {
	// Detail asks for fields per event (expand=DETAIL) instead of one line
	// of text per event (the summary).
	Detail         bool
	DestinationZIP string    // 5 digits; narrows a reused tracking number
	MailingDate    time.Time // likewise; zero omits it
	// ForwardedFor is sent as X-Forwarded-For: the end user's IP address
	// when the lookup is made on their behalf.
	ForwardedFor string
}

// trackingQuery is the query string of GET /tracking/v3/tracking/{n}.
type trackingQuery struct {
	Expand             string `url:"expand,omitempty"`
	DestinationZIPCode string `url:"destinationZIPCode,omitempty"`
	MailingDate        string `url:"mailingDate,omitempty"` // RFC 3339 full-date
}

// TrackingEvent is one scan of a package (expand=DETAIL).
type TrackingEvent struct {
	EventType       string `json:"eventType"`
	EventTimestamp  string `json:"eventTimestamp"`
	GMTTimestamp    string `json:"GMTTimestamp"`
	GMTOffset       string `json:"GMTOffset"`
	EventCountry    string `json:"eventCountry"`
	EventCity       string `json:"eventCity"`
	EventState      string `json:"eventState"`
	EventZIP        string `json:"eventZIP"`
	Firm            string `json:"firm"`
	Name            string `json:"name"`
	AuthorizedAgent bool   `json:"authorizedAgent"`
	EventCode       string `json:"eventCode"`
	ActionCode      string `json:"actionCode"`
	ReasonCode      string `json:"reasonCode"`
}

// Tracking is what USPS knows about one package: the summary fields
// (EventSummaries) or the detail fields (Events and the rest), depending
// on the expand asked for. Timestamps are kept as USPS's text.
type Tracking struct {
	TrackingNumber            string          `json:"trackingNumber"`
	ExpectedDeliveryDate      string          `json:"expectedDeliveryDate"`
	ExpectedDeliveryTime      string          `json:"expectedDeliveryTime"`
	GuaranteedDeliveryDate    string          `json:"guaranteedDeliveryDate"`
	EventSummaries            []string        `json:"eventSummaries"`
	MailClass                 string          `json:"mailClass"`
	MailType                  string          `json:"mailType"`
	Status                    string          `json:"status"`
	StatusCategory            string          `json:"statusCategory"`
	StatusSummary             string          `json:"statusSummary"`
	OriginCity                string          `json:"originCity"`
	OriginState               string          `json:"originState"`
	OriginZIP                 string          `json:"originZIP"`
	DestinationCity           string          `json:"destinationCity"`
	DestinationState          string          `json:"destinationState"`
	DestinationZIP            string          `json:"destinationZIP"`
	ExpectedDeliveryTimeStamp string          `json:"expectedDeliveryTimeStamp"`
	ServiceTypeCode           string          `json:"serviceTypeCode"`
	AccessControl             string          `json:"accessControl"` // FREE or IP_AGREEMENT
	Events                    []TrackingEvent `json:"trackingEvents"`
}

// TrackPackage looks one package up (GET
// /tracking/v3/tracking/{trackingNumber}). Since April 2026 USPS gives
// platforms free tracking only with a merchant's token, so call it on a
// ForMerchant client; the platform's own client works for its own labels.
func (c *Client) TrackPackage(ctx context.Context, trackingNumber string, opt TrackingOptions) (*Tracking, error) {
	n, err := normalizeTrackingNumber(trackingNumber)
	if err != nil {
		return nil, err
	}
	wq := trackingQuery{DestinationZIPCode: opt.DestinationZIP}
	if opt.Detail {
		wq.Expand = "DETAIL"
	}
	if opt.DestinationZIP != "" && (len(opt.DestinationZIP) != 5 || !allDigits(opt.DestinationZIP)) {
		return nil, fmt.Errorf("uspsbiz: tracking: destination ZIP %q must be 5 digits", truncate(opt.DestinationZIP, 12))
	}
	if !opt.MailingDate.IsZero() {
		wq.MailingDate = opt.MailingDate.Format(time.DateOnly)
	}
	q, err := query.Values(wq)
	if err != nil {
		return nil, fmt.Errorf("uspsbiz: tracking: %w", err)
	}
	var h http.Header
	if opt.ForwardedFor != "" {
		if strings.ContainsAny(opt.ForwardedFor, "\r\n") {
			return nil, errors.New("uspsbiz: tracking: line break in ForwardedFor")
		}
		h = http.Header{"X-Forwarded-For": {opt.ForwardedFor}}
	}
	var out Tracking
	if _, err := c.do(ctx, call{
		method: http.MethodGet,
		path:   "/tracking/v3/tracking/" + url.PathEscape(n),
		route:  routeTracking,
		api:    APITracking,
		query:  q,
		header: h,
		class:  httpx.Idempotent,
	}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// TrackingRequest is one package of a batch lookup.
type TrackingRequest struct {
	TrackingNumber string
	MailingDate    time.Time // zero omits it
	DestinationZIP string
}

// TrackingResult is one answer of a batch lookup: Tracking, or Err when
// USPS reports a problem with this number alone.
type TrackingResult struct {
	TrackingNumber string
	Tracking       *Tracking
	Err            *APIError
}

// TrackMany looks up to 35 packages up in one call (POST
// /tracking/v3r2/tracking, "Tracking 3.2"). Results come in USPS's order;
// match them by TrackingNumber. That endpoint has no published OpenAPI
// file: the shape follows USPS's portal page and open-source clients, and
// a per-number {"error":{…}} item is read into TrackingResult.Err.
func (c *Client) TrackMany(ctx context.Context, reqs []TrackingRequest) ([]TrackingResult, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	if len(reqs) > maxTrackingBatch {
		return nil, fmt.Errorf("uspsbiz: tracking: %d numbers in one batch; at most %d", len(reqs), maxTrackingBatch)
	}
	type item struct {
		TrackingNumber     string `json:"trackingNumber"`
		MailingDate        string `json:"mailingDate,omitempty"`
		DestinationZIPCode string `json:"destinationZIPCode,omitempty"`
	}
	body := make([]item, len(reqs))
	for i, r := range reqs {
		n, err := normalizeTrackingNumber(r.TrackingNumber)
		if err != nil {
			return nil, err
		}
		body[i] = item{TrackingNumber: n, DestinationZIPCode: r.DestinationZIP}
		if !r.MailingDate.IsZero() {
			body[i].MailingDate = r.MailingDate.Format(time.DateOnly)
		}
	}
	var raw []json.RawMessage
	if _, err := c.do(ctx, call{
		method: http.MethodPost,
		path:   routeTrackingBatch,
		route:  routeTrackingBatch,
		api:    APITracking,
		body:   body,
		class:  httpx.Idempotent, // a lookup, safe to repeat
	}, &raw); err != nil {
		return nil, err
	}
	out := make([]TrackingResult, 0, len(raw))
	for _, r := range raw {
		var probe struct {
			TrackingNumber string          `json:"trackingNumber"`
			Error          json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(r, &probe); err != nil {
			return nil, &decodeError{Route: routeTrackingBatch, Status: http.StatusOK, Err: err}
		}
		res := TrackingResult{TrackingNumber: probe.TrackingNumber}
		if len(probe.Error) > 0 && string(probe.Error) != "null" {
			ae := decodeErrorBody(r)
			ae.Method, ae.Route = http.MethodPost, routeTrackingBatch
			if code, err := parseStatus(ae.Code); err == nil {
				ae.StatusCode = code
			}
			res.Err = ae
		} else {
			var t Tracking
			if err := json.Unmarshal(r, &t); err != nil {
				return nil, &decodeError{Route: routeTrackingBatch, Status: http.StatusOK, Err: err}
			}
			res.Tracking = &t
		}
		out = append(out, res)
	}
	return out, nil
}

func parseStatus(s string) (int, error) {
	var n int
	if len(s) != 3 || !allDigits(s) {
		return 0, errors.New("not a status")
	}
	_, err := fmt.Sscanf(s, "%d", &n)
	return n, err
}

// normalizeTrackingNumber removes spaces and upper-cases; a tracking number
// is 10 to 40 letters and digits (IMpb numbers have 20–34 digits,
// international ones look like EA123456785US).
func normalizeTrackingNumber(s string) (string, error) {
	n := strings.ToUpper(strings.Join(strings.Fields(s), ""))
	if len(n) < 10 || len(n) > 40 {
		return "", fmt.Errorf("uspsbiz: tracking number %q must have 10 to 40 letters and digits", truncate(n, 44))
	}
	for i := 0; i < len(n); i++ {
		if !isDigit(n[i]) && (n[i] < 'A' || n[i] > 'Z') {
			return "", fmt.Errorf("uspsbiz: tracking number %q must have only letters and digits", truncate(n, 44))
		}
	}
	return n, nil
}
