package uspsbiz

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/go-querystring/query"

	"github.com/nsalink/nsalink/internal/httpx"
	"github.com/nsalink/nsalink/usps"
)

// Payments API routes (path templates; the account number never appears in
// a route, an error or a log line).
const (
	routePaymentAccount = "/payments/v3/payment-account/{accountNumber}"
	routePaymentAuth    = "/payments/v3/payment-authorization"
)

// paymentTokenLifetime is how long USPS says a payment authorization token
// is valid.
const paymentTokenLifetime = 8 * time.Hour

// epaCodes are USPS's codes for a problem with an Enterprise Payment Account
// (docs/usps.md#payment-error-codes); EPA.Code lists their meanings.
var epaCodes = map[string]bool{
	"100001": true, "100002": true, "100003": true, "100004": true,
	"100005": true, "100006": true, "100007": true,
}

// epaCodeNotFound is the code of an unknown account, also used for a bare 404.
const epaCodeNotFound = "100001"

// paymentAccountQuery is the query string of GET /payments/v3/payment-account/{n}.
type paymentAccountQuery struct {
	AccountType string `url:"accountType"`
	Amount      string `url:"amount,omitempty"` // dollars, for sufficientFunds
}

// EPA is the answer of a payment-account lookup.
type EPA struct {
	Account usps.EPSAccount
	// Active reports that USPS knows the account and it can pay.
	Active bool
	// Code is USPS's reason when the account is not active (docs/usps.md#payment-error-codes), as APIError.HasCode also finds it on AuthorizePayment's errors:
	//   - 100001: no EPS account with that number (a 404 with a USPS error
	//     body is reported as 100001 too; one without, such as a proxy's
	//     HTML page, is an error);
	//   - 100002: the account exists but is not Active, e.g. an ACH account
	//     still waiting for its micro-debit verification;
	//   - 100003: no primary payment method;
	//   - 100004: the payment method is not active, e.g. ACH pending
	//     verification;
	//   - 100005 (try again later) and 100006 (check the card details):
	//     card trouble;
	//   - 100007: the Trust balance is too low.
	// Err is USPS's full answer.
	Code string
	Err  *APIError
	// NonProfit is USPS's nonProfitStatus (meaningful for permits).
	NonProfit bool
	// SufficientFunds is set only by CheckFunds.
	SufficientFunds *bool
}

// Format prints the account redacted and Err filtered, for every verb:
// fmt's %s of the *APIError field would otherwise print its raw body,
// which may echo account numbers.
func (e EPA) Format(f fmt.State, verb rune) {
	funds := "unknown"
	if e.SufficientFunds != nil {
		funds = strconv.FormatBool(*e.SufficientFunds)
	}
	errText := ""
	if e.Err != nil {
		errText = e.Err.Error()
	}
	out := fmt.Sprintf("uspsbiz.EPA{Account: %s, Active: %t, Code: %s, NonProfit: %t, SufficientFunds: %s, Err: %s}",
		e.Account.String(), e.Active, cleanCode(e.Code), e.NonProfit, funds, strconv.Quote(errText))
	if verb == 'q' {
		out = strconv.Quote(out)
	}
	_, _ = f.Write([]byte(out))
}

// LookupEPA asks USPS about an EPS account (GET
// /payments/v3/payment-account/{n}?accountType=EPS), always with the
// platform's own token, also on a ForMerchant client (the Payments spec
// lists only client credentials). One call to the payments API.
//
// A USPS answer about the account (active, or codes 100001–100007, or 404)
// is an *EPA with a nil error; other failures (401, 429, 5xx, a malformed
// number) are errors.
func (c *Client) LookupEPA(ctx context.Context, eps usps.EPSAccount) (*EPA, error) {
	return c.lookupEPA(ctx, eps, nil)
}

// CheckFunds is LookupEPA with USPS's amount check: EPA.SufficientFunds
// says whether the account could pay amount now.
func (c *Client) CheckFunds(ctx context.Context, eps usps.EPSAccount, amount usps.Cents) (*EPA, error) {
	if amount < 0 {
		return nil, fmt.Errorf("uspsbiz: CheckFunds: negative amount %s", amount)
	}
	return c.lookupEPA(ctx, eps, &amount)
}

