package revoke

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/sqlite"
)

func newStore(t *testing.T) store.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// lab is a real Pebble with one registered account, and a store.
type lab struct {
	p       *testlab.Pebble
	st      store.Store
	acct    *acme.Client
	acctKey *ecdsa.PrivateKey
}

func newLab(t *testing.T) *lab {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Pebble")
	}
	t.Parallel() // each test has its own Pebble on its own ports
	p := testlab.StartPebble(t)
	c, k := p.NewAccount(t)
	return &lab{p: p, st: newStore(t), acct: c, acctKey: k}
}

type issued struct {
	cert Certificate
	x    *x509.Certificate
	key  *ecdsa.PrivateKey
}

func (l *lab) issue(t *testing.T, names ...string) issued {
	t.Helper()
	leaf, chain, key := l.p.Issue(t, l.acct, names...)
	cs, err := ParseCertificates(chain[0])
	if err != nil {
		t.Fatal(err)
	}
	return issued{cs[0], leaf, key}
}

func (l *lab) acmeExec(key crypto.Signer) *ACMEExecutor {
	return &ACMEExecutor{DirectoryURL: l.p.DirectoryURL, AccountKey: key, HTTPClient: l.p.HTTPClient()}
}

func (l *lab) status(t *testing.T, serial *big.Int) testlab.PebbleCertStatus {
	t.Helper()
	return l.p.CertStatus(t, serial)
}

