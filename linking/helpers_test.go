package linking_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/memstore"
	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

const (
	clientID     = "acme-ship-app"
	clientSecret = "canary-platform-secret-4e1b"
	redirectURI  = "https://ship.example/usps/callback"
	platformCRID = "9999001"
	username     = "acme-widgets"
	password     = "canary-usps-password-19"
	mfaCode      = "246810"
	custCRID     = "56781234"
	custMID      = "901234567"
	manifestMID  = "902345678"
	epsActive    = "1000000001"
	epsACH       = "1000000002"
	epsNoMethod  = "1000000003"
	epsNoNSA     = "1000000004"
	returnsMID   = "903456789"
	// A second location of the same business: its own MIDs and EPA.
	eastMID         = "904567890"
	eastManifestMID = "905678901"
	epsEast         = "1000000005"
	// The platform's own business account, and the EPA it pays with when
	// the platform pays.
	platformUser = "acme-ship-billing"
	epsPlatform  = "1000000900"
	account      = "acct-42"
	session      = "session-canary-8c3d"
)

// env is one fake USPS with the SDK wired to it.
type env struct {
	t      testing.TB
	srv    *uspsbiztest.Server
	usps   *uspsbiz.Client
	store  linking.Store
	sealer linking.Rewrapper
	key    []byte // the sealer's key, "k1"
	linker *linking.Linker
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t testing.TB, store linking.Store, opts ...linking.Option) *env {
	t.Helper()
	srv := uspsbiztest.NewServer(t,
		uspsbiztest.WithTime(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)),
		uspsbiztest.WithApp(uspsbiztest.App{ClientID: clientID, ClientSecret: clientSecret, Name: "Acme Ship", RedirectURIs: []string{redirectURI}, CRID: platformCRID}),
		uspsbiztest.WithBusinessAccount(seedAccount()),
		uspsbiztest.WithBusinessAccount(uspsbiztest.BusinessAccount{Username: platformUser, Password: "canary-platform-billing-7", CRID: platformCRID,
			MIDs: []string{"907654321"}, EPAs: []uspsbiztest.EPA{{AccountNumber: epsPlatform}}}),
	)
	seedPrices(srv)
	if store == nil {
		store = memstore.New()
	}
	e := &env{t: t, srv: srv, store: store, logs: &syncBuffer{}}
	e.usps = e.client()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := linking.NewAESGCMSealer("k1", map[string][]byte{"k1": key})
	require.NoError(t, err)
	e.sealer, e.key = sealer, key
	e.linker = e.newLinker(store, opts...)
	return e
}

func (e *env) client() *uspsbiz.Client {
	c, err := uspsbiz.New(
		uspsbiz.WithEnvironment(uspsbiz.Environment(e.srv.URL)),
		uspsbiz.WithCOPURL(e.srv.COPURL()),
		uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: clientID, ClientSecret: clientSecret}),
		uspsbiz.WithClock(e.srv.Now),
		uspsbiz.WithLogger(slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		uspsbiz.WithRetryPolicy(uspsbiz.RetryPolicy{MaxRetries: 1, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond, MaxRetryAfter: time.Second}),
	)
	require.NoError(e.t, err)
	return c
}

// newLinker is another process's Linker on store.
func (e *env) newLinker(store linking.Store, opts ...linking.Option) *linking.Linker {
	base := []linking.Option{
		linking.WithRedirectURI(redirectURI),
		linking.WithPlatform("Acme Ship", platformCRID),
		linking.WithClock(e.srv.Now),
		linking.WithLogger(slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	}
	l, err := linking.New(e.client(), store, e.sealer, append(base, opts...)...)
	require.NoError(e.t, err)
	return l
}

// authorize starts linking and walks the COP consent; it returns the
// callback parameters.
func (e *env) authorize(l *linking.Linker, acct, sess string) url.Values {
	e.t.Helper()
	u, err := l.Start(e.t.Context(), acct, sess)
	require.NoError(e.t, err)
	back, err := e.srv.Authorize(u, uspsbiztest.Consent{Username: username, Password: password, MFACode: mfaCode})
	require.NoError(e.t, err)
	return back.Query()
}

// code is the code of a *linking.CallbackError ("" for another error).
func code(err error) string {
	var ce *linking.CallbackError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return ""
}

// linkAccount takes acct to awaiting credentials.
func (e *env) linkAccount(acct string) {
	e.t.Helper()
	lk, err := e.linker.Callback(e.t.Context(), acct, session, e.authorize(e.linker, acct, session))
	require.NoError(e.t, err)
	require.Equal(e.t, linking.StateAwaitingCredentials, lk.State)
}

func (e *env) state(acct string) (linking.State, linking.Reason) {
	e.t.Helper()
	st, err := e.linker.Status(e.t.Context(), acct)
	require.NoError(e.t, err)
	return st.State, st.Reason
}

func creds(eps string) linking.CredentialsInput {
	return linking.CredentialsInput{CRID: custCRID, MID: custMID, ManifestMID: manifestMID, EPS: eps}
}

func seedAccount() uspsbiztest.BusinessAccount {
	return uspsbiztest.BusinessAccount{
		Username: username, Password: password, MFACode: mfaCode,
		CRID: custCRID, MIDs: []string{custMID, eastMID}, ManifestMIDs: []string{manifestMID, eastManifestMID},
		ReturnsMIDs: []string{returnsMID},
		EPAs: []uspsbiztest.EPA{
			{AccountNumber: epsEast},
			{AccountNumber: epsActive},
			{AccountNumber: epsACH, State: uspsbiztest.EPAPendingACH, MicroDebits: [2]int{17, 42}},
			{AccountNumber: epsNoMethod, State: uspsbiztest.EPANoPaymentMethod},
			{AccountNumber: epsNoNSA},
		},
	}
}

// seedPrices gives Priority Mail a published price everywhere and a
// contract price to the accounts with an NSA.
func seedPrices(srv *uspsbiztest.Server) {
	must(srv.SetPublishedPrices(uspsbiztest.Price{MailClass: "PRIORITY_MAIL", SKU: "DPXX0XXXXC00010", Price: "11.50"}))
	for _, eps := range []string{epsActive, epsACH, epsNoMethod, epsEast} {
		must(srv.SetContractPrices(eps, uspsbiztest.Price{MailClass: "PRIORITY_MAIL", SKU: "DPXX0XXXXC00010", Price: "8.05"}))
	}
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func priorityContract(price string) uspsbiztest.Price {
	return uspsbiztest.Price{MailClass: "PRIORITY_MAIL", SKU: "DPXX0XXXXC00010", Price: price}
}
