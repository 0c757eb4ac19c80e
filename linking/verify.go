package linking

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
)

// ContractProbe is the package whose contract price Verify asks USPS for:
// a CONTRACT price means the NSA is in effect for the customer's EPS
// account; warning 001 (published price returned) means not yet.
type ContractProbe struct {
	MailClass      string
	OriginZIP      string
	DestinationZIP string
	Weight         usps.Weight
	Length         usps.Dimension
	Width          usps.Dimension
	Height         usps.Dimension
}

// defaultContractProbe is a 1 lb Priority Mail parcel across the country.
func defaultContractProbe() ContractProbe {
	return ContractProbe{
		MailClass: "PRIORITY_MAIL", OriginZIP: "10001", DestinationZIP: "94105",
		Weight: usps.Pound, Length: 10 * usps.Inch, Width: 8 * usps.Inch, Height: 4 * usps.Inch,
	}
}

// WithContractProbe replaces the default probe (a 1 lb Priority Mail
// parcel, 10 × 8 × 4 in, from ZIP 10001 to 94105): choose a product the
// platform's NSA customers have contract prices for.
func WithContractProbe(p ContractProbe) Option {
	return func(l *Linker) error {
		if p.MailClass == "" || p.Weight <= 0 {
			return errors.New("linking: WithContractProbe: mail class and weight are required")
		}
		l.probe = p
		return nil
	}
}

// backoff spaces the reconciler's checks of a pending link: the delay after
// the attempt-th unsuccessful check (1-based) is Base·2^(attempt-1), capped
// at Max, with up to 20% jitter so that a fleet does not check in step.
type backoff struct {
	Base, Max time.Duration
}

// defaultBackoff checks after 1 minute, then 2, 4 … up to every 6 hours:
// a pending link costs at most a few USPS calls a day.
func defaultBackoff() backoff { return backoff{Base: time.Minute, Max: 6 * time.Hour} }

// WithBackoff spaces the reconciler's checks of a pending link: the delay
// after the n-th unsuccessful check is base·2^(n-1), capped at maxDelay, with up
// to 20% jitter so that a fleet does not check in step. The default, base 1
// minute and maxDelay 6 hours, costs a pending link at most a few USPS calls a
// day.
func WithBackoff(base, maxDelay time.Duration) Option {
	return func(l *Linker) error {
		if base <= 0 || maxDelay < base {
			return errors.New("linking: WithBackoff: need 0 < base <= maxDelay")
		}
		l.backoff = backoff{Base: base, Max: maxDelay}
		return nil
	}
}

