package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"io"
	"maps"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/internal/pgtest"
	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/sqlstore"
	"github.com/nsalink/nsalink/linking/sqlstore/sqlite"
	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// Canary values: none of them may ever appear in the CLI's output.
const (
	clientID     = "acme-ship-app"
	clientSecret = "canary-client-secret-7f3a"
	redirectURI  = "https://ship.example/usps/callback"
	platformCRID = "9999001"
	username     = "acme-widgets"
	password     = "canary-usps-password-19"
	mfaCode      = "246810"
	custCRID     = "56781234"
	custMID      = "901234567"
	epsActive    = "1000000001"
	epsACH       = "1000000002"
	epsNoMethod  = "1000000003"
	epsPlatform  = "1000000900"
	epsNoNSA     = "1000000004"
	session      = "session-canary-8c3d"
)

// The seeded links, one per interesting state.
const (
	acctActive      = "acct-active"
	acctACH         = "acct-ach"
	acctNoMethod    = "acct-nomethod"
	acctPending     = "acct-pending"
	acctAwaiting    = "acct-awaiting"
	acctAuthorizing = "acct-authorizing"
)

// fixture is a links database (SQLite or PostgreSQL) seeded through the
// public API against the fake USPS, and the CLI's environment for it.
type fixture struct {
	t      *testing.T
	dsn    string
	store  sqlstore.Store
	srv    *uspsbiztest.Server
	linker *linking.Linker
	k1     string // base64 of the sealing key the links were sealed with
	env    map[string]string
	start  time.Time // before the seeding: every scheduled check is after it

	mu      sync.Mutex
	outputs []string // everything the CLI printed, checked for secrets at cleanup
	secrets []string // values that must never be printed, besides the constants
}

// backends runs fn on SQLite and on PostgreSQL.
func backends(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Run("SQLite", func(t *testing.T) {
		t.Parallel()
		fn(t, newFixture(t, "sqlite:"+sqliteFile(t)))
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		t.Parallel()
		fn(t, newFixture(t, postgresDSN(t)))
	})
}

func sqliteFile(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "links.db")
	s, err := sqlite.Open(t.Context(), path) // creates and migrates it
	require.NoError(t, err)
	require.NoError(t, s.Close())
	return path
}

// postgresDSN is pgtest.DSN, checked to be a URL: the CLI takes PostgreSQL
// URLs only.
func postgresDSN(t *testing.T) string {
	t.Helper()
	dsn := pgtest.DSN(t)
	require.True(t, strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://"),
		"the CLI takes PostgreSQL URLs; NSALINK_TEST_POSTGRES_DSN must be one")
	return dsn
}

func newFixture(t *testing.T, dsn string) *fixture {
	t.Helper()
	ctx := t.Context()
	// The fake follows the wall clock, like the CLI's Linker.
	srv := uspsbiztest.NewServer(t,
		uspsbiztest.WithApp(uspsbiztest.App{ClientID: clientID, ClientSecret: clientSecret, Name: "Acme Ship",
			RedirectURIs: []string{redirectURI}, CRID: platformCRID}),
		uspsbiztest.WithBusinessAccount(uspsbiztest.BusinessAccount{
			Username: username, Password: password, MFACode: mfaCode,
			CRID: custCRID, MIDs: []string{custMID},
			EPAs: []uspsbiztest.EPA{
				{AccountNumber: epsActive},
				{AccountNumber: epsACH, State: uspsbiztest.EPAPendingACH, MicroDebits: [2]int{17, 42}},
				{AccountNumber: epsNoMethod, State: uspsbiztest.EPANoPaymentMethod},
				{AccountNumber: epsNoNSA},
			},
		}),
		// The platform's own account, which pays postage under -payer platform.
		uspsbiztest.WithBusinessAccount(uspsbiztest.BusinessAccount{Username: "acme-billing", Password: password,
			CRID: platformCRID, EPAs: []uspsbiztest.EPA{{AccountNumber: epsPlatform}}}))
	require.NoError(t, srv.SetPublishedPrices(uspsbiztest.Price{MailClass: "PRIORITY_MAIL", SKU: "DPXX0XXXXC00010", Price: "11.50"}))
	for _, eps := range []string{epsActive, epsACH, epsNoMethod} {
		require.NoError(t, srv.SetContractPrices(eps, uspsbiztest.Price{MailClass: "PRIORITY_MAIL", SKU: "DPXX0XXXXC00010", Price: "8.05"}))
	}

	store, err := openStore(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, store.Close()) })

	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := linking.NewAESGCMSealer("k1", map[string][]byte{"k1": key})
	require.NoError(t, err)
	f := &fixture{t: t, dsn: dsn, store: store, srv: srv, k1: base64.StdEncoding.EncodeToString(key), start: time.Now()}
	f.linker = f.newLinker(sealer)
	f.env = map[string]string{
		"NSALINK_DB":                 dsn,
		"NSALINK_USPS_CLIENT_ID":     clientID,
		"NSALINK_USPS_CLIENT_SECRET": clientSecret,
		"NSALINK_PLATFORM_CRID":      platformCRID,
		"NSALINK_SEAL_KEYS":          "k1:" + f.k1,
	}

	f.link(acctActive, epsActive, linking.StateActive, linking.ReasonNone)
	f.link(acctACH, epsACH, linking.StateActionRequired, linking.ReasonEPANotActive)
	f.link(acctNoMethod, epsNoMethod, linking.StateActionRequired, linking.ReasonNoPaymentMethod)
	f.link(acctPending, epsNoNSA, linking.StateApprovalPending, linking.ReasonContractNotEffective)
	f.link(acctAwaiting, "", linking.StateAwaitingCredentials, linking.ReasonNone)
	_, err = f.linker.Start(ctx, acctAuthorizing, session)
	require.NoError(t, err)
	tok, _, err := f.linker.PaymentToken(ctx, acctActive)
	require.NoError(t, err)
	f.secrets = append(f.secrets, tok.Reveal())

	t.Cleanup(f.checkNoSecrets)
	return f
}

