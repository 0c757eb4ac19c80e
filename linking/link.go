package linking

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nsalink/nsalink/usps"
)

// State is the linking state of one platform account. The zero value is not
// a valid state; a new link starts as StateUnlinked.
type State string

// The states of a link (see DESIGN.md, "The linking flow").
const (
	StateUnlinked            State = "unlinked"             // nothing started, or unlinked
	StateAuthorizing         State = "authorizing"          // COP URL issued, waiting for the callback
	StateAwaitingCredentials State = "awaiting_credentials" // code exchanged and tokens stored
	StateApprovalPending     State = "approval_pending"     // credentials valid in form, USPS checks pending
	StateActive              State = "active"               // NSA rates apply
	StateActionRequired      State = "action_required"      // the customer must fix Link.Reason
)

// States lists every state, in flow order.
func States() []State {
	return []State{StateUnlinked, StateAuthorizing, StateAwaitingCredentials,
		StateApprovalPending, StateActive, StateActionRequired}
}

// Valid reports whether s is one of the defined states.
func (s State) Valid() bool { return slices.Contains(States(), s) }

// Reason explains StateActionRequired (what to fix) and StateApprovalPending
// (what USPS is waiting for). It is ReasonNone in every other state.
type Reason string

// Reasons for StateActionRequired and StateApprovalPending.
const (
	ReasonNone                   Reason = ""
	ReasonEPAMissing             Reason = "epa_missing"               // no Enterprise Payment Account
	ReasonEPANotActive           Reason = "epa_not_active"            // e.g. ACH pending micro-debit verification
	ReasonNoPaymentMethod        Reason = "no_payment_method"         // EPA has no payment method
	ReasonPaymentMethodNotActive Reason = "payment_method_not_active" // payment method not yet usable
	ReasonCardTrouble            Reason = "card_trouble"              // card declined or expired
	ReasonInsufficientFunds      Reason = "insufficient_funds"        // EPA balance too low
	ReasonCRIDNotEnrolled        Reason = "crid_not_enrolled"         // CRID not enrolled for the contract
	ReasonCredentialsRejected    Reason = "credentials_rejected"      // USPS rejected CRID/MID/EPS
	ReasonTokenRevoked           Reason = "token_revoked"             // refresh failed for good: relink
	ReasonContractNotEffective   Reason = "contract_not_effective"    // pending: "contract rate not found"
)

// Limits every store enforces through Validate.
const (
	maxStringLen    = 1024 // longest stored string field, in bytes
	maxAccountIDLen = 255  // longest account id, in bytes
)

// Reasons lists every non-empty reason.
func Reasons() []Reason {
	return []Reason{ReasonEPAMissing, ReasonEPANotActive, ReasonNoPaymentMethod,
		ReasonPaymentMethodNotActive, ReasonCardTrouble, ReasonInsufficientFunds,
		ReasonCRIDNotEnrolled, ReasonCredentialsRejected, ReasonTokenRevoked,
		ReasonContractNotEffective}
}

// Valid reports whether r is ReasonNone or one of the defined reasons.
func (r Reason) Valid() bool { return r == ReasonNone || slices.Contains(Reasons(), r) }

// transitions is the state machine as data: from → allowed destinations.
// Self-transitions are listed where they mean something (restart an
// authorization, re-check a pending approval). Unlinking is allowed from
// every state except unlinked itself, which the flow treats as a no-op.
var transitions = map[State][]State{
	StateUnlinked: {StateAuthorizing},
	// authorizing → approval_pending: a relink with credentials on file.
	StateAuthorizing: {StateAuthorizing, StateAwaitingCredentials, StateApprovalPending,
		StateActionRequired, StateUnlinked},
	StateAwaitingCredentials: {StateApprovalPending, StateActionRequired, StateAuthorizing,
		StateUnlinked},
	StateApprovalPending: {StateActive, StateActionRequired, StateApprovalPending,
		StateAuthorizing, StateUnlinked},
	StateActive: {StateActionRequired, StateApprovalPending, StateAuthorizing,
		StateUnlinked},
	StateActionRequired: {StateAuthorizing, StateAwaitingCredentials, StateApprovalPending,
		StateActive, StateUnlinked},
}

