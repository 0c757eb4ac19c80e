package linking

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
)

// Labels bought on a linked customer's EPA, exactly once.
//
// BuyLabel records the purchase (an idempotency key and the hash of the
// exact request body) in the Store before it calls USPS. Whatever happens
// after that — a timeout after USPS charged, a dropped connection, a crash,
// a restart on another instance — the purchase is finished by sending the
// same body under the same key again (BuyLabel with the same PurchaseID, or
// ResumeLabels), which USPS answers with the label it already made, without
// a second charge. The same PurchaseID with a different request is refused
// locally (ErrLabelConflict), before USPS could see a reused key.

// LabelStatus is where a label purchase stands.
type LabelStatus string

// Label statuses.
const (
	// LabelPending: the intent is recorded; USPS has not (knowingly)
	// answered. The label may exist: only a resend under the same key
	// tells.
	LabelPending LabelStatus = "pending"
	// LabelPurchased: USPS answered with the label.
	LabelPurchased LabelStatus = "purchased"
	// LabelFailed: USPS refused the request (nothing charged). BuyLabel
	// with the same PurchaseID tries again under the same key.
	LabelFailed LabelStatus = "failed"
	// LabelCancelled: voided before the manifest; nothing is owed.
	LabelCancelled LabelStatus = "cancelled"
	// LabelRefundRequested: cancelled after the manifest: a refund request
	// was filed (DisputeID).
	LabelRefundRequested LabelStatus = "refund_requested"
)

// ExpectedPrice is the NSA quote a purchase expects to be billed. Postage
// is required; SKU and Zone are compared when set.
type ExpectedPrice struct {
	Postage usps.Cents // without extra-service fees, as USPS's label postage
	SKU     string
	Zone    string // "01"–"09"; "1" and "01" are the same zone
}

// ExpectQuote is the ExpectedPrice of a Linker.Quote (postage and zone; the
// rate engine has no SKU).
func ExpectQuote(q Quote) ExpectedPrice {
	return ExpectedPrice{Postage: q.Postage, Zone: q.Zone.String()}
}

// LabelRecord is a label purchase as the Store keeps it.
type LabelRecord struct {
	AccountID  string
	PurchaseID string // the host's id of the purchase, unique per account
	// IdempotencyKey is the X-Idempotency-Key, made once and reused for
	// every send; RequestHash is the SHA-256 of Body, the exact request body.
	IdempotencyKey string
	RequestHash    []byte
	Body           []byte
	Expected       ExpectedPrice
	// Location is the label of the link's location whose account pays
	// ("" the default), fixed at creation like the body.
	Location string
	Status   LabelStatus
	// From USPS's label, once purchased.
	TrackingNumber string
	Postage        usps.Cents
	SKU            string
	Zone           string
	// PriceMismatch says how the billed price differs from Expected
	// (e.g. "postage 9.35 != 7.12"); empty when it matched.
	PriceMismatch string
	// CancelDeadline is the label's manifest cutoff: before it CancelLabel
	// voids, after it it files a refund request.
	CancelDeadline time.Time
	DisputeID      string
	// Attempts counts sends to USPS; LastError is a short word on the last
	// failed one.
	Attempts  int
	LastError string
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   int64
}

