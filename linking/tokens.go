package linking

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/nsalink/nsalink/uspsbiz"
)

// errRelinkRequired is what a token source returns once USPS refused the
// customer's refresh token for good.
var errRelinkRequired = fmt.Errorf("linking: customer must link again: %w", uspsbiz.ErrReauthorizationRequired)

// refreshCallTimeout bounds one refresh call made under the per-link lock.
const refreshCallTimeout = 10 * time.Second

// TokenSource returns an oauth2.TokenSource of the account's customer token,
// for uspsbiz.Client.ForMerchant. It is meant to be long-lived: ctx is kept
// for its refreshes (detached from cancellation; each refresh is bounded).
//
// A refresh runs under the Store's per-link lock, shared by every process:
// it re-reads the link, adopts a token a peer already refreshed, and
// otherwise refreshes once and saves the rotated token before anyone uses
// it. So any number of processes and goroutines make one refresh call per
// expiry. A final invalid_grant (refresh token expired or revoked, or the
// customer reset their USPS password) moves the link to action required
// with ReasonTokenRevoked and returns an error matching
// uspsbiz.ErrReauthorizationRequired: only a new Start and callback fix it.
func (l *Linker) TokenSource(ctx context.Context, accountID string) oauth2.TokenSource {
	return &linkTokenSource{l: l, ctx: context.WithoutCancel(ctx), accountID: accountID}
}

type linkTokenSource struct {
	l         *Linker
	ctx       context.Context
	accountID string

	mu     sync.Mutex
	cached *uspsbiz.Token
	// unsaved is a refreshed token whose save failed: USPS may have
	// rotated the refresh token, so it is saved on the next call instead
	// of refreshing again with a dead refresh token.
	unsaved *uspsbiz.Token
}

func (s *linkTokenSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached.Valid(s.l.now(), uspsbiz.EarlyExpiry) {
		return s.cached.OAuth2(), nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.l.refreshLimit)
	defer cancel()
	tok, unsaved, err := s.l.freshToken(ctx, s.accountID, s.unsaved)
	s.unsaved = unsaved
	if err != nil {
		return nil, err
	}
	s.cached = tok
	return tok.OAuth2(), nil
}

// freshToken returns a valid customer token, refreshing it under the
// per-link lock when needed. unsaved is a token refreshed earlier whose
// save failed: it is saved instead of refreshing again. When a refreshed
// token cannot be saved, freshToken returns it as unsaved with the error.
func (l *Linker) freshToken(ctx context.Context, accountID string, unsaved *uspsbiz.Token) (tok, stillUnsaved *uspsbiz.Token, err error) {
	// A plain read first: most calls find a token a peer already refreshed
	// and need no lock.
	lk, err := l.store.GetLink(ctx, accountID)
	if err != nil {
		return nil, unsaved, err
	}
	if tok, err = l.openToken(lk); err != nil {
		return nil, unsaved, err
	}
	if tok.Valid(l.now(), uspsbiz.EarlyExpiry) {
		return tok, nil, nil
	}
	var fresh, next *uspsbiz.Token
	var revoked *Event
	err = l.store.LockLink(ctx, accountID, func(ctx context.Context, tx LinkTx) error {
		lk, err := tx.Get()
		if err != nil {
			return err
		}
		cur, err := l.openToken(lk)
		if err != nil {
			return err
		}
		if cur.Valid(l.now(), uspsbiz.EarlyExpiry) {
			fresh = cur // a peer refreshed while we waited: adopt it
			return nil
		}
		if unsaved.Valid(l.now(), uspsbiz.EarlyExpiry) {
			next = unsaved // refreshed before, not saved: save it now
		} else {
			// The lock holds a database connection (and on SQLite every
			// writer): keep the token call well inside the store's hold limit.
			rctx, cancel := context.WithTimeout(ctx, refreshCallTimeout)
			next, err = l.usps.Refresh(rctx, cur.RefreshToken)
			cancel()
		}
		if errors.Is(err, uspsbiz.ErrReauthorizationRequired) {
			from := lk.State
			if err := checkTransition(from, StateActionRequired); err != nil {
				return errRelinkRequired
			}
			now := l.now().UTC()
			lk.State, lk.Reason, lk.UpdatedAt = StateActionRequired, ReasonTokenRevoked, now
			lk.Token, lk.TokenExpiry, lk.RefreshExpiry = nil, time.Time{}, time.Time{}
			lk.PaymentToken, lk.PaymentTokenExpiry = nil, time.Time{}
			lk.LastError = "refresh: invalid_grant"
			ev := &Event{From: from, To: StateActionRequired, Reason: ReasonTokenRevoked, Cause: "refresh: invalid_grant", Actor: "system"}
			if _, err := tx.Update(lk, ev); err != nil {
				return err
			}
			revoked = &Event{AccountID: accountID, At: now, From: from, To: StateActionRequired, Reason: ReasonTokenRevoked, Cause: ev.Cause, Actor: ev.Actor}
			return nil
		}
		if err != nil {
			return err
		}
		sealed, err := l.sealToken(accountID, next)
		if err != nil {
			return err
		}
		lk.Token, lk.TokenExpiry, lk.RefreshExpiry = sealed, next.Expiry.UTC(), next.RefreshExpiry.UTC()
		lk.UpdatedAt = l.now().UTC()
		if _, err := tx.Update(lk, nil); err != nil {
			return err
		}
		fresh = next
		return nil
	})
	if err != nil {
		l.logger.LogAttrs(ctx, slog.LevelWarn, "token refresh failed", slog.String("account_id", accountID), slog.String("error", err.Error()))
		if next != nil {
			unsaved = next // refreshed, but maybe not saved: keep it for the next call
		}
		return nil, unsaved, fmt.Errorf("linking: refreshing token of %q: %w", accountID, err)
	}
	if revoked != nil {
		l.notify(ctx, *revoked)
		return nil, nil, errRelinkRequired
	}
	return fresh, nil, nil
}
