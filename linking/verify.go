package linking

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
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
		if cur.State != lk.State || cur.Reason != lk.Reason || identity(cur) != identity(lk) {
			return cur.State, cur.Reason, errStale // credentials or state changed meanwhile
		}
		cur.LastError = out.cause
		switch {
		case out.state == StateActive:
			cur.PaymentToken, cur.PaymentTokenExpiry = out.paymentToken, out.paymentExpiry.UTC()
			for i := range cur.Locations {
				t := out.locationTokens[cur.Locations[i].Label]
				cur.Locations[i].PaymentToken, cur.Locations[i].PaymentTokenExpiry = t.sealed, t.expiry.UTC()
			}
			cur.NextCheckAt, cur.CheckAttempts, cur.LastError = time.Time{}, 0, ""
		case out.state == StateActionRequired && !fixedAtUSPS[out.reason]:
			cur.NextCheckAt, cur.CheckAttempts = time.Time{}, 0 // waits for the customer
		default: // still pending, or a problem the customer fixes at USPS: look again later
			if out.state != cur.State || out.reason != cur.Reason {
				cur.CheckAttempts = 0
			}
			cur.CheckAttempts++
			cur.NextCheckAt = now.Add(l.backoff.delay(cur.CheckAttempts))
		}
		return out.state, out.reason, nil
	})
	if errors.Is(uerr, errStale) {
		return l.store.GetLink(ctx, accountID)
	}
	if uerr != nil {
		return nil, uerr
	}
	return lk, out.err
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
	// label, when it activates.
	locationTokens map[string]locationToken
}

// locationToken is the payment token an activating check got for one
// location.
type locationToken struct {
	sealed []byte
	expiry time.Time
}

// identity is what a check was made for: a verification whose link changed
// meanwhile is not applied.
func identity(lk *Link) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%s|%s|%s", lk.CRID, lk.MID, lk.ManifestMID, lk.EPSAccount.Reveal(), lk.ReturnsMID)
	for _, loc := range lk.Locations {
		fmt.Fprintf(&b, "|%q:%s:%s:%s", loc.Label, loc.MID, loc.ManifestMID, loc.EPSAccount.Reveal())
	}
	return b.String()
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

// check asks USPS about every account of the link (the default, then each
// location, stopping at the first that is not ready); it never writes.
func (l *Linker) check(ctx context.Context, lk *Link) outcome {
	labels := []string{""}
	for _, loc := range lk.Locations {
		labels = append(labels, loc.Label)
	}
	var out outcome
	for _, label := range labels {
		loc, _ := lk.location(label)
		o := l.checkAccount(ctx, lk, label, accountOf(lk, loc))
		if label != "" && o.cause != "" {
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

// checkAccount checks one account: the credentials check with the payment
// model's roles, then the contract probe with the customer's token.
func (l *Linker) checkAccount(ctx context.Context, lk *Link, label string, a payAccount) outcome {
	pending := func(reason Reason, cause string, err error) outcome {
		return outcome{state: StateApprovalPending, reason: reason, cause: cause, err: err}
	}
	v, err := checkCredentials(ctx, l.usps, CredentialsInput{
		CRID: string(a.CRID), MID: string(a.MID), ManifestMID: string(a.ManifestMID), EPS: a.EPS.Reveal(),
		ReturnsMID: string(a.ReturnsMID),
	}, l.model, l.platformCRID)
	if err != nil {
		var ae *uspsbiz.APIError
		if errors.As(err, &ae) && ae.StatusCode == 400 && !errors.Is(err, ErrPlatformAccount) {
			return outcome{state: StateActionRequired, reason: ReasonCredentialsRejected, cause: "credentials check: rejected"}
		}
		if errors.Is(err, ErrPlatformAccount) {
			return pending(ReasonNone, "credentials check: platform's payment account refused", err)
		}
		return pending(ReasonNone, "credentials check: "+errorClass(err), err)
	}
	if !v.ok() {
		if r, ok := reasonForEPA[v.EPACode]; ok && v.EPS.Verdict == verdictRejected {
			return outcome{state: StateActionRequired, reason: r, cause: "credentials check: EPA code " + v.EPACode}
		}
		for _, fv := range []fieldVerdict{v.CRID, v.MID, v.ManifestMID, v.ReturnsMID} {
			if fv.Verdict == verdictRejected {
				return outcome{state: StateActionRequired, reason: ReasonCRIDNotEnrolled, cause: "credentials check: CRID/MID rejected " + fv.Code}
			}
		}
		return outcome{state: StateActionRequired, reason: ReasonCredentialsRejected, cause: "credentials check: rejected"}
	}
	pa := v.Payment
	sealed, err := l.sealer.Seal([]byte(pa.Token.Reveal()), paymentTokenAAD(lk.AccountID, label))
	if err != nil {
		return pending(ReasonNone, "sealing payment token", err)
	}
	merchant := l.usps.ForMerchant(l.TokenSource(ctx, lk.AccountID))
	res, err := merchant.BaseRates(ctx, uspsbiz.BaseRatesQuery{
		Package: uspsbiz.Package{OriginZIP: l.probe.OriginZIP, DestinationZIP: l.probe.DestinationZIP,
			Weight: l.probe.Weight, Length: l.probe.Length, Width: l.probe.Width, Height: l.probe.Height},
		MailClass: l.probe.MailClass,
		EPS:       a.EPS,
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
// label is ErrUnknownLocation.
func (l *Linker) PaymentTokenAt(ctx context.Context, accountID, location string) (uspsbiz.Secret, time.Time, error) {
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
	err = l.store.LockLink(ctx, accountID, func(ctx context.Context, tx LinkTx) error {
		lk, err := tx.Get()
		if err != nil {
			return err
		}
		if lk.State != StateActive {
			return fmt.Errorf("%w: link is %s", ErrNotActive, lk.State)
		}
		loc, ok := lk.location(location)
		if !ok {
			return fmt.Errorf("%w: %q", ErrUnknownLocation, location)
		}
		if tok, exp, ok = l.cachedPaymentToken(lk, location); ok {
			return nil // a peer renewed it while we waited
		}
		pa, err := l.usps.AuthorizePayment(ctx, l.model.roles(accountOf(lk, loc), l.platformCRID))
		if err != nil {
			return err
		}
		sealed, err := l.sealer.Seal([]byte(pa.Token.Reveal()), paymentTokenAAD(accountID, location))
		if err != nil {
			return err
		}
		if location == "" {
			lk.PaymentToken, lk.PaymentTokenExpiry = sealed, pa.Expiry.UTC()
		}
		for i := range lk.Locations {
			if lk.Locations[i].Label == location {
				lk.Locations[i].PaymentToken, lk.Locations[i].PaymentTokenExpiry = sealed, pa.Expiry.UTC()
			}
		}
		lk.UpdatedAt = l.now().UTC()
		tok, exp = pa.Token, pa.Expiry
		_, err = tx.Update(lk, nil)
		return err
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("linking: payment token of %q: %w", accountID, err)
	}
	return tok, exp, nil
}

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

// ErrUnknownLocation: the link has no location with that label.
var ErrUnknownLocation = errors.New("linking: no such location on the link")

// ErrNotActive: the link is not active, so NSA rates and payment do not apply.
var ErrNotActive = errors.New("linking: link is not active")
