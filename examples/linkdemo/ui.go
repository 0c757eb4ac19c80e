package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/usps"
	"github.com/nsalink/nsalink/uspsbiz/uspsbiztest"
)

// The one platform account of the demo host.
const (
	demoAccountID = "acme-1001"
	demoEmail     = "pat@acme.example"
	demoPassword  = "acme-demo"
)

const sessionCookie = "acme_session"

//go:embed templates/*.html
var templateFS embed.FS

// app is the demo host: a tiny shipping platform's web UI.
type app struct {
	nsa    *nsa
	usps   *fakeUSPS // only for the stand-in USPS Business Portal pages
	rates  *rateBook
	pages  map[string]*template.Template
	logger *slog.Logger

	mu       sync.Mutex
	sessions map[string]*session // by random id
}

type session struct {
	id, accountID, email string
	popupDismissed       bool
}

func newApp(n *nsa, usps *fakeUSPS, rates *rateBook, logger *slog.Logger) (*app, error) {
	a := &app{nsa: n, usps: usps, rates: rates, logger: logger, pages: map[string]*template.Template{}, sessions: map[string]*session{}}
	for _, name := range []string{"signin", "dashboard", "settings", "portal"} {
		t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		a.pages[name] = t
	}
	return a, nil
}

// handler serves the host. Every POST, ours and nsalink's, is checked
// against cross-site requests.
func (a *app) handler() (http.Handler, error) {
	mux := http.NewServeMux()
	if err := a.nsa.mount(mux, a.identify); err != nil {
		return nil, err
	}
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /signin", a.signinPage)
	mux.HandleFunc("POST /signin", a.signin)
	mux.HandleFunc("POST /signout", a.signedIn(a.signout))
	mux.HandleFunc("GET /dashboard", a.signedIn(a.dashboard))
	mux.HandleFunc("POST /dashboard/dismiss-popup", a.signedIn(a.dismissPopup))
	mux.HandleFunc("GET /settings/usps", a.signedIn(a.settings))
	mux.HandleFunc("POST /settings/usps/credentials", a.signedIn(a.credentials))
	mux.HandleFunc("POST /settings/usps/unlink", a.signedIn(a.unlink))
	mux.HandleFunc("GET /demo/usps-portal", a.signedIn(a.portal))
	mux.HandleFunc("POST /demo/usps-portal/verify", a.signedIn(a.verifyMicroDebits))
	mux.HandleFunc("POST /demo/usps-portal/contract", a.signedIn(a.approveContract))
	a.labelRoutes(mux) // labels.go
	return http.NewCrossOriginProtection().Handler(securityHeaders(a.usps.URL, mux)), nil
}

// securityHeaders keeps pages from being framed or loading anything
// foreign; forms may go to the host and, through /usps/start's redirect,
// to USPS.
func securityHeaders(uspsOrigin string, h http.Handler) http.Handler {
	csp := "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self' " + uspsOrigin + "; frame-ancestors 'none'; base-uri 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// Sessions.

func (a *app) session(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sessions[c.Value]
}

// identify tells nsalink's handler who is signed in, in which browser session.
func (a *app) identify(r *http.Request) (account, sessionID string, ok bool) {
	s := a.session(r)
	if s == nil {
		return "", "", false
	}
	return s.accountID, s.id, true
}

func (a *app) signedIn(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := a.session(r)
		if s == nil {
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return
		}
		h(w, r, s)
	}
}

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	if a.session(r) == nil {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
}

func (a *app) signinPage(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, http.StatusOK, "signin", &pageData{Title: "Sign in", Email: demoEmail})
}

func (a *app) signin(w http.ResponseWriter, r *http.Request) {
	email, password := strings.TrimSpace(r.PostFormValue("email")), r.PostFormValue("password")
	if email != demoEmail || password != demoPassword {
		a.render(w, r, http.StatusUnauthorized, "signin", &pageData{Title: "Sign in", Email: email,
			Error: "That email and password do not match. The demo account is " + demoEmail + " / " + demoPassword + "."})
		return
	}
	s := &session{id: rand.Text(), accountID: demoAccountID, email: demoEmail}
	a.mu.Lock()
	a.sessions[s.id] = s
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
}

func (a *app) signout(w http.ResponseWriter, r *http.Request, s *session) {
	a.mu.Lock()
	delete(a.sessions, s.id)
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1})
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// Pages.

