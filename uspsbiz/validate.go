package uspsbiz

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/nsalink/nsalink/usps"
)

// AccountCredentials are the identifiers a customer types after linking,
// as typed: the parsers remove spaces and dashes.
type AccountCredentials struct {
	CRID        string
	MID         string // outbound ("Master") MID
	ManifestMID string // label ("Manifest") MID
	EPS         string // EPS (EPA) account number
}

// Verdict is the outcome of one field's check.
type Verdict string

// Verdicts.
const (
	// VerdictValid: USPS accepted the field.
	VerdictValid Verdict = "valid"
	// VerdictMalformed: the format check failed; no USPS call was made.
	VerdictMalformed Verdict = "malformed"
	// VerdictRejected: USPS rejected the field (see Code and Reason).
	VerdictRejected Verdict = "rejected"
	// VerdictUnchecked: well formed, but USPS has not confirmed it because
	// another field failed first.
	VerdictUnchecked Verdict = "unchecked"
)

// FieldVerdict is the verdict on one field with a reason a host can show.
type FieldVerdict struct {
	Verdict Verdict
	Reason  string
	Code    string // USPS's code when it rejected the field
	Err     error  // the *FieldError of a malformed field
}

// CredentialsVerdict is ValidateCredentials's answer.
type CredentialsVerdict struct {
	CRID, MID, ManifestMID, EPS FieldVerdict

	// The parsed identifiers (set for the well-formed fields).
	ParsedCRID        usps.CRID
	ParsedMID         usps.MID
	ParsedManifestMID usps.MID
	ParsedEPS         usps.EPSAccount

	// EPA is the payment account's status when it was learned.
	EPA EPAStatus
	// Payment is the payment authorization token (EPS account as PAYER and
	// RATE_HOLDER) when every field is valid; labels can use it for 8 hours.
	Payment *PaymentAuthorization
	// Calls is how many Payments API calls were made (token calls aside).
	Calls int
}

// OK reports whether every field is valid and a payment token came back.
func (v *CredentialsVerdict) OK() bool {
	return v.CRID.Verdict == VerdictValid && v.MID.Verdict == VerdictValid &&
		v.ManifestMID.Verdict == VerdictValid && v.EPS.Verdict == VerdictValid && v.Payment != nil
}

// Fields returns the field verdicts by FieldCRID, FieldMID, FieldManifestMID
// and FieldEPS.
func (v *CredentialsVerdict) Fields() map[string]FieldVerdict {
	return map[string]FieldVerdict{usps.FieldCRID: v.CRID, usps.FieldMID: v.MID, usps.FieldManifestMID: v.ManifestMID, usps.FieldEPS: v.EPS}
}

