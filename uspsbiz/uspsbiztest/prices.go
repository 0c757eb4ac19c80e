package uspsbiztest

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/nsalink/nsalink/usps"
)

// Price is one row of the fake's price tables. Empty matching fields match
// anything.
type Price struct {
	MailClass                    string // required, e.g. "USPS_GROUND_ADVANTAGE"
	RateIndicator                string // e.g. "SP"
	ProcessingCategory           string // e.g. "MACHINABLE"
	DestinationEntryFacilityType string // e.g. "NONE"
	// Zone is "01"–"09" (see Zone); empty matches every zone.
	Zone string
	// MaxWeight is the weight tier: the row serves packages up to it, and
	// among matching rows the smallest tier that fits wins. Zero means no
	// limit.
	MaxWeight usps.Weight
	// PriceType of a published row: RETAIL or COMMERCIAL (default). Rows
	// given to SetContractPrices are always CONTRACT.
	PriceType   string
	SKU         string
	Description string
	// Price is the amount in dollars as JSON number text, sent verbatim:
	// "9.35", or "0.30000000000000004" to test a client's parser.
	Price string
	Fees  []Fee
}

// Fee is a fee of a Price row.
type Fee struct {
	Name, SKU string
	Price     string // JSON number text
}

// ExtraServicePrice is a published extra service price for total-rates
// searches.
type ExtraServicePrice struct {
	Code  int // e.g. 920
	Name  string
	SKU   string
	Price string // JSON number text
}

// Zone is the fake's zone chart: "01" when the two ZIP Codes share their
// first three digits, otherwise 2 plus the difference of their first
// digits, at most "09". (USPS's real chart is a table per 3-digit ZIP.)
func Zone(originZIP, destinationZIP string) string {
	if len(originZIP) < 3 || len(destinationZIP) < 3 {
		return "09"
	}
	if originZIP[:3] == destinationZIP[:3] {
		return "01"
	}
	d := int(originZIP[0]) - int(destinationZIP[0])
	if d < 0 {
		d = -d
	}
	return fmt.Sprintf("%02d", min(2+d, 9))
}

func checkPrices(rows []Price) error {
	for i, p := range rows {
		if p.MailClass == "" {
			return fmt.Errorf("uspsbiztest: price row %d: MailClass is required", i)
		}
		if _, ok := decimal(p.Price); !ok {
			return fmt.Errorf("uspsbiztest: price row %d: Price %q is not a JSON number", i, p.Price)
		}
		for _, f := range p.Fees {
			if _, ok := decimal(f.Price); !ok {
				return fmt.Errorf("uspsbiztest: price row %d: fee price %q is not a JSON number", i, f.Price)
			}
		}
	}
	return nil
}

var jsonNumber = regexp.MustCompile(`^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$`)

func decimal(s string) (*big.Rat, bool) {
	if !jsonNumber.MatchString(s) {
		return nil, false
	}
	return new(big.Rat).SetString(s)
}

// SetPublishedPrices replaces the published price table (RETAIL and
// COMMERCIAL rows). Call it before or during a test.
func (s *Server) SetPublishedPrices(rows ...Price) error {
	if err := checkPrices(rows); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.res.published = slices.Clone(rows)
	return nil
}

// SetContractPrices replaces the contract (NSA) price table of an EPS
// account: searches naming that account get these rows as priceType
// CONTRACT. No rows removes the contract.
func (s *Server) SetContractPrices(epsAccount string, rows ...Price) error {
	if err := checkPrices(rows); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(rows) == 0 {
		delete(s.res.contracts, epsAccount)
		return nil
	}
	cp := slices.Clone(rows)
	for i := range cp {
		cp[i].PriceType = "CONTRACT"
	}
	s.res.contracts[epsAccount] = cp
	return nil
}

