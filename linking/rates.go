package linking

import (
	"context"
	"errors"
	"fmt"

	"github.com/nsalink/nsalink/nsarates"
)

// Quote is an nsarates quote with the link state it was priced under.
type Quote struct {
	nsarates.Quote
	LinkState State
	// LinkNotActive is set when the account's contract table was not
	// consulted because its link is not active; the quote then comes from a
	// published table (Fallback is nsarates.ReasonNoTable).
	LinkNotActive bool
}

// Quote prices s for accountID with pricer, which holds the customers'
// contract tables (keyed by EPS account) and the published tables, with the
// link's default EPS account: see QuoteAt.
func (l *Linker) Quote(ctx context.Context, pricer *nsarates.Pricer, accountID string, s nsarates.Shipment) (Quote, error) {
	return l.QuoteAt(ctx, pricer, accountID, "", s)
}

// QuoteAt prices s for accountID with pricer, which holds the customers'
// contract tables (keyed by EPS account) and the published tables, with
// the EPS account of the link's location with this label ("" is the
// default; an unknown label is ErrUnknownLocation). The contract table is
// used only while the link is active: a link that is pending, needs action
// or is unlinked never prices at NSA rates, and its quote says why.
// s.Account is ignored: the account's handle comes from the location's
// EPS account.
//
// It costs one Store read; for label volumes, cache Status per account for
// a few seconds in the host and call the Pricer directly.
func (l *Linker) QuoteAt(ctx context.Context, pricer *nsarates.Pricer, accountID, location string, s nsarates.Shipment) (Quote, error) {
	state := StateUnlinked
	lk, err := l.store.GetLink(ctx, accountID)
	switch {
	case err == nil:
		state = lk.State
	case !errors.Is(err, ErrNotFound):
		return Quote{}, err
	}
	s.Account = 0
	if state == StateActive {
		loc, ok := lk.location(location)
		if !ok {
			return Quote{}, fmt.Errorf("%w: %q", ErrUnknownLocation, location)
		}
		if s.Account, err = pricer.Account(loc.EPSAccount.Reveal()); err != nil {
			return Quote{}, errors.New("linking: active link without a valid EPS account")
		}
	}
	q, err := pricer.Quote(s)
	if err != nil {
		return Quote{}, err
	}
	return Quote{Quote: q, LinkState: state, LinkNotActive: state != StateActive}, nil
}
