package linking_test

// The security suite of issue 14 ("Hostile-world hardening"): planted
// canaries through the whole flow (logs, errors under every verb, JSON,
// stored rows), callback replay and injection, CSRF, redirects off-site,
// binding of typed credentials to the granting account, EPS at rest,
// concurrency. Each test logs its counts (go test -v -run Security).

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/internal/pgtest"
	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/memstore"
	"github.com/nsalink/nsalink/linking/sqlstore"
	"github.com/nsalink/nsalink/linking/sqlstore/postgres"
	"github.com/nsalink/nsalink/linking/sqlstore/sqlite"
	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// sqlStores opens a fresh SQLite and (with $NSALINK_TEST_POSTGRES_DSN) a
// fresh PostgreSQL store.
func sqlStores(t *testing.T) map[string]func(t *testing.T) sqlstore.Store {
	return map[string]func(t *testing.T) sqlstore.Store{
		"sqlite": func(t *testing.T) sqlstore.Store {
			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "links.db"))
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			return s
		},
		"postgres": func(t *testing.T) sqlstore.Store {
			s, err := postgres.Open(t.Context(), pgtest.DSN(t))
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
}

// dumpRows renders every row of nsalink's tables as text, blobs as they
// are (so a clear value inside one shows).
func dumpRows(t *testing.T, db *sql.DB) string {
	var b strings.Builder
	for _, table := range []string{"nsalink_links", "nsalink_link_events", "nsalink_auth_requests", "nsalink_tables"} {
		dumpTable(t, db, table, &b)
	}
	return b.String()
}

// dumpTable writes every row of table to b as "table.column=value" lines
// and returns how many rows it wrote.
func dumpTable(t *testing.T, db *sql.DB, table string, b *strings.Builder) int {
	rows, err := db.QueryContext(t.Context(), "SELECT * FROM "+table)
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	n := 0
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		for i, v := range vals {
			if bs, ok := v.([]byte); ok {
				v = string(bs)
			}
			fmt.Fprintf(b, "%s.%s=%v\n", table, cols[i], v)
		}
		n++
	}
	require.NoError(t, rows.Err())
	return n
}

// canaryScan counts the canaries' occurrences in every output it is given.
type canaryScan struct {
	canaries map[string][]string // name → forms (raw, hex, base64 …)
	outputs  []string
	kinds    map[string]int
}

func (c *canaryScan) add(kind, out string) {
	c.outputs = append(c.outputs, out)
	if c.kinds == nil {
		c.kinds = map[string]int{}
	}
	c.kinds[kind]++
}

// addErr adds err under every verb the issue names.
func (c *canaryScan) addErr(err error) {
	if err == nil {
		return
	}
	var e any = err
	c.add("error", fmt.Sprintf("%v|%+v|%#v|%s|%q|%s", e, e, e, e, e, err.Error()))
}

// addValue adds v under every verb, as JSON and through slog.
func (c *canaryScan) addValue(kind string, v any) {
	c.add(kind+" fmt", fmt.Sprintf("%v|%+v|%#v|%s|%q", v, v, v, v, v))
	js, _ := json.Marshal(v)
	c.add(kind+" json", string(js))
	var lb bytes.Buffer
	slog.New(slog.NewJSONHandler(&lb, nil)).Info("x", "v", v)
	slog.New(slog.NewTextHandler(&lb, nil)).Info("x", "v", v)
	c.add(kind+" slog", lb.String())
}

func (c *canaryScan) check(t *testing.T) {
	t.Helper()
	total, bytesScanned := 0, 0
	for _, o := range c.outputs {
		bytesScanned += len(o)
	}
	for name, forms := range c.canaries {
		n := 0
		for _, form := range forms {
			if form == "" {
				continue
			}
			for _, o := range c.outputs {
				n += strings.Count(o, form)
			}
		}
		assert.Zero(t, n, "canary %s found", name)
		t.Logf("canary %-14s: %d occurrence(s)", name, n)
		total += n
	}
	t.Logf("scanned %d outputs (%d bytes) of kinds %v: %d canary occurrence(s) in all", len(c.outputs), bytesScanned, c.kinds, total)
}

func keyForms(key []byte) []string {
	return []string{string(key), hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key)}
}

