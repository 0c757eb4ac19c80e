package linking

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
)

// State is the linking state of one platform account. The zero value is not
// a valid state; a new link starts as StateUnlinked.
type State string

// The states of a link (see docs/design.md#link-states).
const (
	StateUnlinked            State = "unlinked"             // nothing started, or unlinked
	StateAuthorizing         State = "authorizing"          // COP URL issued, waiting for the callback
	StateAwaitingCredentials State = "awaiting_credentials" // code exchanged and tokens stored
	StateApprovalPending     State = "approval_pending"     // credentials valid in form, USPS checks pending
	StateActive              State = "active"               // NSA rates apply
	StateActionRequired      State = "action_required"      // the customer must fix Link.Reason
)

// states lists every state, in flow order.
func states() []State {
	return []State{StateUnlinked, StateAuthorizing, StateAwaitingCredentials,
		StateApprovalPending, StateActive, StateActionRequired}
}

// Valid reports whether s is one of the defined states.
func (s State) Valid() bool { return slices.Contains(states(), s) }

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

// reasons lists every non-empty reason.
func reasons() []Reason {
	return []Reason{ReasonEPAMissing, ReasonEPANotActive, ReasonNoPaymentMethod,
		ReasonPaymentMethodNotActive, ReasonCardTrouble, ReasonInsufficientFunds,
		ReasonCRIDNotEnrolled, ReasonCredentialsRejected, ReasonTokenRevoked,
		ReasonContractNotEffective}
}

// Valid reports whether r is ReasonNone or one of the defined reasons.
func (r Reason) Valid() bool { return r == ReasonNone || slices.Contains(reasons(), r) }

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

// transitionTable returns a copy of the transition table: for each state,
// the states it may move to.
func transitionTable() map[State][]State {
	out := maps.Clone(transitions)
	for k, v := range out {
		out[k] = slices.Clone(v)
	}
	return out
}

// canTransition reports whether the table allows moving from one state to
// another.
func canTransition(from, to State) bool {
	return slices.Contains(transitions[from], to)
}

// checkTransition returns nil if canTransition(from, to), else an error
// matching ErrIllegalTransition.
func checkTransition(from, to State) error {
	if canTransition(from, to) {
		return nil
	}
	return fmt.Errorf("%w from %q to %q", ErrIllegalTransition, from, to)
}

// ErrIllegalTransition: the transition table does not allow the move, e.g.
// credentials submitted before the customer authorized the platform.
var ErrIllegalTransition = errors.New("linking: illegal state transition")