func (c *Client) lookupEPA(ctx context.Context, eps usps.EPSAccount, amount *usps.Cents) (*EPA, error) {
	if err := checkEPS(eps); err != nil {
		return nil, err
	}
	wq := paymentAccountQuery{AccountType: "EPS"}
	if amount != nil {
		wq.Amount = amount.String()
	}
	q, err := query.Values(wq)
	if err != nil {
		return nil, fmt.Errorf("uspsbiz: payment account: %w", err)
	}
	var wire struct {
		AccountType     string `json:"accountType"`
		AccountNumber   string `json:"accountNumber"`
		NonProfitStatus bool   `json:"nonProfitStatus"`
		SufficientFunds *bool  `json:"sufficientFunds"`
	}
	_, err = c.asPlatform().do(ctx, call{
		method: http.MethodGet,
		path:   "/payments/v3/payment-account/" + url.PathEscape(eps.Reveal()),
		route:  routePaymentAccount,
		api:    APIPayments,
		query:  q,
		class:  httpx.Idempotent,
	}, &wire)
	if err != nil {
		var ae *APIError
		if !errors.As(err, &ae) {
			return nil, err
		}
		if code := epaCode(ae); code != "" {
			return &EPA{Account: eps, Code: code, Err: ae}, nil
		}
		if ae.StatusCode == http.StatusNotFound && ae.IsUSPSBody() {
			return &EPA{Account: eps, Code: epaCodeNotFound, Err: ae}, nil
		}
		return nil, err
	}
	// An empty {} or null body is not an active account: USPS names the
	// account it describes.
	if wire.AccountNumber != eps.Reveal() || (wire.AccountType != "" && wire.AccountType != "EPS") {
		return nil, &decodeError{Route: routePaymentAccount, Status: http.StatusOK, Err: errors.New("the answer does not describe the account asked about")}
	}
	return &EPA{Account: eps, Active: true, NonProfit: wire.NonProfitStatus, SufficientFunds: wire.SufficientFunds}, nil
}

// asPlatform returns c authenticating with the platform's own token: the
// Payments spec offers only the client-credentials flow, so payment calls
// use it even on a ForMerchant client.
func (c *Client) asPlatform() *Client {
	if c.auth == tokenSource(c.platform) {
		return c
	}
	p := *c
	p.auth = c.platform
	return &p
}

func epaCode(ae *APIError) string {
	for _, d := range ae.Errors {
		if epaCodes[d.Code] {
			return d.Code
		}
	}
	return ""
}

// RoleName is a party's role in a payment authorization.
type RoleName string

// Roles of the Payments spec (§4.1).
const (
	RolePayer                 RoleName = "PAYER"
	RoleRateHolder            RoleName = "RATE_HOLDER"
	RoleLabelOwner            RoleName = "LABEL_OWNER"
	RoleShipper               RoleName = "SHIPPER"
	RoleMailOwner             RoleName = "MAIL_OWNER"
	RolePlatform              RoleName = "PLATFORM"
	RoleReturnLabelPayer      RoleName = "RETURN_LABEL_PAYER"
	RoleReturnLabelRateHolder RoleName = "RETURN_LABEL_RATE_HOLDER"
	RoleReturnLabelOwner      RoleName = "RETURN_LABEL_OWNER"
	RoleLabelProvider         RoleName = "LABEL_PROVIDER"
)

// PaymentAccountType is a Role's accountType.
type PaymentAccountType string

// Payment account types.
const (
	AccountEPS    PaymentAccountType = "EPS"
	AccountPermit PaymentAccountType = "PERMIT"
	AccountMeter  PaymentAccountType = "METER" // PC Postage providers only
	AccountOMAS   PaymentAccountType = "OMAS"
)

// Role is one party of a payment authorization (see PaymentRequest for
// what each role needs).
type Role struct {
	Name        RoleName
	CRID        usps.CRID
	MID         usps.MID
	ManifestMID usps.MID
	AccountType PaymentAccountType
	// Account is the EPS (or, for METER, the meter) account number.
	Account      usps.EPSAccount
	PermitNumber string
	PermitZIP    string
}

type roleWire struct {
	RoleName      RoleName           `json:"roleName"`
	CRID          usps.CRID          `json:"CRID,omitempty"`
	MID           usps.MID           `json:"MID,omitempty"`
	ManifestMID   usps.MID           `json:"manifestMID,omitempty"`
	AccountType   PaymentAccountType `json:"accountType,omitempty"`
	AccountNumber string             `json:"accountNumber,omitempty"`
	PermitNumber  string             `json:"permitNumber,omitempty"`
	PermitZIP     string             `json:"permitZIP,omitempty"`
}

func (r Role) wire() roleWire {
	return roleWire{RoleName: r.Name, CRID: r.CRID, MID: r.MID, ManifestMID: r.ManifestMID,
		AccountType: r.AccountType, AccountNumber: r.Account.Reveal(), PermitNumber: r.PermitNumber, PermitZIP: r.PermitZIP}
}

