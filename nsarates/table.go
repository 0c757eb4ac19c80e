package nsarates

import (
	"cmp"
	"iter"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nsalink/nsalink/internal/decimal"
	"github.com/nsalink/nsalink/usps"
)

// TableInfo identifies a rate table and when it applies.
type TableInfo struct {
	// Account is the EPS account (digits only, docs/usps.md#identifiers) whose
	// contract this is; empty for published (commercial or retail) tables.
	Account string
	// ID names the table, e.g. the contract ("Priority Mail Contract 629").
	ID string
	// Version distinguishes successive tables with the same ID.
	Version string
	// The table applies to mailing dates from EffectiveFrom up to, not
	// including, EffectiveTo: a contract whose last day is 2027-01-16 has
	// EffectiveTo 2027-01-17 and prices labels mailed until midnight at the
	// end of 2027-01-16 in Chicago. Only the calendar date of each counts
	// (Year, Month, Day in the value's own location), read as a day in
	// USPS's time zone, America/Chicago. A zero EffectiveFrom means "always
	// since"; a zero EffectiveTo means open-ended (USPS's blank endDate,
	// docs/usps.md#rate-details).
	EffectiveFrom time.Time
	EffectiveTo   time.Time
}

func (in TableInfo) validate() error {
	if in.Account != "" && (len(in.Account) > 20 || !decimal.AllDigits(in.Account)) {
		return &ValidationError{Field: "Account", Value: in.Account, Reason: "want the EPS account number, digits only"}
	}
	if !isLabel(in.ID) {
		return &ValidationError{Field: "ID", Value: in.ID, Reason: "want 1–64 characters of letters, digits, space and ._:/-, no leading or trailing space"}
	}
	if !isLabel(in.Version) {
		return &ValidationError{Field: "Version", Value: in.Version, Reason: "want 1–64 characters of letters, digits, space and ._:/-, no leading or trailing space"}
	}
	if !in.EffectiveTo.IsZero() && dayOf(in.EffectiveTo) <= dayOrMin(in.EffectiveFrom) {
		return &ValidationError{Field: "EffectiveTo", Value: in.EffectiveTo.Format(time.DateOnly), Reason: "must be a later date than EffectiveFrom"}
	}
	return nil
}

// isLabel accepts the names a table or fee may carry. Keeping them to a plain
// alphabet keeps CSV output unquoted and round trips exact.
func isLabel(s string) bool {
	if s == "" || len(s) > 64 || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(" ._:/-", c) >= 0) {
			return false
		}
	}
	return true
}

// FeeKind says what a fee is measured against.
type FeeKind uint8

// Fee kinds.
const (
	// FeeLength applies when the longest side is over Fee.Over ([usps.Dimension]
	// units), e.g. the nonstandard length fees over 22 in and over 30 in.
	FeeLength FeeKind = iota + 1
	// FeeVolume applies when length × width × height is over Fee.Over whole
	// cubic inches, e.g. the nonstandard volume fee over 2 cu ft (3456).
	FeeVolume
)

// Fee is a surcharge kept as data. For each kind, only the applicable fee
// with the highest exceeded threshold is charged (over 30 in replaces over
// 22 in); fees of different kinds add up.
type Fee struct {
	Name      string
	MailClass string // the mail class it applies to; empty for every product of the table
	Kind      FeeKind
	Over      int64 // exclusive threshold; unit depends on Kind
	Amount    usps.Cents
}

// maxProducts bounds the products of one table (the compiled form names them
// with 16 bits).
const maxProducts = 4096

const maxFees = 16 // fees per table; the compiled form keeps a 16-bit mask per product

