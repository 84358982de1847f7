package reports

import (
	"bytes"
	"context"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestHTMLSelfContained checks the page needs nothing from outside and
// that hostile strings stay text.
func TestHTMLSelfContained(t *testing.T) {
	page := string(render(t, FormatHTML, fixtureReport(), Options{}))
	for _, bad := range []string{"<link", "@import", "url(", "src=", "http-equiv=\"refresh\"", "<iframe", "<object", "<embed"} {
		if strings.Contains(strings.ToLower(page), bad) {
			t.Errorf("page contains %q: it must load nothing", bad)
		}
	}
	// Links only to anchors of the page itself.
	for _, m := range regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		if !strings.HasPrefix(m[1], "#") {
			t.Errorf("link to %q", m[1])
		}
	}
	if strings.Count(page, "<script>") != 1 || strings.Count(page, "<style>") != 1 {
		t.Errorf("want exactly one inline script and one style element")
	}
	// The CSP allows exactly the embedded script and style.
	csp := regexp.MustCompile(`http-equiv="Content-Security-Policy" content="([^"]*)"`).FindStringSubmatch(page)
	if csp == nil || !strings.Contains(html.UnescapeString(csp[1]), "script-src "+cspHash(htmlJS)) ||
		!strings.Contains(html.UnescapeString(csp[1]), "style-src "+cspHash(htmlCSS)) ||
		!strings.Contains(page, "<script>"+htmlJS+"</script>") || !strings.Contains(page, "<style>"+htmlCSS+"</style>") {
		t.Errorf("CSP hashes do not match the inline script and style")
	}
	// The fixture's certificate subject "<script>alert(1)</script>" and
	// its terminal escape must arrive escaped.
	if strings.Contains(page, "<script>alert(1)") || strings.Contains(page, "\x1b") {
		t.Errorf("hostile subject not escaped")
	}
	if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("hostile subject missing from the page")
	}
	for _, want := range []string{"PCI DSS 4.0", "Requirement 3.6", "Requirement 3.7", "Requirement 4.2.1", "NIST SP 800-57", "§164.312", "Article 32",
		"Certificate expiry timeline", "Distinct keys by algorithm and size", "Open findings by control", "Leaf certificates by issuer",
		"web platform", "TLS server www.example.test", "pre-activation", "deactivated", "@page"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// chromium finds a Chromium binary, or skips. KEYAUDIT_REQUIRE_CHROMIUM=1
// (set by CI once it installs Debian's chromium) makes a missing browser
// a failure instead.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("KEYAUDIT_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("chromium not found (apt-get install chromium) and KEYAUDIT_REQUIRE_CHROMIUM=1")
	}
	t.Skip("chromium not found: apt-get install chromium to run the browser test")
	return ""
}

// runChromium runs headless Chromium on page with extra flags, isolated:
// a fresh profile, no background networking, every host name unresolvable.
func runChromium(t *testing.T, bin, page string, extra ...string) (stdout, stderr []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
		"--disable-extensions", "--disable-sync", "--no-default-browser-check", "--host-resolver-rules=MAP * ~NOTFOUND",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0"}
	args = append(args, extra...)
	args = append(args, "file://"+page)
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, errb.Bytes())
	}
	return out.Bytes(), errb.Bytes()
}

// TestHTMLInChromium opens the report in real headless Chromium: the page
// renders, its script runs under the page's CSP (it marks <html
// data-ready>), the console has no message at all (a CSP violation or a
// script error would be one), and a screenshot is taken. Set
// KEYAUDIT_ARTIFACTS=DIR to keep the page and the screenshot.
func TestHTMLInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped with -short")
	}
	bin := chromium(t)
	dir := t.TempDir()
	if a := os.Getenv("KEYAUDIT_ARTIFACTS"); a != "" {
		if err := os.MkdirAll(a, 0o755); err != nil {
			t.Fatal(err)
		}
		dir = a
	}
	page, err := filepath.Abs(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, render(t, FormatHTML, fixtureReport(), Options{}), 0o644); err != nil {
		t.Fatal(err)
	}

	dom, logs := runChromium(t, bin, page, "--virtual-time-budget=5000", "--dump-dom")
	if !bytes.Contains(dom, []byte(`data-ready="1"`)) {
		t.Errorf("the page's script did not run (CSP or script error); chromium said:\n%s", consoleLines(logs))
	}
	if !bytes.Contains(dom, []byte("9 rows")) {
		t.Errorf("the findings filter did not initialise")
	}
	if c := consoleLines(logs); c != "" {
		t.Errorf("console messages:\n%s", c)
	}

	shot := filepath.Join(dir, "report.png")
	_, logs = runChromium(t, bin, page, "--window-size=1280,2400", "--hide-scrollbars", "--screenshot="+shot)
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, logs)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 50_000 {
		t.Fatalf("screenshot is not a plausible PNG (%d bytes)", len(png))
	}
	if c := consoleLines(logs); c != "" {
		t.Errorf("console messages:\n%s", c)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
}

// consoleLines are Chromium's log lines for page console messages.
func consoleLines(logs []byte) string {
	var out []string
	for _, l := range strings.Split(string(logs), "\n") {
		if strings.Contains(l, ":CONSOLE") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