// LabelStore keeps label purchases. It is separate from Store so that a
// Store without labels still works; memstore and sqlstore implement both.
// The same rules apply as to Store: safe for concurrent use by many
// processes, copies in and out. Store.DeleteLink does not delete label
// records: they are a record of money spent, kept as long as the host's
// bookkeeping needs them. Bodies hold the label's addresses.
type LabelStore interface {
	// CreateLabelRecord inserts r with Version 1 (CreatedAt and UpdatedAt
	// the current time when zero) and returns the stored record.
	// ErrAlreadyExists if the account already has that PurchaseID.
	CreateLabelRecord(ctx context.Context, r *LabelRecord) (*LabelRecord, error)
	// GetLabelRecord returns a purchase, or ErrNotFound.
	GetLabelRecord(ctx context.Context, accountID, purchaseID string) (*LabelRecord, error)
	// UpdateLabelRecord stores r if the stored Version still equals
	// r.Version, writing every field except the key, IdempotencyKey,
	// RequestHash, Body, Expected, Location and CreatedAt, and returns it with
	// Version+1. ErrConflict if the version moved, ErrNotFound if missing.
	UpdateLabelRecord(ctx context.Context, r *LabelRecord) (*LabelRecord, error)
	// PendingLabelRecords returns up to limit records in LabelPending whose
	// UpdatedAt is before `before`, oldest first.
	PendingLabelRecords(ctx context.Context, before time.Time, limit int) ([]*LabelRecord, error)
}

// LabelPurchase is one label to buy for a linked account.
type LabelPurchase struct {
	// PurchaseID is the host's id of this purchase (e.g. its shipment id),
	// at most 200 bytes: calling BuyLabel again with it never buys a second
	// label.
	PurchaseID string
	Request    uspsbiz.LabelRequest
	Expected   ExpectedPrice
	// Location is the label of the link's location that prices and pays
	// for this label (see Link.Locations); "" is the default account.
	Location string
}

// LabelResult is a bought label with its price check.
type LabelResult struct {
	Record LabelRecord
	Label  *uspsbiz.Label
	Price  PriceCheck
}

// PriceCheck compares the billed label with the expected quote.
type PriceCheck struct {
	Expected ExpectedPrice
	Billed   ExpectedPrice
	// Mismatches names what differs: "postage", "SKU", "zone".
	Mismatches []string
}

// OK reports a label billed as expected.
func (p PriceCheck) OK() bool { return len(p.Mismatches) == 0 }

func (p PriceCheck) String() string {
	if p.OK() {
		return ""
	}
	var parts []string
	for _, m := range p.Mismatches {
		switch m {
		case "postage":
			parts = append(parts, fmt.Sprintf("postage %s != %s", p.Billed.Postage, p.Expected.Postage))
		case "SKU":
			parts = append(parts, fmt.Sprintf("SKU %s != %s", p.Billed.SKU, p.Expected.SKU))
		case "zone":
			parts = append(parts, fmt.Sprintf("zone %s != %s", p.Billed.Zone, p.Expected.Zone))
		}
	}
	return strings.Join(parts, ", ")
}

func checkPrice(exp ExpectedPrice, md uspsbiz.LabelMetadata) PriceCheck {
	pc := PriceCheck{Expected: exp, Billed: ExpectedPrice{Postage: md.Postage, SKU: md.SKU, Zone: md.Zone}}
	if md.Postage != exp.Postage {
		pc.Mismatches = append(pc.Mismatches, "postage")
	}
	if exp.SKU != "" && !strings.EqualFold(exp.SKU, md.SKU) {
		pc.Mismatches = append(pc.Mismatches, "SKU")
	}
	if exp.Zone != "" && strings.TrimLeft(exp.Zone, "0") != strings.TrimLeft(md.Zone, "0") {
		pc.Mismatches = append(pc.Mismatches, "zone")
	}
	return pc
}

// Label errors.
var (
	// ErrLabelConflict: the PurchaseID was already used with another
	// request; nothing was sent.
	ErrLabelConflict = errors.New("linking: purchase id already used with a different label request")
	// ErrLabelOutcomeUnknown: the purchase was sent but no answer came
	// back (timeout, dropped connection, 5xx). The label may exist. Call
	// BuyLabel again with the same PurchaseID (or run ResumeLabels): it
	// resends the same request under the same key and never buys twice.
	ErrLabelOutcomeUnknown = errors.New("linking: label purchase outcome unknown; retry with the same purchase id")
	// ErrPriceMismatch: the label was bought, but not at the expected
	// price. See *PriceMismatchError.
	ErrPriceMismatch = errors.New("linking: label billed at an unexpected price")
	// ErrLabelClosed: the purchase was cancelled or refunded; it is not
	// bought again.
	ErrLabelClosed = errors.New("linking: label purchase was cancelled")
	// ErrNoLabelStore: the Linker's Store does not implement LabelStore.
	ErrNoLabelStore = errors.New("linking: the Store does not keep label records (LabelStore)")
)

