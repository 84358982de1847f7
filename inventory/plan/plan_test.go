package plan

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/keyaudit/keyaudit/internal/secretfile"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/inventory"
)

// planPIN and planPassword are distinctive so a leak is unambiguous.
const (
	planPIN      = "40917352"
	planPassword = "fixture-p12-password" // testdata/inventory/bundle.p12.password
)

var fixtures = filepath.Join("..", "..", "testdata", "inventory")

// env is a Getenv over vars.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// section decodes a YAML inventory: section.
func section(t *testing.T, src string) Section {
	t.Helper()
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(src), &node); err != nil {
		t.Fatal(err)
	}
	sec, err := DecodeSection(node.Content[0])
	if err != nil {
		t.Fatalf("DecodeSection: %v", err)
	}
	return sec
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDecodeSection(t *testing.T) {
	sec := section(t, `
sources:
  - path: /a
    paths: [/b, /c]
    kind: gcp-kms
    password-env: P12
    owner: pki
    purpose: tls
    cryptoperiod: 2y
  - pkcs11: "pkcs11:token=hsm1"
    module: /lib/p11.so
metadata:
  - label: "web-*"
    owner: web-team
`)
	want := SourceConfig{Path: "/a", Paths: []string{"/b", "/c"}, Kind: "gcp-kms", PasswordEnv: "P12",
		Defaults: inventory.Defaults{Owner: "pki", Purpose: "tls", Cryptoperiod: "2y"}}
	if len(sec.Sources) != 2 || fmt.Sprint(sec.Sources[0]) != fmt.Sprint(want) {
		t.Errorf("sources %+v, want first %+v", sec.Sources, want)
	}
	if got := sec.Sources[0].paths(); strings.Join(got, ",") != "/a,/b,/c" {
		t.Errorf("paths %v", got)
	}
	if sec.Sources[1].PKCS11 != "pkcs11:token=hsm1" || sec.Sources[1].Module != "/lib/p11.so" {
		t.Errorf("pkcs11 source %+v", sec.Sources[1])
	}
	if len(sec.Metadata) != 1 || sec.Metadata[0].Owner != "web-team" {
		t.Errorf("metadata %+v", sec.Metadata)
	}

	for src, want := range map[string]string{
		"sources:\n  - path: /a\n    passwd-file: /p\n": `inventory.sources[0]: unknown key "passwd-file"`,
		"metadata:\n  - lable: x\n    owner: o\n":       `inventory.metadata[0]: unknown key "lable"`,
		"sources: 3\n":                 "inventory: ",
		"sources:\n  - path: [x: 1]\n": "inventory: ",
	} {
		var node yaml.Node
		if err := yaml.Unmarshal([]byte(src), &node); err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeSection(node.Content[0]); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("DecodeSection(%q) = %v, want %q…", src, err, want)
		}
	}
}

// TestNewBadInput: everything that can be checked without a device is
// refused by New, with the message naming the flag or the entry.
func TestNewBadInput(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"nothing", Config{}, "inventory: no sources: give --pkcs11 URI"},
		{"bad uri", Config{PKCS11: []string{"pkcs11:token=x;bogus=1"}}, "--pkcs11: "},
		{"pin-value", Config{PKCS11: []string{"pkcs11:token=x?pin-value=" + planPIN}}, "--pkcs11: pkcs11: pin-value is not accepted"},
		{"missing pin-source", Config{PKCS11: []string{"pkcs11:token=x?pin-source=file:" + missing}}, "--pkcs11: "},
		{"password file", Config{Paths: []string{fixtures}, PasswordFile: missing}, "--pkcs12-password-file: open " + missing},
		{"both", Config{Section: Section{Sources: []SourceConfig{{PKCS11: "pkcs11:token=x", Path: "/a"}}}}, "inventory.sources[0]: give pkcs11 or path, not both"},
		{"neither", Config{Section: Section{Sources: []SourceConfig{{Kind: "pem"}}}}, "inventory.sources[0]: needs pkcs11, path or kmip"},
		{"cryptoperiod", Config{Section: Section{Sources: []SourceConfig{{Path: "/a", Defaults: inventory.Defaults{Cryptoperiod: "soon"}}}}}, `inventory.sources[0]: cryptoperiod "soon"`},
		{"source password file", Config{Section: Section{Sources: []SourceConfig{{Path: "/a", PasswordFile: missing}}}},
			"inventory.sources[0]: inventory source password-file: open " + missing},
		{"metadata", Config{Paths: []string{"/a"}, Section: Section{Metadata: inventory.Rules{{Label: "x"}}}}, "inventory.metadata 1: sets none of"},
	} {
		p, err := New(tc.c)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: New = %v, %v; want an error %q…", tc.name, p, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), planPIN) {
			t.Errorf("%s: PIN in %v", tc.name, err)
		}
	}
}

