package nsalinkotel_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/memstore"
	"github.com/nsalink/nsalink/linking/sqlstore/sqlite"
	nsalinkotel "github.com/nsalink/nsalink/otel"
	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// Fixtures. The canary values must never appear in telemetry.
const (
	clientID     = "acme-ship-app"
	clientSecret = "canary-platform-secret-a71c"
	redirectURI  = "https://ship.example/usps/callback"
	platformCRID = "9999001"
	username     = "acme-widgets"
	password     = "canary-usps-password-5e2"
	mfaCode      = "246810"
	custCRID     = "56781234"
	custMID      = "901234567"
	manifestMID  = "902345678"
	epsCanary    = "1000000731" // the customer's EPS account number
	trackCanary  = "9400111899223100007319"
	account      = "acct-canary-5521"
	session      = "session-canary-8c3d"
	payAccount   = "/payments/v3/payment-account/{accountNumber}"
)

// telemetry is an SDK pipeline read by hand: a ManualReader for metrics
// and a SpanRecorder for spans.
type telemetry struct {
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	obs    *nsalinkotel.Observer
}

func newTelemetry(t *testing.T) *telemetry {
	t.Helper()
	tl := &telemetry{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	tl.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(tl.reader))
	tl.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tl.spans))
	t.Cleanup(func() {
		_ = tl.mp.Shutdown(context.Background())
		_ = tl.tp.Shutdown(context.Background())
	})
	obs, err := nsalinkotel.New(tl.mp, tl.tp)
	require.NoError(t, err)
	tl.obs = obs
	return tl
}

func (tl *telemetry) collect(t *testing.T) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tl.reader.Collect(t.Context(), &rm))
	return rm
}

// point is one data point of any instrument, flattened.
type point struct {
	attrs attribute.Set
	value float64 // sum or gauge value; histogram: count
}

func points(rm metricdata.ResourceMetrics, name string) []point {
	var out []point
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					out = append(out, point{dp.Attributes, float64(dp.Value)})
				}
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					out = append(out, point{dp.Attributes, float64(dp.Value)})
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					out = append(out, point{dp.Attributes, float64(dp.Count)})
				}
			default:
				panic(fmt.Sprintf("%s: unexpected data %T", name, m.Data))
			}
		}
	}
	return out
}

// sum adds the values of name's points whose attributes include want.
func sum(rm metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) float64 {
	var total float64
	for _, p := range points(rm, name) {
		if hasAll(p.attrs, want) {
			total += p.value
		}
	}
	return total
}

func hasAll(set attribute.Set, want []attribute.KeyValue) bool {
	for _, kv := range want {
		v, ok := set.Value(kv.Key)
		if !ok || v != kv.Value {
			return false
		}
	}
	return true
}

// env is a fake USPS with a client and Linker wired to the telemetry.
type env struct {
	t      *testing.T
	srv    *uspsbiztest.Server
	usps   *uspsbiz.Client
	store  linking.Store
	linker *linking.Linker
	tl     *telemetry
}

