package linking

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"slices"
	"time"

	"golang.org/x/oauth2"

	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
)

// Linker runs the linking flow of every platform account: it issues COP
// URLs, redeems callbacks, takes credentials, verifies them with USPS, keeps
// customer tokens fresh across processes, and records every transition.
// It is safe for concurrent use, and many Linkers (one per process) may
// share one Store.
type Linker struct {
	usps   *uspsbiz.Client
	store  Store
	sealer Sealer

	redirectURI  string
	platformName string
	platformCRID usps.CRID
	environment  uspsbiz.Environment
	pkce         bool
	stateTTL     time.Duration
	now          func() time.Time
	logger       *slog.Logger
	hooks        []func(context.Context, Event)
	labelHooks   []func(context.Context, LabelEvent) // labels.go
	probe        ContractProbe
	model        paymentModel // payment.go
	backoff      backoff
	refreshLimit time.Duration

	// Link cache, tables and RunSync (cache.go, tables.go, sync.go).
	rawStore    Store // the Store as given; store wraps it to keep cache coherent
	cache       linkCache
	staleness   time.Duration
	pricer      *nsarates.Pricer
	tableSrc    TableSource
	tables      tableState
	instance    string        // random id of this Linker in table-sync leases
	keepAhead   time.Duration // refresh when less than this is left of the refresh token
	healthEvery time.Duration // re-check an active link's payment account this often
	unsaved     unsavedTokens
}

// Option configures a Linker.
type Option func(*Linker) error

// WithRedirectURI sets the callback URL registered for the platform app at
// USPS. Required.
func WithRedirectURI(u string) Option {
	return func(l *Linker) error { l.redirectURI = u; return nil }
}

// WithPlatform names the platform on the COP pages and gives its CRID for
// the PLATFORM role of payment authorizations. Required.
func WithPlatform(name, crid string) Option {
	return func(l *Linker) error {
		c, err := usps.ParseCRID(crid)
		if err != nil {
			return fmt.Errorf("linking: WithPlatform: %w", err)
		}
		l.platformName, l.platformCRID = name, c
		return nil
	}
}

// WithoutPKCE stops sending a PKCE challenge (USPS's support for it is not
// confirmed). Use it only if USPS refuses the challenge: without PKCE, an
// authorization code stolen from a customer's redirect (a leaked log line,
// referrer or browser history) can be redeemed by an attacker in the
// attacker's own session, with the attacker's own state, binding the
// customer's USPS account to the attacker's platform account. The state
// bound to the session stops forged and replayed callbacks (CSRF), not
// that. What remains: the code is single-use and short-lived at USPS, the
// callback sends no referrer and is not cached, and an exchange is only
// attempted for a state that the same session, account and environment
// started and that is unused and unexpired.
func WithoutPKCE() Option { return func(l *Linker) error { l.pkce = false; return nil } }

// WithStateTTL sets how long a COP URL stays redeemable (default 10 minutes).
func WithStateTTL(d time.Duration) Option {
	return func(l *Linker) error {
		if d < time.Minute || d > time.Hour {
			return errors.New("linking: WithStateTTL: between 1 minute and 1 hour")
		}
		l.stateTTL = d
		return nil
	}
}

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(l *Linker) error {
		if now == nil {
			return errors.New("linking: WithClock: nil clock")
		}
		l.now = now
		return nil
	}
}

// WithLogger logs transitions and failures; secrets never appear. Default: silent.
func WithLogger(lg *slog.Logger) Option {
	return func(l *Linker) error {
		if lg == nil {
			return errors.New("linking: WithLogger: nil logger")
		}
		l.logger = lg
		return nil
	}
}

// WithTransitionHook calls fn with the Event of every committed transition,
// in the goroutine that made it; the Event's Seq is zero (Store.Events
// lists the numbered trail). Hooks must not block for long.
func WithTransitionHook(fn func(context.Context, Event)) Option {
	return func(l *Linker) error {
		if fn == nil {
			return errors.New("linking: WithTransitionHook: nil hook")
		}
		l.hooks = append(l.hooks, fn)
		return nil
	}
}

