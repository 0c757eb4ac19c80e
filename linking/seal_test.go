package linking_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/memstore"
)

func sealer(t *testing.T, primary string, keys map[string][]byte) *linking.AESGCMSealer {
	t.Helper()
	s, err := linking.NewAESGCMSealer(primary, keys)
	require.NoError(t, err)
	return s.(*linking.AESGCMSealer)
}

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestSealerBindsToLinkAndField(t *testing.T) {
	s := sealer(t, "k1", map[string][]byte{"k1": key(1)})
	secret := []byte("refresh-token-CANARY")
	ct, err := s.Seal(secret, linking.SealAAD("acct-a", linking.SealedFieldToken))
	require.NoError(t, err)
	require.False(t, bytes.Contains(ct, secret), "confidential")

	pt, err := s.Open(ct, linking.SealAAD("acct-a", linking.SealedFieldToken))
	require.NoError(t, err)
	require.Equal(t, secret, pt)

	_, err = s.Open(ct, linking.SealAAD("acct-b", linking.SealedFieldToken))
	require.ErrorIs(t, err, linking.ErrSealIntegrity, "moved to another link")
	_, err = s.Open(ct, linking.SealAAD("acct-a", linking.SealedFieldPaymentToken))
	require.ErrorIs(t, err, linking.ErrSealIntegrity, "moved to another field")

	bad := bytes.Clone(ct)
	bad[len(bad)-20] ^= 0x80
	_, err = s.Open(bad, linking.SealAAD("acct-a", linking.SealedFieldToken))
	require.ErrorIs(t, err, linking.ErrSealIntegrity, "flipped byte")
	require.NotContains(t, err.Error(), string(secret))
}

func TestSealAADIsUnambiguous(t *testing.T) {
	require.NotEqual(t, linking.SealAAD("ab", "c"), linking.SealAAD("a", "bc"))
	require.NotEqual(t, linking.SealAAD("", "token"), linking.SealAAD("token", ""))
	require.Equal(t, linking.SealAAD("a", "token"), linking.SealAAD("a", "token"))
}

func TestNewAESGCMSealerValidates(t *testing.T) {
	for name, c := range map[string]struct {
		primary string
		keys    map[string][]byte
	}{
		"no keys":         {"k1", nil},
		"missing primary": {"k2", map[string][]byte{"k1": key(1)}},
		"short key":       {"k1", map[string][]byte{"k1": key(1)[:31]}},
		"bad id":          {"k 1", map[string][]byte{"k 1": key(1)}},
	} {
		_, err := linking.NewAESGCMSealer(c.primary, c.keys)
		require.ErrorIs(t, err, linking.ErrSealKey, name)
	}
}

func TestSealerRedacted(t *testing.T) {
	material := make([]byte, 32)
	_, _ = rand.Read(material)
	s := sealer(t, "k1", map[string][]byte{"k1": material})
	type host struct {
		Sealer *linking.AESGCMSealer
		inner  linking.AESGCMSealer
		Value  linking.AESGCMSealer
	}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("cfg", "sealer", s)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("cfg", "sealer", s)
	h := host{Sealer: s, inner: *s, Value: *s}
	for _, out := range []string{
		fmt.Sprintf("%v %+v %#v %s %x", s, s, s, s, s),
		fmt.Sprintf("%v %+v %#v", *s, *s, *s),
		fmt.Sprintf("%v %+v %#v", h, h, h),
		logs.String(),
	} {
		require.NotContains(t, out, string(material))
		require.NotContains(t, out, hex.EncodeToString(material))
		require.NotContains(t, out, fmt.Sprint(material))
	}
	require.Contains(t, fmt.Sprintf("%+v", s), "REDACTED")
	require.Contains(t, logs.String(), "REDACTED")
}