type pageData struct {
	Title    string
	Platform string
	User     string // the signed-in user's email
	Email    string // the sign-in form's value
	View     linking.StatusView
	Banner   *linking.Message // the banner this page shows, if any (see statusPage)
	Popup    string           // the connection pop-up's text, while it is to be shown
	Notice   string           // a one-off success message
	Error    string           // a one-off error message
	Quote    *quote
	Form     credentialsForm
	ShowForm bool
	// ShowLink offers "Link your business account" (LinkLabel): only while
	// there is no working grant, so that an active customer is never asked
	// to link. ShowUnlink offers Unlink once there is one.
	ShowLink, ShowUnlink bool
	LinkLabel            string
	Demo                 demoHints
	EPAs                 []portalEPA
}

// StateText says where the account's link stands.
func (d *pageData) StateText() string {
	switch d.View.State {
	case linking.StateAuthorizing:
		return "Waiting for you to finish at USPS"
	case linking.StateAwaitingCredentials:
		return "Connected: details needed"
	case linking.StateApprovalPending:
		return "Waiting for USPS to approve"
	case linking.StateActive:
		return "Active: NSA rates apply"
	case linking.StateActionRequired:
		return "Action required"
	}
	return "Not linked"
}

// Asks returns the credential field name if the payment model asks for it
// (see linking.StatusView.Fields), or nil: the form shows only those.
func (d *pageData) Asks(name string) *linking.FieldView {
	for i := range d.View.Fields {
		if d.View.Fields[i].Name == name {
			return &d.View.Fields[i]
		}
	}
	return nil
}

// credentialsForm is the CRID/MID/EPS form as typed; the EPS number is
// never echoed back.
type credentialsForm struct {
	CRID, MID, ManifestMID  string
	ReturnsMID, NSAContract string
	Problems                map[string]string // by field: crid, mid, manifest_mid, eps, returns_mid, nsa_contract
}

// demoHints point at the demo's stand-ins for USPS-side steps.
type demoHints struct {
	VerifyMicroDebits, ApproveContract bool
}