func newEnv(t *testing.T, clientOpts ...uspsbiz.Option) *env {
	t.Helper()
	srv := uspsbiztest.NewServer(t,
		uspsbiztest.WithTime(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)),
		uspsbiztest.WithApp(uspsbiztest.App{ClientID: clientID, ClientSecret: clientSecret, Name: "Acme Ship", RedirectURIs: []string{redirectURI}, CRID: platformCRID}),
		uspsbiztest.WithBusinessAccount(uspsbiztest.BusinessAccount{
			Username: username, Password: password, MFACode: mfaCode,
			CRID: custCRID, MIDs: []string{custMID}, ManifestMIDs: []string{manifestMID},
			EPAs: []uspsbiztest.EPA{{AccountNumber: epsCanary}},
		}),
	)
	price := uspsbiztest.Price{MailClass: "PRIORITY_MAIL", SKU: "DPXX0XXXXC00010", Price: "11.50"}
	require.NoError(t, srv.SetPublishedPrices(price))
	price.Price = "8.05"
	require.NoError(t, srv.SetContractPrices(epsCanary, price))

	tl := newTelemetry(t)
	base := []uspsbiz.Option{
		uspsbiz.WithEnvironment(uspsbiz.Environment(srv.URL)),
		uspsbiz.WithCOPURL(srv.COPURL()),
		uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: clientID, ClientSecret: clientSecret}),
		uspsbiz.WithClock(srv.Now),
		uspsbiz.WithRetryPolicy(uspsbiz.RetryPolicy{MaxRetries: 1, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond, MaxRetryAfter: time.Second}),
	}
	client, err := uspsbiz.New(append(append(base, clientOpts...), tl.obs.ClientOptions()...)...)
	require.NoError(t, err)
	tl.obs.ObserveQuota(client)

	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := linking.NewAESGCMSealer("k1", map[string][]byte{"k1": key})
	require.NoError(t, err)
	store := memstore.New()
	linker, err := linking.New(client, store, sealer, append([]linking.Option{
		linking.WithRedirectURI(redirectURI),
		linking.WithPlatform("Acme Ship", platformCRID),
		linking.WithClock(srv.Now),
	}, tl.obs.LinkerOptions()...)...)
	require.NoError(t, err)
	return &env{t: t, srv: srv, usps: client, store: store, linker: linker, tl: tl}
}

// link takes acct to awaiting credentials through the COP.
func (e *env) link(ctx context.Context, acct string) {
	e.t.Helper()
	u, err := e.linker.Start(ctx, acct, session)
	require.NoError(e.t, err)
	back, err := e.srv.Authorize(u, uspsbiztest.Consent{Username: username, Password: password, MFACode: mfaCode})
	require.NoError(e.t, err)
	st, err := e.linker.Callback(ctx, acct, session, back.Query())
	require.NoError(e.t, err)
	require.Equal(e.t, linking.StateAwaitingCredentials, st.State)
}