func (f *fixture) newLinker(sealer linking.Sealer) *linking.Linker {
	c, err := uspsbiz.New(
		uspsbiz.WithEnvironment(uspsbiz.Environment(f.srv.URL)),
		uspsbiz.WithCOPURL(f.srv.COPURL()),
		uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: clientID, ClientSecret: clientSecret}))
	require.NoError(f.t, err)
	l, err := linking.New(c, f.store, sealer, linking.WithRedirectURI(redirectURI), linking.WithPlatform("Acme Ship", platformCRID))
	require.NoError(f.t, err)
	return l
}

// link walks acct through the COP consent and, with eps, the credentials,
// and checks where it ended.
func (f *fixture) link(acct, eps string, want linking.State, reason linking.Reason) {
	t, ctx := f.t, f.t.Context()
	t.Helper()
	u, err := f.linker.Start(ctx, acct, session)
	require.NoError(t, err)
	back, err := f.srv.Authorize(u, uspsbiztest.Consent{Username: username, Password: password, MFACode: mfaCode})
	require.NoError(t, err)
	st, err := f.linker.Callback(ctx, acct, session, back.Query())
	require.NoError(t, err)
	if eps != "" {
		st, err = f.linker.SubmitCredentials(ctx, acct, linking.CredentialsInput{CRID: custCRID, MID: custMID, EPS: eps})
		require.NoError(t, err)
	}
	require.Equal(t, want, st.State, acct)
	require.Equal(t, reason, st.Reason, acct)
}

// run runs the CLI in-process with the fixture's environment plus extra
// ("" deletes a variable), at the wall clock.
func (f *fixture) run(extra map[string]string, args ...string) (int, string, string) {
	return f.runAt(time.Now, extra, args...)
}

func (f *fixture) runAt(now func() time.Time, extra map[string]string, args ...string) (int, string, string) {
	return f.runIO(now, nil, true, extra, args...)
}

// runIO is runAt with stdin, and with checkStdout false for a command whose
// output is a secret by design (tables export of a contract table holds
// the full EPS account): then only stderr is checked for secrets.
func (f *fixture) runIO(now func() time.Time, stdin io.Reader, checkStdout bool, extra map[string]string, args ...string) (int, string, string) {
	vars := maps.Clone(f.env)
	maps.Copy(vars, extra)
	var out, errOut bytes.Buffer
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	e := &env{ctx: f.t.Context(), getenv: func(k string) string { return vars[k] }, stdin: stdin, stdout: &out, stderr: &errOut, now: now}
	code := e.run(args)
	f.mu.Lock()
	if checkStdout {
		f.outputs = append(f.outputs, out.String())
	}
	f.outputs = append(f.outputs, errOut.String())
	f.mu.Unlock()
	return code, out.String(), errOut.String()
}

// checkNoSecrets fails if any output holds a secret: the canaries, the
// sealing key, the full EPS numbers, or any token the fake handed out.
func (f *fixture) checkNoSecrets() {
	secrets := append([]string{clientSecret, password, mfaCode, session, epsActive, epsACH, epsNoMethod, epsNoNSA, f.k1}, f.secrets...)
	for _, r := range f.srv.Requests() {
		if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer ") {
			secrets = append(secrets, strings.TrimPrefix(a, "Bearer "))
		}
		if form, err := url.ParseQuery(string(r.Body)); err == nil {
			for _, k := range []string{"code", "refresh_token", "code_verifier", "token"} {
				if v := form.Get(k); v != "" {
					secrets = append(secrets, v)
				}
			}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	require.NotEmpty(f.t, f.outputs)
	for _, out := range f.outputs {
		for _, s := range secrets {
			require.NotContains(f.t, out, s, "a secret was printed")
		}
	}
}

func (f *fixture) get(acct string) *linking.Link {
	l, err := f.store.GetLink(f.t.Context(), acct)
	require.NoError(f.t, err)
	return l
}
