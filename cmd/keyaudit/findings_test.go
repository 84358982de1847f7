package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/store"
)

func TestFindingsCommand(t *testing.T) {
	s, _ := tlsServer(t, "127.0.10.14:0", "findings.example.test")
	db := filepath.Join(t.TempDir(), "k.db")
	ctx := context.Background()
	if r := runCLI(t, ctx, "", "--store", db, "scan", "--timeout", "2s", "--format", "jsonl", s.Addr); r.code != 0 {
		t.Fatalf("scan: exit %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, ctx, "", "--store", db, "reconcile", "--format", "jsonl"); r.code != 1 {
		t.Fatalf("reconcile: exit %d %s", r.code, r.stderr)
	}

	// The table counts findings by severity and check; -v lists each.
	r := runCLI(t, ctx, "", "--store", db, "findings")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "1 finding: 1 critical\n") || !strings.Contains(r.stdout, "unmanaged-key      1") || strings.Contains(r.stdout, "STATE") {
		t.Fatalf("table: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, ctx, "", "--store", db, "findings", "-v")
	if r.code != 0 || !strings.Contains(r.stdout, "open  critical") || !strings.Contains(r.stdout, "subject     CN=findings.example.test") {
		t.Fatalf("table -v: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	rows := lines[reports.FindingRow](t, runCLI(t, ctx, "", "--store", db, "findings", "--format", "jsonl", "--history", "--check", "unmanaged-key").stdout)
	if len(rows) != 1 {
		t.Fatalf("%d unmanaged-key findings, want 1", len(rows))
	}
	f := rows[0]
	if f.State != store.FindingOpen || f.Check != "unmanaged-key" || len(f.Fingerprint) == 0 || f.FirstSeen.IsZero() ||
		len(f.History) != 1 || f.History[0].Event != store.EventOpened || f.History[0].Fingerprint != f.Fingerprint {
		t.Errorf("finding %+v", f)
	}
	if r := runCLI(t, ctx, "", "--store", db, "findings", "--state", "Resolved", "--format", "json"); r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("resolved: exit %d %q %s", r.code, r.stdout, r.stderr)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--store", db, "findings", "--state", "closed"}, `--state "closed": want open, resolved or all`},
		{[]string{"--store", db, "findings", "--check", "nope"}, `--check: unknown check "nope" (see keyaudit checks list)`},
		{[]string{"--no-store", "findings"}, "findings reads the store: it cannot run with --no-store"},
	} {
		r := runCLI(t, ctx, "", tt.args...)
		if r.code != 2 || r.stdout != "" || r.stderr != "keyaudit: "+tt.want+"\n" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want %q", tt.args, r.code, r.stdout, r.stderr, tt.want)
		}
	}
}
