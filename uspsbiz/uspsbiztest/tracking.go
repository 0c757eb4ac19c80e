package uspsbiztest

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// TrackedPackage is a package seeded with AddTracking.
type TrackedPackage struct {
	TrackingNumber string
	// MailClass should be a value of the tracking spec's enum, e.g.
	// "PRIORITY_MAIL" (the spec's enum lacks USPS_GROUND_ADVANTAGE).
	MailClass        string
	Status           string // e.g. "Delivered"
	StatusCategory   string // e.g. "Delivered"
	StatusSummary    string
	OriginZIP        string
	OriginCity       string
	OriginState      string
	DestinationZIP   string
	DestinationCity  string
	DestinationState string
	ExpectedDelivery time.Time // zero: none
	// Events, newest first.
	Events []Event
}

// Event is one scan.
type Event struct {
	Type  string // e.g. "Delivered, In/At Mailbox"
	Code  string // e.g. "01"
	Time  time.Time
	City  string
	State string
	ZIP   string
}

// AddTracking seeds (or replaces) a package's tracking data.
func (s *Server) AddTracking(p TrackedPackage) {
	p.Events = append([]Event(nil), p.Events...)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.res.tracking[p.TrackingNumber] = &p
}

var trackingNotFound = detail{Code: "150002", Title: "Tracking number not found.",
	Detail: "The tracking number may be incorrect or the status update is not yet available. Please verify your tracking number and try again later."}

func (p *TrackedPackage) summary() map[string]any {
	lines := make([]string, 0, len(p.Events)+1)
	for _, e := range p.Events {
		lines = append(lines, fmt.Sprintf("%s, %s, %s, %s %s", e.Type, e.Time.Format("01/02/2006, 3:04 pm"), e.City, e.State, e.ZIP))
	}
	if len(lines) == 0 {
		lines = append(lines, or(p.StatusSummary, "Label Created, not yet in system"))
	}
	m := map[string]any{"trackingNumber": p.TrackingNumber, "eventSummaries": lines}
	if !p.ExpectedDelivery.IsZero() {
		m["expectedDeliveryDate"] = p.ExpectedDelivery.Format(time.DateOnly)
	}
	return m
}

func (p *TrackedPackage) detail() map[string]any {
	events := make([]map[string]any, 0, len(p.Events))
	for _, e := range p.Events {
		events = append(events, map[string]any{
			"eventType": e.Type, "eventCode": e.Code,
			"eventTimestamp": e.Time.Format(time.RFC3339), "GMTTimestamp": e.Time.UTC().Format(time.RFC3339),
			"GMTOffset": e.Time.Format("-07:00"), "eventCity": e.City, "eventState": e.State, "eventZIP": e.ZIP,
			"eventCountry": "", "firm": "", "name": "", "authorizedAgent": false,
		})
	}
	m := map[string]any{
		"trackingNumber": p.TrackingNumber, "mailType": "DOMESTIC_MAIL",
		"status": p.Status, "statusCategory": p.StatusCategory, "statusSummary": p.StatusSummary,
		"originZIP": p.OriginZIP, "originCity": p.OriginCity,
		"destinationZIP": p.DestinationZIP, "destinationCity": p.DestinationCity,
		"accessControl": "FREE", "trackingEvents": events,
	}
	if p.MailClass != "" {
		m["mailClass"] = p.MailClass
	}
	if p.OriginState != "" {
		m["originState"] = p.OriginState
	}
	if p.DestinationState != "" {
		m["destinationState"] = p.DestinationState
	}
	if !p.ExpectedDelivery.IsZero() {
		m["expectedDeliveryTimeStamp"] = p.ExpectedDelivery.Format(time.RFC3339)
	}
	return m
}

func (s *Server) handleTracking(w http.ResponseWriter, r *http.Request) {
	const ver = "/tracking/v3"
	if s.authenticate(w, r, "tracking") == nil {
		return
	}
	expand := r.URL.Query().Get("expand")
	if expand != "" && expand != "SUMMARY" && expand != "DETAIL" {
		writeUSPSError(w, http.StatusBadRequest, ver, "Bad Request", detail{Code: "150010", Title: "expand must be SUMMARY or DETAIL.", Detail: "expand must be SUMMARY or DETAIL.", Parameter: "expand"})
		return
	}
	s.mu.Lock()
	p := s.res.tracking[strings.ToUpper(r.PathValue("trackingNumber"))]
	var cp TrackedPackage
	if p != nil {
		cp = *p
	}
	s.mu.Unlock()
	if p == nil {
		writeUSPSError(w, http.StatusNotFound, ver, "Not Found", withParam(trackingNotFound, "trackingNumber"))
		return
	}
	if expand == "DETAIL" {
		writeJSON(w, http.StatusOK, cp.detail())
		return
	}
	writeJSON(w, http.StatusOK, cp.summary())
}

func (s *Server) handleTrackingBatch(w http.ResponseWriter, r *http.Request) {
	const ver = "/tracking/v3r2"
	if s.authenticate(w, r, "tracking") == nil {
		return
	}
	var reqs []struct {
		TrackingNumber string `json:"trackingNumber"`
	}
	if !decodeBody(w, r, &reqs) {
		return
	}
	if len(reqs) == 0 || len(reqs) > 35 {
		writeUSPSError(w, http.StatusBadRequest, ver, "Bad Request", detail{Code: "150011", Title: "Between 1 and 35 tracking numbers are allowed.", Detail: "Between 1 and 35 tracking numbers are allowed."})
		return
	}
	out := make([]map[string]any, 0, len(reqs))
	s.mu.Lock()
	for _, q := range reqs {
		p := s.res.tracking[strings.ToUpper(q.TrackingNumber)]
		if p == nil {
			out = append(out, map[string]any{"trackingNumber": q.TrackingNumber, "error": map[string]any{
				"code": "404", "message": "Not Found",
				"errors": []map[string]any{{"status": "404", "code": trackingNotFound.Code, "title": trackingNotFound.Title, "detail": trackingNotFound.Detail}},
			}})
			continue
		}
		out = append(out, p.detail())
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}
