package revoke

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testCerts makes n leaf certificates issued by one throwaway CA.
func testCerts(t *testing.T, n int) []Certificate {
	t.Helper()
	caKey := testKey(t)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Hook Test CA"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	var out []Certificate
	for i := range n {
		name := fmt.Sprintf("host%d.example.test", i)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(1000 + i)), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
			NotBefore: time.Now().Add(-time.Hour).Truncate(time.Second), NotAfter: time.Now().Add(24 * time.Hour).Truncate(time.Second)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, testKey(t).Public(), caKey)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := ParseCertificates(der)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, cs[0])
	}
	return out
}

// writeHook writes an executable shell script.
func writeHook(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "hook.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHookExecutor(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	dir := t.TempDir()
	// The hook keeps what it was given, and "revokes" by creating a
	// marker file; a second call for the same serial is "already revoked".
	hook := writeHook(t, dir, `set -eu
d="$(dirname "$0")"
cat > "$d/stdin.pem"
env | grep '^KEYAUDIT_' | sort > "$d/env.txt"
env > "$d/fullenv.txt"
echo "asked to revoke serial $KEYAUDIT_SERIAL for $KEYAUDIT_REASON"
if [ -e "$d/revoked-$KEYAUDIT_SERIAL" ]; then echo "already done" >&2; exit 3; fi
touch "$d/revoked-$KEYAUDIT_SERIAL"
`)
	t.Setenv("KEYAUDIT_ACME_ACCOUNT_KEY", "-----BEGIN PRIVATE KEY-----\nSECRET\n-----END PRIVATE KEY-----")
	t.Setenv("MY_ACCOUNT_SECRET", "s3cret")
	certs := testCerts(t, 2)
	p, err := FromCertificates(certs[:1], PlanOptions{Reason: reason(t, "superseded"), Executor: ExecutorHook, CreatedBy: "planner"})
	if err != nil {
		t.Fatal(err)
	}
	recordApprove(t, st, p)
	hx := &HookExecutor{Command: []string{hook}, Timeout: 10 * time.Second, DropEnv: []string{"MY_ACCOUNT_SECRET"}}
	rep, err := Execute(ctx, st, p, ExecOptions{Apply: true, Actor: "ops", Executors: map[string]Executor{ExecutorHook: hx}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Actions[0].Outcome != OutcomeRevoked {
		t.Fatalf("report %+v", rep.Actions)
	}
	stdin, _ := os.ReadFile(filepath.Join(dir, "stdin.pem"))
	if string(stdin) != p.Actions[0].Certificate.PEM {
		t.Fatalf("hook stdin:\n%s", stdin)
	}
	env, _ := os.ReadFile(filepath.Join(dir, "env.txt"))
	a := p.Actions[0]
	for _, want := range []string{
		"KEYAUDIT_PLAN_ID=" + p.ID, "KEYAUDIT_PLAN_HASH=" + p.Hash, "KEYAUDIT_ACTION=1",
		"KEYAUDIT_CERT_SHA256=" + a.Certificate.SHA256, "KEYAUDIT_SERIAL=" + a.Certificate.Serial, "KEYAUDIT_REASON=superseded", "KEYAUDIT_REASON_CODE=4",
		"KEYAUDIT_NAMES=host0.example.test", "KEYAUDIT_ISSUER=CN=Hook Test CA", "KEYAUDIT_CA=CN=Hook Test CA",
	} {
		if !strings.Contains(string(env), want+"\n") {
			t.Errorf("hook environment lacks %s:\n%s", want, env)
		}
	}
	full, _ := os.ReadFile(filepath.Join(dir, "fullenv.txt"))
	if strings.Contains(string(full), "SECRET") || strings.Contains(string(full), "s3cret") {
		t.Errorf("a secret reached the hook's environment:\n%s", full)
	}
	es := wantActions(t, st, ActionPlanCreated, ActionApproved, ActionAttempt, ActionRevoked, ActionExecuted)
	if d := es[3].D; d.ExitCode == nil || *d.ExitCode != 0 || !strings.Contains(d.Output, "asked to revoke serial "+a.Certificate.Serial+" for superseded") || d.Executor != ExecutorHook {
		t.Fatalf("revoked entry %+v", d)
	}

	// The CA says it was already revoked (exit 3): reported, not failed.
	// A new plan for the same certificate is answered by the audit log
	// first, so use a fresh store to reach the hook.
	st2 := newStore(t)
	recordApprove(t, st2, p)
	rep, err = Execute(ctx, st2, p, ExecOptions{Apply: true, Actor: "ops", Executors: map[string]Executor{ExecutorHook: hx}})
	if err != nil || rep.Actions[0].Outcome != OutcomeAlreadyRevoked {
		t.Fatalf("already revoked: %v %+v", err, rep.Actions)
	}
	es = auditEntries(t, st2)
	if e := es[3]; e.Action != ActionAlreadyRevoked || e.D.Source != "ca" || *e.D.ExitCode != HookAlreadyRevokedExit || !strings.Contains(e.D.Output, "already done") {
		t.Fatalf("already-revoked entry %+v", e)
	}

	// A failing hook: recorded with its output.
	failing := writeHook(t, t.TempDir(), "echo 'CA API says: 500 internal error'; exit 1\n")
	p2, _ := FromCertificates(certs[1:], PlanOptions{Reason: reason(t, "keyCompromise"), Executor: ExecutorHook, CreatedBy: "planner"})
	recordApprove(t, st, p2)
	rep, err = Execute(ctx, st, p2, ExecOptions{Apply: true, Actor: "ops", Executors: map[string]Executor{ExecutorHook: &HookExecutor{Command: []string{failing}}}})
	if err != nil || rep.Failed() != 1 || !strings.Contains(rep.Actions[0].Message, "CA API says: 500 internal error") {
		t.Fatalf("failing hook: %v %+v", err, rep.Actions)
	}
	es = auditEntries(t, st)
	if e := es[len(es)-2]; e.Action != ActionFailed || *e.D.ExitCode != 1 || !strings.Contains(e.D.Output, "500 internal error") {
		t.Fatalf("failed entry %+v", e)
	}
}

func TestHookTimeoutKillsTheProcessGroup(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	dir := t.TempDir()
	// The hook starts a child that would outlive it, then hangs.
	hook := writeHook(t, dir, `sleep 30 &
echo $! > "$(dirname "$0")/child.pid"
echo started
sleep 30
`)
	certs := testCerts(t, 1)
	p, _ := FromCertificates(certs, PlanOptions{Reason: reason(t, "superseded"), Executor: ExecutorHook, CreatedBy: "planner"})
	recordApprove(t, st, p)
	start := time.Now()
	rep, err := Execute(ctx, st, p, ExecOptions{Apply: true, Actor: "ops", Executors: map[string]Executor{ExecutorHook: &HookExecutor{Command: []string{hook}, Timeout: 300 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("timeout took %v", el)
	}
	if rep.Failed() != 1 || !strings.Contains(rep.Actions[0].Message, "timed out after 300ms") {
		t.Fatalf("report %+v", rep.Actions)
	}
	es := auditEntries(t, st)
	if e := es[len(es)-2]; e.Action != ActionFailed || !strings.Contains(e.D.Output, "started") {
		t.Fatalf("failed entry %+v", e)
	}
	// The hook's child died with it (gone, or a zombie nobody reaps).
	pid, err := os.ReadFile(filepath.Join(dir, "child.pid"))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hook's child %s outlived the timeout: %s", pid, stat)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Not configured, or not found: refused before running anything.
	for _, hx := range []*HookExecutor{{}, {Command: []string{filepath.Join(dir, "missing")}}} {
		if _, err := Execute(ctx, st, p, ExecOptions{Apply: true, Actor: "ops", Executors: map[string]Executor{ExecutorHook: hx}}); err == nil {
			t.Fatalf("hook %v accepted", hx.Command)
		}
	}
}