func (f Fee) validate() error {
	if !isLabel(f.Name) {
		return &ValidationError{Field: "Fee.Name", Value: f.Name, Reason: "want 1–64 characters of letters, digits, space and ._:/-"}
	}
	if f.MailClass != "" && !isUSPSWord(f.MailClass, "_-") {
		return &ValidationError{Field: "Fee.MailClass", Value: f.MailClass, Reason: "want upper-case USPS spelling or empty"}
	}
	switch {
	case f.Kind == FeeLength && f.Over > 0 && f.Over <= int64(usps.MaxDimension):
	case f.Kind == FeeVolume && f.Over > 0 && f.Over <= 1_000_000_000:
	default:
		return &ValidationError{Field: "Fee.Over", Value: f.overString(), Reason: "want a positive length (in) or volume (cuin) threshold"}
	}
	if f.Amount < 0 || f.Amount > usps.MaxCents {
		return &ValidationError{Field: "Fee.Amount", Value: f.Amount.String(), Reason: "want 0 to MaxCents"}
	}
	return nil
}

// overString formats the threshold with its unit, as in CSV: "22in", "3456cuin".
func (f Fee) overString() string {
	switch f.Kind {
	case FeeLength:
		return usps.Dimension(f.Over).String() + "in"
	case FeeVolume:
		return strconv.FormatInt(f.Over, 10) + "cuin"
	}
	return strconv.FormatInt(f.Over, 10)
}

// CellKey locates one price: product, zone and tier.
type CellKey struct {
	Product ProductKey
	Zone    Zone
	Tier    Tier
}

// Cell is one price of a table.
type Cell struct {
	CellKey
	Price usps.Cents
}

type cellPos struct {
	zone Zone
	tier Tier
}

type builderProduct struct {
	kind  TierKind
	tiers map[Tier]struct{}
	cells map[cellPos]usps.Cents
}

// Builder assembles a [Table] cell by cell. It is what the CSV reader and the
// USPS loader use; it is not safe for concurrent use.
type Builder struct {
	info     TableInfo
	products map[ProductKey]*builderProduct
	fees     []Fee
	n        int
}

// NewBuilder starts an empty table with the given identity.
func NewBuilder(info TableInfo) *Builder {
	return &Builder{info: info, products: map[ProductKey]*builderProduct{}}
}

// NewBuilderFrom starts a builder holding a copy of t, to edit it or to
// resume filling it.
func NewBuilderFrom(t *Table) *Builder {
	b := NewBuilder(t.info)
	for c := range t.Cells() {
		_ = b.SetCell(c.CellKey, c.Price) // t's cells are valid
	}
	b.fees = slices.Clone(t.fees)
	return b
}

// SetCell sets one price, replacing any earlier price for the same cell. All
// tiers of a product must be of one kind.
func (b *Builder) SetCell(k CellKey, price usps.Cents) error {
	if err := k.Product.validate(); err != nil {
		return err
	}
	if k.Zone >= numZones {
		return &ValidationError{Field: "Zone", Value: k.Zone.String(), Reason: "want 00 to 09"}
	}
	if err := k.Tier.validate(); err != nil {
		return err
	}
	if price < 0 || price > usps.MaxCents {
		return &ValidationError{Field: "Price", Value: price.String(), Reason: "want 0 to MaxCents"}
	}
	p := b.products[k.Product]
	if p == nil {
		if len(b.products) == maxProducts {
			return &ValidationError{Field: "Product", Value: k.Product.String(), Reason: "a table holds at most 4096 products"}
		}
		p = &builderProduct{kind: k.Tier.Kind, tiers: map[Tier]struct{}{}, cells: map[cellPos]usps.Cents{}}
		b.products[k.Product] = p
	}
	if p.kind != k.Tier.Kind {
		return &ValidationError{Field: "Tier", Value: k.Tier.String(), Reason: "product " + k.Product.String() + " mixes weight and cubic tiers"}
	}
	if _, ok := p.tiers[k.Tier]; !ok {
		if len(p.tiers) == maxTiers {
			return &ValidationError{Field: "Tier", Value: k.Tier.String(), Reason: "a product has at most 255 tiers"}
		}
		p.tiers[k.Tier] = struct{}{}
	}
	pos := cellPos{k.Zone, k.Tier}
	if _, ok := p.cells[pos]; !ok {
		b.n++
	}
	p.cells[pos] = price
	return nil
}