// Transitions returns a copy of the transition table: for each state, the
// states it may move to.
func Transitions() map[State][]State {
	out := maps.Clone(transitions)
	for k, v := range out {
		out[k] = slices.Clone(v)
	}
	return out
}

// CanTransition reports whether the table allows moving from one state to
// another.
func CanTransition(from, to State) bool {
	return slices.Contains(transitions[from], to)
}

// CheckTransition returns nil if CanTransition(from, to), else a
// *TransitionError.
func CheckTransition(from, to State) error {
	if CanTransition(from, to) {
		return nil
	}
	return &TransitionError{From: from, To: to}
}

// ErrIllegalTransition matches every *TransitionError with errors.Is.
var ErrIllegalTransition = errors.New("linking: illegal state transition")

// TransitionError reports a transition the table does not allow.
type TransitionError struct {
	From, To State
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("linking: illegal state transition from %q to %q", e.From, e.To)
}

// Is makes errors.Is(err, ErrIllegalTransition) true.
func (e *TransitionError) Is(target error) bool { return target == ErrIllegalTransition }

// Link is the persisted state of one platform account's USPS link.
//
// Stores treat Token and PaymentToken as opaque bytes: the flow seals them
// (see Sealer and SealAAD) before they reach a Store. An empty byte slice is
// stored as "none" and read back as nil. Times are stored in UTC truncated
// to microseconds; the zero time means "not set" and round-trips as zero.
// String fields must be valid UTF-8 without NUL bytes (PostgreSQL TEXT rules,
// enforced by Validate in every store).
//
// A Link prints redacted with fmt and log/slog: EPSAccount and the token
// bytes never appear. (fmt cannot call methods of an unexported struct
// field, so hold a Link by pointer there: a nested pointer prints as an
// address.)
type Link struct {
	AccountID   string // the platform's account id; primary key
	State       State
	Reason      Reason
	Environment string // "production", "testing", or a named USPS base URL

	// The customer's identifiers, as ParseCredentials returns them. Stores
	// keep them as text.
	CRID        usps.CRID
	MID         usps.MID
	ManifestMID usps.MID
	EPSAccount  usps.EPSAccount // redacted by its own String and by Link's

	Token         []byte    // sealed customer OAuth token
	TokenExpiry   time.Time // access token expiry
	RefreshExpiry time.Time // refresh token expiry

	PaymentToken       []byte // sealed payment authorization token
	PaymentTokenExpiry time.Time

	// Version is the optimistic-concurrency counter: 1 after CreateLink,
	// incremented by every successful update. Updates compare and swap on it.
	Version int64

	CreatedAt     time.Time // set once by CreateLink
	UpdatedAt     time.Time // owned by the caller on update (it holds the clock)
	NextCheckAt   time.Time // when the reconciler should next look at the link
	CheckAttempts int       // reconciler attempts since the last progress
	LastError     string    // short, secret-free description of the last failure
}

// Clone returns a deep copy of l (byte slices included). Clone of nil is nil.
func (l *Link) Clone() *Link {
	if l == nil {
		return nil
	}
	c := *l
	c.Token = cloneBytes(l.Token)
	c.PaymentToken = cloneBytes(l.PaymentToken)
	return &c
}

// NormalizeTimes sets every time of l to UTC truncated to microseconds, the
// precision every Store keeps; the zero time stays zero.
func (l *Link) NormalizeTimes() {
	for _, t := range []*time.Time{&l.TokenExpiry, &l.RefreshExpiry, &l.PaymentTokenExpiry,
		&l.CreatedAt, &l.UpdatedAt, &l.NextCheckAt} {
		if !t.IsZero() {
			*t = t.UTC().Truncate(time.Microsecond)
		}
	}
}

