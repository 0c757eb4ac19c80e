package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nsalink/nsalink/linking"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBrowserJourney clicks through the whole journey in headless Chromium
// and saves a screenshot of each step in artifacts/linkdemo/ (or
// $NSALINK_ARTIFACTS).
func TestBrowserJourney(t *testing.T) {
	chromium := findChromium(t)
	dir := artifactsDir(t)
	d := startTestDemo(t)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, // we run as root, offline
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	// The first Do starts the browser and ties it to its context: use the
	// test's, not a step's.
	require.NoError(t, chromedp.Do(browser), "starting %s", chromium)

	// Each step gets its own deadline, so that a stuck one fails fast and
	// names itself.
	step := func() (context.Context, context.CancelFunc) { return context.WithTimeout(browser, 20*time.Second) }
	do := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := step()
		defer cancel()
		require.NoError(t, chromedp.Do(ctx, actions...), name)
	}
	text := func(id string) string {
		t.Helper()
		ctx, cancel := step()
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
		require.NoError(t, err, "#%s", id)
		return s
	}
	shot := func(name string) {
		t.Helper()
		ctx, cancel := step()
		defer cancel()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err, name)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), png, 0o644))
	}
	type void = chromedp.Action[chromedp.Void]
	click := func(id string) void { return chromedp.Click(chromedp.ID(id)) }
	visible := func(id string) void { return chromedp.WaitVisible(chromedp.ID(id)) }
	typeIn := func(id, s string) void { return chromedp.SendKeys(chromedp.ID(id), s) }
	setValue := func(id, s string) void { return chromedp.SetValue(chromedp.ID(id), s) }
	navigate := func(u string) void { return chromedp.Navigate(u) }
	// load runs actions that leave the page (a click on a link or a
	// submit, a navigation) and returns once the next page has loaded, then
	// runs waits on it. Waiting for an element alone is not enough: the old
	// page may hold the same id (the banner behind the pop-up, a form
	// posted to itself), and reading it while it goes away fails with "No
	// node with given id found". The old page is marked first; the new one
	// is the document without the mark.
	load := func(name string, leave void, waits ...void) {
		t.Helper()
		ctx, cancel := step()
		defer cancel()
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__nsalinkOld = true`))
		require.NoError(t, err, "%s: mark the page", name)
		require.NoError(t, chromedp.Do(ctx, leave), name)
		require.NoError(t, waitNewPage(ctx), name)
		require.NoError(t, chromedp.Do(ctx, waits...), name)
	}
	// page checks the page as it is now: rendered for the state want ("":
	// a page with no link state), with no contradictory message; then a
	// screenshot.
	page := func(name string, want linking.State) {
		t.Helper()
		ctx, cancel := step()
		defer cancel()
		ps, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](pageStateJS))
		require.NoError(t, err, name)
		require.Equal(t, want, ps.State, name)
		if want != "" {
			assert.NotEmpty(t, ps.Messages, name)
		}
		assertConsistent(t, name, ps)
		shot(name + ".png")
	}

	load("sign in", navigate(d.URL), visible("email"))
	page("00-signin", "")
	do("type", typeIn("password", demoPassword))
	load("sign in", click("signin"), visible("popup"))
	assert.Equal(t, "Connect your USPS business account to keep your NSA rates. Click See Guidelines to begin.", text("popup-text"))
	page("01-dashboard-popup", linking.StateUnlinked)

	// The banner is on the page behind the pop-up too: load waits for the new page.
	load("dismiss the pop-up", click("popup-dismiss"), visible("see-guidelines"))
	assert.Equal(t, "Connect your USPS business account to Acme Ship to access NSA rates.", text("banner-text"))
	page("02-dashboard-banner", linking.StateUnlinked)

	load("See Guidelines", click("see-guidelines"), visible("steps"), visible("link-account"))
	page("03-guidelines", linking.StateUnlinked)

	load("Link your business account", click("link-account"), visible("username"))
	page("04-usps-signin", "")

	do("USPS sign-in", typeIn("username", uspsUser), typeIn("password", uspsPassword))
	load("USPS sign-in", click("signin"), visible("code"))
	do("MFA", typeIn("code", uspsMFA))
	page("05-usps-mfa", "")

	load("MFA", click("verify"), visible("agree"))
	do("agree", click("agree"))
	page("06-usps-grant", "")

	load("Authorize and Continue", click("authorize"), visible("go-to-platform"))
	assert.Equal(t, "Go to Acme Ship", text("go-to-platform"))
	callbackURL := evaluate[string](t, step, `document.getElementById("go-to-platform").href`)
	page("07-usps-success", "")

	load("Go to Acme Ship", click("go-to-platform"), visible("credentials"))
	assert.Equal(t, "Your USPS business account is connected.", text("notice"))
	page("08-credentials-form", linking.StateAwaitingCredentials)

	do("type a bad MID", typeIn("crid", demoCRID), typeIn("mid", "90123"), typeIn("eps", epaPendingACH))
	load("save a bad MID", click("save-credentials"), visible("err-mid"))
	assert.Equal(t, "MID: must be 6 or 9 digits, not 5", text("err-mid"))
	page("09-credentials-bad-mid", linking.StateAwaitingCredentials)

	do("type the ACH-pending EPA", setValue("mid", demoMID), typeIn("eps", epaPendingACH))
	load("save the ACH-pending EPA", click("save-credentials"), visible("action"))
	assert.Contains(t, text("action-text"), "verify the two micro-debits")
	page("10-action-required-ach", linking.StateActionRequired)

	load("dashboard, action required", navigate(d.URL+"/dashboard"), visible("banner"))
	page("11-dashboard-action-required", linking.StateActionRequired)

	debits, ok := d.usps.microDebits(epaPendingACH)
	require.True(t, ok)
	load("USPS portal", navigate(d.URL+"/demo/usps-portal"), visible("epa-"+epaPendingACH))
	do("type the micro-debits", typeIn("amount1-"+epaPendingACH, cents(debits[0])), typeIn("amount2-"+epaPendingACH, cents(debits[1])))
	load("verify the micro-debits", chromedp.Click(chromedp.CSS("#verify-"+epaPendingACH+" button")), visible("notice"))
	page("12-usps-portal-verified", "")

	load("settings", navigate(d.URL+"/settings/usps"), visible("credentials"))
	do("type the EPS again", typeIn("eps", epaPendingACH))
	load("save again", click("save-credentials"), visible("pending"))
	assert.Equal(t, "USPS business account approval pending", text("banner-text"))
	page("13-approval-pending", linking.StateApprovalPending)

	load("dashboard while pending", navigate(d.URL+"/dashboard"), visible("banner"), visible("quote-note"))
	page("14-dashboard-pending", linking.StateApprovalPending)

	load("USPS portal", navigate(d.URL+"/demo/usps-portal"), visible("contract-"+epaPendingACH))
	load("USPS approves the contract", chromedp.Click(chromedp.CSS("#contract-"+epaPendingACH+" button")), visible("notice"))
	require.NoError(t, waitActive(ctx, browser, d.URL+"/settings/usps"))
	page("15-settings-active", linking.StateActive)

	// The contract table now comes from USPS's prices API (RunSync); the
	// dashboard says so until it is in.
	require.NoError(t, waitFor(ctx, browser, d.URL+"/dashboard", "quote", "quote-nsa"))
	load("dashboard when active", navigate(d.URL+"/dashboard"), visible("quote-nsa"))
	assert.Equal(t, "$10.99", text("quote-nsa"))
	assert.Equal(t, "$13.40", text("quote-commercial"))
	page("16-active-quote", linking.StateActive)

	// The back button to USPS's redirect: the sign-in is spent, the link
	// stays active, and the page does not say otherwise.
	load("replay the callback", navigate(callbackURL), visible("active"))
	page("17-replayed-callback", linking.StateActive)

	load("Unlink", click("unlink"), visible("link-account"))
	assert.Contains(t, text("notice"), "Your USPS business account is unlinked")
	page("18-unlinked", linking.StateUnlinked)
	load("dashboard when unlinked", navigate(d.URL+"/dashboard"), visible("quote-note"))
	page("19-dashboard-unlinked", linking.StateUnlinked)
	t.Logf("screenshots in %s", dir)
}

// pageStateJS reads a page as stateOf reads it over HTTP (pageState).
const pageStateJS = `(() => {
	const main = document.querySelector("main");
	const controls = {"settings-page": document.getElementById("steps") !== null};
	for (const id of ["link-account", "unlink", "popup"]) controls[id] = document.getElementById(id) !== null;
	return {
		state: (main && main.dataset.state) || "",
		reason: (main && main.dataset.reason) || "",
		messages: [...document.querySelectorAll("[data-msg]")].map(e => ({id: e.id, text: e.innerText.replace(/\s+/g, " ").trim()})),
		controls,
	};
})()`

// waitNewPage returns once the page that replaced the marked one has
// loaded. Evaluating while the old page goes away can fail; that is "not
// yet", until ctx ends.
func waitNewPage(ctx context.Context) error {
	for {
		try, cancel := context.WithTimeout(ctx, 2*time.Second)
		fresh, err := chromedp.Run(try, chromedp.Evaluate[bool](`document.readyState === "complete" && window.__nsalinkOld === undefined`))
		cancel()
		if err == nil && fresh {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no new page (last check: %v): %w", err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func evaluate[T any](t *testing.T, step func() (context.Context, context.CancelFunc), expr string) T {
	t.Helper()
	ctx, cancel := step()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	require.NoError(t, err, expr)
	return v
}

// waitActive reloads the settings page until the reconciler has made the
// link active.
func waitActive(ctx context.Context, browser context.Context, settingsURL string) error {
	for {
		if err := chromedp.Do(browser, chromedp.Navigate(settingsURL), chromedp.WaitVisible(chromedp.ID("steps"))); err != nil {
			return err
		}
		active, err := chromedp.Run(browser, chromedp.Evaluate[bool](`document.getElementById("active") !== null`))
		if err != nil || active {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.New("the link did not become active")
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// waitFor reloads url until the element with id appears (after the one with
// id ready, which every load has).
func waitFor(ctx context.Context, browser context.Context, url, ready, id string) error {
	for {
		if err := chromedp.Do(browser, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID(ready))); err != nil {
			return err
		}
		found, err := chromedp.Run(browser, chromedp.Evaluate[bool](`document.getElementById("`+id+`") !== null`))
		if err != nil || found {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.New(id + " did not appear")
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// findChromium finds the browser; without one the test skips, or fails
// under NSALINK_TEST_STRICT=1, which .ci/run sets after installing it.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("NSALINK_TEST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const why = "no Chromium: set NSALINK_TEST_CHROMIUM or put chromium, chromium-browser or google-chrome on PATH"
	if os.Getenv("NSALINK_TEST_STRICT") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
	return ""
}

// artifactsDir is $NSALINK_ARTIFACTS, or artifacts/linkdemo under the
// module root (ignored by git).
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("NSALINK_ARTIFACTS")
	if dir == "" {
		root, err := filepath.Abs(".")
		require.NoError(t, err)
		for {
			if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
				break
			}
			parent := filepath.Dir(root)
			require.NotEqual(t, root, parent, "no go.mod above the test")
			root = parent
		}
		dir = filepath.Join(root, "artifacts", "linkdemo")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}