// SetExtraServicePrices replaces the published extra service prices.
func (s *Server) SetExtraServicePrices(rows ...ExtraServicePrice) error {
	for _, e := range rows {
		if _, ok := decimal(e.Price); !ok {
			return fmt.Errorf("uspsbiztest: extra service %d: price %q is not a JSON number", e.Code, e.Price)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.res.extras = slices.Clone(rows)
	return nil
}

// SetContractOnlyMailClasses names mail classes that are priced only under
// a contract: searches for them without accountType answer 160207, without
// accountNumber 160208, and for an account without a contract for them
// 160212 (instead of published prices with warning 001).
func (s *Server) SetContractOnlyMailClasses(classes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.res.contractOnly = map[string]bool{}
	for _, c := range classes {
		s.res.contractOnly[c] = true
	}
}

type priceQuery struct {
	OriginZIPCode                string      `json:"originZIPCode"`
	DestinationZIPCode           string      `json:"destinationZIPCode"`
	Weight                       json.Number `json:"weight"`
	Length                       json.Number `json:"length"`
	Width                        json.Number `json:"width"`
	Height                       json.Number `json:"height"`
	MailClass                    string      `json:"mailClass"`
	MailClasses                  []string    `json:"mailClasses"`
	ProcessingCategory           string      `json:"processingCategory"`
	RateIndicator                string      `json:"rateIndicator"`
	DestinationEntryFacilityType string      `json:"destinationEntryFacilityType"`
	PriceType                    string      `json:"priceType"`
	AccountType                  string      `json:"accountType"`
	AccountNumber                string      `json:"accountNumber"`
	ExtraServices                []int       `json:"extraServices"`
}

var zipPattern = regexp.MustCompile(`^\d{5}(?:[-\s]\d{4})?$`)

const pricesVer = "/prices/v3"

const warn001 = "Contract rate not found for request. Published rate returned."

// check validates a query; it answers 400 and returns false when bad.
func (q *priceQuery) check(w http.ResponseWriter) (usps.Weight, bool) {
	bad := func(code, title, param string) (usps.Weight, bool) {
		writeUSPSError(w, http.StatusBadRequest, pricesVer, "Bad Request", detail{Code: code, Title: title, Detail: title, Parameter: param})
		return 0, false
	}
	if !zipPattern.MatchString(q.OriginZIPCode) {
		return bad("030010", "originZIPCode is missing or invalid.", "originZIPCode")
	}
	if !zipPattern.MatchString(q.DestinationZIPCode) {
		return bad("030010", "destinationZIPCode is missing or invalid.", "destinationZIPCode")
	}
	weight, err := usps.ParseJSONPounds(q.Weight.String())
	if err != nil || weight <= 0 {
		return bad("030010", "weight is missing or invalid.", "weight")
	}
	for _, d := range []json.Number{q.Length, q.Width, q.Height} {
		if v, err := d.Float64(); err != nil || v < 0 {
			return bad("030010", "dimensions are missing or invalid.", "length")
		}
	}
	return weight, true
}

// priced is the outcome of looking a mail class up.
type priced struct {
	rows     []Price
	contract bool
	warn     bool // published rows for an account asking for contract prices
}

// lookup finds the rows for one mail class; s.mu held. It returns a USPS
// error detail when the search must fail.
func (s *Server) lookup(q *priceQuery, mailClass string, weight usps.Weight, match func(Price) bool) (priced, *detail) {
	zone := Zone(q.OriginZIPCode, q.DestinationZIPCode)
	sel := func(rows []Price) []Price {
		return bestTiers(rows, func(p Price) bool {
			return p.MailClass == mailClass && (p.Zone == "" || p.Zone == zone) && (p.MaxWeight == 0 || weight <= p.MaxWeight) && match(p)
		}, weight)
	}
	wantContract := q.PriceType == "CONTRACT" || q.PriceType == "NSA"
	switch {
	case q.AccountType == "" && (wantContract || s.res.contractOnly[mailClass]):
		return priced{}, &detail{Code: "160207", Title: "accountType is required for " + mailClass + ".", Parameter: "accountType"}
	case q.AccountType != "" && q.AccountNumber == "":
		return priced{}, &detail{Code: "160208", Title: "accountNumber is required for " + mailClass + ".", Parameter: "accountNumber"}
	}
	if q.AccountNumber != "" {
		table := s.res.contracts[q.AccountNumber]
		hasClass := q.AccountType == "EPS" && slices.ContainsFunc(table, func(p Price) bool { return p.MailClass == mailClass })
		if !hasClass && s.res.contractOnly[mailClass] {
			return priced{}, &detail{Code: "160212", Title: "An approved contract could not be found for " + mailClass + ". Please contact a sales representative.", Parameter: "accountNumber"}
		}
		if hasClass {
			if rows := sel(table); len(rows) > 0 {
				return priced{rows: rows, contract: true}, nil
			}
		}
	}
	pt := q.PriceType
	if pt != "RETAIL" {
		pt = "COMMERCIAL"
	}
	rows := sel(slices.DeleteFunc(slices.Clone(s.res.published), func(p Price) bool { return or(p.PriceType, "COMMERCIAL") != pt }))
	return priced{rows: rows, warn: q.AccountNumber != ""}, nil
}

// bestTiers keeps the matching rows with the smallest weight tier that
// fits, per product (mail class, rate indicator, category, entry).
func bestTiers(rows []Price, match func(Price) bool, weight usps.Weight) []Price {
	best := map[string]int{}
	var order []string
	tier := func(p Price) usps.Weight {
		if p.MaxWeight == 0 {
			return math.MaxInt64
		}
		return p.MaxWeight
	}
	for i, p := range rows {
		if !match(p) {
			continue
		}
		k := p.MailClass + "|" + p.RateIndicator + "|" + p.ProcessingCategory + "|" + p.DestinationEntryFacilityType
		j, ok := best[k]
		if !ok {
			order = append(order, k)
			best[k] = i
		} else if tier(p) < tier(rows[j]) {
			best[k] = i
		}
	}
	out := make([]Price, 0, len(order))
	for _, k := range order {
		out = append(out, rows[best[k]])
	}
	return out
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (s *Server) rateJSON(p Price, q *priceQuery, contract, warn bool) (map[string]any, *big.Rat) {
	pt := or(p.PriceType, "COMMERCIAL")
	if contract {
		pt = "CONTRACT"
	}
	total, _ := decimal(p.Price)
	fees := []map[string]any{}
	for _, f := range p.Fees {
		v, _ := decimal(f.Price)
		total.Add(total, v)
		fees = append(fees, map[string]any{"name": f.Name, "SKU": f.SKU, "price": json.Number(f.Price)})
	}
	zone := p.Zone
	if zone == "" {
		zone = Zone(q.OriginZIPCode, q.DestinationZIPCode)
	}
	m := map[string]any{
		"SKU":                          or(p.SKU, "DXXX0XXXXX00000"),
		"description":                  p.Description,
		"priceType":                    pt,
		"price":                        json.Number(p.Price),
		"weight":                       q.Weight, // echoed as sent
		"dimWeight":                    0,
		"fees":                         fees,
		"startDate":                    "2026-01-18",
		"endDate":                      "",
		"mailClass":                    p.MailClass,
		"zone":                         zone,
		"productName":                  "",
		"productDefinition":            "",
		"processingCategory":           or(p.ProcessingCategory, or(q.ProcessingCategory, "MACHINABLE")),
		"rateIndicator":                or(p.RateIndicator, or(q.RateIndicator, "SP")),
		"destinationEntryFacilityType": or(p.DestinationEntryFacilityType, or(q.DestinationEntryFacilityType, "NONE")),
		"warnings":                     []map[string]any{},
	}
	if warn {
		m["warnings"] = []map[string]any{{"warningCode": "001", "warningDescription": warn001}}
	}
	return m, total
}

// number formats an exact sum as a JSON number with as many decimals as
// its inputs need (at least two).
func number(r *big.Rat, inputs ...string) json.Number {
	prec := 2
	for _, in := range inputs {
		if i := strings.IndexByte(in, '.'); i >= 0 {
			frac := in[i+1:]
			if j := strings.IndexAny(frac, "eE"); j >= 0 {
				frac = frac[:j]
			}
			prec = max(prec, len(frac))
		}
		if strings.ContainsAny(in, "eE") {
			prec = max(prec, 20)
		}
	}
	s := r.FloatString(prec)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		if i := strings.IndexByte(s, '.'); len(s)-i-1 < 2 {
			s += strings.Repeat("0", 2-(len(s)-i-1))
		}
	}
	return json.Number(s)
}

func priceTexts(p Price) []string {
	out := []string{p.Price}
	for _, f := range p.Fees {
		out = append(out, f.Price)
	}
	return out
}

// priceRequest authenticates a prices call and reads its query, answering
// the error itself when it returns false.
func (s *Server) priceRequest(w http.ResponseWriter, r *http.Request) (*priceQuery, usps.Weight, bool) {
	g := s.authenticate(w, r, "prices")
	if g == nil {
		return nil, 0, false
	}
	var q priceQuery
	if !decodeBody(w, r, &q) {
		return nil, 0, false
	}
	if s.accountNotGranted(w, g, pricesVer, q.AccountNumber) {
		return nil, 0, false
	}
	weight, ok := q.check(w)
	return &q, weight, ok
}

func (s *Server) handleBaseRates(w http.ResponseWriter, r *http.Request) {
	q, weight, ok := s.priceRequest(w, r)
	if !ok {
		return
	}
	if q.MailClass == "" || q.PriceType == "" {
		writeUSPSError(w, http.StatusBadRequest, pricesVer, "Bad Request", detail{Code: "030010", Title: "mailClass and priceType are required.", Parameter: "mailClass"})
		return
	}
	s.mu.Lock()
	res, d := s.lookup(q, q.MailClass, weight, func(p Price) bool {
		return (p.RateIndicator == "" || p.RateIndicator == q.RateIndicator) &&
			(p.ProcessingCategory == "" || p.ProcessingCategory == q.ProcessingCategory) &&
			(p.DestinationEntryFacilityType == "" || p.DestinationEntryFacilityType == q.DestinationEntryFacilityType)
	})
	s.mu.Unlock()
	if d != nil {
		d.Detail = d.Title
		writeUSPSError(w, http.StatusBadRequest, pricesVer, "Bad Request", *d)
		return
	}
	if len(res.rows) == 0 {
		writeUSPSError(w, http.StatusBadRequest, pricesVer, "Bad Request", detail{Code: "030002", Title: "No SKU found for the given rate ingredients.", Detail: "No SKU found for the given rate ingredients."})
		return
	}
	p := res.rows[0]
	rate, total := s.rateJSON(p, q, res.contract, res.warn)
	writeJSON(w, http.StatusOK, map[string]any{"totalBasePrice": number(total, priceTexts(p)...), "rates": []any{rate}})
}

func (s *Server) handleRateList(withExtras bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, weight, ok := s.priceRequest(w, r)
		if !ok {
			return
		}
		classes := q.MailClasses
		if len(classes) == 0 && q.MailClass != "" {
			classes = []string{q.MailClass}
		}
		all := len(classes) == 0 || slices.Contains(classes, "ALL")
		if all && q.AccountNumber != "" {
			writeUSPSError(w, http.StatusBadRequest, pricesVer, "Bad Request", detail{Code: "030010", Title: "A specific mail class is required when searching for contract prices.", Detail: "A specific mail class is required when searching for contract prices.", Parameter: "mailClasses"})
			return
		}
		s.mu.Lock()
		if all {
			classes = nil
			for _, p := range s.res.published {
				if !slices.Contains(classes, p.MailClass) {
					classes = append(classes, p.MailClass)
				}
			}
		}
		var options []map[string]any
		var fail *detail
		extras := slices.Clone(s.res.extras)
		for _, mc := range classes {
			res, d := s.lookup(q, mc, weight, func(Price) bool { return true })
			if d != nil {
				fail = d
				break
			}
			for _, p := range res.rows {
				rate, total := s.rateJSON(p, q, res.contract, res.warn)
				texts := priceTexts(p)
				opt := map[string]any{"totalBasePrice": number(total, texts...), "rates": []any{rate}}
				if withExtras && len(q.ExtraServices) > 0 {
					sum := new(big.Rat).Set(total)
					var es []map[string]any
					for _, e := range extras {
						if !slices.Contains(q.ExtraServices, e.Code) {
							continue
						}
						v, _ := decimal(e.Price)
						sum.Add(sum, v)
						texts = append(texts, e.Price)
						warnings := []map[string]any{}
						if q.AccountNumber != "" {
							warnings = append(warnings, map[string]any{"warningCode": "001", "warningDescription": warn001})
						}
						es = append(es, map[string]any{"extraService": strconv.Itoa(e.Code), "name": e.Name, "SKU": e.SKU,
							"priceType": "COMMERCIAL", "price": json.Number(e.Price), "warnings": warnings})
					}
					opt["extraServices"] = es
					opt["totalPrice"] = number(sum, texts...)
				}
				options = append(options, opt)
			}
		}
		s.mu.Unlock()
		if fail != nil {
			fail.Detail = fail.Title
			writeUSPSError(w, http.StatusBadRequest, pricesVer, "Bad Request", *fail)
			return
		}
		if len(options) == 0 {
			writeUSPSError(w, http.StatusBadRequest, pricesVer, "Bad Request", detail{Code: "160306", Title: "No valid rates were found for the mail classes.", Detail: "No valid rates were found for the mail classes."})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"rateOptions": options})
	}
}