// New returns a Linker. usps must have platform credentials; sealer seals
// tokens before they reach store.
func New(usps *uspsbiz.Client, store Store, sealer Sealer, opts ...Option) (l *Linker, err error) {
	if usps == nil || store == nil || sealer == nil {
		return nil, errors.New("linking: New needs a USPS client, a Store and a Sealer")
	}
	l = &Linker{
		usps: usps, sealer: sealer,
		pkce:         true,
		stateTTL:     10 * time.Minute,
		now:          time.Now,
		logger:       slog.New(slog.DiscardHandler),
		environment:  usps.Environment(),
		probe:        defaultContractProbe(),
		backoff:      defaultBackoff(),
		refreshLimit: 30 * time.Second,
		staleness:    time.Second,
		keepAhead:    defaultKeepAhead,
		healthEvery:  defaultHealthEvery,
	}
	for _, o := range opts {
		if err := o(l); err != nil {
			return nil, err
		}
	}
	l.rawStore = store
	// Every link write goes through the cache's watch, and every link
	// read and write through the EPS sealing, so no store keeps the EPS
	// number in clear.
	l.store = &watchedStore{Store: &epsSealingStore{Store: store, sealer: sealer}, c: &l.cache}
	l.tables.queue = make(chan string, 1024)
	if l.instance, err = randomToken(9); err != nil {
		return nil, err
	}
	if l.pricer != nil {
		if _, ok := store.(TableStore); !ok {
			return nil, errors.New("linking: New: WithTables needs a Store that keeps tables (TableStore)")
		}
	}
	if l.redirectURI == "" {
		return nil, errors.New("linking: New: WithRedirectURI is required")
	}
	if l.platformCRID == "" {
		return nil, errors.New("linking: New: WithPlatform is required (the platform's CRID fills the PLATFORM payment role)")
	}
	return l, nil
}

// Status is what a host shows for an account.
type Status struct {
	AccountID string
	State     State
	Reason    Reason
	// CRID, MID and ManifestMID as entered; EPSLast4 only the last four
	// digits of the EPS account.
	CRID, MID, ManifestMID, EPSLast4 string
	UpdatedAt                        time.Time
	NextCheckAt                      time.Time
	// Locations are the labels of the link's further locations;
	// ReturnsMID and NSAContract as entered.
	Locations               []string
	ReturnsMID, NSAContract string
	// LastError is a short, secret-free word on the last check that did not
	// activate the link: the verdict's cause ("credentials check: EPA
	// code 100002") or why the check could not finish ("credentials check:
	// USPS 503"; the link then stays pending with Reason none). Empty once
	// active.
	LastError string
	// NSARatesApply is true only in StateActive.
	NSARatesApply bool
	// Table is the account's contract table as this instance has it
	// installed (WithTables); nil when none is stored.
	Table *TableStatus
	// RevocationPending: the account was unlinked but USPS has not yet
	// confirmed revoking the customer's grant; the reconciler retries until
	// it does (LastError says why the last attempt failed).
	RevocationPending bool
}

// Status returns an account's link status; an account that never started
// linking is StateUnlinked.
func (l *Linker) Status(ctx context.Context, accountID string) (Status, error) {
	lk, err := l.store.GetLink(ctx, accountID)
	if errors.Is(err, ErrNotFound) {
		return Status{AccountID: accountID, State: StateUnlinked}, nil
	}
	if err != nil {
		return Status{}, err
	}
	st := statusOf(lk)
	st.Table = l.tableStatus(accountID)
	return st, nil
}

