package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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

	do("sign in", chromedp.Navigate(d.URL), visible("email"), typeIn("password", demoPassword), click("signin"), visible("popup"))
	assert.Equal(t, "Connect your USPS business account", text("popup-title"))
	shot("01-dashboard-popup.png")

	// The banner is on the page behind the pop-up too: wait for the new page.
	do("dismiss the pop-up", click("popup-dismiss"), chromedp.WaitNotPresent(chromedp.ID("popup")), visible("see-guidelines"))
	assert.Equal(t, "Connect your USPS business account to Acme Ship to access NSA rates.", text("banner-text"))
	shot("02-dashboard-banner.png")

	do("See Guidelines", click("see-guidelines"), visible("steps"), visible("link-account"))
	shot("03-guidelines.png")

	do("Link your business account", click("link-account"), visible("username"))
	shot("04-usps-signin.png")

	do("USPS sign-in", typeIn("username", uspsUser), typeIn("password", uspsPassword), click("signin"), visible("code"))
	do("MFA", typeIn("code", uspsMFA))
	shot("05-usps-mfa.png")

	do("MFA", click("verify"), visible("agree"), click("agree"))
	shot("06-usps-grant.png")

	do("Authorize and Continue", click("authorize"), visible("go-to-platform"))
	assert.Equal(t, "Go to Acme Ship", text("go-to-platform"))
	shot("07-usps-success.png")

	do("Go to Acme Ship", click("go-to-platform"), visible("credentials"))
	assert.Contains(t, text("notice"), "Your USPS business account is connected.")
	shot("08-credentials-form.png")

	do("save a bad MID", typeIn("crid", demoCRID), typeIn("mid", "90123"), typeIn("eps", epaPendingACH), click("save-credentials"), visible("err-mid"))
	assert.Equal(t, "MID: must be 6 or 9 digits, not 5", text("err-mid"))
	shot("09-credentials-bad-mid.png")

	do("save the ACH-pending EPA", setValue("mid", demoMID), typeIn("eps", epaPendingACH), click("save-credentials"), visible("action"))
	assert.Contains(t, text("action-text"), "verify the two micro-debits")
	shot("10-action-required-ach.png")

	debits, ok := d.usps.microDebits(epaPendingACH)
	require.True(t, ok)
	do("verify the micro-debits", chromedp.Navigate(d.URL+"/demo/usps-portal"), visible("epa-"+epaPendingACH),
		typeIn("amount1-"+epaPendingACH, cents(debits[0])), typeIn("amount2-"+epaPendingACH, cents(debits[1])),
		chromedp.Click(chromedp.CSS("#verify-"+epaPendingACH+" button")), visible("notice"))
	shot("11-usps-portal-verified.png")

	do("save again", chromedp.Navigate(d.URL+"/settings/usps"), visible("credentials"),
		typeIn("eps", epaPendingACH), click("save-credentials"), visible("pending"))
	assert.Equal(t, "USPS business account approval pending", text("banner-text"))
	shot("12-approval-pending.png")

	do("dashboard while pending", chromedp.Navigate(d.URL+"/dashboard"), visible("banner"), visible("quote-note"))
	shot("13-dashboard-pending.png")

	do("USPS approves the contract", chromedp.Navigate(d.URL+"/demo/usps-portal"),
		chromedp.Click(chromedp.CSS("#contract-"+epaPendingACH+" button")), visible("notice"))
	require.NoError(t, waitActive(ctx, browser, d.URL+"/settings/usps"))
	// The contract table now comes from USPS's prices API (RunSync); the
	// dashboard says so until it is in.
	require.NoError(t, waitFor(ctx, browser, d.URL+"/dashboard", "quote", "quote-nsa"))
	do("dashboard when active", chromedp.Navigate(d.URL+"/dashboard"), visible("quote-nsa"))
	assert.Equal(t, "$10.99", text("quote-nsa"))
	assert.Equal(t, "$13.40", text("quote-commercial"))
	shot("14-active-quote.png")
	t.Logf("screenshots in %s", dir)
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
