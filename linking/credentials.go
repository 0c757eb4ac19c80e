package linking

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
)

// CredentialsInput is what the customer typed after authorizing.
// ManifestMID may be empty: the MID then serves as the manifest MID.
type CredentialsInput struct {
	CRID        string
	MID         string
	ManifestMID string
	EPS         string
	// ReturnsMID is the MID of return labels: required when the Linker's
	// PaymentModel has Returns, optional otherwise.
	ReturnsMID string
	// NSAContract is the NSA contract number the customer sees in the
	// USPS portal (optional; for display and support only).
	NSAContract string
	// Locations are further labelled MIDs and EPS accounts of the same
	// CRID (for example one per warehouse); the fields above are the
	// default. At most MaxLocations.
	Locations []LocationInput
}

// LocationInput is one location of a CredentialsInput. ManifestMID may be
// empty: the location's MID then serves as its manifest MID.
type LocationInput struct {
	Label       string // 1 to 64 characters, unique within the link
	MID         string
	ManifestMID string
	EPS         string
}

// MaxLocations bounds CredentialsInput.Locations.
const MaxLocations = 20

// Keys of the customer-entered fields, in FieldProblem.Field and in the
// form and JSON bodies of the credentials handler. A location's fields are
// "locations[i].label", "locations[i].mid" and so on.
const (
	fieldCRID        = "crid"
	fieldMID         = "mid"
	fieldManifestMID = "manifest_mid"
	fieldEPS         = "eps"
	fieldReturnsMID  = "returns_mid"
	fieldNSAContract = "nsa_contract"
	fieldLocations   = "locations"
	fieldLabel       = "label"
)

// FieldProblem is one rejected field, in words a customer can act on.
type FieldProblem struct {
	Field   string // "crid", "mid", "manifest_mid", "eps", "returns_mid", "nsa_contract", "locations[0].eps"…
	Message string
	Err     error // the *usps.FieldError
}

// CredentialsError lists every malformed field of a CredentialsInput. Nothing
// was stored and no USPS call was made.
type CredentialsError struct {
	Fields []FieldProblem
}

func (e *CredentialsError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Message
	}
	return "linking: invalid credentials: " + strings.Join(parts, "; ")
}

// Unwrap gives the field errors (each matches usps.ErrInvalidIdentifier).
func (e *CredentialsError) Unwrap() []error {
	errs := make([]error, len(e.Fields))
	for i, f := range e.Fields {
		errs[i] = f.Err
	}
	return errs
}

// parsedCredentials are validated identifiers.
type parsedCredentials struct {
	CRID        usps.CRID
	MID         usps.MID
	ManifestMID usps.MID
	EPS         usps.EPSAccount
	ReturnsMID  usps.MID
	NSAContract string
	Locations   []Location
}

// account is the default payment account of p.
func (p parsedCredentials) account() payAccount {
	return payAccount{CRID: p.CRID, MID: p.MID, ManifestMID: p.ManifestMID, EPS: p.EPS, ReturnsMID: p.ReturnsMID}
}

// parseCredentials checks every field for a Linker without return labels.
func parseCredentials(in CredentialsInput) (parsedCredentials, error) {
	return parseCredentialsFor(in, paymentModel{})
}

// labelPattern is what a location label may hold: letters, digits, space
// and - _ . / #, starting with a letter or digit.
var labelPattern = regexp.MustCompile(`^[\p{L}\p{N}][\p{L}\p{N} ._/#-]{0,63}$`)