// delay is the wait after the attempt-th unsuccessful check.
func (b backoff) delay(attempt int) time.Duration {
	d := b.Max
	if attempt >= 1 && attempt < 40 {
		if x := b.Base << (attempt - 1); x > 0 && x < b.Max {
			d = x
		}
	}
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// reasonForEPA maps USPS's EPA codes (100001–100007, see uspsbiz.EPA.Code)
// to what the customer must fix.
var reasonForEPA = map[string]Reason{
	codeEPANotFound: ReasonEPAMissing,
	"100002":        ReasonEPANotActive,
	"100003":        ReasonNoPaymentMethod,
	"100004":        ReasonPaymentMethodNotActive,
	"100005":        ReasonCardTrouble, // try again later
	"100006":        ReasonCardTrouble, // check the card details
	"100007":        ReasonInsufficientFunds,
}

// codeEPANotFound is USPS's code for an unknown EPS account.
const codeEPANotFound = "100001"

// Verify checks a pending link with USPS and moves it forward:
//
//   - the credentials check (a payment authorization with the payment
//     model's roles, for the default account and then each location)
//     fails on the customer's account: action required with the reason; a
//     refusal of the platform's own paying account (ErrPlatformAccount)
//     leaves the link pending;
//   - a contract-price probe with the customer's token returns a CONTRACT
//     price: active, with the payment token cached for its 8 hours; USPS
//     refusing the probe (403) because the EPS account is not of the
//     business that granted the token: action required, credentials
//     rejected (the typed CRID, MID and EPS are bound to the granting
//     account this way; see docs/usps.md#account-binding);
//   - USPS answers "contract rate not found" (warning 001, or 160212):
//     still pending, checked again after a backoff;
//   - USPS is unreachable, over quota, or refuses for a reason that is not
//     the customer's: still pending, checked again after a backoff, and
//     the error is returned.
//
// Verify also re-checks links in action required for a reason the customer
// fixes at USPS (ACH verification, payment method, funds); it is a no-op on
// other links. It returns the link's status after the check; with an error
// that is not the customer's (USPS unreachable, over quota), the status is
// that of the link left pending, unless the link could not be read at all.
func (l *Linker) Verify(ctx context.Context, accountID string) (Status, error) {
	lk, err := l.verify(ctx, accountID)
	if lk == nil {
		return Status{}, err
	}
	return statusOf(lk), err
}

func (l *Linker) verify(ctx context.Context, accountID string) (*Link, error) {
	lk, err := l.store.GetLink(ctx, accountID)
	if err != nil {
		return nil, err
	}
	if !checkable(lk) {
		return lk, nil
	}
	out := l.check(ctx, lk)
	now := l.now().UTC()
	lk, uerr := l.update(ctx, accountID, "verifier", out.cause, func(cur *Link) (State, Reason, error) {
		if !sameSubject(cur, lk) {
			return cur.State, cur.Reason, errStale // credentials or state changed meanwhile
		}
		return l.applyOutcome(cur, out, now)
	})
	if errors.Is(uerr, errStale) {
		return l.store.GetLink(ctx, accountID)
	}
	if uerr != nil {
		return nil, uerr
	}
	return lk, out.err
}

// sameSubject reports whether a verdict computed for link a still applies
// to link b: same state and reason, same identity (CRID, MIDs, EPS
// account, returns MID, locations), same USPS environment.
func sameSubject(b, a *Link) bool {
	return b.State == a.State && b.Reason == a.Reason && b.EPSAccount == a.EPSAccount &&
		b.CRID == a.CRID && b.MID == a.MID && b.ManifestMID == a.ManifestMID && b.Environment == a.Environment &&
		b.ReturnsMID == a.ReturnsMID && slices.EqualFunc(b.Locations, a.Locations, sameLocation)
}

// sameLocation compares the identity of two locations (not their cached
// payment tokens or sealed forms).
func sameLocation(a, b Location) bool {
	return a.Label == b.Label && a.MID == b.MID && a.ManifestMID == b.ManifestMID && a.EPSAccount == b.EPSAccount
}

// verifyClaimed is verify for the reconciler: the check is made for the
// claimed version of the link and written with compare-and-swap on it, so a
// verdict never lands on a link changed meanwhile (new credentials, a
// relink, an unlink); it is then dropped and the link's own schedule
// decides what happens next.
func (l *Linker) verifyClaimed(ctx context.Context, lk *Link) (*Link, error) {
	out := l.check(ctx, lk)
	now := l.now().UTC()
	cp := *lk
	from, fromReason := cp.State, cp.Reason
	to, reason, _ := l.applyOutcome(&cp, out, now)
	var ev *Event
	if to != from || reason != fromReason {
		if err := checkTransition(from, to); err != nil && to != from {
			return nil, err
		}
		ev = &Event{From: from, To: to, Reason: reason, Cause: out.cause, Actor: "reconciler"}
	}
	cp.State, cp.Reason, cp.UpdatedAt = to, reason, now
	// The lease bounds the USPS calls, not this write: it is a compare and
	// swap on the claimed version, safe even after the lease ended.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	stored, err := l.store.UpdateLink(wctx, &cp, ev)
	if errors.Is(err, ErrConflict) {
		cur, gerr := l.store.GetLink(wctx, lk.AccountID)
		if gerr != nil {
			return nil, gerr
		}
		return cur, out.err
	}
	if err != nil {
		return nil, err
	}
	if ev != nil {
		l.notify(ctx, Event{AccountID: lk.AccountID, At: now, From: from, To: to, Reason: reason, Cause: out.cause, Actor: "reconciler"})
	}
	return stored, out.err
}

// applyOutcome writes a check's verdict into cur (payment token, schedule,
// last error) and returns the state and reason to move to.
func (l *Linker) applyOutcome(cur *Link, out outcome, now time.Time) (State, Reason, error) {
	cur.LastError = out.cause
	switch {
	case out.state == StateActive:
		cur.PaymentToken, cur.PaymentTokenExpiry = out.paymentToken, out.paymentExpiry.UTC()
		setLocationTokens(cur, out.locationTokens)
		cur.CheckAttempts, cur.LastError = 0, ""
		cur.State = StateActive
		cur.NextCheckAt = l.schedule(cur, now) // keep-alive and health from now on
	case out.state == StateActionRequired && !fixedAtUSPS[out.reason]:
		cur.CheckAttempts = 0 // waits for the customer; the token is kept alive
		cur.NextCheckAt = l.schedule(cur, now)
	default: // still pending, or a problem the customer fixes at USPS: look again later
		if out.state != cur.State || out.reason != cur.Reason {
			cur.CheckAttempts = 0
		}
		cur.CheckAttempts++
		next := now.Add(l.backoff.delay(cur.CheckAttempts))
		if keep := l.schedule(cur, now); !keep.IsZero() {
			next = minTime(next, keep)
		}
		cur.NextCheckAt = next
	}
	return out.state, out.reason, nil
}

var errStale = errors.New("linking: link changed during verification")

// fixedAtUSPS are the action-required reasons a customer resolves in the
// USPS Business Portal, not in the platform (verifying ACH micro-debits,
// adding a payment method, funding the account): the reconciler keeps
// re-checking them with backoff, so the link moves on by itself.
var fixedAtUSPS = map[Reason]bool{
	ReasonEPANotActive:           true,
	ReasonNoPaymentMethod:        true,
	ReasonPaymentMethodNotActive: true,
	ReasonCardTrouble:            true,
	ReasonInsufficientFunds:      true,
}

// checkable reports whether Verify has something to check.
func checkable(lk *Link) bool {
	return lk.State == StateApprovalPending || lk.State == StateActionRequired && fixedAtUSPS[lk.Reason]
}

type outcome struct {
	state         State
	reason        Reason
	cause         string // short and secret-free, for the audit trail
	err           error  // a failure that is not the customer's
	paymentToken  []byte
	paymentExpiry time.Time
	// locationTokens are the payment tokens of the link's locations, by
	// label, when it activates (or passes a health check).
	locationTokens map[string]locationToken
}

// locationToken is the sealed payment token a check got for one location.
type locationToken struct {
	sealed []byte
	expiry time.Time
}

// setLocationTokens stores the location tokens a check got in lk (a
// location without one loses its cached token).
func setLocationTokens(lk *Link, toks map[string]locationToken) {
	if len(lk.Locations) == 0 {
		return
	}
	lk.Locations = slices.Clone(lk.Locations) // lk may share them with the caller's copy
	for i := range lk.Locations {
		t := toks[lk.Locations[i].Label]
		lk.Locations[i].PaymentToken, lk.Locations[i].PaymentTokenExpiry = t.sealed, t.expiry.UTC()
	}
}

// paymentTokenAAD is the sealing context of the payment token of a
// location ("" is the link's default account).
func paymentTokenAAD(accountID, label string) []byte {
	if label == "" {
		return sealAAD(accountID, sealedFieldPaymentToken)
	}
	return sealAAD(accountID, sealedFieldPaymentToken+":"+label)
}

// accountOf is the payment account of a link's location ("" the default).
func accountOf(lk *Link, loc Location) payAccount {
	return payAccount{CRID: lk.CRID, MID: loc.MID, ManifestMID: loc.ManifestMID, EPS: loc.EPSAccount, ReturnsMID: lk.ReturnsMID}
}

// labels lists the accounts of a link to check: the default ("") and
// each location.
func labels(lk *Link) []string {
	out := make([]string, 0, 1+len(lk.Locations))
	out = append(out, "")
	for _, loc := range lk.Locations {
		out = append(out, loc.Label)
	}
	return out
}

// paymentCheck asks USPS for a payment authorization with the credentials
// of the link's location with this label ("" the default) and the payment
// model's roles. It returns the authorization, or the verdict on the
// customer's account (out.state action required), or out.err for a
// failure that is not the customer's (including ErrPlatformAccount: the
// platform's own paying account refused).
func (l *Linker) paymentCheck(ctx context.Context, lk *Link, label string) (outcome, *uspsbiz.PaymentAuthorization) {
	out, pa := l.paymentCheckAccount(ctx, lk, label)
	if label != "" && out.cause != "" {
		out.cause = "location " + strconv.Quote(label) + ": " + out.cause
	}
	return out, pa
}

func (l *Linker) paymentCheckAccount(ctx context.Context, lk *Link, label string) (outcome, *uspsbiz.PaymentAuthorization) {
	loc, ok := lk.location(label)
	if !ok {
		return outcome{state: lk.State, reason: lk.Reason, cause: "unknown location", err: fmt.Errorf("%w: %q", ErrUnknownLocation, label)}, nil
	}
	a := accountOf(lk, loc)
	v, err := checkCredentials(ctx, l.usps, CredentialsInput{
		CRID: string(a.CRID), MID: string(a.MID), ManifestMID: string(a.ManifestMID), EPS: a.EPS.Reveal(),
		ReturnsMID: string(a.ReturnsMID),
	}, l.model, l.platformCRID)
	if err != nil {
		var ae *uspsbiz.APIError
		switch {
		case errors.Is(err, ErrPlatformAccount):
			return outcome{state: lk.State, reason: lk.Reason, cause: "credentials check: platform's payment account refused", err: err}, nil
		case errors.As(err, &ae) && ae.StatusCode == 400:
			return outcome{state: StateActionRequired, reason: ReasonCredentialsRejected, cause: "credentials check: rejected"}, nil
		}
		return outcome{state: lk.State, reason: lk.Reason, cause: "credentials check: " + errorClass(err), err: err}, nil
	}
	if v.ok() {
		return outcome{}, v.Payment
	}
	if r, ok := reasonForEPA[v.EPACode]; ok && v.EPS.Verdict == verdictRejected {
		return outcome{state: StateActionRequired, reason: r, cause: "credentials check: EPA code " + v.EPACode}, nil
	}
	for _, fv := range []fieldVerdict{v.CRID, v.MID, v.ManifestMID, v.ReturnsMID} {
		if fv.Verdict == verdictRejected {
			return outcome{state: StateActionRequired, reason: ReasonCRIDNotEnrolled, cause: "credentials check: CRID/MID rejected " + fv.Code}, nil
		}
	}
	return outcome{state: StateActionRequired, reason: ReasonCredentialsRejected, cause: "credentials check: rejected"}, nil
}

// check asks USPS about every account of the link (the default, then each
// location, stopping at the first that is not ready); it never writes
// (except that a revoked grant found on the way is recorded at once).
func (l *Linker) check(ctx context.Context, lk *Link) outcome {
	var out outcome
	for _, label := range labels(lk) {
		o := l.checkAccount(ctx, lk, label)
		if label != "" && o.cause != "" && o.state != StateActive {
			o.cause = "location " + strconv.Quote(label) + ": " + o.cause
		}
		if o.state != StateActive {
			return o
		}
		if label == "" {
			out = o
			continue
		}
		if out.locationTokens == nil {
			out.locationTokens = map[string]locationToken{}
		}
		out.locationTokens[label] = locationToken{sealed: o.paymentToken, expiry: o.paymentExpiry}
	}
	return out
}

// checkAccount checks one account of the link: the credentials check with
// the payment model's roles, then the contract probe with the customer's
// token.
func (l *Linker) checkAccount(ctx context.Context, lk *Link, label string) outcome {
	pending := func(reason Reason, cause string, err error) outcome {
		return outcome{state: StateApprovalPending, reason: reason, cause: cause, err: err}
	}
	out, pa := l.paymentCheckAccount(ctx, lk, label)
	if pa == nil {
		if out.err != nil {
			return pending(ReasonNone, out.cause, out.err)
		}
		return out
	}
	sealed, err := l.sealer.Seal([]byte(pa.Token.Reveal()), paymentTokenAAD(lk.AccountID, label))
	if err != nil {
		return pending(ReasonNone, "sealing payment token", err)
	}
	loc, _ := lk.location(label)
	var res *uspsbiz.RateResult
	err = l.asCustomer(ctx, lk.AccountID, func(merchant *uspsbiz.Client) error {
		var err error
		res, err = merchant.BaseRates(ctx, uspsbiz.BaseRatesQuery{
			Package: uspsbiz.Package{OriginZIP: l.probe.OriginZIP, DestinationZIP: l.probe.DestinationZIP,
				Weight: l.probe.Weight, Length: l.probe.Length, Width: l.probe.Width, Height: l.probe.Height},
			MailClass: l.probe.MailClass,
			EPS:       loc.EPSAccount,
		})
		return err
	})
	switch {
	case errors.Is(err, uspsbiz.ErrReauthorizationRequired):
		return outcome{state: StateActionRequired, reason: ReasonTokenRevoked, cause: "contract probe: relink required"}
	case errors.Is(err, uspsbiz.ErrNoContract):
		return pending(ReasonContractNotEffective, "contract probe: 160212 no approved contract", nil)
	case errors.Is(err, uspsbiz.ErrNotEntitled):
		// The probe asks for the EPS account's prices with the customer's
		// own token: USPS refusing it means the typed EPS (and so the CRID
		// and MIDs the payment authorization tied to it) is not of the
		// business account that granted access. See docs/usps.md#account-binding.
		return outcome{state: StateActionRequired, reason: ReasonCredentialsRejected, cause: "contract probe: EPS not accessible with the customer's grant"}
	case err != nil:
		return pending(ReasonNone, "contract probe: "+errorClass(err), err)
	}
	if err := res.RequireContract(); err != nil {
		return pending(ReasonContractNotEffective, "contract probe: 001 contract rate not found", nil)
	}
	return outcome{state: StateActive, cause: "contract prices confirmed", paymentToken: sealed, paymentExpiry: pa.Expiry}
}

// asCustomer runs fn with a client acting for the customer; a 401 is
// handled by the token source (see linkTokenSource.TokenRejected).
func (l *Linker) asCustomer(ctx context.Context, accountID string, fn func(*uspsbiz.Client) error) error {
	return fn(l.usps.ForMerchant(l.TokenSource(ctx, accountID)))
}

// errorClass names an error's kind for the audit trail without its text.
func errorClass(err error) string {
	var ae *uspsbiz.APIError
	switch {
	case errors.Is(err, uspsbiz.ErrRateLimited):
		return "rate limited"
	case errors.As(err, &ae):
		return fmt.Sprintf("USPS %d", ae.StatusCode)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "timed out"
	}
	return "unreachable"
}

// PaymentToken returns the payment authorization token of the account's
// default location (for the X-Payment-Authorization-Token header of
// labels): see PaymentTokenAt.
func (l *Linker) PaymentToken(ctx context.Context, accountID string) (uspsbiz.Secret, time.Time, error) {
	return l.PaymentTokenAt(ctx, accountID, "")
}

// PaymentTokenAt returns the payment authorization token of the account's
// location with this label ("" is the default MIDs and EPS account), with
// the Linker's payment model's roles. It is cached in the store for its 8
// hours and renewed EarlyExpiry before it expires, under the per-link lock
// so that a fleet asks USPS once. Only an active link has one; an unknown
// label is ErrUnknownLocation. When USPS refuses the customer's account,
// the link leaves active and the error is an *ActionRequiredError.
func (l *Linker) PaymentTokenAt(ctx context.Context, accountID, location string) (uspsbiz.Secret, time.Time, error) {
	if location == "" {
		if tok, exp, ok := l.cachedPayment(l.cache.get(accountID)); ok {
			return tok, exp, nil // RunSync keeps the cache coherent (cache.go)
		}
		if l.cache.enabled.Load() {
			if v, err := l.view(ctx, accountID, l.pricer); err == nil {
				if tok, exp, ok := l.cachedPayment(v); ok {
					return tok, exp, nil
				}
			}
		}
	}
	lk, err := l.store.GetLink(ctx, accountID)
	if err != nil {
		return "", time.Time{}, err
	}
	if _, ok := lk.location(location); !ok {
		return "", time.Time{}, fmt.Errorf("%w: %q", ErrUnknownLocation, location)
	}
	if tok, exp, ok := l.cachedPaymentToken(lk, location); ok {
		return tok, exp, nil
	}
	var tok uspsbiz.Secret
	var exp time.Time
	var left *Event
	err = l.store.LockLink(ctx, accountID, func(ctx context.Context, tx LinkTx) error {
		lk, err := tx.Get()
		if err != nil {
			return err
		}
		if lk.State != StateActive {
			return fmt.Errorf("%w: link is %s", ErrNotActive, lk.State)
		}
		if _, ok := lk.location(location); !ok {
			return fmt.Errorf("%w: %q", ErrUnknownLocation, location)
		}
		var ok bool
		if tok, exp, ok = l.cachedPaymentToken(lk, location); ok {
			return nil // a peer renewed it while we waited
		}
		out, pa := l.paymentCheck(ctx, lk, location)
		if out.err != nil {
			return out.err // not the customer's: the link stays active
		}
		if pa == nil {
			// The customer's account is refused: stop NSA pricing now, with
			// the reason, and let the reconciler re-check it.
			ev := l.leaveActive(lk, out, l.now().UTC(), "system")
			if _, err := tx.Update(lk, ev); err != nil {
				return err
			}
			left = &Event{AccountID: accountID, At: lk.UpdatedAt, From: ev.From, To: ev.To, Reason: ev.Reason, Cause: ev.Cause, Actor: ev.Actor}
			return nil
		}
		sealed, err := l.sealer.Seal([]byte(pa.Token.Reveal()), paymentTokenAAD(accountID, location))
		if err != nil {
			return err
		}
		setPaymentToken(lk, location, sealed, pa.Expiry.UTC())
		lk.UpdatedAt = l.now().UTC()
		tok, exp = pa.Token, pa.Expiry
		_, err = tx.Update(lk, nil)
		return err
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("linking: payment token of %q: %w", accountID, err)
	}
	if left != nil {
		l.notify(ctx, *left)
		return "", time.Time{}, &ActionRequiredError{AccountID: accountID, Reason: left.Reason, Cause: left.Cause}
	}
	return tok, exp, nil
}

// setPaymentToken stores a sealed payment token for the location with this
// label ("" the default) in lk.
func setPaymentToken(lk *Link, location string, sealed []byte, exp time.Time) {
	if location == "" {
		lk.PaymentToken, lk.PaymentTokenExpiry = sealed, exp
		return
	}
	lk.Locations = slices.Clone(lk.Locations)
	for i := range lk.Locations {
		if lk.Locations[i].Label == location {
			lk.Locations[i].PaymentToken, lk.Locations[i].PaymentTokenExpiry = sealed, exp
		}
	}
}

// ErrUnknownLocation: the link has no location with that label.
var ErrUnknownLocation = errors.New("linking: no such location on the link")

// ActionRequiredError is USPS refusing a link's customer account after it
// was active (an EPA code 100001–100007, a CRID or MID no longer enrolled,
// a revoked grant): the link has moved to StateActionRequired with Reason,
// NSA pricing has stopped, and the host should show Guidance for Reason.
// Reasons the customer fixes at USPS are re-checked by the reconciler,
// which returns the link to active by itself. It matches ErrNotActive.
type ActionRequiredError struct {
	AccountID string
	Reason    Reason
	Cause     string // short and secret-free, as in the audit trail
}

func (e *ActionRequiredError) Error() string {
	return fmt.Sprintf("linking: link %q needs action (%s): %s", e.AccountID, e.Reason, e.Cause)
}

// Is makes errors.Is(err, ErrNotActive) true.
func (e *ActionRequiredError) Is(target error) bool { return target == ErrNotActive }

func (l *Linker) cachedPaymentToken(lk *Link, location string) (uspsbiz.Secret, time.Time, bool) {
	loc, ok := lk.location(location)
	if !ok || lk.State != StateActive || len(loc.PaymentToken) == 0 || !l.now().Add(uspsbiz.EarlyExpiry).Before(loc.PaymentTokenExpiry) {
		return "", time.Time{}, false
	}
	plain, err := l.sealer.Open(loc.PaymentToken, paymentTokenAAD(lk.AccountID, location))
	if err != nil {
		l.logger.Warn("stored payment token does not open", slog.String("account_id", lk.AccountID), slog.String("error", err.Error()))
		return "", time.Time{}, false
	}
	return uspsbiz.Secret(plain), loc.PaymentTokenExpiry, true
}

// ErrNotActive: the link is not active, so NSA rates and payment do not apply.
var ErrNotActive = errors.New("linking: link is not active")
