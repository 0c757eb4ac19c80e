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
// expiry. A definitive refusal (invalid_grant or invalid_refresh_token:
// refresh token expired or revoked, or the customer reset their USPS
// password) moves the link to action required with ReasonTokenRevoked and
// returns an error matching uspsbiz.ErrReauthorizationRequired: only a new
// Start and callback fix it.
//
// The token is also refreshed when its refresh token has less than the
// keep-alive margin left (see WithKeepAlive), so a busy link never needs
// the reconciler's keep-alive.
func (l *Linker) TokenSource(ctx context.Context, accountID string) oauth2.TokenSource {
	return &linkTokenSource{l: l, ctx: context.WithoutCancel(ctx), accountID: accountID}
}

type linkTokenSource struct {
	l         *Linker
	ctx       context.Context
	accountID string

	mu     sync.Mutex
	cached *uspsbiz.Token
}

func (s *linkTokenSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached.Valid(s.l.now(), uspsbiz.EarlyExpiry) && !s.l.refreshDue(s.cached) {
		return s.cached.OAuth2(), nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.l.refreshLimit)
	defer cancel()
	tok, err := s.l.freshToken(ctx, s.accountID)
	if err != nil {
		return nil, err
	}
	s.cached = tok
	return tok.OAuth2(), nil
}

// TokenRejected is called by a uspsbiz client made with ForMerchant when
// USPS answers 401 to a call made with accessToken: the token is refreshed
// and the call retried, unless the token had just been issued, in which
// case the grant is gone and the link moves to action required
// (ReasonTokenRevoked) at once (see uspsbiz.Client.ForMerchant).
func (s *linkTokenSource) TokenRejected(ctx context.Context, accessToken string) (retry bool, err error) {
	s.mu.Lock()
	s.cached = nil
	s.mu.Unlock()
	return s.l.customerUnauthorized(ctx, s.accountID, accessToken)
}

// unsavedTokens keeps, per link, a refreshed token whose save failed (the
// database was down, or the commit's answer was lost). USPS may have
// rotated the refresh token, making the stored one dead, so the kept token
// is saved before any other refresh of that link in this process: every
// refresh path of the Linker goes through freshToken, which consults it
// under the per-link lock.
//
// What it cannot cover: the process dies between USPS's answer and the
// commit. The rotated token is then lost; if USPS rotates, the stored
// refresh token is dead and the next refresh gets invalid_grant, which
// moves the link to action required (ReasonTokenRevoked) at once, so the
// host asks the customer to link again (Start, then the COP consent;
// credentials on file are kept and the link returns to approval pending).
type unsavedTokens struct {
	mu sync.Mutex
	m  map[string]*uspsbiz.Token
}

func (u *unsavedTokens) take(accountID string) *uspsbiz.Token {
	u.mu.Lock()
	defer u.mu.Unlock()
	t := u.m[accountID]
	delete(u.m, accountID)
	return t
}

func (u *unsavedTokens) put(accountID string, t *uspsbiz.Token) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = map[string]*uspsbiz.Token{}
	}
	u.m[accountID] = t
}

func (u *unsavedTokens) has(accountID string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.m[accountID] != nil
}

// refreshDue reports whether tok's refresh token is close enough to its
// expiry that it must be refreshed now (keep-alive).
func (l *Linker) refreshDue(tok *uspsbiz.Token) bool {
	return tok != nil && !tok.RefreshExpiry.IsZero() && !l.now().Add(l.keepAhead).Before(tok.RefreshExpiry)
}

// needsRefresh: the access token is (nearly) expired, or the refresh token
// is inside the keep-alive margin.
func (l *Linker) needsRefresh(tok *uspsbiz.Token) bool {
	return !tok.Valid(l.now(), uspsbiz.EarlyExpiry) || l.refreshDue(tok)
}

