package uspsbiz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nsalink/nsalink/internal/httpx"
	"github.com/nsalink/nsalink/usps"
)

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// PriceType is the kind of price USPS applied.
type PriceType string

// Price types of the Domestic Prices API.
const (
	PriceRetail     PriceType = "RETAIL"
	PriceCommercial PriceType = "COMMERCIAL"
	PriceContract   PriceType = "CONTRACT"
	// PriceNSA is USPS's deprecated name for CONTRACT.
	PriceNSA PriceType = "NSA"
	// PricePublished is not a USPS value: it replaces CONTRACT or NSA on a
	// rate that also carries warning 001 ("Contract rate not found for
	// request. Published rate returned."), so that such a price is never
	// taken for a contract price.
	PricePublished PriceType = "PUBLISHED"
)

// IsContract reports whether p is a contract (NSA) price type: CONTRACT or
// its old name NSA. Rates that carry warning 001 have PricePublished
// instead, so checking a Rate's or ExtraServiceRate's PriceType is enough.
func (p PriceType) IsContract() bool { return p == PriceContract || p == PriceNSA }

// warningContractRateNotFound is USPS's warning code "001": the account has
// no contract price for the request and a published price came back.
const warningContractRateNotFound = "001"

// Sentinels for Domestic Prices answers.
var (
	// ErrNoContract: USPS 160212, "An approved contract could not be found
	// for <mailClass>".
	ErrNoContract = errors.New("uspsbiz: no approved contract for this mail class")
	// ErrAccountRequired: USPS 160207/160208, accountType or accountNumber
	// is required for the mail class.
	ErrAccountRequired = errors.New("uspsbiz: a payment account is required for this mail class")
	// ErrContractRateNotFound is what RequireContract returns for a result
	// holding a published price (warning 001, or no CONTRACT price type).
	ErrContractRateNotFound = errors.New("uspsbiz: contract rate not found; published rate returned")
)

// Warning is one item of USPS's warnings[].
type Warning struct {
	Code        string
	Description string
}

func (w *Warning) UnmarshalJSON(b []byte) error {
	var wire struct {
		Code        json.RawMessage `json:"warningCode"`
		Description string          `json:"warningDescription"`
	}
	if err := json.Unmarshal(b, &wire); err != nil {
		return err
	}
	*w = Warning{Code: scalarText(wire.Code), Description: wire.Description}
	return nil
}

func hasContractMiss(ws []Warning) bool {
	for _, w := range ws {
		if w.Code == warningContractRateNotFound {
			return true
		}
	}
	return false
}

// Fee is one of a rate's fees.
type Fee struct {
	Name  string     `json:"name"`
	SKU   string     `json:"SKU"`
	Price usps.Cents `json:"price"`
}

// Rate is one of USPS's RateDetails.
type Rate struct {
	SKU                          string      `json:"SKU"`
	Description                  string      `json:"description"`
	PriceType                    PriceType   `json:"priceType"`
	Price                        usps.Cents  `json:"price"`
	Weight                       usps.Weight `json:"-"` // USPS's "weight", in pounds on the wire
	DimWeight                    usps.Weight `json:"-"` // USPS's "dimWeight", in pounds on the wire
	Fees                         []Fee       `json:"fees"`
	StartDate                    string      `json:"startDate"`
	EndDate                      string      `json:"endDate"`
	MailClass                    string      `json:"mailClass"`
	Zone                         string      `json:"zone"`
	ProductName                  string      `json:"productName"`
	ProductDefinition            string      `json:"productDefinition"`
	ProcessingCategory           string      `json:"processingCategory"`
	RateIndicator                string      `json:"rateIndicator"`
	DestinationEntryFacilityType string      `json:"destinationEntryFacilityType"`
	Warnings                     []Warning   `json:"warnings"`
	// ContractRateNotFound is set when Warnings hold code 001: this is a
	// published price although a contract price was asked for.
	ContractRateNotFound bool `json:"-"`
}

// UnmarshalJSON reads a USPS RateDetails object; its weights are JSON
// numbers in pounds (see usps.ParseJSONPounds).
func (r *Rate) UnmarshalJSON(b []byte) error {
	type plain Rate // without this method
	wire := struct {
		*plain
		Weight    json.RawMessage `json:"weight"`
		DimWeight json.RawMessage `json:"dimWeight"`
	}{plain: (*plain)(r)}
	if err := json.Unmarshal(b, &wire); err != nil {
		return err
	}
	for _, w := range []struct {
		raw json.RawMessage
		dst *usps.Weight
	}{{wire.Weight, &r.Weight}, {wire.DimWeight, &r.DimWeight}} {
		if len(w.raw) == 0 || string(w.raw) == "null" {
			continue
		}
		v, err := usps.ParseJSONPounds(scalarText(w.raw))
		if err != nil {
			return err
		}
		*w.dst = v
	}
	return nil
}

