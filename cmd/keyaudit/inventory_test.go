package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyaudit/keyaudit/internal/config"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/stage"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
	"github.com/keyaudit/keyaudit/store/sqlite"
)

// cliPIN is distinctive so a leak is unambiguous.
const cliPIN = "73914628"

type cliHSM struct {
	h       *testlab.SoftHSM
	pinFile string
	lonePub string // spki_sha256 of the private-only RSA key
}

func newCLIHSM(t *testing.T) *cliHSM {
	h := testlab.NewSoftHSM(t)
	tk := h.InitToken("cli", cliPIN)
	tk.GenKeyPair("rsa:2048", "web", "01")
	tk.GenKeyPair("EC:prime256v1", "api", "02")
	tk.GenSecret("AES:32", "kek", "03", "--sensitive")
	lone, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(lone)
	kf := filepath.Join(t.TempDir(), "lone.pem")
	os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	tk.WriteObject(kf, "privkey", "lone", "04", "--sensitive")
	spki, _ := x509.MarshalPKIXPublicKey(&lone.PublicKey)
	sum := sha256.Sum256(spki)
	pinFile := filepath.Join(t.TempDir(), "pin")
	os.WriteFile(pinFile, []byte(cliPIN+"\n"), 0o600)
	return &cliHSM{h: h, pinFile: pinFile, lonePub: hex.EncodeToString(sum[:])}
}

func (c *cliHSM) uri(token, pinFile string) string {
	u := "pkcs11:token=" + token + "?module-path=" + c.h.Module
	if pinFile != "" {
		u += "&pin-source=file:" + pinFile
	}
	return u
}

func noPIN(t *testing.T, r result, pins ...string) {
	t.Helper()
	for _, p := range append(pins, cliPIN) {
		if strings.Contains(r.stdout, p) || strings.Contains(r.stderr, p) {
			t.Errorf("secret %q appears in the output:\nstdout: %s\nstderr: %s", p, r.stdout, r.stderr)
		}
	}
}

func oneLine(t *testing.T, r result, want string) {
	t.Helper()
	if r.code != exitError {
		t.Errorf("exit %d, want 2 (stderr %q)", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], want) {
		t.Errorf("stderr = %q, want one line containing %q", r.stderr, want)
	}
}

func TestInventoryCLIPKCS11(t *testing.T) {
	c := newCLIHSM(t)
	ctx := context.Background()

	r := runCLI(t, ctx, "", "inventory", "--format", "jsonl", "--no-store", "--pkcs11", c.uri("cli", c.pinFile))
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	noPIN(t, r)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d keys, want 6 (two pairs, an AES key, a private-only key):\n%s", len(lines), r.stdout)
	}
	contract := []string{"source", "token", "label", "id", "class", "key_type", "key_bits", "curve", "spki_sha256",
		"sensitive", "extractable", "always_sensitive", "never_extractable", "local", "usage", "start_date", "end_date"}
	var lone *inventory.Key
	for _, l := range lines {
		var raw map[string]any
		if err := json.Unmarshal([]byte(l), &raw); err != nil {
			t.Fatalf("bad JSON line %q: %v", l, err)
		}
		for _, f := range contract {
			if _, ok := raw[f]; !ok {
				t.Errorf("field %q missing from %s", f, l)
			}
		}
		var k inventory.Key
		json.Unmarshal([]byte(l), &k)
		if k.Class != inventory.ClassSecretKey && len(k.SPKISHA256) != 64 {
			t.Errorf("%s %s: spki_sha256 %q", k.Label, k.Class, k.SPKISHA256)
		}
		if k.Label == "lone" {
			lone = &k
		}
	}
	if lone == nil || lone.SPKISHA256 != c.lonePub || lone.KeyBits != 2048 || lone.Sensitive == nil || !*lone.Sensitive {
		t.Errorf("private-only key: %+v, want spki %s", lone, c.lonePub)
	}

	// Debug logging does not reveal it either.
	r = runCLI(t, ctx, "", "--verbose", "inventory", "--format", "csv", "--no-store", "--pkcs11", c.uri("cli", c.pinFile))
	if r.code != exitOK || !strings.Contains(r.stderr, "logged in") {
		t.Errorf("verbose: exit %d, stderr %q", r.code, r.stderr)
	}
	noPIN(t, r)

	// The PIN from the environment works too; table and csv render.
	t.Setenv("KEYAUDIT_PKCS11_PIN", cliPIN)
	for _, format := range []string{"table", "csv", "json"} {
		r := runCLI(t, ctx, "", "inventory", "--format", format, "--no-store", "--pkcs11", c.uri("cli", ""))
		if r.code != exitOK || !strings.Contains(r.stdout, "lone") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", format, r.code, r.stdout, r.stderr)
		}
		noPIN(t, r)
	}
}

