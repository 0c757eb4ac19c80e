package nsarates

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nsalink/nsalink/internal/decimal"
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
	// Date is the mailing date. Only its calendar date counts (Year, Month,
	// Day in the value's own location, as in USPS's mailingDate field), read
	// as a day in USPS's time zone, America/Chicago: it picks the rule set
	// and is checked against each table's effective dates. To turn an
	// instant into a mailing date, convert it first:
	// now.In(nsarates.Central()). The zero Date means today in Central time
	// by the pricer's clock ([WithClock]).
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
	Fallback Reason
	Zone     Zone
	// PastHorizon is set when the mailing date is after the rule set's
	// KnownThrough date: the rules may have changed since the set was
	// written, so the price should be checked against USPS.
	PastHorizon bool
	// (The small fields sit together: copying a Quote is a large part of
	// a quote's cost.)
	TableID      string
	TableVersion string
	Tier         Tier
	// BillableWeight is the weight the price is for: the larger of actual and
	// dimensional weight, rounded up to the tier. For cubic, soft-pack and
	// oversized prices it is the actual weight (the price does not depend on
	// weight).
	BillableWeight usps.Weight
	// RuleSet is the ID of the rule set that priced the shipment, the one in
	// force on its mailing date.
	RuleSet string
}

// Pricer quotes shipments from per-customer contract tables, falling back to
// a published commercial table and then a retail table. It is safe for
// concurrent use: tables can be installed and replaced while quotes run, and
// each quote sees exactly one version of each table.
type Pricer struct {
	sets []ruleSet // by EffectiveFrom, ascending; fixed after NewPricer
	// rules holds each registered product's rules under each set, at
	// [ProductID × len(sets) + set]; shared by every table.
	rules atomic.Pointer[[]prodRule]
	// setFrom and setThrough are the sets' days, packed for the quote path.
	setFrom, setThrough []int64
	clock               func() time.Time
	today               todayCache

	mu         sync.Mutex               // serializes registration and installs
	productIDs map[ProductKey]ProductID // IDs run from 1
	accountIDs map[string]AccountID
	tiers      tierCache

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

// ruleSet is a RuleSet with its dates as day numbers.
type ruleSet struct {
	id      string
	from    int64 // first day
	through int64 // KnownThrough day; maxDay when none
	rules   Rules
}

// WithRules replaces every rule set, the defaults included, with r for all
// mailing dates (rule set ID "custom"). Use [WithRuleSet] to change the rules
// of some dates only.
func WithRules(r Rules) Option {
	return func(p *Pricer) error {
		if err := r.validate(); err != nil {
			return err
		}
		p.sets = []ruleSet{{id: "custom", from: minDay, through: maxDay, rules: r.clone()}}
		return nil
	}
}

// WithRuleSet adds rs to the pricer's rule sets ([DefaultRuleSets] unless
// [WithRules] came first), replacing the set with the same EffectiveFrom
// date, if any. Mailing dates from rs.EffectiveFrom until the next set's
// EffectiveFrom are priced by it.
func WithRuleSet(rs RuleSet) Option {
	return func(p *Pricer) error {
		if !isLabel(rs.ID) {
			return &ValidationError{Field: "RuleSet.ID", Value: rs.ID, Reason: "want 1–64 characters of letters, digits, space and ._:/-"}
		}
		if err := rs.Rules.validate(); err != nil {
			return err
		}
		s := ruleSet{id: rs.ID, from: dayOrMin(rs.EffectiveFrom), through: dayOrMax(rs.KnownThrough), rules: rs.Rules.clone()}
		if s.through < s.from {
			return &ValidationError{Field: "RuleSet.KnownThrough", Value: rs.KnownThrough.Format(time.DateOnly), Reason: "must not be before EffectiveFrom"}
		}
		p.sets = slices.DeleteFunc(p.sets, func(o ruleSet) bool { return o.from == s.from })
		p.sets = append(p.sets, s)
		slices.SortFunc(p.sets, func(a, b ruleSet) int { return cmp.Compare(a.from, b.from) })
		return nil
	}
}

// WithClock sets the clock whose Central-time date is the mailing date of a
// shipment without one (default time.Now). Tests move it to price "today"
// on a chosen date.
func WithClock(now func() time.Time) Option {
	return func(p *Pricer) error {
		if now == nil {
			return &ValidationError{Field: "Clock", Value: "nil", Reason: "want a clock function"}
		}
		p.clock = now
		return nil
	}
}

// NewPricer returns a pricer with no tables and the rule sets of
// [DefaultRuleSets], changed by opts.
func NewPricer(opts ...Option) (*Pricer, error) {
	p := &Pricer{
		clock:      time.Now,
		productIDs: map[ProductKey]ProductID{},
		accountIDs: map[string]AccountID{},
		tiers:      tierCache{},
	}
	for _, rs := range DefaultRuleSets() {
		p.sets = append(p.sets, ruleSet{id: rs.ID, from: dayOrMin(rs.EffectiveFrom), through: dayOrMax(rs.KnownThrough), rules: rs.Rules})
	}
	for _, opt := range opts {
		if err := opt(p); err != nil {
			return nil, err
		}
	}
	p.accounts.Store(&[]*accountSlot{nil})
	p.rules.Store(new(make([]prodRule, len(p.sets)))) // ProductID 0 names no product
	for _, s := range p.sets {
		p.setFrom = append(p.setFrom, s.from)
		p.setThrough = append(p.setThrough, s.through)
	}
	return p, nil
}

// RuleSets returns the pricer's rule sets in date order, as quotes name
// them.
func (p *Pricer) RuleSets() []RuleSet {
	out := make([]RuleSet, len(p.sets))
	for i, s := range p.sets {
		out[i] = RuleSet{ID: s.id, Rules: s.rules.clone()}
		if s.from != minDay {
			out[i].EffectiveFrom = dayTime(s.from)
		}
		if s.through != maxDay {
			out[i].KnownThrough = dayTime(s.through)
		}
	}
	return out
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

// productLocked registers k and resolves its rules under every rule set.
// The oversized product k may be priced as is registered first, so that
// each product's rules sit at its own index.
func (p *Pricer) productLocked(k ProductKey) ProductID {
	if id, ok := p.productIDs[k]; ok {
		return id
	}
	for si := range p.sets {
		if o, ok := p.sets[si].rules.oversizedFor(k.MailClass); ok && o.RateIndicator != k.RateIndicator {
			p.productLocked(ProductKey{MailClass: k.MailClass, RateIndicator: o.RateIndicator, ProcessingCategory: k.ProcessingCategory})
		}
	}
	id := ProductID(len(p.productIDs) + 1)
	p.productIDs[k] = id
	// Appending writes only past the length quotes hold, so they never see
	// a half-written entry; the new length is published atomically.
	rules := *p.rules.Load()
	for si := range p.sets {
		rules = append(rules, newProdRule(&p.sets[si].rules, k, func(o ProductKey) ProductID { return p.productIDs[o] }))
	}
	p.rules.Store(&rules)
	return id
}

// ruleOf returns the rule of product id in rule set set, or nil for a
// product the pricer does not know.
func (p *Pricer) ruleOf(id ProductID, set int) *prodRule {
	rules := *p.rules.Load()
	if i := int(id)*len(p.sets) + set; i < len(rules) {
		return &rules[i]
	}
	return nil
}

// Account returns the handle for an EPS account (digits only), registering
// it on first use. A registered account without a table quotes at published
// rates with ReasonNoTable.
func (p *Pricer) Account(eps string) (AccountID, error) {
	if eps == "" || len(eps) > 20 || !decimal.AllDigits(eps) {
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
	return compile(t, ids, tiers)
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
	c, src, fallback, r, prod, tier, postage, err := p.find(&s, &pc)
	if err != nil {
		return Quote{}, err
	}
	var fees usps.Cents
	if prod.feeMask != 0 {
		fees = c.feesFor(prod.feeMask, &pc)
	}
	billable := usps.Weight(prod.bounds[tier]) // actual (or DIM) weight rounded up to the tier
	if prod.tierKind != WeightTiers || r.oversized || pc.lengthGirth > r.osOver {
		billable = pc.weight // cubic, soft-pack and oversized prices do not depend on weight
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
		RuleSet:        p.sets[pc.set].id,
		PastHorizon:    pc.day > p.setThrough[pc.set],
	}, nil
}

// find walks the tables in order (contract, commercial, retail) and returns
// the first that prices pc, with the contract's fallback reason.
func (p *Pricer) find(s *Shipment, pc *parcel) (c *compiled, src Source, fallback Reason, r *prodRule, prod *cproduct, tier int, postage usps.Cents, err error) {
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
		if r == nil {
			// Loaded after a table: a product the table covers was
			// registered, rules included, before the table was installed.
			if r = p.ruleOf(s.Product, pc.set); r == nil {
				reasons[i] = ReasonNotCovered
				continue
			}
		}
		prod, tier, postage, reasons[i], err = c.lookup(s.Product, r, pc)
		if err != nil || reasons[i] == ReasonNone {
			return c, src, reasons[0], r, prod, tier, postage, err
		}
	}
	return nil, 0, 0, nil, nil, 0, 0, &NoRateError{Contract: reasons[0], Commercial: reasons[1], Retail: reasons[2]}
}

// parcel validates s and derives the measures every table needs.
func (p *Pricer) parcel(s *Shipment, pc *parcel) error {
	if s.Product == 0 || s.Zone >= numZones || s.Weight <= 0 ||
		!validSide(s.Length) || !validSide(s.Width) || !validSide(s.Height) {
		return invalidShipment(s)
	}
	if s.Date.IsZero() {
		pc.day = p.today.day(p.clock())
	} else {
		pc.day = dayOf(s.Date)
	}
	// The newest rule set on or before the day: a scan from the end over a
	// handful of int64s.
	i := len(p.setFrom) - 1
	for i > 0 && p.setFrom[i] > pc.day {
		i--
	}
	if p.setFrom[i] > pc.day {
		return p.beforeRules(pc.day)
	}
	pc.set = i
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
	pc.lengthGirth = l + 2*(w+h)
	pc.volume = int64(l) * int64(w) * int64(h)
	pc.zone = s.Zone
	return nil
}

// beforeRules reports a mailing date earlier than every rule set.
func (p *Pricer) beforeRules(day int64) error {
	return &ValidationError{Field: "Date", Value: dayTime(day).Format(time.DateOnly),
		Reason: "before the earliest rule set (" + dayTime(p.sets[0].from).Format(time.DateOnly) + ")"}
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