func TestSecurityCanariesThroughTheWholeFlow(t *testing.T) {
	for name, open := range sqlStores(t) {
		t.Run(name, func(t *testing.T) {
			store := open(t)
			e := newEnv(t, store)
			ctx := t.Context()
			scan := &canaryScan{}
			var errs []error
			keep := func(err error) {
				if err != nil {
					errs = append(errs, err)
				}
			}

			// Forged, injected and replayed callbacks.
			_, err := e.linker.Callback(ctx, account, session, url.Values{"state": {"forged-state\r\nX: y"}, "code": {"c"}})
			require.Error(t, err)
			keep(err)
			// The exchange fails at USPS (invalid_grant).
			q := e.authorize(e.linker, account, session)
			e.srv.InjectFault(uspsbiztest.Fault{Match: "/oauth2/v3/token", Kind: uspsbiztest.FaultInvalidGrant})
			_, err = e.linker.Callback(ctx, account, session, q)
			require.Error(t, err)
			keep(err)
			// A good link, then its replay.
			q = e.authorize(e.linker, account, session)
			_, err = e.linker.Callback(ctx, account, session, q)
			require.NoError(t, err)
			_, err = e.linker.Callback(ctx, account, session, q)
			assert.Equal(t, "state_used", code(err))
			keep(err)

			// Malformed credentials, then USPS failures echoing the EPS.
			_, err = e.linker.SubmitCredentials(ctx, account, linking.CredentialsInput{CRID: custCRID, MID: custMID, EPS: epsActive + "7"})
			require.Error(t, err)
			keep(err)
			echo := `{"apiVersion":"v3","error":{"code":"503","message":"EPS ` + epsActive + ` unavailable\nretry","errors":[{"code":"999999","title":"account ` + epsActive + `"}]}}`
			e.srv.InjectFault(uspsbiztest.Fault{Match: "/payments", Status: 503, Body: echo})
			st, err := e.linker.SubmitCredentials(ctx, account, creds(epsActive))
			keep(err)
			scan.addValue("status", st)
			e.srv.InjectFault(uspsbiztest.Fault{Match: "/payments", Status: 400, Body: echo})
			st, err = e.linker.Verify(ctx, account)
			keep(err)
			scan.addValue("status", st)
			e.srv.InjectFault(uspsbiztest.Fault{Match: "/payments", Status: 404, Body: "<html>" + epsActive + "</html>"})
			st, err = e.linker.SubmitCredentials(ctx, account, creds(epsActive))
			keep(err)
			scan.addValue("status", st)
			// The same failures straight from the check, as errors.
			for _, f := range []uspsbiztest.Fault{{Match: "/payments", Status: 503, Body: echo}, {Match: "/payments", Status: 404, Body: "<html>" + epsActive + "</html>"}} {
				e.srv.InjectFault(f)
				_, err = linking.CheckCredentials(ctx, e.usps, creds(epsActive), usps.CRID(platformCRID))
				assert.Error(t, err)
				keep(err)
			}
			// Now it goes through.
			st, err = e.linker.SubmitCredentials(ctx, account, creds(epsActive))
			require.NoError(t, err)
			require.Equal(t, linking.StateActive, st.State, st.LastError)
			scan.addValue("status", st)
			scan.addValue("view", e.linker.View(st, nil))

			pay, _, err := e.linker.PaymentToken(ctx, account)
			require.NoError(t, err)
			ts := e.linker.TokenSource(ctx, account)
			tok1, err := ts.Token()
			require.NoError(t, err)
			raw, err := store.GetLink(ctx, account)
			require.NoError(t, err)
			plain, err := e.sealer.Open(raw.Token, linking.SealAAD(account, linking.SealedFieldToken))
			require.NoError(t, err)
			var stored uspsbiz.Token
			require.NoError(t, stored.UnmarshalBinary(plain))
			e.srv.Advance(9 * time.Hour)
			tok2, err := ts.Token()
			require.NoError(t, err)
			e.srv.InjectFault(uspsbiztest.Fault{Match: "/oauth2/v3/token", Kind: uspsbiztest.FaultInvalidGrant})
			e.srv.Advance(9 * time.Hour)
			_, err = ts.Token()
			require.Error(t, err)
			keep(err)
			_, _, err = e.linker.PaymentToken(ctx, account)
			keep(err)

			// Everything a host could print, log or store.
			lk, err := e.linker.Status(ctx, account)
			require.NoError(t, err)
			scan.addValue("status", lk)
			rawLink, err := store.GetLink(ctx, account)
			require.NoError(t, err)
			scan.addValue("link", rawLink)
			scan.addValue("link value", *rawLink)
			evs, err := store.Events(ctx, account)
			require.NoError(t, err)
			scan.addValue("events", evs)
			scan.addValue("credentials input", creds(epsActive))
			scan.addValue("linker", e.linker)
			scan.addValue("token source", ts)
			scan.addValue("usps client", e.usps)
			scan.addValue("usps client value", *e.usps)
			scan.addValue("sealer", e.sealer)
			v, err := linking.CheckCredentials(ctx, e.usps, creds(epsActive), usps.CRID(platformCRID))
			require.NoError(t, err)
			require.True(t, v.OK())
			scan.addValue("credentials verdict", v)
			pa := v.Payment
			// A contract table stored as the CLI's import stores it.
			require.NoError(t, linking.StoreTable(ctx, store, account, readTable(t, contractCSV), e.srv.Now()))
			require.NoError(t, e.linker.Unlink(ctx, account, "user"))
			for _, err := range errs {
				scan.addErr(err)
			}
			scan.add("log", e.logs.String())
			scan.add("db rows", dumpRows(t, store.DB()))

			scan.canaries = map[string][]string{
				"client secret": {clientSecret},
				"access token":  {tok1.AccessToken, tok2.AccessToken, stored.AccessToken.Reveal()},
				"refresh token": {stored.RefreshToken.Reveal()},
				"payment token": {pay.Reveal(), pa.Token.Reveal()},
				"EPS":           {epsActive},
				"sealing key":   keyForms(e.key),
			}
			assert.Len(t, errs, 8, "every failure path ran")
			scan.check(t)
		})
	}
}