func (a *app) render(w http.ResponseWriter, r *http.Request, status int, name string, d *pageData) {
	d.Platform = platformName
	if s := a.session(r); s != nil {
		d.User = s.email
	}
	var buf bytes.Buffer
	if err := a.pages[name].ExecuteTemplate(&buf, "layout", d); err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

func (a *app) fail(w http.ResponseWriter, r *http.Request, err error) {
	a.logger.Error("linkdemo", slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	http.Error(w, "Something went wrong; try again.", http.StatusInternalServerError)
}

func (a *app) dashboard(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := a.statusPage(r.Context(), s, "Dashboard")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.mu.Lock()
	dismissed := s.popupDismissed
	a.mu.Unlock()
	if d.View.ShowPopup && !dismissed {
		d.Popup = d.View.Popup.Text
	}
	a.render(w, r, http.StatusOK, "dashboard", d)
}

func (a *app) dismissPopup(w http.ResponseWriter, r *http.Request, s *session) {
	a.mu.Lock()
	s.popupDismissed = true
	a.mu.Unlock()
	http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
}

// callbackErrors say what went wrong at USPS, by the fixed code nsalink's
// callback puts in ?link_error=. They are shown only while the account has
// no working grant: a callback replayed from the history after linking
// changes nothing, and "already used" above "linked" would only alarm.
var callbackErrors = map[string]string{
	"access_denied": "You cancelled at USPS, so nothing changed. Link your business account when you are ready.",
	"state_expired": "The USPS sign-in took too long. Please link your business account again.",
	"state_used":    "That USPS sign-in was already used. Please link your business account again.",
}

func (a *app) settings(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := a.settingsPage(r.Context(), s)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// The one-off messages of the redirects to this page are shown only
	// when they still hold for the link as it is now: a stale URL (a
	// bookmark, the back button) never contradicts the state.
	q := r.URL.Query()
	connected := isConnected(d.View.State, d.View.Reason)
	switch {
	case q.Get("linked") == "1" && d.View.State == linking.StateAwaitingCredentials:
		d.Notice = "Your USPS business account is connected."
	case q.Get("linked") == "1" && connected:
		d.Notice = "Your USPS business account is connected again."
	case q.Get("unlinked") == "1" && d.View.State == linking.StateUnlinked:
		d.Notice = "Your USPS business account is unlinked: labels are priced at commercial rates until you link it again."
	case q.Has("link_error") && !connected:
		d.Error = callbackErrors[q.Get("link_error")]
		if d.Error == "" {
			d.Error = "Linking did not complete. Please link your business account again."
		}
	}
	a.render(w, r, http.StatusOK, "settings", d)
}

// unlink revokes the platform's access at USPS and unlinks the account
// (nsalink's Linker.Unlink); credentials on file stay for a later relink.
func (a *app) unlink(w http.ResponseWriter, r *http.Request, s *session) {
	if err := a.nsa.unlink(r.Context(), s.accountID, "user"); err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/settings/usps?unlinked=1", http.StatusSeeOther)
}

// isConnected reports whether the customer's grant at USPS holds: linking
// again is then pointless, and unlinking is what they may want.
func isConnected(st linking.State, reason linking.Reason) bool {
	switch st {
	case linking.StateAwaitingCredentials, linking.StateApprovalPending, linking.StateActive:
		return true
	case linking.StateActionRequired:
		return reason != linking.ReasonTokenRevoked
	}
	return false
}

func (a *app) credentials(w http.ResponseWriter, r *http.Request, s *session) {
	in := linking.CredentialsInput{CRID: r.PostFormValue("crid"), MID: r.PostFormValue("mid"),
		ManifestMID: r.PostFormValue("manifest_mid"), EPS: r.PostFormValue("eps"),
		ReturnsMID: r.PostFormValue("returns_mid"), NSAContract: r.PostFormValue("nsa_contract")}
	st, problems, err := a.nsa.saveCredentials(r.Context(), s.accountID, in)
	status := http.StatusUnprocessableEntity
	var msg string
	switch {
	case errors.Is(err, linking.ErrNotLinked) || errors.Is(err, linking.ErrIllegalTransition):
		status, msg = http.StatusConflict, "Link your USPS business account first, then enter your CRID, MID and EPS number."
	case err != nil:
		a.fail(w, r, err)
		return
	case problems == nil && st.State == linking.StateApprovalPending && st.LastError != "" && st.Reason == linking.ReasonNone:
		// Saved; a USPS hiccup left the link pending for the reconciler.
		status, msg = http.StatusOK, "Saved. We could not finish checking with USPS and will try again automatically."
	case problems == nil:
		http.Redirect(w, r, "/settings/usps", http.StatusSeeOther)
		return
	}
	d, err := a.settingsPage(r.Context(), s)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	d.Error = msg
	d.Form = credentialsForm{CRID: in.CRID, MID: in.MID, ManifestMID: in.ManifestMID, ReturnsMID: in.ReturnsMID,
		NSAContract: in.NSAContract, Problems: problems}
	if problems != nil {
		d.Error = "Please correct the fields marked below; nothing was saved."
		d.ShowForm = true
	}
	a.render(w, r, status, "settings", d)
}

// statusPage fills what the dashboard and the settings page share.
func (a *app) statusPage(ctx context.Context, s *session, title string) (*pageData, error) {
	v, err := a.nsa.view(ctx, s.accountID)
	if err != nil {
		return nil, err
	}
	q, err := a.quote(ctx, s.accountID)
	if err != nil {
		return nil, err
	}
	connected := isConnected(v.State, v.Reason)
	d := &pageData{
		Title: title, View: v, Quote: q, Banner: v.Banner,
		Form:       credentialsForm{CRID: v.CRID, MID: v.MID, ManifestMID: v.ManifestMID, ReturnsMID: v.ReturnsMID, NSAContract: v.NSAContract},
		ShowForm:   slices.Contains([]linking.State{linking.StateAwaitingCredentials, linking.StateApprovalPending, linking.StateActive, linking.StateActionRequired}, v.State),
		ShowLink:   !connected,
		ShowUnlink: connected || v.State == linking.StateActionRequired,
		LinkLabel:  "Link your business account",
		Demo: demoHints{
			VerifyMicroDebits: v.Reason == linking.ReasonEPANotActive || v.Reason == linking.ReasonPaymentMethodNotActive,
			ApproveContract:   v.Reason == linking.ReasonContractNotEffective,
		},
	}
	if v.Reason == linking.ReasonTokenRevoked {
		d.LinkLabel = "Link your business account again"
	}
	return d, nil
}

// settingsPage is statusPage for the settings page, which shows what to
// fix in its own block: there View's banner (the same text) would repeat it.
func (a *app) settingsPage(ctx context.Context, s *session) (*pageData, error) {
	d, err := a.statusPage(ctx, s, "Connect USPS Business Account")
	if err == nil && d.View.Action != nil {
		d.Banner = nil
	}
	return d, err
}

// quote prices the sample label for the account (at its NSA rate only
// while its link is active) and at commercial prices.
type quote struct {
	Label, NSA, Commercial, Saving string
	// Loading: the link is active but its NSA table is still coming from
	// USPS (the page reloads itself).
	Loading bool
}

func (a *app) quote(ctx context.Context, account string) (*quote, error) {
	s := a.rates.sample
	s.Date = time.Now()
	q, err := a.nsa.quote(ctx, account, s)
	if err != nil {
		return nil, err
	}
	c, err := a.rates.commercialQuote()
	if err != nil {
		return nil, err
	}
	out := &quote{Label: sampleLabel, Commercial: "$" + c.Price.String()}
	if q.Source == nsarates.SourceContract {
		out.NSA, out.Saving = "$"+q.Price.String(), "$"+(c.Price-q.Price).String()
	}
	out.Loading = q.NotNSA == linking.NotNSATableNotLoaded || q.NotNSA == linking.NotNSATablePartial
	return out, nil
}

// The stand-in USPS Business Portal: what a customer does at USPS between
// steps (verifying ACH micro-debits) and what USPS does (approving the NSA
// contract), as demo controls.

type portalEPA struct {
	Number, State   string
	MicroDebits     string // for a pending ACH account
	PendingACH      bool
	ContractApplies bool
}

func (a *app) portal(w http.ResponseWriter, r *http.Request, _ *session) {
	d := &pageData{Title: "USPS Business Portal (demo stand-in)"}
	switch r.URL.Query().Get("done") {
	case "verified":
		d.Notice = "Micro-debits confirmed: the payment account is active at USPS. " + platformName + " checks again automatically; saving your CRID, MID and EPS number again checks at once."
	case "contract":
		d.Notice = "USPS approved the contract. " + platformName + " checks pending links every few seconds; the settings page shows the result."
	}
	a.renderPortal(w, r, http.StatusOK, d)
}

func (a *app) renderPortal(w http.ResponseWriter, r *http.Request, status int, d *pageData) {
	d.Title = "USPS Business Portal (demo stand-in)"
	for _, n := range demoEPAs {
		e, _ := a.usps.EPA(n)
		pe := portalEPA{Number: n, State: epaStateText(e.State), PendingACH: e.State == uspsbiztest.EPAPendingACH, ContractApplies: a.usps.hasContract(n)}
		if pe.PendingACH {
			pe.MicroDebits = cents(e.MicroDebits[0]) + " and " + cents(e.MicroDebits[1])
		}
		d.EPAs = append(d.EPAs, pe)
	}
	a.render(w, r, status, "portal", d)
}

func cents(c int) string { return "$" + usps.Cents(c).String() }

func (a *app) verifyMicroDebits(w http.ResponseWriter, r *http.Request, _ *session) {
	first, err1 := parseMicroDebit(r.PostFormValue("amount1"))
	second, err2 := parseMicroDebit(r.PostFormValue("amount2"))
	var msg string
	if err := errors.Join(err1, err2); err != nil {
		msg = "Enter both amounts in dollars, each under $1.00, like 0.32."
	} else if err := a.usps.VerifyMicroDebits(r.PostFormValue("epa"), first, second); errors.Is(err, uspsbiztest.ErrMicroDebitMismatch) {
		msg = "Those amounts do not match the two micro-debits. Check your bank statement and try again."
	} else if err != nil {
		msg = "This payment account is not waiting for micro-debit verification."
	} else {
		http.Redirect(w, r, "/demo/usps-portal?done=verified", http.StatusSeeOther)
		return
	}
	a.renderPortal(w, r, http.StatusUnprocessableEntity, &pageData{Error: msg})
}

// parseMicroDebit reads "0.32" or "$0.32" as 32 cents.
func parseMicroDebit(s string) (int, error) {
	c, err := usps.ParseCents(strings.TrimPrefix(strings.TrimSpace(s), "$"))
	if err == nil && (c < 1 || c > 99) {
		err = errors.New("micro-debit out of range")
	}
	return int(c), err
}

func (a *app) approveContract(w http.ResponseWriter, r *http.Request, _ *session) {
	epa := r.PostFormValue("epa")
	if !slices.Contains(demoEPAs, epa) {
		a.renderPortal(w, r, http.StatusUnprocessableEntity, &pageData{Error: "Choose one of the payment accounts listed."})
		return
	}
	if err := a.usps.makeContractEffective(epa); err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/demo/usps-portal?done=contract", http.StatusSeeOther)
}
