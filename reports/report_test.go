package reports

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
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
		{"report.table.golden", FormatTable, Options{}},
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
	golden(t, "empty.table.golden", render(t, FormatTable, r, Options{}))
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
