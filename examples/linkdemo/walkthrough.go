package main

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/nsalink/nsalink/linking"
)

// walkthrough drives the customer journey over HTTP, as a browser would (the
// fake USPS's COP pages included), and prints each step. It fails on the
// first page that does not show what the journey expects.
func walkthrough(ctx context.Context, d *demo, out io.Writer) error {
	st, err := d.nsa.linker.Status(ctx, demoAccountID)
	if err != nil {
		return err
	}
	if st.State != linking.StateUnlinked {
		return fmt.Errorf("%s already holds a link for the demo account (%s); the walkthrough needs a fresh database: omit -db or delete %[1]s*", d.DBPath, st.State)
	}
	w := newWalker(ctx, d, out)
	fmt.Fprintf(out, "Walkthrough against %s (fake USPS at %s)\n\n", d.URL, d.usps.URL)
	steps := []func() error{w.signIn, w.dashboard, w.guidelines, w.authorizeAtUSPS, w.badMID, w.achPending, w.approval, w.active, w.buyLabel}
	for _, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("walkthrough step %d: %w", w.n+1, err)
		}
	}
	fmt.Fprintln(out, "\nWalkthrough complete.")
	return nil
}

// newWalker is a browser stand-in: an HTTP client with its own cookies.
func newWalker(ctx context.Context, d *demo, out io.Writer) *walker {
	jar, _ := cookiejar.New(nil) // never fails without options
	return &walker{ctx: ctx, d: d, out: out, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

type walker struct {
	ctx context.Context
	d   *demo
	out io.Writer
	hc  *http.Client
	n   int // steps printed

	callbackURL string // USPS's redirect back, as "Go to Acme Ship" links it
}

func (w *walker) say(format string, args ...any) {
	w.n++
	fmt.Fprintf(w.out, "%d. %s\n", w.n, fmt.Sprintf(format, args...))
}

func (w *walker) signIn() error {
	p, err := w.post(w.d.URL+"/signin", url.Values{"email": {demoEmail}, "password": {demoPassword}})
	if err != nil {
		return err
	}
	if err := p.expectPath("/dashboard"); err != nil {
		return err
	}
	w.say("Signed in to %s as %s.", platformName, demoEmail)
	return nil
}

func (w *walker) dashboard() error {
	p, err := w.get(w.d.URL + "/dashboard")
	if err != nil {
		return err
	}
	t, err := p.need("popup-text", "popup-title", "banner-text", "see-guidelines", "quote-commercial", "quote-note")
	if err != nil {
		return err
	}
	w.say("Dashboard shows the pop-up %q (%s) and the banner %q with %s.", t[0], t[1], t[2], t[3])
	w.say("Sample label (%s): commercial %s. %s", sampleLabel, t[4], t[5])
	return nil
}

func (w *walker) guidelines() error {
	p, err := w.get(w.d.URL + "/dashboard")
	if err != nil {
		return err
	}
	href := p.attr("see-guidelines", "href")
	if href == "" {
		return p.missing("see-guidelines")
	}
	if p, err = w.get(w.d.URL + href); err != nil {
		return err
	}
	steps := p.all(`<span class="step-title">([^<]*)</span>`)
	t, err := p.need("setup-usps", "link-account")
	if err != nil {
		return err
	}
	if len(steps) == 0 {
		return p.missing("guideline steps")
	}
	w.say("See Guidelines → %q with %d steps: %s.", p.heading(), len(steps), strings.Join(steps, "; "))
	w.say("It offers %q (New to USPS?) and %q (Finalize Your Connection).", t[0], t[1])
	return nil
}

func (w *walker) authorizeAtUSPS() error {
	p, err := w.post(w.d.URL+"/usps/start", nil)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(p.url.String(), w.d.usps.URL) || p.heading() != "Sign In" {
		return p.unexpected("the USPS sign-in page")
	}
	w.say("Link your business account → USPS sign-in at %s%s.", p.url.Host, p.url.Path)
	if p, err = w.post(w.d.usps.URL+"/cop/signin", url.Values{"username": {uspsUser}, "password": {uspsPassword}}); err != nil {
		return err
	}
	if p.heading() != "Verify your identity" {
		return p.unexpected("the MFA page")
	}
	w.say("Signed in to USPS as %q → %q.", uspsUser, p.heading())
	if p, err = w.post(w.d.usps.URL+"/cop/mfa", url.Values{"code": {uspsMFA}}); err != nil {
		return err
	}
	grant := "Grant " + platformName + " Access"
	if p.heading() != grant || p.text("authorize") != "Authorize and Continue" {
		return p.unexpected("the " + grant + " page")
	}
	w.say("Entered MFA code %s → %q.", uspsMFA, grant)
	if p, err = w.post(w.d.usps.URL+"/cop/authorize", url.Values{"agree": {"yes"}, "decision": {"authorize"}}); err != nil {
		return err
	}
	goTo, href := p.text("go-to-platform"), p.attr("go-to-platform", "href")
	if p.heading() != "Successful Integration" || href == "" {
		return p.unexpected("the Successful Integration page")
	}
	w.say("Checked the agreement box, clicked Authorize and Continue → %q.", p.heading())
	w.callbackURL = href
	if p, err = w.get(href); err != nil {
		return err
	}
	if err := p.expectPath("/settings/usps"); err != nil {
		return err
	}
	t, err := p.need("notice", "credentials")
	if err != nil {
		return err
	}
	w.say("Clicked %q → back at %s: %s", goTo, platformName, t[0])
	return nil
}

func (w *walker) badMID() error {
	const bad = "90123"
	p, err := w.saveCredentials(bad, epaPendingACH)
	if err != nil {
		return err
	}
	t, err := p.need("err-mid", "error")
	if err != nil {
		return err
	}
	if p.status != http.StatusUnprocessableEntity {
		return p.unexpected("HTTP 422")
	}
	w.say("Saved MID %q → rejected with %q (%s)", bad, t[0], t[1])
	return nil
}

func (w *walker) achPending() error {
	p, err := w.saveCredentials(demoMID, epaPendingACH)
	if err != nil {
		return err
	}
	t, err := p.need("action-text", "demo-verify")
	if err != nil {
		return err
	}
	w.say("Saved CRID %s, MID %s, manifest MID %s, EPS %s (ACH pending) → Action required: %s",
		demoCRID, demoMID, demoManifestMID, epaPendingACH, t[0])
	debits, ok := w.d.usps.microDebits(epaPendingACH)
	if !ok {
		return fmt.Errorf("EPA %s is not pending ACH", epaPendingACH)
	}
	if p, err = w.post(w.d.URL+"/demo/usps-portal/verify", url.Values{"epa": {epaPendingACH},
		"amount1": {cents(debits[0])}, "amount2": {cents(debits[1])}}); err != nil {
		return err
	}
	t, err = p.need("notice", "epa-"+epaPendingACH)
	if err != nil {
		return err
	}
	w.say("In the stand-in USPS Business Portal, verified the micro-debits %s and %s: %s",
		cents(debits[0]), cents(debits[1]), t[0])
	return nil
}

func (w *walker) approval() error {
	p, err := w.saveCredentials(demoMID, epaPendingACH)
	if err != nil {
		return err
	}
	t, err := p.need("banner-text", "pending-text")
	if err != nil {
		return err
	}
	w.say("Saved again → banner %q: %s", t[0], t[1])
	if p, err = w.get(w.d.URL + "/dashboard"); err != nil {
		return err
	}
	if t, err = p.need("banner-text", "quote-commercial", "quote-note"); err != nil {
		return err
	}
	w.say("Dashboard shows the banner %q; the sample label is still commercial %s. %s", t[0], t[1], t[2])
	if p, err = w.post(w.d.URL+"/demo/usps-portal/contract", url.Values{"epa": {epaPendingACH}}); err != nil {
		return err
	}
	if _, err = p.need("notice", "epa-"+epaPendingACH); err != nil {
		return err
	}
	w.say("Played USPS in the stand-in portal: made the NSA contract of EPS %s effective.", epaPendingACH)
	return nil
}

func (w *walker) active() error {
	start := time.Now()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		p, err := w.get(w.d.URL + "/settings/usps")
		if err != nil {
			return err
		}
		if active := p.text("active"); active != "" {
			w.say("The reconciler confirmed the contract prices %.1fs later: %s", time.Since(start).Seconds(), active)
			break
		}
		select {
		case <-w.ctx.Done():
			return w.ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("link not active after 30s (%s)", p.text("banner-text"))
		case <-tick.C:
		}
	}
	// The link is active; its contract table now comes from USPS's prices
	// API (RunSync, glue.go): the dashboard says so until it is loaded.
	start = time.Now()
	var p *page
	for {
		var err error
		if p, err = w.get(w.d.URL + "/dashboard"); err != nil {
			return err
		}
		if p.text("quote-nsa") != "" {
			break
		}
		if p.text("quote-loading") == "" {
			return p.unexpected("an NSA quote, or the note that the NSA table is loading")
		}
		select {
		case <-w.ctx.Done():
			return w.ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("NSA table not loaded after 30s")
		case <-tick.C:
		}
	}
	w.say("The customer's NSA table came from USPS's prices API %.1fs after activation.", time.Since(start).Seconds())
	if p.text("banner-text") != "" {
		return p.unexpected("no banner once active")
	}
	t, err := p.need("quote-nsa", "quote-commercial", "quote-saving")
	if err != nil {
		return err
	}
	w.say("Link active: NSA rate %s vs commercial %s for the sample label (you save %s).", t[0], t[1], t[2])
	st, err := w.d.nsa.linker.Status(w.ctx, demoAccountID)
	if err != nil {
		return err
	}
	if st.State != linking.StateActive || !st.NSARatesApply {
		return fmt.Errorf("stored link is %s", st.State)
	}
	return nil
}

func (w *walker) saveCredentials(mid, eps string) (*page, error) {
	form := url.Values{"crid": {demoCRID}, "mid": {mid}, "manifest_mid": {demoManifestMID}, "eps": {eps}}
	if w.d.nsa.linker.PaymentModel().Returns {
		form.Set("returns_mid", demoReturnsMID)
	}
	return w.post(w.d.URL+"/settings/usps/credentials", form)
}

// HTTP.

type page struct {
	url    *url.URL // after redirects
	status int
	body   string
}

func (w *walker) get(u string) (*page, error) { return w.do(http.MethodGet, u, nil) }

func (w *walker) post(u string, form url.Values) (*page, error) {
	return w.do(http.MethodPost, u, form)
}

func (w *walker) do(method, u string, form url.Values) (*page, error) {
	req, err := http.NewRequestWithContext(w.ctx, method, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := w.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	p := &page{url: resp.Request.URL, status: resp.StatusCode, body: string(b)}
	if resp.StatusCode >= 500 {
		return nil, p.unexpected("a page")
	}
	return p, nil
}

// Reading pages: the demo's pages mark what the walkthrough reads with ids.

var (
	stylePattern = regexp.MustCompile(`(?s)<style.*?</style>`)
	tagPattern   = regexp.MustCompile(`<[^>]*>`)
)

func plain(s string) string {
	s = tagPattern.ReplaceAllString(stylePattern.ReplaceAllString(s, ""), " ")
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

// text is the text of the element with the given id ("" if absent). It
// assumes the element holds no element of its own tag name.
func (p *page) text(id string) string {
	i := strings.Index(p.body, ` id="`+id+`"`)
	if i < 0 {
		return ""
	}
	open := strings.LastIndexByte(p.body[:i], '<')
	name := strings.Fields(p.body[open+1 : i+1])[0]
	rest := p.body[i:]
	gt := strings.IndexByte(rest, '>')
	end := strings.Index(rest, "</"+name+">")
	if gt < 0 || end < gt {
		return ""
	}
	return plain(rest[gt+1 : end])
}

func (p *page) attr(id, name string) string {
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*\s` + regexp.QuoteMeta(name) + `="([^"]*)"`).FindStringSubmatch(p.body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

func (p *page) all(pattern string) []string {
	var out []string
	for _, m := range regexp.MustCompile(pattern).FindAllStringSubmatch(p.body, -1) {
		out = append(out, plain(m[1]))
	}
	return out
}

func (p *page) heading() string {
	if h := p.all(`<h1>([^<]*)</h1>`); len(h) > 0 {
		return h[0]
	}
	return ""
}

// need returns the texts of elements that must be on the page (an element
// with no text, like a form, must only be present).
func (p *page) need(ids ...string) ([]string, error) {
	var texts []string
	for _, id := range ids {
		if !strings.Contains(p.body, ` id="`+id+`"`) {
			return nil, p.missing("#" + id)
		}
		texts = append(texts, p.text(id))
	}
	return texts, nil
}

func (p *page) expectPath(path string) error {
	if p.url.Path != path {
		return p.unexpected(path)
	}
	return nil
}

func (p *page) missing(what string) error {
	return fmt.Errorf("no %s on %s (HTTP %d): %s", what, p.url.Path, p.status, p.summary())
}

func (p *page) unexpected(want string) error {
	return fmt.Errorf("wanted %s, got %s (HTTP %d): %s", want, p.url, p.status, p.summary())
}

// summary is the start of the page's text, for error messages.
func (p *page) summary() string {
	r := []rune(plain(p.body))
	if len(r) > 300 {
		return string(r[:300]) + "…"
	}
	return string(r)
}