// PriceMismatchError is a label bought at another price than expected
// (e.g. the published price billed where the contract price was quoted).
// The label is real and paid: BuyLabel returns its *LabelResult with it.
type PriceMismatchError struct {
	AccountID, PurchaseID, TrackingNumber string
	Check                                 PriceCheck
}

func (e *PriceMismatchError) Error() string {
	return fmt.Sprintf("linking: label %s of %q (purchase %q): %s", e.TrackingNumber, e.AccountID, e.PurchaseID, e.Check)
}

// Is makes errors.Is(err, ErrPriceMismatch) true.
func (e *PriceMismatchError) Is(target error) bool { return target == ErrPriceMismatch }

// LabelEventKind names a LabelEvent.
type LabelEventKind string

// Label events.
const (
	LabelEventPurchased       LabelEventKind = "purchased"
	LabelEventPriceMismatch   LabelEventKind = "price_mismatch"
	LabelEventCancelled       LabelEventKind = "cancelled"
	LabelEventRefundRequested LabelEventKind = "refund_requested"
)

// LabelEvent is passed to the hooks of WithLabelHook once per change of a
// purchase, by the process that made it.
type LabelEvent struct {
	Kind   LabelEventKind
	Record LabelRecord
	// Price is set for purchased and price_mismatch.
	Price PriceCheck
}

// WithLabelHook calls fn for every LabelEvent, in the goroutine that made
// it: e.g. to alert on a price mismatch. Hooks must not block for long.
func WithLabelHook(fn func(context.Context, LabelEvent)) Option {
	return func(l *Linker) error {
		if fn == nil {
			return errors.New("linking: WithLabelHook: nil hook")
		}
		l.labelHooks = append(l.labelHooks, fn)
		return nil
	}
}

func (l *Linker) labelEvent(ctx context.Context, ev LabelEvent) {
	lvl := slog.LevelInfo
	if ev.Kind == LabelEventPriceMismatch {
		lvl = slog.LevelWarn
	}
	l.logger.LogAttrs(ctx, lvl, "label "+string(ev.Kind),
		slog.String("account_id", ev.Record.AccountID), slog.String("purchase_id", ev.Record.PurchaseID),
		slog.String("tracking_number", ev.Record.TrackingNumber), slog.String("price", ev.Price.String()))
	for _, h := range l.labelHooks {
		h(ctx, ev)
	}
}

func (l *Linker) labelStore() (LabelStore, error) {
	// Label records hold no EPS number and no link state the cache keeps,
	// so they go to the host's Store as is.
	ls, ok := l.rawStore.(LabelStore)
	if !ok {
		return nil, ErrNoLabelStore
	}
	return ls, nil
}

// recordTimeout bounds the write of a label outcome made after the
// caller's context ended.
const recordTimeout = 10 * time.Second

// maxPurchaseID bounds LabelPurchase.PurchaseID.
const maxPurchaseID = 200

