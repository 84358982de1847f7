package stage

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyaudit/keyaudit/store"
)

func TestSelectStages(t *testing.T) {
	configured := map[string]bool{"scan": true, "caa": true}
	skip, err := SelectStages(configured, nil)
	if err != nil || skip["scan"] != "" || skip["caa"] != "" || skip["inventory"] == "" || skip["ct"] == "" {
		t.Fatalf("configured: %v %v", skip, err)
	}
	skip, err = SelectStages(configured, []string{"ct"})
	if err != nil || skip["ct"] != "" || skip["scan"] == "" {
		t.Fatalf("requested: %v %v", skip, err)
	}
	if _, err := SelectStages(configured, []string{"scna"}); err == nil || !strings.Contains(err.Error(), `unknown stage "scna"`) {
		t.Fatalf("typo: %v", err)
	}
}

func TestParseReportSpecs(t *testing.T) {
	specs, err := ParseReportSpecs([]string{"html=out/a.html", "sarif=k.sarif"}, false)
	if err != nil || len(specs) != 2 || specs[0] != (ReportSpec{Format: "html", Path: "out/a.html"}) {
		t.Fatalf("%+v %v", specs, err)
	}
	// A folder outside the working directory is never created.
	missing := filepath.Join(t.TempDir(), "no", "such", "dir", "a.html")
	if _, err := ParseReportSpecs([]string{"html=" + missing}, false); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing folder outside the working directory: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !os.IsNotExist(err) {
		t.Errorf("folder created: %v", err)
	}
	// The config's reports folder is the operator's choice.
	if specs, err := ParseReportSpecs([]string{"html=" + missing}, true); err != nil || !specs[0].Configured {
		t.Errorf("configured report: %+v %v", specs, err)
	}
	for _, bad := range []string{"html", "=x", "pdf=a.pdf"} {
		if _, err := ParseReportSpecs([]string{bad}, false); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestAuditTable(t *testing.T) {
	var b bytes.Buffer
	r := AuditResult{RunID: 7, Status: store.StatusPartial, Note: "1 high; ct failed",
		Stages: []Outcome{{Stage: "scan", Status: store.StatusComplete, RunID: 8, TookText: "1s"}, {Stage: "ct", Status: StageFailed, Note: "unreachable"}}}
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"keyaudit audit run 7: partial — 1 high; ct failed", "scan", "complete", "unreachable"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
