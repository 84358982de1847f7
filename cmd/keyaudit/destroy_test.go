package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/ovh/kmip-go"
	"github.com/ovh/kmip-go/kmipclient"

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

// TestDestroyKMIP: keys of a real KMIP server (PyKMIP) go through plan →
// approve → execute → verify: an active key pair named by the operator
// is revoked (cessation of operation) then destroyed, a pair the server
// marks compromised is proposed on that ground and destroyed with the
// key-compromise reason; a complete read shows both gone.
func TestDestroyKMIP(t *testing.T) {
	lab := testlab.StartPyKMIP(t)
	ctx := context.Background()
	c, err := kmipclient.DialContext(ctx, lab.Addr, kmipclient.WithClientCertFiles(lab.ClientCert, lab.ClientKey),
		kmipclient.WithRootCAFile(lab.CAFile), kmipclient.WithServerName("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	usage := kmip.CryptographicUsageSign | kmip.CryptographicUsageVerify
	ids := map[string]string{}
	reg := func(name string, ex kmipclient.ExecRegister) {
		t.Helper()
		resp, err := ex.WithName(name).ExecContext(ctx)
		if err != nil {
			t.Fatalf("register %s: %v", name, err)
		}
		ids[name] = resp.UniqueIdentifier
	}
	pair := func(stem string) string {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		spki, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		reg(stem+"-private", c.Register().Pkcs1PrivateKey(x509.MarshalPKCS1PrivateKey(k), usage))
		reg(stem+"-public", c.Register().X509PublicKey(spki, usage))
		s := sha256.Sum256(spki)
		return hex.EncodeToString(s[:])
	}
	oldSPKI, _, keepSPKI := pair("old"), pair("burnt"), pair("keep")
	for _, n := range []string{"old-private", "old-public", "keep-private"} {
		if _, err := c.Activate(ids[n]).ExecContext(ctx); err != nil {
			t.Fatalf("activate %s: %v", n, err)
		}
	}
	for _, n := range []string{"burnt-private", "burnt-public"} {
		if _, err := c.Revoke(ids[n]).WithRevocationReasonCode(kmip.RevocationReasonCodeKeyCompromise).WithCompromiseOccurrenceDate(time.Now()).ExecContext(ctx); err != nil {
			t.Fatalf("revoke %s: %v", n, err)
		}
	}
	srv, _ := tlsServer(t, "127.0.61.3:0", "kmip-scan.example.test")
	l := newDestroyLab(t, "    - kmip: kmip://"+lab.Addr+"\n      cert-file: "+lab.ClientCert+"\n      key-file: "+lab.ClientKey+"\n      ca-file: "+lab.CAFile+"\n")
	l.ok("scan", "--timeout", "5s", "--format", "jsonl", srv.Addr)
	before := len(l.keys())

	plan, r := l.plan("--key", oldSPKI, "--ground", "compromised")
	got := map[string]string{}
	for _, a := range plan.Actions {
		got[a.SPKISHA256] = a.Reason + " " + a.Grounds[0].Kind + " " + strconv.Itoa(len(a.Objects))
	}
	if len(plan.Actions) != 2 || got[oldSPKI] != "cessation-of-operation requested 2" || got[keepSPKI] != "" {
		t.Fatalf("plan actions %v\n%s", got, r.stderr)
	}
	for _, a := range plan.Actions {
		if a.SPKISHA256 != oldSPKI && got[a.SPKISHA256] != "key-compromise compromised 2" {
			t.Errorf("compromised pair: %s", got[a.SPKISHA256])
		}
	}
	l.ok("destroy", "approve", plan.ID, "--approver", "bob", "--hash", plan.Hash)
	r = l.ok("destroy", "execute", plan.ID, "--apply")
	if strings.Count(r.stdout, "; verified gone") != 2 || !strings.Contains(r.stdout, "revoked, then destroyed") {
		t.Fatalf("execute:\n%s", r.stdout)
	}
	left := map[string]bool{}
	for _, k := range l.keys() {
		left[k.Label] = true
	}
	if len(left) != before-4 || left["old-private"] || left["burnt-public"] || !left["keep-private"] || !left["keep-public"] {
		t.Errorf("after destruction the server holds %v (had %d objects)", left, before)
	}
	// The server itself no longer knows them.
	if _, err := c.GetAttributes(ids["old-private"]).ExecContext(ctx); err == nil {
		t.Error("old-private is still on the server")
	}
	fs := l.findings()
	if len(fs["key-disappeared"]) != 0 || len(fs["key-destruction-unverified"]) != 0 {
		t.Errorf("findings after destruction: %+v", fs)
	}
}

// TestDestroyAWSKMS: an AWS KMS key (local-kms) goes through plan →
// approve → execute: its deletion is scheduled with the plan's waiting
// period, the verification read finds it pending deletion (not yet
// gone), reconcile keeps a low key-destruction-unverified finding until
// the waiting period ends, and executing again schedules nothing twice.
func TestDestroyAWSKMS(t *testing.T) {
	dummyAWSEnv(t, "AKIAKEYAUDITTEST", "dummy-secret")
	lk := testlab.StartLocalKMS(t, "eu-west-2")
	ctx := context.Background()
	c := kms.New(kms.Options{Region: lk.Region, BaseEndpoint: aws.String(lk.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("AKIAKEYAUDITTEST", "dummy-secret", "")})
	mk := func(owner string) (string, string) {
		k, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify,
			Tags: []types.Tag{{TagKey: aws.String("owner"), TagValue: aws.String(owner)}}})
		if err != nil {
			t.Fatal(err)
		}
		pk, err := c.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: k.KeyMetadata.KeyId})
		if err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(pk.PublicKey)
		return *k.KeyMetadata.KeyId, hex.EncodeToString(s[:])
	}
	oldID, oldSPKI := mk("team-old")
	keepID, _ := mk("team-web")
	srv, _ := tlsServer(t, "127.0.61.4:0", "kms-scan.example.test")
	l := newDestroyLab(t, "    - awskms: awskms://eu-west-2\n      endpoint: "+lk.Endpoint+"\n")
	l.ok("scan", "--timeout", "5s", "--format", "jsonl", srv.Addr)
	l.keys()

	if r := l.run("destroy", "plan", "--key", oldSPKI, "--aws-pending-window", "3"); r.code != exitError || !strings.Contains(r.stderr, "7 to 30") {
		t.Errorf("a 3-day window: exit %d %s", r.code, r.stderr)
	}
	plan, _ := l.plan("--key", oldSPKI, "--aws-pending-window", "7")
	if len(plan.Actions) != 1 || plan.Actions[0].Executor != destroy.ExecutorAWSKMS || plan.Actions[0].PendingWindowDays != 7 || plan.Actions[0].Objects[0].ID != oldID {
		t.Fatalf("plan %+v", plan.Actions)
	}
	l.ok("destroy", "approve", plan.ID, "--approver", "carol", "--hash", plan.Hash)
	r := l.ok("destroy", "execute", plan.ID, "--apply")
	if !strings.Contains(r.stdout, "scheduled") || !strings.Contains(r.stdout, "NOT verified") || !strings.Contains(r.stdout, "pending_deletion") {
		t.Fatalf("execute:\n%s", r.stdout)
	}
	for id, want := range map[string]types.KeyState{oldID: types.KeyStatePendingDeletion, keepID: types.KeyStateEnabled} {
		d, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
		if err != nil || d.KeyMetadata.KeyState != want {
			t.Errorf("key %s: %v %v, want %s", id, d, err, want)
		}
	}
	l.keys()
	fs := l.findings()
	if u := fs["key-destruction-unverified"]; len(u) != 1 || u[0].Severity != reconcile.Low || !strings.Contains(u[0].Message, "deletion is scheduled for") {
		t.Errorf("key-destruction-unverified: %+v", u)
	}
	if len(fs["key-disappeared"]) != 0 {
		t.Errorf("key-disappeared: %+v", fs["key-disappeared"])
	}
	if r := l.ok("destroy", "execute", plan.ID, "--apply"); !strings.Contains(r.stdout, "deletion was already scheduled") {
		t.Errorf("second execution:\n%s", r.stdout)
	}
}
