package linking_test

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// labelLinker is another process's Linker on store whose USPS client never
// retries by itself, so that every lost answer reaches BuyLabel as an
// unknown outcome. Timeouts are the caller's: cancelLater ends a call once
// the fake has reached the point of the fault, with no timing race. Keep-alive
// is off because net/http itself replays a request carrying
// X-Idempotency-Key once when a reused connection drops (which would
// recover the label below BuyLabel, as it should, but hide the cell).
func (e *env) labelLinker(store linking.Store, opts ...linking.Option) *linking.Linker {
	c, err := uspsbiz.New(
		uspsbiz.WithEnvironment(uspsbiz.Environment(e.srv.URL)),
		uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: clientID, ClientSecret: clientSecret}),
		uspsbiz.WithClock(e.srv.Now),
		uspsbiz.WithHTTPClient(&http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}),
		uspsbiz.WithRetryPolicy(uspsbiz.RetryPolicy{MaxRetries: 0}),
	)
	require.NoError(e.t, err)
	base := []linking.Option{
		linking.WithRedirectURI(redirectURI),
		linking.WithPlatform("Acme Ship", platformCRID),
		linking.WithClock(e.srv.Now),
		linking.WithLogger(slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	}
	l, err := linking.New(c, store, e.sealer, append(base, opts...)...)
	require.NoError(e.t, err)
	return l
}

// activeEnv is an env whose account is linked and active on store.
func activeEnv(t *testing.T, store linking.Store) *env {
	t.Helper()
	e := newEnv(t, store)
	e.linkAccount(account)
	st, err := e.linker.SubmitCredentials(t.Context(), account, creds(epsActive))
	require.NoError(t, err)
	require.Equal(t, linking.StateActive, st.State)
	return e
}

// cancelLater returns a context that is cancelled as soon as ready() holds
// (checked every millisecond, for at most 30 s): the caller giving up at a
// chosen point of the exchange, e.g. once the fake has charged the label.
func cancelLater(t *testing.T, ready func() bool) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	go func() {
		defer cancel()
		deadline := time.Now().Add(30 * time.Second)
		for !ready() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}()
	return ctx
}

func labelPurchase(e *env, id string) linking.LabelPurchase {
	return linking.LabelPurchase{
		PurchaseID: id,
		Request: uspsbiz.LabelRequest{
			To:   uspsbiz.LabelAddress{FirstName: "Ada", LastName: "Lovelace", StreetAddress: "4120 Russell Blvd", City: "St Louis", State: "MO", ZIPCode: "63118"},
			From: uspsbiz.LabelAddress{Firm: "Acme Widgets", StreetAddress: "1 Main St", City: "Fredericksburg", State: "VA", ZIPCode: "22407"},
			Package: uspsbiz.LabelPackage{MailClass: "PRIORITY_MAIL", Weight: 2 * usps.Pound,
				Length: 10 * usps.Inch, Width: 8 * usps.Inch, Height: 4 * usps.Inch, MailingDate: e.srv.Now()},
			Image: uspsbiz.LabelImageInfo{ImageType: "PNG"},
		},
		// The contract price seedPrices gives epsActive.
		Expected: linking.ExpectedPrice{Postage: 805, SKU: "DPXX0XXXXC00010", Zone: uspsbiztest.Zone("22407", "63118")},
	}
}

