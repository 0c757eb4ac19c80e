// Package nsalinkotel exports nsalink's metrics and traces with
// OpenTelemetry. It is a module of its own (github.com/nsalink/nsalink/otel)
// so that hosts who don't use OpenTelemetry never have it in their module
// graph; nsalink itself only offers plain hooks (uspsbiz.WithCallObserver,
// linking.WithTransitionHook), which default to nothing.
//
// Wiring, once per process:
//
//	obs, err := nsalinkotel.New(meterProvider, tracerProvider)
//	client, err := uspsbiz.New(append(clientOpts, obs.ClientOptions()...)...)
//	obs.ObserveQuota(client)
//	linker, err := linking.New(client, store, sealer, append(linkerOpts, obs.LinkerOptions()...)...)
//	go obs.ScanLinks(ctx, store, nsalinkotel.LinkScan{}) // on one instance
//
// # Metrics
//
//	nsalink.usps.calls             counter    {call}  every USPS attempt, retries and token calls included
//	nsalink.usps.call.duration     histogram  s       the same attempts' time to response headers
//	    attributes: usps.api, url.template, http.request.method,
//	    http.response.status_code (absent when no response came),
//	    error.type (the status, or a transport word such as "dial failed"),
//	    usps.attempt (1 = first try), usps.grant (OAuth calls only)
//	nsalink.usps.quota.remaining   gauge      {call}  calls left in the client's WithBudget, by usps.api
//	nsalink.token.refreshes        counter    {refresh}  customer refresh-token redemptions, by outcome:
//	    success, rejected (4xx: invalid_grant and the like), rate_limited,
//	    usps_error (5xx), transport_error
//	nsalink.link.transitions       counter    {transition}  by link.from, link.to, link.reason
//	nsalink.labels                 counter    {label}  label events by label.event: purchased,
//	    price_mismatch (also counted as purchased: the label was bought), cancelled,
//	    refund_requested
//	nsalink.labels.price_mismatches counter   {label}  labels billed other than their NSA quote,
//	    by label.mismatch (postage, SKU, zone; one count per differing field)
//	nsalink.links                  gauge      {link}  links by link.state and link.reason, from ScanLinks
//	nsalink.links.scanned          gauge      {link}  links the last scan read (equal to LinkScan.MaxLinks: truncated)
//
// An empty reason is reported as "none". No attribute ever holds an
// account id, an EPS or tracking number, a token or a secret: routes are
// templates, and nothing from a request or response body is read.
//
// # Traces
//
// Every USPS attempt becomes a client span named "<METHOD> <route
// template>", such as "GET /payments/v3/payment-account/{accountNumber}",
// a child of the span in the caller's context, with the metric attributes
// above and an error status on a transport failure or a status of 400 and
// up. Spans are recorded when the attempt ends, with its real start and
// end times; no trace header is sent to USPS. A committed link transition
// adds a "link transition" event to the caller's span.
//
// # Label purchases and price mismatches
//
// LinkerOptions also hooks linking.WithLabelHook: every label event is
// counted on nsalink.labels, and a label billed other than its quote on
// nsalink.labels.price_mismatches, the signal of a published price billed
// where the contract price was expected. Alert on any increase of the
// latter; the purchase id is in the Linker's warning log, never in a metric.
package nsalinkotel

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/uspsbiz"
)

// scope names this package's meter and tracer.
const scope = "github.com/nsalink/nsalink/otel"

// Attribute keys. url.template and the http.* keys follow OpenTelemetry's
// HTTP client conventions; the others are nsalink's own.
const (
	keyAPI        = attribute.Key("usps.api")
	keyTemplate   = attribute.Key("url.template")
	keyMethod     = attribute.Key("http.request.method")
	keyStatus     = attribute.Key("http.response.status_code")
	keyErrType    = attribute.Key("error.type")
	keyAttempt    = attribute.Key("usps.attempt")
	keyGrant      = attribute.Key("usps.grant")
	keyOutcome    = attribute.Key("outcome")
	keyFrom       = attribute.Key("link.from")
	keyTo         = attribute.Key("link.to")
	keyLabelEvent = attribute.Key("label.event")
	keyMismatch   = attribute.Key("label.mismatch")
	keyReason     = attribute.Key("link.reason")
	keyState      = attribute.Key("link.state")
)