func (r *Rate) settle() {
	r.ContractRateNotFound = hasContractMiss(r.Warnings)
	if r.ContractRateNotFound && r.PriceType.IsContract() {
		r.PriceType = PricePublished
	}
}

// ExtraServiceRate is the price of an extra service (total-rates search).
type ExtraServiceRate struct {
	ExtraService         string     `json:"extraService"`
	Name                 string     `json:"name"`
	SKU                  string     `json:"SKU"`
	PriceType            PriceType  `json:"priceType"`
	Price                usps.Cents `json:"price"`
	Warnings             []Warning  `json:"warnings"`
	ContractRateNotFound bool       `json:"-"`
}

func (e *ExtraServiceRate) settle() {
	e.ContractRateNotFound = hasContractMiss(e.Warnings)
	if e.ContractRateNotFound && e.PriceType.IsContract() {
		e.PriceType = PricePublished
	}
}

// RateOption is one priced option: base price, rates and, from a
// total-rates search, extra services and the total.
type RateOption struct {
	TotalBasePrice usps.Cents         `json:"totalBasePrice"`
	Rates          []Rate             `json:"rates"`
	ExtraServices  []ExtraServiceRate `json:"extraServices"`
	// TotalPrice is given by total-rates searches that name extra services
	// (zero otherwise).
	TotalPrice usps.Cents `json:"totalPrice"`
	// ContractRateNotFound is set when any rate or extra service of this
	// option carries warning 001.
	ContractRateNotFound bool `json:"-"`
}

func (o *RateOption) settle() {
	o.ContractRateNotFound = false
	for i := range o.Rates {
		o.Rates[i].settle()
		o.ContractRateNotFound = o.ContractRateNotFound || o.Rates[i].ContractRateNotFound
	}
	for i := range o.ExtraServices {
		o.ExtraServices[i].settle()
		o.ContractRateNotFound = o.ContractRateNotFound || o.ExtraServices[i].ContractRateNotFound
	}
}

// isContract reports whether every rate of the option is a contract price.
// Extra services are left out: USPS prices many of them at published rates
// even for contract accounts (a 001 on them sets ContractRateNotFound).
func (o *RateOption) isContract() bool {
	if len(o.Rates) == 0 {
		return false
	}
	for i := range o.Rates {
		if r := &o.Rates[i]; !r.PriceType.IsContract() || r.ContractRateNotFound {
			return false
		}
	}
	return true
}

// RateResult is the answer of a Domestic Prices search. A base-rates
// search gives one option.
type RateResult struct {
	Options []RateOption
	// ContractRateNotFound is set when USPS returned a published price
	// where a contract price was asked for (warning 001 on any rate or
	// extra service). The prices are still valid published prices; they
	// are not NSA prices.
	ContractRateNotFound bool
}

// RequireContract returns nil when every option's rates are contract
// prices, and otherwise an error matching ErrContractRateNotFound.
func (r *RateResult) RequireContract() error {
	if len(r.Options) == 0 {
		return fmt.Errorf("%w: no rates", ErrContractRateNotFound)
	}
	for i := range r.Options {
		if !r.Options[i].isContract() {
			return ErrContractRateNotFound
		}
	}
	return nil
}

func (r *RateResult) settle() {
	for i := range r.Options {
		r.Options[i].settle()
		r.ContractRateNotFound = r.ContractRateNotFound || r.Options[i].ContractRateNotFound
	}
}

// Package describes the parcel priced (Length the longest side, Width the
// second). USPS takes pounds and inches; the conversion is exact.
type Package struct {
	OriginZIP      string
	DestinationZIP string
	Weight         usps.Weight
	Length         usps.Dimension
	Width          usps.Dimension
	Height         usps.Dimension
	// MailingDate is today to 7 days ahead; zero leaves it to USPS (today).
	MailingDate                   time.Time
	HasNonstandardCharacteristics bool
}

// Contract pricing: with EPS set, a search sends accountType=EPS and
// accountNumber, and USPS answers with the account's contract prices, or
// with published prices and warning 001 when it has none for the request.
// PERMIT, METER and MID accounts are not offered here.

// BaseRatesQuery is a base-rates search for one mail class.
type BaseRatesQuery struct {
	Package
	MailClass string // e.g. "USPS_GROUND_ADVANTAGE", "PRIORITY_MAIL"
	// ProcessingCategory defaults to "MACHINABLE", RateIndicator to "SP"
	// (single piece), DestinationEntryFacilityType to "NONE".
	ProcessingCategory           string
	RateIndicator                string
	DestinationEntryFacilityType string
	// PriceType defaults to COMMERCIAL, or CONTRACT when EPS is set.
	PriceType PriceType
	// EPS asks for this account's contract prices.
	EPS usps.EPSAccount
}