func TestBuyLabel(t *testing.T) {
	e := activeEnv(t, nil)
	var events []linking.LabelEvent
	l := e.labelLinker(e.store, linking.WithLabelHook(func(_ context.Context, ev linking.LabelEvent) { events = append(events, ev) }))
	res, err := l.BuyLabel(t.Context(), account, labelPurchase(e, "order-1"))
	require.NoError(t, err)
	assert.True(t, res.Price.OK())
	assert.Equal(t, usps.Cents(805), res.Label.Metadata.Postage)
	assert.NotEmpty(t, res.Label.Image)
	rec := res.Record
	assert.Equal(t, linking.LabelPurchased, rec.Status)
	assert.Equal(t, res.Label.Metadata.TrackingNumber, rec.TrackingNumber)
	assert.Equal(t, 1, rec.Attempts)
	assert.Equal(t, uspsbiz.ManifestCutoff(e.srv.Now(), e.srv.Now(), false), rec.CancelDeadline)
	require.Len(t, events, 1)
	assert.Equal(t, linking.LabelEventPurchased, events[0].Kind)

	// The key on the wire is the recorded one.
	reqs := e.srv.Requests()
	assert.Equal(t, rec.IdempotencyKey, reqs[len(reqs)-1].Header.Get("X-Idempotency-Key"))

	// Buying the same purchase again fetches the same label, no charge.
	again, err := l.BuyLabel(t.Context(), account, labelPurchase(e, "order-1"))
	require.NoError(t, err)
	assert.Equal(t, rec.TrackingNumber, again.Label.Metadata.TrackingNumber)
	assert.Equal(t, 1, e.srv.ChargedLabels())
	assert.Len(t, events, 1, "no second event")

	// The same purchase id with another request is refused locally.
	n := e.srv.Count("/labels/")
	other := labelPurchase(e, "order-1")
	other.Request.Package.Weight = 3 * usps.Pound
	_, err = l.BuyLabel(t.Context(), account, other)
	require.ErrorIs(t, err, linking.ErrLabelConflict)
	assert.Equal(t, n, e.srv.Count("/labels/"), "nothing sent")
	// Another expectation for the same request (a retry priced from a newer
	// table) recovers the label; the recorded expectation is the one checked.
	other = labelPurchase(e, "order-1")
	other.Expected.Postage = 900
	again, err = l.BuyLabel(t.Context(), account, other)
	require.NoError(t, err)
	assert.Equal(t, usps.Cents(805), again.Price.Expected.Postage)
	assert.Equal(t, 1, e.srv.ChargedLabels())

	// Bad input names the field and stores nothing.
	bad := labelPurchase(e, "order-2")
	bad.Request.To.ZIPCode = "6311"
	_, err = l.BuyLabel(t.Context(), account, bad)
	var re *uspsbiz.LabelRequestError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "To", re.Field)
	bad = labelPurchase(e, "order-2")
	bad.Expected = linking.ExpectedPrice{}
	_, err = l.BuyLabel(t.Context(), account, bad)
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "Expected.Postage", re.Field)
	_, err = l.LabelRecordOf(t.Context(), account, "order-2")
	require.ErrorIs(t, err, linking.ErrNotFound)
}

func TestBuyLabelPriceMismatch(t *testing.T) {
	e := activeEnv(t, nil)
	var events []linking.LabelEvent
	l := e.labelLinker(e.store, linking.WithLabelHook(func(_ context.Context, ev linking.LabelEvent) { events = append(events, ev) }))
	e.srv.InjectLabelFault(uspsbiztest.LabelFault{Kind: uspsbiztest.LabelBillPublished})
	res, err := l.BuyLabel(t.Context(), account, labelPurchase(e, "order-1"))
	require.ErrorIs(t, err, linking.ErrPriceMismatch)
	var pm *linking.PriceMismatchError
	require.ErrorAs(t, err, &pm)
	require.NotNil(t, res, "the label is real and paid: the host gets it")
	assert.Equal(t, []string{"postage"}, pm.Check.Mismatches)
	assert.Equal(t, usps.Cents(1150), pm.Check.Billed.Postage)
	assert.Equal(t, usps.Cents(805), pm.Check.Expected.Postage)
	assert.Equal(t, "postage 11.50 != 8.05", res.Record.PriceMismatch)
	require.Len(t, events, 1)
	assert.Equal(t, linking.LabelEventPriceMismatch, events[0].Kind)
	assert.Contains(t, e.logs.String(), `"msg":"label price_mismatch"`)

	// A different zone or SKU is a mismatch too.
	p := labelPurchase(e, "order-2")
	p.Expected.Zone, p.Expected.SKU = "08", "DPXX0XXXXC00080"
	_, err = l.BuyLabel(t.Context(), account, p)
	require.ErrorAs(t, err, &pm)
	assert.Equal(t, []string{"SKU", "zone"}, pm.Check.Mismatches)
}

func TestBuyLabelNeedsActiveLink(t *testing.T) {
	e := newEnv(t, nil)
	e.linkAccount(account)
	l := e.labelLinker(e.store)
	_, err := l.BuyLabel(t.Context(), account, labelPurchase(e, "order-1"))
	require.ErrorIs(t, err, linking.ErrNotActive)
	assert.Equal(t, 0, e.srv.Count("/labels/"))
}

func TestBuyLabelRefused(t *testing.T) {
	e := activeEnv(t, nil)
	l := e.labelLinker(e.store)
	e.srv.InjectFault(uspsbiztest.Fault{Match: "POST /labels/v3/label", Status: 400,
		Body: `{"apiVersion":"/labels/v3","error":{"code":"400","message":"Bad Request","errors":[{"title":"Must be enrolled in USPS Ship Outbound/Returns"}]}}`})
	_, err := l.BuyLabel(t.Context(), account, labelPurchase(e, "order-1"))
	require.ErrorIs(t, err, uspsbiz.ErrNotEnrolledInShip)
	rec, err := l.LabelRecordOf(t.Context(), account, "order-1")
	require.NoError(t, err)
	assert.Equal(t, linking.LabelFailed, rec.Status)
	assert.Equal(t, "USPS 400", rec.LastError)
	// Fixed at USPS, the same purchase goes through under the same key.
	res, err := l.BuyLabel(t.Context(), account, labelPurchase(e, "order-1"))
	require.NoError(t, err)
	assert.Equal(t, rec.IdempotencyKey, res.Record.IdempotencyKey)
	assert.Equal(t, 1, e.srv.ChargedLabels())
}

