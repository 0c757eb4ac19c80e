package uspsbiz_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

const (
	trackDelivered = "9400100000000000000001"
	trackTransit   = "9400100000000000000002"
	trackUnknown   = "9400100000000000000099"
)

func seedTracking(srv *uspsbiztest.Server) {
	at := time.Date(2026, 5, 2, 12, 55, 0, 0, time.FixedZone("EDT", -4*3600))
	srv.AddTracking(uspsbiztest.TrackedPackage{
		TrackingNumber: trackDelivered, MailClass: "PRIORITY_MAIL", Status: "Delivered, In/At Mailbox", StatusCategory: "Delivered",
		StatusSummary: "Your item was delivered in or at the mailbox at 12:55 pm on May 2, 2026 in FALMOUTH, MA 02540.",
		OriginZIP:     "22407", OriginCity: "FREDERICKSBURG", OriginState: "VA", DestinationZIP: "02540", DestinationCity: "FALMOUTH", DestinationState: "MA",
		Events: []uspsbiztest.Event{
			{Type: "Delivered, In/At Mailbox", Code: "01", Time: at, City: "FALMOUTH", State: "MA", ZIP: "02540"},
			{Type: "Out for Delivery", Code: "OF", Time: at.Add(-6 * time.Hour), City: "FALMOUTH", State: "MA", ZIP: "02540"},
		},
	})
	srv.AddTracking(uspsbiztest.TrackedPackage{TrackingNumber: trackTransit, StatusCategory: "In Transit", ExpectedDelivery: at.Add(48 * time.Hour)})
}

func TestTrackPackage(t *testing.T) {
	srv := newPaymentsFake(t)
	seedTracking(srv)
	c := newClient(t, srv)
	tok := link(t, srv, c, "")
	m := c.ForMerchant(oauth2.StaticTokenSource(tok.OAuth2()))

	sum, err := m.TrackPackage(t.Context(), "9400 1000 0000 0000 0000 01", uspsbiz.TrackingOptions{})
	require.NoError(t, err)
	assert.Equal(t, trackDelivered, sum.TrackingNumber)
	require.Len(t, sum.EventSummaries, 2)
	assert.Contains(t, sum.EventSummaries[0], "Delivered")
	assert.Empty(t, sum.Events)
	last := srv.Requests()[len(srv.Requests())-1]
	assert.Equal(t, "/tracking/v3/tracking/"+trackDelivered, last.Path)
	assert.Regexp(t, `^Bearer merchant-`, last.Header.Get("Authorization"))

	det, err := m.TrackPackage(t.Context(), trackDelivered, uspsbiz.TrackingOptions{Detail: true, DestinationZIP: "02540", MailingDate: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), ForwardedFor: "203.0.113.9"})
	require.NoError(t, err)
	assert.Equal(t, "Delivered", det.StatusCategory)
	assert.Equal(t, "PRIORITY_MAIL", det.MailClass)
	require.Len(t, det.Events, 2)
	assert.Equal(t, "01", det.Events[0].EventCode)
	assert.Equal(t, "FALMOUTH", det.Events[0].EventCity)
	last = srv.Requests()[len(srv.Requests())-1]
	assert.Equal(t, "DETAIL", last.Query.Get("expand"))
	assert.Equal(t, "02540", last.Query.Get("destinationZIPCode"))
	assert.Equal(t, "2026-05-01", last.Query.Get("mailingDate"))
	assert.Equal(t, "203.0.113.9", last.Header.Get("X-Forwarded-For"))

	_, err = m.TrackPackage(t.Context(), trackUnknown, uspsbiz.TrackingOptions{})
	require.ErrorIs(t, err, uspsbiz.ErrNotFound)
	var ae *uspsbiz.APIError
	require.ErrorAs(t, err, &ae)
	assert.True(t, ae.HasCode("150002"))
	assert.Equal(t, "/tracking/v3/tracking/{trackingNumber}", ae.Route)

	n := srv.Count("/tracking/")
	for _, bad := range []struct {
		num string
		opt uspsbiz.TrackingOptions
	}{
		{"123", uspsbiz.TrackingOptions{}},
		{"9400-1000-0000-0000", uspsbiz.TrackingOptions{}},
		{trackDelivered, uspsbiz.TrackingOptions{DestinationZIP: "0254"}},
		{trackDelivered, uspsbiz.TrackingOptions{ForwardedFor: "a\r\nb"}},
	} {
		_, err := m.TrackPackage(t.Context(), bad.num, bad.opt)
		require.Error(t, err, bad.num)
	}
	assert.Equal(t, n, srv.Count("/tracking/"))
}

func TestTrackMany(t *testing.T) {
	srv := newPaymentsFake(t)
	seedTracking(srv)
	c := newClient(t, srv)
	res, err := c.TrackMany(t.Context(), []uspsbiz.TrackingRequest{
		{TrackingNumber: trackDelivered, DestinationZIP: "02540"},
		{TrackingNumber: trackTransit, MailingDate: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)},
		{TrackingNumber: trackUnknown},
	})
	require.NoError(t, err)
	require.Len(t, res, 3)
	assert.Equal(t, "Delivered", res[0].Tracking.StatusCategory)
	assert.Len(t, res[0].Tracking.Events, 2)
	assert.NotEmpty(t, res[1].Tracking.ExpectedDeliveryTimeStamp)
	assert.Nil(t, res[2].Tracking)
	require.NotNil(t, res[2].Err)
	assert.True(t, res[2].Err.HasCode("150002"))
	assert.Equal(t, 404, res[2].Err.StatusCode)
	assert.Equal(t, 1, srv.Count("POST /tracking/v3r2/tracking"))
	body := string(srv.Requests()[len(srv.Requests())-1].Body)
	assert.Contains(t, body, `"mailingDate":"2026-05-01"`)
	assert.Contains(t, body, `"destinationZIPCode":"02540"`)

	none, err := c.TrackMany(t.Context(), nil)
	require.NoError(t, err)
	assert.Nil(t, none)
	_, err = c.TrackMany(t.Context(), make([]uspsbiz.TrackingRequest, 36)) // at most 35 a batch
	require.Error(t, err)
}

func TestTrackingBudget(t *testing.T) {
	srv := newPaymentsFake(t)
	seedTracking(srv)
	c := newClient(t, srv, uspsbiz.WithBudget(uspsbiz.APITracking, uspsbiz.Budget{PerHour: 60, Burst: 1}))
	_, err := c.TrackPackage(t.Context(), trackDelivered, uspsbiz.TrackingOptions{})
	require.NoError(t, err)
	_, err = c.TrackPackage(t.Context(), trackDelivered, uspsbiz.TrackingOptions{})
	var be *uspsbiz.BudgetError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, uspsbiz.APITracking, be.API)
	assert.Equal(t, 1, srv.Count("/tracking/"))
	srv.Advance(time.Minute)
	_, err = c.TrackPackage(t.Context(), trackDelivered, uspsbiz.TrackingOptions{})
	require.NoError(t, err)
}