// RateListQuery is a base-rates-list search. USPS needs a specific mail
// class (not "ALL") for contract prices.
type RateListQuery struct {
	Package
	MailClasses []string
	PriceType   PriceType // defaults as in BaseRatesQuery
	EPS         usps.EPSAccount
}

// TotalRatesQuery is a total-rates search: a rate list with extra services.
type TotalRatesQuery struct {
	RateListQuery
	// ItemValue is needed for insurance and COD; zero omits it.
	ItemValue usps.Cents
	// ExtraServices are USPS codes such as 920 (USPS Tracking); none
	// means all available ones.
	ExtraServices []int
}

// Domestic Prices routes.
const (
	routeBaseRates     = "/prices/v3/base-rates/search"
	routeBaseRatesList = "/prices/v3/base-rates-list/search"
	routeTotalRates    = "/prices/v3/total-rates/search"
)

type packageWire struct {
	OriginZIPCode                 string      `json:"originZIPCode"`
	DestinationZIPCode            string      `json:"destinationZIPCode"`
	Weight                        json.Number `json:"weight"` // pounds
	Length                        json.Number `json:"length"` // inches
	Width                         json.Number `json:"width"`
	Height                        json.Number `json:"height"`
	MailingDate                   string      `json:"mailingDate,omitempty"`
	HasNonstandardCharacteristics bool        `json:"hasNonstandardCharacteristics,omitempty"`
}

func (p Package) wire() packageWire {
	w := packageWire{OriginZIPCode: normalZIP(p.OriginZIP), DestinationZIPCode: normalZIP(p.DestinationZIP), Weight: json.Number(p.Weight.Pounds()),
		Length: json.Number(p.Length.String()), Width: json.Number(p.Width.String()), Height: json.Number(p.Height.String()),
		HasNonstandardCharacteristics: p.HasNonstandardCharacteristics}
	if !p.MailingDate.IsZero() {
		w.MailingDate = p.MailingDate.Format(time.DateOnly)
	}
	return w
}

// normalZIP returns a ZIP Code in the form USPS's spec takes: 5 digits,
// or ZIP+4 as "12345-6789". It is "" for anything else.
func normalZIP(z string) string {
	z = strings.TrimSpace(z)
	switch {
	case len(z) == 5 && allDigits(z):
		return z
	case len(z) == 9 && allDigits(z):
		return z[:5] + "-" + z[5:]
	case len(z) == 10 && allDigits(z[:5]) && (z[5] == '-' || z[5] == ' ') && allDigits(z[6:]):
		return z[:5] + "-" + z[6:]
	}
	return ""
}

func (p Package) check() error {
	for _, z := range []struct{ name, v string }{{"origin ZIP", p.OriginZIP}, {"destination ZIP", p.DestinationZIP}} {
		if normalZIP(z.v) == "" {
			return fmt.Errorf("uspsbiz: prices: %s %q must be 5 digits or ZIP+4 (12345-6789)", z.name, truncate(z.v, 12))
		}
	}
	if p.Weight <= 0 || p.Length <= 0 || p.Width <= 0 || p.Height <= 0 {
		return errors.New("uspsbiz: prices: weight and dimensions must be positive")
	}
	return nil
}

func priceAccount(pt PriceType, eps usps.EPSAccount) (PriceType, string, string, error) {
	switch pt {
	case "", PriceRetail, PriceCommercial, PriceContract, PriceNSA:
	default:
		// PUBLISHED and the like only appear in answers.
		return "", "", "", fmt.Errorf("uspsbiz: prices: PriceType %q cannot be asked for (RETAIL, COMMERCIAL, CONTRACT or NSA)", truncate(string(pt), 20))
	}
	if eps != "" {
		if err := checkEPS(eps); err != nil {
			return "", "", "", err
		}
		if pt == "" {
			pt = PriceContract
		}
		return pt, "EPS", eps.Reveal(), nil
	}
	if pt == "" {
		pt = PriceCommercial
	}
	return pt, "", "", nil
}

