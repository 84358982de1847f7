package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/sqlite"
)

func findingsOf(t *testing.T, s string) []reconcile.Finding {
	t.Helper()
	return lines[reconcile.Finding](t, s)
}

// TestMissingStoreIsAnError: read-only commands never create a store.
func TestMissingStoreIsAnError(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "typo", "keyaudit.db")
	for _, args := range [][]string{{"runs"}, {"findings"}, {"report"}, {"audit-log", "verify"}} {
		r := runCLI(t, ctx, "", append([]string{"--store", path}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, "no store at") {
			t.Errorf("%v: exit %d, stderr %q; want 2 and 'no store at'", args, r.code, r.stderr)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("a read-only command created %s (%v)", path, err)
	}
	// reconcile with nothing to reconcile exits 2 and says why.
	r := runCLI(t, ctx, "", "--store", path, "reconcile")
	if r.code != 2 || !strings.Contains(r.stderr, "nothing to reconcile") {
		t.Errorf("empty reconcile: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestShardGroupAndReconcileRun: one shard of a two-shard group alone is
// read as incomplete (incomplete-input names the missing shard, nothing is
// called gone); reconcile --run refuses a running run and reads a
// finished one; read-only commands work on a read-only store file.
func TestShardGroupAndReconcileRun(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: TLS farm")
	}
	ctx := context.Background()
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	path := filepath.Join(t.TempDir(), "keyaudit.db")
	cidr, ports, _ := shardFarm(t)
	scan := func(extra ...string) result {
		args := append([]string{"--store", path, "scan", "--timeout", "5s", "--ports", ports, "--scope", cidr, "--format", "jsonl"}, extra...)
		return runCLI(t, ctx, "", append(args, cidr)...)
	}
	if r := scan("--shard", "1/2", "--run-group", "g"); r.code != 0 {
		t.Fatalf("shard 1/2: exit %d: %s", r.code, r.stderr)
	}
	r := runCLI(t, ctx, "", "--store", path, "reconcile", "--format", "jsonl", "--fail-on", "none")
	if r.code != 0 {
		t.Fatalf("reconcile: exit %d: %s", r.code, r.stderr)
	}
	incomplete := false
	for _, f := range findingsOf(t, r.stdout) {
		switch f.Check {
		case "endpoint-gone", "orphaned-key":
			t.Errorf("false %s: %s %s", f.Check, f.Subject, f.Endpoint)
		case "incomplete-input":
			if strings.Contains(f.Message, "shard 2/2 never ran") {
				incomplete = true
			}
		}
	}
	if !incomplete {
		t.Errorf("no incomplete-input naming the missing shard:\n%s", r.stdout)
	}
	// The second shard completes the group: incomplete-input resolves.
	if r := scan("--shard", "2/2", "--run-group", "g"); r.code != 0 {
		t.Fatalf("shard 2/2: exit %d: %s", r.code, r.stderr)
	}
	r = runCLI(t, ctx, "", "--store", path, "reconcile", "--format", "jsonl", "--fail-on", "none")
	for _, f := range findingsOf(t, r.stdout) {
		if f.Check == "incomplete-input" || f.Check == "endpoint-gone" {
			t.Errorf("after both shards: %s %s", f.Check, f.Message)
		}
	}

	// reconcile --run: a running run is refused, a finished one is read.
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	running, err := st.BeginRun(ctx, store.RunSpec{Kind: "scan", Holder: "test"})
	if err != nil {
		t.Fatal(err)
	}
	done, err := st.Runs(ctx, store.RunFilter{Kind: "scan", Status: []store.RunStatus{store.StatusComplete}, Limit: 1})
	if err != nil || len(done) == 0 {
		t.Fatal(err, done)
	}
	st.Close()
	r = runCLI(t, ctx, "", "--store", path, "reconcile", "--run", strconv.FormatInt(running.ID, 10))
	if r.code != 2 || !strings.Contains(r.stderr, "is running") {
		t.Errorf("reconcile --run %d (running): exit %d, %q", running.ID, r.code, r.stderr)
	}
	r = runCLI(t, ctx, "", "--store", path, "reconcile", "--fail-on", "none", "--format", "jsonl", "--run", strconv.FormatInt(done[0].ID, 10))
	if r.code != 0 {
		t.Errorf("reconcile --run %d: exit %d, %q", done[0].ID, r.code, r.stderr)
	}

	// Read-only commands on a read-only file leave it as it was.
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	for _, args := range [][]string{{"runs"}, {"findings", "--state", "all"}, {"report", "--format", "json", "--fail-on", "none"}, {"audit-log", "verify"}} {
		if r := runCLI(t, ctx, "", append([]string{"--store", path}, args...)...); r.code != 0 {
			t.Errorf("%v on a read-only store: exit %d: %s", args, r.code, r.stderr)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a read-only command changed the store file")
	}
}

// TestSNIIsPartOfTheEndpoint: "IP, NAME" targets that differ only in the
// name sent as SNI are distinct endpoints — in the store, in the estate,
// and in the findings — not one overwriting the other.
func TestSNIIsPartOfTheEndpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: TLS server")
	}
	ctx := context.Background()
	s, _ := tlsServer(t, "127.0.10.9:0", "sni.example.test")
	host, port, _ := strings.Cut(s.Addr, ":")
	path := filepath.Join(t.TempDir(), "k.db")
	stdin := host + ", a.example.test\n" + host + ", b.example.test\n"
	if r := runCLI(t, ctx, stdin, "--store", path, "scan", "--ports", port, "--scope", host+"/32", "--format", "jsonl", "-"); r.code != 0 {
		t.Fatalf("scan: exit %d: %s", r.code, r.stderr)
	}
	st := openStore(t, path)
	runs, err := st.Runs(ctx, store.RunFilter{Kind: "scan"})
	if err != nil || len(runs) != 1 {
		t.Fatal(runs, err)
	}
	if n, _ := st.Count(ctx, runs[0].ID, store.KindObservation); n != 2 {
		t.Fatalf("%d observations stored, want 2 (one per SNI)", n)
	}
	r := runCLI(t, ctx, "", "--store", path, "reconcile", "--format", "jsonl", "--fail-on", "none", "--check", "unmanaged-key")
	eps := map[string]bool{}
	for _, f := range findingsOf(t, r.stdout) {
		eps[f.Endpoint] = true
	}
	if len(eps) != 2 {
		t.Errorf("unmanaged-key endpoints %v, want one per SNI", eps)
	}
}

// TestStorePrecedence: --store beats $KEYAUDIT_STORE, which beats the
// config's store:, and -v says which store is used.
func TestStorePrecedence(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fromEnv, fromFlag := filepath.Join(dir, "env.db"), filepath.Join(dir, "flag.db")
	for _, p := range []string{fromEnv, fromFlag} {
		st := openStore(t, p)
		if _, err := st.BeginRun(ctx, store.RunSpec{Kind: filepath.Base(p)}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "keyaudit.yaml")
	if err := os.WriteFile(cfg, []byte("store: "+filepath.Join(dir, "config-missing.db")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KEYAUDIT_STORE", fromEnv)
	r := runCLI(t, ctx, "", "--config", cfg, "-v", "runs", "--format", "csv")
	if r.code != 0 || !strings.Contains(r.stdout, "env.db") || !strings.Contains(r.stderr, "env.db") {
		t.Errorf("env over config: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, ctx, "", "--config", cfg, "--store", fromFlag, "runs", "--format", "csv")
	if r.code != 0 || !strings.Contains(r.stdout, "flag.db") {
		t.Errorf("flag over env: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Setenv("KEYAUDIT_STORE", "")
	if r = runCLI(t, ctx, "", "--config", cfg, "runs"); r.code != 2 || !strings.Contains(r.stderr, "config-missing.db") {
		t.Errorf("config alone: exit %d %q", r.code, r.stderr)
	}
}
