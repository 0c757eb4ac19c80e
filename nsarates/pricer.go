package nsarates

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nsalink/nsalink/usps"
)

// ProductID is a pricer's handle for a [ProductKey], from [Pricer.Product].
// Resolving the key once, up front, is what keeps string work out of quotes.
// The zero ProductID names no product.
type ProductID uint32

// AccountID is a pricer's handle for an EPS account, from [Pricer.Account].
// The zero AccountID names no account: the shipment is priced at published
// rates with fallback reason ReasonNoTable.
type AccountID uint32

// Shipment is what a quote prices. Product and Account are handles resolved
// once per product and customer, not per label.
type Shipment struct {
	Account AccountID
	Product ProductID
	Zone    Zone
	Weight  usps.Weight
	// Length, Width and Height may come in any order; the pricer sorts them
	// (USPS: length is the longest side). All three are required.
	Length, Width, Height usps.Dimension
	// Date is the mailing date, checked against each table's effective dates
	// at one-second resolution.
	Date time.Time
}

// Quote is a priced shipment and where its price came from.
type Quote struct {
	Price   usps.Cents // Postage + Fees
	Postage usps.Cents
	Fees    usps.Cents
	Source  Source
	// Fallback says why the contract table did not price the shipment;
	// ReasonNone when Source is SourceContract.
	Fallback     Reason
	TableID      string
	TableVersion string
	Zone         Zone
	Tier         Tier
	// BillableWeight is the weight the price is for: the larger of actual and
	// dimensional weight, rounded up to the tier. For cubic tiers it is the
	// actual weight (the price depends on volume only).
	BillableWeight usps.Weight
}

// Pricer quotes shipments from per-customer contract tables, falling back to
// a published commercial table and then a retail table. It is safe for
// concurrent use: tables can be installed and replaced while quotes run, and
// each quote sees exactly one version of each table.
type Pricer struct {
	rules Rules

	mu          sync.Mutex // serializes registration and installs
	productIDs  map[ProductKey]ProductID
	productKeys []ProductKey // by ProductID; [0] unused
	accountIDs  map[string]AccountID
	tiers       tierCache

	accounts   atomic.Pointer[[]*accountSlot] // by AccountID; copied on growth
	commercial atomic.Pointer[compiled]
	retail     atomic.Pointer[compiled]
}

type accountSlot struct {
	account string
	table   atomic.Pointer[compiled]
}

// Option configures a [Pricer].
type Option func(*Pricer) error

// WithRules replaces [DefaultRules].
func WithRules(r Rules) Option {
	return func(p *Pricer) error {
		if err := r.validate(); err != nil {
			return err
		}
		r.DimMailClasses = slices.Clone(r.DimMailClasses)
		r.DimRateIndicators = slices.Clone(r.DimRateIndicators)
		r.Limits = slices.Clone(r.Limits)
		p.rules = r
		return nil
	}
}

// NewPricer returns a pricer with no tables.
func NewPricer(opts ...Option) (*Pricer, error) {
	p := &Pricer{
		rules:       DefaultRules(),
		productIDs:  map[ProductKey]ProductID{},
		productKeys: []ProductKey{{}},
		accountIDs:  map[string]AccountID{},
		tiers:       tierCache{},
	}
	for _, opt := range opts {
		if err := opt(p); err != nil {
			return nil, err
		}
	}
	p.accounts.Store(&[]*accountSlot{nil})
	return p, nil
}