func TestCancelLabelByTheClock(t *testing.T) {
	e := activeEnv(t, nil)
	var kinds []linking.LabelEventKind
	l := e.labelLinker(e.store, linking.WithLabelHook(func(_ context.Context, ev linking.LabelEvent) { kinds = append(kinds, ev.Kind) }))
	ctx := t.Context()
	_, err := l.BuyLabel(ctx, account, labelPurchase(e, "void-me"))
	require.NoError(t, err)
	rec, err := l.CancelLabel(ctx, account, "void-me")
	require.NoError(t, err)
	assert.Equal(t, linking.LabelCancelled, rec.Status)
	assert.Empty(t, rec.DisputeID)
	_, err = l.BuyLabel(ctx, account, labelPurchase(e, "void-me"))
	require.ErrorIs(t, err, linking.ErrLabelClosed, "a cancelled purchase is not bought again")

	res, err := l.BuyLabel(ctx, account, labelPurchase(e, "refund-me"))
	require.NoError(t, err)
	// Past the manifest cutoff (12:30 am Central after the mailing date).
	// The customer token and payment token are refreshed on the way.
	e.srv.SetTime(res.Record.CancelDeadline.Add(time.Minute))
	rec, err = l.CancelLabel(ctx, account, "refund-me")
	require.NoError(t, err)
	assert.Equal(t, linking.LabelRefundRequested, rec.Status)
	assert.NotEmpty(t, rec.DisputeID)
	again, err := l.CancelLabel(ctx, account, "refund-me")
	require.NoError(t, err, "already refunded: the record answers")
	assert.Equal(t, rec.DisputeID, again.DisputeID)

	ch := e.srv.LabelCharges()
	require.Len(t, ch, 2)
	assert.Equal(t, "CANCELED", ch[0].Status)
	assert.Equal(t, "DISPUTED", ch[1].Status)
	assert.Equal(t, []linking.LabelEventKind{linking.LabelEventPurchased, linking.LabelEventCancelled,
		linking.LabelEventPurchased, linking.LabelEventRefundRequested}, kinds)
}

