package stage

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	lab "github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/reconcile/revoke"
	"github.com/keyaudit/keyaudit/scanner"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/sqlite"
)

func keyCompromise(t *testing.T) revoke.Reason {
	t.Helper()
	r, err := revoke.ParseReason("keyCompromise")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// recordReconcile records a finished reconcile run that read the scan
// run scanID and found fs.
func recordReconcile(t *testing.T, st store.Store, scanID int64, fs ...reconcile.Finding) store.Run {
	t.Helper()
	ctx := context.Background()
	run, err := st.BeginRun(ctx, store.RunSpec{Kind: "reconcile", Meta: map[string]any{
		"inputs": []reconcile.SourceStatus{{Kind: "scan", RunID: scanID, Status: string(store.StatusComplete)}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if err := store.PutJSON(ctx, st, run.ID, store.KindFinding, f.Fingerprint(), f.SPKISHA256, f.CertSHA256, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.FinishRun(ctx, run.ID, store.StatusComplete, ""); err != nil {
		t.Fatal(err)
	}
	run, err = st.GetRun(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

func auditActions(t *testing.T, st store.Store) []string {
	t.Helper()
	var out []string
	if err := st.Audit(context.Background(), func(e store.AuditEntry) error {
		out = append(out, e.Action)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRevokePlanFromFindings: a plan from a reconcile run's findings
// takes the revocable ones of that run ("latest": the newest finished
// one), not those tracked across reconciles, and the certificates the
// scan it read stored, so no certificate file is needed.
func TestRevokePlanFromFindings(t *testing.T) {
	srv := serveTLS(t, "127.0.61.21:0", "weak.stage.test")
	st := tempStore(t)
	ctx := context.Background()
	scan, err := Scan(ctx, Env{Store: st}, ScanParams{
		Config:  scanner.Config{Timeout: 5 * time.Second, Shard: scanner.Shard{Index: 1, Count: 1}},
		Targets: specs(t, srv.Addr),
	}, func(scanner.Observation) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	obs := storedObservations(t, st, scan.RunID)[srv.Addr]
	leaf := obs.Leaf()
	if leaf == nil {
		t.Fatalf("no leaf observed at %s: %+v", srv.Addr, obs)
	}

	weak := reconcile.Finding{Check: "weak-key", Severity: reconcile.High, Subject: "weak.stage.test", CertSHA256: leaf.SHA256, SPKISHA256: leaf.SPKISHA256, Endpoint: srv.Addr, Message: "weak"}
	elsewhere := reconcile.Finding{Check: "unauthorized-issuance", Severity: reconcile.Critical, Subject: "ct.stage.test", CertSHA256: strings.Repeat("ab", 32), Message: "not stored"}
	expiring := reconcile.Finding{Check: "expiring", Severity: reconcile.Medium, Subject: "weak.stage.test", CertSHA256: leaf.SHA256, Message: "not revocable"}
	older := recordReconcile(t, st, scan.RunID, elsewhere)
	latest := recordReconcile(t, st, scan.RunID, weak, elsewhere, expiring)
	// A finding tracked open across reconciles but not of the latest run
	// is not planned.
	tracked := reconcile.Finding{Check: "weak-key", Severity: reconcile.High, Subject: "tracked.stage.test", CertSHA256: strings.Repeat("cd", 32), Message: "tracked only"}
	if err := st.UpdateFindings(ctx, nil, func(map[string]store.FindingRecord) ([]store.FindingRecord, []store.FindingEvent, error) {
		r, err := recordOf(reconcile.Tracked{Finding: tracked, State: store.FindingOpen, FirstSeen: time.Now(), LastSeen: time.Now(), Since: time.Now()}, latest.ID)
		return []store.FindingRecord{r}, nil, err
	}); err != nil {
		t.Fatal(err)
	}

	var stderr strings.Builder
	env := Env{Store: st, Stderr: &stderr}
	plan, err := RevokePlan(ctx, env, RevokePlanParams{FromFindings: "latest", Options: revoke.PlanOptions{Reason: keyCompromise(t), CreatedBy: "planner"}})
	if err != nil {
		t.Fatalf("RevokePlan: %v", err)
	}
	if len(plan.Actions) != 1 || plan.Actions[0].Certificate.SHA256 != leaf.SHA256 || len(plan.Actions[0].Findings) != 1 {
		t.Fatalf("actions %+v", plan.Actions)
	}
	if f := plan.Actions[0].Findings[0]; f.RunID != latest.ID || f.Fingerprint != weak.Fingerprint() || f.MatchedBy != "cert_sha256" {
		t.Errorf("finding ref %+v, want %s of run %d", f, weak.Fingerprint(), latest.ID)
	}
	if len(plan.Skipped) != 1 || plan.Skipped[0].CertSHA256 != elsewhere.CertSHA256 {
		t.Errorf("skipped %+v, want only %s", plan.Skipped, elsewhere.CertSHA256)
	}
	if plan.CreatedBy != "planner" || plan.Source != "findings of reconcile run "+itoa(latest.ID) {
		t.Errorf("plan by %q from %q", plan.CreatedBy, plan.Source)
	}
	if got := auditActions(t, st); len(got) != 1 || got[0] != revoke.ActionPlanCreated {
		t.Errorf("audit log %v, want the plan recorded", got)
	}
	rec, err := revoke.LoadPlan(ctx, st, plan.ID)
	if err != nil || rec.Hash != plan.Hash {
		t.Errorf("recorded plan %v, %v", rec, err)
	}

	// The older run, by ID: its only revocable finding has no stored
	// certificate, so there is nothing to plan, and nothing is recorded.
	stderr.Reset()
	_, err = RevokePlan(ctx, env, RevokePlanParams{FromFindings: itoa(older.ID), Options: revoke.PlanOptions{Reason: keyCompromise(t)}})
	if err == nil || !strings.Contains(err.Error(), "no revocation to plan (1 revocable findings") || !strings.Contains(stderr.String(), "keyaudit: skipped "+revoke.ShortHash(elsewhere.CertSHA256)) {
		t.Errorf("older run: %v; stderr %q", err, stderr.String())
	}
	if n := len(auditActions(t, st)); n != 1 {
		t.Errorf("%d audit entries after a refused plan, want 1", n)
	}

	for _, tc := range []struct {
		p    RevokePlanParams
		want string
	}{
		{RevokePlanParams{FromFindings: "nope"}, `--from-findings: "nope" is not a run ID`},
		{RevokePlanParams{FromFindings: itoa(scan.RunID)}, "is a scan run, not a reconcile run"},
		{RevokePlanParams{}, "nothing to plan"},
		{RevokePlanParams{FromFindings: "latest", Options: revoke.PlanOptions{Checks: []string{"no-such-check"}}}, `revocable check "no-such-check": no such check`},
	} {
		tc.p.Options.Reason = keyCompromise(t)
		if _, err := RevokePlan(ctx, env, tc.p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.p, err, tc.want)
		}
	}
	if _, err := RevokePlan(ctx, Env{}, RevokePlanParams{FromFindings: "latest", Options: revoke.PlanOptions{Reason: keyCompromise(t)}}); err == nil || !strings.Contains(err.Error(), "no store") {
		t.Errorf("without a store: %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// writeChain writes the leaf and its issuer, PEM, to a file.
func writeChain(t *testing.T, dir string, chain ...[]byte) string {
	t.Helper()
	var b []byte
	for _, der := range chain {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	p := filepath.Join(dir, "chain.pem")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRevokeFlowThroughHook drives plan, approve, execute and the log at
// the stage level with a hook executor, the audit log mirrored to a
// file: execution is refused until the exact hash is approved, a dry run
// sends nothing, the hook never sees the account key variable, a
// certificate revoked already is not sent twice, and the file's chain
// matches the store.
func TestRevokeFlowThroughHook(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	root, err := lab.NewRoot("stage revoke root", lab.ECDSA256)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := root.Issue(lab.Leaf{CN: "hook.stage.test", Key: lab.ECDSA256})
	if err != nil {
		t.Fatal(err)
	}
	var notes strings.Builder
	certs, err := ReadCertificates(Env{Stderr: &notes}, []string{writeChain(t, dir, leaf.Certificate[0], root.Cert.Raw)})
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 1 || certs[0].Info.SHA256 != certinfo.Hex256(leaf.Certificate[0]) || !strings.Contains(notes.String(), "ignoring CA certificate CN=stage revoke root") {
		t.Fatalf("certificates %d, notes %q", len(certs), notes.String())
	}

	logFile := filepath.Join(dir, "audit.jsonl")
	st, err := OpenAuditLogged(logFile, func() (store.Store, error) { return sqlite.Open(ctx, filepath.Join(dir, "k.db")) })
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	env := Env{Store: st}
	plan, err := RevokePlan(ctx, env, RevokePlanParams{Certs: certs, Options: revoke.PlanOptions{Reason: keyCompromise(t), Executor: revoke.ExecutorHook}})
	if err != nil {
		t.Fatal(err)
	}
	if plan.CreatedBy == "" || plan.Source != "certificates" || len(plan.Actions) != 1 {
		t.Fatalf("plan %+v", plan)
	}
	planFile := filepath.Join(dir, "plan.json")
	var stdout, summary strings.Builder
	if err := SaveRevokePlan(plan, planFile, &stdout, &summary); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "keyaudit revoke approve "+planFile+" --approver NAME --hash "+plan.Hash) || summary.Len() != 0 {
		t.Errorf("summary of a plan saved to a file: stdout %q, stderr %q", stdout.String(), summary.String())
	}

	hook := filepath.Join(dir, "hook.sh")
	seen := filepath.Join(dir, "hook.env")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\nenv > \""+seen+"\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("STAGE_REVOKE_ACCOUNT_KEY", "do-not-pass-me")
	var emitted []revoke.ActionReport
	exec := func(planArg string, apply bool) (*revoke.Report, error) {
		emitted = nil
		return RevokeExecute(ctx, env, RevokeExecuteParams{Plan: planArg, Apply: apply, Actor: "ops", HookCommand: []string{hook}, AccountKeyEnv: "STAGE_REVOKE_ACCOUNT_KEY"},
			func(ar revoke.ActionReport) error {
				emitted = append(emitted, ar)
				return nil
			})
	}

	// Not approved: refused, recorded, nothing emitted or run.
	if _, err := exec(planFile, true); !errors.Is(err, revoke.ErrNotApproved) || len(emitted) != 0 {
		t.Fatalf("unapproved execution: %v, emitted %v", err, emitted)
	}
	if _, err := os.Stat(seen); err == nil {
		t.Fatal("the hook ran for an unapproved plan")
	}

	// An approval names who approves and the hash; a wrong hash is
	// refused and recorded; the right one, as "sha256:HEX", approves.
	before := len(auditActions(t, st))
	for _, p := range []RevokeApproveParams{{Plan: planFile, Hash: plan.Hash}, {Plan: planFile, Approver: "alice"}} {
		if _, err := RevokeApprove(ctx, env, p); err == nil || !strings.Contains(err.Error(), "is required") {
			t.Errorf("approve %+v: %v", p, err)
		}
	}
	if n := len(auditActions(t, st)); n != before {
		t.Errorf("incomplete approvals wrote %d audit entries", n-before)
	}
	if _, err := RevokeApprove(ctx, env, RevokeApproveParams{Plan: planFile, Approver: "alice", Hash: strings.Repeat("0", 64)}); err == nil || !strings.HasPrefix(err.Error(), "approval refused: ") {
		t.Errorf("wrong hash: %v", err)
	}
	ap, err := RevokeApprove(ctx, env, RevokeApproveParams{Plan: planFile, Approver: "alice", Hash: "sha256:" + plan.Hash})
	if err != nil || ap.Approver != "alice" || ap.PlanHash != plan.Hash {
		t.Fatalf("approve: %+v, %v", ap, err)
	}

	// Dry run: reported, not sent.
	rep, err := exec(planFile, false)
	if err != nil || !rep.DryRun || len(emitted) != 1 || emitted[0].Outcome != revoke.OutcomeWouldRevoke {
		t.Fatalf("dry run: %v, %+v", err, emitted)
	}
	if _, err := os.Stat(seen); err == nil {
		t.Fatal("the hook ran in a dry run")
	}

	// Apply, then again by the recorded plan ID: sent once.
	rep, err = exec(planFile, true)
	if err != nil || rep.Failed() != 0 || len(emitted) != 1 || emitted[0].Outcome != revoke.OutcomeRevoked {
		t.Fatalf("apply: %v, %+v", err, emitted)
	}
	hookEnv, err := os.ReadFile(seen)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(hookEnv), "do-not-pass-me") || !strings.Contains(string(hookEnv), "KEYAUDIT_SERIAL="+plan.Actions[0].Certificate.Serial) {
		t.Errorf("hook environment:\n%s", hookEnv)
	}
	if rep, err = exec(plan.ID, true); err != nil || len(emitted) != 1 || emitted[0].Outcome != revoke.OutcomeAlreadyRevoked || rep.Summary() != "plan "+plan.ID+": 0 revoked, 1 already revoked, 0 failed" {
		t.Fatalf("again: %v, %+v", err, emitted)
	}

	// The log: revoke.* entries, of one plan or all.
	if _, err := st.AppendAudit(ctx, store.AuditEntry{Actor: "test", Action: "other.entry", Target: plan.ID}); err != nil {
		t.Fatal(err)
	}
	logged := func(p RevokeLogParams) []string {
		var out []string
		if err := RevokeLog(ctx, env, p, func(e store.AuditEntry) error {
			out = append(out, e.Action)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	all := auditActions(t, st)
	if got := logged(RevokeLogParams{All: true}); strings.Join(got, " ") != strings.Join(all, " ") {
		t.Errorf("all: %v, want %v", got, all)
	}
	want := []string{revoke.ActionPlanCreated, revoke.ActionRefused, revoke.ActionApprovalRefused, revoke.ActionApproved, revoke.ActionDryRun,
		revoke.ActionAttempt, revoke.ActionRevoked, revoke.ActionExecuted, revoke.ActionAlreadyRevoked, revoke.ActionExecuted}
	if got := logged(RevokeLogParams{PlanID: plan.ID}); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("plan log:\n got %v\nwant %v", got, want)
	}
	if got := logged(RevokeLogParams{PlanID: "rp-other"}); len(got) != 0 {
		t.Errorf("another plan's log: %v", got)
	}
	n, err := store.VerifyAuditFile(ctx, logFile, st)
	if err != nil || n != len(all) {
		t.Errorf("audit file: %d entries verified of %d: %v", n, len(all), err)
	}
}

// TestRevokeExecuteACME revokes through a real Pebble with the account
// key read through Getenv, and refuses an unreadable account key before
// anything is sent.
func TestRevokeExecuteACME(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Pebble")
	}
	ctx := context.Background()
	p := testlab.StartPebble(t)
	acct, acctKey := p.NewAccount(t)
	leaf, chain, _ := p.Issue(t, acct, "stage-revoke.example.test")
	dir := t.TempDir()
	certs, err := ReadCertificates(Env{}, []string{writeChain(t, dir, chain[0])})
	if err != nil {
		t.Fatal(err)
	}
	st := tempStore(t)
	env := Env{Store: st}
	plan, err := RevokePlan(ctx, env, RevokePlanParams{Certs: certs, Options: revoke.PlanOptions{Reason: keyCompromise(t), Directory: p.DirectoryURL}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RevokeApprove(ctx, env, RevokeApproveParams{Plan: plan.ID, Approver: "alice", Hash: plan.Hash}); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(acctKey)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	params := RevokeExecuteParams{Plan: plan.ID, Apply: true, ACMECAFile: p.CAFile, AccountKeyEnv: "ACCT",
		Getenv: func(k string) string { return map[string]string{"ACCT": "not a key"}[k] }}
	if rep, err := RevokeExecute(ctx, env, params, nil); err == nil || rep != nil || !strings.Contains(err.Error(), "account key (variable ACCT)") {
		t.Fatalf("bad account key: %v, %v", rep, err)
	}
	if s := p.CertStatus(t, leaf.SerialNumber); s.Status != "Valid" {
		t.Fatalf("revoked with a bad key: %+v", s)
	}
	params.Getenv = func(k string) string { return map[string]string{"ACCT": keyPEM}[k] }
	rep, err := RevokeExecute(ctx, env, params, func(revoke.ActionReport) error { return nil })
	if err != nil || rep.Counts[string(revoke.OutcomeRevoked)] != 1 {
		t.Fatalf("execute: %+v, %v", rep, err)
	}
	if s := p.CertStatus(t, leaf.SerialNumber); s.Status != "Revoked" || s.Reason == nil || *s.Reason != 1 {
		t.Fatalf("Pebble: %+v", s)
	}
}

// termEscape is an issuer that would retitle the window and clear the
// approver's screen if printed raw.
const termEscape = "\x1b]0;X\x07\x1b[2J"

// assertPrintable fails when out holds a control character other than
// the newlines ending its lines.
func assertPrintable(t *testing.T, what, out string) {
	t.Helper()
	for _, r := range out {
		if r != '\n' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0)) {
			t.Errorf("%s holds control character %U: %q", what, r, out)
			return
		}
	}
}

func TestRevokePlanSummaryControlChars(t *testing.T) {
	p := &revoke.Plan{
		ID: "plan-" + termEscape, Hash: "ab\x1bcd", Source: "certificates" + termEscape, CreatedBy: "mallory\x9b31m",
		Actions: []revoke.Action{{
			Certificate: revoke.CertRef{
				SHA256: "00112233445566778899", Serial: "01\x07", Issuer: "CN=Evil CA" + termEscape,
				Subject: "CN=x", Names: []string{"a.example" + termEscape, "b.example\r"},
			},
			Reason:   revoke.Reason{Name: "keyCompromise\x1b[1m", Code: 1},
			Executor: "acme", Auth: "account-key\x7f",
			Findings: []revoke.FindingRef{{Check: "weak-key" + termEscape}},
		}},
		Skipped: []revoke.Skipped{{CertSHA256: "ffee", Why: "no certificate" + termEscape}},
	}
	var b strings.Builder
	writeRevokePlanSummary(&b, p, "plan\x1b.json")
	out := b.String()
	assertPrintable(t, "plan summary", out)
	if want := "issued by CN=Evil CA?]0;X??[2J"; !strings.Contains(out, want) {
		t.Errorf("plan summary lacks %q:\n%s", want, out)
	}
	if n := strings.Count(out, "\n"); n != 4 {
		t.Errorf("plan summary has %d lines, want 4:\n%s", n, out)
	}
}

func TestReadCertificatesCAControlChars(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Evil CA" + termEscape},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, ca, ca, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	if _, err := ReadCertificates(Env{Stderr: &stderr}, []string{path}); err == nil {
		t.Error("ReadCertificates accepted a file holding only a CA certificate")
	}
	out := stderr.String()
	if !strings.Contains(out, "ignoring CA certificate") || !strings.Contains(out, "CN=Evil CA?]0") || !strings.Contains(out, "X??[2J") {
		t.Errorf("stderr = %q", out)
	}
	assertPrintable(t, "stderr", out)
}

// TestACMEKeyFileModes: an account key or certificate key file its group
// or others may read is warned about on the Env's stderr, and refused
// when strict.
func TestACMEKeyFileModes(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	keyFile := filepath.Join(t.TempDir(), "acct.pem")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o644)
	os.Chmod(keyFile, 0o644)
	for _, p := range []RevokeExecuteParams{{AccountKeyFile: keyFile}, {CertKeyFiles: []string{keyFile}}} {
		var stderr strings.Builder
		p.Getenv = func(string) string { return "" }
		p.Secrets.Warn = func(err error) { stderr.WriteString(err.Error()) }
		if _, err := acmeExecutor(Env{Stderr: &stderr}, p, "https://acme.example/dir"); err != nil || !strings.Contains(stderr.String(), keyFile+" is readable by group or others") {
			t.Errorf("%+v: %v, stderr %q", p, err, stderr.String())
		}
		p.Secrets.Strict = true
		if _, err := acmeExecutor(Env{}, p, "https://acme.example/dir"); err == nil || !strings.Contains(err.Error(), "is readable by group or others") {
			t.Errorf("strict: %v", err)
		}
	}
}
