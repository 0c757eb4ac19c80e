package uspsbiz_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

func TestLinkFlowSmoke(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, srv)
	v := oauth2.GenerateVerifier()
	tok := link(t, srv, c, v)
	assert.NotEmpty(t, tok.RefreshToken.Reveal())
	assert.WithinDuration(t, srv.Now().Add(8*time.Hour), tok.Expiry, 5*time.Second)
	fresh, err := c.Refresh(t.Context(), tok.RefreshToken)
	require.NoError(t, err)
	assert.NotEqual(t, tok.RefreshToken.Reveal(), fresh.RefreshToken.Reveal())
	assert.Equal(t, 1, fresh.RefreshCount)
	_, err = c.PlatformToken(t.Context())
	require.NoError(t, err)
	require.NoError(t, c.Revoke(t.Context(), fresh.RefreshToken, "refresh_token"))
}
