package uspsbiztest

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"html"
	"html/template"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// BusinessAccount is a USPS Business Account that can sign in to the COP.
type BusinessAccount struct {
	Username string
	Password string
	MFACode  string // the one-time code the fake's MFA step accepts (default "123456")
	CRID     string
	MIDs     []string // outbound ("Master") MIDs enrolled in USPS Ship
	// ManifestMIDs are label/manifest MIDs; a MID in either list is enrolled.
	ManifestMIDs []string
	// ReturnsMIDs are MIDs enrolled in USPS Ship Returns: a
	// RETURN_LABEL_OWNER's MID must be one of them. Left empty, the
	// outbound and manifest MIDs serve returns too.
	ReturnsMIDs []string
	// EPAs are the Enterprise Payment Accounts of this business account.
	EPAs []EPA
}

// addBusinessAccount seeds (or replaces, EPAs and all) a business account.
func (s *Server) addBusinessAccount(a BusinessAccount) {
	if a.MFACode == "" {
		a.MFACode = "123456"
	}
	a.MIDs = slices.Clone(a.MIDs)
	a.ManifestMIDs = slices.Clone(a.ManifestMIDs)
	a.ReturnsMIDs = slices.Clone(a.ReturnsMIDs)
	a.EPAs = slices.Clone(a.EPAs)
	s.mu.Lock()
	defer s.mu.Unlock()
	// A replaced account takes its old EPAs with it.
	for number, owner := range s.res.epaOwner {
		if owner == a.Username {
			delete(s.res.epas, number)
			delete(s.res.epaOwner, number)
		}
	}
	s.accounts[a.Username] = &a
	for _, e := range a.EPAs {
		s.res.addEPA(a.Username, e)
	}
}

// copFlow is one browser's walk through the COP pages.
type copFlow struct {
	app         *App
	state       string
	redirectURI string
	challenge   string
	method      string
	username    string // set after sign-in
	mfaDone     bool
	code        string // set after authorize
}

const flowCookie = "cop_flow"