// TestLabelFaultMatrix: every fault that leaves a purchase's outcome
// unknown ends, on every store, with exactly one label charged, counted on
// the fake.
func TestLabelFaultMatrix(t *testing.T) {
	type cell struct {
		name string
		run  func(t *testing.T, e *env, stores []linking.Store)
	}
	// unknownThenRecover: the first BuyLabel loses its answer; a retry on
	// another instance recovers the label.
	// inject sets the fault up and returns the context of the first call.
	unknownThenRecover := func(inject func(t *testing.T, e *env) context.Context, chargedAfterFault int) func(t *testing.T, e *env, stores []linking.Store) {
		return func(t *testing.T, e *env, stores []linking.Store) {
			a := e.labelLinker(stores[0])
			ctx := inject(t, e)
			_, err := a.BuyLabel(ctx, account, labelPurchase(e, "order-1"))
			require.ErrorIs(t, err, linking.ErrLabelOutcomeUnknown)
			rec, err := a.LabelRecordOf(t.Context(), account, "order-1")
			require.NoError(t, err)
			assert.Equal(t, linking.LabelPending, rec.Status)
			assert.Equal(t, 1, rec.Attempts, "the lost attempt is recorded, even after the caller gave up")
			assert.NotEmpty(t, rec.LastError)
			assert.Equal(t, chargedAfterFault, e.srv.ChargedLabels())
			b := e.labelLinker(stores[1])
			res, err := b.BuyLabel(t.Context(), account, labelPurchase(e, "order-1"))
			require.NoError(t, err)
			assert.Equal(t, linking.LabelPurchased, res.Record.Status)
			assert.Equal(t, rec.IdempotencyKey, res.Record.IdempotencyKey)
		}
	}
	cells := []cell{
		// USPS holds the request without handling it; the caller gives up.
		{"timeout before send", unknownThenRecover(func(t *testing.T, e *env) context.Context {
			e.srv.InjectFault(uspsbiztest.Fault{Match: "POST /labels/v3/label", Kind: uspsbiztest.FaultLatency, Latency: time.Minute})
			return cancelLater(t, func() bool { return e.srv.Count("POST /labels/v3/label") > 0 })
		}, 0)},
		// USPS charges, then holds its answer; the caller gives up.
		{"timeout after charge", unknownThenRecover(func(t *testing.T, e *env) context.Context {
			e.srv.InjectLabelFault(uspsbiztest.LabelFault{Kind: uspsbiztest.LabelHangAfterCharge})
			return cancelLater(t, func() bool { return e.srv.ChargedLabels() > 0 })
		}, 1)},
		// USPS charges, then the connection drops during the response.
		{"dropped during response", unknownThenRecover(func(t *testing.T, e *env) context.Context {
			e.srv.InjectLabelFault(uspsbiztest.LabelFault{Kind: uspsbiztest.LabelDropAfterCharge})
			return t.Context()
		}, 1)},
		{"restart between intent and call", func(t *testing.T, e *env, stores []linking.Store) {
			// Instance A recorded the intent, as BuyLabel does first, and
			// died before calling USPS.
			p := labelPurchase(e, "order-1")
			body, err := p.Request.Body()
			require.NoError(t, err)
			sum := sha256.Sum256(body)
			key := uspsbiz.NewIdempotencyKey()
			_, err = stores[0].(linking.LabelStore).CreateLabelRecord(t.Context(), &linking.LabelRecord{
				AccountID: account, PurchaseID: "order-1", IdempotencyKey: key, RequestHash: sum[:], Body: body,
				Expected: p.Expected, Status: linking.LabelPending, CreatedAt: e.srv.Now(), UpdatedAt: e.srv.Now(),
			})
			require.NoError(t, err)
			assert.Equal(t, 0, e.srv.Count("/labels/"))
			// Instance B's periodic job finishes it.
			e.srv.Advance(2 * time.Minute)
			b := e.labelLinker(stores[1])
			n, err := b.ResumeLabels(t.Context(), time.Minute, 10)
			require.NoError(t, err)
			assert.Equal(t, 1, n)
			reqs := e.srv.Requests()
			assert.Equal(t, key, reqs[len(reqs)-1].Header.Get("X-Idempotency-Key"), "the recorded key")
			// And the host's own retry on A gets the same label.
			res, err := e.labelLinker(stores[0]).BuyLabel(t.Context(), account, p)
			require.NoError(t, err)
			assert.Equal(t, e.srv.LabelCharges()[0].TrackingNumber, res.Label.Metadata.TrackingNumber)
			n, err = b.ResumeLabels(t.Context(), 0, 10)
			require.NoError(t, err)
			assert.Zero(t, n, "nothing left pending")
		}},
		{"two instances retrying", func(t *testing.T, e *env, stores []linking.Store) {
			a := e.labelLinker(stores[0])
			e.srv.InjectLabelFault(uspsbiztest.LabelFault{Kind: uspsbiztest.LabelHangAfterCharge})
			ctx := cancelLater(t, func() bool { return e.srv.ChargedLabels() > 0 })
			_, err := a.BuyLabel(ctx, account, labelPurchase(e, "order-1"))
			require.ErrorIs(t, err, linking.ErrLabelOutcomeUnknown)
			// Both instances retry at once.
			var wg sync.WaitGroup
			tns := make([]string, len(stores))
			errs := make([]error, len(stores))
			for i, s := range stores {
				l := e.labelLinker(s)
				wg.Go(func() {
					res, err := l.BuyLabel(t.Context(), account, labelPurchase(e, "order-1"))
					errs[i] = err
					if res != nil && res.Label != nil {
						tns[i] = res.Label.Metadata.TrackingNumber
					}
				})
			}
			wg.Wait()
			for i := range stores {
				require.NoError(t, errs[i])
				assert.Equal(t, tns[0], tns[i])
			}
		}},
		{"two instances from scratch", func(t *testing.T, e *env, stores []linking.Store) {
			var wg sync.WaitGroup
			errs := make([]error, len(stores))
			for i, s := range stores {
				l := e.labelLinker(s)
				wg.Go(func() { _, errs[i] = l.BuyLabel(t.Context(), account, labelPurchase(e, "order-1")) })
			}
			wg.Wait()
			for _, err := range errs {
				require.NoError(t, err)
			}
		}},
	}
	for name, open := range storeKinds(t, 2) {
		t.Run(name, func(t *testing.T) {
			for _, c := range cells {
				t.Run(c.name, func(t *testing.T) {
					stores := open(t)
					e := activeEnv(t, stores[0])
					c.run(t, e, stores)
					charges := e.srv.LabelCharges()
					require.Len(t, charges, 1, "exactly one label created")
					assert.Equal(t, 1, e.srv.ChargedLabels(), "exactly one label charged")
					assert.Equal(t, usps.Cents(805), charges[0].Postage)
					assert.True(t, charges[0].Contract)
					rec, err := stores[1].(linking.LabelStore).GetLabelRecord(t.Context(), account, "order-1")
					require.NoError(t, err)
					assert.Equal(t, linking.LabelPurchased, rec.Status)
					assert.Equal(t, charges[0].TrackingNumber, rec.TrackingNumber)
					assert.Equal(t, charges[0].IdempotencyKey, rec.IdempotencyKey)
				})
			}
		})
	}
}
