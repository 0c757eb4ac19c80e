package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/linking"
)

// Conformance of linking.TableStore: rate tables and the change feed.
// A Store that does not implement TableStore skips these tests.

var tableTests = []test{
	{"PutGetRoundTrip", testTablePutGet},
	{"PutCompareAndSwap", testTableCAS},
	{"InvalidRecord", testTableInvalid},
	{"ListAndDelete", testTableListDelete},
}

var changeTests = []test{
	{"EveryLinkWrite", testChangesLinkWrites},
	{"TableWrites", testChangesTableWrites},
	{"RolledBackLockLinkLeavesNoEntry", testChangesRollback},
	{"Paging", testChangesPaging},
}

func tableStore(t *testing.T, s linking.Store) linking.TableStore {
	ts, ok := s.(linking.TableStore)
	if !ok {
		t.Skip("the Store does not implement linking.TableStore")
	}
	return ts
}

func newTableRecord(key string) *linking.TableRecord {
	return &linking.TableRecord{
		Key: key, AccountID: "acct-t", TableID: "Priority Mail Contract 629", Version: "2026-01",
		EffectiveFrom: base, EffectiveTo: base.Add(365 * 24 * time.Hour),
		CSV: []byte("record,...\ncell,\x00\xff"), Complete: false, Done: 3, Total: 10,
		Checkpoint: []byte(`{"v":1}`), LeaseOwner: "instance-a", LeaseUntil: base.Add(10 * time.Minute),
		SyncedAt: base, LastError: "rate limited",
	}
}

func testTablePutGet(t *testing.T, s linking.Store) {
	ts := tableStore(t, s)
	in := newTableRecord(linking.TableKeyContract("acct-t"))
	before := *in
	got, err := ts.PutTable(ctx(t), in)
	require.NoError(t, err)
	require.Equal(t, before, *in, "PutTable must not modify the caller's record")
	want := *in
	want.Rev = 1
	for _, p := range []*time.Time{&want.EffectiveFrom, &want.EffectiveTo, &want.LeaseUntil, &want.SyncedAt} {
		*p = utcMicro(*p)
	}
	require.Equal(t, &want, got)
	read, err := ts.GetTable(ctx(t), in.Key)
	require.NoError(t, err)
	require.Equal(t, &want, read)
	read.CSV[0] = 'X'
	again, err := ts.GetTable(ctx(t), in.Key)
	require.NoError(t, err)
	require.Equal(t, &want, again, "mutating a result must not change stored state")

	// Zero times and empty byte fields come back as zero and nil.
	empty := &linking.TableRecord{Key: linking.TableKeyCommercial}
	got, err = ts.PutTable(ctx(t), empty)
	require.NoError(t, err)
	require.Equal(t, &linking.TableRecord{Key: linking.TableKeyCommercial, Rev: 1}, got)

	_, err = ts.GetTable(ctx(t), "contract/nobody")
	require.ErrorIs(t, err, linking.ErrNotFound)
}

func testTableCAS(t *testing.T, s linking.Store) {
	ts := tableStore(t, s)
	in := newTableRecord("contract/cas")
	v1, err := ts.PutTable(ctx(t), in)
	require.NoError(t, err)
	_, err = ts.PutTable(ctx(t), in) // Rev 0 again: the key exists
	require.ErrorIs(t, err, linking.ErrConflict)

	v1.Done = 4
	v2, err := ts.PutTable(ctx(t), v1)
	require.NoError(t, err)
	require.Equal(t, int64(2), v2.Rev)
	require.Equal(t, 4, v2.Done)

	v1.Done = 5 // stale Rev
	_, err = ts.PutTable(ctx(t), v1)
	require.ErrorIs(t, err, linking.ErrConflict)
	got, err := ts.GetTable(ctx(t), in.Key)
	require.NoError(t, err)
	require.Equal(t, v2, got, "a conflicting put writes nothing")
}

func testTableInvalid(t *testing.T, s linking.Store) {
	ts := tableStore(t, s)
	for _, r := range []*linking.TableRecord{
		nil, {}, {Key: "k", Rev: -1}, {Key: "k", Done: 5, Total: 4}, {Key: "k", Done: -1},
	} {
		_, err := ts.PutTable(ctx(t), r)
		require.ErrorIs(t, err, linking.ErrInvalidRecord)
	}
	list, err := ts.ListTables(ctx(t))
	require.NoError(t, err)
	require.Empty(t, list, "bad input changes nothing")
}

