package linking_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/memstore"
	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

func TestStartIssuesBoundSingleUseState(t *testing.T) {
	e := newEnv(t, nil)
	u, err := e.linker.Start(t.Context(), account, session)
	require.NoError(t, err)
	parsed, err := url.Parse(u)
	require.NoError(t, err)
	q := parsed.Query()
	assert.GreaterOrEqual(t, len(q.Get("state")), 43, "256 random bits")
	assert.Equal(t, "S256", q.Get("code_challenge_method"))
	assert.Equal(t, redirectURI, q.Get("redirect_uri"))
	st, _ := e.state(account)
	assert.Equal(t, linking.StateAuthorizing, st)

	u2, err := e.linker.Start(t.Context(), account, session)
	require.NoError(t, err)
	q2, _ := url.ParseQuery(strings.SplitN(u2, "?", 2)[1])
	assert.NotEqual(t, q.Get("state"), q2.Get("state"), "every Start has its own state")

	_, err = e.linker.Start(t.Context(), account, "")
	assert.Error(t, err)
}

func TestCallbackHappyPathStoresSealedTokens(t *testing.T) {
	e := newEnv(t, nil)
	p := e.authorize(e.linker, account, session)
	st, err := e.linker.Callback(t.Context(), account, session, p)
	require.NoError(t, err)
	assert.Equal(t, linking.StateAwaitingCredentials, st.State)
	assert.Equal(t, account, st.AccountID)
	assert.Equal(t, 1, e.srv.Count("POST /oauth2/v3/token"))

	// The stored bytes are sealed: no token text in them, and they open
	// only for this account.
	stored, err := e.store.GetLink(t.Context(), account)
	require.NoError(t, err)
	assert.NotEmpty(t, stored.Token)
	assert.False(t, stored.TokenExpiry.IsZero())
	plain, err := e.sealer.Open(stored.Token, linking.SealAAD(account, linking.SealedFieldToken))
	require.NoError(t, err)
	var tok uspsbiz.Token
	require.NoError(t, tok.UnmarshalBinary(plain))
	assert.NotContains(t, string(stored.Token), tok.AccessToken.Reveal())
	assert.NotContains(t, string(stored.Token), tok.RefreshToken.Reveal())
	_, err = e.sealer.Open(stored.Token, linking.SealAAD("another-account", linking.SealedFieldToken))
	assert.ErrorIs(t, err, linking.ErrSealIntegrity)

	evs, err := e.store.Events(t.Context(), account)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	assert.Equal(t, linking.StateAuthorizing, evs[0].To)
	assert.Equal(t, linking.StateAwaitingCredentials, evs[1].To)
	assert.Equal(t, "callback", evs[1].Cause)
}

func TestCallbackAttacks(t *testing.T) {
	type attack struct {
		name    string
		prepare func(e *env) (acct, sess string, p url.Values)
		code    string
	}
	attacks := []attack{
		{"forged state", func(e *env) (string, string, url.Values) {
			p := e.authorize(e.linker, account, session)
			p.Set("state", "forged-"+p.Get("state")[7:])
			return account, session, p
		}, "invalid_state"},
		{"empty state", func(e *env) (string, string, url.Values) {
			p := e.authorize(e.linker, account, session)
			p.Set("state", "")
			return account, session, p
		}, "invalid_state"},
		{"other session", func(e *env) (string, string, url.Values) {
			return account, "attacker-session", e.authorize(e.linker, account, session)
		}, "state_mismatch"},
		{"other account", func(e *env) (string, string, url.Values) {
			// The attacker's own state, delivered to the victim's account.
			return account, session, e.authorize(e.linker, "attacker-account", session)
		}, "state_mismatch"},
		{"other environment", func(e *env) (string, string, url.Values) {
			// The same fake under another name: another environment.
			other, err := uspsbiz.New(uspsbiz.WithEnvironment(uspsbiz.Environment(strings.Replace(e.srv.URL, "127.0.0.1", "localhost", 1))),
				uspsbiz.WithCOPURL(e.srv.COPURL()), uspsbiz.WithClock(e.srv.Now),
				uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: clientID, ClientSecret: clientSecret}))
			require.NoError(e.t, err)
			tem, err := linking.New(other, e.store, e.sealer, linking.WithRedirectURI(redirectURI),
				linking.WithPlatform("Acme Ship", platformCRID), linking.WithClock(e.srv.Now))
			require.NoError(e.t, err)
			p := e.authorize(tem, account, session)
			return account, session, p // redeemed on the production Linker
		}, "state_mismatch"},
		{"expired state", func(e *env) (string, string, url.Values) {
			p := e.authorize(e.linker, account, session)
			e.srv.Advance(11 * time.Minute)
			return account, session, p
		}, "state_expired"},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			e := newEnv(t, nil)
			acct, sess, p := a.prepare(e)
			before := e.srv.Count("POST /oauth2/v3/token")
			_, err := e.linker.Callback(t.Context(), acct, sess, p)
			var ce *linking.CallbackError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, a.code, ce.Code)
			assert.Equal(t, before, e.srv.Count("POST /oauth2/v3/token"), "no exchange")
			if a.code == "state_mismatch" {
				// The mismatched state is burnt: not even its rightful owner can use it now.
				_, err = e.linker.Callback(t.Context(), "attacker-account", session, p)
				assert.Equal(t, "state_used", code(err))
			}
			lk, err := e.store.GetLink(t.Context(), account)
			if err == nil {
				assert.Empty(t, lk.Token, "no token landed on the victim's link")
			}
		})
	}
}

