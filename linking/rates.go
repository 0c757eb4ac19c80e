package linking

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/uspsbiz"
)

// Quote is an nsarates quote with the link state it was priced under.
type Quote struct {
	nsarates.Quote
	LinkState State
	// LinkNotActive is set when the account's contract table was not
	// consulted because its link is not active; the quote then comes from a
	// published table (Fallback is nsarates.ReasonNoTable).
	LinkNotActive bool
	// NotNSA says why the quote is not at the customer's NSA price;
	// NotNSANone when it is (Source is nsarates.SourceContract).
	NotNSA NotNSA
}

// NotNSA says why a quote is not at the customer's contract price. It is
// a small integer (quotes are returned by value on the hot path); String
// and MarshalText give a stable word a host can show or count.
type NotNSA uint8

// Why a quote is not at the NSA price.
const (
	NotNSANone NotNSA = iota // the quote is at the NSA price
	// NotNSALinkNotActive ("link_not_active"): the link is not active (see
	// LinkState).
	NotNSALinkNotActive
	// NotNSATableNotLoaded ("table_not_loaded"): the link is active but its
	// contract table is not loaded yet (the sync has not stored any price).
	NotNSATableNotLoaded
	// NotNSATablePartial ("table_partial"): the table is still being synced
	// and this cell is not loaded yet (Status.Table.Done of Total).
	NotNSATablePartial
	// NotNSAOutsideDates ("table_outside_dates"): the mailing date is
	// outside the table's dates.
	NotNSAOutsideDates
	// NotNSANotInTable ("not_in_table"): the complete table has no price
	// for this product, zone or tier (Fallback says which), or a gap in its
	// tier sequence leaves this weight without a contract price.
	NotNSANotInTable
)

var notNSAWords = [...]string{"", "link_not_active", "table_not_loaded", "table_partial", "table_outside_dates", "not_in_table"}

// String returns the reason's word ("" for NotNSANone).
func (n NotNSA) String() string {
	if int(n) < len(notNSAWords) {
		return notNSAWords[n]
	}
	return "unknown"
}

// MarshalText encodes the reason as its word.
func (n NotNSA) MarshalText() ([]byte, error) { return []byte(n.String()), nil }

// Quote prices s for accountID with pricer, which holds the customers'
// contract tables (keyed by EPS account) and the published tables, with
// the link's default EPS account (QuoteAt prices at a location). The
// account's contract table is used only while its link is active: a link
// that is pending, needs action or is unlinked never prices at NSA rates,
// and its quote says why (NotNSA). s.Account is ignored: the account's
// handle comes from its link's EPS account.
//
// While RunSync runs, the link's state comes from an in-process cache
// kept coherent across instances (WithCacheStaleness): a warm quote does
// no store read and no allocation. Otherwise it costs one Store read.
func (l *Linker) Quote(ctx context.Context, pricer *nsarates.Pricer, accountID string, s nsarates.Shipment) (out Quote, err error) {
	v := l.cache.hot(accountID, pricer)
	if v == nil {
		if v, err = l.view(ctx, accountID, pricer); err != nil {
			return Quote{}, err
		}
	}
	s.Account = 0
	active := v.state == StateActive
	if active {
		s.Account = v.acct
	}
	if out.Quote, err = pricer.Quote(s); err != nil {
		return Quote{}, err
	}
	out.LinkState, out.LinkNotActive = v.state, !active
	switch {
	case !active:
		out.NotNSA = NotNSALinkNotActive
	case out.Source != nsarates.SourceContract:
		out.NotNSA = l.whyNotNSA(accountID, out.Fallback)
	case v.gaps != nil:
		if prev, gapped := v.gapBefore(s.Product, out.Tier); gapped {
			err = l.repriceGap(pricer, s, prev, &out)
		}
	}
	return out, err
}

// QuoteAt is Quote with the EPS account of the link's location with this
// label ("" is the default, and is Quote; an unknown label of an active
// link is ErrUnknownLocation). The contract table is used only while the
// link is active. A location's quote costs one Store read: the link cache
// holds the default account only.
func (l *Linker) QuoteAt(ctx context.Context, pricer *nsarates.Pricer, accountID, location string, s nsarates.Shipment) (Quote, error) {
	if location == "" {
		return l.Quote(ctx, pricer, accountID, s)
	}
	state := StateUnlinked
	lk, err := l.store.GetLink(ctx, accountID)
	switch {
	case err == nil:
		state = lk.State
	case !errors.Is(err, ErrNotFound):
		return Quote{}, err
	}
	s.Account = 0
	active := state == StateActive
	if active {
		loc, ok := lk.location(location)
		if !ok {
			return Quote{}, fmt.Errorf("%w: %q", ErrUnknownLocation, location)
		}
		if s.Account, err = pricer.Account(loc.EPSAccount.Reveal()); err != nil {
			return Quote{}, errors.New("linking: active link without a valid EPS account")
		}
	}
	var out Quote
	if out.Quote, err = pricer.Quote(s); err != nil {
		return Quote{}, err
	}
	out.LinkState, out.LinkNotActive = state, !active
	switch {
	case !active:
		out.NotNSA = NotNSALinkNotActive
	case out.Source == nsarates.SourceContract:
	case out.Fallback == nsarates.ReasonOutsideDates:
		out.NotNSA = NotNSAOutsideDates
	case out.Fallback == nsarates.ReasonNoTable:
		// The Store's table sync follows the default account; a location's
		// table is the host's to load into pricer.
		out.NotNSA = NotNSATableNotLoaded
	default:
		out.NotNSA = NotNSANotInTable
	}
	return out, nil
}

// whyNotNSA names why an active link's quote fell back.
func (l *Linker) whyNotNSA(accountID string, fb nsarates.Reason) NotNSA {
	m, ok := l.tableMetaOf(accountID)
	switch {
	case fb == nsarates.ReasonOutsideDates:
		return NotNSAOutsideDates
	case !ok || !m.loaded || fb == nsarates.ReasonNoTable:
		return NotNSATableNotLoaded
	case !m.complete:
		return NotNSATablePartial
	}
	return NotNSANotInTable
}

// cachedPayment returns v's payment token while it may still be used.
func (l *Linker) cachedPayment(v *linkView) (uspsbiz.Secret, time.Time, bool) {
	if v == nil || v.state != StateActive || v.payTok == "" || !l.now().Add(uspsbiz.EarlyExpiry).Before(v.payExp) {
		return "", time.Time{}, false
	}
	return v.payTok, v.payExp, true
}
