package linking

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// HandlerOptions configure Linker.Handler.
type HandlerOptions struct {
	// Identify returns the signed-in platform account and the browser
	// session's id for a request, or ok=false when nobody is signed in
	// (answered 401). Required.
	Identify func(r *http.Request) (accountID, sessionID string, ok bool)
	// ReturnTo is the host page the callback sends the browser back to, as
	// an absolute path ("/settings/usps"). Default "/". Only a path is
	// accepted (no scheme, host, "//" or backslash), so the callback is
	// never an open redirect.
	ReturnTo string
	// Guidance is the text served with the status (default DefaultGuidance()).
	Guidance *Guidance
}

// Handler returns the host-facing HTTP API of the flow, to mount under a
// prefix with http.StripPrefix:
//
//	GET  /status       the link status, banner, pop-up and guideline steps (JSON)
//	POST /start        redirects (303) to the USPS COP; JSON {"url"} if Accept is JSON
//	GET  /callback     the COP redirect target; then 303 to ReturnTo?linked=1
//	                   or ReturnTo?link_error=<code> (a CallbackError code,
//	                   or "internal_error")
//	POST /credentials  CRID, MID, manifest MID, EPS (form or JSON); 200 with
//	                   the status, or 422 with an error per field
//	POST /unlink       revokes and unlinks
//
// /status and /credentials speak JSON, for a host UI that calls them with
// fetch; a host rendering HTML forms calls Status, View and
// SubmitCredentials itself and mounts this Handler for start and callback
// only (as examples/linkdemo does). A request with no signed-in account
// (Identify's ok=false) gets a JSON 401, the callback included.
//
// POSTs are protected against cross-site requests (net/http's
// CrossOriginProtection: Sec-Fetch-Site and Origin checks). Every answer
// carries Cache-Control: no-store (they hold the account's CRID, MID and
// EPS last four); the callback also sends Referrer-Policy: no-referrer, and
// it takes GET only: a HEAD (a link prefetcher) spends neither the state
// nor the code.
func (l *Linker) Handler(opts HandlerOptions) (http.Handler, error) {
	if opts.Identify == nil {
		return nil, errors.New("linking: Handler: Identify is required")
	}
	if opts.ReturnTo == "" {
		opts.ReturnTo = "/"
	}
	if !safeReturnTo(opts.ReturnTo) {
		return nil, errors.New("linking: Handler: ReturnTo must be an absolute path on this host")
	}
	if opts.Guidance == nil {
		g := DefaultGuidance()
		opts.Guidance = &g
	}
	h := &handlers{l: l, opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", h.status)
	mux.HandleFunc("POST /start", h.start)
	mux.HandleFunc("GET /callback", h.callback)
	mux.HandleFunc("POST /credentials", h.credentials)
	mux.HandleFunc("POST /unlink", h.unlink)
	return http.NewCrossOriginProtection().Handler(mux), nil
}

// safeReturnTo accepts an absolute path on this host only. Browsers treat
// a backslash as a slash, so "/\\evil.example/" is scheme-relative to
// them; backslashes, control characters and spaces are refused outright.
func safeReturnTo(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
		return false
	}
	for _, r := range p {
		if r == '\\' || r <= ' ' || r == 0x7f {
			return false
		}
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil
}

type handlers struct {
	l    *Linker
	opts HandlerOptions
}

func (h *handlers) identify(w http.ResponseWriter, r *http.Request) (string, string, bool) {
	acct, sess, ok := h.opts.Identify(r)
	if !ok || acct == "" || sess == "" {
		writeJSONError(w, http.StatusUnauthorized, "not_signed_in", "Sign in first.")
		return "", "", false
	}
	return acct, sess, true
}

func (h *handlers) status(w http.ResponseWriter, r *http.Request) {
	acct, _, ok := h.identify(w, r)
	if !ok {
		return
	}
	st, err := h.l.Status(r.Context(), acct)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h.l.View(st, h.opts.Guidance))
}

func (h *handlers) start(w http.ResponseWriter, r *http.Request) {
	acct, sess, ok := h.identify(w, r)
	if !ok {
		return
	}
	u, err := h.l.Start(r.Context(), acct, sess)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]string{"url": u})
		return
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

func (h *handlers) callback(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	// The "GET /callback" pattern also matches HEAD, which must not spend
	// the state and the single-use code (link prefetchers send HEAD).
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeJSONError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Use GET.")
		return
	}
	acct, sess, ok := h.identify(w, r)
	if !ok {
		return
	}
	_, err := h.l.Callback(r.Context(), acct, sess, r.URL.Query())
	back := url.Values{}
	var ce *CallbackError
	switch {
	case err == nil:
		back.Set("linked", "1")
	case errors.As(err, &ce):
		back.Set("link_error", ce.Code) // a fixed word, never request input
	default:
		h.l.logger.LogAttrs(r.Context(), slog.LevelError, "callback failed", slog.String("account_id", acct), slog.String("error", err.Error()))
		back.Set("link_error", "internal_error")
	}
	http.Redirect(w, r, h.opts.ReturnTo+"?"+back.Encode(), http.StatusSeeOther)
}