// Refresh outcomes, the values of nsalink.token.refreshes's outcome.
const (
	outcomeSuccess     = "success"
	outcomeRejected    = "rejected"
	outcomeRateLimited = "rate_limited"
	outcomeUSPSError   = "usps_error"
	outcomeTransport   = "transport_error"
)

// durationBuckets suit USPS latencies: tens of milliseconds to the 30 s
// default attempt timeout.
var durationBuckets = []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Observer turns nsalink's hooks into OpenTelemetry metrics and spans. It is
// safe for concurrent use; make one per process.
type Observer struct {
	tracer      trace.Tracer
	calls       metric.Int64Counter
	duration    metric.Float64Histogram
	refreshes   metric.Int64Counter
	transitions metric.Int64Counter
	labels      metric.Int64Counter
	mismatches  metric.Int64Counter

	mu     sync.Mutex
	client *uspsbiz.Client // for the quota gauge; nil until ObserveQuota
	links  *linkCounts     // the last scan's result; nil: none (or it failed)

	afterScan func() // tests: called after each scan
}

// New creates the instruments on mp and the tracer on tp. A nil provider
// means OpenTelemetry's global one.
func New(mp metric.MeterProvider, tp trace.TracerProvider) (*Observer, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	meter := mp.Meter(scope)
	o := &Observer{tracer: tp.Tracer(scope)}
	var errs [9]error
	o.calls, errs[0] = meter.Int64Counter("nsalink.usps.calls", metric.WithUnit("{call}"),
		metric.WithDescription("USPS API attempts, retries and OAuth token calls included"))
	o.duration, errs[1] = meter.Float64Histogram("nsalink.usps.call.duration", metric.WithUnit("s"),
		metric.WithDescription("Time from sending a USPS attempt to its response headers"),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	o.refreshes, errs[2] = meter.Int64Counter("nsalink.token.refreshes", metric.WithUnit("{refresh}"),
		metric.WithDescription("Customer refresh-token redemptions at USPS, by outcome"))
	o.transitions, errs[3] = meter.Int64Counter("nsalink.link.transitions", metric.WithUnit("{transition}"),
		metric.WithDescription("Committed link state transitions"))
	o.labels, errs[7] = meter.Int64Counter("nsalink.labels", metric.WithUnit("{label}"),
		metric.WithDescription("Label events: purchased, price_mismatch, cancelled, refund_requested"))
	o.mismatches, errs[8] = meter.Int64Counter("nsalink.labels.price_mismatches", metric.WithUnit("{label}"),
		metric.WithDescription("Labels billed other than their NSA quote, by the field that differs"))
	var quota, links, scanned metric.Int64ObservableGauge
	quota, errs[4] = meter.Int64ObservableGauge("nsalink.usps.quota.remaining", metric.WithUnit("{call}"),
		metric.WithDescription("Calls left in the USPS client's call budget, per API"))
	links, errs[5] = meter.Int64ObservableGauge("nsalink.links", metric.WithUnit("{link}"),
		metric.WithDescription("Links by state and reason, as of the last store scan"))
	scanned, errs[6] = meter.Int64ObservableGauge("nsalink.links.scanned", metric.WithUnit("{link}"),
		metric.WithDescription("Links read by the last store scan"))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	_, err := meter.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		o.observeGauges(ob, quota, links, scanned)
		return nil
	}, quota, links, scanned)
	if err != nil {
		return nil, err
	}
	return o, nil
}

// ClientOptions returns the uspsbiz options that report every USPS attempt.
func (o *Observer) ClientOptions() []uspsbiz.Option {
	return []uspsbiz.Option{uspsbiz.WithCallObserver(o.observeCall)}
}

// LinkerOptions returns the linking options that count transitions and
// label events.
func (o *Observer) LinkerOptions() []linking.Option {
	return []linking.Option{linking.WithTransitionHook(o.observeTransition), linking.WithLabelHook(o.observeLabel)}
}