// Cell returns the price set for k, if any.
func (b *Builder) Cell(k CellKey) (usps.Cents, bool) {
	p := b.products[k.Product]
	if p == nil {
		return 0, false
	}
	c, ok := p.cells[cellPos{k.Zone, k.Tier}]
	return c, ok
}

// Len is the number of cells set.
func (b *Builder) Len() int { return b.n }

// AddFee adds a fee. Two fees with the same mail class, kind and threshold
// are an error.
func (b *Builder) AddFee(f Fee) error {
	if err := f.validate(); err != nil {
		return err
	}
	for _, g := range b.fees {
		if g.MailClass == f.MailClass && g.Kind == f.Kind && g.Over == f.Over {
			return &ValidationError{Field: "Fee", Value: f.Name, Reason: "duplicates fee " + g.Name}
		}
	}
	if len(b.fees) == maxFees {
		return &ValidationError{Field: "Fee", Value: f.Name, Reason: "a table holds at most 16 fees"}
	}
	b.fees = append(b.fees, f)
	return nil
}

// Build checks the table's identity and returns an immutable copy of the
// table. Cells and fees were checked as they were added.
func (b *Builder) Build() (*Table, error) {
	if err := b.info.validate(); err != nil {
		return nil, err
	}
	t := &Table{info: b.info, fees: slices.Clone(b.fees), n: b.n}
	for key, bp := range b.products {
		tiers := make([]Tier, 0, len(bp.tiers))
		for tier := range bp.tiers {
			tiers = append(tiers, tier)
		}
		slices.SortFunc(tiers, func(a, b Tier) int { return cmp.Compare(a.Max, b.Max) })
		prices := make([]usps.Cents, numZones*len(tiers))
		for i := range prices {
			prices[i] = absent
		}
		for pos, c := range bp.cells {
			ti, _ := slices.BinarySearchFunc(tiers, pos.tier.Max, func(t Tier, m int64) int { return cmp.Compare(t.Max, m) })
			prices[int(pos.zone)*len(tiers)+ti] = c
		}
		t.products = append(t.products, tableProduct{key: key, tiers: tiers, prices: prices})
	}
	slices.SortFunc(t.products, func(a, b tableProduct) int { return cmpKey(a.key, b.key) })
	sortFees(t.fees)
	return t, nil
}

func cmpKey(a, b ProductKey) int {
	switch {
	case a.less(b):
		return -1
	case b.less(a):
		return 1
	}
	return 0
}

// sortFees puts fees in their canonical (CSV) order: mail class, kind, threshold.
func sortFees(fees []Fee) {
	slices.SortFunc(fees, func(a, b Fee) int {
		return cmp.Or(cmp.Compare(a.MailClass, b.MailClass), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Over, b.Over))
	})
}

// absent marks a zone/tier position without a price.
const absent usps.Cents = -1

// Table is an immutable rate table: products × zones × tiers, and fees. Build
// one with a [Builder], [ReadCSV] or [Table.Derive]; install it in a [Pricer]
// to quote from it.
type Table struct {
	info     TableInfo
	products []tableProduct // sorted by key
	fees     []Fee          // canonical order
	n        int

	// base and chain, on a derived table: the undiscounted table and the
	// discounts from it, so that a further Derive rounds once.
	base  *Table
	chain []Discount
}

type tableProduct struct {
	key    ProductKey
	tiers  []Tier       // ascending, one kind
	prices []usps.Cents // [zone*len(tiers)+tier]; absent where unset
}

// Info returns the table's identity and effective dates.
func (t *Table) Info() TableInfo { return t.info }

// Len is the number of cells with a price.
func (t *Table) Len() int { return t.n }