// Product returns the handle for k, registering it on first use.
func (p *Pricer) Product(k ProductKey) (ProductID, error) {
	if err := k.validate(); err != nil {
		return 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.productLocked(k), nil
}

func (p *Pricer) productLocked(k ProductKey) ProductID {
	id, ok := p.productIDs[k]
	if !ok {
		id = ProductID(len(p.productKeys))
		p.productIDs[k] = id
		p.productKeys = append(p.productKeys, k)
	}
	return id
}

// ProductKey returns the key behind a handle.
func (p *Pricer) ProductKey(id ProductID) (ProductKey, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if id == 0 || int(id) >= len(p.productKeys) {
		return ProductKey{}, false
	}
	return p.productKeys[id], true
}

// Account returns the handle for an EPS account (digits only), registering
// it on first use. A registered account without a table quotes at published
// rates with ReasonNoTable.
func (p *Pricer) Account(eps string) (AccountID, error) {
	if eps == "" || len(eps) > 20 || !allDigits(eps) {
		return 0, &ValidationError{Field: "Account", Value: eps, Reason: "want the EPS account number, digits only"}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accountLocked(eps).id, nil
}

type accountRef struct {
	id   AccountID
	slot *accountSlot
}

func (p *Pricer) accountLocked(eps string) accountRef {
	slots := *p.accounts.Load()
	if id, ok := p.accountIDs[eps]; ok {
		return accountRef{id, slots[id]}
	}
	id := AccountID(len(slots))
	slot := &accountSlot{account: eps}
	grown := append(slots[:len(slots):len(slots)], slot) // never write into a slice readers hold
	p.accounts.Store(&grown)
	p.accountIDs[eps] = id
	return accountRef{id, slot}
}

// SetContract compiles t and installs it, atomically, as the contract table
// of t.Info().Account, replacing any table that account had. Quotes running
// meanwhile use either the old or the new table, never a mix.
func (p *Pricer) SetContract(t *Table) error {
	if t.info.Account == "" {
		return &ValidationError{Field: "Account", Value: "", Reason: "a contract table needs the EPS account it belongs to"}
	}
	c := p.compile(t)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.accountLocked(t.info.Account).slot.table.Store(c)
	return nil
}

// RemoveContract uninstalls an account's contract table; its shipments then
// quote at published rates with ReasonNoTable.
func (p *Pricer) RemoveContract(eps string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if id, ok := p.accountIDs[eps]; ok {
		(*p.accounts.Load())[id].table.Store(nil)
	}
}

// Contract returns the identity of an account's installed contract table.
func (p *Pricer) Contract(eps string) (TableInfo, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if id, ok := p.accountIDs[eps]; ok {
		if c := (*p.accounts.Load())[id].table.Load(); c != nil {
			return c.info, true
		}
	}
	return TableInfo{}, false
}

// SetPublished installs t as the commercial or retail table (src is
// SourceCommercial or SourceRetail); a nil t removes it.
func (p *Pricer) SetPublished(src Source, t *Table) error {
	var slot *atomic.Pointer[compiled]
	switch src {
	case SourceCommercial:
		slot = &p.commercial
	case SourceRetail:
		slot = &p.retail
	default:
		return &ValidationError{Field: "Source", Value: src.String(), Reason: "want SourceCommercial or SourceRetail"}
	}
	if t == nil {
		slot.Store(nil)
		return nil
	}
	slot.Store(p.compile(t))
	return nil
}

// compile registers t's products and lays t out for quoting.
func (p *Pricer) compile(t *Table) *compiled {
	ids := make([]ProductID, len(t.products))
	tiers := make([]tierIndex, len(t.products))
	p.mu.Lock()
	for i, tp := range t.products {
		ids[i] = p.productLocked(tp.key)
		tiers[i] = p.tiers.get(tp.tiers)
	}
	p.mu.Unlock()
	return compile(t, &p.rules, ids, tiers)
}

// Quote prices s: from the account's contract table if it applies, else the
// commercial table, else the retail table. It returns a *ValidationError for
// a malformed shipment, a *LimitError for one over a size or weight limit
// and a *NoRateError when no table applies. It does not allocate unless it
// returns an error.
func (p *Pricer) Quote(s Shipment) (Quote, error) {
	var pc parcel
	if err := p.parcel(&s, &pc); err != nil {
		return Quote{}, err
	}
	c, src, fallback, prod, tier, postage, err := p.find(&s, &pc)
	if err != nil {
		return Quote{}, err
	}
	var fees usps.Cents
	if prod.feeMask != 0 {
		fees = c.feesFor(prod.feeMask, &pc)
	}
	billable := usps.Weight(prod.bounds[tier]) // actual (or DIM) weight rounded up to the tier
	if prod.cubic {
		billable = pc.weight // cubic prices do not depend on weight
	}
	// One literal, built in place: copying a Quote costs more than pricing it.
	return Quote{
		Price:          postage + fees,
		Postage:        postage,
		Fees:           fees,
		Source:         src,
		Fallback:       fallback,
		TableID:        c.info.ID,
		TableVersion:   c.info.Version,
		Zone:           pc.zone,
		Tier:           Tier{Kind: prod.tierKind, Max: prod.bounds[tier]},
		BillableWeight: billable,
	}, nil
}

// find walks the tables in order (contract, commercial, retail) and returns
// the first that prices pc, with the contract's fallback reason.
func (p *Pricer) find(s *Shipment, pc *parcel) (c *compiled, src Source, fallback Reason, prod *cproduct, tier int, postage usps.Cents, err error) {
	var reasons [3]Reason // contract, commercial, retail
	for i, src := range [...]Source{SourceContract, SourceCommercial, SourceRetail} {
		reasons[i] = ReasonNoTable
		switch src {
		case SourceContract:
			c = nil
			if slots := *p.accounts.Load(); s.Account != 0 && int(s.Account) < len(slots) {
				c = slots[s.Account].table.Load()
			}
		case SourceCommercial:
			c = p.commercial.Load()
		case SourceRetail:
			c = p.retail.Load()
		}
		if c == nil {
			continue
		}
		prod, tier, postage, reasons[i], err = c.lookup(s.Product, pc)
		if err != nil || reasons[i] == ReasonNone {
			return c, src, reasons[0], prod, tier, postage, err
		}
	}
	return nil, 0, 0, nil, 0, 0, &NoRateError{Contract: reasons[0], Commercial: reasons[1], Retail: reasons[2]}
}

// parcel validates s and derives the measures every table needs.
func (p *Pricer) parcel(s *Shipment, pc *parcel) error {
	if s.Product == 0 || s.Zone >= numZones || s.Weight <= 0 || s.Date.IsZero() ||
		!validSide(s.Length) || !validSide(s.Width) || !validSide(s.Height) {
		return invalidShipment(s)
	}
	l, w, h := s.Length, s.Width, s.Height
	if l < w {
		l, w = w, l
	}
	if w < h {
		w, h = h, w
	}
	if l < w {
		l, w = w, l
	}
	pc.weight = s.Weight
	pc.length, pc.width, pc.height = l, w, h
	pc.volume = int64(l) * int64(w) * int64(h)
	pc.date = s.Date.Unix()
	pc.zone = s.Zone
	return nil
}

func validSide(d usps.Dimension) bool { return d > 0 && d <= usps.MaxDimension }

// invalidShipment names the first bad field of s. It is off the quote's fast
// path.
func invalidShipment(s *Shipment) error {
	switch {
	case s.Product == 0:
		return &ValidationError{Field: "Product", Value: "0", Reason: "unset: get a handle from Pricer.Product"}
	case s.Zone >= numZones:
		return &ValidationError{Field: "Zone", Value: s.Zone.String(), Reason: "want 00 to 09"}
	case s.Weight <= 0:
		return &ValidationError{Field: "Weight", Value: s.Weight.String(), Reason: "must be positive"}
	case s.Date.IsZero():
		return &ValidationError{Field: "Date", Value: "", Reason: "the mailing date is required"}
	}
	for _, d := range []struct {
		name string
		v    usps.Dimension
	}{{"Length", s.Length}, {"Width", s.Width}, {"Height", s.Height}} {
		if !validSide(d.v) {
			return &ValidationError{Field: d.name, Value: d.v.String(), Reason: "want a positive size up to 1000 in"}
		}
	}
	return nil
}
