package linking_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/linking"
)

func TestTransitionTable(t *testing.T) {
	S := func(s ...linking.State) []linking.State { return s }
	const (
		un = linking.StateUnlinked
		au = linking.StateAuthorizing
		aw = linking.StateAwaitingCredentials
		ap = linking.StateApprovalPending
		ac = linking.StateActive
		ar = linking.StateActionRequired
	)
	allowed := map[linking.State][]linking.State{
		un: S(au),
		au: S(au, aw, ap, un, ar),
		aw: S(ap, ar, au, un),
		ap: S(ac, ar, ap, un, au),
		ac: S(ar, ap, un, au),
		ar: S(au, aw, ap, un, ac),
	}
	for _, from := range linking.States() {
		for _, to := range linking.States() {
			want := false
			for _, s := range allowed[from] {
				want = want || s == to
			}
			require.Equal(t, want, linking.CanTransition(from, to), "%s → %s", from, to)
			err := linking.CheckTransition(from, to)
			if want {
				require.NoError(t, err)
				continue
			}
			require.ErrorIs(t, err, linking.ErrIllegalTransition)
			require.Contains(t, err.Error(), fmt.Sprintf("%q to %q", from, to))
		}
		if from != un {
			require.True(t, linking.CanTransition(from, un), "unlink from %s", from)
		}
	}
	require.False(t, linking.CanTransition("", un))
	require.False(t, linking.CanTransition(un, "bogus"))
	wrapped := fmt.Errorf("start: %w", linking.CheckTransition(ac, aw))
	require.ErrorIs(t, wrapped, linking.ErrIllegalTransition)
	require.Contains(t, wrapped.Error(), `"active" to "awaiting_credentials"`)

	// The accessor hands out a copy.
	tbl := linking.Transitions()
	require.Len(t, tbl, len(linking.States()))
	tbl[un] = append(tbl[un], ac)
	require.False(t, linking.CanTransition(un, ac))
}

func TestStatesAndReasons(t *testing.T) {
	for _, s := range linking.States() {
		require.True(t, s.Valid())
	}
	require.False(t, linking.State("").Valid())
	require.True(t, linking.ReasonNone.Valid())
	for _, r := range linking.Reasons() {
		require.True(t, r.Valid())
		require.NotEmpty(t, r)
	}
	require.False(t, linking.Reason("nope").Valid())
}

func TestRecordsPrintRedacted(t *testing.T) {
	const eps, tok, pay, ver, sess = "EPS-CANARY-1", "TOKEN-CANARY-2", "PAY-CANARY-3", "VERIFIER-CANARY-4", "SESSION-CANARY-5"
	l := &linking.Link{AccountID: "acct-1", State: linking.StateActive, EPSAccount: eps,
		Token: []byte(tok), PaymentToken: []byte(pay), CRID: "123"}
	a := &linking.AuthRequest{AccountID: "acct-1", StateHash: []byte(tok), SessionHash: []byte(sess), Verifier: []byte(ver)}
	type wrapper struct {
		L linking.Link
		P *linking.Link
		A linking.AuthRequest
		// Unexported fields are printed by reflection, without methods: a
		// pointer prints as an address, a value would print in full.
		priv *linking.Link
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "link", l, "auth", a, "lv", *l)
	outs := []string{
		fmt.Sprintf("%v %+v %#v %s %q", l, l, l, l, l),
		fmt.Sprintf("%v %+v %#v", *l, *l, *l),
		fmt.Sprintf("%v %+v %#v", a, *a, a),
		fmt.Sprintf("%+v %#v", wrapper{L: *l, P: l, A: *a, priv: l}, wrapper{L: *l, P: l, A: *a, priv: l}),
		logs.String(),
		fmt.Sprint(l, *l, a, *a),
	}
	for _, out := range outs {
		for _, secret := range []string{eps, tok, pay, ver, sess} {
			require.NotContains(t, out, secret)
		}
	}
	require.Contains(t, fmt.Sprint(l), "acct-1")
	require.Contains(t, fmt.Sprint(l), "REDACTED")
	require.Contains(t, logs.String(), "acct-1")
}

func TestErrorsAreDistinct(t *testing.T) {
	errs := []error{linking.ErrNotFound, linking.ErrAlreadyExists, linking.ErrConflict,
		linking.ErrAuthRequestUsed, linking.ErrAuthRequestExpired, linking.ErrInvalidRecord,
		linking.ErrLockTimeout, linking.ErrTxDone, linking.ErrIllegalTransition,
		linking.ErrSealKeyUnknown, linking.ErrSealIntegrity, linking.ErrSealKey}
	for i, a := range errs {
		for j, b := range errs {
			require.Equal(t, i == j, errors.Is(a, b), "%v vs %v", a, b)
		}
	}
}