// Products lists the table's products in canonical order.
func (t *Table) Products() []ProductKey {
	keys := make([]ProductKey, len(t.products))
	for i, p := range t.products {
		keys[i] = p.key
	}
	return keys
}

// Tiers lists a product's tiers in ascending order (nil if not covered).
func (t *Table) Tiers(p ProductKey) []Tier {
	if tp := t.product(p); tp != nil {
		return slices.Clone(tp.tiers)
	}
	return nil
}

// Fees lists the table's fees in canonical order.
func (t *Table) Fees() []Fee { return slices.Clone(t.fees) }

// Price returns the price of one cell, if the table has it.
func (t *Table) Price(k CellKey) (usps.Cents, bool) {
	tp := t.product(k.Product)
	if tp == nil || k.Zone >= numZones {
		return 0, false
	}
	ti, ok := slices.BinarySearchFunc(tp.tiers, k.Tier, func(a, b Tier) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Max, b.Max))
	})
	if !ok {
		return 0, false
	}
	c := tp.prices[int(k.Zone)*len(tp.tiers)+ti]
	if c == absent {
		return 0, false
	}
	return c, true
}

func (t *Table) product(k ProductKey) *tableProduct {
	i, ok := slices.BinarySearchFunc(t.products, k, func(p tableProduct, k ProductKey) int { return cmpKey(p.key, k) })
	if !ok {
		return nil
	}
	return &t.products[i]
}

// Cells yields every priced cell in canonical order: product, zone, tier.
func (t *Table) Cells() iter.Seq[Cell] {
	return func(yield func(Cell) bool) {
		for _, p := range t.products {
			for z := range Zone(numZones) {
				for ti, tier := range p.tiers {
					c := p.prices[int(z)*len(p.tiers)+ti]
					if c != absent && !yield(Cell{CellKey{p.key, z, tier}, c}) {
						return
					}
				}
			}
		}
	}
}

// CellDiff is one difference between two tables. InA/InB say whether the
// cell is priced in each; A/B are the prices where it is.
type CellDiff struct {
	CellKey
	A, B     usps.Cents
	InA, InB bool
}

// Compare lists, in canonical order, every cell whose price differs between
// a and b or that only one of them has. Identity, dates and fees are not
// compared. It is the basis of a drift report.
func Compare(a, b *Table) []CellDiff {
	var diffs []CellDiff
	for c := range a.Cells() {
		if pb, ok := b.Price(c.CellKey); !ok || pb != c.Price {
			diffs = append(diffs, CellDiff{CellKey: c.CellKey, A: c.Price, B: pb, InA: true, InB: ok})
		}
	}
	for c := range b.Cells() {
		if _, ok := a.Price(c.CellKey); !ok {
			diffs = append(diffs, CellDiff{CellKey: c.CellKey, B: c.Price, InB: true})
		}
	}
	slices.SortStableFunc(diffs, func(x, y CellDiff) int {
		return cmp.Or(cmpKey(x.Product, y.Product), cmp.Compare(x.Zone, y.Zone), cmp.Compare(x.Tier.Max, y.Tier.Max))
	})
	return diffs
}

// Discount describes a table derived from a base table.
type Discount struct {
	// BasisPoints off every base price, 0–10000 (1250 = 12.5 % off).
	BasisPoints int64
	// MinPrice is the lowest price any derived cell may have.
	MinPrice usps.Cents
	// Floor, if set, is a table no derived cell may go below, cell by cell
	// (cells the floor lacks impose nothing).
	Floor *Table
	// FloorAboveBase lets MinPrice and Floor raise a cell above its
	// undiscounted base price. Without it a floor stops at the base price:
	// a discount never makes a cell dearer than no discount.
	FloorAboveBase bool
}

// maxChain bounds the discounts a table derives from its base: exact
// values stay inside 128 bits (MaxCents × 10000⁴ < 2¹²⁷).
const maxChain = 4

