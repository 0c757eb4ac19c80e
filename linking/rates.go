package linking

import (
	"context"
	"errors"

	"github.com/nsalink/nsalink/nsarates"
)

// Rates prices labels for platform accounts with an nsarates.Pricer that
// holds the customers' contract tables (keyed by EPS account) and the
// published tables. An account's contract table is used only while its link
// is active: a link that is pending, needs action or is unlinked never
// prices at NSA rates, and its quote says why.
type Rates struct {
	linker *Linker
	pricer *nsarates.Pricer
}

// NewRates ties pricer to l's links.
func (l *Linker) NewRates(pricer *nsarates.Pricer) *Rates {
	return &Rates{linker: l, pricer: pricer}
}

// Quote is an nsarates quote with the link state it was priced under.
type Quote struct {
	nsarates.Quote
	LinkState State
	// LinkNotActive is set when the account's contract table was not
	// consulted because its link is not active; the quote then comes from a
	// published table (Fallback is nsarates.ReasonNoTable).
	LinkNotActive bool
}

// Quote prices s for accountID. s.Account is ignored: the account's handle
// comes from its link's EPS account, and only while the link is active.
// It costs one Store read; for label volumes, cache Status per account for
// a few seconds in the host and call the Pricer directly.
func (r *Rates) Quote(ctx context.Context, accountID string, s nsarates.Shipment) (Quote, error) {
	state := StateUnlinked
	lk, err := r.linker.store.GetLink(ctx, accountID)
	switch {
	case err == nil:
		state = lk.State
	case !errors.Is(err, ErrNotFound):
		return Quote{}, err
	}
	s.Account = 0
	if state == StateActive {
		if s.Account, err = r.pricer.Account(lk.EPSAccount.Reveal()); err != nil {
			return Quote{}, errors.New("linking: active link without a valid EPS account")
		}
	}
	q, err := r.pricer.Quote(s)
	if err != nil {
		return Quote{}, err
	}
	return Quote{Quote: q, LinkState: state, LinkNotActive: state != StateActive}, nil
}
