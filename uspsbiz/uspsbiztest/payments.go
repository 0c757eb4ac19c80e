package uspsbiztest

import (
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"slices"
)

// Codes the fake answers for LABEL_OWNER (and PLATFORM) checks. USPS's real
// codes for these cases are not public (docs/usps.md#unconfirmed): these are the
// fake's own and say so in their title. linking attributes errors to fields
// by source.parameter ("roles[i].CRID", "roles[i].MID", …), not by these codes.
const (
	codeCRIDNotFound   = "169901" // no business account with this CRID
	codeMIDNotEnrolled = "169902" // MID not enrolled in USPS Ship for this CRID
	// codeEPSNotOfCRID: a PAYER or RATE_HOLDER EPS account that belongs to
	// another business than the role's CRID.
	codeEPSNotOfCRID = "169903"
	// codeAccountNotGranted: a customer (merchant) token used with an EPS
	// account of another business account than the one that granted it.
	codeAccountNotGranted = "169904"
)

var (
	midPattern  = regexp.MustCompile(`^(\d{6}|\d{9})$`)
	zip5Pattern = regexp.MustCompile(`^\d{5}$`)
)

func (s *Server) handlePaymentAccount(w http.ResponseWriter, r *http.Request) {
	const ver = "/payments/v3"
	g := s.authenticate(w, r, "payments")
	if g == nil {
		return
	}
	q := r.URL.Query()
	number := r.PathValue("accountNumber")
	if s.accountNotGranted(w, g, ver, number) {
		return
	}
	switch q.Get("accountType") {
	case "EPS":
	case "PERMIT":
		if !zip5Pattern.MatchString(q.Get("permitZIPCode")) {
			writeUSPSError(w, http.StatusBadRequest, ver, "permitZIPCode is required.", detail{Code: "160215", Title: "permitZIPCode is required.", Detail: "permitZIPCode is required when accountType is PERMIT.", Parameter: "permitZIPCode"})
			return
		}
		// The fake has no permits.
		writeUSPSError(w, http.StatusNotFound, ver, "Permit not found.")
		return
	default:
		writeUSPSError(w, http.StatusBadRequest, ver, "accountType is required.", detail{Code: "160220", Title: "accountType is required.", Detail: "accountType must be EPS or PERMIT.", Parameter: "accountType"})
		return
	}
	var amount *big.Rat
	if a := q.Get("amount"); a != "" {
		v, ok := new(big.Rat).SetString(a)
		if !ok || v.Sign() < 0 {
			writeUSPSError(w, http.StatusBadRequest, ver, "amount is invalid.", detail{Code: "000002", Title: "Invalid amount.", Detail: "amount must be a non-negative number.", Parameter: "amount"})
			return
		}
		amount = v
	}
	s.mu.Lock()
	e := s.res.epas[number]
	var cp EPA
	if e != nil {
		cp = *e
	}
	s.mu.Unlock()
	if e == nil {
		writeUSPSError(w, http.StatusBadRequest, ver, "Bad Request", withParam(epaNotFound, "account-number"))
		return
	}
	if d, bad := epaStateCodes[cp.State]; bad {
		writeUSPSError(w, http.StatusBadRequest, ver, "Bad Request", withParam(d, "account-number"))
		return
	}
	out := map[string]any{"accountType": "EPS", "accountNumber": number, "nonProfitStatus": cp.NonProfit}
	if amount != nil {
		cents := new(big.Rat).Mul(amount, big.NewRat(100, 1))
		out["sufficientFunds"] = cp.Funds == 0 || cents.Cmp(new(big.Rat).SetInt64(cp.Funds)) <= 0
	}
	writeJSON(w, http.StatusOK, out)
}

func withParam(d detail, p string) detail { d.Parameter = p; return d }

