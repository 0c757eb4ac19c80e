package linking

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/nsalink/nsalink/internal/seal"
)

// Sealer encrypts secrets for storage at rest and decrypts them. aad
// (associated data) binds a sealed value to where it belongs (the account
// and the field): a value sealed with one aad does not open with another.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Rewrapper is a Sealer that can also re-encrypt a sealed value under its
// current primary key, reporting whether it changed. The sealer of
// NewAESGCMSealer is one.
type Rewrapper interface {
	Sealer
	Rewrap(sealed, aad []byte) (out []byte, rewrapped bool, err error)
}

// Errors from Sealer.Open and Rewrap.
var (
	// ErrSealKeyUnknown: the value was sealed under a key id the sealer does
	// not hold (for example a retired key).
	ErrSealKeyUnknown = seal.ErrUnknownKeyID
	// ErrSealIntegrity: the value is malformed, altered, or was sealed with
	// other associated data (for example another link's token moved here).
	ErrSealIntegrity = seal.ErrIntegrity
)

// Names of sealed fields, for sealAAD.
const (
	sealedFieldToken        = "token"         // Link.Token
	sealedFieldPaymentToken = "payment_token" // Link.PaymentToken
	sealedFieldVerifier     = "verifier"      // AuthRequest.Verifier
)

// sealAAD returns the associated data binding a sealed value to one field
// of one record, e.g. sealAAD(link.AccountID, sealedFieldToken). Parts are
// length-prefixed so that no two (id, field) pairs give the same bytes.
func sealAAD(id, field string) []byte {
	const tag = "nsalink/v1"
	b := make([]byte, 0, len(tag)+len(id)+len(field)+2*binary.MaxVarintLen64)
	b = append(b, tag...)
	b = binary.AppendUvarint(b, uint64(len(id)))
	b = append(b, id...)
	b = binary.AppendUvarint(b, uint64(len(field)))
	return append(b, field...)
}

// aesgcmSealer is the Rewrapper of NewAESGCMSealer, which documents it. A
// zero value (say, one decoded from JSON) holds no keys and fails closed.
type aesgcmSealer struct {
	kr *seal.Keyring // pointer: fmt of an enclosing struct never reaches key state
}

// NewAESGCMSealer returns a sealer that seals under keys[primaryKeyID] and
// opens under any of keys, using AES-256-GCM with a random 96-bit nonce per
// value and a key id in every sealed value, so that old keys keep opening
// old values during a rotation. It is safe for concurrent use and prints
// redacted (no key material) with fmt and log/slog. Rotation: add a new key
// and make it primary (new values use it, old ones still open), run
// RewrapAll, then drop the old key. Keys must be exactly 32 random bytes; key ids
// 1 to 64 bytes of [A-Za-z0-9._-]. The keys are copied into cipher state;
// the caller may zero its slices afterwards.
func NewAESGCMSealer(primaryKeyID string, keys map[string][]byte) (Rewrapper, error) {
	kr, err := seal.NewKeyring(primaryKeyID, keys)
	if err != nil {
		return nil, err
	}
	return &aesgcmSealer{kr: kr}, nil
}

// errNoKeys is what a sealer not made by NewAESGCMSealer (say, a zero value
// or one decoded from JSON, which carries no keys) answers: it fails closed.
var errNoKeys = errors.New("linking: AESGCMSealer has no keys; use NewAESGCMSealer")

// Seal encrypts plaintext under the primary key, bound to aad.
func (s *aesgcmSealer) Seal(plaintext, aad []byte) ([]byte, error) {
	if s.kr == nil {
		return nil, errNoKeys
	}
	return s.kr.Seal(plaintext, aad)
}

// Open decrypts sealed, which must have been sealed with aad. Errors wrap
// ErrSealKeyUnknown or ErrSealIntegrity and never contain plaintext.
func (s *aesgcmSealer) Open(sealed, aad []byte) ([]byte, error) {
	if s.kr == nil {
		return nil, errNoKeys
	}
	return s.kr.Open(sealed, aad)
}

// Rewrap re-seals a value under the primary key if an older key sealed it.
// It authenticates the value in every case; a value already under the
// primary key comes back unchanged with rewrapped false.
func (s *aesgcmSealer) Rewrap(sealed, aad []byte) ([]byte, bool, error) {
	if s.kr == nil {
		return nil, false, errNoKeys
	}
	return s.kr.Rewrap(sealed, aad)
}

// sealedKeyID returns the key id recorded in a sealed value (unauthenticated).
func sealedKeyID(sealed []byte) (string, error) { return seal.KeyID(sealed) }

