package linking

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nsalink/nsalink/uspsbiz"
)

// Keep-alive defaults. USPS refresh tokens live 7 days: refreshing once
// fewer than 2 days are left costs one OAuth call per link about every
// 5 days, and leaves 48 hourly reconciler passes to get it done through
// USPS outages and quota waits.
const (
	defaultKeepAhead   = 2 * 24 * time.Hour
	defaultHealthEvery = 24 * time.Hour
)

// WithKeepAlive sets how the reconciler keeps linked customers alive
// without their printing anything:
//
//   - refreshAhead: a customer token is refreshed once its refresh token
//     has less than this left (default 2 days of USPS's 7; between 1 hour
//     and 6 days). The Linker's TokenSource applies the same rule.
//   - healthEvery: an active link whose cached payment authorization has
//     lapsed gets a new one this often (default 24 hours; between 1 hour
//     and 7 days), which re-checks the customer's payment account: an EPA
//     gone bad moves the link out of active. Each check costs one Payments
//     call; a customer who prints renews it anyway and costs nothing extra.
func WithKeepAlive(refreshAhead, healthEvery time.Duration) Option {
	return func(l *Linker) error {
		if refreshAhead < time.Hour || refreshAhead > 6*24*time.Hour {
			return errors.New("linking: WithKeepAlive: refreshAhead must be between 1 hour and 6 days")
		}
		if healthEvery < time.Hour || healthEvery > 7*24*time.Hour {
			return errors.New("linking: WithKeepAlive: healthEvery must be between 1 hour and 7 days")
		}
		l.keepAhead, l.healthEvery = refreshAhead, healthEvery
		return nil
	}
}

// ReconcileOptions bound one reconciliation pass.
type ReconcileOptions struct {
	// Limit is how many due links one pass claims (default 20). With
	// USPS's default quota of 60 calls per hour per API, shared by the
	// whole fleet, keep passes small and let the schedule spread them.
	Limit int
	// Lease keeps a claimed link away from other instances while it is
	// handled, and bounds the handling: USPS calls for a claimed link stop
	// when it ends (default 2 minutes).
	Lease time.Duration
}

// ReconcileResult counts what one pass did.
type ReconcileResult struct {
	// Claimed links were due; Activated, ActionRequired and StillPending
	// count the outcome of pending and re-checked links.
	Claimed, Activated, ActionRequired, StillPending int
	// Deferred links were claimed but not handled because the USPS call
	// budget ran out; their lease ends and a later pass takes them.
	Deferred int
	// Refreshed customer tokens were kept alive; Revoked links lost their
	// grant (USPS refused the refresh for good) and need a relink.
	Refreshed, Revoked int
	// HealthChecked active links had their payment account re-checked;
	// Unhealthy ones moved out of active.
	HealthChecked, Unhealthy int
	// RevocationsConfirmed unlinks whose grant revocation USPS has now
	// confirmed, after an earlier failure.
	RevocationsConfirmed int
	// AuthRequestsDeleted expired authorization requests were removed.
	AuthRequestsDeleted int
	// Failed links hit a failure that was not the customer's (USPS
	// unreachable, a database error); nothing about them changed and a
	// later pass retries.
	Failed int
}