// keysOf lists every opened source, keyed by source name.
func keysOf(t *testing.T, srcs []inventory.Opened) map[string][]inventory.Key {
	t.Helper()
	out := map[string][]inventory.Key{}
	for _, s := range srcs {
		res := s.Source.Keys(context.Background(), func(k inventory.Key) error {
			s.Defaults.Apply(&k)
			out[s.Source.Name()] = append(out[s.Source.Name()], k)
			return nil
		})
		if res.Status != inventory.StatusComplete {
			t.Errorf("%s: %+v", s.Source.Name(), res)
		}
	}
	return out
}

// planAndList plans c, checks that its scrubber hides secret, opens the
// sources, lists them and closes them.
func planAndList(t *testing.T, name string, c Config, secret string) ([]inventory.Opened, map[string][]inventory.Key) {
	t.Helper()
	p, err := New(c)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if got := p.Scrub("with " + secret + "\nsecond line"); got != "with *** (and more)" {
		t.Errorf("%s: Scrub = %q", name, got)
	}
	srcs, err := p.Open(context.Background())
	if err != nil {
		t.Fatalf("%s: Open: %v", name, err)
	}
	defer inventory.CloseAll(srcs)
	return srcs, keysOf(t, srcs)
}

// TestPlanFiles: file sources get their password from the source's file
// or variable, else the command line's file, else $KEYAUDIT_PKCS12_PASSWORD,
// and carry the source's defaults; the passwords read are scrubbed.
func TestPlanFiles(t *testing.T) {
	pwFile := filepath.Join(fixtures, "bundle.p12.password")
	p12 := filepath.Join(fixtures, "bundle.p12")
	for _, tc := range []struct {
		name string
		c    Config
	}{
		{"flag file", Config{Paths: []string{p12}, PasswordFile: pwFile}},
		{"default env", Config{Paths: []string{p12}, Getenv: env(map[string]string{PasswordEnv: planPassword})}},
		{"source file", Config{Section: Section{Sources: []SourceConfig{{Path: p12, PasswordFile: pwFile}}}}},
		{"source env", Config{
			Getenv:  env(map[string]string{"MY_P12": planPassword, PasswordEnv: "not-it"}),
			Section: Section{Sources: []SourceConfig{{Path: p12, PasswordEnv: "MY_P12"}}}}},
	} {
		srcs, keys := planAndList(t, tc.name, tc.c, planPassword)
		if len(srcs) != 1 || len(keys) != 1 {
			t.Errorf("%s: %d sources, keys %v", tc.name, len(srcs), keys)
		}
		for _, ks := range keys {
			if len(ks) == 0 {
				t.Errorf("%s: no keys from the PKCS#12 file (wrong password?)", tc.name)
			}
		}
	}

	// Defaults, kind, several paths, and the order: --path, then the
	// section's sources.
	p, err := New(Config{
		Paths: []string{filepath.Join(fixtures, "ec-p256-public.pem")},
		Section: Section{Sources: []SourceConfig{{
			Path: filepath.Join(fixtures, "gcp-public-key.pem"), Kind: "gcp-kms",
			Defaults: inventory.Defaults{Owner: "kms-team", Purpose: "signing", Cryptoperiod: "90d"},
		}}},
		Getenv: env(nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := p.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer inventory.CloseAll(srcs)
	if len(srcs) != 2 || srcs[0].Defaults != (inventory.Defaults{}) || srcs[1].Defaults.Owner != "kms-team" {
		t.Fatalf("sources %+v", srcs)
	}
	for _, k := range keysOf(t, srcs[1:])[srcs[1].Source.Name()] {
		if k.Owner != "kms-team" || k.Purpose != "signing" || k.Cryptoperiod != "90d" || k.Source != "gcp-kms" {
			t.Errorf("section key %+v", k)
		}
	}

	// A path that names nothing passes New and fails Open.
	p, err = New(Config{Paths: []string{filepath.Join(t.TempDir(), "nothing-here")}, Getenv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Open(context.Background()); err == nil || !strings.Contains(err.Error(), "nothing-here") {
		t.Errorf("Open(missing path) = %v", err)
	}
}

// TestPlanPKCS11: URIs take the module from the source, the flag or
// $KEYAUDIT_PKCS11_MODULE and the PIN from pin-source or
// $KEYAUDIT_PKCS11_PIN; a wrong PIN fails Open, scrubbed, after closing
// the sources already opened.
func TestPlanPKCS11(t *testing.T) {
	h := testlab.NewSoftHSM(t)
	tk := h.InitToken("plan", planPIN)
	tk.GenKeyPair("EC:prime256v1", "signer", "01")
	pinFile := writeFile(t, "pin", planPIN+"\n")
	uri := "pkcs11:token=plan"

	for _, tc := range []struct {
		name string
		c    Config
	}{
		{"module env, pin env", Config{PKCS11: []string{uri},
			Getenv: env(map[string]string{ModuleEnv: h.Module, "KEYAUDIT_PKCS11_PIN": planPIN})}},
		{"module flag, pin-source", Config{PKCS11: []string{uri + "?pin-source=file:" + pinFile}, Module: h.Module, Getenv: env(nil)}},
		{"section module", Config{Getenv: env(nil), Section: Section{Sources: []SourceConfig{{
			PKCS11: uri + "?pin-source=file:" + pinFile, Module: h.Module, Defaults: inventory.Defaults{Owner: "hsm-team"}}}}}},
	} {
		srcs, keys := planAndList(t, tc.name, tc.c, planPIN)
		if len(srcs) != 1 || len(keys[srcs[0].Source.Name()]) != 2 {
			t.Errorf("%s: keys %+v", tc.name, keys)
		}
		for _, k := range keys[srcs[0].Source.Name()] {
			if k.Owner != srcs[0].Defaults.Owner {
				t.Errorf("%s: owner %q, want %q", tc.name, k.Owner, srcs[0].Defaults.Owner)
			}
		}
	}

	// A wrong PIN: Open fails on the token after opening the files source
	// before it, which it closes; the error names no PIN.
	const wrongPIN = "66661111"
	p, err := New(Config{
		Paths:   []string{filepath.Join(fixtures, "ec-p256-public.pem")},
		Getenv:  env(map[string]string{"KEYAUDIT_PKCS11_PIN": wrongPIN}),
		Section: Section{Sources: []SourceConfig{{PKCS11: uri, Module: h.Module}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := p.Open(context.Background())
	if err == nil || srcs != nil || !strings.Contains(err.Error(), "PIN incorrect") || strings.Contains(err.Error(), wrongPIN) {
		t.Errorf("Open(wrong PIN) = %v, %v", srcs, err)
	}
	// It was tried once: the right PIN still logs in.
	p, err = New(Config{PKCS11: []string{uri}, Module: h.Module, Getenv: env(map[string]string{"KEYAUDIT_PKCS11_PIN": planPIN})})
	if err != nil {
		t.Fatal(err)
	}
	if srcs, err = p.Open(context.Background()); err != nil {
		t.Fatalf("right PIN after wrong: %v", err)
	}
	inventory.CloseAll(srcs)
}

// TestReadSecretFile: a password file is read through a bound, so a huge
// file, /dev/zero or a pipe whose writer never stops is refused quickly
// instead of read to the end.
func TestReadSecretFile(t *testing.T) {
	if got, err := readSecretFile(writeFile(t, "ok", "s3cret\r\n"), secretfile.Policy{}); err != nil || got != "s3cret" {
		t.Errorf("readSecretFile(ok) = %q, %v", got, err)
	}
	if got, err := readSecretFile(writeFile(t, "max", strings.Repeat("x", 4096)), secretfile.Policy{}); err != nil || len(got) != 4096 {
		t.Errorf("readSecretFile(4096 bytes) = %d bytes, %v", len(got), err)
	}
	if _, err := readSecretFile(writeFile(t, "over", strings.Repeat("x", 4097)), secretfile.Policy{}); err == nil || !strings.Contains(err.Error(), "larger than 4096") {
		t.Errorf("readSecretFile(4097 bytes) = %v", err)
	}

	// A sparse 8 GiB file: reading it whole would take the memory.
	big := filepath.Join(t.TempDir(), "big")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(8 << 30); err != nil {
		f.Close()
		t.Skipf("sparse file: %v", err)
	}
	f.Close()
	if _, err := readSecretFile(big, secretfile.Policy{}); err == nil || !strings.Contains(err.Error(), "larger than 4096") {
		t.Errorf("readSecretFile(8 GiB) = %v", err)
	}

	// An endless pipe, as with --pkcs12-password-file <(yes).
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		defer w.Close()
		chunk := []byte(strings.Repeat("y", 1024))
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}()
	fd := fmt.Sprintf("/dev/fd/%d", r.Fd())
	if _, err := os.Stat(fd); err != nil {
		t.Skipf("no %s: %v", fd, err)
	}
	if _, err := readSecretFile(fd, secretfile.Policy{}); err == nil || !strings.Contains(err.Error(), "larger than 4096") {
		t.Errorf("readSecretFile(endless pipe) = %v", err)
	}
}

// TestSecretFileModes: a pin-source file or a PKCS#12 password file its
// group or others may read is warned about (the secret still read), and
// refused with Secrets.Strict; one only its owner reads is accepted
// silently. (Such files were once accepted without a word.)
func TestSecretFileModes(t *testing.T) {
	open := writeFile(t, "pin", "1234\n")
	os.Chmod(open, 0o644)
	private := writeFile(t, "pin-private", "1234\n")
	openPW := writeFile(t, "p12-password", "pw\n")
	os.Chmod(openPW, 0o640)
	for _, c := range []struct {
		name string
		cfg  Config
		file string
	}{
		{"pin-source", Config{PKCS11: []string{"pkcs11:token=t?module-path=/nonexistent.so&pin-source=file:" + open}}, open},
		{"section pin-source", Config{Section: Section{Sources: []SourceConfig{{PKCS11: "pkcs11:token=t?pin-source=file:" + open, Module: "/nonexistent.so"}}}}, open},
		{"password file", Config{Paths: []string{t.TempDir()}, PasswordFile: openPW}, openPW},
		{"section password file", Config{Section: Section{Sources: []SourceConfig{{Path: t.TempDir(), PasswordFile: openPW}}}}, openPW},
	} {
		var warned []error
		c.cfg.Getenv = env(nil)
		c.cfg.Secrets.Warn = func(err error) { warned = append(warned, err) }
		if _, err := New(c.cfg); err != nil || len(warned) != 1 || !strings.Contains(warned[0].Error(), c.file+" is readable by group or others") {
			t.Errorf("%s: New: %v, warnings %v", c.name, err, warned)
		}
		warned = nil
		c.cfg.Secrets.Strict = true
		_, err := New(c.cfg)
		var me *secretfile.ModeError
		if !errors.As(err, &me) || me.Path != c.file || len(warned) != 0 {
			t.Errorf("%s: strict New: %v, warnings %v", c.name, err, warned)
		}
	}
	var warned []error
	cfg := Config{PKCS11: []string{"pkcs11:token=t?module-path=/nonexistent.so&pin-source=file:" + private}, Getenv: env(nil),
		Secrets: secretfile.Policy{Strict: true, Warn: func(err error) { warned = append(warned, err) }}}
	if _, err := New(cfg); err != nil || len(warned) != 0 {
		t.Errorf("owner-only pin file: %v, warnings %v", err, warned)
	}
}
