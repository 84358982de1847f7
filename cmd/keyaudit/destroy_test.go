package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/reconcile/destroy"
)

// destroyLab is a store, a config naming the inventory sources, and the
// commands of the destruction lifecycle run against them.
type destroyLab struct {
	t   *testing.T
	cfg string
	dir string
}

func newDestroyLab(t *testing.T, sources string) *destroyLab {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "keyaudit.yaml")
	if err := os.WriteFile(cfg, []byte("store: "+filepath.Join(dir, "k.db")+"\ninventory:\n  format: jsonl\n  sources:\n"+sources), 0o600); err != nil {
		t.Fatal(err)
	}
	return &destroyLab{t: t, cfg: cfg, dir: dir}
}

func (l *destroyLab) run(args ...string) result {
	l.t.Helper()
	return runCLI(l.t, context.Background(), "", append([]string{"--config", l.cfg}, args...)...)
}

func (l *destroyLab) ok(args ...string) result {
	l.t.Helper()
	r := l.run(args...)
	if r.code != exitOK {
		l.t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func (l *destroyLab) keys() []inventory.Key {
	l.t.Helper()
	return lines[inventory.Key](l.t, l.ok("inventory").stdout)
}

func (l *destroyLab) findings() map[string][]reconcile.Finding {
	l.t.Helper()
	out := map[string][]reconcile.Finding{}
	for _, f := range lines[reconcile.Finding](l.t, l.ok("reconcile", "--format", "jsonl", "--fail-on", "none").stdout) {
		out[f.Check] = append(out[f.Check], f)
	}
	return out
}

// plan writes a plan with args and returns it, read back from its file.
func (l *destroyLab) plan(args ...string) (*destroy.Plan, result) {
	l.t.Helper()
	path := filepath.Join(l.dir, "plan.json")
	r := l.ok(append([]string{"destroy", "plan", "-o", path}, args...)...)
	p, err := destroy.ReadPlanFile(path)
	if err != nil {
		l.t.Fatal(err)
	}
	return p, r
}

// auditActions are the actions of the destroy.* audit entries, in order.
func (l *destroyLab) auditActions() []string {
	l.t.Helper()
	var out []string
	for _, e := range lines[map[string]any](l.t, l.ok("revoke", "log", "--all", "--format", "jsonl").stdout) {
		if a, _ := e["action"].(string); strings.HasPrefix(a, "destroy.") {
			out = append(out, a)
		}
	}
	return out
}

func spkiOf(t *testing.T, c tls.Certificate) string {
	t.Helper()
	x, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(x.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(s[:])
}

// TestDestroyPKCS11: a key held in SoftHSM2 goes through plan → approve →
// execute → verify; a key served at planning time is never planned, and a
// key that became served after approval is refused at execution; the
// destroyed key raises no key-disappeared, and the plan executed again
// sends nothing.
func TestDestroyPKCS11(t *testing.T) {
	h := testlab.NewSoftHSM(t)
	tk := h.InitToken("vault", cliPIN)
	pinFile := filepath.Join(t.TempDir(), "pin")
	os.WriteFile(pinFile, []byte(cliPIN+"\n"), 0o600)

	root, err := estate.NewRoot("destroy test root", estate.ECDSA256)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(cn, label, id string) tls.Certificate {
		c, err := root.Issue(estate.Leaf{CN: cn, Key: estate.ECDSA256})
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		kf := filepath.Join(t.TempDir(), label+".pem")
		os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
		tk.WriteObject(kf, "privkey", label, id, "--sensitive")
		cf := filepath.Join(t.TempDir(), label+".crt")
		os.WriteFile(cf, c.Certificate[0], 0o600)
		tk.WriteObject(cf, "cert", label, id)
		return c
	}
	web := issue("web.example.test", "web", "01")       // served all along
	later := issue("later.example.test", "later", "02") // served only after approval
	tk.GenKeyPair("EC:prime256v1", "retired", "03")     // served nowhere

	webSrv, err := estate.ServeTLS("127.0.61.1:0", &tls.Config{Certificates: []tls.Certificate{web}})
	if err != nil {
		t.Fatal(err)
	}
	defer webSrv.Close()
	uri := "pkcs11:token=vault?module-path=" + h.Module + "&pin-source=file:" + pinFile
	l := newDestroyLab(t, "    - pkcs11: "+uri+"\n")
	l.ok("scan", "--timeout", "5s", "--format", "jsonl", webSrv.Addr)
	keys := l.keys()
	spki := map[string]string{}
	for _, k := range keys {
		if k.Class == inventory.ClassPrivateKey {
			spki[k.Label] = k.SPKISHA256
		}
	}
	if spki["web"] != spkiOf(t, web) || spki["later"] != spkiOf(t, later) || spki["retired"] == "" {
		t.Fatalf("inventory %+v", keys)
	}

	// The served key is left out; the other two are planned, every
	// object of each.
	plan, r := l.plan("--key", spki["web"], "--key", spki["later"], "--key", spki["retired"], "--note", "CHG-1")
	if len(plan.Actions) != 2 || len(plan.Skipped) != 1 || !strings.Contains(plan.Skipped[0].Why, "in use: served on "+webSrv.Addr) {
		t.Fatalf("plan: %+v\n%s", plan, r.stderr)
	}
	objects := map[string]int{}
	for _, a := range plan.Actions {
		objects[a.Name] = len(a.Objects)
		if a.Executor != destroy.ExecutorPKCS11 || !strings.HasPrefix(a.Source, "pkcs11:token=vault") {
			t.Errorf("action %+v", a)
		}
	}
	if objects["vault/later"] != 2 || objects["vault/retired"] != 2 {
		t.Errorf("objects per action %v, want the private key and the certificate or public key of each", objects)
	}
	if b, _ := os.ReadFile(filepath.Join(l.dir, "plan.json")); strings.Contains(string(b), cliPIN) {
		t.Error("the plan carries the PIN")
	}
	if !strings.Contains(r.stdout, "hash sha256:"+plan.Hash) {
		t.Errorf("plan output %q does not give the hash", r.stdout)
	}

	// Nothing runs without the approval of this exact hash.
	if r := l.run("destroy", "execute", plan.ID, "--apply"); r.code != exitError || !strings.Contains(r.stderr, "has no approval") {
		t.Fatalf("unapproved execute: exit %d %s", r.code, r.stderr)
	}
	if r := l.run("destroy", "approve", plan.ID, "--approver", "alice", "--hash", strings.Repeat("ab", 32)); r.code != exitError || !strings.Contains(r.stderr, "hash mismatch") {
		t.Fatalf("approval of another hash: exit %d %s", r.code, r.stderr)
	}
	l.ok("destroy", "approve", plan.ID, "--approver", "alice", "--hash", "sha256:"+plan.Hash)

	// A dry run destroys nothing.
	if r := l.ok("destroy", "execute", plan.ID); !strings.Contains(r.stdout, "would_destroy") {
		t.Errorf("dry run: %s", r.stdout)
	}
	if n := len(l.keys()); n != len(keys) {
		t.Fatalf("a dry run changed the token: %d keys, had %d", n, len(keys))
	}

	// "later" is served now: execution re-reads the estate and refuses it.
	laterSrv, err := estate.ServeTLS("127.0.61.2:0", &tls.Config{Certificates: []tls.Certificate{later}})
	if err != nil {
		t.Fatal(err)
	}
	defer laterSrv.Close()
	l.ok("scan", "--timeout", "5s", "--format", "jsonl", webSrv.Addr, laterSrv.Addr)
	r = l.run("destroy", "execute", plan.ID, "--apply")
	if r.code != exitFindings || !strings.Contains(r.stdout, "vault/later") || !strings.Contains(r.stdout, "refused_in_use") ||
		!strings.Contains(r.stdout, "vault/retired") || !strings.Contains(r.stdout, "destroyed") || !strings.Contains(r.stdout, "verified gone") {
		t.Fatalf("execute: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	left := map[string]int{}
	for _, k := range l.keys() {
		left[k.Label]++
	}
	if left["retired"] != 0 || left["later"] != 2 || left["web"] != 2 {
		t.Fatalf("token after execution: %v", left)
	}
	acts := l.auditActions()
	attempt, destroyed := slices.Index(acts, "destroy.attempt"), slices.Index(acts, "destroy.destroyed")
	if attempt < 0 || destroyed < attempt || !slices.Contains(acts, "destroy.refused_in_use") || !slices.Contains(acts, "destroy.verified") ||
		slices.Index(acts, "destroy.approved") > attempt {
		t.Errorf("audit trail %v", acts)
	}

	// Reconcile: the destroyed key is no disappearance and needs no
	// verification; nothing else is left over.
	fs := l.findings()
	for _, c := range []string{"key-disappeared", "key-destruction-unverified"} {
		if len(fs[c]) != 0 {
			t.Errorf("%s: %+v", c, fs[c])
		}
	}

	// The plan executed again: the destroyed key is not sent again, the
	// served one still refused.
	r = l.run("destroy", "execute", plan.ID, "--apply")
	if r.code != exitFindings || !strings.Contains(r.stdout, "already_destroyed") || strings.Count(strings.Join(l.auditActions(), " "), "destroy.attempt") != 1 {
		t.Errorf("second execution: exit %d %s", r.code, r.stdout)
	}
	if r := l.ok("destroy", "verify", plan.ID); !strings.Contains(r.stdout, "already_destroyed") {
		t.Errorf("verify: %s", r.stdout)
	}
	noPIN(t, r)
}

// TestDestroyRefusesWithoutScan: with no scan in the store keyaudit
// cannot show a key is unused, and plans nothing.
func TestDestroyRefusesWithoutScan(t *testing.T) {
	h := testlab.NewSoftHSM(t)
	tk := h.InitToken("vault", cliPIN)
	tk.GenKeyPair("EC:prime256v1", "retired", "03")
	pinFile := filepath.Join(t.TempDir(), "pin")
	os.WriteFile(pinFile, []byte(cliPIN+"\n"), 0o600)
	l := newDestroyLab(t, "    - pkcs11: pkcs11:token=vault?module-path="+h.Module+"&pin-source=file:"+pinFile+"\n")
	keys := l.keys()
	r := l.run("destroy", "plan", "--key", keys[0].SPKISHA256)
	if r.code != exitError || !strings.Contains(r.stderr, "no scan") || !strings.Contains(r.stderr, "no key to destroy") {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
	var p destroy.Plan
	if json.Unmarshal([]byte(r.stdout), &p) == nil {
		t.Errorf("a plan was written: %s", r.stdout)
	}
}
