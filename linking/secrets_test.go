package linking_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/uspsbiz"
)

// TestCanariesNeverLeak walks the flow and its failure paths with debug
// logging and looks for every secret in the logs, the errors and the
// formatted values.
func TestCanariesNeverLeak(t *testing.T) {
	e := newEnv(t, nil)
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	p := e.authorize(e.linker, account, session)
	_, err := e.linker.Callback(t.Context(), account, session, p)
	require.NoError(t, err)
	_, err = e.linker.Callback(t.Context(), account, session, p) // replay
	keep(err)
	_, err = e.linker.SubmitCredentials(t.Context(), account, creds(epsACH))
	keep(err)
	_, err = e.linker.SubmitCredentials(t.Context(), account, linking.CredentialsInput{CRID: custCRID, MID: custMID, EPS: "99" + epsActive})
	keep(err)
	_, err = e.linker.SubmitCredentials(t.Context(), account, creds(epsActive))
	require.NoError(t, err)
	pay, _, err := e.linker.PaymentToken(t.Context(), account)
	require.NoError(t, err)
	lk, err := e.store.GetLink(t.Context(), account)
	require.NoError(t, err)
	plain, err := e.sealer.Open(lk.Token, linking.SealAAD(account, linking.SealedFieldToken))
	require.NoError(t, err)
	var tok uspsbiz.Token
	require.NoError(t, tok.UnmarshalBinary(plain))
	e.srv.RevokeAll(username)
	e.srv.Advance(9 * time.Hour)
	_, err = e.linker.TokenSource(t.Context(), account).Token()
	keep(err)
	require.GreaterOrEqual(t, len(errs), 3)

	canaries := []string{clientSecret, password, session, p.Get("code"), p.Get("state"), epsActive, epsACH,
		tok.AccessToken.Reveal(), tok.RefreshToken.Reveal(), pay.Reveal()}
	texts := []string{e.logs.String(), fmt.Sprintf("%v %+v %#v", lk, lk, *lk), fmt.Sprintf("%v %+v", e.sealer, e.linker)}
	for _, err := range errs {
		texts = append(texts, err.Error(), fmt.Sprintf("%+v", err))
	}
	for _, text := range texts {
		for _, c := range canaries {
			require.NotContains(t, text, c)
		}
	}
}