// BuyLabel buys a label for an active link at the customer's contract price,
// paid as the Linker's payment model says (PaymentTokenAt of
// p.Location), exactly once per PurchaseID:
//
//  1. the request is checked and encoded (a *uspsbiz.LabelRequestError
//     names a bad field; nothing is stored or sent);
//  2. the purchase is recorded — key, hash, body and p.Expected — before
//     any call; an existing record with another hash is ErrLabelConflict
//     (a different Expected is not: the recorded one is kept);
//  3. the recorded body is sent under the recorded key. USPS answers a
//     repeat with the label it already made, so every retry, by any
//     process, ends with the one label;
//  4. the label's postage, SKU and zone are compared with p.Expected.
//
// Results: the label and nil; or, when the price differs, the label AND a
// *PriceMismatchError (matching ErrPriceMismatch) — the label is real and
// paid, the mismatch is also a LabelEvent and a Warn log, and stays on the
// record; or an error matching ErrLabelOutcomeUnknown when USPS's answer
// was lost (call again with the same PurchaseID); or USPS's refusal
// (*uspsbiz.APIError, often a *uspsbiz.LabelError), recorded as
// LabelFailed.
//
// A purchase already bought is fetched again the same way (USPS charges
// nothing for it), so the host gets the image back; a cancelled one is
// ErrLabelClosed.
func (l *Linker) BuyLabel(ctx context.Context, accountID string, p LabelPurchase) (*LabelResult, error) {
	ls, err := l.labelStore()
	if err != nil {
		return nil, err
	}
	switch {
	case p.PurchaseID == "" || len(p.PurchaseID) > maxPurchaseID:
		return nil, &uspsbiz.LabelRequestError{Field: "PurchaseID", Reason: "must have 1 to 200 bytes"}
	case p.Expected.Postage <= 0:
		return nil, &uspsbiz.LabelRequestError{Field: "Expected.Postage", Reason: "is required: the NSA quote the label must match"}
	}
	body, err := p.Request.Body()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	rec, err := ls.GetLabelRecord(ctx, accountID, p.PurchaseID)
	if errors.Is(err, ErrNotFound) {
		now := l.now().UTC()
		rec, err = ls.CreateLabelRecord(ctx, &LabelRecord{
			AccountID: accountID, PurchaseID: p.PurchaseID, IdempotencyKey: uspsbiz.NewIdempotencyKey(),
			RequestHash: sum[:], Body: body, Expected: p.Expected, Location: p.Location, Status: LabelPending,
			CreatedAt: now, UpdatedAt: now,
		})
		if errors.Is(err, ErrAlreadyExists) { // a peer recorded it first: use theirs
			rec, err = ls.GetLabelRecord(ctx, accountID, p.PurchaseID)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("linking: label purchase %q: %w", p.PurchaseID, err)
	}
	// Only the request counts: it is what USPS sees under the key. The
	// price check keeps the expectation recorded with the intent, so that a
	// retry priced from a newer table still recovers the label.
	if !bytes.Equal(rec.RequestHash, sum[:]) {
		return nil, fmt.Errorf("%w (purchase %q)", ErrLabelConflict, p.PurchaseID)
	}
	return l.sendLabel(ctx, ls, rec)
}

// ResumeLabels finishes purchases left pending for longer than olderThan
// (a crash, or a host that gave up after ErrLabelOutcomeUnknown): each is
// resent with its recorded key and body, so it ends purchased (or failed)
// without a second charge. It returns how many it finished; run it from a
// periodic job on any instance.
func (l *Linker) ResumeLabels(ctx context.Context, olderThan time.Duration, limit int) (int, error) {
	ls, err := l.labelStore()
	if err != nil {
		return 0, err
	}
	recs, err := ls.PendingLabelRecords(ctx, l.now().Add(-olderThan), limit)
	if err != nil {
		return 0, err
	}
	done := 0
	var errs []error
	for _, r := range recs {
		if _, err := l.sendLabel(ctx, ls, r); err != nil && !errors.Is(err, ErrPriceMismatch) {
			errs = append(errs, err)
			continue
		}
		done++
	}
	return done, errors.Join(errs...)
}

// sendLabel sends rec's body under rec's key and records the outcome.
func (l *Linker) sendLabel(ctx context.Context, ls LabelStore, rec *LabelRecord) (*LabelResult, error) {
	switch rec.Status {
	case LabelCancelled, LabelRefundRequested:
		return &LabelResult{Record: *rec}, fmt.Errorf("%w (purchase %q is %s)", ErrLabelClosed, rec.PurchaseID, rec.Status)
	}
	if sum := sha256.Sum256(rec.Body); !bytes.Equal(sum[:], rec.RequestHash) {
		return nil, fmt.Errorf("linking: label purchase %q: stored body does not match its hash", rec.PurchaseID)
	}
	pat, _, err := l.PaymentTokenAt(ctx, rec.AccountID, rec.Location)
	if err != nil {
		return nil, err // nothing sent
	}
	m := l.usps.ForMerchant(l.TokenSource(ctx, rec.AccountID))
	lbl, sendErr := m.CreateLabelBody(ctx, pat, rec.IdempotencyKey, rec.Body)

	var pc PriceCheck
	var events []LabelEvent
	// The outcome is recorded even when the caller gave up (that is when
	// it matters most), within a bound of its own.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	stored, err := l.updateLabel(wctx, ls, rec, func(r *LabelRecord) {
		events = events[:0]
		r.Attempts++
		r.UpdatedAt = l.now().UTC()
		if sendErr != nil {
			r.LastError = labelErrorWord(sendErr)
			if r.Status == LabelPending && definite(sendErr) {
				r.Status = LabelFailed
			}
			return
		}
		pc = checkPrice(r.Expected, lbl.Metadata)
		first := r.Status != LabelPurchased
		r.Status, r.LastError = LabelPurchased, ""
		md := lbl.Metadata
		r.TrackingNumber, r.Postage, r.SKU, r.Zone, r.PriceMismatch = md.TrackingNumber, md.Postage, md.SKU, md.Zone, pc.String()
		r.CancelDeadline = cancelDeadline(r.Body, r.CreatedAt)
		if first {
			kind := LabelEventPurchased
			if !pc.OK() {
				kind = LabelEventPriceMismatch
			}
			events = append(events, LabelEvent{Kind: kind, Record: *r, Price: pc})
		}
	})
	if err != nil && sendErr == nil {
		// The label is bought but its record could not be saved: the
		// next BuyLabel or ResumeLabels fetches it again under the key.
		l.logger.LogAttrs(ctx, slog.LevelError, "label bought but not recorded", slog.String("account_id", rec.AccountID),
			slog.String("purchase_id", rec.PurchaseID), slog.String("error", err.Error()))
	}
	if stored == nil {
		stored = rec
	}
	for _, ev := range events {
		ev.Record = *stored
		l.labelEvent(ctx, ev)
	}
	if sendErr != nil {
		if definite(sendErr) {
			return nil, sendErr
		}
		return nil, fmt.Errorf("%w (purchase %q): %w", ErrLabelOutcomeUnknown, rec.PurchaseID, sendErr)
	}
	res := &LabelResult{Record: *stored, Label: lbl, Price: pc}
	if !pc.OK() {
		return res, &PriceMismatchError{AccountID: rec.AccountID, PurchaseID: rec.PurchaseID, TrackingNumber: lbl.Metadata.TrackingNumber, Check: pc}
	}
	return res, nil
}

