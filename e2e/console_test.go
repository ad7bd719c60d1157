package e2e

import (
	"context"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/platform/platformtest"
	"github.com/heraldhq/herald/platform/slack/slacktest"
	"github.com/heraldhq/herald/server"
)

// chromium returns the path of the machine's Chromium, or "" when it has
// none.
func chromium() string {
	if p := os.Getenv("HERALD_TEST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser is a headless Chromium driven through chromedp, whose
// screenshots go to the test's artifact directory (kept with go test
// -artifacts) and, when HERALD_SCREENSHOTS names a directory, there too:
// that is how the README's screenshots are made.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string
}

func newBrowser(t *testing.T) *browser {
	path := chromium()
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("Chromium is not installed (Debian package chromium); .ci/run installs it")
		}
		t.Skip("Chromium is not installed (Debian package chromium): skipping the browser tests")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "en-US"),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first Do starts the browser, which lives as long as ctx: no
	// timeout on this one; every later step has its own.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium %s: %v", path, err)
	}
	return &browser{t: t, ctx: ctx, dir: t.ArtifactDir()}
}

// stepTimeout bounds each step: a query for an element that never comes
// waits this long, then fails the test.
const stepTimeout = 20 * time.Second

// do runs steps, failing the test with what as context.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.screenshot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
}

// get runs one action and returns its value, failing the test on error.
func get[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.screenshot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// text returns the visible text of the first element matching the CSS
// selector sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return get(b, "read "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// attr returns an attribute of the first element matching sel.
func (b *browser) attr(sel, name string) string {
	b.t.Helper()
	return get(b, "read "+name+" of "+sel, chromedp.AttributeValue(chromedp.CSS(sel), name)).Value
}

// screenshot saves the whole page as name.png.
func (b *browser) screenshot(name string) {
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	// FullScreenshot with quality 100 makes a PNG.
	dirs := []string{b.dir}
	if d := os.Getenv("HERALD_SCREENSHOTS"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, name+".png"), img, 0o644); err != nil {
			b.t.Errorf("screenshot %s: %v", name, err)
		}
	}
}