// Reconcile claims the links whose next look is due and handles each:
//
//   - pending links, and links in action required for a reason the
//     customer fixes at USPS, are verified (see Verify);
//   - a customer token whose refresh token nears its expiry is refreshed
//     (keep-alive, see WithKeepAlive), whether or not the customer prints;
//   - an active link's payment account is re-checked about once a day
//     (health): a failure that names the customer's account moves the link
//     out of active with its reason, and the re-checks bring it back;
//   - an unlink whose revocation at USPS failed is retried;
//   - expired authorization requests are deleted.
//
// Every instance of a fleet may run it at once: a claim is exclusive (the
// Store's ClaimDue) and leased, the handling of a link is bounded by the
// lease, and its result is written with compare-and-swap on the version
// claimed, so a verdict never lands on a link that changed meanwhile.
// Transient failures (USPS 5xx, 429, timeouts, dropped connections) never
// change a link's state. It stops early, leaving the rest for later, when
// the USPS call budget runs out.
func (l *Linker) Reconcile(ctx context.Context, opts ReconcileOptions) (ReconcileResult, error) {
	if opts.Limit <= 0 {
		opts.Limit = 20
	}
	if opts.Lease <= 0 {
		opts.Lease = 2 * time.Minute
	}
	var res ReconcileResult
	l.saveUnsaved(ctx)
	now := l.now().UTC()
	// Housekeeping: a failure here must not stop the checks.
	if n, err := l.store.DeleteExpiredAuthRequests(ctx, now); err != nil {
		l.logger.LogAttrs(ctx, slog.LevelWarn, "deleting expired authorization requests", slog.String("error", err.Error()))
	} else {
		res.AuthRequestsDeleted = n
	}
	links, err := l.store.ClaimDue(ctx, now, opts.Limit, opts.Lease)
	if err != nil {
		return res, err
	}
	res.Claimed = len(links)
	for i, lk := range links {
		err := l.visit(ctx, lk, opts.Lease, &res)
		if errors.Is(err, uspsbiz.ErrRateLimited) {
			res.Deferred += len(links) - i - 1
			return res, nil
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if err != nil {
			res.Failed++
			l.logger.LogAttrs(ctx, slog.LevelWarn, "reconcile link", slog.String("account_id", lk.AccountID), slog.String("error", err.Error()))
		}
	}
	return res, nil
}

// visit handles one claimed link within its lease.
func (l *Linker) visit(ctx context.Context, lk *Link, lease time.Duration, res *ReconcileResult) error {
	ctx, cancel := context.WithTimeout(ctx, lease-lease/10)
	defer cancel()
	if revocationPending(lk) {
		return l.retryRevocation(ctx, lk, res)
	}
	if len(lk.Token) > 0 {
		tok, err := l.openToken(lk)
		if err != nil {
			return err
		}
		// Refresh first, so that the check below runs on a token valid for
		// longer than the lease and writes on the version it read.
		// An idle link's access token lapses every 8 hours and costs nothing
		// until used; only the refresh token needs keeping alive, and a
		// check that uses the token needs a valid one.
		if l.refreshDue(tok) || l.unsaved.has(lk.AccountID) || checkable(lk) && !tok.Valid(l.now(), lease+uspsbiz.EarlyExpiry) {
			_, err := l.freshToken(ctx, lk.AccountID)
			switch {
			case errors.Is(err, uspsbiz.ErrReauthorizationRequired):
				res.Revoked++
				return nil
			case err != nil:
				if checkable(lk) {
					res.StillPending++
				}
				return err // transient: the lease ends and a later pass retries
			}
			res.Refreshed++
			if lk, err = l.store.GetLink(ctx, lk.AccountID); err != nil {
				return err
			}
		}
	}
	switch {
	case checkable(lk):
		after, err := l.verifyClaimed(ctx, lk)
		if after != nil {
			switch after.State {
			case StateActive:
				res.Activated++
			case StateActionRequired:
				res.ActionRequired++
			default:
				res.StillPending++
			}
		}
		return err
	case lk.State == StateActive:
		if !l.paymentTokensCached(lk) {
			return l.healthCheck(ctx, lk, res)
		}
	}
	return l.reschedule(ctx, lk)
}

// schedule is when the reconciler should next look at a link that is not
// waiting for a check: before its refresh token nears expiry, and for an
// active link at the next health check. Zero: nothing to do.
func (l *Linker) schedule(lk *Link, now time.Time) time.Time {
	if len(lk.Token) == 0 || lk.State == StateUnlinked || lk.State == StateAuthorizing {
		return time.Time{}
	}
	next := now.Add(l.healthEvery) // refresh expiry unknown: look again in a while
	if !lk.RefreshExpiry.IsZero() {
		next = lk.RefreshExpiry.Add(-l.keepAhead)
	}
	if lk.State == StateActive {
		next = minTime(next, now.Add(l.healthEvery))
	}
	if next.Before(now) {
		next = now
	}
	return next
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// reschedule writes the link's next look, compare-and-swap on the claimed
// version; a conflict means someone else changed it, and their write wins.
func (l *Linker) reschedule(ctx context.Context, lk *Link) error {
	now := l.now().UTC()
	next := l.schedule(lk, now)
	if next.Equal(lk.NextCheckAt) {
		return nil
	}
	cp := *lk
	cp.NextCheckAt, cp.UpdatedAt = next, now
	_, err := l.store.UpdateLink(ctx, &cp, nil)
	if errors.Is(err, ErrConflict) {
		return nil
	}
	return err
}

// paymentTokensCached reports whether every account of an active link
// (the default and each location) has a usable cached payment token.
func (l *Linker) paymentTokensCached(lk *Link) bool {
	for _, label := range labels(lk) {
		if _, _, ok := l.cachedPaymentToken(lk, label); !ok {
			return false
		}
	}
	return true
}

// healthCheck renews an active link's payment authorizations (the default
// account's and each location's, with the payment model's roles), which
// checks the customer's payment accounts with USPS.
func (l *Linker) healthCheck(ctx context.Context, lk *Link, res *ReconcileResult) error {
	res.HealthChecked++
	now := l.now().UTC()
	cp := *lk
	cp.Locations = slices.Clone(lk.Locations)
	for _, label := range labels(lk) {
		out, pa := l.paymentCheck(ctx, lk, label)
		if out.err != nil {
			return out.err // not the customer's: no state change
		}
		if pa == nil {
			ev := l.leaveActive(&cp, out, now, "reconciler")
			_, err := l.store.UpdateLink(ctx, &cp, ev)
			if errors.Is(err, ErrConflict) {
				return nil // changed meanwhile: the verdict was for another version
			}
			if err != nil {
				return err
			}
			res.Unhealthy++
			l.notify(ctx, Event{AccountID: lk.AccountID, At: now, From: ev.From, To: ev.To, Reason: ev.Reason, Cause: ev.Cause, Actor: ev.Actor})
			return nil
		}
		sealed, err := l.sealer.Seal([]byte(pa.Token.Reveal()), paymentTokenAAD(lk.AccountID, label))
		if err != nil {
			return err
		}
		setPaymentToken(&cp, label, sealed, pa.Expiry.UTC())
	}
	cp.LastError, cp.UpdatedAt = "", now
	cp.NextCheckAt = l.schedule(&cp, now)
	_, err := l.store.UpdateLink(ctx, &cp, nil)
	if errors.Is(err, ErrConflict) {
		return nil
	}
	return err
}

// leaveActive moves an active link out of active after USPS refused its
// payment account (out is the verdict), and returns the event to write
// with it. Reasons the customer fixes at USPS are re-checked with backoff;
// the token is kept alive either way.
func (l *Linker) leaveActive(lk *Link, out outcome, now time.Time, actor string) *Event {
	from := lk.State
	lk.State, lk.Reason, lk.LastError, lk.UpdatedAt = out.state, out.reason, out.cause, now
	lk.PaymentToken, lk.PaymentTokenExpiry = nil, time.Time{}
	setLocationTokens(lk, nil)
	lk.CheckAttempts, lk.NextCheckAt = 0, l.schedule(lk, now)
	if fixedAtUSPS[out.reason] {
		lk.CheckAttempts = 1
		lk.NextCheckAt = minTime(now.Add(l.backoff.delay(1)), lk.NextCheckAt)
	}
	return &Event{From: from, To: out.state, Reason: out.reason, Cause: out.cause, Actor: actor}
}

// revocationPending: an unlinked link still holding the token whose
// revocation USPS has not confirmed.
func revocationPending(lk *Link) bool {
	return (lk.State == StateUnlinked || lk.State == StateAuthorizing) && len(lk.Token) > 0
}

// retryRevocation sends an unlink's revocation again, and forgets the
// token once USPS confirms.
func (l *Linker) retryRevocation(ctx context.Context, lk *Link, res *ReconcileResult) error {
	cp := *lk
	now := l.now().UTC()
	err := l.revoke(ctx, lk)
	if err != nil && errors.Is(err, uspsbiz.ErrRateLimited) {
		return err
	}
	if err != nil {
		cp.CheckAttempts++
		cp.NextCheckAt, cp.LastError = now.Add(l.backoff.delay(cp.CheckAttempts)), "revoke: "+errorClass(err)
	} else {
		cp.Token, cp.TokenExpiry, cp.RefreshExpiry = nil, time.Time{}, time.Time{}
		cp.NextCheckAt, cp.CheckAttempts, cp.LastError = time.Time{}, 0, ""
	}
	cp.UpdatedAt = now
	_, uerr := l.store.UpdateLink(ctx, &cp, nil)
	if errors.Is(uerr, ErrConflict) {
		return nil
	}
	if uerr == nil && err == nil {
		res.RevocationsConfirmed++
	}
	if uerr != nil {
		return uerr
	}
	return err
}

// revoke revokes the grant of lk's token at USPS. A token that no longer
// opens has nothing to revoke.
func (l *Linker) revoke(ctx context.Context, lk *Link) error {
	tok, err := l.openToken(lk)
	if err != nil || tok.RefreshToken == "" {
		return nil
	}
	if err := l.usps.Revoke(ctx, tok.RefreshToken); err != nil {
		return fmt.Errorf("linking: revoking the grant of %q: %w", lk.AccountID, err)
	}
	return nil
}

// RunReconciler calls Reconcile every interval until ctx ends, logging
// failures. Run it on every instance.
func (l *Linker) RunReconciler(ctx context.Context, interval time.Duration, opts ReconcileOptions) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if res, err := l.Reconcile(ctx, opts); err != nil && ctx.Err() == nil {
			l.logger.LogAttrs(ctx, slog.LevelWarn, "reconcile", slog.String("error", err.Error()))
		} else if res.Claimed > 0 {
			l.logger.LogAttrs(ctx, slog.LevelInfo, "reconcile", slog.Int("claimed", res.Claimed),
				slog.Int("activated", res.Activated), slog.Int("action_required", res.ActionRequired),
				slog.Int("pending", res.StillPending), slog.Int("deferred", res.Deferred),
				slog.Int("refreshed", res.Refreshed), slog.Int("revoked", res.Revoked),
				slog.Int("health_checked", res.HealthChecked), slog.Int("unhealthy", res.Unhealthy))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