// contractPattern is an NSA contract number as USPS portals show it.
var contractPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,39}$`)

// parseCredentialsFor checks every field and reports all problems at once,
// as a *CredentialsError; m decides whether a returns MID is required.
func parseCredentialsFor(in CredentialsInput, m paymentModel) (parsedCredentials, error) {
	var p parsedCredentials
	var problems []FieldProblem
	add := func(field string, err error) {
		var fe *usps.FieldError
		msg := err.Error()
		if errors.As(err, &fe) {
			msg = fe.Field + ": " + fe.Reason
			if field == fieldReturnsMID {
				msg = "returns MID: " + fe.Reason
			}
		}
		var i int
		if _, err := fmt.Sscanf(field, fieldLocations+"[%d]", &i); err == nil {
			msg = fmt.Sprintf("location %d: %s", i+1, msg)
		}
		problems = append(problems, FieldProblem{Field: field, Message: msg, Err: err})
	}
	var err error
	if p.CRID, err = usps.ParseCRID(in.CRID); err != nil {
		add(fieldCRID, err)
	}
	if p.MID, err = usps.ParseMID(in.MID); err != nil {
		add(fieldMID, err)
	}
	if strings.TrimSpace(in.ManifestMID) == "" {
		p.ManifestMID = p.MID
	} else if p.ManifestMID, err = usps.ParseManifestMID(in.ManifestMID); err != nil {
		add(fieldManifestMID, err)
	}
	if p.EPS, err = usps.ParseEPSAccount(in.EPS); err != nil {
		add(fieldEPS, err)
	}
	switch {
	case strings.TrimSpace(in.ReturnsMID) != "":
		if p.ReturnsMID, err = usps.ParseMID(in.ReturnsMID); err != nil {
			add(fieldReturnsMID, err)
		}
	case m.returns:
		add(fieldReturnsMID, &usps.FieldError{Field: "returns MID", Reason: "is required: return labels are paid at your NSA prices under it"})
	}
	if c := strings.TrimSpace(in.NSAContract); c != "" {
		if !contractPattern.MatchString(c) {
			add(fieldNSAContract, &usps.FieldError{Field: "NSA contract number", Reason: "must be 1 to 40 letters, digits, spaces or . _ / -"})
		}
		p.NSAContract = c
	}
	if len(in.Locations) > MaxLocations {
		add(fieldLocations, &usps.FieldError{Field: "locations", Reason: fmt.Sprintf("at most %d", MaxLocations)})
		in.Locations = nil
	}
	seen := map[string]bool{}
	for i, li := range in.Locations {
		f := func(name string) string { return fmt.Sprintf("%s[%d].%s", fieldLocations, i, name) }
		var loc Location
		loc.Label = strings.TrimSpace(li.Label)
		switch {
		case !labelPattern.MatchString(loc.Label):
			add(f(fieldLabel), &usps.FieldError{Field: "label", Reason: "must be 1 to 64 letters, digits, spaces or . _ / # -"})
		case seen[loc.Label]:
			add(f(fieldLabel), &usps.FieldError{Field: "label", Reason: "is given twice"})
		}
		seen[loc.Label] = true
		if loc.MID, err = usps.ParseMID(li.MID); err != nil {
			add(f(fieldMID), err)
		}
		if strings.TrimSpace(li.ManifestMID) == "" {
			loc.ManifestMID = loc.MID
		} else if loc.ManifestMID, err = usps.ParseManifestMID(li.ManifestMID); err != nil {
			add(f(fieldManifestMID), err)
		}
		if loc.EPSAccount, err = usps.ParseEPSAccount(li.EPS); err != nil {
			add(f(fieldEPS), err)
		}
		p.Locations = append(p.Locations, loc)
	}
	if len(problems) > 0 {
		return parsedCredentials{}, &CredentialsError{Fields: problems}
	}
	return p, nil
}

// SubmitCredentials stores the customer's CRID, MID, manifest MID and EPS
// number and moves the link to approval pending, then verifies them with
// USPS at once (see Verify) so that the customer hears about a missing or
// pending EPA right away. Malformed input returns a *CredentialsError and
// changes nothing. The link must have a customer token (ErrNotLinked
// otherwise).
//
// A USPS failure that is not about the customer's account (quota, outage)
// leaves the link pending for the reconciler; that is not an error here:
// the returned Status has State approval pending and LastError saying why.
func (l *Linker) SubmitCredentials(ctx context.Context, accountID string, in CredentialsInput) (Status, error) {
	p, err := parseCredentialsFor(in, l.model)
	if err != nil {
		return Status{}, err
	}
	_, err = l.update(ctx, accountID, "user", "credentials", func(lk *Link) (State, Reason, error) {
		if len(lk.Token) == 0 {
			return "", "", ErrNotLinked
		}
		switch lk.State {
		case StateAwaitingCredentials, StateApprovalPending, StateActive, StateActionRequired:
		default:
			return "", "", fmt.Errorf("%w from %q to %q", ErrIllegalTransition, lk.State, StateApprovalPending)
		}
		lk.CRID, lk.MID, lk.ManifestMID, lk.EPSAccount = p.CRID, p.MID, p.ManifestMID, p.EPS
		lk.ReturnsMID, lk.NSAContract, lk.Locations = p.ReturnsMID, p.NSAContract, p.Locations
		lk.PaymentToken, lk.PaymentTokenExpiry = nil, time.Time{}
		lk.NextCheckAt, lk.CheckAttempts, lk.LastError = l.now().UTC(), 0, ""
		return StateApprovalPending, ReasonNone, nil
	})
	if errors.Is(err, ErrNotFound) {
		return Status{}, ErrNotLinked
	}
	if err != nil {
		return Status{}, err
	}
	lk, err := l.verify(ctx, accountID)
	if lk == nil {
		return Status{}, fmt.Errorf("linking: verifying credentials: %w", err)
	}
	if err != nil {
		// Saved and pending; the reconciler finishes the check.
		l.logger.LogAttrs(ctx, slog.LevelWarn, "credentials saved, check deferred", slog.String("account_id", accountID), slog.String("error", err.Error()))
	}
	return statusOf(lk), nil
}

// verdict is the outcome of one field's check with USPS.
type verdict string

const (
	verdictValid     verdict = "valid"     // USPS accepted the field
	verdictMalformed verdict = "malformed" // the format check failed; no USPS call was made
	verdictRejected  verdict = "rejected"  // USPS rejected the field (see Code and Reason)
	// verdictUnchecked: well formed, but USPS has not confirmed it because
	// another field failed first.
	verdictUnchecked verdict = "unchecked"
)

// fieldVerdict is the verdict on one field, with a reason for the logs and
// USPS's code when it rejected the field.
type fieldVerdict struct {
	Verdict verdict
	Reason  string
	Code    string
}

// credentialsVerdict is checkCredentials's answer.
type credentialsVerdict struct {
	CRID, MID, ManifestMID, EPS, ReturnsMID fieldVerdict

	// EPAActive is set when USPS reported the payment account active;
	// EPACode is USPS's code (100001–100007) when it reported a problem.
	// Both are zero when the account was not checked.
	EPAActive bool
	EPACode   string
	// Payment is the payment authorization token (with the payment
	// model's roles) when every field is valid; labels can use it for 8
	// hours.
	Payment *uspsbiz.PaymentAuthorization
	// Calls is how many Payments API calls were made (token calls aside).
	Calls int
}

// all lists the field verdicts.
func (v *credentialsVerdict) all() []*fieldVerdict {
	return []*fieldVerdict{&v.CRID, &v.MID, &v.ManifestMID, &v.EPS, &v.ReturnsMID}
}

// ok reports whether every field is valid and a payment token came back.
func (v *credentialsVerdict) ok() bool {
	for _, f := range v.all() {
		if f.Verdict != verdictValid {
			return false
		}
	}
	return v.Payment != nil
}

func (v *credentialsVerdict) field(name string) *fieldVerdict {
	switch name {
	case fieldCRID:
		return &v.CRID
	case fieldMID:
		return &v.MID
	case fieldManifestMID:
		return &v.ManifestMID
	case fieldReturnsMID:
		return &v.ReturnsMID
	}
	return &v.EPS
}

// ErrPlatformAccount: USPS refused the platform's own payment account (the
// PayerPlatform model's EPS account, as PAYER): the platform must fix it,
// not the customer. The link stays approval pending and the reconciler
// checks again after a backoff.
var ErrPlatformAccount = errors.New("linking: USPS refused the platform's payment account")

// checkCredentials checks a customer's CRID, MID, manifest MID, EPS number
// and (with return labels) returns MID with USPS and, when all are good,
// returns the payment authorization token that labels need. Only the
// default account of in is checked (not its Locations).
//
// Order and cost, in calls to the Payments API (USPS's default quota is 60
// an hour; a platform token call, when none is cached, is extra and counts
// against the OAuth API):
//
//  1. Format check of the fields (parseCredentialsFor). Any malformed
//     field: 0 calls, the others are unchecked.
//  2. Payment authorization with the payment model's roles (see
//     PaymentModel): the customer's EPS account as RATE_HOLDER, and as
//     PAYER when the customer pays; the CRID, MID and manifest MID as
//     LABEL_OWNER; the platform's CRID as PLATFORM. USPS checks a PAYER's
//     EPS account there ("must be active in EPS") and answers
//     100001–100007 like the payment-account lookup does, so the lookup is
//     not made first: success is 1 call, and an EPA problem (not found,
//     not active such as ACH pending, no or inactive payment method, card
//     trouble, low Trust balance) is 1 call. A RATE_HOLDER only has to
//     exist, so when the platform pays an unfunded rate-card account is
//     fine.
//  3. Only when USPS rejects the authorization for other fields (CRID or
//     MID not enrolled, …) without a 100001–100007 code, one EPA lookup
//     tells whether the EPS account is fine too, so that the customer
//     learns every problem at once: 2 calls.
//
// So: happy path 1; malformed input 0; EPA problem 1; CRID/MID problem
// with a good or bad EPA 2. A 401/403/429/5xx (or a WithBudget refusal)
// is returned as the error with no verdict; so is a rejection USPS does not
// tie to a field, or one of the PLATFORM role (the platform's CRID), or
// one of the platform's own paying account (ErrPlatformAccount).
// Payments calls use the platform's own token.
func checkCredentials(ctx context.Context, c *uspsbiz.Client, in CredentialsInput, m paymentModel, platformCRID usps.CRID) (*credentialsVerdict, error) {
	v := &credentialsVerdict{}
	in.Locations = nil // checked one by one by the caller
	// The returns MID is required when credentials are saved, not here: a
	// link saved before return labels were turned on is checked without.
	p, err := parseCredentialsFor(in, paymentModel{})
	if err != nil {
		var ce *CredentialsError
		if !errors.As(err, &ce) {
			return nil, err
		}
		for _, f := range v.all() {
			*f = fieldVerdict{Verdict: verdictUnchecked}
		}
		if in.ReturnsMID == "" {
			v.ReturnsMID = fieldVerdict{Verdict: verdictValid} // none to check
		}
		for _, f := range ce.Fields {
			*v.field(f.Field) = fieldVerdict{Verdict: verdictMalformed, Reason: f.Message}
		}
		return v, nil
	}

	req := m.roles(p.account(), platformCRID)
	v.Calls++
	pa, err := c.AuthorizePayment(ctx, req)
	if err == nil {
		v.Payment = pa
		v.EPAActive = true
		for _, fv := range v.all() {
			*fv = fieldVerdict{Verdict: verdictValid}
		}
		return v, nil
	}
	var ae *uspsbiz.APIError
	if !errors.As(err, &ae) || (ae.StatusCode != http.StatusBadRequest && ae.StatusCode != http.StatusNotFound) {
		return nil, err
	}
	rejected := map[string]fieldVerdict{}
	for _, d := range ae.Errors {
		_, isEPA := reasonForEPA[d.Code]
		field, platform := fieldOf(d, isEPA, req.Roles, m)
		switch {
		case platform == platformPaying:
			return nil, fmt.Errorf("%w (USPS code %s): %w", ErrPlatformAccount, d.Code, err)
		case platform == platformCRIDRole:
			return nil, fmt.Errorf("linking: checking credentials: USPS rejected the platform's CRID (PLATFORM role): %w", err)
		case field == "":
			return nil, err
		}
		if _, dup := rejected[field]; !dup {
			rejected[field] = fieldVerdict{Verdict: verdictRejected, Code: d.Code, Reason: detailReason(d)}
		}
		if isEPA {
			v.EPACode = d.Code
			rejected[field] = fieldVerdict{Verdict: verdictRejected, Code: d.Code, Reason: epaAction(d.Code)}
		}
	}
	if len(rejected) == 0 {
		if ae.StatusCode != http.StatusNotFound || !ae.IsUSPSBody() {
			// An HTML 404 from a proxy says nothing about the account.
			return nil, err
		}
		// A bare USPS 404 from the payments API: the account is unknown.
		rejected[fieldEPS] = fieldVerdict{Verdict: verdictRejected, Reason: epaAction(codeEPANotFound)}
		v.EPACode = codeEPANotFound
	}
	for _, fv := range v.all() {
		*fv = fieldVerdict{Verdict: verdictUnchecked}
	}
	if p.ReturnsMID == "" {
		v.ReturnsMID = fieldVerdict{Verdict: verdictValid} // none to check
	}
	for field, fv := range rejected {
		*v.field(field) = fv
	}
	if _, epsRejected := rejected[fieldEPS]; !epsRejected {
		v.Calls++
		epa, lerr := c.LookupEPA(ctx, p.EPS)
		switch {
		case lerr != nil:
			// Leave the EPS unchecked; the other verdicts stand.
		case epa.Active || m.platformPays && epa.Code != codeEPANotFound:
			// A rate card only has to exist when the platform pays.
			v.EPAActive = epa.Active
			v.EPS = fieldVerdict{Verdict: verdictValid}
		default:
			v.EPACode = epa.Code
			v.EPS = fieldVerdict{Verdict: verdictRejected, Code: epa.Code, Reason: epaAction(epa.Code)}
		}
	}
	return v, nil
}

// epaAction is the guidance's text for an EPA problem, by USPS code.
func epaAction(code string) string {
	return DefaultGuidance().Actions[reasonForEPA[code]].Text
}

func detailReason(d uspsbiz.ErrorDetail) string {
	switch {
	case d.Detail != "":
		return d.Detail
	case d.Title != "":
		return d.Title
	}
	return "USPS rejected it (code " + d.Code + ")"
}

// fieldCodes ties USPS codes to customer fields when no parameter says.
var fieldCodes = map[string]string{
	"160221": fieldMID,         // role requires MID
	"160222": fieldManifestMID, // role requires manifestMID
	"160224": fieldEPS,         // accountNumber required for EPS
}

// Whose account a USPS error detail is about, when it is the platform's.
const (
	platformNone     = iota
	platformCRIDRole // the PLATFORM role's CRID
	platformPaying   // the platform's own paying account (PayerPlatform)
)

// fieldOf attributes one USPS error detail to a customer field, using its
// code (isEPA: one of 100001–100007), its parameter (e.g. "roles[2].MID",
// "roles.CRID", "accountNumber") and the role it names. platform says
// when it concerns the platform's own CRID or paying account instead.
func fieldOf(d uspsbiz.ErrorDetail, isEPA bool, roles []uspsbiz.Role, m paymentModel) (field string, platform int) {
	p := d.Parameter
	role := uspsbiz.RoleName("")
	if i := strings.Index(p, "["); i >= 0 {
		if j := strings.Index(p[i:], "]"); j > 0 {
			if n, err := strconv.Atoi(p[i+1 : i+j]); err == nil && n >= 0 && n < len(roles) {
				role = roles[n].Name
			}
		}
	}
	if m.platformAccount(role) {
		return "", platformPaying
	}
	if isEPA {
		if role == "" && m.platformPays && d.Code != codeEPANotFound {
			// Not tied to a role: only the platform's paying account is
			// checked for funds when the platform pays.
			return "", platformPaying
		}
		return fieldEPS, platformNone
	}
	name := p
	if i := strings.LastIndexAny(p, ".]"); i >= 0 {
		name = p[i+1:]
	}
	switch strings.ToLower(name) {
	case "crid":
		if role == uspsbiz.RolePlatform {
			return "", platformCRIDRole
		}
		return fieldCRID, platformNone
	case "mid":
		if role == uspsbiz.RoleReturnLabelOwner {
			return fieldReturnsMID, platformNone
		}
		return fieldMID, platformNone
	case "manifestmid":
		return fieldManifestMID, platformNone
	case "accountnumber", "accounttype":
		return fieldEPS, platformNone
	}
	if f, ok := fieldCodes[d.Code]; ok {
		return f, platformNone
	}
	return "", platformNone
}