// updateLabel applies change to the stored record, re-reading on a
// version conflict (another instance finished the same purchase).
func (l *Linker) updateLabel(ctx context.Context, ls LabelStore, rec *LabelRecord, change func(*LabelRecord)) (*LabelRecord, error) {
	cur := rec
	for range 5 {
		next := *cur
		change(&next)
		stored, err := ls.UpdateLabelRecord(ctx, &next)
		if !errors.Is(err, ErrConflict) {
			return stored, err
		}
		if cur, err = ls.GetLabelRecord(ctx, rec.AccountID, rec.PurchaseID); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("linking: label purchase %q: %w", rec.PurchaseID, ErrConflict)
}

// definite reports a USPS refusal, after which no label exists under the
// key: a 4xx other than 401, 403, 408 and 429 (which say nothing about the
// label). Everything else — no answer, 5xx — leaves the outcome unknown.
func definite(err error) bool {
	var ae *uspsbiz.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return ae.StatusCode >= 400 && ae.StatusCode < 500
}

func labelErrorWord(err error) string {
	var ae *uspsbiz.APIError
	if errors.As(err, &ae) {
		s := fmt.Sprintf("USPS %d", ae.StatusCode)
		if len(ae.Errors) > 0 && ae.Errors[0].Code != "" {
			s += " " + ae.Errors[0].Code
		}
		return s
	}
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Timeout") {
		return "timed out"
	}
	return "no answer"
}