// ErrInvalidRoles matches every *RoleError.
var ErrInvalidRoles = errors.New("uspsbiz: invalid payment roles")

// RoleError is a PaymentRequest that USPS would reject; it is found before
// any call. Code is the USPS code USPS would answer with (e.g. "160227").
type RoleError struct {
	Role   RoleName // empty when the set as a whole is wrong
	Index  int      // position of the role in the set, -1 for the set
	Code   string
	Reason string
}

func (e *RoleError) Error() string {
	if e.Role == "" {
		return fmt.Sprintf("uspsbiz: payment roles: %s (USPS %s)", e.Reason, e.Code)
	}
	return fmt.Sprintf("uspsbiz: payment role %s: %s (USPS %s)", e.Role, e.Reason, e.Code)
}

// Is makes errors.Is(err, ErrInvalidRoles) true.
func (e *RoleError) Is(target error) bool { return target == ErrInvalidRoles }

// PaymentRequest is the set of parties of a payment authorization.
// AuthorizePayment enforces the Payments spec's role rules (docs/usps.md#payment-role-rules) before anything is sent:
//
//   - each role at most once (USPS 160227);
//   - LABEL_OWNER always (160229); PAYER unless PCPostage (160228);
//   - PAYER, RATE_HOLDER and their RETURN_LABEL_ twins: AccountType and
//     CRID (160223, 160218);
//   - LABEL_OWNER and RETURN_LABEL_OWNER: CRID, MID, ManifestMID (160218,
//     160221, 160222);
//   - SHIPPER, MAIL_OWNER, PLATFORM: CRID (160218);
//   - LABEL_PROVIDER: CRID and an EPS account only (160372);
//   - AccountType one of EPS, PERMIT, METER, OMAS (160390); EPS and METER
//     need Account (160224, 160289); PERMIT and OMAS need PermitNumber and
//     a 5-digit PermitZIP (160225, 160226); METER only in the PC Postage
//     flow (160290);
//   - every CRID, MID and EPS number well formed.
//
// A linked customer's labels use the roles of the linking package's payment
// model: their CRID and MIDs as LABEL_OWNER and the platform's CRID as
// PLATFORM, their EPS account as RATE_HOLDER, and as PAYER either theirs
// or the platform's own.
type PaymentRequest struct {
	Roles []Role
	// PCPostage marks the PC Postage flow: PAYER becomes optional and METER
	// accounts are allowed.
	PCPostage bool
}

// check reports the first rule the request breaks, as a *RoleError.
func (r PaymentRequest) check() error {
	if len(r.Roles) == 0 {
		return &RoleError{Index: -1, Code: "160229", Reason: "no roles; LABEL_OWNER is required"}
	}
	seen := map[RoleName]bool{}
	for i, role := range r.Roles {
		if err := r.checkRole(i, role); err != nil {
			return err
		}
		if seen[role.Name] {
			return &RoleError{Role: role.Name, Index: i, Code: "160227", Reason: "role given more than once"}
		}
		seen[role.Name] = true
	}
	if !seen[RoleLabelOwner] {
		return &RoleError{Index: -1, Code: "160229", Reason: "LABEL_OWNER is required"}
	}
	if !seen[RolePayer] && !r.PCPostage {
		return &RoleError{Index: -1, Code: "160228", Reason: "PAYER is required outside the PC Postage flow"}
	}
	return nil
}

