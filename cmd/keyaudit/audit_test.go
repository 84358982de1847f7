package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyaudit/keyaudit/store"
)

func TestAuditStagesAndExitCodes(t *testing.T) {
	s, _ := tlsServer(t, "127.0.10.8:0", "audit.example.test")
	dir := t.TempDir()
	db := filepath.Join(dir, "k.db")
	cfg := filepath.Join(dir, "keyaudit.yaml")
	os.WriteFile(cfg, []byte("store: "+db+"\nscan:\n  timeout: 2s\n  targets: ["+s.Addr+"]\n"), 0o644)
	html, sarif := filepath.Join(dir, "out", "audit.html"), filepath.Join(dir, "out", "audit.sarif")
	// --report creates folders only inside the working directory.
	if r := runCLI(t, context.Background(), "", "--config", cfg, "audit", "--report", "html="+html); r.code != 2 || !strings.Contains(r.stderr, "does not exist") {
		t.Fatalf("--report into a missing folder elsewhere: exit %d %q", r.code, r.stderr)
	}
	if err := os.Mkdir(filepath.Dir(html), 0o755); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, context.Background(), "", "--config", cfg, "audit", "--report", "html="+html, "--report", "sarif="+sarif)
	if r.code != 1 {
		t.Fatalf("audit: exit %d, want 1 (unmanaged key is critical)\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"scan", "complete", "skipped", "unmanaged-key", "CN=audit.example.test"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("audit output lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, p := range []string{html, sarif} {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), "audit.example.test") {
			t.Errorf("report %s: %v (%d bytes)", p, err, len(b))
		}
	}
	st := openStore(t, db)
	run, err := store.Latest(context.Background(), st, "audit")
	if err != nil || run.Status != store.StatusComplete || !strings.Contains(run.Note, "critical") {
		t.Errorf("audit run %+v %v", run, err)
	}
	if n, _ := st.Count(context.Background(), run.ID, "stage"); n != 6 {
		t.Errorf("%d stages recorded, want 6 (inventory, scan, ct, caa, validity, reconcile)", n)
	}
	st.Close()

	// An invalid target is refused before anything runs: exit 2, no run.
	os.WriteFile(cfg, []byte("store: "+db+"\nscan:\n  targets: [\"http://not-a-target\"]\n"), 0o644)
	r = runCLI(t, context.Background(), "", "--config", cfg, "audit", "--fail-on", "none")
	if r.code != 2 || !strings.Contains(r.stderr, "not-a-target") {
		t.Errorf("invalid target: exit %d stderr %q", r.code, r.stderr)
	}
	st = openStore(t, db)
	if again, _ := store.Latest(context.Background(), st, "audit"); again.ID != run.ID {
		t.Errorf("an audit refused before it ran recorded run %d", again.ID)
	}
	st.Close()

	// A stage that fails while the audit runs makes it partial, exit 2.
	os.WriteFile(cfg, []byte("store: "+db+"\ninventory:\n  sources:\n    - path: "+filepath.Join(dir, "no-such-dir")+"\nscan:\n  timeout: 2s\n  targets: ["+s.Addr+"]\n"), 0o644)
	r = runCLI(t, context.Background(), "", "--config", cfg, "audit", "--fail-on", "none")
	if r.code != 2 || !strings.Contains(r.stderr, "partial") {
		t.Errorf("failed stage: exit %d stderr %q", r.code, r.stderr)
	}
	st = openStore(t, db)
	run, _ = store.Latest(context.Background(), st, "audit")
	if run.Status != store.StatusPartial || !strings.Contains(run.Note, "inventory failed") {
		t.Errorf("audit run after a failed stage: %+v", run)
	}
	st.Close()
}

func TestConfigCheck(t *testing.T) {
	r := runCLI(t, context.Background(), "", "--config", "../../examples/keyaudit.yaml", "config", "check")
	if r.code != 0 {
		t.Fatalf("examples/keyaudit.yaml: exit %d: %s", r.code, r.stderr)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("scan:\n  portz: 443\npolicy:\n  min_rsa_bitz: 1\nsuppressions:\n  - check: unmanaged-key\nfrobnicate: 1\n"), 0o644)
	r = runCLI(t, context.Background(), "", "--config", bad, "config", "check")
	if r.code != 2 {
		t.Fatalf("bad config: exit %d", r.code)
	}
	for _, want := range []string{"portz", "min_rsa_bitz", "no reason", "frobnicate"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}
