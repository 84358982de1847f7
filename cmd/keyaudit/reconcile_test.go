package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/store"
)

func TestReconcileScanAgainstEmptyInventory(t *testing.T) {
	s, _ := tlsServer(t, "127.0.10.7:0", "rec.example.test")
	dir := t.TempDir()
	db := filepath.Join(dir, "k.db")
	if r := runCLI(t, context.Background(), "", "--store", db, "scan", "--timeout", "2s", "--format", "jsonl", s.Addr); r.code != 0 {
		t.Fatalf("scan: exit %d %s", r.code, r.stderr)
	}
	r := runCLI(t, context.Background(), "", "--store", db, "reconcile", "--format", "jsonl")
	if r.code != 1 {
		t.Fatalf("reconcile: exit %d, want 1 (critical finding); stderr %s", r.code, r.stderr)
	}
	var fs []reconcile.Finding
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var f reconcile.Finding
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		fs = append(fs, f)
	}
	var unmanaged *reconcile.Finding
	for i := range fs {
		if fs[i].Check == "unmanaged-key" {
			unmanaged = &fs[i]
		}
	}
	if unmanaged == nil || unmanaged.Severity != reconcile.Critical || unmanaged.Subject != "CN=rec.example.test" || len(unmanaged.SPKISHA256) != 64 {
		t.Fatalf("findings %+v: want a critical unmanaged-key for CN=rec.example.test", fs)
	}
	// Findings are recorded in a reconcile run.
	st := openStore(t, db)
	run, err := store.Latest(context.Background(), st, "reconcile")
	if err != nil || run.Status != store.StatusComplete {
		t.Fatalf("reconcile run %+v %v", run, err)
	}
	if n, _ := st.Count(context.Background(), run.ID, store.KindFinding); n != int64(len(fs)) {
		t.Errorf("stored %d findings, printed %d", n, len(fs))
	}
	st.Close()

	// Suppressing it (and failing only on critical) makes the run pass;
	// first_seen is carried over from the previous reconcile.
	cfg := filepath.Join(dir, "keyaudit.yaml")
	os.WriteFile(cfg, []byte("store: "+db+"\nsuppressions:\n  - check: unmanaged-key\n    subject: \"CN=rec.*\"\n    reason: lab server\n    until: 2099-01-01T00:00:00Z\n"), 0o644)
	r2 := runCLI(t, context.Background(), "", "--config", cfg, "reconcile", "--format", "json", "--fail-on", "critical")
	if r2.code != 0 {
		t.Fatalf("suppressed reconcile: exit %d: %s", r2.code, r2.stderr)
	}
	var fs2 []reconcile.Finding
	if err := json.Unmarshal([]byte(r2.stdout), &fs2); err != nil {
		t.Fatal(err)
	}
	for _, f := range fs2 {
		if f.Check == "unmanaged-key" && (!f.Suppressed || !f.FirstSeen.Equal(unmanaged.FirstSeen)) {
			t.Errorf("second run: %+v", f)
		}
	}
}

func TestReconcileErrorsAndChecksList(t *testing.T) {
	db := filepath.Join(t.TempDir(), "k.db")
	for _, args := range [][]string{
		{"--store", db, "reconcile", "--fail-on", "urgent"},
		{"--store", db, "reconcile", "--check", "no-such-check"},
		{"--store", db, "reconcile", "--run", "999"},
		{"--no-store", "reconcile"},
	} {
		if r := runCLI(t, context.Background(), "", args...); r.code != 2 || r.stderr == "" {
			t.Errorf("%v: exit %d stderr %q", args, r.code, r.stderr)
		}
	}
	r := runCLI(t, context.Background(), "", "checks", "list", "--format", "jsonl")
	if r.code != 0 || strings.Count(r.stdout, "\n") != len(reconcile.Checks()) || !strings.Contains(r.stdout, `"id":"unmanaged-key"`) {
		t.Errorf("checks list: exit %d\n%s", r.code, r.stdout)
	}
}

func TestReconcileIgnoreFile(t *testing.T) {
	s, _ := tlsServer(t, "127.0.10.9:0", "ignored.example.test")
	dir := t.TempDir()
	db := filepath.Join(dir, "k.db")
	if r := runCLI(t, context.Background(), "", "--store", db, "scan", "--timeout", "2s", "--format", "jsonl", s.Addr); r.code != 0 {
		t.Fatalf("scan: exit %d %s", r.code, r.stderr)
	}
	ign := filepath.Join(dir, "ignore.yaml")
	os.WriteFile(ign, []byte(`# accepted risks
- check: unmanaged-key
  subject: "CN=ignored.*"
  reason: lab server, replaced in Q1
  until: 2099-01-01T00:00:00Z
- check: self-signed-certificate
  subject: "CN=*"
  reason: expired acceptance
  until: 2020-01-01T00:00:00Z
`), 0o644)
	r := runCLI(t, context.Background(), "", "--store", db, "reconcile", "--format", "jsonl", "--ignore-file", ign, "--fail-on", "critical")
	if r.code != 0 {
		t.Fatalf("exit %d: %s\n%s", r.code, r.stderr, r.stdout)
	}
	if !strings.Contains(r.stdout, `"check":"suppression-expired"`) || !strings.Contains(r.stdout, ign+":6") {
		t.Errorf("expired suppression not reported with its location:\n%s", r.stdout)
	}
	for _, bad := range []string{
		"- check: unmanaged-key\n  subject: x\n  until: 2099-01-01T00:00:00Z\n",              // no reason
		"- check: unmanaged-key\n  subject: x\n  reason: r\n",                                // no until
		"- check: nope\n  subject: x\n  reason: r\n  until: 2099-01-01T00:00:00Z\n",          // unknown check
		"- check: unmanaged-key\n  reason: r\n  until: 2099-01-01T00:00:00Z\n",               // matches everything
		"- check: unmanaged-key\n  subjekt: x\n  reason: r\n  until: 2099-01-01T00:00:00Z\n", // typo
	} {
		os.WriteFile(ign, []byte(bad), 0o644)
		if r := runCLI(t, context.Background(), "", "--store", db, "reconcile", "--ignore-file", ign); r.code != 2 || !strings.Contains(r.stderr, ign) {
			t.Errorf("%q: exit %d stderr %q", bad, r.code, r.stderr)
		}
	}
}

func TestChecksListOrder(t *testing.T) {
	r := runCLI(t, context.Background(), "", "checks", "list", "--format", "jsonl")
	rules := lines[reports.Rule](t, r.stdout)
	if r.code != 0 || len(rules) != len(reconcile.Checks()) {
		t.Fatalf("exit %d, %d checks", r.code, len(rules))
	}
	for i := 1; i < len(rules); i++ {
		a, b := rules[i-1], rules[i]
		if a.Severity.Rank() < b.Severity.Rank() || a.Severity == b.Severity && a.ID >= b.ID {
			t.Errorf("%s (%s) before %s (%s): want most severe first, then by ID", a.ID, a.Severity, b.ID, b.Severity)
		}
	}
	r = runCLI(t, context.Background(), "", "checks", "list", "--format", "csv")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "ID,SEVERITY,DESCRIPTION,CITATIONS\n"+rules[0].ID+","+string(rules[0].Severity)+",") {
		t.Errorf("csv: exit %d\n%.300s", r.code, r.stdout)
	}
}