// ValidateCredentials checks a customer's CRID, MID, manifest MID and EPS
// number and, when all are good, returns the payment authorization token
// that labels need. platformCRID is the platform's own CRID (PLATFORM role).
//
// Order and cost, in calls to the Payments API (USPS's default quota is 60
// an hour; a platform token call, when none is cached, is extra and counts
// against the OAuth API):
//
//  1. Format check of all four fields (usps.ParseCRID, usps.ParseMID,
//     usps.ParseManifestMID, usps.ParseEPSAccount). Any malformed field: 0 calls,
//     the others are VerdictUnchecked.
//  2. Payment authorization with the EPS account as PAYER and RATE_HOLDER,
//     the CRID, MID and manifest MID as LABEL_OWNER and platformCRID as
//     PLATFORM. USPS checks the EPS account there ("must be active in
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
// Payments calls use the platform's own token (see AuthorizePayment).
func (c *Client) ValidateCredentials(ctx context.Context, in AccountCredentials, platformCRID usps.CRID) (*CredentialsVerdict, error) {
	if !platformCRID.Valid() {
		return nil, fmt.Errorf("uspsbiz: ValidateCredentials: platform CRID %q must be 2 to 18 digits", truncate(string(platformCRID), 20))
	}
	v := &CredentialsVerdict{}
	malformed := false
	check := func(fv *FieldVerdict, err error) {
		if err != nil {
			var fe *usps.FieldError
			errors.As(err, &fe)
			*fv = FieldVerdict{Verdict: VerdictMalformed, Reason: fe.Reason, Err: err}
			malformed = true
			return
		}
		*fv = FieldVerdict{Verdict: VerdictUnchecked}
	}
	var err error
	v.ParsedCRID, err = usps.ParseCRID(in.CRID)
	check(&v.CRID, err)
	v.ParsedMID, err = usps.ParseMID(in.MID)
	check(&v.MID, err)
	v.ParsedManifestMID, err = usps.ParseManifestMID(in.ManifestMID)
	check(&v.ManifestMID, err)
	v.ParsedEPS, err = usps.ParseEPSAccount(in.EPS)
	check(&v.EPS, err)
	if malformed {
		return v, nil
	}

	roles := NewRoles().
		Payer(v.ParsedCRID, v.ParsedEPS).
		RateHolder(v.ParsedCRID, v.ParsedEPS).
		LabelOwner(v.ParsedCRID, v.ParsedMID, v.ParsedManifestMID).
		Platform(platformCRID)
	built, err := roles.Build()
	if err != nil {
		return nil, err // cannot happen with parsed identifiers
	}
	v.Calls++
	pa, err := c.AuthorizePayment(ctx, roles)
	if err == nil {
		v.Payment = pa
		v.EPA = EPAActive
		for _, fv := range []*FieldVerdict{&v.CRID, &v.MID, &v.ManifestMID, &v.EPS} {
			*fv = FieldVerdict{Verdict: VerdictValid}
		}
		return v, nil
	}
	var ae *APIError
	if !errors.As(err, &ae) || (ae.StatusCode != http.StatusBadRequest && ae.StatusCode != http.StatusNotFound) {
		return nil, err
	}
	rejected := map[string]FieldVerdict{}
	for _, d := range ae.Errors {
		field, platform := fieldOf(d, built)
		switch {
		case platform:
			return nil, fmt.Errorf("uspsbiz: ValidateCredentials: USPS rejected the platform's CRID (PLATFORM role): %w", err)
		case field == "":
			return nil, err
		}
		if _, dup := rejected[field]; !dup {
			rejected[field] = FieldVerdict{Verdict: VerdictRejected, Code: d.Code, Reason: detailReason(d)}
		}
		if st, ok := epaCodes[d.Code]; ok {
			v.EPA = st
			rejected[field] = FieldVerdict{Verdict: VerdictRejected, Code: d.Code, Reason: st.Message()}
		}
	}
	if len(rejected) == 0 {
		if ae.StatusCode == http.StatusNotFound {
			// A bare 404 from the payments API: the account is unknown.
			rejected[usps.FieldEPS] = FieldVerdict{Verdict: VerdictRejected, Reason: EPANotFound.Message()}
			v.EPA = EPANotFound
		} else {
			return nil, err
		}
	}
	for field, fv := range rejected {
		*v.field(field) = fv
	}
	if _, epsRejected := rejected[usps.FieldEPS]; !epsRejected {
		v.Calls++
		epa, lerr := c.LookupEPA(ctx, v.ParsedEPS)
		switch {
		case lerr != nil:
			// Leave the EPS unchecked; the other verdicts stand.
		case epa.Status == EPAActive:
			v.EPA = EPAActive
			v.EPS = FieldVerdict{Verdict: VerdictValid}
		default:
			v.EPA = epa.Status
			v.EPS = FieldVerdict{Verdict: VerdictRejected, Code: epa.Code, Reason: epa.Status.Message()}
		}
	}
	return v, nil
}

func (v *CredentialsVerdict) field(name string) *FieldVerdict {
	switch name {
	case usps.FieldCRID:
		return &v.CRID
	case usps.FieldMID:
		return &v.MID
	case usps.FieldManifestMID:
		return &v.ManifestMID
	}
	return &v.EPS
}

func detailReason(d ErrorDetail) string {
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
	"160221": usps.FieldMID,         // role requires MID
	"160222": usps.FieldManifestMID, // role requires manifestMID
	"160224": usps.FieldEPS,         // accountNumber required for EPS
}

// fieldOf attributes one USPS error detail to a customer field, using its
// code and its source.parameter (e.g. "roles[2].MID", "roles.CRID",
// "accountNumber"). platform is true when it concerns the PLATFORM role.
func fieldOf(d ErrorDetail, roles []Role) (field string, platform bool) {
	if _, ok := epaCodes[d.Code]; ok {
		return usps.FieldEPS, false
	}
	p := d.Source.Parameter
	role := RoleName("")
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
		if role == RolePlatform {
			return "", true
		}
		return usps.FieldCRID, false
	case "mid":
		return usps.FieldMID, false
	case "manifestmid":
		return usps.FieldManifestMID, false
	case "accountnumber", "accounttype":
		return usps.FieldEPS, false
	}
	if f, ok := fieldCodes[d.Code]; ok {
		return f, false
	}
	return "", false
}