func (s aesgcmSealer) redacted() string {
	if s.kr == nil {
		return "linking.AESGCMSealer{}"
	}
	return fmt.Sprintf("linking.AESGCMSealer{primary: %q, keys: %d, material: [REDACTED]}",
		s.kr.PrimaryKeyID(), len(s.kr.KeyIDs()))
}

// Format describes the sealer by key ids only, for every verb (log/slog's
// text handler goes through it too; its JSON handler sees no exported
// field).
func (s aesgcmSealer) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.redacted())) }

// rewrapLinks re-seals the Token and PaymentToken of the given links under
// r's primary key and saves them with UpdateLink, retrying on ErrConflict.
// Missing links are skipped. It returns how many links it rewrote and stops
// at the first other error.
func rewrapLinks(ctx context.Context, store Store, r Rewrapper, accountIDs ...string) (int, error) {
	n := 0
	for _, id := range accountIDs {
		changed, err := rewrapLink(ctx, store, r, id)
		if err != nil {
			return n, fmt.Errorf("linking: rewrap link %q: %w", id, err)
		}
		if changed {
			n++
		}
	}
	return n, nil
}

// RewrapAll re-seals the Token, PaymentToken and SealedEPS of every link of
// store under r's primary key (and seals an EPS account number that a link
// written by an older version holds in clear), a page at a time, saving each with UpdateLink (retrying
// on ErrConflict; links deleted meanwhile are skipped): after making a new
// key primary, this migrates all sealed tokens so that the old key can be
// retired. It returns how many links it rewrote, and stops at the first
// other error.
func RewrapAll(ctx context.Context, store Store, r Rewrapper) (int, error) {
	const page = 500
	total, after := 0, ""
	for {
		ids, err := store.ListAccountIDs(ctx, after, page)
		if err != nil {
			return total, fmt.Errorf("linking: rewrap: listing links: %w", err)
		}
		if len(ids) == 0 {
			return total, nil
		}
		n, err := rewrapLinks(ctx, store, r, ids...)
		total += n
		if err != nil {
			return total, err
		}
		after = ids[len(ids)-1]
	}
}

func rewrapLink(ctx context.Context, store Store, r Rewrapper, id string) (bool, error) {
	const attempts = 10
	for range attempts {
		l, err := store.GetLink(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		changed := false
		if l.EPSAccount != "" && len(l.SealedEPS) == 0 {
			// Written before EPS numbers were sealed: seal it now.
			sealed, err := r.Seal([]byte(l.EPSAccount.Reveal()), sealAAD(id, sealedFieldEPS))
			if err != nil {
				return false, fmt.Errorf("%s: %w", sealedFieldEPS, err)
			}
			l.SealedEPS, l.EPSAccount, changed = sealed, "", true
		}
		for _, f := range []struct {
			name string
			v    *[]byte
		}{{sealedFieldToken, &l.Token}, {sealedFieldPaymentToken, &l.PaymentToken}, {sealedFieldEPS, &l.SealedEPS}} {
			if len(*f.v) == 0 {
				continue
			}
			out, rewrapped, err := r.Rewrap(*f.v, sealAAD(id, f.name))
			if err != nil {
				return false, fmt.Errorf("%s: %w", f.name, err)
			}
			if rewrapped {
				*f.v, changed = out, true
			}
		}
		for i := range l.Locations {
			loc := &l.Locations[i]
			if loc.EPSAccount != "" && len(loc.SealedEPS) == 0 {
				sealed, err := r.Seal([]byte(loc.EPSAccount.Reveal()), locationEPSAAD(id, loc.Label))
				if err != nil {
					return false, fmt.Errorf("%s of location %q: %w", sealedFieldEPS, loc.Label, err)
				}
				loc.SealedEPS, loc.EPSAccount, changed = sealed, "", true
			}
			for _, f := range []struct {
				aad []byte
				v   *[]byte
			}{{paymentTokenAAD(id, loc.Label), &loc.PaymentToken}, {locationEPSAAD(id, loc.Label), &loc.SealedEPS}} {
				if len(*f.v) == 0 {
					continue
				}
				out, rewrapped, err := r.Rewrap(*f.v, f.aad)
				if err != nil {
					return false, fmt.Errorf("location %q: %w", loc.Label, err)
				}
				if rewrapped {
					*f.v, changed = out, true
				}
			}
		}
		if !changed {
			return false, nil
		}
		_, err = store.UpdateLink(ctx, l, nil)
		if errors.Is(err, ErrConflict) {
			continue // a concurrent writer won; re-read and rewrap its value
		}
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
	return false, fmt.Errorf("%w: still conflicting after %d attempts", ErrConflict, attempts)
}