type wireRole struct {
	RoleName      string `json:"roleName"`
	CRID          string `json:"CRID,omitempty"`
	MID           string `json:"MID,omitempty"`
	ManifestMID   string `json:"manifestMID,omitempty"`
	AccountType   string `json:"accountType,omitempty"`
	AccountNumber string `json:"accountNumber,omitempty"`
	PermitNumber  string `json:"permitNumber,omitempty"`
	PermitZIP     string `json:"permitZIP,omitempty"`
}

var knownRoles = []string{"PAYER", "RATE_HOLDER", "LABEL_OWNER", "SHIPPER", "MAIL_OWNER", "PLATFORM",
	"RETURN_LABEL_PAYER", "RETURN_LABEL_RATE_HOLDER", "RETURN_LABEL_OWNER", "LABEL_PROVIDER"}

// handlePaymentAuthorization applies USPS's role rules in two passes: the
// shape of the roles (160218–160229, 160290, 160372, 160390; all problems
// at once), then the accounts (EPA codes 100001–100007, CRID and MID
// enrollment; all problems at once).
func (s *Server) handlePaymentAuthorization(w http.ResponseWriter, r *http.Request) {
	const ver = "/payments/v3"
	g := s.authenticate(w, r, "payments")
	if g == nil {
		return
	}
	var body struct {
		Roles []wireRole `json:"roles"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if errs := checkRoleShapes(body.Roles); len(errs) > 0 {
		s.mu.Lock()
		s.recordAuthorization(body.Roles, errs)
		s.mu.Unlock()
		writeUSPSError(w, http.StatusBadRequest, ver, "Bad Request", errs...)
		return
	}
	s.mu.Lock()
	errs := s.checkRoleAccounts(g, body.Roles)
	s.recordAuthorization(body.Roles, errs)
	var token string
	if len(errs) == 0 {
		token = "pat-" + randomHex(24)
		s.res.payTokens[token] = s.nowLocked().Add(accessTokenLifetime)
		s.recordPaymentRoles(token, body.Roles)
	}
	s.mu.Unlock()
	if len(errs) > 0 {
		writeUSPSError(w, http.StatusBadRequest, ver, "Bad Request", errs...)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"paymentAuthorizationToken": token, "roles": body.Roles})
}

func roleParam(i int, field string) string { return fmt.Sprintf("roles[%d].%s", i, field) }

func checkRoleShapes(roles []wireRole) []detail {
	var errs []detail
	add := func(code, title string, i int, field string) {
		errs = append(errs, detail{Code: code, Title: title, Detail: title, Parameter: roleParam(i, field)})
	}
	seen := map[string]bool{}
	for i, ro := range roles {
		if !slices.Contains(knownRoles, ro.RoleName) {
			add("160219", "The role requires a valid roleName.", i, "roleName")
			continue
		}
		if seen[ro.RoleName] {
			add("160227", "Duplicate roles are not allowed.", i, "roleName")
		}
		seen[ro.RoleName] = true
		if ro.CRID == "" {
			add("160218", "The role requires a CRID.", i, "CRID")
		}
		switch ro.RoleName {
		case "PAYER", "RETURN_LABEL_PAYER":
			if ro.AccountType == "" {
				add("160220", "The role requires an accountType of PERMIT or EPS.", i, "accountType")
			}
		case "RATE_HOLDER", "RETURN_LABEL_RATE_HOLDER", "LABEL_PROVIDER":
			if ro.AccountType == "" {
				add("160223", "The role requires an accountType.", i, "accountType")
			}
		case "LABEL_OWNER", "RETURN_LABEL_OWNER":
			if ro.MID == "" {
				add("160221", "The role requires a MID.", i, "MID")
			}
			if ro.ManifestMID == "" {
				add("160222", "The role requires a manifestMID.", i, "manifestMID")
			}
		}
		for _, m := range []struct{ field, v string }{{"MID", ro.MID}, {"manifestMID", ro.ManifestMID}} {
			if m.v != "" && !midPattern.MatchString(m.v) {
				add("160221", "The MID must be 6 or 9 digits.", i, m.field)
			}
		}
		switch ro.AccountType {
		case "":
		case "EPS":
			if ro.AccountNumber == "" {
				add("160224", "The role requires an accountNumber for accountType EPS.", i, "accountNumber")
			}
		case "METER":
			if ro.AccountNumber == "" {
				add("160289", "accountNumber is required for accountType METER.", i, "accountNumber")
			}
			add("160290", "accountType METER is only available to PC Postage providers.", i, "accountType")
		case "PERMIT", "OMAS":
			if ro.PermitNumber == "" {
				add("160225", "The role requires a permitNumber for accountType PERMIT.", i, "permitNumber")
			}
			if !zip5Pattern.MatchString(ro.PermitZIP) {
				add("160226", "The role requires a permitZipCode for accountType PERMIT.", i, "permitZIP")
			}
		default:
			add("160390", "accountType must be PERMIT, METER, OMAS or EPS.", i, "accountType")
		}
		if ro.RoleName == "LABEL_PROVIDER" && ro.AccountType != "" && ro.AccountType != "EPS" {
			add("160372", "LABEL_PROVIDER only supports accountType EPS.", i, "accountType")
		}
	}
	if !seen["PAYER"] {
		errs = append(errs, detail{Code: "160228", Title: "The PAYER role is required.", Detail: "The PAYER role is required.", Parameter: "roles"})
	}
	if !seen["LABEL_OWNER"] {
		errs = append(errs, detail{Code: "160229", Title: "The LABEL_OWNER role is required.", Detail: "The LABEL_OWNER role is required.", Parameter: "roles"})
	}
	return errs
}

// checkRoleAccounts runs with s.mu held.
func (s *Server) checkRoleAccounts(g *grant, roles []wireRole) []detail {
	var errs []detail
	for i, ro := range roles {
		if ro.AccountType == "EPS" {
			e := s.res.epas[ro.AccountNumber]
			switch {
			case e == nil:
				if !containsCode(errs, epaNotFound.Code) {
					errs = append(errs, withParam(epaNotFound, roleParam(i, "accountNumber")))
				}
			case ro.CRID != "" && s.accountByCRID(ro.CRID) != nil && !s.epsOfCRID(ro.AccountNumber, ro.CRID):
				errs = append(errs, detail{Code: codeEPSNotOfCRID, Title: "EPS account not of this CRID (uspsbiztest code).", Detail: "The EPS account belongs to another business.", Parameter: roleParam(i, "accountNumber")})
			case ro.RoleName == "RATE_HOLDER" || ro.RoleName == "RETURN_LABEL_RATE_HOLDER":
				// A rate holder's account must exist; it does not pay.
			default:
				if d, bad := epaStateCodes[e.State]; bad && !containsCode(errs, d.Code) {
					errs = append(errs, withParam(d, roleParam(i, "accountNumber")))
				}
			}
		}
		switch ro.RoleName {
		case "LABEL_OWNER", "RETURN_LABEL_OWNER":
			a := s.accountByCRID(ro.CRID)
			if a == nil {
				errs = append(errs, detail{Code: codeCRIDNotFound, Title: "CRID not found (uspsbiztest code).", Detail: "No business account has this CRID.", Parameter: roleParam(i, "CRID")})
				continue
			}
			for _, m := range []struct{ field, v string }{{"MID", ro.MID}, {"manifestMID", ro.ManifestMID}} {
				enrolled := slices.Contains(a.MIDs, m.v) || slices.Contains(a.ManifestMIDs, m.v)
				if ro.RoleName == "RETURN_LABEL_OWNER" && m.field == "MID" && len(a.ReturnsMIDs) > 0 {
					// Return labels carry a MID enrolled in USPS Ship Returns.
					enrolled = slices.Contains(a.ReturnsMIDs, m.v)
				}
				if !enrolled {
					errs = append(errs, detail{Code: codeMIDNotEnrolled, Title: "MID not enrolled (uspsbiztest code).", Detail: "The " + m.field + " is not enrolled in USPS Ship for this CRID.", Parameter: roleParam(i, m.field)})
				}
			}
		case "PLATFORM":
			if app := s.apps[g.ClientID]; app != nil && app.CRID != "" && app.CRID != ro.CRID {
				errs = append(errs, detail{Code: codeCRIDNotFound, Title: "Platform CRID mismatch (uspsbiztest code).", Detail: "The PLATFORM CRID is not the application's CRID.", Parameter: roleParam(i, "CRID")})
			}
		}
	}
	return errs
}

// epsOfCRID reports whether the EPS account belongs to the business with
// this CRID; s.mu held.
func (s *Server) epsOfCRID(number, crid string) bool {
	a := s.accounts[s.res.epaOwner[number]]
	return a != nil && a.CRID == crid
}

// accountNotGranted answers 403 and returns true when a customer's token
// (g.Username set) is used with an EPS account of another business: a
// merchant token reaches only the accounts of the business that granted
// it. Platform tokens are not restricted.
func (s *Server) accountNotGranted(w http.ResponseWriter, g *grant, ver, number string) bool {
	if g.Username == "" || number == "" {
		return false
	}
	s.mu.Lock()
	owner := s.res.epaOwner[number]
	s.mu.Unlock()
	if owner == g.Username {
		return false
	}
	writeUSPSError(w, http.StatusForbidden, ver, "Forbidden", detail{Code: codeAccountNotGranted, Title: "The account is not accessible with this token (uspsbiztest code).", Parameter: "accountNumber"})
	return true
}

func containsCode(ds []detail, code string) bool {
	return slices.ContainsFunc(ds, func(d detail) bool { return d.Code == code })
}

// PaymentTokenValid reports whether the fake issued the payment
// authorization token and it has not expired.
func (s *Server) PaymentTokenValid(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.res.payTokens[token]
	return ok && s.nowLocked().Before(exp)
}

// PaymentRole is one role of a payment authorization request, as the fake
// received it.
type PaymentRole struct {
	RoleName      string
	CRID          string
	MID           string
	ManifestMID   string
	AccountType   string
	AccountNumber string
}

// PaymentAuthorization is one payment authorization request the fake
// answered: the roles sent, in order, and the codes of its errors (none
// when a token was issued).
type PaymentAuthorization struct {
	Roles []PaymentRole
	Codes []string
}

// Role returns the role named name, and whether it was sent.
func (a PaymentAuthorization) Role(name string) (PaymentRole, bool) {
	for _, r := range a.Roles {
		if r.RoleName == name {
			return r, true
		}
	}
	return PaymentRole{}, false
}

// RoleNames lists the names of the roles sent, in order.
func (a PaymentAuthorization) RoleNames() []string {
	out := make([]string, len(a.Roles))
	for i, r := range a.Roles {
		out[i] = r.RoleName
	}
	return out
}

// recordAuthorization keeps a payment authorization request; s.mu held.
func (s *Server) recordAuthorization(roles []wireRole, errs []detail) {
	a := PaymentAuthorization{Roles: make([]PaymentRole, len(roles))}
	for i, r := range roles {
		a.Roles[i] = PaymentRole{RoleName: r.RoleName, CRID: r.CRID, MID: r.MID, ManifestMID: r.ManifestMID,
			AccountType: r.AccountType, AccountNumber: r.AccountNumber}
	}
	for _, d := range errs {
		a.Codes = append(a.Codes, d.Code)
	}
	s.res.authorizations = append(s.res.authorizations, a)
}

// PaymentAuthorizations returns the payment authorization requests
// answered so far (issued or refused), oldest first.
func (s *Server) PaymentAuthorizations() []PaymentAuthorization {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PaymentAuthorization, len(s.res.authorizations))
	for i, a := range s.res.authorizations {
		out[i] = PaymentAuthorization{Roles: slices.Clone(a.Roles), Codes: slices.Clone(a.Codes)}
	}
	return out
}
