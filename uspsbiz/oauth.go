package uspsbiz

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/nsalink/nsalink/internal/httpx"
)

// OAuth endpoint paths below the base URL.
const (
	tokenPath  = "/oauth2/v3/token"
	revokePath = "/oauth2/v3/revoke"
)

// EarlyExpiry is how long before its expiry a cached token is renewed: it
// covers clock skew and slow refreshes at no quota cost on 8-hour tokens.
const EarlyExpiry = 5 * time.Minute

// errNoCredentials is returned by calls that need WithCredentials.
var errNoCredentials = errors.New("uspsbiz: platform credentials are not configured (WithCredentials)")

func (c *Client) endpoint() oauth2.Endpoint {
	return oauth2.Endpoint{
		TokenURL: c.baseURL.String() + tokenPath,
		// Explicit: AuthStyleAutoDetect posts twice when the first attempt
		// fails, which burns a single-use code and quota.
		AuthStyle: oauth2.AuthStyleInParams,
	}
}

// tokenCtx gives x/oauth2 our HTTP stack for token calls: no retry once
// sent, route-only logging.
func (c *Client) tokenCtx(ctx context.Context, grant Grant) context.Context {
	ctx = c.observed(ctx, APIOAuth, grant)
	return context.WithValue(ctx, oauth2.HTTPClient, c.doer.StandardClient(tokenPath))
}

// platformTokens caches the platform's client-credentials token. sem is a
// one-slot semaphore held across the fetch, so that concurrent callers make
// one token call, while a caller waiting for it still gives up when its
// context ends.
type platformTokens struct {
	c      *Client
	sem    chan struct{}
	tok    *Token
	header string        // "Bearer …" of tok, built once per token
	margin time.Duration // renew this long before tok expires
}

func (p *platformTokens) lock(ctx context.Context) error {
	select {
	case p.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("uspsbiz: waiting for the platform token: %w", ctx.Err())
	}
}

func (p *platformTokens) unlock() { <-p.sem }

func (p *platformTokens) authorization(ctx context.Context) (string, error) {
	if err := p.lock(ctx); err != nil {
		return "", err
	}
	defer p.unlock()
	if err := p.refreshLocked(ctx); err != nil {
		return "", err
	}
	return p.header, nil
}

func (p *platformTokens) get(ctx context.Context) (*Token, error) {
	if err := p.lock(ctx); err != nil {
		return nil, err
	}
	defer p.unlock()
	if err := p.refreshLocked(ctx); err != nil {
		return nil, err
	}
	return p.tok, nil
}

// drop forgets the cached token after USPS refused it (401), but only if it
// is still the one that was sent: a peer may already have fetched a new one.
func (p *platformTokens) drop(sent string) {
	p.sem <- struct{}{}
	defer p.unlock()
	if p.header == sent {
		p.tok, p.header = nil, ""
	}
}

func (p *platformTokens) refreshLocked(ctx context.Context) error {
	if p.tok.Valid(p.c.now(), p.margin) {
		return nil
	}
	tok, err := p.c.fetchPlatformToken(ctx)
	if err != nil {
		return err
	}
	p.tok, p.header = tok, "Bearer "+tok.AccessToken.Reveal()
	p.margin = renewalMargin(tok.Expiry.Sub(p.c.now()))
	return nil
}

// renewalMargin is how long before expiry a token of the given lifetime is
// renewed: EarlyExpiry for USPS's 8-hour tokens, a tenth of the lifetime for
// short-lived ones, so that a 60-second token is still cached for 54 s
// instead of being fetched for every call.
func renewalMargin(lifetime time.Duration) time.Duration {
	return min(EarlyExpiry, max(lifetime/10, 0))
}

// PlatformToken returns the platform's own client-credentials token, cached
// and renewed EarlyExpiry before it expires.
func (c *Client) PlatformToken(ctx context.Context) (*Token, error) {
	return c.platform.get(ctx)
}

func (c *Client) fetchPlatformToken(ctx context.Context) (*Token, error) {
	if c.creds.ClientID == "" {
		return nil, errNoCredentials
	}
	if err := c.quotas.take(ctx, APIOAuth); err != nil {
		return nil, err
	}
	cc := clientcredentials.Config{
		ClientID:     c.creds.ClientID,
		ClientSecret: c.creds.ClientSecret.Reveal(),
		TokenURL:     c.endpoint().TokenURL,
		Scopes:       c.creds.Scopes,
		AuthStyle:    oauth2.AuthStyleInParams,
	}
	t, err := cc.Token(c.tokenCtx(ctx, GrantClientCredentials))
	if err != nil {
		return nil, wrapTokenError("platform token", err)
	}
	tok, err := tokenFromOAuth2(t, c.now())
	if err != nil {
		return nil, &TokenResponseError{Op: "platform token", Err: err}
	}
	return tok, nil
}

// COPRequest describes one customer authorization through the COP.
type COPRequest struct {
	// State is the caller's random, single-use value binding the callback to
	// the customer's session (at least 22 characters; see linking).
	State string
	// RedirectURI must equal one registered for the app, byte for byte, and
	// must be sent again unchanged to Exchange.
	RedirectURI string
	// PlatformName is shown on the COP's "Grant <Platform> Access" screen.
	PlatformName string
	// Verifier, when set, adds a PKCE S256 challenge (RFC 7636). USPS's PKCE
	// support is not confirmed; sending it is harmless where unsupported.
	// Create one with oauth2.GenerateVerifier.
	Verifier string
}

// minStateLength guards against guessable states: 22 base64url characters
// carry 128 bits.
const minStateLength = 22