func TestCallbackReplayMakesNoSecondExchange(t *testing.T) {
	e := newEnv(t, nil)
	p := e.authorize(e.linker, account, session)
	_, err := e.linker.Callback(t.Context(), account, session, p)
	require.NoError(t, err)
	_, err = e.linker.Callback(t.Context(), account, session, p)
	require.Equal(t, "state_used", code(err))
	assert.Equal(t, 1, e.srv.Count("POST /oauth2/v3/token"))
}

func TestCallbackErrorIsMappedNotReflected(t *testing.T) {
	e := newEnv(t, nil)
	u, err := e.linker.Start(t.Context(), account, session)
	require.NoError(t, err)
	back, err := e.srv.Authorize(u, uspsbiztest.Consent{Username: username, Password: password, MFACode: mfaCode, Deny: true})
	require.NoError(t, err)
	_, err = e.linker.Callback(t.Context(), account, session, back.Query())
	var ce *linking.CallbackError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "access_denied", ce.Code)

	p := e.authorize(e.linker, account, session)
	p.Del("code")
	p.Set("error", "<script>alert(1)</script>")
	_, err = e.linker.Callback(t.Context(), account, session, p)
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "unknown_error", ce.Code)
	assert.NotContains(t, err.Error(), "script")
}

func TestCallbackExchangeFailure(t *testing.T) {
	e := newEnv(t, nil)
	p := e.authorize(e.linker, account, session)
	p.Set("code", "code-not-issued")
	_, err := e.linker.Callback(t.Context(), account, session, p)
	require.Equal(t, "exchange_failed", code(err))
	assert.ErrorIs(t, err, uspsbiz.ErrReauthorizationRequired)
	st, _ := e.state(account)
	assert.Equal(t, linking.StateAuthorizing, st, "nothing changed; the customer can start again")
}

// cancelAfterToken cancels the request context as soon as the token
// endpoint has answered: the browser went away mid-callback.
type cancelAfterToken struct {
	cancel context.CancelFunc
}

func (c cancelAfterToken) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && strings.HasSuffix(r.URL.Path, "/oauth2/v3/token") {
		c.cancel()
	}
	return res, err
}

func TestCallbackKeepsTokensWhenRequestDiesAfterExchange(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	usps, err := uspsbiz.New(uspsbiz.WithEnvironment(uspsbiz.Environment(e.srv.URL)), uspsbiz.WithCOPURL(e.srv.COPURL()),
		uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: clientID, ClientSecret: clientSecret}),
		uspsbiz.WithClock(e.srv.Now), uspsbiz.WithHTTPClient(&http.Client{Transport: cancelAfterToken{cancel}}))
	require.NoError(t, err)
	l, err := linking.New(usps, e.store, e.sealer, linking.WithRedirectURI(redirectURI), linking.WithPlatform("Acme Ship", platformCRID), linking.WithClock(e.srv.Now))
	require.NoError(t, err)
	p := e.authorize(l, account, session)
	_, err = l.Callback(ctx, account, session, p)
	require.NoError(t, err, "the exchange answered before the cancel; saving ignores it")
	require.Error(t, ctx.Err())

	// Another process picks the link up with its tokens.
	other := e.newLinker(e.store)
	st, err := other.Status(t.Context(), account)
	require.NoError(t, err)
	assert.Equal(t, linking.StateAwaitingCredentials, st.State)
	tok, err := other.TokenSource(t.Context(), account).Token()
	require.NoError(t, err)
	assert.NotEmpty(t, tok.AccessToken)
}

func TestCallbackSurvivesCrashAfterSave(t *testing.T) {
	e := newEnv(t, nil)
	crashing := e.newLinker(e.store, linking.WithTransitionHook(func(_ context.Context, tr linking.Event) {
		if tr.To == linking.StateAwaitingCredentials {
			panic("process killed before responding")
		}
	}))
	p := e.authorize(crashing, account, session)
	require.Panics(t, func() { _, _ = crashing.Callback(t.Context(), account, session, p) })

	restarted := e.newLinker(e.store)
	st, err := restarted.Status(t.Context(), account)
	require.NoError(t, err)
	assert.Equal(t, linking.StateAwaitingCredentials, st.State)
	_, err = restarted.TokenSource(t.Context(), account).Token()
	require.NoError(t, err, "tokens were durable before the crash")
}

func TestNewValidates(t *testing.T) {
	e := newEnv(t, nil)
	_, err := linking.New(nil, memstore.New(), e.sealer, linking.WithRedirectURI(redirectURI))
	assert.Error(t, err)
	_, err = linking.New(e.usps, memstore.New(), e.sealer)
	assert.ErrorContains(t, err, "WithRedirectURI")
	for _, o := range []linking.Option{
		linking.WithPlatform("x", "not-a-crid"),
		linking.WithStateTTL(time.Second),
		linking.WithClock(nil),
		linking.WithLogger(nil),
		linking.WithTransitionHook(nil),
		linking.WithBackoff(0, 0),
		linking.WithContractProbe(linking.ContractProbe{}),
	} {
		_, err := linking.New(e.usps, memstore.New(), e.sealer, linking.WithRedirectURI(redirectURI), o)
		assert.Error(t, err)
	}
}