func (r PaymentRequest) checkRole(i int, role Role) error {
	bad := func(code, reason string) error {
		return &RoleError{Role: role.Name, Index: i, Code: code, Reason: reason}
	}
	var needAccount, needMIDs bool
	switch role.Name {
	case RolePayer, RoleRateHolder, RoleReturnLabelPayer, RoleReturnLabelRateHolder, RoleLabelProvider:
		needAccount = true
	case RoleLabelOwner, RoleReturnLabelOwner:
		needMIDs = true
	case RoleShipper, RoleMailOwner, RolePlatform:
	case "":
		return bad("160219", "roleName is required")
	default:
		return bad("160219", fmt.Sprintf("unknown roleName %q", truncate(string(role.Name), 30)))
	}
	if role.CRID == "" {
		return bad("160218", "CRID is required")
	}
	if !role.CRID.Valid() {
		return bad("160218", "CRID must be 2 to 18 digits")
	}
	if needMIDs {
		if role.MID == "" {
			return bad("160221", "MID is required")
		}
		if !role.MID.Valid() {
			return bad("160221", "MID must be 6 digits starting 0-8 or 9 digits starting 9")
		}
		if role.ManifestMID == "" {
			return bad("160222", "manifestMID is required")
		}
		if !role.ManifestMID.Valid() {
			return bad("160222", "manifestMID must be 6 digits starting 0-8 or 9 digits starting 9")
		}
	} else if role.MID != "" && !role.MID.Valid() || role.ManifestMID != "" && !role.ManifestMID.Valid() {
		return bad("160221", "MID must be 6 digits starting 0-8 or 9 digits starting 9")
	}
	if role.AccountType == "" {
		if needAccount {
			return bad("160223", "accountType is required")
		}
		return nil
	}
	switch role.AccountType {
	case AccountEPS:
		if role.Account == "" {
			return bad("160224", "accountNumber is required for EPS")
		}
		if !role.Account.Valid() {
			return bad("160224", "EPS accountNumber must be 10 digits")
		}
	case AccountMeter:
		if !r.PCPostage {
			return bad("160290", "METER is only for PC Postage providers")
		}
		if role.Account == "" {
			return bad("160289", "accountNumber is required for METER")
		}
	case AccountPermit, AccountOMAS:
		if role.PermitNumber == "" {
			return bad("160225", "permitNumber is required for "+string(role.AccountType))
		}
		if z := role.PermitZIP; len(z) != 5 || !allDigits(z) {
			return bad("160226", "permitZIP must be 5 digits")
		}
	default:
		return bad("160390", "accountType must be PERMIT, METER, OMAS or EPS")
	}
	if role.Name == RoleLabelProvider && role.AccountType != AccountEPS {
		return bad("160372", "LABEL_PROVIDER only supports EPS")
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// PaymentAuthorization is USPS's payment authorization token with the
// roles it covers. Labels send Token as X-Payment-Authorization-Token.
type PaymentAuthorization struct {
	Token Secret
	// Expiry is 8 hours (USPS's lifetime of the token) after the request
	// was sent, on the client's clock (WithClock).
	Expiry time.Time
	Roles  []Role
}

// AuthorizePayment checks req (see PaymentRequest) and then asks USPS for a payment
// authorization token (POST /payments/v3/payment-authorization), always
// with the platform's own token. The call is not idempotent: it is never retried
// once sent. USPS says to reuse the token for its 8 hours rather than call
// for every label.
//
// An EPA problem of the PAYER (or RATE_HOLDER, LABEL_PROVIDER) account comes
// back as an *APIError with code 100001–100007 (see EPA.Code); find it with
// APIError.HasCode.
func (c *Client) AuthorizePayment(ctx context.Context, req PaymentRequest) (*PaymentAuthorization, error) {
	if err := req.check(); err != nil {
		return nil, err
	}
	body := struct {
		Roles []roleWire `json:"roles"`
	}{Roles: make([]roleWire, len(req.Roles))}
	for i, r := range req.Roles {
		body.Roles[i] = r.wire()
	}
	// The lifetime counts from before the request: a conservative expiry.
	start := c.now()
	var out struct {
		Token string     `json:"paymentAuthorizationToken"`
		Roles []roleWire `json:"roles"`
	}
	if _, err := c.asPlatform().do(ctx, call{
		method: http.MethodPost,
		path:   routePaymentAuth,
		route:  routePaymentAuth,
		api:    APIPayments,
		body:   body,
		class:  httpx.NonIdempotent,
	}, &out); err != nil {
		return nil, err
	}
	if out.Token == "" {
		return nil, &decodeError{Route: routePaymentAuth, Status: http.StatusOK, Err: errors.New("no paymentAuthorizationToken")}
	}
	pa := &PaymentAuthorization{Token: Secret(out.Token), Expiry: start.Add(paymentTokenLifetime)}
	for _, w := range out.Roles {
		pa.Roles = append(pa.Roles, Role{Name: w.RoleName, CRID: w.CRID, MID: w.MID, ManifestMID: w.ManifestMID,
			AccountType: w.AccountType, Account: usps.EPSAccount(w.AccountNumber), PermitNumber: w.PermitNumber, PermitZIP: w.PermitZIP})
	}
	return pa, nil
}

// checkEPS returns nil for an account number in the form
// usps.ParseEPSAccount returns, and otherwise the *usps.FieldError saying
// what is wrong with it, before any USPS call is spent.
func checkEPS(eps usps.EPSAccount) error {
	if eps.Valid() {
		return nil
	}
	_, err := usps.ParseEPSAccount(string(eps))
	if err == nil {
		err = &usps.FieldError{Field: usps.FieldEPS, Value: eps.String(), Reason: "is not in canonical form; use usps.ParseEPSAccount"}
	}
	return err
}