func reason(t *testing.T, s string) Reason {
	t.Helper()
	r, err := ParseReason(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func planFor(t *testing.T, r string, certs ...Certificate) *Plan {
	t.Helper()
	p, err := FromCertificates(certs, PlanOptions{Reason: reason(t, r), CreatedBy: "planner"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// recordApprove records p and approves it as "alice".
func recordApprove(t *testing.T, st store.Store, p *Plan) Approval {
	t.Helper()
	ctx := context.Background()
	if _, err := Record(ctx, st, p); err != nil {
		t.Fatal(err)
	}
	a, err := Approve(ctx, st, p, "alice", p.Hash)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func auditEntries(t *testing.T, st store.Store) []Entry {
	t.Helper()
	var out []Entry
	if err := Entries(context.Background(), st, func(e Entry) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func actions(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Action)
	}
	return out
}

func wantActions(t *testing.T, st store.Store, want ...string) []Entry {
	t.Helper()
	es := auditEntries(t, st)
	if got := actions(es); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("audit log actions:\n got %v\nwant %v", got, want)
	}
	return es
}

func wantStatus(t *testing.T, l *lab, serial *big.Int, status string, reasonCode int) {
	t.Helper()
	s := l.status(t, serial)
	if s.Status != status {
		t.Fatalf("Pebble says %s for serial %x, want %s", s.Status, serial, status)
	}
	if status == "Revoked" && (s.Reason == nil || *s.Reason != reasonCode) {
		t.Fatalf("Pebble revocation reason %v, want %d", s.Reason, reasonCode)
	}
}

// secretForms are textual forms of a private key that must never appear
// in the audit log or any output.
func secretForms(t *testing.T, k *ecdsa.PrivateKey) []string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	d, err := k.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return []string{
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		base64.StdEncoding.EncodeToString(der)[:40],
		base64.RawURLEncoding.EncodeToString(d),
		base64.StdEncoding.EncodeToString(d),
		hex.EncodeToString(d),
	}
}

func assertNoSecret(t *testing.T, where, text string, k *ecdsa.PrivateKey) {
	t.Helper()
	for _, s := range secretForms(t, k) {
		if strings.Contains(text, strings.TrimSpace(s)) {
			t.Fatalf("%s contains the private key (%q…)", where, s[:12])
		}
	}
}

func dumpAudit(t *testing.T, st store.Store) string {
	t.Helper()
	var b strings.Builder
	if err := st.Audit(context.Background(), func(e store.AuditEntry) error {
		j, _ := json.Marshal(e)
		b.Write(j)
		b.WriteByte('\n')
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestPlanApproveExecuteRevokes(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	c := l.issue(t, "www.revoke.example.test", "revoke.example.test")
	p := planFor(t, "keyCompromise", c.cert)
	if len(p.Actions) != 1 || p.Actions[0].Certificate.Serial != fmt.Sprintf("%x", c.x.SerialNumber.Bytes()) ||
		strings.Join(p.Actions[0].Certificate.Names, ",") != "www.revoke.example.test,revoke.example.test" || p.Actions[0].Executor != ExecutorACME || p.Actions[0].Auth != AuthAccountKey {
		t.Fatalf("plan: %+v", p.Actions)
	}
	appr := recordApprove(t, l.st, p)
	if appr.PlanHash != p.Hash || appr.Approver != "alice" {
		t.Fatalf("approval %+v", appr)
	}
	wantStatus(t, l, c.x.SerialNumber, "Valid", 0)

	rep, err := Execute(ctx, l.st, p, ExecOptions{Apply: true, Actor: "ops", Executors: map[string]Executor{ExecutorACME: l.acmeExec(l.acctKey)}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.DryRun || len(rep.Actions) != 1 || rep.Actions[0].Outcome != OutcomeRevoked || rep.Counts["revoked"] != 1 || rep.Approval.Approver != "alice" {
		t.Fatalf("report %+v", rep)
	}
	wantStatus(t, l, c.x.SerialNumber, "Revoked", 1)

	es := wantActions(t, l.st, ActionPlanCreated, ActionApproved, ActionAttempt, ActionRevoked, ActionExecuted)
	rev := es[3]
	if rev.Target != c.cert.Info.SHA256 || rev.Actor != "ops" || rev.D.PlanHash != p.Hash || rev.D.Serial != c.cert.Info.Serial || rev.D.Reason.Name != "keyCompromise" || rev.D.HTTPStatus != 200 {
		t.Fatalf("revoked entry %+v", rev)
	}
	if es[1].Actor != "alice" || es[0].Actor != "planner" || es[0].D.Plan == nil || es[0].D.Plan.Hash != p.Hash {
		t.Fatalf("plan/approval entries %+v %+v", es[0], es[1])
	}
	assertNoSecret(t, "audit log", dumpAudit(t, l.st), l.acctKey)
	assertNoSecret(t, "audit log", dumpAudit(t, l.st), c.key)

	// Read back for reconcile's revoked-but-deployed check.
	revs, err := Revocations(ctx, l.st)
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != 1 || revs[0].CertSHA256 != c.cert.Info.SHA256 || revs[0].Reason != "keyCompromise" || revs[0].Source != RevocationSource || revs[0].Serial != c.cert.Info.Serial || revs[0].RevokedAt.IsZero() {
		t.Fatalf("revocations %+v", revs)
	}
	snap := reconcile.Snapshot{Revocations: revs}
	if r, ok := snap.Revoked(c.cert.Info.SHA256); !ok || r.Reason != "keyCompromise" {
		t.Fatalf("snapshot does not see the revocation")
	}
	// The plan is also in the store.
	if got, err := LoadPlan(ctx, l.st, p.ID); err != nil || got.ComputeHash() != p.Hash {
		t.Fatalf("LoadPlan: %v", err)
	}
}

func TestExecuteWithoutApprovalRefused(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	c := l.issue(t, "noapproval.example.test")
	p := planFor(t, "superseded", c.cert)
	if _, err := Record(ctx, l.st, p); err != nil {
		t.Fatal(err)
	}
	for _, apply := range []bool{false, true} {
		_, err := Execute(ctx, l.st, p, ExecOptions{Apply: apply, Actor: "ops", Executors: map[string]Executor{ExecutorACME: l.acmeExec(l.acctKey)}})
		if !errors.Is(err, ErrNotApproved) {
			t.Fatalf("apply=%v: err = %v, want ErrNotApproved", apply, err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("error is not one line: %q", err)
		}
	}
	wantStatus(t, l, c.x.SerialNumber, "Valid", 0)
	es := wantActions(t, l.st, ActionPlanCreated, ActionRefused, ActionRefused)
	if es[2].Actor != "ops" || es[2].Target != p.ID || !strings.Contains(es[2].D.Why, "no approval") {
		t.Fatalf("refusal entry %+v", es[2])
	}
	// A refused approval (wrong approver input) does not count either.
	if _, err := Approve(ctx, l.st, p, "", p.Hash); !errors.Is(err, ErrNoApprover) {
		t.Fatalf("empty approver: %v", err)
	}
	if _, err := Execute(ctx, l.st, p, ExecOptions{Apply: true, Actor: "ops", Executors: map[string]Executor{ExecutorACME: l.acmeExec(l.acctKey)}}); !errors.Is(err, ErrNotApproved) {
		t.Fatalf("after refused approval: %v", err)
	}
	wantStatus(t, l, c.x.SerialNumber, "Valid", 0)
}

func TestApprovalOfModifiedPlanRefused(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	c1 := l.issue(t, "one.example.test")
	c2 := l.issue(t, "two.example.test")
	p := planFor(t, "superseded", c1.cert)
	if _, err := Record(ctx, l.st, p); err != nil {
		t.Fatal(err)
	}
	reviewed := p.Hash

	// Approving with the hash of another plan.
	other := planFor(t, "superseded", c2.cert)
	if _, err := Approve(ctx, l.st, p, "alice", other.Hash); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("approval with another plan's hash: %v", err)
	}
	// Approving a plan the store never saw.
	if _, err := Approve(ctx, l.st, other, "alice", other.Hash); !errors.Is(err, ErrNotRecorded) {
		t.Fatalf("approval of an unrecorded plan: %v", err)
	}

	// The file is edited after review: the reason is changed, and the
	// hash field updated to match, as a careless or hostile editor would.
	dir := t.TempDir()
	path := filepath.Join(dir, "plan.json")
	if err := p.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	b = bytes.Replace(b, []byte(`"name": "superseded",`), []byte(`"name": "keyCompromise",`), 1)
	b = bytes.Replace(b, []byte(`"code": 4`), []byte(`"code": 1`), 1)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	edited, err := ReadPlanFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if edited.Actions[0].Reason.Code != 1 {
		t.Fatal("edit did not take")
	}
	if _, err := Approve(ctx, l.st, edited, "alice", reviewed); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("approval of the edited plan with the reviewed hash: %v", err)
	}
	edited.Hash = edited.ComputeHash()
	if _, err := Approve(ctx, l.st, edited, "alice", edited.Hash); !errors.Is(err, ErrHashMismatch) || !strings.Contains(err.Error(), "modified after creation") {
		t.Fatalf("approval of the edited plan with its own hash: %v", err)
	}

	// Approve the reviewed plan, then execute the edited one: refused.
	if _, err := Approve(ctx, l.st, p, "alice", reviewed); err != nil {
		t.Fatal(err)
	}
	if _, err := Execute(ctx, l.st, edited, ExecOptions{Apply: true, Actor: "ops", Executors: map[string]Executor{ExecutorACME: l.acmeExec(l.acctKey)}}); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("execute of the edited plan: %v", err)
	}
	// An edit of a descriptive field that no longer matches the PEM.
	lying, _ := ReadPlanFile(path)
	lying.Actions[0].Reason = Reason{"superseded", 4}
	lying.Actions[0].Certificate.Names = []string{"innocent.example.test"}
	lying.Hash = lying.ComputeHash()
	if _, err := Execute(ctx, l.st, lying, ExecOptions{Apply: true, Actor: "ops", Executors: map[string]Executor{ExecutorACME: l.acmeExec(l.acctKey)}}); err == nil || !strings.Contains(err.Error(), "do not match its PEM") {
		t.Fatalf("execute of a plan whose names lie: %v", err)
	}
	wantStatus(t, l, c1.x.SerialNumber, "Valid", 0)
	wantActions(t, l.st, ActionPlanCreated, ActionApprovalRefused, ActionApprovalRefused, ActionApprovalRefused, ActionApprovalRefused, ActionApproved, ActionRefused, ActionRefused)

	// Unknown fields in the file are refused outright.
	b2 := bytes.Replace(b, []byte(`"version": 1,`), []byte(`"version": 1, "extra": true,`), 1)
	if _, err := ReadPlan(bytes.NewReader(b2)); err == nil {
		t.Fatal("plan with an unknown field accepted")
	}
	// The reviewed plan still executes.
	rep, err := Execute(ctx, l.st, p, ExecOptions{Apply: true, Actor: "ops", Executors: map[string]Executor{ExecutorACME: l.acmeExec(l.acctKey)}})
	if err != nil || rep.Counts["revoked"] != 1 {
		t.Fatalf("reviewed plan: %v %+v", err, rep)
	}
	wantStatus(t, l, c1.x.SerialNumber, "Revoked", 4)
}

func TestRevokeTwiceReportedAsAlreadyRevoked(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	c := l.issue(t, "twice.example.test")
	ex := map[string]Executor{ExecutorACME: l.acmeExec(l.acctKey)}
	p := planFor(t, "cessationOfOperation", c.cert)
	recordApprove(t, l.st, p)
	if rep, err := Execute(ctx, l.st, p, ExecOptions{Apply: true, Actor: "ops", Executors: ex}); err != nil || rep.Counts["revoked"] != 1 {
		t.Fatalf("first: %v %+v", err, rep)
	}
	// Same plan again: nothing is sent, the log answers.
	rep, err := Execute(ctx, l.st, p, ExecOptions{Apply: true, Actor: "ops", Executors: ex})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Actions[0].Outcome != OutcomeAlreadyRevoked || !strings.Contains(rep.Actions[0].Message, "audit #") || rep.Failed() != 0 {
		t.Fatalf("second: %+v", rep.Actions)
	}
	es := wantActions(t, l.st, ActionPlanCreated, ActionApproved, ActionAttempt, ActionRevoked, ActionExecuted, ActionAlreadyRevoked, ActionExecuted)
	if es[5].D.Source != fmt.Sprintf("audit #%d", es[3].ID) {
		t.Fatalf("already-revoked source %q", es[5].D.Source)
	}
	wantStatus(t, l, c.x.SerialNumber, "Revoked", 5)

	// A certificate revoked behind keyaudit's back: the CA says so
	// (alreadyRevoked, which x/crypto/acme hides), and it is reported.
	c2 := l.issue(t, "outofband.example.test")
	if err := l.acct.RevokeCert(ctx, nil, c2.cert.DER, acme.CRLReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	p2 := planFor(t, "keyCompromise", c2.cert)
	recordApprove(t, l.st, p2)
	rep, err = Execute(ctx, l.st, p2, ExecOptions{Apply: true, Actor: "ops", Executors: ex})
	if err != nil {
		t.Fatal(err)
	}
	if a := rep.Actions[0]; a.Outcome != OutcomeAlreadyRevoked || a.Message != "the CA says it was already revoked" {
		t.Fatalf("out of band: %+v", a)
	}
	last := auditEntries(t, l.st)
	e := last[len(last)-2]
	if e.Action != ActionAlreadyRevoked || e.D.Source != "ca" || e.D.ProblemType != problemAlreadyRevoked || e.D.HTTPStatus != 400 {
		t.Fatalf("CA already-revoked entry %+v", e)
	}
	wantStatus(t, l, c2.x.SerialNumber, "Revoked", 4) // the first reason stands
	revs, err := Revocations(ctx, l.st)
	if err != nil || len(revs) != 2 || revs[1].Reason != "unknown" {
		t.Fatalf("revocations %v %+v", err, revs)
	}
}

func TestOtherAccountGets403AndIsRecorded(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	c := l.issue(t, "notyours.example.test")
	_, otherKey := l.p.NewAccount(t)
	p := planFor(t, "keyCompromise", c.cert)
	recordApprove(t, l.st, p)
	rep, err := Execute(ctx, l.st, p, ExecOptions{Apply: true, Actor: "ops", Executors: map[string]Executor{ExecutorACME: l.acmeExec(otherKey)}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() != 1 || rep.Actions[0].Outcome != OutcomeFailed || !strings.Contains(rep.Actions[0].Message, "403") {
		t.Fatalf("report %+v", rep.Actions)
	}
	es := wantActions(t, l.st, ActionPlanCreated, ActionApproved, ActionAttempt, ActionFailed, ActionExecuted)
	if f := es[3].D; f.HTTPStatus != 403 || f.ProblemType != "urn:ietf:params:acme:error:unauthorized" || f.Error == "" {
		t.Fatalf("failed entry %+v", f)
	}
	wantStatus(t, l, c.x.SerialNumber, "Valid", 0)
	assertNoSecret(t, "audit log", dumpAudit(t, l.st), otherKey)
	// A failure is not a revocation.
	if revs, _ := Revocations(ctx, l.st); len(revs) != 0 {
		t.Fatalf("revocations after a failure: %+v", revs)
	}
	// With the right key the same approved plan now goes through.
	rep, err = Execute(ctx, l.st, p, ExecOptions{Apply: true, Actor: "ops", Executors: map[string]Executor{ExecutorACME: l.acmeExec(l.acctKey)}})
	if err != nil || rep.Counts["revoked"] != 1 {
		t.Fatalf("retry: %v %+v", err, rep)
	}
	wantStatus(t, l, c.x.SerialNumber, "Revoked", 1)
}

func TestRevokeWithCertificateKey(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	c := l.issue(t, "ownkey.example.test")
	p, err := FromCertificates([]Certificate{c.cert}, PlanOptions{Reason: reason(t, "keyCompromise"), Auth: AuthCertificateKey, Directory: l.p.DirectoryURL, CreatedBy: "planner"})
	if err != nil {
		t.Fatal(err)
	}
	recordApprove(t, l.st, p)
	// No account key at all: the certificate's key signs (JWS jwk).
	ex := l.acmeExec(nil)
	// Without the certificate key the whole execution is refused before
	// anything is sent.
	if _, err := Execute(ctx, l.st, p, ExecOptions{Apply: true, Actor: "ops", Executors: map[string]Executor{ExecutorACME: ex}}); err == nil || !strings.Contains(err.Error(), "--cert-key-file") {
		t.Fatalf("without the certificate key: %v", err)
	}
	wantStatus(t, l, c.x.SerialNumber, "Valid", 0)
	if err := ex.AddCertKey(c.key); err != nil {
		t.Fatal(err)
	}
	rep, err := Execute(ctx, l.st, p, ExecOptions{Apply: true, Actor: "ops", Executors: map[string]Executor{ExecutorACME: ex}})
	if err != nil || rep.Counts["revoked"] != 1 {
		t.Fatalf("%v %+v", err, rep)
	}
	wantStatus(t, l, c.x.SerialNumber, "Revoked", 1)
	assertNoSecret(t, "audit log", dumpAudit(t, l.st), c.key)

	// A plan fixed to one directory is not sent to another.
	c2 := l.issue(t, "otherdir.example.test")
	p2, _ := FromCertificates([]Certificate{c2.cert}, PlanOptions{Reason: reason(t, "superseded"), Directory: "https://acme.invalid/dir", CreatedBy: "planner"})
	recordApprove(t, l.st, p2)
	if _, err := Execute(ctx, l.st, p2, ExecOptions{Apply: true, Actor: "ops", Executors: map[string]Executor{ExecutorACME: l.acmeExec(l.acctKey)}}); err == nil || !strings.Contains(err.Error(), "not to "+l.p.DirectoryURL) {
		t.Fatalf("directory mismatch: %v", err)
	}
	wantStatus(t, l, c2.x.SerialNumber, "Valid", 0)
}

func TestDryRunByDefaultAndPreflight(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	a := l.issue(t, "a.example.test")
	b := l.issue(t, "b.example.test")
	p := planFor(t, "superseded", a.cert, b.cert)
	recordApprove(t, l.st, p)
	rep, err := Execute(ctx, l.st, p, ExecOptions{Actor: "ops", Executors: map[string]Executor{ExecutorACME: l.acmeExec(l.acctKey)}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.DryRun || rep.Counts[string(OutcomeWouldRevoke)] != 2 {
		t.Fatalf("dry run report %+v", rep)
	}
	wantStatus(t, l, a.x.SerialNumber, "Valid", 0)
	wantStatus(t, l, b.x.SerialNumber, "Valid", 0)
	// Dry run without executors: says what is missing, sends nothing.
	rep, err = Execute(ctx, l.st, p, ExecOptions{Actor: "ops"})
	if err != nil || !strings.Contains(rep.Actions[0].Message, "not ready: the acme executor is not configured") {
		t.Fatalf("dry run without executor: %v %+v", err, rep.Actions)
	}
	// Applying with an executor that cannot sign: refused as a whole.
	if _, err := Execute(ctx, l.st, p, ExecOptions{Apply: true, Actor: "ops", Executors: map[string]Executor{ExecutorACME: l.acmeExec(nil)}}); err == nil || !strings.Contains(err.Error(), "no ACME account key") {
		t.Fatalf("apply without account key: %v", err)
	}
	wantStatus(t, l, a.x.SerialNumber, "Valid", 0)
	wantActions(t, l.st, ActionPlanCreated, ActionApproved, ActionDryRun, ActionDryRun, ActionRefused)
}

// failingStore refuses to append audit entries of one action.
type failingStore struct {
	store.Store
	action string
}

func (f failingStore) AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error) {
	if e.Action == f.action {
		return e, errors.New("disk full")
	}
	return f.Store.AppendAudit(ctx, e)
}

func TestNoIntentRecordedNoCall(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	c := l.issue(t, "intent.example.test")
	p := planFor(t, "superseded", c.cert)
	recordApprove(t, l.st, p)
	_, err := Execute(ctx, failingStore{l.st, ActionAttempt}, p, ExecOptions{Apply: true, Actor: "ops", Executors: map[string]Executor{ExecutorACME: l.acmeExec(l.acctKey)}})
	if err == nil || !strings.Contains(err.Error(), "not attempted") {
		t.Fatalf("err = %v", err)
	}
	wantStatus(t, l, c.x.SerialNumber, "Valid", 0)
}

func TestFromFindings(t *testing.T) {
	certs := testCerts(t, 3)
	a, b, c := certs[0], certs[1], certs[2]
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	findings := []reconcile.Finding{
		{Check: "unauthorized-issuance", Severity: reconcile.Critical, Subject: "a", CertSHA256: a.Info.SHA256, SPKISHA256: a.Info.SPKISHA256, Endpoint: "ct://log/1", Message: "rogue"},
		{Check: "weak-key", Severity: reconcile.High, Subject: "a", CertSHA256: a.Info.SHA256, Endpoint: "tls://a:443", Message: "weak"},
		// A precertificate: matched by key.
		{Check: "unauthorized-issuance", Severity: reconcile.Critical, Subject: "b", CertSHA256: strings.Repeat("ab", 32), SPKISHA256: b.Info.SPKISHA256, Message: "precert", Evidence: map[string]any{"precert": true}},
		// Not revocable, suppressed, or without a certificate: ignored.
		{Check: "certificate-expiring", CertSHA256: c.Info.SHA256},
		{Check: "weak-key", CertSHA256: c.Info.SHA256, Suppressed: true},
		{Check: "weak-key", SPKISHA256: "x", Subject: "hsm key"},
		// Revocable but its certificate is not supplied.
		{Check: "unauthorized-issuance", CertSHA256: strings.Repeat("cd", 32), Message: "unknown"},
	}
	o := PlanOptions{Reason: reason(t, "keyCompromise"), CreatedBy: "planner", Now: now}
	p, err := FromFindings(7, findings, []Certificate{a, b}, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Actions) != 2 || p.Actions[0].Certificate.SHA256 != a.Info.SHA256 || len(p.Actions[0].Findings) != 2 || p.Actions[1].Certificate.SHA256 != b.Info.SHA256 || p.Actions[1].Findings[0].MatchedBy != "spki_sha256" {
		t.Fatalf("actions %+v", p.Actions)
	}
	if f := p.Actions[0].Findings[0]; f.RunID != 7 || f.Check != "unauthorized-issuance" || f.Fingerprint != findings[0].Fingerprint() || f.MatchedBy != "cert_sha256" {
		t.Fatalf("finding ref %+v", f)
	}
	if len(p.Skipped) != 1 || p.Skipped[0].CertSHA256 != strings.Repeat("cd", 32) {
		t.Fatalf("skipped %+v", p.Skipped)
	}
	if p.Source != "findings of reconcile run 7" || !p.Created.Equal(now) || p.Hash != p.ComputeHash() || p.Validate() != nil {
		t.Fatalf("plan %+v", p)
	}
	// A supplied certificate no finding is about is refused.
	if _, err := FromFindings(7, findings, []Certificate{a, c}, o); err == nil || !strings.Contains(err.Error(), "no revocable finding") {
		t.Fatalf("unrelated certificate: %v", err)
	}
	// Policy can widen the revocable checks.
	o.Checks = []string{"certificate-expiring"}
	p, err = FromFindings(7, findings, []Certificate{c}, o)
	if err != nil || len(p.Actions) != 1 {
		t.Fatalf("custom checks: %v %+v", err, p)
	}
	// The hash survives the file.
	path := filepath.Join(t.TempDir(), "p.json")
	if err := p.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	q, err := ReadPlanFile(path)
	if err != nil || q.ComputeHash() != p.Hash || q.Hash != p.Hash {
		t.Fatalf("round trip: %v", err)
	}
}

func TestReasons(t *testing.T) {
	for in, want := range map[string]int{"keyCompromise": 1, "KEYCOMPROMISE": 1, "1": 1, "superseded": 4, "cessationOfOperation": 5, "unspecified": 0, "affiliationChanged": 3, "privilegeWithdrawn": 9} {
		r, err := ParseReason(in)
		if err != nil || r.Code != want {
			t.Errorf("%s: %+v %v", in, r, err)
		}
	}
	for _, in := range []string{"certificateHold", "6", "cACompromise", "removeFromCRL", "aACompromise", "7", "bogus", ""} {
		if _, err := ParseReason(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
	if _, err := FromCertificates(testCerts(t, 1), PlanOptions{Reason: Reason{"certificateHold", 6}, CreatedBy: "x"}); err == nil {
		t.Error("plan with certificateHold accepted")
	}
	if _, err := FromCertificates(testCerts(t, 1), PlanOptions{Reason: Reason{"keyCompromise", 1}}); err == nil {
		t.Error("plan without creator accepted")
	}
}

func TestParsePrivateKey(t *testing.T) {
	k := testKey(t)
	der, _ := x509.MarshalECPrivateKey(k)
	p8, _ := x509.MarshalPKCS8PrivateKey(k)
	for _, b := range [][]byte{
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		append([]byte("junk\n"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})...),
	} {
		s, err := ParsePrivateKey(b)
		if err != nil || !s.Public().(*ecdsa.PublicKey).Equal(k.Public()) {
			t.Fatalf("parse: %v", err)
		}
	}
	bad := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8[:len(p8)-20]})
	_, err := ParsePrivateKey(bad)
	if err == nil {
		t.Fatal("corrupt key accepted")
	}
	assertNoSecret(t, "error", err.Error(), k)
	if _, err := ParsePrivateKey([]byte("nothing")); err == nil {
		t.Fatal("no key accepted")
	}
}

func TestPlanACMEDirectory(t *testing.T) {
	viaACME := func(dir string) Action { return Action{Executor: ExecutorACME, Directory: dir} }
	hook := Action{Executor: ExecutorHook}
	for _, tc := range []struct {
		actions []Action
		want    string
	}{
		{nil, ""},
		{[]Action{hook}, ""},
		{[]Action{viaACME("https://a/dir"), hook, viaACME("https://a/dir")}, "https://a/dir"},
		{[]Action{viaACME("https://a/dir"), viaACME("https://b/dir")}, ""},
		{[]Action{viaACME("https://a/dir"), viaACME("")}, ""},
	} {
		if got := (&Plan{Actions: tc.actions}).ACMEDirectory(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.actions, got, tc.want)
		}
	}
}

func TestSummary(t *testing.T) {
	d, _ := json.Marshal(Detail{PlanID: "rp-1", PlanHash: strings.Repeat("ab", 32), Approver: "alice", Reason: &Reason{"keyCompromise", 1}, HTTPStatus: 403, Counts: map[string]int{"failed": 1}})
	if got, want := Summary(store.AuditEntry{Target: "rp-1", Detail: d}), "hash=abababababababab approver=alice reason=keyCompromise http=403 failed=1"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	if got := Summary(store.AuditEntry{Target: "sha", Detail: d}); !strings.HasPrefix(got, "plan=rp-1 ") {
		t.Errorf("summary of an entry about a certificate: %q", got)
	}
	if got := Summary(store.AuditEntry{Detail: json.RawMessage(`[1]`)}); got != "[1]" {
		t.Errorf("summary of a foreign detail: %q", got)
	}
}

// TestPlanWriteFileNotAFile: a plan written to a link keeps the link (its
// target gets the plan) and one written to a FIFO goes through it: -o
// never replaces what is not a regular file.
func TestPlanWriteFileNotAFile(t *testing.T) {
	p := &Plan{ID: "plan-x", Source: "certificates"}
	want, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "plans", "p1.json")
	os.Mkdir(filepath.Dir(target), 0o755)
	link := filepath.Join(dir, "current.json")
	os.Symlink(target, link)
	os.WriteFile(target, []byte("old"), 0o644)
	if err := p.WriteFile(link); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v", err)
	}
	if b, _ := os.ReadFile(target); !bytes.Equal(b, want) {
		t.Errorf("target holds %q", b)
	}

	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if err := p.WriteFile(fifo); err == nil {
		t.Error("a FIFO nobody reads took the plan")
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced: %v", err)
	}
}