var copPage = template.Must(template.New("cop").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} | USPS (fake)</title>
<style>
body{font-family:system-ui,sans-serif;background:#f4f4f7;margin:0}
header{background:#333366;color:#fff;padding:12px 24px;font-weight:600}
main{max-width:480px;margin:40px auto;background:#fff;padding:24px 32px;border-radius:6px;box-shadow:0 1px 4px #0002}
label{display:block;margin:12px 0 4px}input[type=text],input[type=password]{width:100%;padding:8px;box-sizing:border-box}
button,.button{background:#333366;color:#fff;border:0;padding:10px 18px;border-radius:4px;margin-top:16px;font-size:16px;text-decoration:none;display:inline-block}
.error{color:#b00020}.note{color:#555;font-size:13px}
</style></head><body><header>USPS Customer Onboarding Platform <span class="note">(nsalink fake)</span></header><main>
<h1>{{.Title}}</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
{{if eq .Step "signin"}}
<p>Sign in with your USPS Business Account to continue to {{.Platform}}.</p>
<form method="post" action="/cop/signin">
<label for="username">Username</label><input type="text" id="username" name="username" autocomplete="username">
<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password">
<button type="submit" id="signin">Sign In</button></form>
{{else if eq .Step "mfa"}}
<p>Enter the verification code we sent to your phone.</p>
<form method="post" action="/cop/mfa">
<label for="code">Verification code</label><input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code">
<button type="submit" id="verify">Verify</button></form>
{{else if eq .Step "grant"}}
<p>{{.Platform}} is requesting access to your USPS business information: payment accounts, CRIDs, MIDs, contract prices and tracking.</p>
<form method="post" action="/cop/authorize">
<label><input type="checkbox" id="agree" name="agree" value="yes"> I agree to grant {{.Platform}} access to my USPS business account.</label>
<button type="submit" id="authorize" name="decision" value="authorize">Authorize and Continue</button>
<button type="submit" id="deny" name="decision" value="deny" style="background:#777">Cancel</button></form>
{{else if eq .Step "success"}}
<p>Your USPS business account is now connected to {{.Platform}}.</p>
<a class="button" id="go-to-platform" href="{{.Next}}">Go to {{.Platform}}</a>
{{end}}
</main></body></html>`))

type copView struct {
	Title, Step, Platform, Error string
	Next                         template.URL
}

func renderCOP(w http.ResponseWriter, status int, v copView) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_ = copPage.Execute(w, v)
}

func (s *Server) handleCOPStart(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	app := s.apps[q.Get("client_id")]
	s.mu.Unlock()
	// Like any authorization server, never redirect to an unregistered URI:
	// show an error page instead.
	switch {
	case q.Get("wf") != "apis_merchant_user":
		renderCOP(w, http.StatusBadRequest, copView{Title: "Something went wrong", Error: "Unknown workflow."})
		return
	case app == nil:
		renderCOP(w, http.StatusBadRequest, copView{Title: "Something went wrong", Error: "Unknown application."})
		return
	case !slices.Contains(app.RedirectURIs, q.Get("redirect_uri")):
		renderCOP(w, http.StatusBadRequest, copView{Title: "Something went wrong", Error: "The redirect URI is not registered for this application."})
		return
	case q.Get("state") == "":
		renderCOP(w, http.StatusBadRequest, copView{Title: "Something went wrong", Error: "Missing state."})
		return
	case q.Get("code_challenge") != "" && q.Get("code_challenge_method") != "S256":
		renderCOP(w, http.StatusBadRequest, copView{Title: "Something went wrong", Error: "Only S256 code challenges are accepted."})
		return
	}
	f := &copFlow{app: app, state: q.Get("state"), redirectURI: q.Get("redirect_uri"), challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method")}
	id := randomHex(16)
	s.mu.Lock()
	s.flows[id] = f
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	renderCOP(w, http.StatusOK, copView{Title: "Sign In", Step: "signin", Platform: platformName(f, q.Get("platform"))})
}

func platformName(f *copFlow, fromURL string) string {
	if f.app.Name != "" {
		return f.app.Name
	}
	if fromURL != "" {
		return fromURL
	}
	return f.app.ClientID
}

func (s *Server) flow(r *http.Request) *copFlow {
	c, err := r.Cookie(flowCookie)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flows[c.Value]
}

func (s *Server) handleCOPSignIn(w http.ResponseWriter, r *http.Request) {
	f := s.flow(r)
	if f == nil {
		renderCOP(w, http.StatusBadRequest, copView{Title: "Session expired", Error: "Start again from your shipping platform."})
		return
	}
	user, pass := r.PostFormValue("username"), r.PostFormValue("password")
	s.mu.Lock()
	acct := s.accounts[user]
	s.mu.Unlock()
	if acct == nil || subtle.ConstantTimeCompare([]byte(acct.Password), []byte(pass)) != 1 {
		renderCOP(w, http.StatusUnauthorized, copView{Title: "Sign In", Step: "signin", Platform: platformName(f, ""), Error: "The username or password is incorrect."})
		return
	}
	s.mu.Lock()
	f.username, f.mfaDone = user, false
	s.mu.Unlock()
	renderCOP(w, http.StatusOK, copView{Title: "Verify your identity", Step: "mfa", Platform: platformName(f, "")})
}

func (s *Server) handleCOPMFA(w http.ResponseWriter, r *http.Request) {
	f := s.flow(r)
	s.mu.Lock()
	var acct *BusinessAccount
	if f != nil {
		acct = s.accounts[f.username]
	}
	s.mu.Unlock()
	if f == nil || acct == nil {
		renderCOP(w, http.StatusBadRequest, copView{Title: "Session expired", Error: "Start again from your shipping platform."})
		return
	}
	if subtle.ConstantTimeCompare([]byte(acct.MFACode), []byte(r.PostFormValue("code"))) != 1 {
		renderCOP(w, http.StatusUnauthorized, copView{Title: "Verify your identity", Step: "mfa", Platform: platformName(f, ""), Error: "That code is not valid."})
		return
	}
	s.mu.Lock()
	f.mfaDone = true
	s.mu.Unlock()
	renderCOP(w, http.StatusOK, copView{Title: "Grant " + platformName(f, "") + " Access", Step: "grant", Platform: platformName(f, "")})
}

func (s *Server) handleCOPAuthorize(w http.ResponseWriter, r *http.Request) {
	f := s.flow(r)
	s.mu.Lock()
	ready := f != nil && f.username != "" && f.mfaDone
	s.mu.Unlock()
	if !ready {
		renderCOP(w, http.StatusBadRequest, copView{Title: "Session expired", Error: "Sign in and verify first."})
		return
	}
	name := platformName(f, "")
	if r.PostFormValue("decision") == "deny" {
		http.Redirect(w, r, withParams(f.redirectURI, url.Values{"error": {"access_denied"}, "state": {f.state}}), http.StatusFound)
		return
	}
	if r.PostFormValue("agree") != "yes" {
		renderCOP(w, http.StatusBadRequest, copView{Title: "Grant " + name + " Access", Step: "grant", Platform: name, Error: "Check the agreement box to continue."})
		return
	}
	code := "code-" + randomHex(20)
	s.mu.Lock()
	s.codes[code] = &authCode{
		clientID: f.app.ClientID, redirectURI: f.redirectURI, username: f.username,
		challenge: f.challenge, method: f.method, expiry: s.nowLocked().Add(codeLifetime),
		family: randomHex(8),
	}
	f.code = code
	s.mu.Unlock()
	http.Redirect(w, r, "/cop/success", http.StatusSeeOther)
}

func (s *Server) handleCOPSuccess(w http.ResponseWriter, r *http.Request) {
	f := s.flow(r)
	if f == nil || f.code == "" {
		renderCOP(w, http.StatusBadRequest, copView{Title: "Session expired", Error: "Start again from your shipping platform."})
		return
	}
	next := withParams(f.redirectURI, url.Values{"code": {f.code}, "state": {f.state}})
	renderCOP(w, http.StatusOK, copView{Title: "Successful Integration", Step: "success", Platform: platformName(f, ""), Next: template.URL(next)})
}

func withParams(base string, v url.Values) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	q := u.Query()
	for k, vs := range v {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Consent is how a customer answers the COP pages.
type Consent struct {
	Username, Password, MFACode string
	// Deny clicks Cancel instead of "Authorize and Continue".
	Deny bool
}

var goToHref = regexp.MustCompile(`id="go-to-platform" href="([^"]+)"`)

// Authorize walks the COP pages over HTTP as a customer's browser would
// (sign in, MFA, agreement box, "Authorize and Continue", "Go to …") and
// returns the redirect URL the platform's callback receives, with code and
// state (or error=access_denied). It does not request the redirect URL.
func (s *Server) Authorize(copURL string, c Consent) (*url.URL, error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), s.URL) {
			return http.ErrUseLastResponse // stop at the platform's redirect URI
		}
		return nil
	}}
	steps := []struct {
		method, path string
		form         url.Values
	}{
		{"GET", copURL, nil},
		{"POST", s.URL + "/cop/signin", url.Values{"username": {c.Username}, "password": {c.Password}}},
		{"POST", s.URL + "/cop/mfa", url.Values{"code": {c.MFACode}}},
		{"POST", s.URL + "/cop/authorize", url.Values{"agree": {"yes"}, "decision": {decision(c.Deny)}}},
	}
	var last *http.Response
	var body string
	for _, st := range steps {
		var err error
		if st.form == nil {
			last, err = hc.Get(st.path)
		} else {
			last, err = hc.PostForm(st.path, st.form)
		}
		if err != nil {
			return nil, err
		}
		b, _ := io.ReadAll(last.Body)
		last.Body.Close()
		body = string(b)
		if last.StatusCode >= 400 {
			return nil, fmt.Errorf("uspsbiztest: COP %s: %d: %s", st.path, last.StatusCode, pageError(body))
		}
	}
	if last.StatusCode == http.StatusFound { // denied: redirected straight back
		return last.Request.URL.Parse(last.Header.Get("Location"))
	}
	m := goToHref.FindStringSubmatch(body)
	if m == nil {
		return nil, errors.New(`uspsbiztest: no "Go to" link on the success page`)
	}
	return url.Parse(html.UnescapeString(m[1]))
}

func decision(deny bool) string {
	if deny {
		return "deny"
	}
	return "authorize"
}

var errorPara = regexp.MustCompile(`<p class="error" role="alert">([^<]*)</p>`)

func pageError(body string) string {
	if m := errorPara.FindStringSubmatch(body); m != nil {
		return html.UnescapeString(m[1])
	}
	return "unexpected page"
}