func testTableListDelete(t *testing.T, s linking.Store) {
	ts := tableStore(t, s)
	for _, k := range []string{"contract/b", "contract/a", linking.TableKeyCommercial} {
		_, err := ts.PutTable(ctx(t), &linking.TableRecord{Key: k})
		require.NoError(t, err)
	}
	list, err := ts.ListTables(ctx(t))
	require.NoError(t, err)
	var keys []string
	for _, r := range list {
		keys = append(keys, r.Key)
	}
	require.Equal(t, []string{"contract/a", "contract/b", linking.TableKeyCommercial}, keys)
	require.NoError(t, ts.DeleteTable(ctx(t), "contract/a"))
	require.NoError(t, ts.DeleteTable(ctx(t), "contract/a"), "deleting a missing table is not an error")
	_, err = ts.GetTable(ctx(t), "contract/a")
	require.ErrorIs(t, err, linking.ErrNotFound)
}

// changesSince returns the feed after seq.
func changesSince(t *testing.T, ts linking.TableStore, seq int64) []linking.Change {
	t.Helper()
	ch, err := ts.Changes(ctx(t), seq, 1000)
	require.NoError(t, err)
	return ch
}

func kinds(ch []linking.Change) []string {
	var out []string
	for _, c := range ch {
		k := "link:"
		if c.Kind == linking.ChangeTable {
			k = "table:"
		}
		out = append(out, k+c.Key)
	}
	return out
}

func testChangesLinkWrites(t *testing.T, s linking.Store) {
	ts := tableStore(t, s)
	start, err := ts.LastChange(ctx(t))
	require.NoError(t, err)

	l := create(t, s, newLink("acct-1"))
	ch := changesSince(t, ts, start)
	require.Equal(t, []string{"link:acct-1"}, kinds(ch))

	l.LastError = "x"
	l = update(t, s, l, nil)
	require.NoError(t, s.LockLink(ctx(t), "acct-1", func(_ context.Context, tx linking.LinkTx) error {
		cur, err := tx.Get()
		if err != nil {
			return err
		}
		cur.CheckAttempts++
		_, err = tx.Update(cur, nil)
		return err
	}))
	l.NextCheckAt = time.Time{}
	claimed, err := s.ClaimDue(ctx(t), base.Add(time.Hour), 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.NoError(t, s.DeleteLink(ctx(t), "acct-1"))

	ch = changesSince(t, ts, start)
	require.Equal(t, []string{"link:acct-1", "link:acct-1", "link:acct-1", "link:acct-1", "link:acct-1"}, kinds(ch),
		"create, update, LockLink, ClaimDue, delete")
	for i := 1; i < len(ch); i++ {
		require.Greater(t, ch[i].Seq, ch[i-1].Seq)
	}
	last, err := ts.LastChange(ctx(t))
	require.NoError(t, err)
	require.Equal(t, ch[len(ch)-1].Seq, last)
	_ = l
}

func testChangesTableWrites(t *testing.T, s linking.Store) {
	ts := tableStore(t, s)
	start, err := ts.LastChange(ctx(t))
	require.NoError(t, err)
	r, err := ts.PutTable(ctx(t), &linking.TableRecord{Key: "contract/x"})
	require.NoError(t, err)
	_, err = ts.PutTable(ctx(t), r)
	require.NoError(t, err)
	_, err = ts.PutTable(ctx(t), r) // conflict: no entry
	require.ErrorIs(t, err, linking.ErrConflict)
	require.NoError(t, ts.DeleteTable(ctx(t), "contract/x"))
	require.Equal(t, []string{"table:contract/x", "table:contract/x", "table:contract/x"}, kinds(changesSince(t, ts, start)))
}

func testChangesRollback(t *testing.T, s linking.Store) {
	ts := tableStore(t, s)
	create(t, s, newLink("acct-r"))
	start, err := ts.LastChange(ctx(t))
	require.NoError(t, err)
	boom := errors.New("boom")
	err = s.LockLink(ctx(t), "acct-r", func(_ context.Context, tx linking.LinkTx) error {
		cur, err := tx.Get()
		if err != nil {
			return err
		}
		cur.CheckAttempts++
		if _, err := tx.Update(cur, nil); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	require.Empty(t, changesSince(t, ts, start), "a rolled-back write has no visible entry")
}

func testChangesPaging(t *testing.T, s linking.Store) {
	ts := tableStore(t, s)
	start, err := ts.LastChange(ctx(t))
	require.NoError(t, err)
	for i := range 5 {
		_, err := ts.PutTable(ctx(t), &linking.TableRecord{Key: "contract/p" + string(rune('a'+i))})
		require.NoError(t, err)
	}
	var got []string
	after := start
	for {
		ch, err := ts.Changes(ctx(t), after, 2)
		require.NoError(t, err)
		if len(ch) == 0 {
			break
		}
		require.LessOrEqual(t, len(ch), 2)
		got = append(got, kinds(ch)...)
		after = ch[len(ch)-1].Seq
	}
	require.Equal(t, []string{"table:contract/pa", "table:contract/pb", "table:contract/pc", "table:contract/pd", "table:contract/pe"}, got)
	none, err := ts.Changes(ctx(t), start, 0)
	require.NoError(t, err)
	require.Empty(t, none)
}