func TestInventoryCLIBadInput(t *testing.T) {
	c := newCLIHSM(t)
	ctx := context.Background()
	wrong := filepath.Join(t.TempDir(), "wrong-pin")
	const wrongPIN = "55550000"
	os.WriteFile(wrong, []byte(wrongPIN), 0o600)

	r := runCLI(t, ctx, "", "inventory", "--no-store", "--pkcs11", c.uri("cli", wrong))
	oneLine(t, r, "PIN incorrect")
	noPIN(t, r, wrongPIN)
	if r.stdout != "" {
		t.Errorf("stdout after a failed login: %q", r.stdout)
	}

	r = runCLI(t, ctx, "", "inventory", "--no-store", "--pkcs11", "pkcs11:token=cli?module-path=/nonexistent/libpkcs11.so&pin-source=file:"+c.pinFile)
	oneLine(t, r, "/nonexistent/libpkcs11.so")
	noPIN(t, r)

	r = runCLI(t, ctx, "", "inventory", "--no-store", "--pkcs11", c.uri("no-such-token", c.pinFile))
	oneLine(t, r, "no token matches")
	noPIN(t, r)

	r = runCLI(t, ctx, "", "inventory", "--no-store", "--pkcs11", "pkcs11:token=cli?module-path="+c.h.Module+"&pin-value="+cliPIN)
	oneLine(t, r, "pin-value is not accepted")
	noPIN(t, r)

	r = runCLI(t, ctx, "", "inventory", "--no-store", "--pkcs11", c.uri("cli", filepath.Join(t.TempDir(), "missing-pin")))
	oneLine(t, r, "pin-source")

	r = runCLI(t, ctx, "", "inventory", "--no-store", "--pkcs11", "pkcs11:token=cli;bogus=1")
	oneLine(t, r, "unknown path attribute")

	r = runCLI(t, ctx, "", "inventory", "--no-store")
	oneLine(t, r, "no sources")

	r = runCLI(t, ctx, "", "inventory", "--no-store", "--path", filepath.Join(t.TempDir(), "nothing-here"))
	oneLine(t, r, "nothing-here")

	// The wrong PIN was tried once only: the token still opens.
	r = runCLI(t, ctx, "", "inventory", "--no-store", "--format", "jsonl", "--pkcs11", c.uri("cli", c.pinFile))
	if r.code != exitOK {
		t.Fatalf("right PIN after wrong: exit %d %s", r.code, r.stderr)
	}
}

func TestInventoryCLIStoreAndConfig(t *testing.T) {
	c := newCLIHSM(t)
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "ka.db")
	cfg := filepath.Join(dir, "keyaudit.yaml")
	os.WriteFile(cfg, []byte(`inventory:
  format: jsonl
  sources:
    - pkcs11: "`+c.uri("cli", c.pinFile)+`"
      owner: hsm-team
    - path: ../../testdata/inventory
      password-file: ../../testdata/inventory/bundle.p12.password
  metadata:
    - uri: "pkcs11:token=cli;object=web"
      owner: web-team
      purpose: tls
      cryptoperiod: 2y
    - label: "api"
      purpose: api-signing
`), 0o600)
	r := runCLI(t, ctx, "", "--config", cfg, "--store", db, "inventory")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	noPIN(t, r)
	keys := map[string]inventory.Key{}
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var k inventory.Key
		if err := json.Unmarshal([]byte(l), &k); err != nil {
			t.Fatal(err)
		}
		keys[k.Label+"/"+string(k.Class)] = k
		n++
	}
	if k := keys["web/private_key"]; k.Owner != "web-team" || k.Purpose != "tls" || k.Cryptoperiod != "2y" {
		t.Errorf("web: owner %q purpose %q cryptoperiod %q", k.Owner, k.Purpose, k.Cryptoperiod)
	}
	if k := keys["api/public_key"]; k.Owner != "hsm-team" || k.Purpose != "api-signing" {
		t.Errorf("api: owner %q purpose %q", k.Owner, k.Purpose)
	}
	if k := keys["payments-kek/public_key"]; k.Owner != "payments-team" || k.Source != "azure-key-vault" {
		t.Errorf("azure key: %+v", k)
	}

	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	run, err := store.Latest(ctx, st, "inventory")
	if err != nil || run.Status != store.StatusComplete {
		t.Fatalf("run %+v, %v", run, err)
	}
	cnt, _ := st.Count(ctx, run.ID, store.KindKey)
	if int(cnt) != n {
		t.Errorf("store holds %d keys, output %d", cnt, n)
	}
	withSPKI := 0
	var sources []inventory.Result
	if err := records.Decode(ctx, st, run.ID, store.KindSourceStatus, &sources); err != nil || len(sources) != 2 {
		t.Fatalf("source statuses %+v, %v; want one per source", sources, err)
	}
	st.Items(ctx, run.ID, store.KindKey, func(it store.Item) error {
		var k inventory.Key
		json.Unmarshal(it.Data, &k)
		if src, ref, ok := strings.Cut(it.Key, "|"); !ok || ref != k.Ref || (src != sources[0].Source && src != sources[1].Source) {
			t.Errorf("key item %q: want <source>|<ref> (ref %q)", it.Key, k.Ref)
		}
		if it.SPKISHA256 != "" {
			withSPKI++
		}
		if strings.Contains(string(it.Data), cliPIN) {
			t.Errorf("PIN stored in %s", it.Key)
		}
		return nil
	})
	if withSPKI < n-3 {
		t.Errorf("%d of %d stored keys have spki_sha256", withSPKI, n)
	}
	if b, _ := json.Marshal(run); strings.Contains(string(b), cliPIN) {
		t.Errorf("PIN in run meta: %s", b)
	}

	// A source that fails part way: the PKCS#12 with a wrong password.
	wrongPW := filepath.Join(dir, "wrong-password")
	os.WriteFile(wrongPW, []byte("not-the-password"), 0o600)
	r = runCLI(t, ctx, "", "--store", db, "inventory", "--format", "jsonl", "--pkcs11", c.uri("cli", c.pinFile),
		"--path", "../../testdata/inventory", "--pkcs12-password-file", wrongPW)
	if r.code != exitError || !strings.Contains(r.stderr, "partial") || strings.Contains(r.stderr, "not-the-password") {
		t.Errorf("partial source: exit %d, stderr %q", r.code, r.stderr)
	}
	run2, err := store.Latest(ctx, st, "inventory")
	if err != nil || run2.ID == run.ID || run2.Status != store.StatusPartial {
		t.Errorf("run after a partial source: %+v, %v", run2, err)
	}
	// Every source's status is recorded, the complete one too; the
	// files source says why it is partial, without the password.
	var statuses []inventory.Result
	if err := records.Decode(ctx, st, run2.ID, store.KindSourceStatus, &statuses); err != nil {
		t.Fatal(err)
	}
	got := map[inventory.Status]int{}
	for _, s := range statuses {
		got[s.Status]++
		if strings.Contains(s.Error, "not-the-password") {
			t.Errorf("password in source status %+v", s)
		}
	}
	if len(statuses) != 2 || got[inventory.StatusComplete] != 1 || got[inventory.StatusPartial] != 1 {
		t.Errorf("source statuses %+v, want one complete and one partial", statuses)
	}
	if n, _ := st.Count(ctx, run2.ID, store.KindSourceError); n != 0 {
		t.Errorf("%d source errors recorded, want none (source statuses replace them)", n)
	}
}

