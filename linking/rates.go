package linking

import (
	"context"
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

// NotNSA says why a quote is not at the customer's contract price. Each
// value is a stable word a host can show or count.
type NotNSA string

// Why a quote is not at the NSA price.
const (
	NotNSANone NotNSA = ""
	// NotNSALinkNotActive: the link is not active (see LinkState).
	NotNSALinkNotActive NotNSA = "link_not_active"
	// NotNSATableNotLoaded: the link is active but its contract table is
	// not loaded yet (the sync has not stored any price).
	NotNSATableNotLoaded NotNSA = "table_not_loaded"
	// NotNSATablePartial: the table is still being synced and this cell
	// is not loaded yet (Status.Table.Done of Total).
	NotNSATablePartial NotNSA = "table_partial"
	// NotNSAOutsideDates: the mailing date is outside the table's dates.
	NotNSAOutsideDates NotNSA = "table_outside_dates"
	// NotNSANotInTable: the complete table has no price for this product,
	// zone or tier (Fallback says which), or a gap in its tier sequence
	// leaves this weight without a contract price.
	NotNSANotInTable NotNSA = "not_in_table"
)

// Quote prices s for accountID with pricer, which holds the customers'
// contract tables (keyed by EPS account) and the published tables. The
// account's contract table is used only while its link is active: a link
// that is pending, needs action or is unlinked never prices at NSA rates,
// and its quote says why (NotNSA). s.Account is ignored: the account's
// handle comes from its link's EPS account.
//
// While RunSync runs, the link's state comes from an in-process cache
// kept coherent across instances (WithCacheStaleness): a warm quote does
// no store read and no allocation. Otherwise it costs one Store read.
func (l *Linker) Quote(ctx context.Context, pricer *nsarates.Pricer, accountID string, s nsarates.Shipment) (out Quote, err error) {
	v, err := l.view(ctx, accountID, pricer)
	if err != nil {
		return Quote{}, err
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
