package storekit_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/storekit"
)

func TestCloneIsDeep(t *testing.T) {
	l := &linking.Link{AccountID: "a", Token: []byte{1}, PaymentToken: []byte{2}}
	c := storekit.CloneLink(l)
	c.Token[0], c.PaymentToken[0] = 9, 9
	require.Equal(t, []byte{1}, l.Token)
	require.Equal(t, []byte{2}, l.PaymentToken)
	require.Nil(t, storekit.CloneLink(nil))

	a := &linking.AuthRequest{StateHash: []byte{1}, SessionHash: []byte{2}, Verifier: []byte{3}}
	ac := storekit.CloneAuthRequest(a)
	ac.StateHash[0], ac.SessionHash[0], ac.Verifier[0] = 9, 9, 9
	require.Equal(t, []byte{1}, a.StateHash)
	require.Equal(t, []byte{2}, a.SessionHash)
	require.Equal(t, []byte{3}, a.Verifier)
	require.Nil(t, storekit.CloneAuthRequest(nil))
}

func TestChecksNameFieldNotValue(t *testing.T) {
	now := time.Now()
	l := &linking.Link{AccountID: "a", State: linking.StateActive, EPSAccount: "SECRET\x00EPS"}
	_, err := storekit.PrepareCreate(l, now)
	require.ErrorIs(t, err, linking.ErrInvalidRecord)
	require.Contains(t, err.Error(), "EPSAccount")
	require.NotContains(t, err.Error(), "SECRET")
	_, _, err = storekit.PrepareUpdate(l, nil)
	require.ErrorIs(t, err, linking.ErrInvalidRecord)

	ok := &linking.Link{AccountID: "a", State: linking.StateUnlinked}
	_, err = storekit.PrepareCreate(ok, now)
	require.NoError(t, err)
	_, err = storekit.PrepareCreate(nil, now)
	require.ErrorIs(t, err, linking.ErrInvalidRecord)
	for _, ev := range []*linking.Event{{To: "x"}, {From: "x", To: linking.StateActive}, {AccountID: "b", To: linking.StateActive}} {
		_, _, err = storekit.PrepareUpdate(ok, ev)
		require.ErrorIs(t, err, linking.ErrInvalidRecord, "%+v", *ev)
	}
	_, _, err = storekit.PrepareUpdate(ok, &linking.Event{To: linking.StateActive})
	require.NoError(t, err)

	_, err = storekit.PrepareAuthRequest(&linking.AuthRequest{AccountID: "a", ExpiresAt: now}, now)
	require.ErrorIs(t, err, linking.ErrInvalidRecord)
	_, err = storekit.PrepareAuthRequest(nil, now)
	require.ErrorIs(t, err, linking.ErrInvalidRecord)
	_, err = storekit.PrepareAuthRequest(&linking.AuthRequest{StateHash: []byte{1}, AccountID: "a", ExpiresAt: now}, now)
	require.NoError(t, err)
}

func TestPrepareLeavesInputAlone(t *testing.T) {
	est := time.FixedZone("EST", -5*3600)
	at := time.Date(2026, 11, 25, 9, 0, 0, 123456789, est)
	l := &linking.Link{AccountID: "a", State: linking.StateActive, Version: 7, UpdatedAt: at, Token: []byte{1}}
	before := storekit.CloneLink(l)

	c, err := storekit.PrepareCreate(l, at)
	require.NoError(t, err)
	require.Equal(t, before, l)
	require.Equal(t, int64(1), c.Version)
	require.Equal(t, at.UTC().Truncate(time.Microsecond), c.CreatedAt)
	require.Equal(t, time.UTC, c.UpdatedAt.Location())

	ev := &linking.Event{To: linking.StateActive}
	u, e, err := storekit.PrepareUpdate(l, ev)
	require.NoError(t, err)
	require.Equal(t, before, l)
	require.Equal(t, &linking.Event{To: linking.StateActive}, ev)
	require.Equal(t, int64(7), u.Version, "the store assigns the next version")
	require.Equal(t, "a", e.AccountID)
	require.Equal(t, u.UpdatedAt, e.At, "At defaults to the link's UpdatedAt")
	u.Token[0] = 9
	require.Equal(t, []byte{1}, l.Token)
}