// Validate checks what every store requires of a link, and reports the
// first problem as an error wrapping ErrInvalidRecord that names the field.
func (l *Link) Validate() error {
	if l == nil {
		return fmt.Errorf("%w: nil link", ErrInvalidRecord)
	}
	if err := checkID("AccountID", l.AccountID); err != nil {
		return err
	}
	if !l.State.Valid() {
		return fmt.Errorf("%w: State %q is not a known state", ErrInvalidRecord, l.State)
	}
	if !l.Reason.Valid() {
		return fmt.Errorf("%w: Reason %q is not a known reason", ErrInvalidRecord, l.Reason)
	}
	for _, f := range []struct{ name, v string }{
		{"Environment", l.Environment}, {"CRID", string(l.CRID)}, {"MID", string(l.MID)},
		{"ManifestMID", string(l.ManifestMID)}, {"EPSAccount", l.EPSAccount.Reveal()}, {"LastError", l.LastError},
	} {
		if err := checkText(f.name, f.v); err != nil {
			return err
		}
	}
	if l.CheckAttempts < 0 {
		return fmt.Errorf("%w: CheckAttempts is negative", ErrInvalidRecord)
	}
	return nil
}

// redacted is what fmt and slog show of a Link.
func (l Link) redacted() string {
	var b strings.Builder
	fmt.Fprintf(&b, "linking.Link{AccountID: %q, State: %q, Reason: %q, Environment: %q, CRID: %q, MID: %q, ManifestMID: %q, EPSAccount: %s, Token: %s, TokenExpiry: %s, RefreshExpiry: %s, PaymentToken: %s, PaymentTokenExpiry: %s, Version: %d, CreatedAt: %s, UpdatedAt: %s, NextCheckAt: %s, CheckAttempts: %d, LastError: %q}",
		l.AccountID, l.State, l.Reason, l.Environment, l.CRID, l.MID, l.ManifestMID,
		redactString(l.EPSAccount.Reveal()), redactBytes(l.Token), fmtTime(l.TokenExpiry), fmtTime(l.RefreshExpiry),
		redactBytes(l.PaymentToken), fmtTime(l.PaymentTokenExpiry), l.Version,
		fmtTime(l.CreatedAt), fmtTime(l.UpdatedAt), fmtTime(l.NextCheckAt), l.CheckAttempts, l.LastError)
	return b.String()
}

// String returns a redacted description.
func (l Link) String() string { return l.redacted() }

// GoString redacts like String.
func (l Link) GoString() string { return l.redacted() }

// Format redacts for every verb, including %+v and %#v.
func (l Link) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(l.redacted())) }

// LogValue redacts for log/slog.
func (l Link) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("account_id", l.AccountID),
		slog.String("state", string(l.State)),
		slog.String("reason", string(l.Reason)),
		slog.String("environment", l.Environment),
		slog.Int64("version", l.Version),
		slog.String("eps_account", redactString(l.EPSAccount.Reveal())),
		slog.String("token", redactBytes(l.Token)),
		slog.String("payment_token", redactBytes(l.PaymentToken)),
	)
}

// Event is one entry of a link's audit trail, appended by a store together
// with the update that caused it.
type Event struct {
	AccountID string
	Seq       int64 // assigned by the store: 1, 2, 3… per account
	At        time.Time
	From, To  State
	Reason    Reason
	Cause     string // why, in a few words ("callback", "refresh: invalid_grant"); no secrets
	Actor     string // who: "user:<id>", "reconciler", "system"…; no secrets
}

// Validate checks what every store requires of an event; stores fill in
// AccountID and Seq, so they are not checked here.
func (e *Event) Validate() error {
	if e == nil {
		return fmt.Errorf("%w: nil event", ErrInvalidRecord)
	}
	if e.From != "" && !e.From.Valid() {
		return fmt.Errorf("%w: Event.From %q is not a known state", ErrInvalidRecord, e.From)
	}
	if !e.To.Valid() {
		return fmt.Errorf("%w: Event.To %q is not a known state", ErrInvalidRecord, e.To)
	}
	if !e.Reason.Valid() {
		return fmt.Errorf("%w: Event.Reason %q is not a known reason", ErrInvalidRecord, e.Reason)
	}
	if err := checkText("Event.Cause", e.Cause); err != nil {
		return err
	}
	return checkText("Event.Actor", e.Actor)
}

