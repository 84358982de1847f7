package main

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/ctlog"
	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/scanner"
	"github.com/keyaudit/keyaudit/scanner/caa"
	"github.com/keyaudit/keyaudit/stage"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/sqlite"
)

// reportStore is a SQLite store holding one finished run of each input
// kind and a reconcile over them, as the commands write them.
type reportStore struct {
	path                                   string
	inventory, scan, caa, ct, recon, audit int64
}

func putRun(t *testing.T, ctx context.Context, st store.Store, kind string, meta any, status store.RunStatus, note string, items ...store.Item) int64 {
	t.Helper()
	r, err := st.BeginRun(ctx, store.RunSpec{Kind: kind, Meta: meta})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) > 0 {
		if err := st.Put(ctx, r.ID, items...); err != nil {
			t.Fatal(err)
		}
	}
	if status != store.StatusRunning {
		if err := st.FinishRun(ctx, r.ID, status, note); err != nil {
			t.Fatal(err)
		}
	}
	return r.ID
}

func item(t *testing.T, kind, key string, v any) store.Item {
	t.Helper()
	it := store.Item{Kind: kind, Key: key}
	if err := marshalInto(&it, v); err != nil {
		t.Fatal(err)
	}
	return it
}

func newReportStore(t *testing.T) reportStore {
	t.Helper()
	ctx := context.Background()
	rs := reportStore{path: filepath.Join(t.TempDir(), "keyaudit.db")}
	st, err := sqlite.Open(ctx, rs.path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	leaf := certinfo.Cert{SHA256: strings.Repeat("a1", 32), SPKISHA256: strings.Repeat("b2", 32), Subject: "CN=www.example.test",
		Issuer: "CN=Example CA", Serial: "01", SANs: []string{"www.example.test"}, NotBefore: now.AddDate(0, -3, 0), NotAfter: now.AddDate(0, 0, -2),
		KeyType: "RSA", KeyBits: 2048, SignatureAlgorithm: "SHA256-RSA"}
	start := now.AddDate(-1, 0, 0)
	key := inventory.Key{Source: "pkcs11", Token: "hsm1", Label: "www", ID: "01", Class: inventory.ClassPrivateKey, KeyType: "RSA", KeyBits: 2048,
		SPKISHA256: leaf.SPKISHA256, Usage: []string{"sign"}, StartDate: &start, Owner: "web", Purpose: "TLS", Ref: "hsm1/private_key/01/www"}
	obs := scanner.Observation{Target: "www.example.test:443", Host: "www.example.test", IP: "127.0.1.1", Port: 443, Protocol: "tls",
		TLSVersion: "TLS 1.3", Time: now, Chain: []certinfo.Cert{leaf}}
	sg := ctlog.Sighting{Log: "https://ct.example.test/log", LogID: "log1", Index: 7, Timestamp: now, CertSHA256: leaf.SHA256,
		SPKISHA256: leaf.SPKISHA256, Issuer: leaf.Issuer, Names: []string{"www.example.test"}, Subject: leaf.Subject, NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter}
	rs.inventory = putRun(t, ctx, st, "inventory", nil, store.StatusComplete, "1 key", item(t, store.KindKey, key.Ref, key))
	rs.scan = putRun(t, ctx, st, "scan", nil, store.StatusComplete, "1 endpoint", item(t, store.KindObservation, obs.Target, obs))
	rs.caa = putRun(t, ctx, st, "caa", nil, store.StatusComplete, "", item(t, store.KindCAA, "example.test",
		caa.Result{Name: "example.test", RelevantName: "example.test", Reason: "only letsencrypt.org may issue", Time: now}))
	rs.ct = putRun(t, ctx, st, "ct", nil, store.StatusPartial, "log2 unreachable", item(t, store.KindSighting, sg.ItemKey(), sg))
	// A newer scan the reconcile did not read: the report must not show it.
	putRun(t, ctx, st, "scan", nil, store.StatusComplete, "", item(t, store.KindObservation, "other:443",
		scanner.Observation{Target: "other.example.test:443", Host: "other.example.test", Port: 443, Protocol: "tls", Chain: []certinfo.Cert{}}))

	findings := []reconcile.Finding{
		{Check: "certificate-expired", Severity: reconcile.High, Subject: leaf.Subject, SPKISHA256: leaf.SPKISHA256, CertSHA256: leaf.SHA256,
			Endpoint: "tls://www.example.test:443 (127.0.1.1)", Message: "certificate expired 2 days ago", Controls: []string{"PCI DSS 4.0 4.2.1"}, FirstSeen: now},
		{Check: "orphaned-key", Severity: reconcile.Low, Subject: "hsm1/old", Message: "key is not used", FirstSeen: now, Source: "keyaudit.yaml:7"},
		{Check: "unmanaged-key", Severity: reconcile.Critical, Subject: "CN=api", Message: "no inventory holds it", FirstSeen: now, Suppressed: true, SuppressedBy: "accepted"},
	}
	var fitems []store.Item
	for _, f := range findings {
		fitems = append(fitems, item(t, store.KindFinding, f.Fingerprint(), f))
	}
	inputs := []reconcile.SourceStatus{{Kind: "scan", RunID: rs.scan, Status: "complete"}, {Kind: "inventory", RunID: rs.inventory, Status: "complete"},
		{Kind: "caa", RunID: rs.caa, Status: "complete"}, {Kind: "ct", RunID: rs.ct, Status: "partial"}}
	rs.recon = putRun(t, ctx, st, "reconcile", map[string]any{"inputs": inputs}, store.StatusPartial, "3 findings", fitems...)

	// An audit run, still running as when it writes its reports, with a
	// failed stage.
	var sitems []store.Item
	for _, s := range []stage.Outcome{{Stage: "inventory", Status: "complete", RunID: rs.inventory}, {Stage: "scan", Status: "failed", Note: "could not run"},
		{Stage: "caa", Status: "complete", RunID: rs.caa}, {Stage: "ct", Status: "partial", RunID: rs.ct, Note: "log2 unreachable"},
		{Stage: "reconcile", Status: "partial", RunID: rs.recon}} {
		sitems = append(sitems, item(t, store.KindStage, s.Stage, s))
	}
	rs.audit = putRun(t, ctx, st, "audit", nil, store.StatusRunning, "", sitems...)
	return rs
}

func TestReportFormats(t *testing.T) {
	ctx := context.Background()
	rs := newReportStore(t)
	base := []string{"--store", rs.path, "report", "--now", "2026-11-25T10:00:00Z"}

	// json: the reconcile's own inputs and stages; rendering is not a
	// gate: exit 0 with a high finding, without --fail-on.
	res := runCLI(t, ctx, "", append(base, "--format", "json")...)
	if res.code != exitOK {
		t.Fatalf("exit %d, want 0; stderr:\n%s", res.code, res.stderr)
	}
	var doc struct {
		Schema string `json:"schema"`
		Run    struct {
			ID     int64  `json:"id"`
			Status string `json:"status"`
			Stages []struct {
				Name   string `json:"name"`
				RunID  int64  `json:"run_id"`
				Status string `json:"status"`
			} `json:"stages"`
		} `json:"run"`
		Summary struct {
			Failing int  `json:"failing"`
			Failed  bool `json:"failed"`
		} `json:"summary"`
		Rules        []struct{ ID string } `json:"rules"`
		Findings     []map[string]any      `json:"findings"`
		Keys         []map[string]any      `json:"keys"`
		Observations []map[string]any      `json:"observations"`
		CAA          []map[string]any      `json:"caa"`
		Sightings    []map[string]any      `json:"sightings"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, res.stdout)
	}
	if doc.Schema != "keyaudit-report/1" || doc.Run.ID != rs.recon || doc.Run.Status != "partial" {
		t.Errorf("schema %q run %d status %q", doc.Schema, doc.Run.ID, doc.Run.Status)
	}
	if len(doc.Findings) != 3 || len(doc.Keys) != 1 || len(doc.Observations) != 1 || len(doc.CAA) != 1 || len(doc.Sightings) != 1 {
		t.Errorf("findings %d keys %d observations %d caa %d sightings %d", len(doc.Findings), len(doc.Keys), len(doc.Observations), len(doc.CAA), len(doc.Sightings))
	}
	if len(doc.Observations) == 1 && doc.Observations[0]["host"] != "www.example.test" {
		t.Errorf("report shows a scan the reconcile did not read: %v", doc.Observations[0])
	}
	if len(doc.Run.Stages) != 5 || doc.Run.Stages[3].Name != "ct" || doc.Run.Stages[3].Status != "partial" || doc.Run.Stages[4].Name != "reconcile" {
		t.Errorf("stages %+v", doc.Run.Stages)
	}
	if doc.Summary.Failing != 1 || len(doc.Rules) < 10 {
		t.Errorf("failing %d, %d rules (from the registry)", doc.Summary.Failing, len(doc.Rules))
	}

	// An explicit --fail-on decides the exit code; the suppressed critical
	// never fails.
	for failOn, want := range map[string]int{"critical": exitOK, "high": exitFindings, "low": exitFindings, "none": exitOK} {
		if res := runCLI(t, ctx, "", append(base, "--fail-on", failOn)...); res.code != want {
			t.Errorf("--fail-on %s: exit %d, want %d\n%s", failOn, res.code, want, res.stderr)
		}
	}

	// Every format renders, to stdout and with -o.
	dir := t.TempDir()
	for _, format := range []string{"table", "jsonl", "csv", "sarif", "junit", "markdown", "html", "cbom"} {
		out := filepath.Join(dir, "report."+format)
		res := runCLI(t, ctx, "", append(base, "--format", format, "-o", out, "--fail-on", "none")...)
		if res.code != exitOK {
			t.Fatalf("%s: exit %d\n%s", format, res.code, res.stderr)
		}
		b, err := os.ReadFile(out)
		if err != nil || len(b) == 0 {
			t.Fatalf("%s: %v (%d bytes)", format, err, len(b))
		}
		if res.stdout != "" {
			t.Errorf("%s: -o also wrote to stdout", format)
		}
		switch format {
		case "sarif", "cbom":
			if !json.Valid(b) {
				t.Errorf("%s is not JSON", format)
			}
		case "junit":
			var v struct {
				Failures int `xml:"failures,attr"`
				Skipped  int `xml:"skipped,attr"`
			}
			if err := xml.Unmarshal(b, &v); err != nil || v.Failures != 0 || v.Skipped != 1 {
				t.Errorf("junit with --fail-on none: %v, %+v", err, v)
			}
		case "table":
			if !strings.Contains(string(b), "certificate-expired") || !strings.Contains(string(b), "stage ct partial") {
				t.Errorf("table lacks the finding or the partial stage:\n%s", b)
			}
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 8 {
		t.Errorf("-o left %d files (temporary files behind?)", len(entries))
	}
	// JUnit's cases fail at high without --fail-on, and report exits 0.
	res = runCLI(t, ctx, "", append(base, "--format", "junit")...)
	var ju struct {
		Failures int `xml:"failures,attr"`
	}
	if err := xml.Unmarshal([]byte(res.stdout), &ju); err != nil || ju.Failures != 1 || res.code != exitOK {
		t.Errorf("junit: %v, failures %d, exit %d", err, ju.Failures, res.code)
	}
	// The pull request summary: counts and the top findings, exit 0.
	res = runCLI(t, ctx, "", append(base, "--format", "markdown", "--summary")...)
	if res.code != exitOK || !strings.Contains(res.stdout, "### keyaudit: FAIL: 1 unsuppressed findings at or above high") ||
		!strings.Contains(res.stdout, "#### Top findings") || strings.Contains(res.stdout, "## Key inventory") {
		t.Errorf("summary: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	// csv keys.
	res = runCLI(t, ctx, "", append(base, "--format", "csv", "--records", "keys", "--fail-on", "none")...)
	if lines := strings.Split(strings.TrimSpace(res.stdout), "\n"); res.code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "source,token,label") {
		t.Errorf("csv keys: exit %d\n%s", res.code, res.stdout)
	}
}

// TestReportAuditRun reports an audit run: its stages, including the
// failed one, and its reconcile's findings.
func TestReportAuditRun(t *testing.T) {
	ctx := context.Background()
	rs := newReportStore(t)
	res := runCLI(t, ctx, "", "--store", rs.path, "report", "--run", itoa64(rs.audit), "--format", "markdown", "--fail-on", "none")
	if res.code != exitOK {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	for _, want := range []string{"| scan | failed |", "could not run", "`certificate-expired`", "run " + itoa64(rs.audit) + " (audit, partial"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("markdown lacks %q:\n%s", want, res.stdout)
		}
	}
}

func TestReportErrors(t *testing.T) {
	ctx := context.Background()
	rs := newReportStore(t)
	empty := filepath.Join(t.TempDir(), "empty.db")
	if st, err := sqlite.Open(ctx, empty); err != nil {
		t.Fatal(err)
	} else {
		st.Close()
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown format", []string{"--store", rs.path, "report", "--format", "pdf"}, "--format"},
		{"bad fail-on", []string{"--store", rs.path, "report", "--fail-on", "severe"}, "--fail-on"},
		{"summary not markdown", []string{"--store", rs.path, "report", "--summary"}, "--summary"},
		{"bad records", []string{"--store", rs.path, "report", "--format", "csv", "--records", "certs"}, "--records"},
		{"bad run", []string{"--store", rs.path, "report", "--run", "x"}, "--run"},
		{"no such run", []string{"--store", rs.path, "report", "--run", "9999"}, "no such run"},
		{"not a reconcile", []string{"--store", rs.path, "report", "--run", itoa64(rs.scan)}, "is a scan run"},
		{"no reconcile yet", []string{"--store", empty, "report"}, "no finished reconcile run"},
		{"no store", []string{"--no-store", "report"}, "--no-store"},
		{"unwritable output", []string{"--store", rs.path, "report", "-o", filepath.Join(t.TempDir(), "missing", "r.html")}, "-o"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := runCLI(t, ctx, "", c.args...)
			if res.code != exitError || !strings.Contains(res.stderr, c.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 mentioning %q", res.code, res.stderr, c.want)
			}
		})
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// TestReportOutputNotAFile: -o names a device (a private /dev/full) or a
// link to one: the report is written through it, the write error is
// exit 2, and neither the device nor the link is replaced by a file.
func TestReportOutputNotAFile(t *testing.T) {
	ctx := context.Background()
	rs := newReportStore(t)
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	if err := syscall.Mknod(full, syscall.S_IFCHR|0o666, 1<<8|7); err != nil {
		t.Skipf("mknod (needs root): %v", err)
	}
	link := filepath.Join(dir, "report.html")
	if err := os.Symlink(full, link); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{full, link} {
		res := runCLI(t, ctx, "", "--store", rs.path, "report", "--format", "html", "-o", out, "--fail-on", "none")
		if res.code != exitError || !strings.Contains(res.stderr, "no space left on device") {
			t.Errorf("-o %s: exit %d, stderr %q", out, res.code, res.stderr)
		}
	}
	if fi, err := os.Lstat(full); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Errorf("the device was replaced: %v %v", fi.Mode(), err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v %v", fi.Mode(), err)
	}
}

// TestReportSARIFConfigLines: with --config, a SARIF result is placed at
// the config line of its scan target; a finding no config line
// configures keeps the line it names or a synthetic path.
func TestReportSARIFConfigLines(t *testing.T) {
	ctx := context.Background()
	rs := newReportStore(t)
	dir := t.TempDir()
	t.Chdir(dir) // the repository root GitHub resolves paths against
	cfg := "scan:\n  targets:\n    - 127.0.3.1\n    - www.example.test\n"
	if err := os.WriteFile("keyaudit.yaml", []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	res := runCLI(t, ctx, "", "--config", "keyaudit.yaml", "--store", rs.path, "report", "--format", "sarif")
	if res.code != exitOK {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	var log struct {
		Runs []struct {
			Results []struct {
				RuleID    string `json:"ruleId"`
				Locations []struct {
					Physical struct {
						Artifact struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
						Region struct {
							StartLine int `json:"startLine"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &log); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range log.Runs[0].Results {
		p := r.Locations[0].Physical
		got[r.RuleID] = p.Artifact.URI + ":" + strconv.Itoa(p.Region.StartLine)
	}
	for check, want := range map[string]string{"certificate-expired": "keyaudit.yaml:4", "orphaned-key": "keyaudit.yaml:7",
		"unmanaged-key": "keyaudit/checks/unmanaged-key:1"} {
		if !strings.HasPrefix(got[check], want) {
			t.Errorf("%s at %q, want %q", check, got[check], want)
		}
	}
}