func statusOf(lk *Link) Status {
	var labels []string
	for _, loc := range lk.Locations {
		labels = append(labels, loc.Label)
	}
	return Status{
		Locations: labels,
		AccountID: lk.AccountID, State: lk.State, Reason: lk.Reason,
		CRID: string(lk.CRID), MID: string(lk.MID), ManifestMID: string(lk.ManifestMID),
		EPSLast4:   lk.EPSAccount.Last4(),
		ReturnsMID: string(lk.ReturnsMID), NSAContract: lk.NSAContract,
		UpdatedAt: lk.UpdatedAt, NextCheckAt: lk.NextCheckAt, LastError: lk.LastError,
		NSARatesApply:     lk.State == StateActive,
		RevocationPending: revocationPending(lk),
	}
}

// Start begins (or restarts) linking for accountID in the browser session
// sessionID and returns the COP URL to send the customer to. The URL's
// state is random (256 bits), single-use, bound to the session, the
// account and the environment, and expires after the state TTL.
//
// A link that already has a customer token (awaiting credentials, pending,
// active, or action required over its payment account) keeps its state
// until the new callback arrives, so an abandoned relink never costs a
// customer their NSA rates or their pending re-checks.
func (l *Linker) Start(ctx context.Context, accountID, sessionID string) (string, error) {
	if sessionID == "" {
		return "", errors.New("linking: Start: empty session id")
	}
	lk, err := l.getOrCreate(ctx, accountID)
	if err != nil {
		return "", err
	}
	state, err := randomToken(32)
	if err != nil {
		return "", err
	}
	var verifier string
	var sealedVerifier []byte
	if l.pkce {
		verifier = oauth2.GenerateVerifier()
		if sealedVerifier, err = l.sealer.Seal([]byte(verifier), sealAAD(accountID, sealedFieldVerifier)); err != nil {
			return "", fmt.Errorf("linking: sealing PKCE verifier: %w", err)
		}
	}
	copURL, err := l.usps.COPURL(uspsbiz.COPRequest{State: state, RedirectURI: l.redirectURI, PlatformName: l.platformName, Verifier: verifier})
	if err != nil {
		return "", err
	}
	now := l.now().UTC()
	ar := &AuthRequest{
		StateHash: hash(state), AccountID: accountID, SessionHash: hash(sessionID),
		Verifier: sealedVerifier, Environment: l.environment, RedirectURI: l.redirectURI,
		CreatedAt: now, ExpiresAt: now.Add(l.stateTTL),
	}
	if err := l.store.PutAuthRequest(ctx, ar); err != nil {
		return "", err
	}
	if len(lk.Token) == 0 || lk.State == StateUnlinked {
		err = l.transition(ctx, accountID, "user", "start", func(lk *Link) (State, Reason, error) {
			if (len(lk.Token) == 0 || lk.State == StateUnlinked) && canTransition(lk.State, StateAuthorizing) {
				return StateAuthorizing, ReasonNone, nil
			}
			return lk.State, lk.Reason, nil
		})
		if err != nil {
			return "", err
		}
	}
	return copURL, nil
}

