package linking

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
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
}

// Keys of the customer-entered fields, in FieldProblem.Field and in the
// form and JSON bodies of the credentials handler.
const (
	fieldCRID        = "crid"
	fieldMID         = "mid"
	fieldManifestMID = "manifest_mid"
	fieldEPS         = "eps"
)

// FieldProblem is one rejected field, in words a customer can act on.
type FieldProblem struct {
	Field   string // "crid", "mid", "manifest_mid" or "eps"
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
}

// parseCredentials checks every field and reports all problems at once, as
// a *CredentialsError.
func parseCredentials(in CredentialsInput) (parsedCredentials, error) {
	var p parsedCredentials
	var problems []FieldProblem
	add := func(field string, err error) {
		var fe *usps.FieldError
		msg := err.Error()
		if errors.As(err, &fe) {
			msg = fe.Field + ": " + fe.Reason
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
	p, err := parseCredentials(in)
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
	CRID, MID, ManifestMID, EPS fieldVerdict

	// EPAActive is set when USPS reported the payment account active;
	// EPACode is USPS's code (100001–100007) when it reported a problem.
	// Both are zero when the account was not checked.
	EPAActive bool
	EPACode   string
	// Payment is the payment authorization token (EPS account as PAYER and
	// RATE_HOLDER) when every field is valid; labels can use it for 8 hours.
	Payment *uspsbiz.PaymentAuthorization
	// Calls is how many Payments API calls were made (token calls aside).
	Calls int
}

// ok reports whether every field is valid and a payment token came back.
func (v *credentialsVerdict) ok() bool {
	return v.CRID.Verdict == verdictValid && v.MID.Verdict == verdictValid &&
		v.ManifestMID.Verdict == verdictValid && v.EPS.Verdict == verdictValid && v.Payment != nil
}

func (v *credentialsVerdict) field(name string) *fieldVerdict {
	switch name {
	case fieldCRID:
		return &v.CRID
	case fieldMID:
		return &v.MID
	case fieldManifestMID:
		return &v.ManifestMID
	}
	return &v.EPS
}

// paymentRequest is the payment authorization of a linked customer: their
// EPS account pays and holds the contract rates, their CRID and MIDs own
// the labels, and the platform is PLATFORM.
func paymentRequest(p parsedCredentials, platformCRID usps.CRID) uspsbiz.PaymentRequest {
	return uspsbiz.PaymentRequest{Roles: []uspsbiz.Role{
		{Name: uspsbiz.RolePayer, CRID: p.CRID, AccountType: uspsbiz.AccountEPS, Account: p.EPS},
		{Name: uspsbiz.RoleRateHolder, CRID: p.CRID, AccountType: uspsbiz.AccountEPS, Account: p.EPS},
		{Name: uspsbiz.RoleLabelOwner, CRID: p.CRID, MID: p.MID, ManifestMID: p.ManifestMID},
		{Name: uspsbiz.RolePlatform, CRID: platformCRID},
	}}
}

// checkCredentials checks a customer's CRID, MID, manifest MID and EPS
// number with USPS and, when all are good, returns the payment
// authorization token that labels need.
//
// Order and cost, in calls to the Payments API (USPS's default quota is 60
// an hour; a platform token call, when none is cached, is extra and counts
// against the OAuth API):
//
//  1. Format check of all four fields (parseCredentials). Any malformed
//     field: 0 calls, the others are unchecked.
//  2. Payment authorization with the EPS account as PAYER and RATE_HOLDER,
//     the CRID, MID and manifest MID as LABEL_OWNER and the platform's CRID
//     as PLATFORM. USPS checks the EPS account there ("must be active in
//     EPS") and answers 100001–100007 like the payment-account lookup
//     does, so the lookup is not made first: success is 1 call, and an
//     EPA problem (not found, not active such as ACH pending, no or
//     inactive payment method, card trouble, low Trust balance) is 1 call.
//  3. Only when USPS rejects the authorization for other fields (CRID or
//     MID not enrolled, …) without a 100001–100007 code, one EPA lookup
//     tells whether the EPS account is fine too, so that the customer
//     learns every problem at once: 2 calls.
//
// So: happy path 1; malformed input 0; EPA problem 1; CRID/MID problem
// with a good or bad EPA 2. A 401/403/429/5xx (or a WithBudget refusal)
// is returned as the error with no verdict; so is a rejection USPS does not
// tie to a field, or one of the PLATFORM role (the platform's CRID).
// Payments calls use the platform's own token.
func checkCredentials(ctx context.Context, c *uspsbiz.Client, in CredentialsInput, platformCRID usps.CRID) (*credentialsVerdict, error) {
	v := &credentialsVerdict{}
	p, err := parseCredentials(in)
	if err != nil {
		var ce *CredentialsError
		if !errors.As(err, &ce) {
			return nil, err
		}
		for _, f := range []*fieldVerdict{&v.CRID, &v.MID, &v.ManifestMID, &v.EPS} {
			*f = fieldVerdict{Verdict: verdictUnchecked}
		}
		for _, f := range ce.Fields {
			*v.field(f.Field) = fieldVerdict{Verdict: verdictMalformed, Reason: f.Message}
		}
		return v, nil
	}

	req := paymentRequest(p, platformCRID)
	v.Calls++
	pa, err := c.AuthorizePayment(ctx, req)
	if err == nil {
		v.Payment = pa
		v.EPAActive = true
		for _, fv := range []*fieldVerdict{&v.CRID, &v.MID, &v.ManifestMID, &v.EPS} {
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
		field, platform := fieldOf(d, isEPA, req.Roles)
		switch {
		case platform:
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
	for _, fv := range []*fieldVerdict{&v.CRID, &v.MID, &v.ManifestMID, &v.EPS} {
		*fv = fieldVerdict{Verdict: verdictUnchecked}
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
		case epa.Active:
			v.EPAActive = true
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

// fieldOf attributes one USPS error detail to a customer field, using its
// code (isEPA: one of 100001–100007) and its parameter (e.g.
// "roles[2].MID", "roles.CRID", "accountNumber"). platform is true when it
// concerns the PLATFORM role.
func fieldOf(d uspsbiz.ErrorDetail, isEPA bool, roles []uspsbiz.Role) (field string, platform bool) {
	if isEPA {
		return fieldEPS, false
	}
	p := d.Parameter
	role := uspsbiz.RoleName("")
	if i := strings.Index(p, "["); i >= 0 {
		if j := strings.Index(p[i:], "]"); j > 0 {
			if n, err := strconv.Atoi(p[i+1 : i+j]); err == nil && n >= 0 && n < len(roles) {
				role = roles[n].Name
			}
		}
	}
	name := p
	if i := strings.LastIndexAny(p, ".]"); i >= 0 {
		name = p[i+1:]
	}
	switch strings.ToLower(name) {
	case "crid":
		if role == uspsbiz.RolePlatform {
			return "", true
		}
		return fieldCRID, false
	case "mid":
		return fieldMID, false
	case "manifestmid":
		return fieldManifestMID, false
	case "accountnumber", "accounttype":
		return fieldEPS, false
	}
	if f, ok := fieldCodes[d.Code]; ok {
		return f, false
	}
	return "", false
}