// waitText reloads url until the text of the CSS selector sel contains
// want.
func (b *browser) waitText(url, sel, want string) {
	b.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		err := chromedp.Do(ctx, chromedp.Navigate(url))
		var s string
		if err == nil {
			s, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		}
		cancel()
		if err == nil && strings.Contains(s, want) {
			return
		}
		if time.Now().After(deadline) {
			b.screenshot("failed-wait")
			b.t.Fatalf("%s: %q never showed %q (last: %q, %v)", url, sel, want, s, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkLabels asserts that every form control of the current page has a
// label.
func (b *browser) checkLabels(page string) {
	b.t.Helper()
	unlabelled := get(b, "find unlabelled controls", chromedp.Evaluate[[]string](`[...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
		.filter(el => {
			if (el.tagName === 'BUTTON') return el.textContent.trim() === '' && !el.getAttribute('aria-label');
			return el.labels.length === 0 && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby');
		})
		.map(el => el.outerHTML.slice(0, 120))`))
	if len(unlabelled) > 0 {
		b.t.Errorf("%s: controls without a label: %v", page, unlabelled)
	}
}

// checkKeyboard opens url and asserts that the first Tab reaches the skip
// link and that Enter on it moves the focus to the main content.
func (b *browser) checkKeyboard(url string) {
	b.t.Helper()
	b.do("tab on "+url, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("main")), chromedp.KeyEvent(kb.Tab))
	focused := get(b, "read the focus", chromedp.Evaluate[string](`document.activeElement ? document.activeElement.textContent.trim() : ''`))
	if focused != "Skip to content" {
		b.t.Errorf("%s: the first Tab focuses %q, not the skip link", url, focused)
	}
}

// overflow returns how many CSS pixels the page is wider than the window.
func (b *browser) overflow() int {
	return get(b, "measure the page", chromedp.Evaluate[int](`document.documentElement.scrollWidth - document.documentElement.clientWidth`))
}

// TestConsoleInBrowser walks the console the way a user does, in headless
// Chromium: sign in, create a project and a SLACK webhook pointing at the
// fake, publish an event through the API, find the delivery in the log,
// open its attempts, press Retry and see a second attempt; a bad URL is
// refused beside its field; the IM page validates Slack credentials.
func TestConsoleInBrowser(t *testing.T) {
	webAPI := slacktest.NewWebAPI(t)
	e := start(t, "sqlite", func(c *server.Config) { webAPI.Endpoints(&c.IM) })
	b := newBrowser(t)
	base := e.url
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	button := func(label string) chromedp.Search {
		return chromedp.Search(`//button[normalize-space()="` + label + `"]`)
	}

	// Sign-in: a wrong token is refused beside the field, the right one
	// lands on the projects page.
	b.do("open the console", chromedp.Navigate(base+"/"), chromedp.WaitVisible(css("#token")))
	b.screenshot("01-sign-in")
	b.do("wrong token", chromedp.SendKeys(css("#token"), "not-the-token"), chromedp.Submit(css("#token")),
		chromedp.WaitVisible(css("#token-error")))
	if got := b.text("#token-error"); !strings.Contains(got, "token") {
		t.Errorf("the sign-in error says %q", got)
	}
	b.do("sign in", chromedp.SendKeys(css("#token"), token), chromedp.Submit(css("#token")),
		chromedp.WaitVisible(css("#projectId")))
	if cookies := get(b, "read cookies", chromedp.Evaluate[string](`document.cookie`)); cookies != "" {
		t.Errorf("the session cookie is readable from JavaScript: %q", cookies)
	}
	b.checkKeyboard(base + "/projects")

	// A project.
	b.do("create a project",
		chromedp.SendKeys(css("#projectId"), "payments"),
		chromedp.SendKeys(css("#title"), "Payments"),
		chromedp.Submit(css("#title")),
		chromedp.WaitVisible(css(`a[href="/projects/payments/webhooks/new"]`)))
	if h := b.text("h1"); !strings.Contains(h, "Payments") {
		t.Fatalf("after creating the project the page is %q", h)
	}

	// A SLACK webhook: first with a URL that is not Slack's, refused beside
	// the field with what was typed kept; then with the fake's URL.
	hook := e.slack.NewHook(platformtest.HookOptions{})
	b.do("fill the webhook form", chromedp.Click(css(`a[href="/projects/payments/webhooks/new"]`)), chromedp.WaitVisible(css("#url")),
		chromedp.SetValue(css("#type"), string(herald.Slack)),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('type').dispatchEvent(new Event('change'))`),
		chromedp.SendKeys(css("#title"), "Deploys"),
		chromedp.SendKeys(css("#url"), "https://example.com/not-slack"),
		chromedp.Click(css(`input[value="PIPELINE_FAILED"]`)),
		chromedp.Click(css(`input[value="ISSUE_CREATED"]`)), // approval requested is checked already
		chromedp.WaitVisible(css("#dm-fieldset")),
		chromedp.Click(css(`input[name="directMessage"]`)),
		chromedp.Click(button("Create webhook")),
		chromedp.WaitVisible(css("#url-error")))
	b.screenshot("04-bad-url")
	if got := b.text("#url-error"); !strings.Contains(got, "SLACK") {
		t.Errorf("the URL error says %q", got)
	}
	invalid, describedBy := b.attr("#url", "aria-invalid"), b.attr("#url", "aria-describedby")
	title := get(b, "read the title", chromedp.Value(css("#title")))
	if invalid != "true" || !strings.Contains(describedBy, "url-error") || title != "Deploys" {
		t.Errorf("refused form: aria-invalid=%q aria-describedby=%q title=%q", invalid, describedBy, title)
	}
	b.checkLabels("the webhook form")
	b.do("fix the URL", chromedp.Clear(css("#url")), chromedp.SendKeys(css("#url"), hook),
		chromedp.Click(button("Create webhook")),
		chromedp.WaitVisible(css(`li.hook`)))
	list := b.text("ul.hooks")
	for _, want := range []string{"Deploys", "Slack", "Direct messages", "Enabled", "Rollout failed", "Issue created", "Approval requested", "none yet"} {
		if !strings.Contains(list, want) {
			t.Errorf("the webhook list lacks %q:\n%s", want, list)
		}
	}
	if strings.Contains(list, hook[strings.LastIndex(hook, "/")+1:]) {
		t.Error("the webhook list shows the URL's secret")
	}

	// The Test button shows Slack's answer.
	b.do("press Test", chromedp.Click(button("Test")), chromedp.WaitVisible(css(`.result`)))
	if got := b.text(".result"); !strings.Contains(got, "delivered") {
		t.Errorf("the test result says %q", got)
	}
	b.screenshot("03-webhooks")

	// An event published through the API shows up in the log.
	ev, _, err := e.c.Publish(t.Context(), "payments", eventOf(herald.PipelineFailed))
	if err != nil {
		t.Fatal(err)
	}
	e.slack.WaitMessages(t, hook, 2, 10*time.Second) // the test message and the event
	deliveries := base + "/projects/payments/deliveries"
	b.waitText(deliveries, "table", "SUCCEEDED")
	b.screenshot("05-deliveries")
	b.checkLabels("the delivery log")

	// Its attempts, then Retry and a second attempt.
	id := path.Base(ev.Deliveries[0].Name)
	b.do("open the delivery", chromedp.Click(css(`a[href="/projects/payments/deliveries/`+id+`"]`)),
		chromedp.WaitVisible(css(`ol.attempts`)))
	count := func() int {
		return get(b, "count attempts", chromedp.Evaluate[int](`document.querySelectorAll('ol.attempts > li').length`))
	}
	if n := count(); n != 1 {
		t.Fatalf("the delivery shows %d attempts, want 1", n)
	}
	if got := b.text("dl.facts"); !strings.Contains(got, "CHANNEL") {
		t.Errorf("the delivery facts lack the route:\n%s", got)
	}
	b.do("press Retry", chromedp.Click(button("Retry")), chromedp.WaitReady(css("main")))
	e.slack.WaitMessages(t, hook, 3, 10*time.Second)
	b.waitText(base+"/projects/payments/deliveries/"+id, "ol.attempts", "#2")
	if n := count(); n != 2 {
		t.Fatalf("after Retry the delivery shows %d attempts, want 2", n)
	}
	b.do("open the newest request body", chromedp.Click(css(`ol.attempts > li:first-child details summary`)),
		chromedp.WaitVisible(css(`ol.attempts > li:first-child pre`)))
	if got := b.text("ol.attempts > li:first-child pre"); !strings.Contains(got, "blocks") {
		t.Errorf("the request body shown is %q", got)
	}
	b.screenshot("06-delivery")

	// Health.
	b.do("open health", chromedp.Navigate(base+"/projects/payments/health"), chromedp.WaitVisible(css(`svg.chart`)))
	if got := b.text("table"); !strings.Contains(got, "100") {
		t.Errorf("health lacks the success rate:\n%s", got)
	}
	b.screenshot("07-health")

	// IM integrations: save a Slack token and validate it against the fake.
	slackForm := `section[aria-labelledby="im-slack"] `
	b.do("configure Slack", chromedp.Navigate(base+"/settings/im"), chromedp.WaitVisible(css("#slack-token")),
		chromedp.SendKeys(css("#slack-token"), webAPI.Settings().Token),
		chromedp.Click(css(slackForm+`button[type=submit]:not([formaction])`)),
		chromedp.WaitVisible(css(slackForm+`.badge.on`)),
		chromedp.Click(css(slackForm+`button[formaction$="/validate"]`)),
		chromedp.WaitVisible(css(slackForm+`.result`)))
	if got := b.text(slackForm + ".result"); !strings.Contains(got, "accepted") {
		t.Errorf("Validate says %q", got)
	}
	if p := b.attr("#slack-token", "placeholder"); p != "configured" {
		t.Errorf("the stored token's field shows placeholder %q, want configured", p)
	}
	if v := get(b, "read the token field", chromedp.Value(css("#slack-token"))); v != "" {
		t.Errorf("the token field gives the stored token back: %q", v)
	}
	b.screenshot("08-im")
	b.checkLabels("IM integrations")

	b.do("projects", chromedp.Navigate(base+"/projects"), chromedp.WaitVisible(css("table")))
	b.screenshot("02-projects")

	// Every page: labels, keyboard, and at a phone's width no sideways
	// scrolling.
	pages := []string{"/projects", "/projects/payments/webhooks", "/projects/payments/webhooks/new",
		"/projects/payments/deliveries", "/projects/payments/deliveries/" + id, "/projects/payments/health", "/settings/im"}
	for _, path := range pages {
		b.checkKeyboard(base + path)
		b.checkLabels(path)
	}
	b.do("phone width", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	for _, path := range pages {
		b.do("open "+path, chromedp.Navigate(base+path), chromedp.WaitReady(css("main")))
		if px := b.overflow(); px > 0 {
			b.screenshot("failed-phone" + strings.ReplaceAll(path, "/", "-"))
			t.Errorf("%s is %dpx wider than a 390px phone", path, px)
		}
	}
	b.do("phone webhooks", chromedp.Navigate(base+"/projects/payments/webhooks"), chromedp.WaitReady(css("main")))
	b.screenshot("09-phone-webhooks")
	b.do("desktop width", chromedp.ResetViewport())

	// Sign-out ends the session: the next page asks to sign in again.
	b.do("sign out", chromedp.Navigate(base+"/projects"), chromedp.WaitVisible(button("Sign out")),
		chromedp.Click(button("Sign out")), chromedp.WaitVisible(css("#token")),
		chromedp.Navigate(base+"/projects/payments/webhooks"), chromedp.WaitVisible(css("#token")))
}