func TestSecurityPrintingThroughInterfaces(t *testing.T) {
	e := newEnv(t, nil)
	e.linkAccount(account)
	ts := e.linker.TokenSource(t.Context(), account)
	tok, err := ts.Token()
	require.NoError(t, err)
	v, err := linking.CheckCredentials(t.Context(), e.usps, creds(epsActive), usps.CRID(platformCRID))
	require.NoError(t, err)
	values := map[string]any{"linker": e.linker, "token source": ts, "verdict": v, "verdict value": *v,
		"credentials input": creds(epsActive), "client value": *e.usps}
	checked := 0
	for name, val := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			out := fmt.Sprintf(verb, val)
			checked++
			for _, secret := range []string{clientSecret, tok.AccessToken, tok.RefreshToken, v.Payment.Token.Reveal(), epsActive} {
				if secret != "" {
					assert.NotContains(t, out, secret, "%s with %s", name, verb)
				}
			}
		}
	}
	js, err := json.Marshal(creds(epsActive))
	require.NoError(t, err)
	assert.NotContains(t, string(js), epsActive)
	assert.Contains(t, string(js), "0001")
	t.Logf("printing: %d value/verb pairs checked", checked)
}

func TestSecurityHandlersHTTP(t *testing.T) {
	e := newEnv(t, nil)
	srv := host(t, e)
	c := browser(t, srv)

	// Cache-Control on the account's answers.
	res, err := c.Get(srv.URL + "/usps/status")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"), "/status")
	res, err = c.PostForm(srv.URL+"/usps/credentials", url.Values{"crid": {custCRID}})
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"), "/credentials")

	// CSRF: a cross-site POST /start is refused and starts nothing.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/usps/start", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err = c.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusForbidden, res.StatusCode)

	// HEAD /callback spends neither the state nor the code.
	q := e.authorize(e.linker, account, session)
	exchanges := e.srv.Count("POST /oauth2/v3/token")
	res, err = c.Head(srv.URL + "/usps/callback?" + q.Encode())
	require.NoError(t, err)
	res.Body.Close()
	assert.NotEqual(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, exchanges, e.srv.Count("POST /oauth2/v3/token"), "HEAD made no exchange")
	// The GET still works afterwards, and its replay does not.
	res, err = c.Get(srv.URL + "/usps/callback?" + q.Encode())
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, "/settings/usps?linked=1", res.Header.Get("Location"))
	res, err = c.Get(srv.URL + "/usps/callback?" + q.Encode())
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, "/settings/usps?link_error=state_used", res.Header.Get("Location"))
	assert.Equal(t, exchanges+1, e.srv.Count("POST /oauth2/v3/token"), "one exchange in all")

	// Injection through error=: a fixed word comes back, on-site.
	injected := 0
	for _, bad := range []string{"<script>alert(1)</script>", "access_denied\r\nSet-Cookie: x=1", "//evil.example"} {
		q := e.authorize(e.linker, account, session)
		q.Del("code")
		q.Set("error", bad)
		res, err = c.Get(srv.URL + "/usps/callback?" + q.Encode())
		require.NoError(t, err)
		res.Body.Close()
		loc := res.Header.Get("Location")
		assert.True(t, strings.HasPrefix(loc, "/settings/usps?link_error="), loc)
		assert.Equal(t, "/settings/usps?link_error=unknown_error", loc)
		injected++
	}

	// ReturnTo forms a browser resolves off-site are refused.
	id := func(*http.Request) (string, string, bool) { return account, session, true }
	refused := 0
	for _, bad := range []string{`/\evil.example/`, `/\/evil.example`, `\\evil.example`, "//evil.example", "/x\\y", "/\tevil", "https://evil.example/", "/ok\n"} {
		_, err := e.linker.Handler(linking.HandlerOptions{Identify: id, ReturnTo: bad})
		if assert.Error(t, err, "%q", bad) {
			refused++
		}
	}
	_, err = e.linker.Handler(linking.HandlerOptions{Identify: id, ReturnTo: "/settings/usps?tab=1"})
	assert.NoError(t, err)
	t.Logf("http: %d injected callbacks answered with a fixed word, %d off-site ReturnTo forms refused", injected, refused)
}

