package linking

import (
	"context"
	"errors"

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
// contract tables (keyed by EPS account) and the published tables. The
// account's contract table is used only while its link is active: a link
// that is pending, needs action or is unlinked never prices at NSA rates,
// and its quote says why. s.Account is ignored: the account's handle comes
// from its link's EPS account.
//
// It costs one Store read; for label volumes, cache Status per account for
// a few seconds in the host and call the Pricer directly.
func (l *Linker) Quote(ctx context.Context, pricer *nsarates.Pricer, accountID string, s nsarates.Shipment) (Quote, error) {
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
		if s.Account, err = pricer.Account(lk.EPSAccount.Reveal()); err != nil {
			return Quote{}, errors.New("linking: active link without a valid EPS account")
		}
	}
	q, err := pricer.Quote(s)
	if err != nil {
		return Quote{}, err
	}
	return Quote{Quote: q, LinkState: state, LinkNotActive: state != StateActive}, nil
}