// canaries lists every secret and number the fake saw or handed out: the
// platform's secret, the customer's password, EPS and tracking numbers,
// the account id, and each code, token and payment token on the wire.
func (e *env) canaries(extra ...string) []string {
	out := append([]string{clientSecret, password, epsCanary, trackCanary, account, session}, extra...)
	for _, r := range e.srv.Requests() {
		if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer ") {
			out = append(out, strings.TrimPrefix(a, "Bearer "))
		}
		if form, err := url.ParseQuery(string(r.Body)); err == nil && strings.HasPrefix(r.Path, "/oauth2/") {
			for _, k := range []string{"code", "refresh_token", "token", "client_secret", "code_verifier"} {
				if v := form.Get(k); v != "" {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// telemetryText gathers every name, attribute key and value, event and
// status text that the pipeline exported.
func (tl *telemetry) text(t *testing.T) []string {
	var out []string
	addSet := func(s attribute.Set) {
		for _, kv := range s.ToSlice() {
			out = append(out, string(kv.Key), kv.Value.String())
		}
	}
	for _, sm := range tl.collect(t).ScopeMetrics {
		for _, m := range sm.Metrics {
			out = append(out, m.Name, m.Description)
			for _, p := range points(metricdata.ResourceMetrics{ScopeMetrics: []metricdata.ScopeMetrics{{Metrics: []metricdata.Metrics{m}}}}, m.Name) {
				addSet(p.attrs)
			}
		}
	}
	for _, s := range tl.spans.Ended() {
		out = append(out, s.Name(), s.Status().Description)
		addSet(attribute.NewSet(s.Attributes()...))
		for _, ev := range s.Events() {
			out = append(out, ev.Name)
			addSet(attribute.NewSet(ev.Attributes...))
		}
	}
	return out
}

func TestMetricsAndTracesOverTheFake(t *testing.T) {
	e := newEnv(t)
	tl := e.tl
	tracer := tl.tp.Tracer("host")

	// A host request: link and submit credentials under one span.
	ctx, host := tracer.Start(t.Context(), "host request")
	e.link(ctx, account)
	st, err := e.linker.SubmitCredentials(ctx, account, linking.CredentialsInput{CRID: custCRID, MID: custMID, ManifestMID: manifestMID, EPS: epsCanary})
	require.NoError(t, err)
	require.Equal(t, linking.StateActive, st.State)
	payTok, _, err := e.linker.PaymentToken(ctx, account)
	require.NoError(t, err)
	host.End()

	// A retried lookup under a second span.
	ctx2, lookup := tracer.Start(t.Context(), "lookup")
	e.srv.InjectFault(uspsbiztest.Fault{Match: "GET /payments/v3/payment-account/", Status: 503})
	_, err = e.usps.LookupEPA(ctx2, usps.EPSAccount(epsCanary))
	require.NoError(t, err)
	lookup.End()

	// Tracking with the customer's token: the number is in the path.
	merchant := e.usps.ForMerchant(e.linker.TokenSource(t.Context(), account))
	_, _ = merchant.TrackPackage(t.Context(), trackCanary, uspsbiz.TrackingOptions{})

	// Refreshes: USPS down, the connection dropped, then success, then a
	// USPS password reset kills the grant.
	e.srv.Advance(8 * time.Hour)
	e.srv.InjectFault(uspsbiztest.Fault{Match: "POST /oauth2/v3/token", Status: 503})
	_, err = e.linker.TokenSource(t.Context(), account).Token()
	require.Error(t, err)
	e.srv.InjectFault(uspsbiztest.Fault{Match: "POST /oauth2/v3/token", Kind: uspsbiztest.FaultDropConnection})
	_, err = e.linker.TokenSource(t.Context(), account).Token()
	require.Error(t, err)
	_, err = e.linker.TokenSource(t.Context(), account).Token()
	require.NoError(t, err)
	e.srv.RevokeAll(username)
	e.srv.Advance(8 * time.Hour)
	_, err = e.linker.TokenSource(t.Context(), account).Token()
	require.ErrorIs(t, err, uspsbiz.ErrReauthorizationRequired)
	st, err = e.linker.Status(t.Context(), account)
	require.NoError(t, err)
	require.Equal(t, linking.StateActionRequired, st.State)

	rm := tl.collect(t)
	api := func(s string) attribute.KeyValue { return attribute.String("usps.api", s) }
	tmpl := attribute.String("url.template", payAccount)
	attempt := func(n int) attribute.KeyValue { return attribute.Int("usps.attempt", n) }
	status := func(n int) attribute.KeyValue { return attribute.Int("http.response.status_code", n) }
	grant := func(g uspsbiz.Grant) attribute.KeyValue { return attribute.String("usps.grant", string(g)) }

	// Calls: the retried lookup is two attempts with their statuses.
	assert.Equal(t, 1.0, sum(rm, "nsalink.usps.calls", api("payments"), tmpl, attempt(1), status(503), attribute.String("error.type", "503")))
	assert.Equal(t, 1.0, sum(rm, "nsalink.usps.calls", api("payments"), tmpl, attempt(2), status(200)))
	assert.Equal(t, 1.0, sum(rm, "nsalink.usps.calls", api("payments"), attribute.String("url.template", "/payments/v3/payment-authorization"), status(200)))
	assert.Equal(t, 1.0, sum(rm, "nsalink.usps.calls", api("prices"), attribute.String("http.request.method", "POST")), "the contract probe")
	assert.Equal(t, 1.0, sum(rm, "nsalink.usps.calls", api("tracking"), attribute.String("url.template", "/tracking/v3/tracking/{trackingNumber}")))
	assert.Equal(t, 1.0, sum(rm, "nsalink.usps.calls", api("oauth2"), grant(uspsbiz.GrantAuthorizationCode), status(200)))
	assert.Equal(t, 4.0, sum(rm, "nsalink.usps.calls", api("oauth2"), grant(uspsbiz.GrantRefreshToken)))
	assert.Equal(t, 1.0, sum(rm, "nsalink.usps.calls", grant(uspsbiz.GrantRefreshToken), attribute.String("error.type", "connection closed")))
	assert.GreaterOrEqual(t, sum(rm, "nsalink.usps.calls", grant(uspsbiz.GrantClientCredentials), status(200)), 1.0)
	// Every attempt the fake saw was counted once, and timed once.
	assert.Equal(t, float64(len(e.srv.Requests())-copRequests(e.srv)), sum(rm, "nsalink.usps.calls"))
	assert.Equal(t, sum(rm, "nsalink.usps.calls"), sum(rm, "nsalink.usps.call.duration"))

	// Refreshes by outcome.
	outcome := func(s string) attribute.KeyValue { return attribute.String("outcome", s) }
	assert.Equal(t, 1.0, sum(rm, "nsalink.token.refreshes", outcome("usps_error")))
	assert.Equal(t, 1.0, sum(rm, "nsalink.token.refreshes", outcome("transport_error")))
	assert.Equal(t, 1.0, sum(rm, "nsalink.token.refreshes", outcome("success")))
	assert.Equal(t, 1.0, sum(rm, "nsalink.token.refreshes", outcome("rejected")))
	assert.Equal(t, 4.0, sum(rm, "nsalink.token.refreshes"))

	// Transitions, with the relink-required one the alert watches.
	tr := func(from, to, reason string) float64 {
		return sum(rm, "nsalink.link.transitions", attribute.String("link.from", from), attribute.String("link.to", to), attribute.String("link.reason", reason))
	}
	assert.Equal(t, 1.0, tr("unlinked", "authorizing", "none"))
	assert.Equal(t, 1.0, tr("approval_pending", "active", "none"))
	assert.Equal(t, 1.0, tr("active", "action_required", "token_revoked"))
	assert.Equal(t, 5.0, sum(rm, "nsalink.link.transitions"))

	// Spans: one per attempt, named by template, children of the caller's.
	var lookups []sdktrace.ReadOnlySpan
	for _, s := range tl.spans.Ended() {
		if s.Name() == "GET "+payAccount {
			lookups = append(lookups, s)
		}
	}
	require.Len(t, lookups, 2)
	for i, s := range lookups {
		assert.Equal(t, lookup.SpanContext().TraceID(), s.SpanContext().TraceID())
		assert.Equal(t, lookup.SpanContext().SpanID(), s.Parent().SpanID(), "child of the caller's span")
		set := attribute.NewSet(s.Attributes()...)
		assert.True(t, hasAll(set, []attribute.KeyValue{attempt(i + 1), tmpl, api("payments")}), set.Encoded(attribute.DefaultEncoder()))
		assert.False(t, s.StartTime().After(s.EndTime()))
	}
	assert.True(t, hasAll(attribute.NewSet(lookups[0].Attributes()...), []attribute.KeyValue{status(503)}))
	assert.Equal(t, codes.Error, lookups[0].Status().Code)
	assert.True(t, hasAll(attribute.NewSet(lookups[1].Attributes()...), []attribute.KeyValue{status(200)}))
	assert.Equal(t, codes.Unset, lookups[1].Status().Code)

	// The host span holds the flow's calls and its transitions as events.
	var hostSpan sdktrace.ReadOnlySpan
	children := map[string]int{}
	for _, s := range tl.spans.Ended() {
		if s.SpanContext().SpanID() == host.SpanContext().SpanID() {
			hostSpan = s
		}
		if s.Parent().SpanID() == host.SpanContext().SpanID() {
			children[s.Name()]++
		}
	}
	require.NotNil(t, hostSpan)
	assert.Equal(t, map[string]int{
		"POST /oauth2/v3/token":                   2, // code exchange, platform token
		"POST /payments/v3/payment-authorization": 1,
		"POST /prices/v3/base-rates/search":       1,
	}, children)
	var events []string
	for _, ev := range hostSpan.Events() {
		set := attribute.NewSet(ev.Attributes...)
		to, _ := set.Value("link.to")
		events = append(events, ev.Name+" "+to.AsString())
	}
	assert.Equal(t, []string{"link transition authorizing", "link transition awaiting_credentials",
		"link transition approval_pending", "link transition active"}, events)

	// No telemetry text holds a secret, a number or an account id.
	texts := tl.text(t)
	require.NotEmpty(t, texts)
	canaries := e.canaries(payTok.Reveal())
	require.Greater(t, len(canaries), 10, "tokens and codes were collected from the wire")
	for _, c := range canaries {
		require.NotEmpty(t, c)
		for _, s := range texts {
			assert.NotContains(t, s, c)
		}
	}
}

// copRequests counts the fake's COP pages, which a browser loads, not the
// client.
func copRequests(srv *uspsbiztest.Server) int {
	n := 0
	for _, r := range srv.Requests() {
		if !strings.HasPrefix(r.Path, "/oauth2/") && !strings.HasPrefix(r.Path, "/payments/") &&
			!strings.HasPrefix(r.Path, "/prices/") && !strings.HasPrefix(r.Path, "/tracking/") {
			n++
		}
	}
	return n
}

func TestQuotaGauge(t *testing.T) {
	e := newEnv(t, uspsbiz.WithBudget(uspsbiz.APIPayments, uspsbiz.Budget{PerHour: 60, Burst: 5}),
		uspsbiz.WithBudget(uspsbiz.APIOAuth, uspsbiz.Budget{PerHour: 60}))
	for range 2 {
		_, err := e.usps.LookupEPA(t.Context(), usps.EPSAccount(epsCanary))
		require.NoError(t, err)
	}
	rm := e.tl.collect(t)
	assert.Equal(t, 3.0, sum(rm, "nsalink.usps.quota.remaining", attribute.String("usps.api", "payments")))
	assert.Equal(t, 59.0, sum(rm, "nsalink.usps.quota.remaining", attribute.String("usps.api", "oauth2")), "one platform token")
	assert.Len(t, points(rm, "nsalink.usps.quota.remaining"), 2, "APIs without a budget are not reported")

	// The budget refills on the client's clock.
	e.srv.Advance(time.Minute)
	rm = e.tl.collect(t)
	assert.Equal(t, 4.0, sum(rm, "nsalink.usps.quota.remaining", attribute.String("usps.api", "payments")))
}

func TestQuotaGaugeNeedsAClient(t *testing.T) {
	tl := newTelemetry(t)
	assert.Empty(t, points(tl.collect(t), "nsalink.usps.quota.remaining"))
}

// seedLinks creates links directly in the store.
func seedLinks(t *testing.T, store linking.Store, n int, state linking.State, reason linking.Reason, prefix string) {
	t.Helper()
	for i := range n {
		_, err := store.CreateLink(t.Context(), &linking.Link{AccountID: fmt.Sprintf("%s-%04d", prefix, i), State: state, Reason: reason})
		require.NoError(t, err)
	}
}

func TestLinkScanCountsByStateAndReason(t *testing.T) {
	tl := newTelemetry(t)
	store := memstore.New()
	seedLinks(t, store, 700, linking.StateActive, linking.ReasonNone, "a") // more than one page
	seedLinks(t, store, 3, linking.StateActionRequired, linking.ReasonTokenRevoked, "b")
	seedLinks(t, store, 2, linking.StateApprovalPending, linking.ReasonContractNotEffective, "c")

	assert.Empty(t, points(tl.collect(t), "nsalink.links"), "no scan yet")
	tl.obs.ScanOnce(t.Context(), store, 100_000)
	rm := tl.collect(t)
	link := func(state, reason string) float64 {
		return sum(rm, "nsalink.links", attribute.String("link.state", state), attribute.String("link.reason", reason))
	}
	assert.Equal(t, 700.0, link("active", "none"))
	assert.Equal(t, 3.0, link("action_required", "token_revoked"))
	assert.Equal(t, 2.0, link("approval_pending", "contract_not_effective"))
	assert.Len(t, points(rm, "nsalink.links"), 3)
	assert.Equal(t, 705.0, sum(rm, "nsalink.links.scanned"))

	// Bounded: a scan reads at most MaxLinks ids.
	counting := &countingStore{Store: store}
	tl.obs.ScanOnce(t.Context(), counting, 600)
	rm = tl.collect(t)
	assert.Equal(t, 600.0, sum(rm, "nsalink.links.scanned"), "truncation shows")
	assert.Equal(t, 600, counting.gets)
	assert.Equal(t, []int{500, 100}, counting.limits, "pages of 500, the last one cut to the cap")
}

func TestLinkScanOnSQLite(t *testing.T) {
	tl := newTelemetry(t)
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "links.db"))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	seedLinks(t, store, 520, linking.StateActive, linking.ReasonNone, "a")
	seedLinks(t, store, 4, linking.StateActionRequired, linking.ReasonTokenRevoked, "b")
	tl.obs.ScanOnce(t.Context(), store, 100_000)
	rm := tl.collect(t)
	assert.Equal(t, 520.0, sum(rm, "nsalink.links", attribute.String("link.state", "active"), attribute.String("link.reason", "none")))
	assert.Equal(t, 4.0, sum(rm, "nsalink.links", attribute.String("link.state", "action_required"), attribute.String("link.reason", "token_revoked")))
	assert.Equal(t, 524.0, sum(rm, "nsalink.links.scanned"))
}

func TestLinkScanFailureClearsTheGauge(t *testing.T) {
	tl := newTelemetry(t)
	store := memstore.New()
	seedLinks(t, store, 2, linking.StateActive, linking.ReasonNone, "a")
	tl.obs.ScanOnce(t.Context(), store, 100)
	require.Equal(t, 2.0, sum(tl.collect(t), "nsalink.links"))

	broken := &countingStore{Store: store, failGet: errors.New("database is gone")}
	tl.obs.ScanOnce(t.Context(), broken, 100)
	rm := tl.collect(t)
	assert.Empty(t, points(rm, "nsalink.links"), "stale counts are not reported as current")
	assert.Empty(t, points(rm, "nsalink.links.scanned"))

	tl.obs.ScanOnce(t.Context(), store, 100)
	assert.Equal(t, 2.0, sum(tl.collect(t), "nsalink.links"), "the next good scan restores it")
}

func TestLinkScanSkipsLinksDeletedMeanwhile(t *testing.T) {
	tl := newTelemetry(t)
	store := memstore.New()
	seedLinks(t, store, 3, linking.StateActive, linking.ReasonNone, "a")
	tl.obs.ScanOnce(t.Context(), &countingStore{Store: store, vanish: "a-0001"}, 100)
	assert.Equal(t, 2.0, sum(tl.collect(t), "nsalink.links"))
}

func TestScanLinksLoop(t *testing.T) {
	tl := newTelemetry(t)
	store := memstore.New()
	seedLinks(t, store, 1, linking.StateActive, linking.ReasonNone, "a")

	for _, bad := range []nsalinkotel.LinkScan{{Interval: time.Second}, {MaxLinks: -1}} {
		err := tl.obs.ScanLinks(t.Context(), store, bad)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "LinkScan.")
	}
	require.Error(t, tl.obs.ScanLinks(t.Context(), nil, nsalinkotel.LinkScan{}))

	ctx, cancel := context.WithCancel(t.Context())
	scanned := make(chan struct{}, 1)
	tl.obs.SetAfterScan(func() { scanned <- struct{}{} })
	done := make(chan error, 1)
	go func() { done <- tl.obs.ScanLinks(ctx, store, nsalinkotel.LinkScan{}) }()
	<-scanned // the first scan runs at once
	assert.Equal(t, 1.0, sum(tl.collect(t), "nsalink.links", attribute.String("link.state", "active")))
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
}

func TestRefreshOutcomes(t *testing.T) {
	for _, tc := range []struct {
		call uspsbiz.Call
		want string
	}{
		{uspsbiz.Call{Status: 200}, "success"},
		{uspsbiz.Call{Status: 400}, "rejected"},
		{uspsbiz.Call{Status: 401}, "rejected"},
		{uspsbiz.Call{Status: 429}, "rate_limited"},
		{uspsbiz.Call{Status: 500}, "usps_error"},
		{uspsbiz.Call{Status: 302}, "usps_error"},
		{uspsbiz.Call{Err: "deadline exceeded"}, "transport_error"},
	} {
		assert.Equal(t, tc.want, nsalinkotel.RefreshOutcome(tc.call), "%+v", tc.call)
	}
}

func TestNilProvidersUseTheGlobalOnes(t *testing.T) {
	obs, err := nsalinkotel.New(nil, nil)
	require.NoError(t, err)
	assert.Len(t, obs.ClientOptions(), 1)
	assert.Len(t, obs.LinkerOptions(), 2)
}

// countingStore records the scan's reads and injects faults.
type countingStore struct {
	linking.Store
	gets    int
	limits  []int
	failGet error
	vanish  string // GetLink of this id says not found
}

func (s *countingStore) ListAccountIDs(ctx context.Context, after string, limit int) ([]string, error) {
	s.limits = append(s.limits, limit)
	return s.Store.ListAccountIDs(ctx, after, limit)
}

func (s *countingStore) GetLink(ctx context.Context, id string) (*linking.Link, error) {
	s.gets++
	if s.failGet != nil {
		return nil, s.failGet
	}
	if id == s.vanish {
		return nil, fmt.Errorf("gone: %w", linking.ErrNotFound)
	}
	return s.Store.GetLink(ctx, id)
}

// Label events become counts by kind, and a price mismatch is also a
// purchase and a count per differing field; nothing from the record (the
// account, the purchase id, the tracking number) becomes an attribute.
func TestLabelMetrics(t *testing.T) {
	tl := newTelemetry(t)
	ctx := t.Context()
	rec := linking.LabelRecord{AccountID: "acct-canary", PurchaseID: "order-canary", TrackingNumber: "9205500000000000000042"}
	tl.obs.ObserveLabel(ctx, linking.LabelEvent{Kind: linking.LabelEventPurchased, Record: rec})
	tl.obs.ObserveLabel(ctx, linking.LabelEvent{Kind: linking.LabelEventPriceMismatch, Record: rec,
		Price: linking.PriceCheck{Mismatches: []string{"postage", "SKU"}}})
	tl.obs.ObserveLabel(ctx, linking.LabelEvent{Kind: linking.LabelEventCancelled, Record: rec})
	rm := tl.collect(t)
	assert.Equal(t, 2.0, sum(rm, "nsalink.labels", attribute.String("label.event", "purchased")))
	assert.Equal(t, 1.0, sum(rm, "nsalink.labels", attribute.String("label.event", "price_mismatch")))
	assert.Equal(t, 1.0, sum(rm, "nsalink.labels", attribute.String("label.event", "cancelled")))
	assert.Equal(t, 1.0, sum(rm, "nsalink.labels.price_mismatches", attribute.String("label.mismatch", "postage")))
	assert.Equal(t, 1.0, sum(rm, "nsalink.labels.price_mismatches", attribute.String("label.mismatch", "SKU")))
	assert.Equal(t, 2.0, sum(rm, "nsalink.labels.price_mismatches"))
	for _, name := range []string{"nsalink.labels", "nsalink.labels.price_mismatches"} {
		for _, p := range points(rm, name) {
			for _, kv := range p.attrs.ToSlice() {
				for _, canary := range []string{"canary", "9205500000000000000042"} {
					assert.NotContains(t, kv.Value.String(), canary)
				}
			}
		}
	}
}