// cancelDeadline reads the mailing date and immediate-manifest flag back
// from the recorded body.
func cancelDeadline(body []byte, created time.Time) time.Time {
	var w struct {
		PackageDescription struct {
			MailingDate    string `json:"mailingDate"`
			PackageOptions struct {
				ImmediateManifest bool `json:"immediateManifest"`
			} `json:"packageOptions"`
		} `json:"packageDescription"`
	}
	if json.Unmarshal(body, &w) != nil {
		return time.Time{}
	}
	d, err := time.Parse(time.DateOnly, w.PackageDescription.MailingDate)
	if err != nil {
		return time.Time{}
	}
	return uspsbiz.ManifestCutoff(d, created, w.PackageDescription.PackageOptions.ImmediateManifest)
}

// CancelLabel cancels a purchased label: before its CancelDeadline (the
// manifest cutoff) USPS voids it and the record becomes LabelCancelled;
// after, USPS files a refund request and the record becomes
// LabelRefundRequested with its DisputeID. USPS takes one refund request
// per label and day (uspsbiz.ErrRefundRejected otherwise).
func (l *Linker) CancelLabel(ctx context.Context, accountID, purchaseID string) (*LabelRecord, error) {
	ls, err := l.labelStore()
	if err != nil {
		return nil, err
	}
	rec, err := ls.GetLabelRecord(ctx, accountID, purchaseID)
	if err != nil {
		return nil, fmt.Errorf("linking: label purchase %q: %w", purchaseID, err)
	}
	switch rec.Status {
	case LabelCancelled, LabelRefundRequested:
		return rec, nil
	case LabelPurchased:
	default:
		return nil, fmt.Errorf("linking: label purchase %q is %s; only a purchased label can be cancelled (BuyLabel finishes a pending one)", purchaseID, rec.Status)
	}
	pat, _, err := l.PaymentTokenAt(ctx, accountID, rec.Location)
	if err != nil {
		return nil, err
	}
	res, cancelErr := l.usps.ForMerchant(l.TokenSource(ctx, accountID)).CancelLabel(ctx, pat, rec.TrackingNumber)
	var ev *LabelEvent
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	stored, err := l.updateLabel(wctx, ls, rec, func(r *LabelRecord) {
		ev = nil
		r.UpdatedAt = l.now().UTC()
		if cancelErr != nil {
			r.LastError = labelErrorWord(cancelErr)
			return
		}
		r.LastError = ""
		kind := LabelEventCancelled
		if res.Status == uspsbiz.Disputed {
			r.Status, r.DisputeID, kind = LabelRefundRequested, res.DisputeID, LabelEventRefundRequested
		} else {
			r.Status = LabelCancelled
		}
		ev = &LabelEvent{Kind: kind, Record: *r}
	})
	if cancelErr != nil {
		return nil, cancelErr
	}
	if err != nil {
		return nil, fmt.Errorf("linking: label %s cancelled at USPS (%s) but not recorded: %w", rec.TrackingNumber, res.Status, err)
	}
	if ev != nil {
		ev.Record = *stored
		l.labelEvent(ctx, *ev)
	}
	return stored, nil
}

// LabelRecordOf returns a purchase's record.
func (l *Linker) LabelRecordOf(ctx context.Context, accountID, purchaseID string) (*LabelRecord, error) {
	ls, err := l.labelStore()
	if err != nil {
		return nil, err
	}
	return ls.GetLabelRecord(ctx, accountID, purchaseID)
}