func TestSecurityHTML404IsNotEPAMissing(t *testing.T) {
	e := newEnv(t, nil)
	e.linkAccount(account)
	e.srv.InjectFault(uspsbiztest.Fault{Match: "/payments", Status: 404, Body: "<html><body>Not Found</body></html>", Times: -1})
	st, err := e.linker.SubmitCredentials(t.Context(), account, creds(epsActive))
	require.NoError(t, err)
	assert.Equal(t, linking.StateApprovalPending, st.State)
	assert.NotEqual(t, linking.ReasonEPAMissing, st.Reason)
	v, err := linking.CheckCredentials(t.Context(), e.usps, creds(epsActive), usps.CRID(platformCRID))
	assert.Error(t, err)
	assert.Nil(t, v)
}

// TestSecurityBindingToGrantingAccount: a customer who linked their own
// USPS account types another business's CRID, MID and EPS.
func TestSecurityBindingToGrantingAccount(t *testing.T) {
	e := newEnv(t, nil)
	const victimEPS = "2000000001"
	victim := uspsbiztest.BusinessAccount{Username: "victim-co", Password: "pw-victim", MFACode: "111111",
		CRID: "77770001", MIDs: []string{"903333333"}, ManifestMIDs: []string{"904444444"},
		EPAs: []uspsbiztest.EPA{{AccountNumber: victimEPS}}}
	uspsbiztest.WithBusinessAccount(victim)(e.srv)
	must(e.srv.SetContractPrices(victimEPS, priorityContract("7.00")))
	e.linkAccount(account) // the attacker's own USPS account (acme-widgets)

	attempts := []linking.CredentialsInput{
		{CRID: victim.CRID, MID: victim.MIDs[0], ManifestMID: victim.ManifestMIDs[0], EPS: victimEPS}, // all the victim's
		{CRID: custCRID, MID: custMID, ManifestMID: manifestMID, EPS: victimEPS},                      // own CRID, victim's EPS
	}
	active := 0
	for _, in := range attempts {
		st, err := e.linker.SubmitCredentials(t.Context(), account, in)
		require.NoError(t, err)
		if st.State == linking.StateActive {
			active++
		}
		assert.NotEqual(t, linking.StateActive, st.State, "%v", in)
		_, _, err = e.linker.PaymentToken(t.Context(), account)
		assert.ErrorIs(t, err, linking.ErrNotActive)
	}
	// The customer's own credentials still work.
	st, err := e.linker.SubmitCredentials(t.Context(), account, creds(epsActive))
	require.NoError(t, err)
	assert.Equal(t, linking.StateActive, st.State)
	t.Logf("binding: %d attempts with another business's credentials, %d became active", len(attempts), active)
}

