package uspsbiztest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Token lifetimes USPS documents.
const (
	accessTokenLifetime  = 8 * time.Hour
	refreshTokenLifetime = 7 * 24 * time.Hour
	codeLifetime         = 10 * time.Minute
)

// App is a platform app registered with USPS.
type App struct {
	ClientID     string
	ClientSecret string
	Name         string   // shown on the COP's "Grant <Name> Access" screen
	RedirectURIs []string // matched exactly
	Scopes       []string // granted to its tokens (default: all)
	CRID         string   // the platform's own CRID (for the PLATFORM role)
}

// addApp registers (or replaces) a platform app.
func (s *Server) addApp(a App) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(a.Scopes) == 0 {
		a.Scopes = []string{"payments", "prices", "tracking", "labels", "addresses", "shipments"}
	}
	a.RedirectURIs = slices.Clone(a.RedirectURIs)
	s.apps[a.ClientID] = &a
}

// grant is what a bearer token stands for.
type grant struct {
	ClientID string
	Username string // the business account that authorized; empty for a platform token
	Scopes   []string
	Expiry   time.Time
	revoked  bool
	family   string
}

type refreshGrant struct {
	grant
	used  bool
	count int
}

type authCode struct {
	clientID, redirectURI, username string
	challenge, method               string
	expiry                          time.Time
	used                            bool
	family                          string
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	form, ok := readTokenBody(r)
	if !ok {
		oauthError(w, http.StatusBadRequest, "invalid_request", "body must be form encoded or JSON")
		return
	}
	clientID, secret := form.Get("client_id"), form.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		clientID, _ = url.QueryUnescape(u)
		secret, _ = url.QueryUnescape(p)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	app := s.apps[clientID]
	if app == nil || subtle.ConstantTimeCompare([]byte(app.ClientSecret), []byte(secret)) != 1 {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	now := s.nowLocked()
	switch form.Get("grant_type") {
	case "client_credentials":
		scopes := app.Scopes
		if req := strings.Fields(form.Get("scope")); len(req) > 0 {
			scopes = intersect(app.Scopes, req)
		}
		g := &grant{ClientID: clientID, Scopes: scopes, Expiry: now.Add(s.accessTTL)}
		at := "platform-" + randomHex(24)
		s.access[at] = g
		s.writeToken(w, app, at, "", g, 0, now)
	case "authorization_code":
		c := s.codes[form.Get("code")]
		switch {
		case c == nil || c.clientID != clientID:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "unknown authorization code")
			return
		case c.used:
			// RFC 6749 §4.1.2: a reused code revokes what it issued.
			s.revokeFamily(c.family)
			oauthError(w, http.StatusBadRequest, "invalid_grant", "authorization code already used")
			return
		case !now.Before(c.expiry):
			oauthError(w, http.StatusBadRequest, "invalid_grant", "authorization code expired")
			return
		case c.redirectURI != form.Get("redirect_uri"):
			oauthError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri does not match")
			return
		case c.challenge != "" && !pkceOK(c.challenge, form.Get("code_verifier")):
			oauthError(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
			return
		}
		c.used = true
		s.issueMerchant(w, app, c.username, c.family, 0, now)
	case "refresh_token":
		rt := form.Get("refresh_token")
		g := s.refresh[rt]
		switch {
		case g == nil || g.ClientID != clientID || g.revoked:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "refresh token is invalid")
			return
		case g.used:
			s.revokeFamily(g.family)
			oauthError(w, http.StatusBadRequest, "invalid_grant", "refresh token reuse detected; grant revoked")
			return
		case !now.Before(g.Expiry):
			oauthError(w, http.StatusBadRequest, "invalid_grant", "refresh token expired")
			return
		}
		if s.rotate {
			g.used = true
			s.issueMerchant(w, app, g.Username, g.family, g.count+1, now)
			return
		}
		ag := &grant{ClientID: clientID, Username: g.Username, Scopes: g.Scopes, Expiry: now.Add(s.accessTTL), family: g.family}
		at := "merchant-" + randomHex(24)
		s.access[at] = ag
		g.count++
		s.writeToken(w, app, at, rt, ag, g.count, now)
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type not supported")
	}
}