func (o *Observer) observeLabel(ctx context.Context, ev linking.LabelEvent) {
	o.labels.Add(ctx, 1, metric.WithAttributes(keyLabelEvent.String(string(ev.Kind))))
	if ev.Kind == linking.LabelEventPriceMismatch {
		o.labels.Add(ctx, 1, metric.WithAttributes(keyLabelEvent.String(string(linking.LabelEventPurchased))))
		for _, m := range ev.Price.Mismatches {
			o.mismatches.Add(ctx, 1, metric.WithAttributes(keyMismatch.String(m)))
		}
	}
}

// ObserveQuota reports c's remaining call budget (uspsbiz.WithBudget) on
// the nsalink.usps.quota.remaining gauge, for each API with a budget. One
// client is reported; a later call replaces it. Clients made with
// ForMerchant share their parent's budget: register the parent.
func (o *Observer) ObserveQuota(c *uspsbiz.Client) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.client = c
}

// apis are the APIs whose budgets the quota gauge reports.
var apis = []uspsbiz.API{uspsbiz.APIOAuth, uspsbiz.APIPayments, uspsbiz.APIPrices, uspsbiz.APITracking}

func (o *Observer) observeGauges(ob metric.Observer, quota, links, scanned metric.Int64ObservableGauge) {
	o.mu.Lock()
	c, lc := o.client, o.links
	o.mu.Unlock()
	if c != nil {
		for _, api := range apis {
			if n, ok := c.Remaining(api); ok {
				ob.ObserveInt64(quota, int64(n), metric.WithAttributes(keyAPI.String(string(api))))
			}
		}
	}
	if lc != nil {
		for k, n := range lc.byKey {
			ob.ObserveInt64(links, n, metric.WithAttributes(keyState.String(string(k.state)), keyReason.String(reasonValue(k.reason))))
		}
		ob.ObserveInt64(scanned, lc.total)
	}
}

// observeCall is the uspsbiz.WithCallObserver hook: one metric point and
// one span per attempt.
func (o *Observer) observeCall(ctx context.Context, c uspsbiz.Call) {
	attrs := make([]attribute.KeyValue, 0, 7)
	attrs = append(attrs,
		keyAPI.String(string(c.API)),
		keyTemplate.String(c.Route),
		keyMethod.String(c.Method),
		keyAttempt.Int(c.Attempt),
	)
	if c.Grant != "" {
		attrs = append(attrs, keyGrant.String(string(c.Grant)))
	}
	failed := c.Err != "" || c.Status >= http.StatusBadRequest
	if c.Status != 0 {
		attrs = append(attrs, keyStatus.Int(c.Status))
	}
	if c.Err != "" {
		attrs = append(attrs, keyErrType.String(c.Err))
	} else if failed {
		attrs = append(attrs, keyErrType.String(strconv.Itoa(c.Status)))
	}
	set := metric.WithAttributeSet(attribute.NewSet(attrs...))
	o.calls.Add(ctx, 1, set)
	o.duration.Record(ctx, c.Duration.Seconds(), set)
	if c.Grant == uspsbiz.GrantRefreshToken {
		o.refreshes.Add(ctx, 1, metric.WithAttributes(keyOutcome.String(refreshOutcome(c))))
	}

	_, span := o.tracer.Start(ctx, c.Method+" "+c.Route,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(c.Start),
		trace.WithAttributes(attrs...))
	if failed {
		span.SetStatus(codes.Error, "")
	}
	span.End(trace.WithTimestamp(c.Start.Add(c.Duration)))
}

// refreshOutcome classifies one refresh-token call. A token call is never
// resent once it left the process, so one call is one refresh attempt.
func refreshOutcome(c uspsbiz.Call) string {
	switch {
	case c.Err != "":
		return outcomeTransport
	case c.Status >= 200 && c.Status <= 299:
		return outcomeSuccess
	case c.Status == http.StatusTooManyRequests:
		return outcomeRateLimited
	case c.Status >= 400 && c.Status <= 499:
		return outcomeRejected
	}
	return outcomeUSPSError
}

