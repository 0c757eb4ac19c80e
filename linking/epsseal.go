package linking

import (
	"context"
	"fmt"
	"time"

	"github.com/nsalink/nsalink/usps"
)

// sealedFieldEPS names Link.SealedEPS for sealAAD.
const sealedFieldEPS = "eps"

// epsSealingStore is the Store a Linker works on: it seals a link's EPS
// account number into SealedEPS (and stores EPSAccount empty) on every
// write, and opens it back into EPSAccount on every read, so that the rest
// of the flow handles the number as before while no store keeps it in
// clear. Legacy rows (EPSAccount in clear, no SealedEPS) read as they are
// and are sealed by their next write.
type epsSealingStore struct {
	Store
	sealer Sealer
}

func (s *epsSealingStore) seal(l *Link) (*Link, error) {
	if l == nil {
		return nil, nil
	}
	c := *l
	if len(l.Locations) > 0 {
		c.Locations = make([]Location, len(l.Locations))
		for i, loc := range l.Locations {
			if loc.EPSAccount != "" {
				sealed, err := s.sealer.Seal([]byte(loc.EPSAccount.Reveal()), locationEPSAAD(l.AccountID, loc.Label))
				if err != nil {
					return nil, fmt.Errorf("linking: sealing EPS account of location %q: %w", loc.Label, err)
				}
				loc.SealedEPS, loc.EPSAccount = sealed, ""
			}
			c.Locations[i] = loc
		}
	}
	if l.EPSAccount == "" {
		c.SealedEPS = nil
		return &c, nil
	}
	sealed, err := s.sealer.Seal([]byte(l.EPSAccount.Reveal()), sealAAD(l.AccountID, sealedFieldEPS))
	if err != nil {
		return nil, fmt.Errorf("linking: sealing EPS account: %w", err)
	}
	c.SealedEPS, c.EPSAccount = sealed, ""
	return &c, nil
}

// locationEPSAAD is the sealing context of a location's EPS account.
func locationEPSAAD(accountID, label string) []byte {
	return sealAAD(accountID, sealedFieldEPS+":"+label)
}

func (s *epsSealingStore) open(l *Link, err error) (*Link, error) {
	if err != nil || l == nil {
		return l, err
	}
	return openEPS(s.sealer, l)
}

// openEPS fills l.EPSAccount from l.SealedEPS (in place).
func openEPS(sealer Sealer, l *Link) (*Link, error) {
	for i, loc := range l.Locations {
		if len(loc.SealedEPS) == 0 {
			continue
		}
		plain, err := sealer.Open(loc.SealedEPS, locationEPSAAD(l.AccountID, loc.Label))
		if err != nil {
			return nil, fmt.Errorf("linking: opening EPS account of %q, location %q: %w", l.AccountID, loc.Label, err)
		}
		l.Locations[i].EPSAccount = usps.EPSAccount(plain)
	}
	if len(l.SealedEPS) == 0 {
		return l, nil
	}
	plain, err := sealer.Open(l.SealedEPS, sealAAD(l.AccountID, sealedFieldEPS))
	if err != nil {
		return nil, fmt.Errorf("linking: opening EPS account of %q: %w", l.AccountID, err)
	}
	l.EPSAccount = usps.EPSAccount(plain)
	return l, nil
}

func (s *epsSealingStore) CreateLink(ctx context.Context, l *Link) (*Link, error) {
	c, err := s.seal(l)
	if err != nil {
		return nil, err
	}
	return s.open(s.Store.CreateLink(ctx, c))
}

func (s *epsSealingStore) GetLink(ctx context.Context, accountID string) (*Link, error) {
	return s.open(s.Store.GetLink(ctx, accountID))
}

func (s *epsSealingStore) UpdateLink(ctx context.Context, l *Link, ev *Event) (*Link, error) {
	c, err := s.seal(l)
	if err != nil {
		return nil, err
	}
	return s.open(s.Store.UpdateLink(ctx, c, ev))
}

func (s *epsSealingStore) ClaimDue(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*Link, error) {
	links, err := s.Store.ClaimDue(ctx, now, limit, lease)
	if err != nil {
		return nil, err
	}
	for i, l := range links {
		if links[i], err = openEPS(s.sealer, l); err != nil {
			return nil, err
		}
	}
	return links, nil
}

func (s *epsSealingStore) LockLink(ctx context.Context, accountID string, fn func(ctx context.Context, tx LinkTx) error) error {
	return s.Store.LockLink(ctx, accountID, func(ctx context.Context, tx LinkTx) error {
		return fn(ctx, epsSealingTx{tx: tx, s: s})
	})
}

type epsSealingTx struct {
	tx LinkTx
	s  *epsSealingStore
}

func (t epsSealingTx) Get() (*Link, error) { return t.s.open(t.tx.Get()) }

func (t epsSealingTx) Update(l *Link, ev *Event) (*Link, error) {
	c, err := t.s.seal(l)
	if err != nil {
		return nil, err
	}
	return t.s.open(t.tx.Update(c, ev))
}

// OpenEPS returns the EPS account number of l, a link read straight from a
// Store (not through a Linker), opening l.SealedEPS with s. Operator tools
// that read a Store directly use it; a link written before EPS sealing
// returns its EPSAccount as stored.
func OpenEPS(s Sealer, l *Link) (usps.EPSAccount, error) {
	c := *l
	c.Locations = nil // the default account only; l stays as it is
	o, err := openEPS(s, &c)
	if err != nil {
		return "", err
	}
	return o.EPSAccount, nil
}
