package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/keyaudit/keyaudit/internal/config"
	"github.com/keyaudit/keyaudit/reconcile"
)

func init() {
	reconcile.Register(&reconcile.Check{ID: "test-check", Severity: reconcile.Low, Description: "a check for the tests",
		Run: func(*reconcile.Snapshot) []reconcile.Finding { return nil }})
}

func parse(t *testing.T, src string) config.File {
	t.Helper()
	f, err := config.Parse([]byte(src))
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	return f
}

// flags is a flag set like a command's: a string, an int, a slice and a
// bool flag.
func flags() (*pflag.FlagSet, *string, *int, *[]string) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	s := fs.String("ports", "443", "")
	n := fs.Int("rate", 0, "")
	l := fs.StringSlice("scope", nil, "")
	fs.Bool("verbose", false, "")
	return fs, s, n, l
}

func TestParseLoadAndSection(t *testing.T) {
	if _, err := config.Parse([]byte("- a list\n")); err == nil {
		t.Error("Parse of a list: no error")
	}
	if f := parse(t, ""); len(f) != 0 {
		t.Errorf("empty file: %v", f)
	}
	f := parse(t, "watch: [example.com, .example.org]\nscan:\n  ports: 443\n")
	if got := f.Keys(); !reflect.DeepEqual(got, []string{"scan", "watch"}) {
		t.Errorf("Keys: %v", got)
	}
	if !f.Has("watch") || f.Has("ct") {
		t.Errorf("Has: watch %v ct %v", f.Has("watch"), f.Has("ct"))
	}
	var watch []string
	if err := f.Section("watch", &watch); err != nil || !reflect.DeepEqual(watch, []string{"example.com", ".example.org"}) {
		t.Errorf("Section watch: %v %v", watch, err)
	}
	missing := []string{"kept"}
	if err := f.Section("ct", &missing); err != nil || missing[0] != "kept" {
		t.Errorf("missing section: %v %v", missing, err)
	}
	var n int
	if err := f.Section("watch", &n); err == nil || !strings.HasPrefix(err.Error(), "watch: ") {
		t.Errorf("Section type error: %v", err)
	}
	var nilFile config.File
	if err := nilFile.Section("watch", &watch); err != nil {
		t.Errorf("nil File: %v", err)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "k.yaml")
	os.WriteFile(path, []byte("scan: [unclosed\n"), 0o600)
	if _, err := config.Load(path); err == nil || !strings.HasPrefix(err.Error(), "config "+path+": ") {
		t.Errorf("Load of bad YAML: %v", err)
	}
	if _, err := config.Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.HasPrefix(err.Error(), "config: ") {
		t.Errorf("Load of a missing file: %v", err)
	}
	os.WriteFile(path, []byte("store: /tmp/k.db\n"), 0o600)
	if f, err := config.Load(path); err != nil || f["store"].Value != "/tmp/k.db" {
		t.Errorf("Load: %v %v", f, err)
	}
}

