package uspsbiztest

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"time"
)

// EPAState is the state of a fake Enterprise Payment Account, and the USPS
// code the Payments API answers for it.
type EPAState int

const (
	// EPAActive: usable; payment-account lookups answer 200.
	EPAActive EPAState = iota
	// EPAPendingACH: ACH payment method waiting for the customer to confirm
	// two micro-debits under $1.00 (see VerifyMicroDebits); USPS code
	// 100002 "not Active".
	EPAPendingACH
	// EPAInactive: 100002.
	EPAInactive
	// EPANoPaymentMethod: 100003, no primary payment method.
	EPANoPaymentMethod
	// EPAPaymentMethodInactive: 100004.
	EPAPaymentMethodInactive
	// EPACardUnavailable: 100005, credit card could not be validated; retry later.
	EPACardUnavailable
	// EPACardInvalid: 100006, credit card details to be checked.
	EPACardInvalid
	// EPAInsufficientTrust: 100007, Trust balance too low.
	EPAInsufficientTrust
)

var epaStateCodes = map[EPAState]detail{
	EPAPendingACH:            {Code: "100002", Title: "EPS account is not Active.", Detail: "The EPS account is not in an Active status."},
	EPAInactive:              {Code: "100002", Title: "EPS account is not Active.", Detail: "The EPS account is not in an Active status."},
	EPANoPaymentMethod:       {Code: "100003", Title: "No primary payment method.", Detail: "The EPS account does not have a primary payment method."},
	EPAPaymentMethodInactive: {Code: "100004", Title: "Payment method not Active.", Detail: "The primary payment method of the EPS account is not Active."},
	EPACardUnavailable:       {Code: "100005", Title: "Credit card validation failed.", Detail: "There was a problem validating the credit card. Please try again later."},
	EPACardInvalid:           {Code: "100006", Title: "Credit card validation failed.", Detail: "There was a problem validating the credit card. Please check the card details."},
	EPAInsufficientTrust:     {Code: "100007", Title: "Insufficient Trust balance.", Detail: "The Trust balance of the EPS account is insufficient."},
}

var epaNotFound = detail{Code: "100001", Title: "EPS account not found.", Detail: "No EPS account exists with the given account number."}

// EPA is an Enterprise Payment Account seeded on a business account.
type EPA struct {
	AccountNumber string
	State         EPAState
	NonProfit     bool
	// Funds bounds the amount check of payment-account lookups, in cents
	// (0: any amount is covered).
	Funds int64
	// MicroDebits are the two ACH test debits, in cents (1–99), of an
	// EPAPendingACH account; drawn at random when left zero.
	MicroDebits [2]int
}

// resources holds the state of the fake's resource APIs. Guarded by s.mu.
type resources struct {
	epas         map[string]*EPA   // by account number
	epaOwner     map[string]string // account number → username
	published    []Price
	contracts    map[string][]Price // by EPS account number
	extras       []ExtraServicePrice
	contractOnly map[string]bool // mail classes that need a contract
	tracking     map[string]*TrackedPackage
	quotas       map[string]*quota
	payTokens    map[string]time.Time // payment authorization token → expiry
	labels       labelState           // labels.go
	// authorizations are the payment authorization requests answered.
	authorizations []PaymentAuthorization
}

func (r *resources) init() {
	r.epas = map[string]*EPA{}
	r.epaOwner = map[string]string{}
	r.contracts = map[string][]Price{}
	r.contractOnly = map[string]bool{}
	r.tracking = map[string]*TrackedPackage{}
	r.quotas = map[string]*quota{}
	r.payTokens = map[string]time.Time{}
	r.labels.init()
}

