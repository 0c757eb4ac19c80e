package uspsbiz_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

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
		fmt.Sprint(s), fmt.Sprintf("%#v", s),
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
	assert.Equal(t, `[REDACTED]|[REDACTED]|"[REDACTED]"`, fmt.Sprintf("%v|%#v|%q", s, s, s))
	sj, err := json.Marshal(s)
	require.NoError(t, err)
	assert.Equal(t, `"[REDACTED]"`, string(sj))
}

// Redaction fails closed: what JSON makes of a secret never decodes back
// into a usable credential.
func TestRedactedJSONNeverDecodesToASecret(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	tok := &uspsbiz.Token{AccessToken: "canary-token-9d1f", RefreshToken: "canary-refresh-77aa",
		TokenType: "Bearer", Expiry: now.Add(time.Hour)}
	require.True(t, tok.Valid(now, 0))
	js, err := json.Marshal(tok)
	require.NoError(t, err)
	require.Contains(t, string(js), `"AccessToken":"[REDACTED]"`)

	var back uspsbiz.Token
	require.Error(t, json.Unmarshal(js, &back), "a marshalled Token does not unmarshal")
	assert.False(t, back.Valid(now, 0), "nor does it leave a usable token behind")

	var s uspsbiz.Secret
	require.Error(t, json.Unmarshal([]byte(`"[REDACTED]"`), &s))
	assert.Empty(t, s)
	require.Error(t, s.UnmarshalText([]byte("[REDACTED]")))
	text, err := uspsbiz.Secret("canary").MarshalText()
	require.NoError(t, err)
	require.Error(t, s.UnmarshalText(text), "MarshalText's output does not come back")

	var creds uspsbiz.Credentials
	cj, err := json.Marshal(uspsbiz.Credentials{ClientID: "id", ClientSecret: "canary-secret-c0ff"})
	require.NoError(t, err)
	require.Error(t, json.Unmarshal(cj, &creds), "a marshalled client secret does not come back")

	var pa uspsbiz.PaymentAuthorization
	pj, err := json.Marshal(uspsbiz.PaymentAuthorization{Token: "canary-payment", Expiry: now})
	require.NoError(t, err)
	require.Error(t, json.Unmarshal(pj, &pa))

	// Other values still decode: a host may load its client secret from JSON.
	require.NoError(t, json.Unmarshal([]byte(`{"ClientID":"id","ClientSecret":"from-config"}`), &creds))
	assert.Equal(t, "from-config", creds.ClientSecret.Reveal())

	// A token holding the redaction text, however it got there, is never valid.
	forged := &uspsbiz.Token{AccessToken: "[REDACTED]", Expiry: now.Add(time.Hour)}
	assert.False(t, forged.Valid(now, 0))
	var bin uspsbiz.Token
	require.Error(t, bin.UnmarshalBinary([]byte(`{"v":1,"at":"[REDACTED]","rt":"x"}`)))
	require.Error(t, bin.UnmarshalBinary([]byte(`{"v":1,"at":"x","rt":"[REDACTED]"}`)))
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

	u, err := c.COPURL(uspsbiz.COPRequest{State: testState, RedirectURI: testRedirect, Verifier: verifier})
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
	keep(c.Revoke(t.Context(), fresh.RefreshToken))
	bad, err := uspsbiz.New(uspsbiz.WithEnvironment(uspsbiz.Environment(srv.URL)), uspsbiz.WithLogger(logger),
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
