package reports

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyaudit/keyaudit/reconcile"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./reports -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./reports -update rewrites it after review):\n%s", name, firstDiff(want, got))
	}
}

// firstDiff shows the first differing line.
func firstDiff(want, got []byte) string {
	wl, gl := bytes.Split(want, []byte("\n")), bytes.Split(got, []byte("\n"))
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			return "line " + itoa(i+1) + ":\n  want: " + string(w) + "\n  got:  " + string(g)
		}
	}
	return "(same lines, different bytes)"
}

func render(t *testing.T, format string, r *Report, opts Options) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, format, r, opts); err != nil {
		t.Fatalf("%s: %v", format, err)
	}
	return b.Bytes()
}

// TestGolden renders the fixture in every format. Each renderer must be
// deterministic: rendering twice gives the same bytes.
func TestGolden(t *testing.T) {
	cases := []struct {
		name, format string
		opts         Options
	}{
		{"report.table.golden", FormatTable, Options{Terminal: &Terminal{Width: 100}}},
		{"report.json.golden", FormatJSON, Options{}},
		{"report.jsonl.golden", FormatJSONL, Options{}},
		{"report.findings.csv.golden", FormatCSV, Options{}},
		{"report.keys.csv.golden", FormatCSV, Options{Records: RecordsKeys}},
		{"report.endpoints.csv.golden", FormatCSV, Options{Records: RecordsEndpoints}},
		{"report.sarif.golden", FormatSARIF, Options{BaseDir: "/srv/audit"}},
		{"report.junit.golden", FormatJUnit, Options{}},
		{"report.junit-critical.golden", FormatJUnit, Options{FailOn: "critical"}},
		{"report.md.golden", FormatMarkdown, Options{}},
		{"report.html.golden", FormatHTML, Options{}},
		{"report.cbom.golden", FormatCBOM, Options{}},
		{"report.prom.golden", FormatPrometheus, Options{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := render(t, c.format, fixtureReport(), c.opts)
			again := render(t, c.format, fixtureReport(), c.opts)
			if !bytes.Equal(got, again) {
				t.Fatalf("%s is not deterministic:\n%s", c.format, firstDiff(got, again))
			}
			golden(t, c.name, got)
		})
	}
}

// TestEmptyReport renders a report with nothing in it: no renderer may
// fail or write null arrays.
func TestEmptyReport(t *testing.T) {
	r := &Report{GeneratedAt: fixedNow, Run: RunInfo{ID: 1, Kind: "reconcile", Status: "complete"}}
	for _, f := range ReportFormats {
		t.Run(f, func(t *testing.T) {
			out := render(t, f, r, Options{})
			if len(out) == 0 {
				t.Fatal("empty output")
			}
			if (f == FormatJSON || f == FormatSARIF) && bytes.Contains(out, []byte("null")) {
				t.Errorf("null in %s:\n%s", f, out)
			}
		})
	}
	golden(t, "empty.table.golden", render(t, FormatTable, r, Options{Terminal: &Terminal{Width: 100}}))
	golden(t, "empty.md.golden", render(t, FormatMarkdown, r, Options{}))
}

func TestRenderUnknownFormat(t *testing.T) {
	if err := Render(&bytes.Buffer{}, "pdf", fixtureReport(), Options{}); err == nil {
		t.Fatal("no error for an unknown format")
	}
	if err := CSV(&bytes.Buffer{}, fixtureReport(), Options{Records: "bogus"}); err == nil {
		t.Fatal("no error for unknown csv records")
	}
}

// TestCSVInjection: every cell a spreadsheet would evaluate is quoted.
func TestCSVInjection(t *testing.T) {
	for _, records := range []string{RecordsFindings, RecordsKeys, RecordsEndpoints} {
		out := render(t, FormatCSV, fixtureReport(), Options{Records: records})
		rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rows {
			for _, cell := range row {
				if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
					t.Errorf("%s: cell %q would be evaluated", records, cell)
				}
			}
		}
	}
	out := string(render(t, FormatCSV, fixtureReport(), Options{}))
	if !strings.Contains(out, `'=HYPERLINK(`) || !strings.Contains(out, `'-inventory key is weak`) {
		t.Errorf("formula cells not escaped:\n%s", out)
	}
}