// observeTransition is the linking.WithTransitionHook hook.
func (o *Observer) observeTransition(ctx context.Context, ev linking.Event) {
	attrs := metric.WithAttributes(
		keyFrom.String(string(ev.From)),
		keyTo.String(string(ev.To)),
		keyReason.String(reasonValue(ev.Reason)),
	)
	o.transitions.Add(ctx, 1, attrs)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent("link transition", trace.WithAttributes(
			keyFrom.String(string(ev.From)),
			keyTo.String(string(ev.To)),
			keyReason.String(reasonValue(ev.Reason))))
	}
}

// reasonValue names the empty reason, which many backends drop.
func reasonValue(r linking.Reason) string {
	if r == linking.ReasonNone {
		return "none"
	}
	return string(r)
}

// linkCounts is one scan's result.
type linkCounts struct {
	byKey map[linkKey]int64
	total int64
}

type linkKey struct {
	state  linking.State
	reason linking.Reason
}

// LinkScan bounds ScanLinks.
type LinkScan struct {
	// Interval between the starts of two scans (default 5 minutes, at
	// least 10 seconds).
	Interval time.Duration
	// MaxLinks caps the account ids read by one scan (default 100,000). A
	// larger fleet is counted on its first MaxLinks account ids, and
	// nsalink.links.scanned then equals MaxLinks (less links deleted
	// during the scan).
	MaxLinks int
}

// scanPage is how many account ids one ListAccountIDs call returns.
const scanPage = 500

// ScanLinks feeds the nsalink.links gauge: it reads every link's state and
// reason from store now and then every cfg.Interval, until ctx ends, and
// returns ctx's error (or at once, an error on a bad cfg). One scan costs
// one ListAccountIDs call per 500 links and one GetLink call per link, so
// run it on one instance only; other instances' gauges stay empty. A scan
// that fails clears the gauge (its series go absent) until the next one
// succeeds.
//
// Why a scan and not counts kept from transitions: transitions are seen by
// the process that makes them, links change in many processes, and a
// process starting up knows no totals. The store is the only place that
// knows them.
func (o *Observer) ScanLinks(ctx context.Context, store linking.Store, cfg LinkScan) error {
	if store == nil {
		return errors.New("nsalinkotel: ScanLinks: nil store")
	}
	if cfg.Interval == 0 {
		cfg.Interval = 5 * time.Minute
	}
	if cfg.MaxLinks == 0 {
		cfg.MaxLinks = 100_000
	}
	if cfg.Interval < 10*time.Second {
		return errors.New("nsalinkotel: ScanLinks: LinkScan.Interval must be at least 10s")
	}
	if cfg.MaxLinks < 0 {
		return errors.New("nsalinkotel: ScanLinks: LinkScan.MaxLinks must not be negative")
	}
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	for {
		o.scan(ctx, store, cfg.MaxLinks)
		if o.afterScan != nil {
			o.afterScan()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// scan counts links once and publishes the result, or clears it on error.
func (o *Observer) scan(ctx context.Context, store linking.Store, maxLinks int) {
	lc, err := countLinks(ctx, store, maxLinks)
	if err != nil {
		lc = nil
	}
	o.mu.Lock()
	o.links = lc
	o.mu.Unlock()
}

func countLinks(ctx context.Context, store linking.Store, maxLinks int) (*linkCounts, error) {
	lc := &linkCounts{byKey: map[linkKey]int64{}}
	after, listed := "", 0
	for listed < maxLinks {
		ids, err := store.ListAccountIDs(ctx, after, min(scanPage, maxLinks-listed))
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			break
		}
		for _, id := range ids {
			lk, err := store.GetLink(ctx, id)
			if errors.Is(err, linking.ErrNotFound) {
				continue // deleted since it was listed
			}
			if err != nil {
				return nil, err
			}
			lc.byKey[linkKey{lk.State, lk.Reason}]++
			lc.total++
		}
		listed += len(ids)
		after = ids[len(ids)-1]
	}
	return lc, nil
}
