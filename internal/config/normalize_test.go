package config_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/keyaudit/keyaudit/internal/config"
	"github.com/keyaudit/keyaudit/reconcile"
)

type section struct {
	MinBits int           `yaml:"min-bits" was:"min_bits"`
	MaxAge  time.Duration `yaml:"max-age"`
	Nested  struct {
		KeyWrap time.Duration `yaml:"key-wrap" was:"key_wrap"`
	} `yaml:"nested-part" was:"nested_part"`
	Periods map[string]time.Duration `yaml:"periods"`
	Items   []struct {
		CAFile string `yaml:"ca-file" was:"ca_file"`
	} `yaml:"items"`
	Snake_OK string `yaml:"plain_snake"`
}

var types = map[string]reflect.Type{"sec": reflect.TypeFor[section](), "policy": reflect.TypeFor[reconcile.Policy]()}

func TestNormalize(t *testing.T) {
	f := parse(t, `sec:
  min_bits: 3072
  max-age: 30d
  nested_part: {key_wrap: 2y}
  periods: {a_b: 6w, c: 12h}
  items: [{ca_file: x.pem}, {ca-file: y.pem}]
  plain_snake: kept
scan:
  max_age: 1d
`)
	warnings, err := f.Normalize(types)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"sec.min_bits is deprecated: it is spelled sec.min-bits now",
		"sec.nested_part is deprecated: it is spelled sec.nested-part now",
		"sec.nested-part.key_wrap is deprecated: it is spelled sec.nested-part.key-wrap now",
		"sec.items[0].ca_file is deprecated: it is spelled sec.items[0].ca-file now",
	}
	if strings.Join(warnings, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant\n%s", strings.Join(warnings, "\n"), strings.Join(want, "\n"))
	}
	var s section
	if err := config.StrictDecode(f["sec"], &s); err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	if s.MinBits != 3072 || s.MaxAge != 30*day || s.Nested.KeyWrap != 730*day || s.Periods["a_b"] != 42*day ||
		s.Periods["c"] != 12*time.Hour || s.Items[0].CAFile != "x.pem" || s.Items[1].CAFile != "y.pem" || s.Snake_OK != "kept" {
		t.Errorf("decoded %+v", s)
	}
	// A command section (flags) is not a structured setting: untouched.
	if !strings.Contains(yamlOf(t, f, "scan"), "max_age") {
		t.Error("scan section rewritten")
	}
}

func TestNormalizeOldSpellingDecodes(t *testing.T) {
	// Without Normalize (config check's validators, Section): the old
	// spelling still decodes, and durations read days.
	f := parse(t, "policy:\n  min_rsa_bits: 3072\n  orphan_min_age: 30d\n  cryptoperiods: {key_transport: 1y}\n  stale-after: 12h\n")
	var p reconcile.Policy
	if err := f.Section("policy", &p); err != nil {
		t.Fatal(err)
	}
	if p.MinRSABits != 3072 || p.OrphanMinAge != 30*24*time.Hour || p.Cryptoperiods.KeyTransport != 365*24*time.Hour || p.StaleAfter != 12*time.Hour {
		t.Errorf("Section: %+v", p)
	}
	if err := config.Strict[reconcile.Policy](f["policy"]); err != nil {
		t.Errorf("Strict: %v", err)
	}
}

func TestNormalizeErrors(t *testing.T) {
	for src, want := range map[string]string{
		"policy:\n  min_rsa_bits: 1\n  min-rsa-bits: 2\n": "policy: min_rsa_bits and min-rsa-bits are one setting",
		"policy:\n  stale-after: soon\n":                  `policy.stale-after: duration "soon"`,
		"policy:\n  cryptoperiods: {signature: 1.5y}\n":   `policy.cryptoperiods.signature: duration "1.5y"`,
	} {
		_, err := parse(t, src).Normalize(types)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: %v, want %q…", src, err, want)
		}
	}
}

func TestPeriodFlags(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	d := fs.Duration("max-age", time.Hour, "")
	config.PeriodFlags(fs)
	config.PeriodFlags(fs) // twice is once
	for in, want := range map[string]time.Duration{"30d": 720 * time.Hour, "2y": 730 * 24 * time.Hour, "90m": 90 * time.Minute} {
		if err := fs.Set("max-age", in); err != nil || *d != want {
			t.Errorf("--max-age %s: %v, %v", in, *d, err)
		}
	}
	_ = fs.Set("max-age", "6w")
	if got, err := fs.GetDuration("max-age"); err != nil || got != 42*24*time.Hour {
		t.Errorf("GetDuration: %v, %v", got, err)
	}
	if err := fs.Set("max-age", "3mo"); err == nil {
		t.Error("3mo accepted")
	}
	if err := fs.Parse([]string{"--max-age", "1w"}); err != nil || *d != 7*24*time.Hour {
		t.Errorf("--max-age 1w: %v, %v", *d, err)
	}
}

func yamlOf(t *testing.T, f config.File, key string) string {
	t.Helper()
	n := f[key]
	b, err := yaml.Marshal(&n)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestNormalizeOnlyDeclaredSpellings: a snake_case key is an old
// spelling only where the field says so (was:"…"); elsewhere it stays
// unknown and strict decoding refuses it.
func TestNormalizeOnlyDeclaredSpellings(t *testing.T) {
	type kebabOnly struct {
		SecretEnv string        `yaml:"secret-env"`
		Timeout   time.Duration `yaml:"timeout"`
	}
	f := parse(t, "k:\n  secret_env: X\n  timeout: 2d\n")
	warnings, err := f.Normalize(map[string]reflect.Type{"k": reflect.TypeFor[kebabOnly]()})
	if err != nil || len(warnings) != 0 {
		t.Fatalf("Normalize: %v %v", warnings, err)
	}
	var k kebabOnly
	if err := config.StrictDecode(f["k"], &k); err == nil || !strings.Contains(err.Error(), "secret_env") {
		t.Errorf("secret_env accepted: %+v %v", k, err)
	}
}