// Derive builds a table from t by a discount. Each cell is
//
//	round_half_up(base × (10000 − bp) / 10000), raised to MinPrice and
//	the Floor cell where they are higher, but not above base unless
//	FloorAboveBase
//
// computed exactly in integers: half a cent rounds up (1001 at 50 % → 501).
// When t was itself derived, the new table is derived from t's base
// through every discount of the chain, and each cell is rounded once, at
// the end: 50 % then 50 % off $10.05 is round(2.5125) = $2.51, not
// round(round(5.025) × 0.5) = round(2.515) = $2.52. Floors and minimum prices of earlier
// steps apply to the exact value of their step. The chain is kept in
// memory: a table read back from CSV is a new base. At most 4 discounts
// chain. Fees are copied unchanged. info gives the new table's identity.
func (t *Table) Derive(info TableInfo, d Discount) (*Table, error) {
	if d.BasisPoints < 0 || d.BasisPoints > 10000 {
		return nil, &ValidationError{Field: "BasisPoints", Value: strconv.FormatInt(d.BasisPoints, 10), Reason: "want 0 to 10000"}
	}
	if d.MinPrice < 0 || d.MinPrice > usps.MaxCents {
		return nil, &ValidationError{Field: "MinPrice", Value: d.MinPrice.String(), Reason: "want 0 to MaxCents"}
	}
	if err := info.validate(); err != nil {
		return nil, err
	}
	base, chain := t, []Discount{d}
	if t.base != nil {
		base, chain = t.base, append(slices.Clone(t.chain), d)
	}
	if len(chain) > maxChain {
		return nil, &ValidationError{Field: "Discount", Value: strconv.Itoa(len(chain)), Reason: "a table derives at most 4 chained discounts from its base"}
	}
	out := &Table{info: info, fees: slices.Clone(base.fees), n: base.n, products: make([]tableProduct, len(base.products)), base: base, chain: chain}
	for i, p := range base.products {
		q := tableProduct{key: p.key, tiers: p.tiers, prices: make([]usps.Cents, len(p.prices))}
		for j, c := range p.prices {
			if c == absent {
				q.prices[j] = absent
				continue
			}
			q.prices[j] = derive(c, chain, func(f *Table) (usps.Cents, bool) {
				return f.Price(CellKey{p.key, Zone(j / len(p.tiers)), p.tiers[j%len(p.tiers)]})
			})
		}
		out.products[i] = q
	}
	return out, nil
}

// derive applies chain to base price c exactly and rounds once, half a cent
// up. The exact value is num / 10000^k after k steps, num in 128 bits.
func derive(c usps.Cents, chain []Discount, floorCell func(*Table) (usps.Cents, bool)) usps.Cents {
	num := u128{lo: uint64(c)}
	den := uint64(1)
	for _, d := range chain {
		num = num.mul(uint64(10000 - d.BasisPoints))
		den *= 10000
		floor := d.MinPrice
		if d.Floor != nil {
			if f, ok := floorCell(d.Floor); ok {
				floor = max(floor, f)
			}
		}
		if !d.FloorAboveBase {
			floor = min(floor, c)
		}
		if fl := (u128{lo: uint64(floor)}).mul(den); num.less(fl) {
			num = fl
		}
	}
	// (num + den/2) / den; the quotient is a price, so hi < den.
	lo, carry := bits.Add64(num.lo, den/2, 0)
	q, _ := bits.Div64(num.hi+carry, lo, den)
	return usps.Cents(q)
}

// u128 is an unsigned 128-bit integer, enough for a price times 10000⁴.
type u128 struct{ hi, lo uint64 }

func (a u128) mul(m uint64) u128 {
	hi, lo := bits.Mul64(a.lo, m)
	return u128{hi: a.hi*m + hi, lo: lo}
}

func (a u128) less(b u128) bool { return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo }
