package reports

import (
	"bytes"
	"encoding/json"
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// layoutProbe is evaluated in the laid-out page (through the DevTools
// protocol, so the report ships without it and its CSP is untouched). It
// returns, as JSON, what the layout test asserts: the viewport, the
// document's width, the compliance matrix, where each finding's fix is
// drawn relative to its finding, and every host name fragment that
// wrapped inside itself.
const layoutProbe = `(function () {
  var de = document.documentElement;
  var out = {viewport: window.innerWidth, scrollWidth: de.scrollWidth, bodyScrollWidth: document.body.scrollWidth,
    ready: de.getAttribute("data-ready") === "1", matrixRows: 0, matrixMarks: 0, matrixCols: 0, findings: [], brokenHosts: []};
  var m = document.querySelector("#compliance table.matrix");
  if (m) {
    out.matrixRows = m.tBodies[0].rows.length;
    out.matrixCols = m.tHead.rows[1].cells.length;
    m.querySelectorAll("tbody td.mark").forEach(function (td) { if (td.textContent.trim() === "\u25CF") { out.matrixMarks++; } });
  }
  out.evidenceUnderControls = document.querySelectorAll("#compliance dl.evidence, #compliance table.evidence").length;
  document.querySelectorAll("#findings-table tbody tr").forEach(function (tr) {
    var fix = tr.querySelector("td.fix"), msg = tr.querySelector("td.msg");
    var r = tr.getBoundingClientRect(), f = fix ? fix.getBoundingClientRect() : null, g = msg ? msg.getBoundingClientRect() : null;
    out.findings.push({id: tr.id, fix: fix ? fix.textContent.trim() : "",
      fixInRow: !!f && f.width > 0 && f.height > 0 && f.top >= r.top - 1 && f.bottom <= r.bottom + 1 && f.left >= r.left - 1 && f.right <= r.right + 1,
      fixBesideMessage: !!f && !!g && (Math.abs(f.top - g.top) < 2 || (f.top >= g.bottom - 1 && f.top - g.bottom < 40)),
      fixVisible: !!f && f.right <= window.innerWidth + 1});
  });
  document.querySelectorAll(".host .hl").forEach(function (h) {
    var rg = document.createRange();
    rg.selectNodeContents(h);
    if (rg.getClientRects().length > 1) { out.brokenHosts.push(h.textContent); }
  });
  return JSON.stringify(out);
})()`

type layoutFacts struct {
	Ready           bool `json:"ready"`
	Viewport        int  `json:"viewport"`
	ScrollWidth     int  `json:"scrollWidth"`
	BodyScrollWidth int  `json:"bodyScrollWidth"`
	MatrixRows      int  `json:"matrixRows"`
	MatrixMarks     int  `json:"matrixMarks"`
	MatrixCols      int  `json:"matrixCols"`
	EvidenceUnder   int  `json:"evidenceUnderControls"`
	Findings        []struct {
		ID               string `json:"id"`
		Fix              string `json:"fix"`
		FixInRow         bool   `json:"fixInRow"`
		FixBesideMessage bool   `json:"fixBesideMessage"`
		FixVisible       bool   `json:"fixVisible"`
	} `json:"findings"`
	BrokenHosts []string `json:"brokenHosts"`
}

// TestHTMLLayoutInChromium lays the report out in headless Chromium at a
// desktop and a phone width and checks layout facts, not pixels: the
// page never scrolls sideways (wide tables scroll inside their own box),
// the compliance matrix has a row per finding and a column per control,
// the evidence is not repeated under the controls, each finding's fix
// is drawn inside its finding's row beside or under its message, and no
// host name wraps inside a label. It also takes a screenshot at each
// width (KEYAUDIT_ARTIFACTS=DIR keeps them).
func TestHTMLLayoutInChromium(t *testing.T) {
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
	r := fixtureReport()
	rendered := render(t, FormatHTML, r, Options{})
	page, err := filepath.Abs(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, rendered, 0o644); err != nil {
		t.Fatal(err)
	}
	controls := 0
	for _, fw := range compliance(r.sortedFindings()) {
		controls += len(fw.Controls)
	}
	marks := 0
	for _, f := range r.Findings {
		marks += len(f.Controls)
	}

	d := openDevtools(t, bin)
	for _, c := range []struct {
		name  string
		width int
	}{{"desktop", 1280}, {"phone", 400}} {
		t.Run(c.name, func(t *testing.T) {
			d.t = t
			d.open("file://"+page, c.width, 900, c.width < 600)
			var f layoutFacts
			if err := json.Unmarshal([]byte(d.eval(layoutProbe)), &f); err != nil {
				t.Fatalf("probe: %v", err)
			}
			t.Logf("%s: viewport %d, document %d px wide, matrix %d×%d (%d marks), host fragments broken %q",
				c.name, f.Viewport, f.ScrollWidth, f.MatrixRows, f.MatrixCols, f.MatrixMarks, f.BrokenHosts)
			if f.Viewport != c.width {
				t.Fatalf("viewport %d px, want %d", f.Viewport, c.width)
			}
			if !f.Ready {
				t.Errorf("the page's script did not run")
			}
			if f.ScrollWidth > f.Viewport || f.BodyScrollWidth > f.Viewport {
				t.Errorf("the page scrolls sideways at %d px: document %d px, body %d px wide", f.Viewport, f.ScrollWidth, f.BodyScrollWidth)
			}
			if f.MatrixRows != len(r.Findings) || f.MatrixCols != controls || f.MatrixMarks != marks {
				t.Errorf("matrix: %d rows × %d controls with %d marks, want %d × %d with %d", f.MatrixRows, f.MatrixCols, f.MatrixMarks, len(r.Findings), controls, marks)
			}
			if f.EvidenceUnder != 0 {
				t.Errorf("evidence repeated under the controls (%d blocks)", f.EvidenceUnder)
			}
			if len(f.Findings) != len(r.Findings) {
				t.Fatalf("%d finding rows, want %d", len(f.Findings), len(r.Findings))
			}
			for _, fd := range f.Findings {
				if fd.Fix == "" || !fd.FixInRow || !fd.FixBesideMessage || !fd.FixVisible {
					t.Errorf("finding %s: fix %q in its row %v, beside its message %v, on screen %v", fd.ID, fd.Fix, fd.FixInRow, fd.FixBesideMessage, fd.FixVisible)
				}
			}
			if len(f.BrokenHosts) > 0 {
				t.Errorf("host names wrapped inside a label: %q", f.BrokenHosts)
			}
			if p := d.problems(); len(p) > 0 {
				t.Errorf("console messages:\n%s", strings.Join(p, "\n"))
			}

			png := d.screenshot()
			if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 20_000 {
				t.Fatalf("screenshot is not a plausible PNG (%d bytes)", len(png))
			}
			if w := pngWidth(png); w > c.width || w < c.width-20 { // less a scroll bar
				t.Errorf("screenshot %d px wide, want %d", w, c.width)
			}
			shot := filepath.Join(dir, "report-"+c.name+".png")
			if err := os.WriteFile(shot, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot: %s (%d bytes)", shot, len(png))
		})
	}
	d.t = t
	// The fix shown is the check's help.
	page0 := string(rendered)
	for _, ru := range r.Rules {
		if ru.Help != "" && !strings.Contains(page0, html.EscapeString(ru.Help)) {
			t.Errorf("fix of %s missing", ru.ID)
		}
	}
}

// pngWidth reads the width from a PNG's IHDR chunk.
func pngWidth(b []byte) int {
	if len(b) < 24 {
		return 0
	}
	return int(b[16])<<24 | int(b[17])<<16 | int(b[18])<<8 | int(b[19])
}