func (l *Linker) getOrCreate(ctx context.Context, accountID string) (*Link, error) {
	lk, err := l.store.GetLink(ctx, accountID)
	if err == nil {
		return lk, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	now := l.now().UTC()
	lk, err = l.store.CreateLink(ctx, &Link{AccountID: accountID, State: StateUnlinked, Environment: l.environment, CreatedAt: now, UpdatedAt: now})
	if errors.Is(err, ErrAlreadyExists) {
		return l.store.GetLink(ctx, accountID)
	}
	return lk, err
}

// transition applies change to the stored link with compare-and-swap,
// retrying on conflicts, checks the move against the transition table, and
// appends the audit event in the same write. change may also edit other
// fields of the link; it returns the target state and reason.
func (l *Linker) transition(ctx context.Context, accountID, actor, cause string, change func(*Link) (State, Reason, error)) error {
	_, err := l.update(ctx, accountID, actor, cause, change)
	return err
}

func (l *Linker) update(ctx context.Context, accountID, actor, cause string, change func(*Link) (State, Reason, error)) (*Link, error) {
	for attempt := 0; ; attempt++ {
		lk, err := l.store.GetLink(ctx, accountID)
		if err != nil {
			return nil, err
		}
		from := lk.State
		before := cloneLink(lk)
		to, reason, err := change(lk)
		if err != nil {
			return nil, err
		}
		if to == from && reason == lk.Reason && reflect.DeepEqual(before, lk) {
			// Nothing to write: concurrent callers (100 Starts of one
			// account) must not fight over a compare-and-swap for nothing.
			return lk, nil
		}
		var ev *Event
		if to != from || reason != lk.Reason {
			if to != from {
				if err := checkTransition(from, to); err != nil {
					return nil, err
				}
			}
			ev = &Event{From: from, To: to, Reason: reason, Cause: cause, Actor: actor}
		}
		lk.State, lk.Reason = to, reason
		lk.UpdatedAt = l.now().UTC()
		stored, err := l.store.UpdateLink(ctx, lk, ev)
		if errors.Is(err, ErrConflict) && attempt < 10 {
			continue
		}
		if err != nil {
			return nil, err
		}
		if ev != nil {
			l.notify(ctx, Event{AccountID: accountID, At: stored.UpdatedAt, From: from, To: to, Reason: reason, Cause: cause, Actor: actor})
		}
		return stored, nil
	}
}

// cloneLink is a deep copy of lk, for telling whether a change did anything.
func cloneLink(lk *Link) *Link {
	c := *lk
	c.Token = slices.Clone(lk.Token)
	c.PaymentToken = slices.Clone(lk.PaymentToken)
	c.SealedEPS = slices.Clone(lk.SealedEPS)
	c.Locations = nil
	for _, loc := range lk.Locations {
		loc.SealedEPS, loc.PaymentToken = slices.Clone(loc.SealedEPS), slices.Clone(loc.PaymentToken)
		c.Locations = append(c.Locations, loc)
	}
	return &c
}

func (l *Linker) notify(ctx context.Context, t Event) {
	l.logger.LogAttrs(ctx, slog.LevelInfo, "link transition",
		slog.String("account_id", t.AccountID), slog.String("from", string(t.From)),
		slog.String("to", string(t.To)), slog.String("reason", string(t.Reason)),
		slog.String("cause", t.Cause), slog.String("actor", t.Actor))
	for _, h := range l.hooks {
		h(ctx, t)
	}
}

// CallbackError is a rejected callback. Code is one fixed word, never text
// taken from the request, which Handler passes on as
// ReturnTo?link_error=<Code>:
//
//	invalid_state    no such state (forged, or for another platform)
//	state_used       the state was already redeemed
//	state_expired    the state's time ran out; start again
//	state_mismatch   the state belongs to another session, account or USPS
//	                 environment (it is burnt all the same)
//	missing_code     the redirect carried neither a code nor an error
//	exchange_failed  USPS refused the code (Err says why)
//
// or, when the COP sent back an error= instead of a code (the customer
// cancelled, or the COP refused), RFC 6749's code: "access_denied",
// "server_error" … (anything else is "unknown_error"). Err is the
// underlying error, if any.
type CallbackError struct {
	Code string
	Err  error
}

// Codes of a CallbackError that nsalink itself gives.
const (
	callbackInvalidState   = "invalid_state"
	callbackStateUsed      = "state_used"
	callbackStateExpired   = "state_expired"
	callbackStateMismatch  = "state_mismatch"
	callbackMissingCode    = "missing_code"
	callbackExchangeFailed = "exchange_failed"
	callbackUnknownError   = "unknown_error"
)

func (e *CallbackError) Error() string {
	if e.Err == nil {
		return "linking: callback: " + e.Code
	}
	return fmt.Sprintf("linking: callback: %s: %v", e.Code, e.Err)
}

// Unwrap returns the underlying error, if any.
func (e *CallbackError) Unwrap() error { return e.Err }

// oauthErrorCodes are the error= values a callback may carry (RFC 6749
// §4.1.2.1); anything else is reported as "unknown_error".
var oauthErrorCodes = map[string]bool{
	"access_denied": true, "invalid_request": true, "unauthorized_client": true,
	"unsupported_response_type": true, "invalid_scope": true, "server_error": true,
	"temporarily_unavailable": true,
}

// Callback redeems the COP redirect for accountID in session sessionID;
// query is the redirect's query (state, and code or error). The state must
// have been issued by Start to that session and account, for this
// environment, not expired and not used; otherwise the error is a
// *CallbackError. The code is exchanged once, and the
// sealed tokens are stored before Callback returns (even if ctx is cancelled
// after the exchange). The link moves to awaiting credentials, or to
// approval pending when credentials are already on file (a relink); the
// returned Status says which.
func (l *Linker) Callback(ctx context.Context, accountID, sessionID string, query url.Values) (Status, error) {
	lk, err := l.callback(ctx, accountID, sessionID, query.Get("state"), query.Get("code"), query.Get("error"))
	if err != nil {
		return Status{}, err
	}
	return statusOf(lk), nil
}

func (l *Linker) callback(ctx context.Context, accountID, sessionID, state, code, oauthErr string) (*Link, error) {
	if state == "" || len(state) > 512 {
		return nil, &CallbackError{Code: callbackInvalidState}
	}
	ar, err := l.store.ConsumeAuthRequest(ctx, hash(state), l.now().UTC())
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, &CallbackError{Code: callbackInvalidState}
	case errors.Is(err, ErrAuthRequestUsed):
		return nil, &CallbackError{Code: callbackStateUsed}
	case errors.Is(err, ErrAuthRequestExpired):
		return nil, &CallbackError{Code: callbackStateExpired}
	case err != nil:
		return nil, err
	}
	// Consumed first: a mismatch burns the state, which is the safe outcome.
	sameSession := subtle.ConstantTimeCompare(ar.SessionHash, hash(sessionID)) == 1
	sameAccount := subtle.ConstantTimeCompare(hash(ar.AccountID), hash(accountID)) == 1
	sameEnv := ar.Environment == l.environment && ar.RedirectURI == l.redirectURI
	if !sameSession || !sameAccount || !sameEnv {
		return nil, &CallbackError{Code: callbackStateMismatch}
	}
	if oauthErr != "" {
		if !oauthErrorCodes[oauthErr] {
			oauthErr = callbackUnknownError
		}
		return nil, &CallbackError{Code: oauthErr}
	}
	if code == "" {
		return nil, &CallbackError{Code: callbackMissingCode}
	}
	var verifier string
	if len(ar.Verifier) > 0 {
		v, err := l.sealer.Open(ar.Verifier, sealAAD(accountID, sealedFieldVerifier))
		if err != nil {
			return nil, fmt.Errorf("linking: opening PKCE verifier: %w", err)
		}
		verifier = string(v)
	}
	// The code is single-use: once it is sent, a browser that goes away
	// must not cancel the exchange or the save, or the tokens are lost.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	tok, err := l.usps.Exchange(ctx, code, ar.RedirectURI, verifier)
	if err != nil {
		l.logger.LogAttrs(ctx, slog.LevelWarn, "code exchange failed", slog.String("account_id", accountID), slog.String("error", err.Error()))
		return nil, &CallbackError{Code: callbackExchangeFailed, Err: err}
	}
	sealed, err := l.sealToken(accountID, tok)
	if err != nil {
		return nil, err
	}
	var superseded []byte
	stored, err := l.update(ctx, accountID, "user", "callback", func(lk *Link) (State, Reason, error) {
		superseded = lk.Token
		lk.Token, lk.TokenExpiry, lk.RefreshExpiry = sealed, tok.Expiry.UTC(), tok.RefreshExpiry.UTC()
		lk.PaymentToken, lk.PaymentTokenExpiry = nil, time.Time{}
		setLocationTokens(lk, nil)
		lk.Environment = l.environment
		if lk.CRID != "" && lk.EPSAccount != "" {
			lk.NextCheckAt, lk.CheckAttempts, lk.LastError = l.now().UTC(), 0, ""
			return StateApprovalPending, ReasonNone, nil
		}
		lk.State = StateAwaitingCredentials
		lk.NextCheckAt, lk.CheckAttempts, lk.LastError = l.schedule(lk, l.now().UTC()), 0, ""
		return StateAwaitingCredentials, ReasonNone, nil
	})
	if err != nil {
		return nil, err
	}
	// A relink supersedes the previous grant: revoke it, so that one
	// customer never leaves two live grants behind (best effort; logged).
	if len(superseded) > 0 {
		old := &Link{AccountID: accountID, Token: superseded}
		if prev, err := l.openToken(old); err == nil && prev.RefreshToken != "" && prev.RefreshToken != tok.RefreshToken {
			if err := l.revoke(ctx, old); err != nil {
				l.logger.LogAttrs(ctx, slog.LevelWarn, "revoking superseded grant failed", slog.String("account_id", accountID), slog.String("error", err.Error()))
			}
		}
	}
	return stored, nil
}