func (h *handlers) credentials(w http.ResponseWriter, r *http.Request) {
	acct, _, ok := h.identify(w, r)
	if !ok {
		return
	}
	in, err := readCredentials(w, r)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "bad_request", "Send crid, mid, manifest_mid and eps (and returns_mid, nsa_contract, locations) as a form or JSON.")
		return
	}
	st, err := h.l.SubmitCredentials(r.Context(), acct, in)
	var ce *CredentialsError
	switch {
	case errors.As(err, &ce):
		fields := map[string]string{}
		for _, f := range ce.Fields {
			fields[f.Field] = f.Message
		}
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "invalid_credentials", "fields": fields})
		return
	case errors.Is(err, ErrIllegalTransition) || errors.Is(err, ErrNotLinked):
		writeJSONError(w, http.StatusConflict, "not_ready", "Link your USPS business account first.")
		return
	case err != nil:
		h.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h.l.View(st, h.opts.Guidance))
}

func (h *handlers) unlink(w http.ResponseWriter, r *http.Request) {
	acct, _, ok := h.identify(w, r)
	if !ok {
		return
	}
	if err := h.l.Unlink(r.Context(), acct, "user"); err != nil {
		h.internal(w, r, err)
		return
	}
	st, err := h.l.Status(r.Context(), acct)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h.l.View(st, h.opts.Guidance))
}

func (h *handlers) internal(w http.ResponseWriter, r *http.Request, err error) {
	h.l.logger.LogAttrs(r.Context(), slog.LevelError, "linking handler", slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	writeJSONError(w, http.StatusInternalServerError, "internal_error", "Something went wrong; try again.")
}

// readCredentials reads a form or a JSON body (at most 16 KiB).
func readCredentials(w http.ResponseWriter, r *http.Request) (CredentialsInput, error) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var in CredentialsInput
	if mt == "application/json" {
		var body struct {
			CRID        string `json:"crid"`
			MID         string `json:"mid"`
			ManifestMID string `json:"manifest_mid"`
			EPS         string `json:"eps"`
			ReturnsMID  string `json:"returns_mid"`
			NSAContract string `json:"nsa_contract"`
			Locations   []struct {
				Label       string `json:"label"`
				MID         string `json:"mid"`
				ManifestMID string `json:"manifest_mid"`
				EPS         string `json:"eps"`
			} `json:"locations"`
		}
		dec := json.NewDecoder(r.Body)
		if err := dec.Decode(&body); err != nil {
			return in, err
		}
		if _, err := dec.Token(); err != io.EOF {
			return in, errors.New("trailing data")
		}
		in = CredentialsInput{CRID: body.CRID, MID: body.MID, ManifestMID: body.ManifestMID, EPS: body.EPS,
			ReturnsMID: body.ReturnsMID, NSAContract: body.NSAContract}
		for _, loc := range body.Locations {
			in.Locations = append(in.Locations, LocationInput(loc))
		}
		return in, nil
	}
	if err := r.ParseForm(); err != nil {
		return in, err
	}
	f := r.PostForm
	in = CredentialsInput{CRID: f.Get("crid"), MID: f.Get("mid"), ManifestMID: f.Get("manifest_mid"), EPS: f.Get("eps"),
		ReturnsMID: f.Get("returns_mid"), NSAContract: f.Get("nsa_contract")}
	// Locations come as parallel lists: location_label, location_mid,
	// location_manifest_mid and location_eps, one value per location.
	labels := f["location_label"]
	if len(labels) > MaxLocations+1 {
		return in, errors.New("too many locations")
	}
	at := func(key string, i int) string {
		if v := f[key]; i < len(v) {
			return v[i]
		}
		return ""
	}
	for i, label := range labels {
		if strings.TrimSpace(label) == "" && at("location_mid", i) == "" && at("location_eps", i) == "" {
			continue // an empty row of the form
		}
		in.Locations = append(in.Locations, LocationInput{Label: label, MID: at("location_mid", i),
			ManifestMID: at("location_manifest_mid", i), EPS: at("location_eps", i)})
	}
	return in, nil
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	// Every answer is about one signed-in account (CRID, MID, EPS last 4):
	// no shared or browser cache may keep it.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error": code, "message": msg})
}

