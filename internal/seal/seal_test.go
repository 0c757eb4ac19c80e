package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func key(t testing.TB, fill byte) []byte {
	t.Helper()
	return bytes.Repeat([]byte{fill}, KeySize)
}

func newRing(t testing.TB, primary string, keys map[string][]byte) *Keyring {
	t.Helper()
	kr, err := NewKeyring(primary, keys)
	require.NoError(t, err)
	return kr
}

func TestSealOpen(t *testing.T) {
	kr := newRing(t, "k1", map[string][]byte{"k1": key(t, 1)})
	pt := []byte("refresh-token-canary-0123456789")
	aad := []byte("acct-1/token")

	ct, err := kr.Seal(pt, aad)
	require.NoError(t, err)
	require.NotContains(t, string(ct), string(pt), "confidential: plaintext must not appear in the sealed value")
	require.Len(t, ct, headerBase+len("k1")+nonceSize+len(pt)+tagSize)

	got, err := kr.Open(ct, aad)
	require.NoError(t, err)
	require.Equal(t, pt, got)

	id, err := KeyID(ct)
	require.NoError(t, err)
	require.Equal(t, "k1", id)

	// Fresh nonce per seal: the same input never gives the same output.
	ct2, err := kr.Seal(pt, aad)
	require.NoError(t, err)
	require.NotEqual(t, ct, ct2)

	// Empty plaintext and nil aad are fine.
	ct3, err := kr.Seal(nil, nil)
	require.NoError(t, err)
	got, err = kr.Open(ct3, nil)
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestIntegrity(t *testing.T) {
	kr := newRing(t, "k1", map[string][]byte{"k1": key(t, 1)})
	aad := []byte("acct-1/token")
	ct, err := kr.Seal([]byte("secret"), aad)
	require.NoError(t, err)

	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		_, err := kr.Open(bad, aad)
		require.Error(t, err, "flipping byte %d must fail", i)
	}
	_, err = kr.Open(ct[:len(ct)-1], aad)
	require.ErrorIs(t, err, ErrIntegrity)
	_, err = kr.Open(append(bytes.Clone(ct), 0), aad)
	require.ErrorIs(t, err, ErrIntegrity)

	// Moved to another link: other associated data.
	_, err = kr.Open(ct, []byte("acct-2/token"))
	require.ErrorIs(t, err, ErrIntegrity)
	_, err = kr.Open(ct, []byte("acct-1/payment_token"))
	require.ErrorIs(t, err, ErrIntegrity)
}

func TestRotation(t *testing.T) {
	old := newRing(t, "k1", map[string][]byte{"k1": key(t, 1)})
	aad := []byte("acct-1/token")
	oldCT, err := old.Seal([]byte("v1"), aad)
	require.NoError(t, err)

	// Rotate: k2 is primary, k1 still decrypts.
	rot := newRing(t, "k2", map[string][]byte{"k1": key(t, 1), "k2": key(t, 2)})
	got, err := rot.Open(oldCT, aad)
	require.NoError(t, err)
	require.Equal(t, []byte("v1"), got)

	newCT, err := rot.Seal([]byte("v2"), aad)
	require.NoError(t, err)
	id, _ := KeyID(newCT)
	require.Equal(t, "k2", id)

	// Rewrap migrates old values and leaves current ones alone.
	rewrapped, changed, err := rot.Rewrap(oldCT, aad)
	require.NoError(t, err)
	require.True(t, changed)
	id, _ = KeyID(rewrapped)
	require.Equal(t, "k2", id)
	same, changed, err := rot.Rewrap(newCT, aad)
	require.NoError(t, err)
	require.False(t, changed)
	require.Equal(t, newCT, same)
	_, _, err = rot.Rewrap(oldCT, []byte("other"))
	require.ErrorIs(t, err, ErrIntegrity)

	// Retire k1: the rewrapped value opens, the old one does not.
	retired := newRing(t, "k2", map[string][]byte{"k2": key(t, 2)})
	got, err = retired.Open(rewrapped, aad)
	require.NoError(t, err)
	require.Equal(t, []byte("v1"), got)
	_, err = retired.Open(oldCT, aad)
	require.ErrorIs(t, err, ErrUnknownKeyID)

	// Same id, different key material: integrity failure, not success.
	wrong := newRing(t, "k2", map[string][]byte{"k2": key(t, 9)})
	_, err = wrong.Open(newCT, aad)
	require.ErrorIs(t, err, ErrIntegrity)
}

