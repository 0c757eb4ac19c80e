package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
)

// Format constants of a sealed value.
const (
	version1   = 0x01
	nonceSize  = 12
	tagSize    = 16
	KeySize    = 32 // AES-256
	MaxKeyID   = 64 // longest key id, in bytes
	headerBase = 2  // version + key id length
)

var (
	// ErrUnknownKeyID means the value was sealed under a key id the keyring
	// does not hold (for example a retired key).
	ErrUnknownKeyID = errors.New("seal: unknown key id")
	// ErrIntegrity means the value is malformed, was altered, or is opened
	// with associated data other than the one it was sealed with.
	ErrIntegrity = errors.New("seal: integrity check failed")
	// ErrInvalidKey reports an unusable key or key id given to NewKeyring.
	ErrInvalidKey = errors.New("seal: invalid key")
)

// Keyring seals under its primary key and opens under any of its keys.
// It is immutable and safe for concurrent use. Raw key bytes are not kept:
// only the expanded AEADs, behind pointers, so that fmt never reaches them.
type Keyring struct {
	primary string
	aeads   map[string]cipher.AEAD
}

// NewKeyring returns a keyring whose primary key is keys[primaryID]. Every
// key must be exactly 32 bytes; key ids are 1 to 64 bytes of [A-Za-z0-9._-].
// The caller may zero its copies of the keys afterwards.
func NewKeyring(primaryID string, keys map[string][]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrInvalidKey)
	}
	if _, ok := keys[primaryID]; !ok {
		return nil, fmt.Errorf("%w: primary key id %q is not among the keys", ErrInvalidKey, primaryID)
	}
	kr := &Keyring{primary: primaryID, aeads: make(map[string]cipher.AEAD, len(keys))}
	for id, key := range keys {
		if err := ValidateKeyID(id); err != nil {
			return nil, err
		}
		if len(key) != KeySize {
			// The length is not secret; the key is never printed.
			return nil, fmt.Errorf("%w: key %q is %d bytes, want %d", ErrInvalidKey, id, len(key), KeySize)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: %v", ErrInvalidKey, id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: %v", ErrInvalidKey, id, err)
		}
		kr.aeads[id] = aead
	}
	return kr, nil
}

// ValidateKeyID reports whether id can name a key: 1 to 64 bytes of
// ASCII letters, digits, '.', '_' or '-'.
func ValidateKeyID(id string) error {
	if id == "" || len(id) > MaxKeyID {
		return fmt.Errorf("%w: key id must be 1 to %d bytes", ErrInvalidKey, MaxKeyID)
	}
	for i := 0; i < len(id); i++ {
		if !keyIDByte(id[i]) {
			return fmt.Errorf("%w: key id %q: only A-Z a-z 0-9 . _ - are allowed", ErrInvalidKey, id)
		}
	}
	return nil
}

func keyIDByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}

// PrimaryKeyID returns the id of the key new values are sealed under.
func (k *Keyring) PrimaryKeyID() string { return k.primary }

// KeyIDs returns the ids of all keys in the keyring, sorted.
func (k *Keyring) KeyIDs() []string {
	ids := make([]string, 0, len(k.aeads))
	for id := range k.aeads {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Seal encrypts plaintext under the primary key, binding it to aad.
func (k *Keyring) Seal(plaintext, aad []byte) ([]byte, error) {
	return k.sealWith(k.primary, plaintext, aad)
}

func (k *Keyring) sealWith(id string, plaintext, aad []byte) ([]byte, error) {
	aead := k.aeads[id]
	hdr := headerBase + len(id)
	out := make([]byte, hdr+nonceSize, hdr+nonceSize+len(plaintext)+tagSize)
	out[0] = version1
	out[1] = byte(len(id))
	copy(out[headerBase:], id)
	nonce := out[hdr : hdr+nonceSize]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: reading random nonce: %w", err)
	}
	return aead.Seal(out, nonce, plaintext, additionalData(out[:hdr], aad)), nil
}

// Open decrypts a value produced by Seal with the same aad. It fails with
// ErrUnknownKeyID when the key is not in the keyring and ErrIntegrity when
// the value is malformed, altered or bound to other associated data.
func (k *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	id, hdr, err := parseHeader(sealed)
	if err != nil {
		return nil, err
	}
	aead, ok := k.aeads[id]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKeyID, id)
	}
	nonce := sealed[hdr : hdr+nonceSize]
	pt, err := aead.Open(nil, nonce, sealed[hdr+nonceSize:], additionalData(sealed[:hdr], aad))
	if err != nil {
		return nil, ErrIntegrity
	}
	return pt, nil
}

// KeyID returns the id of the key a value was sealed under, without
// authenticating it.
func KeyID(sealed []byte) (string, error) {
	id, _, err := parseHeader(sealed)
	return id, err
}

// Rewrap returns sealed re-encrypted under the primary key. A value already
// under the primary key is authenticated and returned unchanged, with
// rewrapped false, so callers write back only what changed.
func (k *Keyring) Rewrap(sealed, aad []byte) (out []byte, rewrapped bool, err error) {
	pt, err := k.Open(sealed, aad)
	if err != nil {
		return nil, false, err
	}
	defer clear(pt)
	if id, _, _ := parseHeader(sealed); id == k.primary {
		return sealed, false, nil
	}
	out, err = k.Seal(pt, aad)
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// parseHeader returns the key id and the header length of a sealed value.
func parseHeader(sealed []byte) (id string, hdr int, err error) {
	if len(sealed) < headerBase {
		return "", 0, fmt.Errorf("%w: too short", ErrIntegrity)
	}
	if sealed[0] != version1 {
		return "", 0, fmt.Errorf("%w: unknown format version %d", ErrIntegrity, sealed[0])
	}
	n := int(sealed[1])
	hdr = headerBase + n
	if n == 0 || n > MaxKeyID || len(sealed) < hdr+nonceSize+tagSize {
		return "", 0, fmt.Errorf("%w: too short", ErrIntegrity)
	}
	for _, c := range sealed[headerBase:hdr] {
		if !keyIDByte(c) {
			return "", 0, fmt.Errorf("%w: malformed key id", ErrIntegrity)
		}
	}
	return string(sealed[headerBase:hdr]), hdr, nil
}

// additionalData authenticates the header along with the caller's aad.
func additionalData(header, aad []byte) []byte {
	ad := make([]byte, 0, len(header)+len(aad))
	return append(append(ad, header...), aad...)
}

// String describes the keyring by key ids only.
func (k Keyring) String() string {
	return fmt.Sprintf("seal.Keyring{primary: %q, keys: %d, material: [REDACTED]}", k.primary, len(k.aeads))
}

// GoString redacts like String.
func (k Keyring) GoString() string { return k.String() }

// Format redacts for every verb, including %+v and %#v.
func (k Keyring) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// LogValue redacts for log/slog.
func (k Keyring) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("primary", k.primary),
		slog.Int("keys", len(k.aeads)),
		slog.String("material", "[REDACTED]"),
	)
}
