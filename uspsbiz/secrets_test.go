package uspsbiz_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/nsalink/nsalink/uspsbiz"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

func TestSecretNeverFormats(t *testing.T) {
	s := uspsbiz.Secret("canary-token-9d1f")
	tok := &uspsbiz.Token{AccessToken: s, RefreshToken: "canary-refresh-77aa", TokenType: "Bearer"}
	creds := uspsbiz.Credentials{ClientID: "id", ClientSecret: "canary-secret-c0ff"}
	js, err := json.Marshal(map[string]any{"tok": tok, "creds": creds, "s": s})
	require.NoError(t, err)
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("x", "tok", tok, "creds", creds, "s", s)
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("x", "tok", tok, "creds", creds, "s", s)
	outputs := []string{
		s.String(), s.GoString(),
		fmt.Sprintf("%v %+v %#v %s %q %x %d", s, s, s, s, s, s, s),
		fmt.Sprintf("%v %+v %#v", tok, tok, tok),
		fmt.Sprintf("%v %+v %#v", *tok, *tok, *tok),
		fmt.Sprintf("%v %+v %#v", creds, creds, creds),
		string(js), logBuf.String(),
	}
	for _, out := range outputs {
		for _, canary := range []string{"canary-token-9d1f", "canary-refresh-77aa", "canary-secret-c0ff"} {
			assert.NotContains(t, out, canary)
		}
	}
	assert.Equal(t, "canary-token-9d1f", s.Reveal())
}

func TestTokenBinaryRoundTrip(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv)
	tok := link(t, srv, c, "")
	b, err := tok.MarshalBinary()
	require.NoError(t, err)
	var back uspsbiz.Token
	require.NoError(t, back.UnmarshalBinary(b))
	assert.Equal(t, tok.AccessToken.Reveal(), back.AccessToken.Reveal())
	assert.Equal(t, tok.RefreshToken.Reveal(), back.RefreshToken.Reveal())
	assert.True(t, tok.Expiry.Equal(back.Expiry))
	assert.True(t, tok.RefreshExpiry.Equal(back.RefreshExpiry))
	assert.Equal(t, tok.Scope, back.Scope)

	assert.Error(t, back.UnmarshalBinary([]byte("not json")))
	assert.Error(t, back.UnmarshalBinary([]byte(`{"v":2}`)))
}

// TestCanariesNeverLeak runs the whole OAuth life of a link, including its
// failure paths, with debug logging on, and looks for every secret in the
// logs and the error texts.
func TestCanariesNeverLeak(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := newFake(t)
	c := newClient(t, srv, uspsbiz.WithLogger(logger))
	verifier := oauth2.GenerateVerifier()
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	u, err := c.COPURL(uspsbiz.AuthRequest{State: testState, RedirectURI: testRedirect, Verifier: verifier})
	require.NoError(t, err)
	back, err := srv.Authorize(u, uspsbiztest.Consent{Username: testUser, Password: testPassword, MFACode: testMFA})
	require.NoError(t, err)
	code := back.Query().Get("code")
	tok, err := c.Exchange(t.Context(), code, testRedirect, verifier)
	require.NoError(t, err)
	fresh, err := c.Refresh(t.Context(), tok.RefreshToken)
	require.NoError(t, err)
	_, err = c.Exchange(t.Context(), code, testRedirect, verifier) // replayed code
	keep(err)
	_, err = c.Refresh(t.Context(), tok.RefreshToken) // reuse
	keep(err)
	srv.InjectFault(uspsbiztest.Fault{Match: "POST /oauth2/v3/token", Status: 500, Body: `{"error":"server_error","error_description":"` + testSecret + `"}`})
	_, err = c.PlatformToken(t.Context())
	keep(err)
	srv.InjectFault(uspsbiztest.Fault{Match: "POST /oauth2/v3/token", Kind: uspsbiztest.FaultDropConnection})
	_, err = c.PlatformToken(t.Context())
	keep(err)
	keep(c.Revoke(t.Context(), fresh.RefreshToken, uspsbiz.HintRefreshToken))
	bad, err := uspsbiz.New(uspsbiz.WithBaseURL(srv.URL), uspsbiz.WithLogger(logger),
		uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: testClientID, ClientSecret: "canary-wrong-secret-51"}))
	require.NoError(t, err)
	_, err = bad.PlatformToken(t.Context())
	keep(err)
	require.GreaterOrEqual(t, len(errs), 4)
	require.NotEmpty(t, logs.String(), "debug logging was on")

	canaries := []string{testSecret, "canary-wrong-secret-51", testPassword, code, verifier,
		tok.AccessToken.Reveal(), tok.RefreshToken.Reveal(), fresh.AccessToken.Reveal(), fresh.RefreshToken.Reveal()}
	texts := []string{logs.String(), fmt.Sprintf("%v %+v %#v", tok, fresh, c)}
	for _, e := range errs {
		texts = append(texts, e.Error(), fmt.Sprintf("%+v", e))
	}
	for _, text := range texts {
		for _, canary := range canaries {
			require.NotContains(t, text, canary)
		}
	}
}
