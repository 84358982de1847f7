package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/acme"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/internal/secretfile"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/reconcile/revoke"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/sqlite"
)

// revokeLab is a real Pebble, one issued certificate, its files and a
// store path.
type revokeLab struct {
	p        *testlab.Pebble
	acct     *acme.Client
	dir, db  string
	acctKey  *ecdsa.PrivateKey
	acctFile string
	leaf     *x509.Certificate
	chain    [][]byte
	certKey  *ecdsa.PrivateKey
	chainPEM string // leaf + intermediate
	leafPEM  string
	// outputs collects every stdout and stderr, to look for secrets.
	outputs []string
}

func newRevokeLab(t *testing.T, names ...string) *revokeLab {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Pebble")
	}
	p := testlab.StartPebble(t)
	acct, acctKey := p.NewAccount(t)
	leaf, chain, certKey := p.Issue(t, acct, names...)
	l := &revokeLab{p: p, acct: acct, dir: t.TempDir(), acctKey: acctKey, leaf: leaf, chain: chain, certKey: certKey}
	l.db = filepath.Join(l.dir, "keyaudit.db")
	l.acctFile = l.writeKey(t, "account.pem", acctKey)
	var all []byte
	for _, der := range chain {
		all = append(all, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	l.chainPEM = l.write(t, "fullchain.pem", all, 0o644)
	l.leafPEM = l.write(t, "leaf.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain[0]}), 0o644)
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	return l
}

func (l *revokeLab) write(t *testing.T, name string, b []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(l.dir, name)
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func keyPEM(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func (l *revokeLab) writeKey(t *testing.T, name string, k *ecdsa.PrivateKey) string {
	return l.write(t, name, keyPEM(t, k), 0o600)
}

// cli runs keyaudit against the lab's store and keeps the output.
func (l *revokeLab) cli(t *testing.T, args ...string) result {
	t.Helper()
	r := runCLI(t, context.Background(), "", append([]string{"--store", l.db}, args...)...)
	l.outputs = append(l.outputs, r.stdout, r.stderr)
	return r
}

func (l *revokeLab) acmeFlags(keyFile string) []string {
	f := []string{"--acme-directory", l.p.DirectoryURL, "--acme-ca-file", l.p.CAFile}
	if keyFile != "" {
		f = append(f, "--account-key-file", keyFile)
	}
	return f
}

func (l *revokeLab) status(t *testing.T) testlab.PebbleCertStatus {
	t.Helper()
	return l.p.CertStatus(t, l.leaf.SerialNumber)
}

func oneClearLine(t *testing.T, what string, r result, code int, contains string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: exit %d, want %d\nstdout %s\nstderr %s", what, r.code, code, r.stdout, r.stderr)
	}
	if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, contains) {
		t.Fatalf("%s: want one line containing %q on stderr, got %q", what, contains, r.stderr)
	}
}

// secrets are textual forms of a private key.
func secrets(t *testing.T, k *ecdsa.PrivateKey) []string {
	t.Helper()
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	d, err := k.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return []string{base64.StdEncoding.EncodeToString(der)[:40], base64.RawURLEncoding.EncodeToString(d), base64.StdEncoding.EncodeToString(d), hex.EncodeToString(d)}
}

func (l *revokeLab) assertNoSecrets(t *testing.T, keys ...*ecdsa.PrivateKey) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), l.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var audit strings.Builder
	if err := st.Audit(context.Background(), func(e store.AuditEntry) error {
		b, _ := json.Marshal(e)
		audit.Write(b)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	texts := append([]string{audit.String()}, l.outputs...)
	for _, k := range keys {
		for _, s := range secrets(t, k) {
			for i, text := range texts {
				if strings.Contains(text, s) {
					t.Fatalf("a private key appears in %s", map[bool]string{true: "the audit log", false: fmt.Sprintf("output %d", i)}[i == 0])
				}
			}
		}
	}
}

func readPlan(t *testing.T, path string) *revoke.Plan {
	t.Helper()
	p, err := revoke.ReadPlanFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRevokeCLIEndToEnd(t *testing.T) {
	l := newRevokeLab(t, "cli-revoke.example.test")
	planPath := filepath.Join(l.dir, "plan.json")

	// Plan from the full chain: the intermediate is left out.
	r := l.cli(t, "revoke", "plan", "--cert", l.chainPEM, "--reason", "keyCompromise", "--actor", "planner", "--note", "INC-42", "-o", planPath)
	if r.code != 0 {
		t.Fatalf("plan: exit %d: %s", r.code, r.stderr)
	}
	plan := readPlan(t, planPath)
	if len(plan.Actions) != 1 || plan.Actions[0].Certificate.SHA256 != certinfo.Hex256(l.chain[0]) || plan.Note != "INC-42" || plan.CreatedBy != "planner" {
		t.Fatalf("plan %+v", plan)
	}
	if !strings.Contains(r.stdout, "sha256:"+plan.Hash) || !strings.Contains(r.stdout, "--hash "+plan.Hash) || !strings.Contains(r.stderr, "ignoring CA certificate") {
		t.Fatalf("plan output:\n%s\n%s", r.stdout, r.stderr)
	}

	// Execution without approval: refused, one line, exit 2, audited.
	r = l.cli(t, append([]string{"revoke", "execute", planPath, "--apply"}, l.acmeFlags(l.acctFile)...)...)
	oneClearLine(t, "execute without approval", r, 2, "has no approval")
	if s := l.status(t); s.Status != "Valid" {
		t.Fatalf("revoked without approval: %+v", s)
	}

	// Approval needs the approver and the exact hash.
	oneClearLine(t, "approve without hash", l.cli(t, "revoke", "approve", planPath, "--approver", "alice"), 2, "--hash is required")
	oneClearLine(t, "approve without approver", l.cli(t, "revoke", "approve", planPath, "--hash", plan.Hash), 2, "--approver NAME is required")
	oneClearLine(t, "approve wrong hash", l.cli(t, "revoke", "approve", planPath, "--approver", "alice", "--hash", strings.Repeat("0", 64)), 2, "approval refused")
	r = l.cli(t, "revoke", "approve", planPath, "--approver", "alice", "--hash", "sha256:"+plan.Hash)
	if r.code != 0 || !strings.Contains(r.stdout, "approved plan "+plan.ID+" sha256:"+plan.Hash+" by alice") {
		t.Fatalf("approve: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Dry run by default.
	r = l.cli(t, append([]string{"revoke", "execute", planPath, "--format", "jsonl"}, l.acmeFlags(l.acctFile)...)...)
	if r.code != 0 || !strings.Contains(r.stdout, `"outcome":"would_revoke"`) || !strings.Contains(r.stderr, "dry run") {
		t.Fatalf("dry run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if s := l.status(t); s.Status != "Valid" {
		t.Fatalf("dry run revoked: %+v", s)
	}

	// Apply, with the account key from the environment.
	t.Setenv("KEYAUDIT_ACME_ACCOUNT_KEY", string(keyPEM(t, l.acctKey)))
	r = l.cli(t, append([]string{"revoke", "execute", planPath, "--apply", "--actor", "ops"}, l.acmeFlags("")...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "revoked") || !strings.Contains(r.stderr, "1 revoked, 0 already revoked, 0 failed") {
		t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if s := l.status(t); s.Status != "Revoked" || s.Reason == nil || *s.Reason != 1 {
		t.Fatalf("Pebble: %+v", s)
	}
	os.Unsetenv("KEYAUDIT_ACME_ACCOUNT_KEY")

	// Again (from the store, by plan ID): reported, not an error.
	r = l.cli(t, append([]string{"revoke", "execute", plan.ID, "--apply", "--format", "jsonl"}, l.acmeFlags(l.acctFile)...)...)
	if r.code != 0 || !strings.Contains(r.stdout, `"outcome":"already_revoked"`) || !strings.Contains(r.stderr, "0 revoked, 1 already revoked") {
		t.Fatalf("twice: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// The log tells the whole story.
	r = l.cli(t, "revoke", "log", "--format", "jsonl")
	var acts []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var e store.AuditEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		acts = append(acts, e.Action)
	}
	want := []string{revoke.ActionPlanCreated, revoke.ActionRefused, revoke.ActionApprovalRefused, revoke.ActionApproved, revoke.ActionDryRun,
		revoke.ActionAttempt, revoke.ActionRevoked, revoke.ActionExecuted, revoke.ActionAlreadyRevoked, revoke.ActionExecuted}
	if strings.Join(acts, " ") != strings.Join(want, " ") {
		t.Fatalf("log:\n got %v\nwant %v", acts, want)
	}
	r = l.cli(t, "revoke", "log", "--plan", plan.ID)
	if r.code != 0 || !strings.Contains(r.stdout, "revoke.revoked") || !strings.Contains(r.stdout, "reason=keyCompromise") || !strings.Contains(r.stdout, "approver=alice") {
		t.Fatalf("log table:\n%s", r.stdout)
	}

	// A later scan still finds the revoked certificate served: reconcile
	// reports it from the audit log.
	cert := tls.Certificate{Certificate: l.chain, PrivateKey: l.certKey}
	srv, err := estate.ServeTLS("127.0.11.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if r := l.cli(t, "scan", "--format", "jsonl", "--timeout", "3s", srv.Addr); r.code != 0 {
		t.Fatalf("scan: exit %d: %s", r.code, r.stderr)
	}
	r = l.cli(t, "reconcile", "--format", "jsonl", "--check", "revoked-but-deployed", "--fail-on", "none")
	if r.code != 0 {
		t.Fatalf("reconcile: exit %d: %s", r.code, r.stderr)
	}
	var f reconcile.Finding
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &f); err != nil || f.Check != "revoked-but-deployed" || f.CertSHA256 != plan.Actions[0].Certificate.SHA256 || !strings.Contains(f.Message, "keyCompromise") {
		t.Fatalf("reconcile output %q (%v)", r.stdout, err)
	}

	l.assertNoSecrets(t, l.acctKey, l.certKey)
}

func TestRevokeCLIFromFindingsOtherAccount(t *testing.T) {
	l := newRevokeLab(t, "rogue.example.test")
	ctx := context.Background()
	// A reconcile run reported the certificate as unauthorized issuance.
	st, err := sqlite.Open(ctx, l.db)
	if err != nil {
		t.Fatal(err)
	}
	run, _ := st.BeginRun(ctx, store.RunSpec{Kind: "reconcile"})
	sha := certinfo.Hex256(l.chain[0])
	f := reconcile.Finding{Check: "unauthorized-issuance", Severity: reconcile.Critical, Subject: "rogue.example.test", CertSHA256: sha, Endpoint: "ct://log/7", Message: "key in no inventory"}
	if err := store.PutJSON(ctx, st, run.ID, store.KindFinding, f.Fingerprint(), "", sha, f); err != nil {
		t.Fatal(err)
	}
	_ = st.FinishRun(ctx, run.ID, store.StatusComplete, "")
	st.Close()

	planPath := filepath.Join(l.dir, "plan.json")
	r := l.cli(t, "revoke", "plan", "--from-findings", "latest", "--cert", l.leafPEM, "--reason", "keyCompromise", "-o", planPath)
	if r.code != 0 {
		t.Fatalf("plan: exit %d: %s", r.code, r.stderr)
	}
	plan := readPlan(t, planPath)
	if len(plan.Actions) != 1 || len(plan.Actions[0].Findings) != 1 || plan.Actions[0].Findings[0].Fingerprint != f.Fingerprint() || plan.Actions[0].Findings[0].RunID != run.ID {
		t.Fatalf("plan %+v", plan.Actions)
	}
	if !strings.Contains(r.stdout, "findings: unauthorized-issuance") {
		t.Fatalf("plan summary:\n%s", r.stdout)
	}
	if r := l.cli(t, "revoke", "approve", planPath, "--approver", "bob", "--hash", plan.Hash); r.code != 0 {
		t.Fatalf("approve: %s", r.stderr)
	}
	// Another account's key: the CA answers 403; recorded as failed, exit 1.
	other, otherKey := l.p.NewAccount(t)
	_ = other
	otherFile := l.writeKey(t, "other.pem", otherKey)
	r = l.cli(t, append([]string{"revoke", "execute", planPath, "--apply"}, l.acmeFlags(otherFile)...)...)
	if r.code != 1 || !strings.Contains(r.stdout, "failed") || !strings.Contains(r.stdout, "403") || !strings.Contains(r.stderr, "1 of 1 revocations failed") {
		t.Fatalf("other account: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if s := l.status(t); s.Status != "Valid" {
		t.Fatalf("revoked by another account: %+v", s)
	}
	r = l.cli(t, "revoke", "log")
	if !strings.Contains(r.stdout, "revoke.failed") || !strings.Contains(r.stdout, "http=403") {
		t.Fatalf("log:\n%s", r.stdout)
	}
	// The certificate's own key may revoke it; the plan says how, so a new plan.
	plan2Path := filepath.Join(l.dir, "plan2.json")
	if r := l.cli(t, "revoke", "plan", "--cert", l.leafPEM, "--reason", "keyCompromise", "--auth", "certificate-key", "--acme-directory", l.p.DirectoryURL, "-o", plan2Path); r.code != 0 {
		t.Fatalf("plan2: %s", r.stderr)
	}
	plan2 := readPlan(t, plan2Path)
	if r := l.cli(t, "revoke", "approve", plan2Path, "--approver", "bob", "--hash", plan2.Hash); r.code != 0 {
		t.Fatalf("approve2: %s", r.stderr)
	}
	certKeyFile := l.writeKey(t, "leaf-key.pem", l.certKey)
	r = l.cli(t, "revoke", "execute", plan2Path, "--apply", "--acme-ca-file", l.p.CAFile, "--cert-key-file", certKeyFile)
	if r.code != 0 {
		t.Fatalf("certificate-key: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if s := l.status(t); s.Status != "Revoked" || *s.Reason != 1 {
		t.Fatalf("Pebble: %+v", s)
	}
	l.assertNoSecrets(t, l.acctKey, otherKey, l.certKey)
}

func TestRevokeCLIConfigAndHook(t *testing.T) {
	l := newRevokeLab(t, "config.example.test")
	hookDir := t.TempDir()
	hook := filepath.Join(hookDir, "hook.sh")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\ncat > \"$(dirname \"$0\")/got.pem\"\necho \"revoking $KEYAUDIT_SERIAL ($KEYAUDIT_REASON)\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := l.write(t, "keyaudit.yaml", []byte(fmt.Sprintf(`revoke:
  acme_directory: %s
  account_key_file: %s
  acme_ca_file: %s
  hook:
    command: [%s]
    timeout: 10s
`, l.p.DirectoryURL, l.acctFile, l.p.CAFile, hook)), 0o644)

	// Hook plan, executed through the config's hook.
	hookPlan := filepath.Join(l.dir, "hook-plan.json")
	if r := l.cli(t, "--config", cfg, "revoke", "plan", "--cert", l.leafPEM, "--reason", "superseded", "--executor", "hook", "-o", hookPlan); r.code != 0 {
		t.Fatalf("plan: %s", r.stderr)
	}
	hp := readPlan(t, hookPlan)
	if r := l.cli(t, "revoke", "approve", hookPlan, "--approver", "carol", "--hash", hp.Hash); r.code != 0 {
		t.Fatalf("approve: %s", r.stderr)
	}
	r := l.cli(t, "--config", cfg, "revoke", "execute", hookPlan, "--apply")
	if r.code != 0 {
		t.Fatalf("hook execute: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(hookDir, "got.pem")); string(got) != hp.Actions[0].Certificate.PEM {
		t.Fatalf("hook got %q", got)
	}
	if r := l.cli(t, "revoke", "log", "--format", "jsonl", "--plan", hp.ID); !strings.Contains(r.stdout, "revoking "+hp.Actions[0].Certificate.Serial+" (superseded)") {
		t.Fatalf("hook output not in the log:\n%s", r.stdout)
	}
	// The hook "revoked" it, so keyaudit will not send it again.

	// ACME plan for the same certificate: the audit log says it is
	// revoked already, nothing is sent.
	again := filepath.Join(l.dir, "again.json")
	if r := l.cli(t, "revoke", "plan", "--cert", l.leafPEM, "--reason", "cessationOfOperation", "-o", again); r.code != 0 {
		t.Fatalf("plan: %s", r.stderr)
	}
	ag := readPlan(t, again)
	if r := l.cli(t, "revoke", "approve", again, "--approver", "carol", "--hash", ag.Hash); r.code != 0 {
		t.Fatalf("approve: %s", r.stderr)
	}
	r = l.cli(t, "--config", cfg, "revoke", "execute", again, "--apply", "--format", "jsonl")
	if r.code != 0 || !strings.Contains(r.stdout, `"outcome":"already_revoked"`) {
		t.Fatalf("again: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if s := l.status(t); s.Status != "Valid" {
		t.Fatalf("Pebble was asked: %+v", s) // the hook, not Pebble, "revoked" it
	}

	// ACME plan for a second certificate, directory, key and CA from the config.
	leaf2, chain2, _ := l.p.Issue(t, l.acct, "config2.example.test")
	leaf2PEM := l.write(t, "leaf2.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain2[0]}), 0o644)
	acmePlan := filepath.Join(l.dir, "acme-plan.json")
	if r := l.cli(t, "revoke", "plan", "--cert", leaf2PEM, "--reason", "cessationOfOperation", "-o", acmePlan); r.code != 0 {
		t.Fatalf("plan: %s", r.stderr)
	}
	ap := readPlan(t, acmePlan)
	if r := l.cli(t, "revoke", "approve", acmePlan, "--approver", "carol", "--hash", ap.Hash); r.code != 0 {
		t.Fatalf("approve: %s", r.stderr)
	}
	r = l.cli(t, "--config", cfg, "revoke", "execute", acmePlan, "--apply", "--format", "jsonl")
	if r.code != 0 || !strings.Contains(r.stdout, `"outcome":"revoked"`) {
		t.Fatalf("acme execute: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if s := l.p.CertStatus(t, leaf2.SerialNumber); s.Status != "Revoked" || *s.Reason != 5 {
		t.Fatalf("Pebble: %+v", s)
	}

	// A misspelt or forbidden config key is an error, not ignored.
	bad := l.write(t, "bad.yaml", []byte("revoke:\n  account_key: \"-----BEGIN PRIVATE KEY-----\"\n"), 0o644)
	oneClearLine(t, "bad config", l.cli(t, "--config", bad, "revoke", "execute", acmePlan), 2, "account_key")
	l.assertNoSecrets(t, l.acctKey)
}

func TestRevokeCLIUsageErrors(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir)
	db := filepath.Join(dir, "k.db")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"revoke", "plan", "--cert", "x.pem"}, "no revocation reason"},
		{[]string{"revoke", "plan", "--cert", "x.pem", "--reason", "certificateHold"}, "forbidden"},
		{[]string{"revoke", "plan", "--reason", "keyCompromise"}, "nothing to plan"},
		{[]string{"revoke", "plan", "--cert", "/nonexistent.pem", "--reason", "keyCompromise"}, "no such file"},
		{[]string{"revoke", "plan", "--from-findings", "latest", "--reason", "keyCompromise"}, "no finished reconcile run"},
		{[]string{"--no-store", "revoke", "log"}, "--no-store cannot be used"},
		{[]string{"revoke", "execute", "/nonexistent/plan.json"}, "no such file"},
		{[]string{"revoke", "execute", "rp-20260101T000000Z-00000000"}, "not recorded"},
		{[]string{"revoke", "execute", "--account-key", "x", "p.json"}, "unknown flag"},
	} {
		r := runCLI(t, context.Background(), "", append([]string{"--store", db}, tc.args...)...)
		// The first command to open the store creates it, and says so.
		r.stderr = regexp.MustCompile(`(?m)^keyaudit: creating a new store at .*\n`).ReplaceAllString(r.stderr, "")
		oneClearLine(t, strings.Join(tc.args, " "), r, 2, tc.want)
	}
}

// TestRevokeCLIHSMKeyAndAuditLog: a certificate whose key is generated in
// a SoftHSM token (the CSR signed by the token) is revoked through real
// Pebble with "revoke apply --approve" authorised by that key, the JWS
// signed inside the token; the audit log, mirrored to a file, verifies,
// and tampering with the file or the store is named.
func TestRevokeCLIHSMKeyAndAuditLog(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Pebble and SoftHSM")
	}
	h := testlab.NewSoftHSM(t)
	tk := h.InitToken("revoker", "246810")
	tk.GenKeyPair("EC:prime256v1", "leaf-key", "4b01")
	p := testlab.StartPebble(t)
	acct, acctKey := p.NewAccount(t)
	dir := t.TempDir()
	pinFile := filepath.Join(dir, "pin")
	if err := os.WriteFile(pinFile, []byte(tk.PIN), 0o600); err != nil {
		t.Fatal(err)
	}
	uri := "pkcs11:token=revoker;object=leaf-key?module-path=" + h.Module + "&pin-source=file:" + pinFile

	tok, err := revoke.OpenPKCS11(uri, func(string) string { return "" }, secretfile.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tok.Signers()) != 1 {
		t.Fatalf("signers: %d", len(tok.Signers()))
	}
	leaf, chain := p.IssueWithKey(t, acct, tok.Signers()[0], "hsm-revoke.example.test")
	tok.Close()
	spki, _ := certinfo.SPKISHA256(leaf.PublicKey)
	if tkPub, _ := certinfo.SPKISHA256(tk.PublicKey("4b01")); tkPub != spki {
		t.Fatalf("certificate key %s is not the token's %s", spki, tkPub)
	}

	l := &revokeLab{p: p, acct: acct, dir: dir, acctKey: acctKey, leaf: leaf, chain: chain}
	l.db = filepath.Join(dir, "keyaudit.db")
	l.leafPEM = l.write(t, "leaf.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain[0]}), 0o644)
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	logFile := filepath.Join(dir, "audit.jsonl")
	planPath := filepath.Join(dir, "plan.json")

	if r := l.cli(t, "revoke", "plan", "--cert", l.leafPEM, "--reason", "keyCompromise", "--auth", "certificate-key", "-o", planPath, "--audit-log-file", logFile); r.code != 0 {
		t.Fatalf("plan: exit %d: %s", r.code, r.stderr)
	}
	plan := readPlan(t, planPath)
	flags := []string{"--acme-directory", p.DirectoryURL, "--acme-ca-file", p.CAFile, "--cert-key-pkcs11", uri, "--audit-log-file", logFile}

	// apply without --approve, and --approve without a recorded approval:
	// both refused, nothing sent.
	oneClearLine(t, "apply without --approve", l.cli(t, append([]string{"revoke", "apply", planPath}, flags...)...), 2, "confirm with --approve")
	oneClearLine(t, "apply --approve without approval", l.cli(t, append([]string{"revoke", "apply", planPath, "--approve"}, flags...)...), 2, "has no approval")
	if s := l.status(t); s.Status != "Valid" {
		t.Fatalf("revoked without approval: %+v", s)
	}
	if r := l.cli(t, "revoke", "approve", planPath, "--approver", "alice", "--hash", plan.Hash, "--audit-log-file", logFile); r.code != 0 {
		t.Fatalf("approve: exit %d: %s", r.code, r.stderr)
	}
	r := l.cli(t, append([]string{"revoke", "apply", planPath, "--approve", "--actor", "ops"}, flags...)...)
	if r.code != 0 || !strings.Contains(r.stderr, "1 revoked, 0 already revoked, 0 failed") {
		t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if s := l.status(t); s.Status != "Revoked" || s.Reason == nil || *s.Reason != 1 {
		t.Fatalf("Pebble: %+v", s)
	}
	// Again: nothing sent twice.
	r = l.cli(t, append([]string{"revoke", "apply", planPath, "--approve"}, flags...)...)
	if r.code != 0 || !strings.Contains(r.stderr, "0 revoked, 1 already revoked") {
		t.Fatalf("again: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	r = l.cli(t, "audit-log", "verify", "--file", logFile)
	if r.code != 0 || !strings.Contains(r.stdout, "store: 8 entries verified") || !strings.Contains(r.stdout, "8 entries verified, each matching the store") {
		t.Fatalf("verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, o := range append(l.outputs, readFile(t, logFile)) {
		if strings.Contains(o, tk.PIN) {
			t.Fatalf("the PIN shows in output or the audit file:\n%s", o)
		}
	}
	oneClearLine(t, "verify missing file", l.cli(t, "audit-log", "verify", "--file", filepath.Join(dir, "nope.jsonl")), 2, "nope.jsonl")

	// An edited file line is named (line 5: the revoke.revoked entry).
	orig := readFile(t, logFile)
	lines := strings.SplitAfter(orig, "\n")
	if !strings.Contains(lines[4], `"action":"revoke.revoked"`) {
		t.Fatalf("line 5 of the audit file: %s", lines[4])
	}
	lines[4] = strings.Replace(lines[4], `"actor":"ops"`, `"actor":"eve"`, 1)
	l.write(t, "audit.jsonl", []byte(strings.Join(lines, "")), 0o600)
	oneClearLine(t, "verify edited file", l.cli(t, "audit-log", "verify", "--file", logFile), 1, "line 5 (entry #5)")
	l.write(t, "audit.jsonl", []byte(orig), 0o600)

	// A row changed directly in the database is named.
	db, err := sql.Open("sqlite", l.db)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER audit_no_update`, `UPDATE audit SET target = 'something-else' WHERE id = 5`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	oneClearLine(t, "verify tampered store", l.cli(t, "audit-log", "verify"), 1, "entry #5")
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