func TestSecurityConcurrentStarts(t *testing.T) {
	stores := map[string]func(t *testing.T) linking.Store{
		"memstore": func(*testing.T) linking.Store { return memstore.New() },
		"sqlite":   func(t *testing.T) linking.Store { return sqlStores(t)["sqlite"](t) },
		"postgres": func(t *testing.T) linking.Store { return sqlStores(t)["postgres"](t) },
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, open(t))
			const n = 100
			var wg sync.WaitGroup
			var mu sync.Mutex
			failed := map[string]int{}
			ready := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-ready // all at once
					_, err := e.linker.Start(context.Background(), account, fmt.Sprintf("sess-%d", i))
					if err != nil {
						mu.Lock()
						failed[errKind(err)]++
						mu.Unlock()
					}
				})
			}
			close(ready)
			wg.Wait()
			assert.Empty(t, failed)
			st, _ := e.state(account)
			assert.Equal(t, linking.StateAuthorizing, st)
			t.Logf("concurrency: %d concurrent Starts, failures by kind %v", n, failed)
		})
	}
}

func errKind(err error) string {
	if errors.Is(err, linking.ErrConflict) {
		return "conflict"
	}
	return err.Error()
}

func TestSecurityPostgresBadAccountIDs(t *testing.T) {
	s := sqlStores(t)["postgres"](t)
	e := newEnv(t, s)
	for _, id := range []string{"a\x00b", "bad\xff\xfeutf8"} {
		_, err := e.linker.Status(t.Context(), id)
		assert.ErrorIs(t, err, linking.ErrInvalidRecord, "%q", id)
		_, err = e.linker.Start(t.Context(), id, session)
		assert.ErrorIs(t, err, linking.ErrInvalidRecord, "%q", id)
		_, err = s.Events(t.Context(), id)
		assert.ErrorIs(t, err, linking.ErrInvalidRecord, "%q", id)
		err = s.LockLink(t.Context(), id, func(context.Context, linking.LinkTx) error { return nil })
		assert.ErrorIs(t, err, linking.ErrInvalidRecord, "%q", id)
	}
}

func TestSecurityEPSSealedAtRest(t *testing.T) {
	for name, open := range sqlStores(t) {
		t.Run(name, func(t *testing.T) {
			store := open(t)
			e := newEnv(t, store)
			e.linkAccount(account)
			st, err := e.linker.SubmitCredentials(t.Context(), account, creds(epsActive))
			require.NoError(t, err)
			require.Equal(t, linking.StateActive, st.State)
			assert.Equal(t, "0001", st.EPSLast4)
			rows := dumpRows(t, store.DB())
			assert.NotContains(t, rows, epsActive, "EPS in clear at rest")
			raw, err := store.GetLink(t.Context(), account)
			require.NoError(t, err)
			assert.Empty(t, raw.EPSAccount)
			assert.NotEmpty(t, raw.SealedEPS)

			// A link written before sealing (EPS in clear) keeps working and
			// is sealed by its next write; RewrapAll seals the rest.
			const legacy = "acct-legacy"
			e.linkAccount(legacy)
			lk, err := store.GetLink(t.Context(), legacy)
			require.NoError(t, err)
			lk.CRID, lk.MID, lk.ManifestMID, lk.EPSAccount, lk.SealedEPS = custCRID, custMID, manifestMID, epsActive, nil
			lk.State = linking.StateApprovalPending
			_, err = store.UpdateLink(t.Context(), lk, nil)
			require.NoError(t, err)
			require.Contains(t, dumpRows(t, store.DB()), epsActive, "the legacy row holds the clear EPS")
			lst, err := e.linker.Status(t.Context(), legacy)
			require.NoError(t, err)
			assert.Equal(t, "0001", lst.EPSLast4)
			n, err := linking.RewrapAll(t.Context(), store, e.sealer)
			require.NoError(t, err)
			assert.Equal(t, 1, n, "only the legacy link needed sealing")
			assert.NotContains(t, dumpRows(t, store.DB()), epsActive)
			lst, err = e.linker.Verify(t.Context(), legacy)
			require.NoError(t, err)
			assert.Equal(t, linking.StateActive, lst.State)
			assert.Equal(t, "0001", lst.EPSLast4)
			// A sealed EPS moved to another link does not open there.
			a, err := store.GetLink(t.Context(), account)
			require.NoError(t, err)
			b, err := store.GetLink(t.Context(), legacy)
			require.NoError(t, err)
			b.SealedEPS = a.SealedEPS
			_, err = store.UpdateLink(t.Context(), b, nil)
			require.NoError(t, err)
			_, err = e.linker.Status(t.Context(), legacy)
			assert.ErrorIs(t, err, linking.ErrSealIntegrity)
		})
	}
}

