package uspsload_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/nsarates/uspsload"
	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
)

// rewriting puts a proxy in front of the fake that edits every base-rates
// answer with edit, to inject what the fake never sends.
func rewriting(t *testing.T, target string, edit func(opt map[string]any)) string {
	u, err := url.Parse(target)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(r *http.Response) error {
		if !strings.HasSuffix(r.Request.URL.Path, "/base-rates/search") || r.StatusCode != http.StatusOK {
			return nil
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		var opt map[string]any
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		if err := d.Decode(&opt); err != nil {
			return err
		}
		edit(opt)
		out, err := json.Marshal(opt)
		if err != nil {
			return err
		}
		r.Body = io.NopCloser(bytes.NewReader(out))
		r.ContentLength = int64(len(out))
		r.Header.Set("Content-Length", strconv.Itoa(len(out)))
		return nil
	}
	proxy := httptest.NewServer(rp)
	t.Cleanup(proxy.Close)
	return proxy.URL
}

func onePlan() uspsload.Plan {
	return uspsload.Plan{Info: testInfo(), Products: []nsarates.ProductKey{priority}, Zones: []nsarates.Zone{5},
		Tiers: []nsarates.Tier{nsarates.WeightTier(2 * usps.Pound)}}
}

func TestPriceIsRatesSumCheckedAgainstTotalBasePrice(t *testing.T) {
	srv := newFake(t)
	// A tier that USPS splits into a rate plus pound postage: the cell is
	// their sum, which totalBasePrice (no fees) confirms.
	url := rewriting(t, srv.URL, func(opt map[string]any) {
		rates := opt["rates"].([]any)
		r := rates[0].(map[string]any)
		extra := map[string]any{}
		for k, v := range r {
			extra[k] = v
		}
		extra["price"] = json.Number("1.25")
		opt["rates"] = append(rates, extra)
		p, _ := usps.ParseCents(string(r["price"].(json.Number)))
		opt["totalBasePrice"] = json.Number((p + 125).String())
	})
	l := newLoader(t, newClient(t, srv, uspsbiz.WithEnvironment(uspsbiz.Environment(url))), nil)
	res, err := l.Load(t.Context(), onePlan(), nil)
	require.NoError(t, err)
	got, ok := res.Table.Price(nsarates.CellKey{Product: priority, Zone: 5, Tier: nsarates.WeightTier(2 * usps.Pound)})
	require.True(t, ok)
	// Priority is product 0, zone 5, tier index 2 of the seeded grid.
	assert.Equal(t, contract(0, 5, 2)+125, got)
}

func TestInconsistentTotalBasePriceStoresNothing(t *testing.T) {
	srv := newFake(t)
	url := rewriting(t, srv.URL, func(opt map[string]any) { opt["totalBasePrice"] = json.Number("99.99") })
	l := newLoader(t, newClient(t, srv, uspsbiz.WithEnvironment(uspsbiz.Environment(url))), nil)
	res, err := l.Load(t.Context(), onePlan(), nil)
	require.ErrorIs(t, err, uspsbiz.ErrMalformedResponse)
	require.ErrorContains(t, err, "totalBasePrice 99.99")
	if res != nil {
		assert.Nil(t, res.Table)
		assert.Zero(t, res.Done, "nothing recorded for the cell")
	}
}

func TestPricedWeightAboveTierIsRefused(t *testing.T) {
	srv := newFake(t)
	// USPS says it priced 5 lb (say, dimensional weight): not the 2-lb tier.
	url := rewriting(t, srv.URL, func(opt map[string]any) {
		opt["rates"].([]any)[0].(map[string]any)["dimWeight"] = json.Number("5")
	})
	l := newLoader(t, newClient(t, srv, uspsbiz.WithEnvironment(uspsbiz.Environment(url))), nil)
	res, err := l.Load(t.Context(), onePlan(), nil)
	var me *uspsload.MismatchError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, "weight", me.Field)
	if res != nil {
		assert.Zero(t, res.Done)
	}
}

func TestLoadPublishedPrices(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv)
	_, err := uspsload.New(c, uspsload.Config{Account: testEPS, Published: true, Zones: zonePairs(t), MaxCalls: 10})
	require.ErrorContains(t, err, "Account")

	var saved int
	l, err := uspsload.New(c, uspsload.Config{Published: true, Zones: zonePairs(t), MaxCalls: 1000,
		Save: func(context.Context, *uspsload.Checkpoint) error { saved++; return nil }})
	require.NoError(t, err)
	info := nsarates.TableInfo{ID: "Commercial", Version: "2026-01"}
	res, err := l.Load(t.Context(), uspsload.Plan{Info: info, Products: products, Zones: zones, Tiers: tiers}, nil)
	require.NoError(t, err)
	require.NotNil(t, res.Table)
	assert.Empty(t, res.Table.Info().Account, "a published table")
	assert.Equal(t, len(products)*len(zones)*len(tiers), res.Table.Len(), "every cell, at the published price")
	assert.Empty(t, res.Missing)
	assert.Equal(t, res.Total, saved)
	got, ok := res.Table.Price(nsarates.CellKey{Product: ground, Zone: 9, Tier: tiers[4]})
	require.True(t, ok)
	assert.Equal(t, published(2, 9, 4), got)

	// The checkpoint of a published load round-trips.
	b, err := json.Marshal(res.Checkpoint)
	require.NoError(t, err)
	var cp uspsload.Checkpoint
	require.NoError(t, json.Unmarshal(b, &cp))
	assert.Equal(t, uspsload.StatusCommercial, cp.Cells[0].Status)
}