func TestNewKeyringValidation(t *testing.T) {
	good := key(t, 1)
	cases := map[string]struct {
		primary string
		keys    map[string][]byte
	}{
		"no keys":          {"k1", nil},
		"primary missing":  {"k2", map[string][]byte{"k1": good}},
		"short key":        {"k1", map[string][]byte{"k1": good[:16]}},
		"long key":         {"k1", map[string][]byte{"k1": append(bytes.Clone(good), 0)}},
		"empty id":         {"", map[string][]byte{"": good}},
		"bad id char":      {"k 1", map[string][]byte{"k 1": good}},
		"id too long":      {strings.Repeat("k", 65), map[string][]byte{strings.Repeat("k", 65): good}},
		"other key bad":    {"k1", map[string][]byte{"k1": good, "k0": good[:31]}},
		"other id invalid": {"k1", map[string][]byte{"k1": good, "k/0": good}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := NewKeyring(c.primary, c.keys)
			require.ErrorIs(t, err, ErrInvalidKey)
		})
	}
	_, err := NewKeyring(strings.Repeat("k", 64), map[string][]byte{strings.Repeat("k", 64): good})
	require.NoError(t, err)
}

func TestRedaction(t *testing.T) {
	material := make([]byte, KeySize)
	_, _ = rand.Read(material)
	kr := newRing(t, "k1", map[string][]byte{"k1": material})

	type holder struct {
		ring  *Keyring
		Ring  *Keyring
		Value Keyring
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "ring", kr, "value", *kr)
	outputs := []string{
		fmt.Sprint(kr), fmt.Sprintf("%v %+v %#v %s %q %x", kr, kr, kr, kr, kr, kr),
		fmt.Sprintf("%v %+v %#v", *kr, *kr, *kr),
		fmt.Sprintf("%v %+v %#v", holder{kr, kr, *kr}, holder{kr, kr, *kr}, holder{kr, kr, *kr}),
		logs.String(),
	}
	for _, out := range outputs {
		require.NotContains(t, out, string(material))
		require.NotContains(t, out, hex.EncodeToString(material))
		require.NotContains(t, out, fmt.Sprint(material))
	}
	require.Contains(t, fmt.Sprintf("%+v", kr), "REDACTED")
	require.Contains(t, logs.String(), "REDACTED")
}

func TestErrorsCarryNoPlaintext(t *testing.T) {
	kr := newRing(t, "k1", map[string][]byte{"k1": key(t, 1)})
	canary := "CANARY-plaintext-token"
	ct, err := kr.Seal([]byte(canary), []byte("a"))
	require.NoError(t, err)
	_, err = kr.Open(ct, []byte("b"))
	require.Error(t, err)
	require.NotContains(t, err.Error(), canary)
}

func FuzzOpen(f *testing.F) {
	kr := newRing(f, "k1", map[string][]byte{"k1": key(f, 1)})
	aad := []byte("acct/token")
	valid, err := kr.Seal([]byte("payload"), aad)
	require.NoError(f, err)
	f.Add(valid)
	f.Add([]byte{})
	f.Add([]byte{version1})
	f.Add([]byte{version1, 2, 'k', '1'})
	f.Add([]byte{version1, 255})
	f.Fuzz(func(t *testing.T, in []byte) {
		pt, err := kr.Open(in, aad)
		if err == nil {
			// Only a genuine sealed value authenticates. (Each fuzz worker
			// reruns the setup with a fresh nonce, so compare plaintexts.)
			require.Equal(t, []byte("payload"), pt)
		}
		_, _ = KeyID(in)
		_, _, _ = kr.Rewrap(in, aad)
	})
}

func BenchmarkSealOpen256(b *testing.B) {
	kr := newRing(b, "k1", map[string][]byte{"k1": key(b, 1)})
	pt := bytes.Repeat([]byte{'x'}, 256)
	aad := []byte("acct/token")
	b.ReportAllocs()
	for b.Loop() {
		ct, err := kr.Seal(pt, aad)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := kr.Open(ct, aad); err != nil {
			b.Fatal(err)
		}
	}
}