// TestTerminalEscapes: no control character from a certificate reaches
// a terminal, a Markdown page or an XML file.
func TestTerminalEscapes(t *testing.T) {
	for _, f := range []string{FormatTable, FormatMarkdown, FormatJUnit, FormatHTML} {
		if out := render(t, f, fixtureReport(), Options{}); bytes.ContainsRune(out, 0x1b) {
			t.Errorf("%s output carries an ESC character", f)
		}
	}
}

// TestJUnitCases: one case per check and subject; failures at --fail-on,
// skipped when suppressed, a passing case for checks without findings.
func TestJUnitCases(t *testing.T) {
	type tc struct {
		Name    string    `xml:"name,attr"`
		Failure *struct{} `xml:"failure"`
		Skipped *struct{} `xml:"skipped"`
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Skipped  int `xml:"skipped,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Cases []tc   `xml:"testcase"`
		} `xml:"testsuite"`
	}
	for _, c := range []struct {
		failOn                   reconcile.Severity
		tests, failures, skipped int
	}{
		// 9 check×subject cases with findings (the two weak-crypto subjects
		// are two cases; kek-payments is a case under two checks) and one
		// passing case for revoked-but-deployed, which found nothing. At
		// high: 1 critical + 4 high fail; the suppressed high is skipped.
		{"", 10, 5, 1},
		{reconcile.Critical, 10, 1, 1},
		{reconcile.Low, 10, 8, 1},
		{FailNone, 10, 0, 1},
	} {
		if err := xml.Unmarshal(render(t, FormatJUnit, fixtureReport(), Options{FailOn: c.failOn}), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Tests != c.tests || doc.Failures != c.failures || doc.Skipped != c.skipped {
			t.Errorf("--fail-on %q: tests %d failures %d skipped %d; want %d %d %d", c.failOn, doc.Tests, doc.Failures, doc.Skipped, c.tests, c.failures, c.skipped)
		}
	}
}

// FuzzRender puts arbitrary text where certificates put attacker-chosen
// text (subject, issuer, SAN, key label, message): every format renders,
// the JSON ones stay valid, the page gains no element, no CSV cell is a
// formula.
func FuzzRender(f *testing.F) {
	for _, s := range []string{"CN=<script>alert(1)</script>", "=cmd|' /C calc'!A0", "\x1b[2J\x00\xff", "]]></failure><x>", "|*_`[x](javascript:1)",
		"@everyone #1 https://evil.example", "\"}\n{\"record\":\"finding\"", "\u202egnp.exe", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := fixtureReport()
		r.Findings[0].Subject, r.Findings[0].Message = s, s
		r.Findings[2].Source, r.Findings[1].Endpoint = s, s
		r.Findings[0].Evidence["issuer"] = s
		r.Observations[0].Chain[0].Subject, r.Observations[0].Chain[0].Issuer = s, s
		r.Observations[0].Chain[0].SANs = []string{s}
		r.Keys[0].Label, r.Keys[0].Owner = s, s
		r.Sightings[1].Names = []string{s}
		for _, format := range ReportFormats {
			var b bytes.Buffer
			if err := Render(&b, format, r, Options{}); err != nil {
				t.Fatalf("%s: %v", format, err)
			}
			out := b.Bytes()
			switch format {
			case FormatJSON, FormatSARIF, FormatCBOM:
				if !json.Valid(out) {
					t.Fatalf("%s: invalid JSON", format)
				}
				if format == FormatSARIF {
					if p := githubSARIFProblems(out); len(p) > 0 {
						t.Fatalf("sarif: GitHub would reject it: %s", p[0])
					}
				}
			case FormatJSONL:
				for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
					if !json.Valid(line) {
						t.Fatalf("jsonl: invalid line %q", line)
					}
				}
			case FormatJUnit:
				d := xml.NewDecoder(bytes.NewReader(out))
				for {
					if _, err := d.Token(); err != nil {
						if err.Error() != "EOF" {
							t.Fatalf("junit: %v", err)
						}
						break
					}
				}
			case FormatHTML:
				if bytes.Count(out, []byte("<script")) != 1 || bytes.Count(out, []byte("<svg")) != bytes.Count(render(t, FormatHTML, fixtureReport(), Options{}), []byte("<svg")) {
					t.Fatalf("html: the text added markup")
				}
			case FormatCSV:
				rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
				if err != nil {
					t.Fatalf("csv: %v", err)
				}
				for _, row := range rows {
					for _, cell := range row {
						if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
							t.Fatalf("csv: formula cell %q", cell)
						}
					}
				}
			}
		}
	})
}
