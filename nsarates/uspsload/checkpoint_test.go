package uspsload_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/nsarates/uspsload"
	"github.com/nsalink/nsalink/usps"
)

const plan64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func sampleCheckpoint() *uspsload.Checkpoint {
	return &uspsload.Checkpoint{Account: "0001", Plan: plan64, Calls: 4, Cells: []uspsload.CellResult{
		{Cell: nsarates.CellKey{Product: priority, Zone: 5, Tier: nsarates.WeightTier(2 * usps.Pound)}, Status: uspsload.StatusContract, Price: 935},
		{Cell: nsarates.CellKey{Product: ground, Zone: 1, Tier: nsarates.WeightTier(1599)}, Status: uspsload.StatusPublished, Price: 610},
		{Cell: nsarates.CellKey{Product: express, Zone: 9, Tier: nsarates.WeightTier(8 * usps.Ounce)}, Status: uspsload.StatusNoContract},
		{Cell: nsarates.CellKey{Product: ground, Zone: 2, Tier: nsarates.WeightTier(70 * usps.Pound)}, Status: uspsload.StatusNoPrice},
	}}
}

func TestCheckpointJSON(t *testing.T) {
	b, err := json.Marshal(sampleCheckpoint())
	require.NoError(t, err)
	assert.JSONEq(t, `{"version":1,"account":"0001","plan":"`+plan64+`","calls":4,"cells":[
		{"product":"PRIORITY_MAIL/SP/MACHINABLE","zone":"05","tier":"2lb","status":"contract","price":"9.35"},
		{"product":"USPS_GROUND_ADVANTAGE/SP/MACHINABLE","zone":"01","tier":"15.99oz","status":"published","price":"6.10"},
		{"product":"PRIORITY_MAIL_EXPRESS/PA/MACHINABLE","zone":"09","tier":"8oz","status":"no-contract"},
		{"product":"USPS_GROUND_ADVANTAGE/SP/MACHINABLE","zone":"02","tier":"70lb","status":"no-price"}]}`, string(b))
	var got uspsload.Checkpoint
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Equal(t, sampleCheckpoint(), &got)
}

func TestCheckpointDecodeErrors(t *testing.T) {
	good, err := json.Marshal(sampleCheckpoint())
	require.NoError(t, err)
	for _, tc := range []struct {
		field      string
		old, new   string
		wholeInput string
	}{
		{field: "version", old: `"version":1`, new: `"version":2`},
		{field: "account", old: `"account":"0001"`, new: `"account":"1000000001"`},
		{field: "plan", old: `"plan":"0123`, new: `"plan":"X123`},
		{field: "calls", old: `"calls":4`, new: `"calls":-1`},
		{field: "json", old: `"calls":4`, new: `"calls":4,"extra":1`},
		{field: "json", wholeInput: `{"version":1} {}`},
		{field: "json", wholeInput: `[]`},
		{field: "cells[0].product", old: `PRIORITY_MAIL/SP/MACHINABLE`, new: `PRIORITY_MAIL/SP`},
		{field: "cells[0].product", old: `PRIORITY_MAIL/SP/MACHINABLE`, new: `priority/SP/MACHINABLE`},
		{field: "cells[0].zone", old: `"zone":"05"`, new: `"zone":"10"`},
		{field: "cells[0].zone", old: `"zone":"05"`, new: `"zone":"00"`},
		{field: "cells[0].tier", old: `"tier":"2lb"`, new: `"tier":"2kg"`},
		{field: "cells[0].tier", old: `"tier":"2lb"`, new: `"tier":"0.3cuft"`},
		{field: "cells[0].status", old: `"status":"contract"`, new: `"status":"CONTRACT"`},
		{field: "cells[0].price", old: `"price":"9.35"`, new: `"price":"9.355"`},
		{field: "cells[0].price", old: `,"price":"9.35"`, new: ``},
		{field: "cells[2].price", old: `"status":"no-contract"`, new: `"status":"no-contract","price":"1.00"`},
		{field: "cells[3].tier", old: `"zone":"02","tier":"70lb"`, new: `"zone":"01","tier":"15.99oz"`},
	} {
		in := tc.wholeInput
		if in == "" {
			require.Contains(t, string(good), tc.old)
			in = strings.Replace(string(good), tc.old, tc.new, 1)
		}
		var cp uspsload.Checkpoint
		err := cp.UnmarshalJSON([]byte(in))
		var ce *uspsload.CheckpointError
		require.ErrorAs(t, err, &ce, in)
		assert.Equal(t, tc.field, ce.Field, in)
		assert.NotContains(t, err.Error(), "1000000001")
	}
}

// FuzzCheckpoint: decoding never panics, and whatever decodes encodes to a
// canonical form that decodes to the same checkpoint and encodes to the
// same bytes.
func FuzzCheckpoint(f *testing.F) {
	good, err := json.Marshal(sampleCheckpoint())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"version":1,"account":"0001","plan":"` + plan64 + `","calls":0,"cells":[]}`))
	f.Add([]byte(`{"version":1,"account":"0001","plan":"` + plan64 + `","calls":0,"cells":null}`))
	f.Add([]byte(`{"version":1,"account":"0001","plan":"` + plan64 + `","calls":1,"cells":[{"product":"A/BC/D","zone":"5","tier":"16oz","status":"contract","price":"0"}]}`))
	f.Add([]byte(`{"version":1,"cells":[{"product":"//","zone":"","tier":"1.0625lb"}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var cp uspsload.Checkpoint
		if cp.UnmarshalJSON(in) != nil {
			return
		}
		out, err := json.Marshal(&cp)
		require.NoError(t, err)
		var again uspsload.Checkpoint
		require.NoError(t, json.Unmarshal(out, &again), "%s", out)
		require.Equal(t, len(cp.Cells), len(again.Cells))
		if len(cp.Cells) > 0 { // nil and empty Cells both encode as []
			require.Equal(t, cp, again)
		}
		out2, err := json.Marshal(&again)
		require.NoError(t, err)
		require.Equal(t, string(out), string(out2))
	})
}