func (s *Server) issueMerchant(w http.ResponseWriter, app *App, username, family string, count int, now time.Time) {
	g := &grant{ClientID: app.ClientID, Username: username, Scopes: app.Scopes, Expiry: now.Add(s.accessTTL), family: family}
	at, rt := "merchant-"+randomHex(24), "refresh-"+randomHex(24)
	s.access[at] = g
	s.refresh[rt] = &refreshGrant{grant: grant{ClientID: app.ClientID, Username: username, Scopes: app.Scopes, Expiry: now.Add(refreshTokenLifetime), family: family}, count: count}
	s.writeToken(w, app, at, rt, g, count, now)
}

func (s *Server) revokeFamily(family string) {
	if family == "" {
		return
	}
	for _, g := range s.access {
		if g.family == family {
			g.revoked = true
		}
	}
	for _, g := range s.refresh {
		if g.family == family {
			g.revoked = true
		}
	}
}

func (s *Server) writeToken(w http.ResponseWriter, app *App, at, rt string, g *grant, count int, now time.Time) {
	num := func(n int64) any {
		if s.strNums {
			return strconv.FormatInt(n, 10)
		}
		return n
	}
	body := map[string]any{
		"access_token":     at,
		"token_type":       "Bearer",
		"issued_at":        num(now.UnixMilli()),
		"expires_in":       num(int64(s.accessTTL/time.Second) - 1),
		"status":           "approved",
		"scope":            strings.Join(g.Scopes, " "),
		"issuer":           "https://keyc.usps.com/realms/USPS",
		"client_id":        app.ClientID,
		"application_name": app.Name,
		"api_products":     "[Public Access I]",
	}
	if rt != "" {
		body["refresh_token"] = rt
		body["refresh_token_issued_at"] = num(now.UnixMilli())
		body["refresh_token_status"] = "approved"
		body["refresh_token_expires_in"] = num(int64(refreshTokenLifetime/time.Second) - 1)
		body["refresh_count"] = num(int64(count))
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	u, p, ok := r.BasicAuth()
	if ok {
		u, _ = url.QueryUnescape(u)
		p, _ = url.QueryUnescape(p)
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	app := s.apps[u]
	if !ok || app == nil || subtle.ConstantTimeCompare([]byte(app.ClientSecret), []byte(p)) != 1 {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	tok := r.PostForm.Get("token")
	if tok == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "token is required")
		return
	}
	// RFC 7009: unknown tokens are not an error. Revoking a refresh token
	// ends its whole grant.
	if g := s.refresh[tok]; g != nil && g.ClientID == u {
		s.revokeFamily(g.family)
		g.revoked = true
	}
	if g := s.access[tok]; g != nil && g.ClientID == u {
		g.revoked = true
	}
	w.WriteHeader(http.StatusOK)
}

// RevokeAll revokes every token issued to username, as a USPS password
// reset does.
func (s *Server) RevokeAll(username string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.access {
		if g.Username == username {
			g.revoked = true
		}
	}
	for _, g := range s.refresh {
		if g.Username == username {
			g.revoked = true
		}
	}
}

// authenticate checks the request's bearer token for scope. On failure it
// writes USPS's 401/403 and returns nil. Resource handlers call it first.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, scope string) *grant {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	g := s.access[tok]
	now := s.nowLocked()
	var cp grant
	if g != nil {
		cp = *g
	}
	s.mu.Unlock()
	switch {
	case !ok || g == nil || g.revoked || !now.Before(g.Expiry):
		writeUSPSError(w, http.StatusUnauthorized, apiVersionOf(r.URL.Path), "The client application identifier is invalid.")
		return nil
	case scope != "" && !slices.Contains(g.Scopes, scope):
		writeUSPSError(w, http.StatusForbidden, apiVersionOf(r.URL.Path), "Access to this API is not granted to the application.")
		return nil
	}
	cp.Scopes = slices.Clone(cp.Scopes)
	return &cp
}

func pkceOK(challenge, verifier string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

// readTokenBody accepts a form or a JSON body; USPS's examples use both.
func readTokenBody(r *http.Request) (url.Values, bool) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/json" {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			return nil, false
		}
		v := url.Values{}
		for k, x := range m {
			switch x := x.(type) {
			case string:
				v.Set(k, x)
			case float64:
				v.Set(k, strconv.FormatFloat(x, 'f', -1, 64))
			}
		}
		return v, true
	}
	if err := r.ParseForm(); err != nil {
		return nil, false
	}
	return r.PostForm, true
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func intersect(have, want []string) []string {
	var out []string
	for _, x := range want {
		if slices.Contains(have, x) {
			out = append(out, x)
		}
	}
	return out
}
