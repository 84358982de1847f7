package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keyaudit/keyaudit/internal/config"
)

// writeConfig writes a config file into a temp dir and returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "keyaudit.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigCheckValidatesAsCommands: a value a command refuses before it
// runs is refused by config check too, with the same message — config
// check once said ok for concurrency: -5, ports: "0,70000" and a
// pin-value in a PKCS#11 URI.
func TestConfigCheckValidatesAsCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := filepath.Join(dir, "k.db")
	for _, c := range []struct {
		section string
		run     []string // the command the section configures
		want    string
	}{
		{"scan:\n  concurrency: -5\n", []string{"scan", "--no-store", "127.0.0.1"}, "must not be negative"},
		{"scan:\n  ports: \"0,70000\"\n", []string{"scan", "--no-store", "127.0.0.1"}, "--ports: invalid port"},
		{"scan:\n  targets: [\"300.1.1.1\"]\n", []string{"scan", "--no-store"}, "300.1.1.1"},
		{"scan:\n  format: pdf\n", []string{"scan", "--no-store", "127.0.0.1"}, `unknown format "pdf"`},
		{"inventory:\n  pkcs11: [\"pkcs11:token=t?pin-value=1234\"]\n", []string{"inventory", "--no-store"}, "pin-value is not accepted"},
		{"inventory:\n  sources:\n    - pkcs11: \"pkcs11:token=t?pin-value=1234\"\n", []string{"inventory", "--no-store"}, "pin-value is not accepted"},
		{"inventory:\n  sources:\n    - path: /x\n      cryptoperiod: forever\n", []string{"inventory", "--no-store"}, "inventory.sources[0]"},
		{"caa:\n  concurrency: 0\n", []string{"caa", "--no-store", "example.test"}, "must be positive"},
		{"ct-sync:\n  from: yesterday\n", []string{"ct", "sync", "--no-store", "--watch", "example.test"}, "yesterday"},
		{"ct-watch:\n  batch-size: 100000\n", []string{"ct", "watch", "--no-store", "--watch", "example.test"}, "batch size"},
		{"reconcile:\n  fail-on: severe\n", []string{"--store", store, "reconcile"}, "--fail-on"},
		{"reconcile:\n  check: [no-such-check]\n", []string{"--store", store, "reconcile"}, "no-such-check"},
		{"report:\n  format: pdf\n", []string{"--store", store, "report"}, "--format"},
		{"report:\n  now: yesterday\n", []string{"--store", store, "report"}, "--now"},
		{"audit:\n  stages: [bogus]\n", []string{"--store", store, "audit"}, "unknown stage \"bogus\""},
		{"audit:\n  reports:\n    - {format: pdf, output: r.pdf}\n", []string{"--store", store, "audit"}, "unknown format"},
		{"runs:\n  limit: -1\n", []string{"--store", store, "runs"}, "--limit must not be negative"},
		{"runs:\n  status: [sleeping]\n", []string{"--store", store, "runs"}, "--status"},
		{"findings:\n  state: closed\n", []string{"--store", store, "findings"}, "--state"},
		{"worker:\n  scan-workers: -1\n", []string{"--store", store, "worker"}, "must not be negative"},
		{"worker:\n  scope: [not-a-cidr]\n", []string{"--store", store, "worker"}, "--scope"},
		{"enqueue-scan:\n  shards: 0\n", []string{"--store", store, "enqueue", "scan", "127.0.0.1"}, "--shards"},
		{"policy:\n  severity: {no-such-check: low}\n", []string{"--store", store, "reconcile"}, `policy.severity: unknown check "no-such-check"`},
		{"policy:\n  severity: {weak-key: urgent}\n", []string{"--store", store, "reconcile"}, `unknown severity "urgent"`},
		{"policy:\n  stale-after: soon\n", []string{"--store", store, "reconcile"}, `policy.stale-after: duration "soon"`},
		{"policy:\n  min_rsa_bits: 2048\n  min-rsa-bits: 3072\n", []string{"--store", store, "reconcile"}, "min_rsa_bits and min-rsa-bits are one setting"},
		{"scan:\n  timeout: 3mo\n", []string{"scan", "--no-store", "127.0.0.1"}, `duration "3mo"`},
	} {
		cfg := writeConfig(t, c.section)
		r := runCLI(t, ctx, "", "--config", cfg, "config", "check")
		if r.code != exitError || !strings.Contains(r.stderr, c.want) {
			t.Errorf("config check of %q: exit %d, stderr %q; want exit 2 mentioning %q", c.section, r.code, r.stderr, c.want)
		}
		r = runCLI(t, ctx, "", append([]string{"--config", cfg}, c.run...)...)
		if r.code != exitError || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s with %q: exit %d, stderr %q; want exit 2 mentioning %q", c.run, c.section, r.code, r.stderr, c.want)
		}
	}
	if _, err := os.Stat(store); err == nil {
		t.Error("a refused command created the store")
	}
}