// TestSecurityStolenCodeInAnotherSession: an attacker who learns a
// customer's authorization code redeems it in the attacker's own session
// with the attacker's own state. PKCE (the default) defeats it; without
// PKCE it succeeds, as WithoutPKCE's doc says.
func TestSecurityStolenCodeInAnotherSession(t *testing.T) {
	for _, pkce := range []bool{true, false} {
		t.Run(fmt.Sprintf("pkce=%t", pkce), func(t *testing.T) {
			var opts []linking.Option
			if !pkce {
				opts = append(opts, linking.WithoutPKCE())
			}
			e := newEnv(t, nil, opts...)
			victim := e.authorize(e.linker, "victim-acct", "victim-session")
			// The attacker starts their own linking and stops at the COP.
			u, err := e.linker.Start(t.Context(), "attacker-acct", "attacker-session")
			require.NoError(t, err)
			cop, err := url.Parse(u)
			require.NoError(t, err)
			stolen := url.Values{"state": {cop.Query().Get("state")}, "code": {victim.Get("code")}}
			_, err = e.linker.Callback(t.Context(), "attacker-acct", "attacker-session", stolen)
			if pkce {
				assert.Equal(t, "exchange_failed", code(err))
				st, _ := e.state("attacker-acct")
				assert.Equal(t, linking.StateAuthorizing, st, "no tokens for the attacker")
			} else {
				assert.NoError(t, err, "without PKCE a stolen code binds the victim's USPS account (documented)")
			}
		})
	}
}

// tableRows renders every row of the stored rate tables (SELECT *), blobs
// as they are.
func tableRows(t *testing.T, db *sql.DB) string {
	var b strings.Builder
	require.NotZero(t, dumpTable(t, db, "nsalink_tables", &b), "no stored table to scan")
	return b.String()
}

// A contract table, synced from USPS or set by the host, is stored without
// the EPS account (its record keeps the last four digits); a restarted
// instance puts the link's EPS back and quotes NSA.
func TestSecurityStoredTablesHoldNoEPS(t *testing.T) {
	for name, open := range sqlStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			store := open(t)
			e := newEnv(t, store)
			seedGrid(t, e.srv)
			e.linkAccount(account)
			_, err := e.linker.SubmitCredentials(ctx, account, creds(epsActive))
			require.NoError(t, err)
			require.Equal(t, linking.StateActive, mustState(t, e, account))

			pa := newPricer(t)
			a := e.newLinker(store, linking.WithTables(pa, uspsTables(t, 10)))
			_, err = linking.NewSyncer(ctx, a)
			require.NoError(t, err)
			require.NoError(t, linking.SyncTable(ctx, a, account))
			rows := tableRows(t, store.DB())
			n := strings.Count(rows, epsActive)
			t.Logf("after a USPS sync: %d occurrence(s) of the EPS in %d bytes of table rows", n, len(rows))
			assert.Zero(t, n, "EPS in clear in a stored table")
			assert.Equal(t, usps.Cents(805), quote(t, a, pa, shipment(t, pa, 2*usps.Pound)).Price)

			require.NoError(t, a.SetContractTable(ctx, account, readTable(t, contractCSV)))
			require.NoError(t, a.SetCommercialTable(ctx, readTable(t, commercialCSV)))
			rows = tableRows(t, store.DB())
			n = strings.Count(rows, epsActive)
			t.Logf("after SetContractTable: %d occurrence(s) of the EPS in %d bytes of table rows", n, len(rows))
			assert.Zero(t, n, "EPS in clear in a stored table")
			assert.Contains(t, rows, "table,0001,Priority Mail Contract 629,", "the record keeps the last four digits")

			// A restarted instance installs it with the link's EPS account.
			pc := newPricer(t)
			c := e.newLinker(store, linking.WithTables(pc, nil))
			_, err = linking.NewSyncer(ctx, c)
			require.NoError(t, err)
			q := quote(t, c, pc, shipment(t, pc, 2*usps.Pound))
			assert.Equal(t, nsarates.SourceContract, q.Source)
			assert.Equal(t, usps.Cents(805), q.Price)
			info, ok := pc.Contract(epsActive)
			require.True(t, ok)
			assert.Equal(t, epsActive, info.Account)
		})
	}
}