// A sealer that went through JSON carries no keys and fails closed.
func TestSealerJSONFailsClosed(t *testing.T) {
	material := make([]byte, 32)
	_, _ = rand.Read(material)
	s := sealer(t, "k1", map[string][]byte{"k1": material})
	// As part of a host's configuration, say.
	js, err := json.Marshal(map[string]any{"sealer": s})
	require.NoError(t, err)
	require.NotContains(t, string(js), hex.EncodeToString(material))
	var cfg struct{ Sealer linking.AESGCMSealer }
	require.NoError(t, json.Unmarshal(js, &cfg))
	back := cfg.Sealer
	_, err = back.Seal([]byte("x"), []byte("aad"))
	require.Error(t, err)
	sealed, err := s.Seal([]byte("x"), []byte("aad"))
	require.NoError(t, err)
	_, err = back.Open(sealed, []byte("aad"))
	require.Error(t, err)
	_, _, err = back.Rewrap(sealed, []byte("aad"))
	require.Error(t, err)
}

// Rotation as in Vault's barrier tests: old rows decrypt, new writes use the
// new key, a rewrap migrates, and the retired key then fails.
func TestRotationWithRewrapLinks(t *testing.T) {
	ctx := t.Context()
	store := memstore.New()
	old := sealer(t, "2025", map[string][]byte{"2025": key(1)})

	seal := func(s linking.Sealer, id, field, v string) []byte {
		ct, err := s.Seal([]byte(v), linking.SealAAD(id, field))
		require.NoError(t, err)
		return ct
	}
	open := func(s linking.Sealer, id, field string, ct []byte) (string, error) {
		pt, err := s.Open(ct, linking.SealAAD(id, field))
		return string(pt), err
	}
	for _, id := range []string{"a", "b"} {
		_, err := store.CreateLink(ctx, &linking.Link{
			AccountID: id, State: linking.StateActive,
			Token:        seal(old, id, linking.SealedFieldToken, "tok-"+id),
			PaymentToken: seal(old, id, linking.SealedFieldPaymentToken, "pay-"+id),
		})
		require.NoError(t, err)
	}
	_, err := store.CreateLink(ctx, &linking.Link{AccountID: "empty", State: linking.StateUnlinked})
	require.NoError(t, err)

	rotated := sealer(t, "2026", map[string][]byte{"2025": key(1), "2026": key(2)})
	require.Contains(t, fmt.Sprint(rotated), `primary: "2026"`, "it prints its primary key id")
	la, err := store.GetLink(ctx, "a")
	require.NoError(t, err)
	v, err := open(rotated, "a", linking.SealedFieldToken, la.Token)
	require.NoError(t, err, "old rows still decrypt")
	require.Equal(t, "tok-a", v)
	fresh := seal(rotated, "c", linking.SealedFieldToken, "tok-c")
	id, err := linking.SealedKeyID(fresh)
	require.NoError(t, err)
	require.Equal(t, "2026", id, "new writes use the new key")

	n, err := linking.RewrapLinks(ctx, store, rotated, "a", "b", "empty", "missing")
	require.NoError(t, err)
	require.Equal(t, 2, n)
	n, err = linking.RewrapLinks(ctx, store, rotated, "a", "b", "empty")
	require.NoError(t, err)
	require.Zero(t, n, "a second pass has nothing to do")

	retired := sealer(t, "2026", map[string][]byte{"2026": key(2)})
	for _, acct := range []string{"a", "b"} {
		l, err := store.GetLink(ctx, acct)
		require.NoError(t, err)
		require.Equal(t, int64(2), l.Version)
		for field, ct := range map[string][]byte{linking.SealedFieldToken: l.Token, linking.SealedFieldPaymentToken: l.PaymentToken} {
			id, err := linking.SealedKeyID(ct)
			require.NoError(t, err)
			require.Equal(t, "2026", id)
			_, err = open(retired, acct, field, ct)
			require.NoError(t, err, "rewrapped rows open without the old key")
		}
	}
	_, err = open(retired, "a", linking.SealedFieldToken, la.Token)
	require.ErrorIs(t, err, linking.ErrSealKeyUnknown, "the retired key no longer opens old values")

	// Rewrapping with the wrong link's AAD fails instead of corrupting.
	bad := memstore.New()
	_, err = bad.CreateLink(ctx, &linking.Link{AccountID: "x", State: linking.StateActive,
		Token: seal(old, "y", linking.SealedFieldToken, "t")})
	require.NoError(t, err)
	_, err = linking.RewrapLinks(ctx, bad, rotated, "x")
	require.ErrorIs(t, err, linking.ErrSealIntegrity)
}