// addEPA is called with s.mu held.
func (r *resources) addEPA(username string, e EPA) {
	if e.State == EPAPendingACH {
		for i := range e.MicroDebits {
			if e.MicroDebits[i] < 1 || e.MicroDebits[i] > 99 {
				n, err := rand.Int(rand.Reader, big.NewInt(99))
				if err != nil {
					panic(err)
				}
				e.MicroDebits[i] = int(n.Int64()) + 1
			}
		}
	}
	r.epas[e.AccountNumber] = &e
	r.epaOwner[e.AccountNumber] = username
}

// registerResources adds the resource API routes.
func (s *Server) registerResources() {
	s.mux.HandleFunc("GET /payments/v3/payment-account/{accountNumber}", s.limited("payments", s.handlePaymentAccount))
	s.mux.HandleFunc("POST /payments/v3/payment-authorization", s.limited("payments", s.handlePaymentAuthorization))
	s.mux.HandleFunc("POST /prices/v3/base-rates/search", s.limited("prices", s.handleBaseRates))
	s.mux.HandleFunc("POST /prices/v3/base-rates-list/search", s.limited("prices", s.handleRateList(false)))
	s.mux.HandleFunc("POST /prices/v3/total-rates/search", s.limited("prices", s.handleRateList(true)))
	s.mux.HandleFunc("GET /tracking/v3/tracking/{trackingNumber}", s.limited("tracking", s.handleTracking))
	s.mux.HandleFunc("POST /tracking/v3r2/tracking", s.limited("tracking", s.handleTrackingBatch))
	s.registerLabels()
}

// AddEPA seeds (or replaces) an EPA on an existing business account.
func (s *Server) AddEPA(username string, e EPA) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[username]
	if a == nil {
		return fmt.Errorf("uspsbiztest: no business account %q", username)
	}
	a.EPAs = append(slices.DeleteFunc(a.EPAs, func(x EPA) bool { return x.AccountNumber == e.AccountNumber }), e)
	s.res.addEPA(username, e)
	return nil
}

// EPA returns the current state of an EPA (with its micro-debits).
func (s *Server) EPA(accountNumber string) (EPA, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.res.epas[accountNumber]
	if e == nil {
		return EPA{}, false
	}
	return *e, true
}

// SetEPAState changes an EPA's state, e.g. to make a card fail later.
func (s *Server) SetEPAState(accountNumber string, st EPAState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.res.epas[accountNumber]
	if e == nil {
		return fmt.Errorf("uspsbiztest: no EPA %s", accountNumber)
	}
	e.State = st
	return nil
}

// ErrMicroDebitMismatch is VerifyMicroDebits's answer to wrong amounts.
var ErrMicroDebitMismatch = errors.New("uspsbiztest: micro-debit amounts do not match")

// VerifyMicroDebits is the customer confirming the two ACH test debits (in
// cents, either order) of an EPAPendingACH account, which then becomes
// EPAActive. Wrong amounts leave it pending.
func (s *Server) VerifyMicroDebits(accountNumber string, cents1, cents2 int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.res.epas[accountNumber]
	switch {
	case e == nil:
		return fmt.Errorf("uspsbiztest: no EPA %s", accountNumber)
	case e.State != EPAPendingACH:
		return fmt.Errorf("uspsbiztest: EPA %s is not pending ACH verification", accountNumber)
	}
	m := e.MicroDebits
	if !(m[0] == cents1 && m[1] == cents2 || m[0] == cents2 && m[1] == cents1) {
		return ErrMicroDebitMismatch
	}
	e.State = EPAActive
	return nil
}

// accountByCRID finds a business account by CRID; s.mu held.
func (s *Server) accountByCRID(crid string) *BusinessAccount {
	for _, a := range s.accounts {
		if a.CRID == crid {
			return a
		}
	}
	return nil
}

// decodeBody decodes a JSON request body; on failure it answers 400.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		writeUSPSError(w, http.StatusBadRequest, apiVersionOf(r.URL.Path), "The request body is not valid JSON.",
			detail{Code: "000001", Title: "Invalid request body.", Detail: "The request body could not be parsed."})
		return false
	}
	return true
}