// COPURL returns the URL that starts a customer's authorization on USPS's
// Customer Onboarding Platform:
// cop-navigator?wf=apis_merchant_user&client_id=…&state=…&redirect_uri=…&platform=…&reauth=true.
func (c *Client) COPURL(r COPRequest) (string, error) {
	if c.creds.ClientID == "" {
		return "", errNoCredentials
	}
	if len(r.State) < minStateLength {
		return "", fmt.Errorf("uspsbiz: COPURL: state must be at least %d characters", minStateLength)
	}
	if err := checkRedirectURI(r.RedirectURI); err != nil {
		return "", fmt.Errorf("uspsbiz: COPURL: %w", err)
	}
	if r.Verifier != "" && (len(r.Verifier) < 43 || len(r.Verifier) > 128) {
		return "", errors.New("uspsbiz: COPURL: PKCE verifier must be 43 to 128 characters")
	}
	q := url.Values{}
	q.Set("wf", "apis_merchant_user")
	q.Set("client_id", c.creds.ClientID)
	q.Set("state", r.State)
	q.Set("redirect_uri", r.RedirectURI)
	if r.PlatformName != "" {
		q.Set("platform", r.PlatformName)
	}
	q.Set("reauth", "true")
	if r.Verifier != "" {
		q.Set("code_challenge", oauth2.S256ChallengeFromVerifier(r.Verifier))
		q.Set("code_challenge_method", "S256")
	}
	u := *c.copURL
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func checkRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" {
		return errors.New("redirect URI must be an absolute URL without fragment")
	}
	if u.Scheme != "https" && !isLoopback(u.Hostname()) {
		return errors.New("redirect URI must use https (http only on loopback)")
	}
	return nil
}

// isLoopback reports a loopback host: "localhost" or a loopback IP
// literal ("127.evil.example" is not one).
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *Client) codeConfig(redirectURI string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     c.creds.ClientID,
		ClientSecret: c.creds.ClientSecret.Reveal(),
		Endpoint:     c.endpoint(),
		RedirectURL:  redirectURI,
	}
}

// Exchange trades the authorization code from the COP redirect for the
// customer's ("merchant") tokens. redirectURI and verifier must be the ones
// given to COPURL. The request is sent at most once: codes are single-use.
func (c *Client) Exchange(ctx context.Context, code, redirectURI, verifier string) (*Token, error) {
	if c.creds.ClientID == "" {
		return nil, errNoCredentials
	}
	if code == "" {
		return nil, errors.New("uspsbiz: Exchange: empty authorization code")
	}
	if err := c.quotas.take(ctx, APIOAuth); err != nil {
		return nil, err
	}
	var opts []oauth2.AuthCodeOption
	if verifier != "" {
		opts = append(opts, oauth2.VerifierOption(verifier))
	}
	t, err := c.codeConfig(redirectURI).Exchange(c.tokenCtx(ctx, GrantAuthorizationCode), code, opts...)
	if err != nil {
		return nil, wrapTokenError("exchange", err)
	}
	tok, err := tokenFromOAuth2(t, c.now())
	if err != nil {
		return nil, &TokenResponseError{Op: "exchange", Err: err, CodeSpent: true}
	}
	if tok.RefreshToken == "" {
		return nil, &TokenResponseError{Op: "exchange", Err: errors.New("no refresh_token in the answer"), CodeSpent: true}
	}
	return tok, nil
}

// Refresh redeems a refresh token. USPS may rotate it: the returned Token's
// RefreshToken is then new and the old one dead, so persist the result
// before using it (linking's Linker.TokenSource does, under a lock shared by
// every process). When USPS sends no new refresh token the old one is kept.
func (c *Client) Refresh(ctx context.Context, refreshToken Secret) (*Token, error) {
	if c.creds.ClientID == "" {
		return nil, errNoCredentials
	}
	if refreshToken == "" {
		return nil, fmt.Errorf("uspsbiz: refresh: %w: no refresh token", ErrReauthorizationRequired)
	}
	if err := c.quotas.take(ctx, APIOAuth); err != nil {
		return nil, err
	}
	// An already expired token forces x/oauth2 to refresh exactly once.
	stale := &oauth2.Token{RefreshToken: refreshToken.Reveal(), Expiry: time.Unix(1, 0)}
	t, err := c.codeConfig("").TokenSource(c.tokenCtx(ctx, GrantRefreshToken), stale).Token()
	if err != nil {
		return nil, wrapTokenError("refresh", err)
	}
	tok, err := tokenFromOAuth2(t, c.now())
	if err != nil {
		return nil, &TokenResponseError{Op: "refresh", Err: err}
	}
	return tok, nil
}

// Revoke revokes a customer's refresh token (RFC 7009, token_type_hint
// refresh_token) with the platform's credentials in HTTP Basic auth: this
// ends the customer's grant. Their access tokens lapse within 8 hours.
func (c *Client) Revoke(ctx context.Context, refreshToken Secret) error {
	if c.creds.ClientID == "" {
		return errNoCredentials
	}
	if refreshToken == "" {
		return errors.New("uspsbiz: revoke: empty token")
	}
	if err := c.quotas.take(ctx, APIOAuth); err != nil {
		return err
	}
	form := url.Values{"token": {refreshToken.Reveal()}, "token_type_hint": {"refresh_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL.String()+revokePath, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("uspsbiz: revoke: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", c.userAgent)
	req.SetBasicAuth(url.QueryEscape(c.creds.ClientID), url.QueryEscape(c.creds.ClientSecret.Reveal()))
	res, err := c.doer.Do(c.observed(ctx, APIOAuth, GrantRevoke), req, httpx.Token, revokePath, nil)
	if err != nil {
		return fmt.Errorf("uspsbiz: revoke: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return newAPIError(res.Response, http.MethodPost, revokePath, res.Attempts, c.now())
	}
	return nil
}
