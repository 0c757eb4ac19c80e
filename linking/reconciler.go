package linking

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nsalink/nsalink/uspsbiz"
)

// ReconcileOptions bound one reconciliation pass.
type ReconcileOptions struct {
	// Limit is how many pending links one pass claims (default 20). With
	// USPS's default quota of 60 calls per hour per API and two to three
	// calls per check, keep passes small and let the backoff spread them.
	Limit int
	// Lease keeps a claimed link away from other instances while it is
	// checked (default 2 minutes).
	Lease time.Duration
}

// ReconcileResult counts what one pass did.
type ReconcileResult struct {
	Claimed, Activated, ActionRequired, StillPending int
	// Deferred links were claimed but not checked because the USPS call
	// budget ran out; their lease ends and a later pass takes them.
	Deferred int
}

// Reconcile claims pending links whose check is due and verifies each
// (see Verify). Every instance of a fleet may run it at once: a claim is
// exclusive (the Store's ClaimDue), so no link is checked twice. It stops
// early, leaving the rest for later, when the USPS call budget runs out.
func (l *Linker) Reconcile(ctx context.Context, opts ReconcileOptions) (ReconcileResult, error) {
	if opts.Limit <= 0 {
		opts.Limit = 20
	}
	if opts.Lease <= 0 {
		opts.Lease = 2 * time.Minute
	}
	var res ReconcileResult
	links, err := l.store.ClaimDue(ctx, l.now().UTC(), opts.Limit, opts.Lease)
	if err != nil {
		return res, err
	}
	res.Claimed = len(links)
	for i, lk := range links {
		after, err := l.verify(ctx, lk.AccountID)
		if errors.Is(err, uspsbiz.ErrRateLimited) {
			res.StillPending++
			res.Deferred += len(links) - i - 1
			return res, nil
		}
		if err != nil && after == nil {
			return res, err
		}
		switch after.State {
		case StateActive:
			res.Activated++
		case StateActionRequired:
			res.ActionRequired++
		default:
			res.StillPending++
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
	}
	return res, nil
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
				slog.Int("pending", res.StillPending), slog.Int("deferred", res.Deferred))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