// StatusView is the JSON the status endpoint serves: everything a host's
// pop-up, banner and guidelines page need.
type StatusView struct {
	State         State      `json:"state"`
	Reason        Reason     `json:"reason,omitempty"`
	NSARatesApply bool       `json:"nsa_rates_apply"`
	ShowPopup     bool       `json:"show_popup"`
	Popup         *Message   `json:"popup,omitempty"` // the connection pop-up's text, when ShowPopup
	Banner        *Message   `json:"banner,omitempty"`
	Action        *Message   `json:"action,omitempty"`
	Pending       *Message   `json:"pending,omitempty"`
	Steps         []StepView `json:"steps"`
	CRID          string     `json:"crid,omitempty"`
	MID           string     `json:"mid,omitempty"`
	ManifestMID   string     `json:"manifest_mid,omitempty"`
	EPSLast4      string     `json:"eps_last4,omitempty"`
	// Fields are the credential fields to ask the customer for under the
	// Linker's payment model, in order: nothing the model does not use.
	Fields []FieldView `json:"fields"`
	// Locations are the labels of the link's further locations.
	Locations   []string `json:"locations,omitempty"`
	ReturnsMID  string   `json:"returns_mid,omitempty"`
	NSAContract string   `json:"nsa_contract,omitempty"`
}

// FieldView is one credential field of the form, with its help text.
type FieldView struct {
	Name     string  `json:"name"` // the form and JSON key: "crid", "eps", "returns_mid"…
	Required bool    `json:"required"`
	Help     Message `json:"help"`
}

// StepView is a guideline step with its progress for one link.
type StepView struct {
	Key     string    `json:"key"`
	Title   string    `json:"title"`
	Details []Message `json:"details,omitempty"`
	Done    bool      `json:"done"`
}

// View turns a Status into what a host shows, with g's texts (nil:
// DefaultGuidance()) and the platform's name filled in.
func (l *Linker) View(st Status, g *Guidance) StatusView {
	if g == nil {
		d := DefaultGuidance()
		g = &d
	}
	name := l.platformName
	if name == "" {
		name = "your shipping platform"
	}
	msg := func(m Message) *Message { return &Message{Key: m.Key, Text: g.render(m.Text, name)} }
	v := StatusView{
		State: st.State, Reason: st.Reason, NSARatesApply: st.NSARatesApply,
		CRID: st.CRID, MID: st.MID, ManifestMID: st.ManifestMID, EPSLast4: st.EPSLast4,
		Locations: st.Locations, ReturnsMID: st.ReturnsMID, NSAContract: st.NSAContract,
	}
	for _, f := range l.credentialFields() {
		v.Fields = append(v.Fields, FieldView{Name: f.name, Required: f.required, Help: *msg(g.Fields[f.help])})
	}
	switch st.State {
	case StateActive:
	case StateApprovalPending:
		v.Banner = msg(g.PendingBanner)
		if m, ok := g.Pending[st.Reason]; ok {
			v.Pending = msg(m)
		}
	case StateAwaitingCredentials:
		v.Banner = msg(g.CredentialsBanner)
		if g.CredentialsBanner.Text == "" { // a Guidance built before the field existed
			v.Banner = msg(g.Banner)
		}
	case StateActionRequired:
		v.Banner = msg(g.Banner)
		if m, ok := g.Actions[st.Reason]; ok {
			v.Action = msg(m)
			v.Banner = v.Action // what to fix, not "connect", once connected
		}
	default:
		v.Banner = msg(g.Banner)
		if st.State == StateUnlinked {
			v.ShowPopup, v.Popup = true, msg(g.Popup)
		}
	}
	for _, s := range g.Steps {
		sv := StepView{Key: s.Key, Title: g.render(s.Title, name), Done: s.Done != nil && s.Done(st.State, st.Reason)}
		details := s.Details
		if s.Key == "payment_account" && l.model.platformPays {
			// The customer's EPA is only the rate card: no payment method needed.
			details = []Message{g.Fields["payment_account.rate_card"]}
		}
		for _, d := range details {
			sv.Details = append(sv.Details, *msg(d))
		}
		v.Steps = append(v.Steps, sv)
	}
	return v
}

// credentialField is one field the credentials form asks for.
type credentialField struct {
	name     string
	required bool
	help     string // key in Guidance.Fields
}

// credentialFields are the fields the Linker's payment model needs, in
// form order.
func (l *Linker) credentialFields() []credentialField {
	eps := credentialField{fieldEPS, true, "eps.customer_pays"}
	if l.model.platformPays {
		eps.help = "eps.platform_pays"
	}
	out := []credentialField{
		{fieldCRID, true, fieldCRID}, {fieldMID, true, fieldMID}, {fieldManifestMID, false, fieldManifestMID}, eps,
	}
	if l.model.returns {
		out = append(out, credentialField{fieldReturnsMID, true, fieldReturnsMID})
	}
	return append(out, credentialField{fieldNSAContract, false, fieldNSAContract},
		credentialField{fieldLocations, false, fieldLocations})
}