// TestConfigEveryCommandSection: every command's flags are keys of its
// config section, accepted by config check and when the command runs;
// top-level verbose: takes effect. A runs: section, or any other than a
// once fixed list, was refused only when a command ran, and verbose:
// was ignored.
func TestConfigEveryCommandSection(t *testing.T) {
	ctx := context.Background()
	// Each command's flags at their defaults, in its section.
	var body strings.Builder
	root := newRoot(&app{stdin: bytes.NewReader(nil), stdout: io.Discard, stderr: io.Discard})
	sch := configSchema(root)
	sections := 0
	for name, fs := range sch.Commands {
		if _, setting := sch.Settings[name]; setting || sch.Globals.Lookup(name) != nil {
			continue // "ct:" and "revoke:" are structured settings, "config:" the --config flag
		}
		sections++
		body.WriteString(name + ":\n")
		fs.VisitAll(func(f *pflag.Flag) {
			if _, slice := f.Value.(pflag.SliceValue); slice || f.Name == "config" {
				return
			}
			body.WriteString("  " + f.Name + ": \"" + f.DefValue + "\"\n")
		})
	}
	if sections < 20 {
		t.Fatalf("only %d command sections", sections)
	}
	cfg := writeConfig(t, body.String())
	if r := runCLI(t, ctx, "", "--config", cfg, "config", "check"); r.code != 0 {
		t.Fatalf("config check of every command's defaults: exit %d\n%s\n%s", r.code, r.stderr, body.String())
	}

	store := filepath.Join(t.TempDir(), "k.db")
	cfg = writeConfig(t, "store: "+store+"\nverbose: true\nruns:\n  limit: 1\n  format: jsonl\nrevoke-log:\n  all: true\nrevoke:\n  acme_directory: https://acme.example/dir\n")
	if r := runCLI(t, ctx, "", "--config", cfg, "config", "check"); r.code != 0 {
		t.Fatalf("config check: exit %d: %s", r.code, r.stderr)
	}
	if r := runCLI(t, ctx, "", "--config", cfg, "scan", "127.0.0.1:1"); r.code != 0 || !strings.Contains(r.stderr, "level=DEBUG") {
		t.Errorf("scan with verbose: true: exit %d, no debug lines on stderr:\n%s", r.code, r.stderr)
	}
	r := runCLI(t, ctx, "", "--config", cfg, "runs")
	if r.code != 0 || len(lines[map[string]any](t, r.stdout)) != 1 {
		t.Errorf("runs with a runs: section: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, ctx, "", "--config", cfg, "revoke", "log"); r.code != 0 {
		t.Errorf("revoke log with a revoke-log: section: exit %d: %s", r.code, r.stderr)
	}

	// An unknown key in such a section: refused by both, alike.
	cfg = writeConfig(t, "store: "+store+"\nruns:\n  limitt: 1\n")
	for _, args := range [][]string{{"config", "check"}, {"runs"}} {
		if r := runCLI(t, ctx, "", append([]string{"--config", cfg}, args...)...); r.code != exitError || !strings.Contains(r.stderr, `unknown key "limitt"`) {
			t.Errorf("%s: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

// TestSchemaOfInheritsParentFlags: a subcommand's section takes its
// parents' persistent flags, as the command does when it runs.
func TestSchemaOfInheritsParentFlags(t *testing.T) {
	root := &cobra.Command{Use: "keyaudit"}
	root.PersistentFlags().String("store", "", "")
	parent := &cobra.Command{Use: "revoke"}
	parent.PersistentFlags().String("audit-log-file", "", "")
	plan := &cobra.Command{Use: "plan", Run: func(*cobra.Command, []string) {}}
	plan.Flags().String("reason", "", "")
	parent.AddCommand(plan)
	root.AddCommand(parent)
	f, err := config.Parse([]byte("revoke-plan:\n  audit-log-file: /x\n  reason: keyCompromise\n"))
	if err != nil {
		t.Fatal(err)
	}
	if errs := f.Check(config.SchemaOf(root, nil, nil)); len(errs) != 0 {
		t.Errorf("Check: %v", errs)
	}
}

// TestConfigOldSpellings: a config written with the snake_case keys of
// earlier releases still works, each old key warned about once, naming
// its new spelling; durations read days, weeks and years.
func TestConfigOldSpellings(t *testing.T) {
	ctx := context.Background()
	store := filepath.Join(t.TempDir(), "k.db")
	old := writeConfig(t, `policy:
  min_rsa_bits: 3072
  orphan_min_age: 30d
  cryptoperiods: {key_transport: 2y}
  severity: {stale-observation: high}
revoke:
  acme_directory: https://127.0.0.1:14000/dir
  audit_log_file: audit.jsonl
scan:
  timeout: 1d
`)
	wantWarnings := []string{
		"policy.min_rsa_bits is deprecated: it is spelled policy.min-rsa-bits now",
		"policy.orphan_min_age is deprecated: it is spelled policy.orphan-min-age now",
		"policy.cryptoperiods.key_transport is deprecated: it is spelled policy.cryptoperiods.key-transport now",
		"revoke.acme_directory is deprecated: it is spelled revoke.acme-directory now",
		"revoke.audit_log_file is deprecated: it is spelled revoke.audit-log-file now",
	}
	for _, args := range [][]string{{"config", "check"}, {"--store", store, "reconcile", "--fail-on", "none"}} {
		r := runCLI(t, ctx, "", append([]string{"--config", old}, args...)...)
		// reconcile gets past its config, to the empty store.
		if r.code != exitOK && !strings.Contains(r.stderr, "nothing to reconcile") {
			t.Fatalf("%s: exit %d, stderr %q", args, r.code, r.stderr)
		}
		for _, w := range wantWarnings {
			if n := strings.Count(r.stderr, w); n != 1 {
				t.Errorf("%s: warning %q printed %d times; stderr:\n%s", args, w, n, r.stderr)
			}
		}
		if n := strings.Count(r.stderr, "deprecated"); n != len(wantWarnings) {
			t.Errorf("%s: %d deprecation warnings, want %d:\n%s", args, n, len(wantWarnings), r.stderr)
		}
	}
	cur := writeConfig(t, "policy:\n  min-rsa-bits: 3072\n  orphan-min-age: 30d\n  stale-after: 2w\nrevoke:\n  acme-directory: https://127.0.0.1:14000/dir\n")
	if r := runCLI(t, ctx, "", "--config", cur, "config", "check"); r.code != exitOK || r.stderr != "" {
		t.Errorf("config check of kebab-case keys: exit %d, stderr %q", r.code, r.stderr)
	}
}