// AuthRequest is one pending OAuth authorization: the server side of a COP
// URL handed to a browser. Stores look it up by StateHash only; the raw
// state never reaches a store.
type AuthRequest struct {
	StateHash   []byte // SHA-256 of the random state parameter
	AccountID   string
	SessionHash []byte // hash of the host's session id: binds the state to the browser
	Verifier    []byte // sealed PKCE code verifier
	Environment string // the USPS environment the URL was issued for (mix-up defence)
	RedirectURI string // byte-exact redirect URI used in the authorization request
	CreatedAt   time.Time
	ExpiresAt   time.Time
	UsedAt      time.Time // zero until consumed
}

// Clone returns a deep copy of a. Clone of nil is nil.
func (a *AuthRequest) Clone() *AuthRequest {
	if a == nil {
		return nil
	}
	c := *a
	c.StateHash = cloneBytes(a.StateHash)
	c.SessionHash = cloneBytes(a.SessionHash)
	c.Verifier = cloneBytes(a.Verifier)
	return &c
}

// Validate checks what every store requires of an auth request.
func (a *AuthRequest) Validate() error {
	if a == nil {
		return fmt.Errorf("%w: nil auth request", ErrInvalidRecord)
	}
	if len(a.StateHash) == 0 || len(a.StateHash) > 64 {
		return fmt.Errorf("%w: StateHash must be 1 to 64 bytes", ErrInvalidRecord)
	}
	if err := checkID("AccountID", a.AccountID); err != nil {
		return err
	}
	if err := checkText("Environment", a.Environment); err != nil {
		return err
	}
	if err := checkText("RedirectURI", a.RedirectURI); err != nil {
		return err
	}
	if a.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: ExpiresAt is required", ErrInvalidRecord)
	}
	return nil
}

func (a AuthRequest) redacted() string {
	return fmt.Sprintf("linking.AuthRequest{AccountID: %q, StateHash: %s, SessionHash: %s, Verifier: %s, Environment: %q, RedirectURI: %q, CreatedAt: %s, ExpiresAt: %s, UsedAt: %s}",
		a.AccountID, redactBytes(a.StateHash), redactBytes(a.SessionHash), redactBytes(a.Verifier),
		a.Environment, a.RedirectURI, fmtTime(a.CreatedAt), fmtTime(a.ExpiresAt), fmtTime(a.UsedAt))
}

// String returns a redacted description.
func (a AuthRequest) String() string { return a.redacted() }

// GoString redacts like String.
func (a AuthRequest) GoString() string { return a.redacted() }

// Format redacts for every verb, including %+v and %#v.
func (a AuthRequest) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(a.redacted())) }

// LogValue redacts for log/slog.
func (a AuthRequest) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("account_id", a.AccountID),
		slog.String("environment", a.Environment),
		slog.Time("expires_at", a.ExpiresAt),
		slog.Bool("used", !a.UsedAt.IsZero()),
	)
}

func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

func checkID(field, v string) error {
	if v == "" || len(v) > maxAccountIDLen {
		return fmt.Errorf("%w: %s must be 1 to %d bytes", ErrInvalidRecord, field, maxAccountIDLen)
	}
	return checkText(field, v)
}

func checkText(field, v string) error {
	if len(v) > maxStringLen {
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalidRecord, field, maxStringLen)
	}
	if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
		return fmt.Errorf("%w: %s must be valid UTF-8 without NUL bytes", ErrInvalidRecord, field)
	}
	return nil
}

func redactString(s string) string {
	if s == "" {
		return `""`
	}
	return "[REDACTED]"
}

func redactBytes(b []byte) string {
	if len(b) == 0 {
		return "[]"
	}
	return fmt.Sprintf("[REDACTED %d bytes]", len(b))
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return t.Format(time.RFC3339Nano)
}