// freshToken returns a valid customer token, refreshing it under the
// per-link lock when needed, and saving first any token this process
// refreshed earlier but failed to save. A refreshed token whose save
// failed is saved again at once (a lost commit answer, a momentary
// outage): until it is saved, only this process knows the live refresh
// token, and a peer refreshing with the stored one would present a dead
// (rotated) token.
func (l *Linker) freshToken(ctx context.Context, accountID string) (*uspsbiz.Token, error) {
	tok, err := l.freshTokenOnce(ctx, accountID)
	if err != nil && l.unsaved.has(accountID) && !errors.Is(err, ErrNotLinked) {
		if tok, err2 := l.freshTokenOnce(ctx, accountID); err2 == nil {
			return tok, nil
		}
	}
	return tok, err
}

// saveUnsaved saves the tokens this process refreshed but could not save
// yet; Reconcile calls it first on every pass.
func (l *Linker) saveUnsaved(ctx context.Context) {
	l.unsaved.mu.Lock()
	ids := make([]string, 0, len(l.unsaved.m))
	for id := range l.unsaved.m {
		ids = append(ids, id)
	}
	l.unsaved.mu.Unlock()
	for _, id := range ids {
		_, _ = l.freshTokenOnce(ctx, id)
	}
}

func (l *Linker) freshTokenOnce(ctx context.Context, accountID string) (*uspsbiz.Token, error) {
	// A plain read first: most calls find a token a peer already refreshed
	// and need no lock.
	lk, err := l.store.GetLink(ctx, accountID)
	if err != nil {
		return nil, err
	}
	if lk.State == StateUnlinked {
		return nil, ErrNotLinked
	}
	tok, err := l.openToken(lk)
	if err != nil {
		return nil, err
	}
	if !l.needsRefresh(tok) && !l.unsaved.has(accountID) {
		return tok, nil
	}
	var fresh, next, pending *uspsbiz.Token
	var revoked *Event
	err = l.store.LockLink(ctx, accountID, func(ctx context.Context, tx LinkTx) error {
		// Taken inside the lock: another goroutine of this process that
		// needs a refresh waits for the lock and then finds it saved.
		pending = l.unsaved.take(accountID)
		lk, err := tx.Get()
		if err != nil {
			return err
		}
		if lk.State == StateUnlinked {
			return ErrNotLinked
		}
		cur, err := l.openToken(lk)
		if err != nil {
			return err
		}
		base, dirty := cur, false
		if pending != nil && pending.RefreshToken != cur.RefreshToken && pending.Expiry.After(cur.Expiry) {
			base, dirty = pending, true // refreshed before, not saved: save it now
		}
		if l.needsRefresh(base) {
			// The lock holds a database connection (and on SQLite every
			// writer): keep the token call well inside the store's hold limit.
			rctx, cancel := context.WithTimeout(ctx, refreshCallTimeout)
			next, err = l.usps.Refresh(rctx, base.RefreshToken)
			cancel()
			if errors.Is(err, uspsbiz.ErrReauthorizationRequired) {
				ev, err := l.revokeInTx(tx, lk, "refresh: "+oauthCode(err))
				if err == nil {
					revoked = ev
				}
				return err
			}
			if err != nil {
				if dirty {
					next = base // still keep the unsaved token
				}
				return err
			}
			dirty = true
		} else if !dirty {
			fresh = cur // a peer refreshed while we waited: adopt it
			return nil
		} else {
			next = base
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
		switch {
		case next != nil:
			l.unsaved.put(accountID, next) // refreshed, but maybe not saved: keep it for the next call
		case pending != nil:
			l.unsaved.put(accountID, pending)
		}
		if errors.Is(err, ErrNotLinked) {
			return nil, err
		}
		return nil, fmt.Errorf("linking: refreshing token of %q: %w", accountID, err)
	}
	if revoked != nil {
		l.notify(ctx, *revoked)
		return nil, fmt.Errorf("linking: %q: %s: %w", accountID, revoked.Cause, errRelinkRequired)
	}
	return fresh, nil
}

// revokeInTx moves a locked link to action required (ReasonTokenRevoked)
// after USPS refused its grant for good, forgetting its tokens. It returns
// the event to notify once committed.
func (l *Linker) revokeInTx(tx LinkTx, lk *Link, cause string) (*Event, error) {
	from := lk.State
	if err := checkTransition(from, StateActionRequired); err != nil {
		return nil, errRelinkRequired
	}
	now := l.now().UTC()
	lk.State, lk.Reason, lk.UpdatedAt = StateActionRequired, ReasonTokenRevoked, now
	lk.Token, lk.TokenExpiry, lk.RefreshExpiry = nil, time.Time{}, time.Time{}
	lk.PaymentToken, lk.PaymentTokenExpiry = nil, time.Time{}
	setLocationTokens(lk, nil)
	lk.NextCheckAt, lk.CheckAttempts = time.Time{}, 0
	lk.LastError = cause
	ev := &Event{From: from, To: StateActionRequired, Reason: ReasonTokenRevoked, Cause: cause, Actor: "system"}
	if _, err := tx.Update(lk, ev); err != nil {
		return nil, err
	}
	return &Event{AccountID: lk.AccountID, At: now, From: from, To: StateActionRequired, Reason: ReasonTokenRevoked, Cause: cause, Actor: "system"}, nil
}

// oauthCode is the token endpoint's error code of err ("invalid_grant",
// "invalid_refresh_token"), or "refused".
func oauthCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode != "" && len(re.ErrorCode) <= 40 {
		return re.ErrorCode
	}
	return "refused"
}

// customerUnauthorized handles a 401 on a call made with the customer's
// token sent (its access token). Under the per-link lock: if a peer has
// already replaced that token, the caller retries with the new one; if the
// token sent was issued within the last few minutes (a refresh had just
// succeeded), USPS has revoked the grant, and the link moves to action
// required (ReasonTokenRevoked) at once; otherwise the token is refreshed
// now and the caller retries once.
func (l *Linker) customerUnauthorized(ctx context.Context, accountID string, sent string) (retry bool, err error) {
	var revoked *Event
	var next *uspsbiz.Token
	err = l.store.LockLink(ctx, accountID, func(ctx context.Context, tx LinkTx) error {
		lk, err := tx.Get()
		if err != nil {
			return err
		}
		cur, err := l.openToken(lk)
		if err != nil {
			return err
		}
		if cur.AccessToken.Reveal() != sent {
			retry = true
			return nil
		}
		if l.now().Sub(issuedAt(cur)) <= justRefreshed {
			ev, err := l.revokeInTx(tx, lk, "401 right after a successful refresh")
			revoked = ev
			return err
		}
		rctx, cancel := context.WithTimeout(ctx, refreshCallTimeout)
		next, err = l.usps.Refresh(rctx, cur.RefreshToken)
		cancel()
		if errors.Is(err, uspsbiz.ErrReauthorizationRequired) {
			next = nil
			ev, err := l.revokeInTx(tx, lk, "refresh: "+oauthCode(err))
			revoked = ev
			return err
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
		_, err = tx.Update(lk, nil)
		retry = err == nil
		return err
	})
	if err != nil {
		if next != nil {
			l.unsaved.put(accountID, next)
		}
		return false, fmt.Errorf("linking: %q: after a 401: %w", accountID, err)
	}
	if revoked != nil {
		l.notify(ctx, *revoked)
		return false, fmt.Errorf("linking: %q: %s: %w", accountID, revoked.Cause, errRelinkRequired)
	}
	return retry, nil
}

// justRefreshed: a 401 on a token issued this recently is USPS refusing the
// grant, not an expired token.
const justRefreshed = 10 * time.Minute

// issuedAt is when tok was issued: USPS's issued_at, else derived from its
// expiry and USPS's 8-hour lifetime.
func issuedAt(tok *uspsbiz.Token) time.Time {
	if !tok.IssuedAt.IsZero() {
		return tok.IssuedAt
	}
	return tok.Expiry.Add(-8 * time.Hour)
}