// Link is the persisted state of one platform account's USPS link.
//
// Stores treat Token and PaymentToken as opaque bytes: the flow seals them
// (see Sealer) before they reach a Store. An empty byte slice is
// stored as "none" and read back as nil. Times are stored in UTC truncated
// to microseconds; the zero time means "not set" and round-trips as zero.
// String fields must be valid UTF-8 without NUL bytes (PostgreSQL TEXT rules,
// enforced by every store through linking/storekit).
//
// A Link prints redacted with fmt and log/slog: EPSAccount and the token
// bytes never appear. (fmt cannot call methods of an unexported struct
// field, so hold a Link by pointer there: a nested pointer prints as an
// address.)
type Link struct {
	AccountID   string // the platform's account id; primary key
	State       State
	Reason      Reason
	Environment uspsbiz.Environment // the USPS host the customer's tokens are for

	// The customer's identifiers, as the credential check parsed them.
	// Stores keep them as text.
	CRID        usps.CRID
	MID         usps.MID
	ManifestMID usps.MID
	EPSAccount  usps.EPSAccount // redacted by its own String and by Link's
	// SealedEPS is the EPS account number sealed (see Sealer), as the flow
	// stores it: a Linker seals EPSAccount into SealedEPS before every write
	// and stores EPSAccount empty, and opens it again on every read, so
	// the number that pays postage is never at rest in clear. A link
	// written by an older version holds EPSAccount in clear until its next
	// write (or RewrapAll) seals it. Stores treat it as opaque bytes.
	SealedEPS []byte

	// ReturnsMID is the MID of return labels (RETURN_LABEL_OWNER); empty
	// when the customer gave none. NSAContract is the contract number the
	// customer sees in the USPS portal, kept for display and support only.
	ReturnsMID  usps.MID
	NSAContract string
	// Locations are further MIDs and EPS accounts of the same CRID, each
	// under a label (for example a 3PL's warehouses). The MID, ManifestMID
	// and EPSAccount above are the default; a shipment names a location
	// by its label to price and pay with that location's account instead.
	Locations []Location

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

// Location is one labelled set of MIDs and EPS account of a link. Its
// EPSAccount is sealed at rest like Link.EPSAccount (into SealedEPS), and
// its payment authorization token is cached sealed per location.
type Location struct {
	Label       string // unique within the link; 1 to 64 characters
	MID         usps.MID
	ManifestMID usps.MID
	EPSAccount  usps.EPSAccount // redacted by its own String and by Link's
	SealedEPS   []byte

	PaymentToken       []byte // sealed payment authorization token of this location
	PaymentTokenExpiry time.Time
}

// location returns the account that prices and pays under label: the
// link's default ("") or one of its Locations.
func (l *Link) location(label string) (Location, bool) {
	if label == "" {
		return Location{MID: l.MID, ManifestMID: l.ManifestMID, EPSAccount: l.EPSAccount,
			PaymentToken: l.PaymentToken, PaymentTokenExpiry: l.PaymentTokenExpiry}, true
	}
	for _, loc := range l.Locations {
		if loc.Label == label {
			return loc, true
		}
	}
	return Location{}, false
}

// redacted is what fmt and slog show of a Link.
func (l Link) redacted() string {
	var b strings.Builder
	locs := make([]string, len(l.Locations))
	for i, loc := range l.Locations {
		locs[i] = fmt.Sprintf("{Label: %q, MID: %q, ManifestMID: %q, EPSAccount: %s, SealedEPS: %s, PaymentToken: %s, PaymentTokenExpiry: %s}",
			loc.Label, loc.MID, loc.ManifestMID, redactString(loc.EPSAccount.Reveal()), redactBytes(loc.SealedEPS),
			redactBytes(loc.PaymentToken), fmtTime(loc.PaymentTokenExpiry))
	}
	fmt.Fprintf(&b, "linking.Link{AccountID: %q, State: %q, Reason: %q, Environment: %q, CRID: %q, MID: %q, ManifestMID: %q, EPSAccount: %s, SealedEPS: %s, ReturnsMID: %q, NSAContract: %q, Locations: [%s], Token: %s, TokenExpiry: %s, RefreshExpiry: %s, PaymentToken: %s, PaymentTokenExpiry: %s, Version: %d, CreatedAt: %s, UpdatedAt: %s, NextCheckAt: %s, CheckAttempts: %d, LastError: %q}",
		l.AccountID, l.State, l.Reason, l.Environment, l.CRID, l.MID, l.ManifestMID,
		redactString(l.EPSAccount.Reveal()), redactBytes(l.SealedEPS), l.ReturnsMID, l.NSAContract, strings.Join(locs, ", "), redactBytes(l.Token), fmtTime(l.TokenExpiry), fmtTime(l.RefreshExpiry),
		redactBytes(l.PaymentToken), fmtTime(l.PaymentTokenExpiry), l.Version,
		fmtTime(l.CreatedAt), fmtTime(l.UpdatedAt), fmtTime(l.NextCheckAt), l.CheckAttempts, l.LastError)
	return b.String()
}

// Format redacts for every verb, including %v, %s, %+v and %#v.
func (l Link) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(l.redacted())) }

// LogValue redacts for log/slog.
func (l Link) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("account_id", l.AccountID),
		slog.String("state", string(l.State)),
		slog.String("reason", string(l.Reason)),
		slog.String("environment", string(l.Environment)),
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

// AuthRequest is one pending OAuth authorization: the server side of a COP
// URL handed to a browser. Stores look it up by StateHash only; the raw
// state never reaches a store.
type AuthRequest struct {
	StateHash   []byte // SHA-256 of the random state parameter
	AccountID   string
	SessionHash []byte              // hash of the host's session id: binds the state to the browser
	Verifier    []byte              // sealed PKCE code verifier
	Environment uspsbiz.Environment // the USPS environment the URL was issued for (mix-up defence)
	RedirectURI string              // byte-exact redirect URI used in the authorization request
	CreatedAt   time.Time
	ExpiresAt   time.Time
	UsedAt      time.Time // zero until consumed
}

func (a AuthRequest) redacted() string {
	return fmt.Sprintf("linking.AuthRequest{AccountID: %q, StateHash: %s, SessionHash: %s, Verifier: %s, Environment: %q, RedirectURI: %q, CreatedAt: %s, ExpiresAt: %s, UsedAt: %s}",
		a.AccountID, redactBytes(a.StateHash), redactBytes(a.SessionHash), redactBytes(a.Verifier),
		a.Environment, a.RedirectURI, fmtTime(a.CreatedAt), fmtTime(a.ExpiresAt), fmtTime(a.UsedAt))
}

// Format redacts for every verb, including %v, %s, %+v and %#v.
func (a AuthRequest) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(a.redacted())) }

// LogValue redacts for log/slog.
func (a AuthRequest) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("account_id", a.AccountID),
		slog.String("environment", string(a.Environment)),
		slog.Time("expires_at", a.ExpiresAt),
		slog.Bool("used", !a.UsedAt.IsZero()),
	)
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