func TestApplyFlags(t *testing.T) {
	skip := map[string]bool{"targets": true}
	for _, tc := range []struct {
		name, yaml string
		args       []string // command line before the config applies
		ports      string
		rate       int
		scope      []string
		err        string
	}{
		{name: "scalars", yaml: "ports: 8443\nrate: 5\n", ports: "8443", rate: 5},
		{name: "list to a slice flag", yaml: "scope: [192.0.2.0/24, 198.51.100.0/24]\n", ports: "443", scope: []string{"192.0.2.0/24", "198.51.100.0/24"}},
		{name: "list to a plain flag is joined", yaml: "ports: [443, 8443]\n", ports: "443,8443"},
		{name: "command line wins", yaml: "ports: 8443\nrate: 5\n", args: []string{"--ports", "25"}, ports: "25", rate: 5},
		{name: "skipped structured key", yaml: "targets: [a, b]\nrate: 1\n", ports: "443", rate: 1},
		{name: "unknown key", yaml: "portz: 443\n", err: `unknown key "portz"`},
		{name: "mapping value", yaml: "ports: {a: 1}\n", err: `key "ports": want a value or a list`},
		{name: "list of mappings", yaml: "scope: [{a: 1}]\n", err: `key "scope": list items must be scalars`},
		{name: "bad value", yaml: "rate: fast\n", err: `key "rate": invalid argument "fast"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, ports, rate, scope := flags()
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := config.ApplyFlags(fs, parse(t, tc.yaml), skip)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *ports != tc.ports || *rate != tc.rate || !reflect.DeepEqual(*scope, tc.scope) && len(tc.scope)+len(*scope) > 0 {
				t.Errorf("ports %q rate %d scope %v", *ports, *rate, *scope)
			}
		})
	}
}

func TestApplySection(t *testing.T) {
	f := parse(t, "scan:\n  ports: 8443\n  targets: [x]\n  policy: 1\nct: plain\ninventory:\n  portz: 1\n")
	sections := map[string]bool{"policy": true}
	for _, tc := range []struct {
		section, ports, err string
	}{
		{section: "scan", ports: "8443"},
		{section: "missing", ports: "443"},
		{section: "ct", ports: "443"}, // not a mapping: nothing to apply
		{section: "inventory", err: `section inventory: unknown key "portz"`},
	} {
		fs, ports, _, _ := flags()
		err := f.ApplySection(fs, tc.section, map[string]bool{"targets": true}, sections)
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("%s: error %v, want %q", tc.section, err, tc.err)
		case tc.err == "" && (err != nil || *ports != tc.ports):
			t.Errorf("%s: ports %q, error %v; want %q", tc.section, *ports, err, tc.ports)
		}
	}
}

func TestStrictDecode(t *testing.T) {
	var p reconcile.Policy
	f := parse(t, "policy:\n  min_rsa_bits: 3072\n")
	if err := config.StrictDecode(f["policy"], &p); err != nil || p.MinRSABits != 3072 {
		t.Errorf("StrictDecode: %+v %v", p, err)
	}
	f = parse(t, "policy:\n  min_rsa_bitz: 3072\n")
	if err := config.StrictDecode(f["policy"], &p); err == nil || !strings.Contains(err.Error(), "min_rsa_bitz") {
		t.Errorf("unknown field: %v", err)
	}
	if err := config.Strict[[]string](f["policy"]); err == nil {
		t.Error("Strict[[]string] of a mapping: no error")
	}
}

// schema is a small command tree's: a global --store, scan and ct-sync
// sections and two settings.
func schema() config.Schema {
	root := &cobra.Command{Use: "keyaudit"}
	root.PersistentFlags().String("store", "", "")
	scan := &cobra.Command{Use: "scan"}
	ports := scan.Flags().String("ports", "", "")
	scan.PreRunE = func(*cobra.Command, []string) error { // the command's own check
		if *ports == "0" {
			return errors.New("port 0 refused")
		}
		return nil
	}
	ct := &cobra.Command{Use: "ct"}
	sync := &cobra.Command{Use: "sync"}
	sync.Flags().Int("batch", 0, "")
	ct.AddCommand(sync)
	root.AddCommand(scan, ct)
	return config.SchemaOf(root, map[string]func(yaml.Node) error{
		"policy":       config.Strict[reconcile.Policy],
		"suppressions": config.CheckSuppressions,
	}, map[string]map[string]bool{"scan": {"targets": true}})
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string // one per problem, in order
	}{
		{name: "ok", yaml: "store: /tmp/k.db\nscan:\n  ports: 443\n  targets: [a]\nct-sync:\n  batch: 10\npolicy:\n  min_rsa_bits: 3072\n"},
		{name: "the command's check", yaml: "scan:\n  ports: 0\n", want: []string{"scan: port 0 refused"}},
		{name: "parents' persistent flags", yaml: "ct-sync:\n  store: /tmp/k.db\n"},
		{name: "every problem", yaml: `scan:
  portz: 443
policy:
  min_rsa_bitz: 1
suppressions:
  - check: test-check
    until: 2099-01-01T00:00:00Z
  - check: test-check
    reason: fine
  - id: nope
    statement: typo
    expired_at: 2099-01-01T00:00:00Z
frobnicate: 1
store: {a: 1}
ct-sync:
  batch: many
`, want: []string{
			`ct-sync: key "batch"`,
			"frobnicate: unknown section",
			"policy: ", // the decoder's message names the field
			`scan: unknown key "portz"`,
			`store: key "store": want a value or a list`,
			"suppressions: suppression 1 (test-check) has no reason",
			"suppressions: suppression 2 (test-check) has no until",
			`suppressions: suppression 3 names unknown check "nope"`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := parse(t, tc.yaml).Check(schema())
			if len(errs) != len(tc.want) {
				t.Fatalf("%d problems, want %d: %v", len(errs), len(tc.want), errs)
			}
			for i, err := range errs {
				if !strings.HasPrefix(err.Error(), tc.want[i]) {
					t.Errorf("problem %d: %q, want %q…", i, err, tc.want[i])
				}
			}
		})
	}
}

func TestSectionName(t *testing.T) {
	root := &cobra.Command{Use: "keyaudit"}
	ct := &cobra.Command{Use: "ct"}
	sync := &cobra.Command{Use: "sync"}
	ct.AddCommand(sync)
	root.AddCommand(ct)
	for c, want := range map[*cobra.Command]string{root: "", ct: "ct", sync: "ct-sync"} {
		if got := config.SectionName(c); got != want {
			t.Errorf("SectionName(%s) = %q, want %q", c.Name(), got, want)
		}
	}
	if got := config.CommandFlags(root); len(got) != 2 || got["ct-sync"] != sync.Flags() {
		t.Errorf("CommandFlags: %v", got)
	}
}

func TestStoreURL(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	t.Setenv("KEYAUDIT_STORE", "")
	want := filepath.Join(state, "keyaudit", "keyaudit.db")
	if p, err := config.DefaultStorePath(); err != nil || p != want {
		t.Errorf("DefaultStorePath: %q %v, want %q", p, err, want)
	}
	for _, tc := range []struct{ flag, env, want string }{
		{"", "", want},
		{"", "/env.db", "/env.db"},
		{"/flag.db", "/env.db", "/flag.db"},
	} {
		t.Setenv("KEYAUDIT_STORE", tc.env)
		if got, err := config.StoreURL(tc.flag); err != nil || got != tc.want {
			t.Errorf("StoreURL(%q) with KEYAUDIT_STORE=%q: %q %v, want %q", tc.flag, tc.env, got, err, tc.want)
		}
	}
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "/home/someone")
	if p, _ := config.DefaultStorePath(); p != "/home/someone/.local/state/keyaudit/keyaudit.db" {
		t.Errorf("DefaultStorePath without XDG_STATE_HOME: %q", p)
	}
}

func TestIgnoreFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ignore.yaml")
	write := func(s string) { os.WriteFile(path, []byte(s), 0o600) }
	until := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, yaml string
		want       []reconcile.Suppression
		err        string
	}{
		{name: "list", yaml: "# accepted\n- check: test-check\n  subject: CN=x\n  reason: lab\n  until: 2099-01-01T00:00:00Z\n",
			want: []reconcile.Suppression{{Check: "test-check", Subject: "CN=x", Reason: "lab", Until: until, Source: path + ":2"}}},
		{name: "suppressions key", yaml: "suppressions:\n  - check: test-check\n    endpoint: 192.0.2.1:443\n    reason: lab\n    until: 2099-01-01T00:00:00Z\n",
			want: []reconcile.Suppression{{Check: "test-check", Endpoint: "192.0.2.1:443", Reason: "lab", Until: until, Source: path + ":2"}}},
		{name: "trivy's keys", yaml: "misconfigurations:\n  - id: test-check\n    subject: CN=x\n    statement: vendor appliance\n    expired_at: 2099-01-01T00:00:00Z\n",
			want: []reconcile.Suppression{{Check: "test-check", Subject: "CN=x", Reason: "vendor appliance", Until: until, Source: path + ":2"}}},
		{name: "both spellings", yaml: "- id: test-check\n  check: test-check\n  subject: x\n  reason: r\n  until: 2099-01-01T00:00:00Z\n", err: "both id and check"},
		{name: "empty", yaml: ""},
		{name: "mapping without suppressions", yaml: "other: 1\n", err: "want a list of suppressions (or suppressions: [...])"},
		{name: "scalar", yaml: "just text\n", err: path + ":1: want a list of suppressions"},
		{name: "bad YAML", yaml: "- [unclosed\n", err: "ignore file " + path + ": "},
		{name: "no check", yaml: "- subject: x\n  reason: r\n  until: 2099-01-01T00:00:00Z\n", err: path + ":1: entry without check"},
		{name: "no reason", yaml: "- check: test-check\n  subject: x\n  until: 2099-01-01T00:00:00Z\n", err: "without reason (mandatory)"},
		{name: "no until", yaml: "- check: test-check\n  subject: x\n  reason: r\n", err: "without until (an expiry date is mandatory)"},
		{name: "matches everything", yaml: "- check: test-check\n  reason: r\n  until: 2099-01-01T00:00:00Z\n", err: "names no subject, endpoint"},
		{name: "unknown check", yaml: "- check: nope\n  subject: x\n  reason: r\n  until: 2099-01-01T00:00:00Z\n", err: `unknown check "nope" (see keyaudit checks list)`},
		{name: "typo", yaml: "- check: test-check\n  subjekt: x\n  reason: r\n  until: 2099-01-01T00:00:00Z\n", err: path + ":1: "},
		{name: "too large", yaml: "#" + strings.Repeat("x", config.MaxIgnoreFileBytes), err: "larger than 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			write(tc.yaml)
			got, err := config.LoadIgnoreFile(path, true)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), path) {
					t.Fatalf("error %v, want …%s…", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	missing := filepath.Join(dir, config.DefaultIgnoreFile)
	if got, err := config.LoadIgnoreFile(missing, false); got != nil || err != nil {
		t.Errorf("missing default file: %v %v", got, err)
	}
	if _, err := config.LoadIgnoreFile(missing, true); err == nil || !strings.HasPrefix(err.Error(), "ignore file: ") {
		t.Errorf("missing explicit file: %v", err)
	}
}