// TestInventoryParamsFromConfig: keyaudit audit runs the inventory stage
// from the config alone, without argv.
func TestInventoryParamsFromConfig(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "ka.yaml")
	raw := []byte(`inventory:
  run-group: nightly
  sources:
    - path: ../../testdata/inventory
      password-file: ../../testdata/inventory/bundle.p12.password
      owner: files-team
  metadata:
    - label: "*"
      purpose: audit-test
`)
	cfg, err := config.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	a := &app{stdout: io.Discard, stderr: &errb, configPath: cfgPath, config: cfg, log: slog.New(slog.DiscardHandler)}
	o, err := a.inventoryOptionsFromConfig()
	if err != nil {
		t.Fatal(err)
	}
	p, closeSources, err := a.inventoryParams(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer closeSources()
	if len(p.Sources) != 1 || p.Sources[0].Defaults.Owner != "files-team" || p.Group != "nightly" || p.Scrub == nil {
		t.Fatalf("params %+v", p)
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "ka.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var keys []inventory.Key
	out, err := stage.Inventory(ctx, a.stageEnv(st), p, func(k inventory.Key) error { keys = append(keys, k); return nil })
	if err != nil || out.Status != store.StatusComplete || len(keys) == 0 {
		t.Fatalf("outcome %+v, %v, %d keys; stderr %s", out, err, len(keys), errb.String())
	}
	for _, k := range keys {
		if k.Owner == "" || k.Purpose != "audit-test" {
			t.Errorf("key %s: owner %q purpose %q", k.Ref, k.Owner, k.Purpose)
		}
	}
	if n, _ := st.Count(ctx, out.RunID, store.KindSourceStatus); n != 1 {
		t.Errorf("%d source statuses, want 1", n)
	}

	// Bad input is refused before anything runs.
	bad, _ := config.Parse([]byte("inventory:\n  sources:\n    - path: " + filepath.Join(dir, "missing") + "\n"))
	a.config = bad
	if o, err = a.inventoryOptionsFromConfig(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.inventoryParams(ctx, o); err == nil {
		t.Error("a missing path was accepted")
	}
}

// TestInventoryCLIOpenPINFile: a pin-source file its group or others may
// read is warned about on stderr (the inventory still runs), and refused
// with --strict (or strict: true in the config) before the token is
// opened.
func TestInventoryCLIOpenPINFile(t *testing.T) {
	c := newCLIHSM(t)
	ctx := context.Background()
	pin := filepath.Join(t.TempDir(), "pin")
	os.WriteFile(pin, []byte(cliPIN+"\n"), 0o644)
	os.Chmod(pin, 0o644)
	r := runCLI(t, ctx, "", "inventory", "--no-store", "--format", "jsonl", "--pkcs11", c.uri("cli", pin))
	if r.code != 0 || !strings.Contains(r.stderr, "keyaudit: warning: pin-source file "+pin+" is readable by group or others") || r.stdout == "" {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	noPIN(t, r)
	r = runCLI(t, ctx, "", "--strict", "inventory", "--no-store", "--pkcs11", c.uri("cli", pin))
	oneLine(t, r, "pin-source file "+pin+" is readable by group or others (mode -rw-r--r--)")
	noPIN(t, r)
	cfg := filepath.Join(t.TempDir(), "k.yaml")
	os.WriteFile(cfg, []byte("strict: true\n"), 0o600)
	r = runCLI(t, ctx, "", "--config", cfg, "inventory", "--no-store", "--pkcs11", c.uri("cli", pin))
	oneLine(t, r, "is readable by group or others")
}