// BaseRates prices one package for one mail class (POST
// /prices/v3/base-rates/search). The result has one option.
//
// Like every price search it is safe to retry, and it may be made with the
// platform's client or with a customer's (ForMerchant): USPS selects
// contract prices by the account number, not by whose token is used.
func (c *Client) BaseRates(ctx context.Context, q BaseRatesQuery) (*RateResult, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	if q.MailClass == "" {
		return nil, errors.New("uspsbiz: prices: MailClass is required")
	}
	pt, at, an, err := priceAccount(q.PriceType, q.EPS)
	if err != nil {
		return nil, err
	}
	body := struct {
		packageWire
		MailClass                    string    `json:"mailClass"`
		ProcessingCategory           string    `json:"processingCategory"`
		RateIndicator                string    `json:"rateIndicator"`
		DestinationEntryFacilityType string    `json:"destinationEntryFacilityType"`
		PriceType                    PriceType `json:"priceType"`
		AccountType                  string    `json:"accountType,omitempty"`
		AccountNumber                string    `json:"accountNumber,omitempty"`
	}{q.wire(), q.MailClass, or(q.ProcessingCategory, "MACHINABLE"), or(q.RateIndicator, "SP"),
		or(q.DestinationEntryFacilityType, "NONE"), pt, at, an}
	var opt RateOption
	if err := c.priceSearch(ctx, routeBaseRates, body, &opt); err != nil {
		return nil, err
	}
	// An empty {} or null body is not a zero price.
	if len(opt.Rates) == 0 {
		return nil, &decodeError{Route: routeBaseRates, Status: http.StatusOK, Err: errors.New("no rates in the answer")}
	}
	res := &RateResult{Options: []RateOption{opt}}
	res.settle()
	return res, nil
}

type rateListWire struct {
	packageWire
	MailClasses   []string  `json:"mailClasses,omitempty"`
	PriceType     PriceType `json:"priceType"`
	AccountType   string    `json:"accountType,omitempty"`
	AccountNumber string    `json:"accountNumber,omitempty"`
}

func (q RateListQuery) wire() (rateListWire, error) {
	if err := q.check(); err != nil {
		return rateListWire{}, err
	}
	pt, at, an, err := priceAccount(q.PriceType, q.EPS)
	if err != nil {
		return rateListWire{}, err
	}
	return rateListWire{packageWire: q.Package.wire(), MailClasses: q.MailClasses, PriceType: pt, AccountType: at, AccountNumber: an}, nil
}

// BaseRatesList lists the eligible base prices for a package (POST
// /prices/v3/base-rates-list/search).
func (c *Client) BaseRatesList(ctx context.Context, q RateListQuery) (*RateResult, error) {
	body, err := q.wire()
	if err != nil {
		return nil, err
	}
	var out struct {
		RateOptions []RateOption `json:"rateOptions"`
	}
	if err := c.priceSearch(ctx, routeBaseRatesList, body, &out); err != nil {
		return nil, err
	}
	if out.RateOptions == nil {
		return nil, &decodeError{Route: routeBaseRatesList, Status: http.StatusOK, Err: errors.New("no rateOptions in the answer")}
	}
	res := &RateResult{Options: out.RateOptions}
	res.settle()
	return res, nil
}

// TotalRates lists eligible prices with extra services (POST
// /prices/v3/total-rates/search).
func (c *Client) TotalRates(ctx context.Context, q TotalRatesQuery) (*RateResult, error) {
	lw, err := q.RateListQuery.wire()
	if err != nil {
		return nil, err
	}
	if q.ItemValue < 0 || q.ItemValue > usps.MaxCents {
		return nil, fmt.Errorf("uspsbiz: prices: ItemValue %s out of range", q.ItemValue)
	}
	body := struct {
		rateListWire
		ItemValue     *usps.Cents `json:"itemValue,omitempty"`
		ExtraServices []int       `json:"extraServices,omitempty"`
	}{rateListWire: lw, ExtraServices: q.ExtraServices}
	if q.ItemValue > 0 {
		body.ItemValue = &q.ItemValue
	}
	var out struct {
		RateOptions []RateOption `json:"rateOptions"`
	}
	if err := c.priceSearch(ctx, routeTotalRates, body, &out); err != nil {
		return nil, err
	}
	if out.RateOptions == nil {
		return nil, &decodeError{Route: routeTotalRates, Status: http.StatusOK, Err: errors.New("no rateOptions in the answer")}
	}
	res := &RateResult{Options: out.RateOptions}
	res.settle()
	return res, nil
}

// priceSearch sends a search: a POST that is safe to retry.
func (c *Client) priceSearch(ctx context.Context, route string, body, out any) error {
	_, err := c.do(ctx, call{method: http.MethodPost, path: route, route: route, api: APIPrices, body: body, class: httpx.Idempotent}, out)
	return priceError(err)
}

// priceError adds ErrNoContract or ErrAccountRequired to a USPS answer
// carrying 160212 or 160207/160208; the *APIError stays reachable.
func priceError(err error) error {
	var ae *APIError
	if err == nil || !errors.As(err, &ae) {
		return err
	}
	switch {
	case ae.HasCode("160212"):
		return fmt.Errorf("%w: %w", ErrNoContract, err)
	case ae.HasCode("160207"), ae.HasCode("160208"):
		return fmt.Errorf("%w: %w", ErrAccountRequired, err)
	}
	return err
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