func (l *Linker) sealToken(accountID string, tok *uspsbiz.Token) ([]byte, error) {
	plain, err := tok.MarshalBinary()
	if err != nil {
		return nil, err
	}
	sealed, err := l.sealer.Seal(plain, sealAAD(accountID, sealedFieldToken))
	clear(plain)
	if err != nil {
		return nil, fmt.Errorf("linking: sealing token: %w", err)
	}
	return sealed, nil
}

func (l *Linker) openToken(lk *Link) (*uspsbiz.Token, error) {
	if len(lk.Token) == 0 {
		return nil, ErrNotLinked
	}
	plain, err := l.sealer.Open(lk.Token, sealAAD(lk.AccountID, sealedFieldToken))
	if err != nil {
		return nil, fmt.Errorf("linking: opening token: %w", err)
	}
	var tok uspsbiz.Token
	err = tok.UnmarshalBinary(plain)
	clear(plain)
	if err != nil {
		return nil, err
	}
	return &tok, nil
}

// ErrNotLinked: the account has no customer token (never linked, unlinked,
// or its grant was revoked).
var ErrNotLinked = errors.New("linking: account is not linked")

// Unlink revokes the customer's grant at USPS, forgets the tokens and
// moves the link to StateUnlinked. Credentials on file are kept for a later
// relink. If USPS does not confirm the revocation (unreachable, 5xx, over
// quota), the link is unlinked all the same, keeps the sealed token only to
// revoke it, and the reconciler retries until USPS confirms; meanwhile
// Status.RevocationPending is true. Unlink returns nil in both cases.
func (l *Linker) Unlink(ctx context.Context, accountID, actor string) error {
	lk, err := l.store.GetLink(ctx, accountID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	revokeErr := l.revoke(ctx, lk)
	if revokeErr != nil {
		l.logger.LogAttrs(ctx, slog.LevelWarn, "revoke failed; retried by the reconciler", slog.String("account_id", accountID), slog.String("error", revokeErr.Error()))
	}
	return l.transition(ctx, accountID, actor, "unlink", func(cur *Link) (State, Reason, error) {
		cur.PaymentToken, cur.PaymentTokenExpiry = nil, time.Time{}
		setLocationTokens(cur, nil)
		cur.TokenExpiry, cur.RefreshExpiry = time.Time{}, time.Time{}
		cur.NextCheckAt, cur.CheckAttempts, cur.LastError = time.Time{}, 0, ""
		switch {
		case revokeErr != nil && len(cur.Token) > 0:
			// Kept sealed only to revoke it; no token source hands it out.
			cur.NextCheckAt, cur.CheckAttempts = l.now().UTC().Add(l.backoff.delay(1)), 1
			cur.LastError = "revoke: " + errorClass(revokeErr)
		case !bytes.Equal(cur.Token, lk.Token) && len(cur.Token) > 0:
			// Refreshed since it was read: revoke what is stored now.
			cur.NextCheckAt, cur.CheckAttempts = l.now().UTC(), 1
		default:
			cur.Token = nil
		}
		return StateUnlinked, ReasonNone, nil
	})
}

func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("linking: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func hash(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}
