package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/reconcile"
)

// demoAudit starts the demo estate on the /27 of prefix (real Postfix,
// Dovecot, Knot, SoftHSM2 and TesseraCT; DNS and the CT log on aux.53 and
// aux.62, the IPv6 server on v6Port) and writes its audit config. It stops
// everything at the end of the test.
func demoAudit(t *testing.T, ctx context.Context, prefix, aux string, v6Port int) (*estate.Demo, *estate.Audit, string) {
	t.Helper()
	for _, bin := range []string{"postfix", "dovecot", "knotd", "softhsm2-util", "pkcs11-tool"} {
		testlab.Need(t, bin, "/usr/sbin", "/usr/bin")
	}
	testlab.Need(t, "posix", testlab.ToolsBin())
	dir := t.TempDir()
	d, err := estate.StartDemo(ctx, estate.DemoOptions{Dir: filepath.Join(dir, "estate"), Net: prefix, DNSAddr: aux + ".53:53",
		V6Port: v6Port, Real: true, NoV6SNI: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	testlab.Need(t, "pykmip-server", "/usr/bin")
	dummyAWSEnv(t, estate.DemoAWSKeyID, estate.DemoAWSSecret)
	au, err := d.SetupAudit(ctx, estate.AuditOptions{Dir: dir, ToolsBin: testlab.ToolsBin(),
		CTAddr: aux + ".62:6962", CTMonitorAddr: aux + ".62:0", ReportsDir: filepath.Join(dir, "reports"),
		KMIPAddr: net.JoinHostPort(aux+".70", strconv.Itoa(testlab.FreePort(t, aux+".70"))), KMSAddr: aux + ".71:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(au.Close)
	t.Setenv("SOFTHSM2_CONF", au.HSM.Conf)
	return d, au, dir
}

// TestAuditDemoEstate runs the README's audit end to end against the demo
// estate — real Postfix, Dovecot, Knot, SoftHSM2 and TesseraCT — and checks
// that every planted problem is reported by the right check, and nothing
// else: managed keys are not "unmanaged", the CT certificate of a managed
// key from the approved CA is not "unauthorized", no key but the retired
// one is orphaned.
func TestAuditDemoEstate(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: the whole demo estate")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Its own addresses: the scanner package's tests use 127.0.1.0/27.
	_, au, dir := demoAudit(t, ctx, "127.0.3", "127.0.4", 9444)
	r := runCLI(t, ctx, "", "--config", au.Config, "audit", "--format", "jsonl")
	if r.code != 1 {
		t.Fatalf("audit: exit %d, want 1 (findings at or above high)\nstderr:\n%s", r.code, r.stderr)
	}
	got := map[string]map[string]bool{} // check → subjects
	suppressed := 0
	named := map[string]bool{} // checks with a high finding for mismatch.example.test
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var f reconcile.Finding
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		// The config accepts that Postfix and Dovecot (127.0.3.20/21) have
		// no ML-KEM yet: those findings are reported, suppressed.
		if f.Check == "no-pqc-key-exchange" && (strings.Contains(f.Endpoint, "127.0.3.20") || strings.Contains(f.Endpoint, "127.0.3.21")) {
			if !f.Suppressed {
				t.Errorf("not suppressed: %s %s", f.Check, f.Endpoint)
			}
			suppressed++
		}
		if strings.Contains(f.Endpoint, "mismatch.example.test") && f.Severity == reconcile.High {
			named[f.Check] = true
		}
		if got[f.Check] == nil {
			got[f.Check] = map[string]bool{}
		}
		// Key manager keys by a stable name: kmip/LABEL, and aws-kms for
		// the emulator's keys (their IDs are random).
		subject := f.Subject
		if strings.HasPrefix(subject, "kmip://") {
			subject = "kmip/" + subject[strings.LastIndexByte(subject, '/')+1:]
		} else if strings.HasPrefix(subject, estate.DemoAWSRegion+"/") {
			subject = "aws-kms"
		}
		got[f.Check][subject] = true
	}
	subjects := func(check string) []string {
		var out []string
		for s := range got[check] {
			out = append(out, s)
		}
		sort.Strings(out)
		return out
	}
	exactly := map[string][]string{
		// Served keys the token does not hold (rsa, ecdsa, www, legacy and
		// both mail keys are in it).
		"unmanaged-key": {"CN=default.example.test", "CN=ed25519.example.test", "CN=expired.example.test", "CN=huge.example.test",
			"CN=negative.example.test", "CN=self.example.test", "CN=v6.example.test", "CN=weak.example.test",
			"CN=aia.example.test", "CN=elsewhere.example.test", "CN=oldca.example.test", "CN=private.example.test",
			"CN=revoked.example.test", "CN=staple.example.test", "CN=unknown.example.test"},
		"unauthorized-issuance": {"shop.example.test"},
		"certificate-expired":   {"CN=expired.example.test"},
		"weak-key":              {"CN=weak.example.test"},
		"orphaned-key":          {"demo/retired-2023", "kmip/payments-2024-private", "kmip/sso-2025-private", "aws-kms"},
		"key-extractable":       {"demo/legacy.example.test", "kmip/backup-kek", "kmip/payments-2024-private", "kmip/sso-2025-private"},
		// The emulator's symmetric key: no rotation, no owner tag.
		"kms-key-rotation-disabled": {"aws-kms"},
		"kms-key-no-owner":          {"aws-kms"},
		// Deployed (legacy: CAA allows only letsencrypt.org) and in CT (the
		// rogue CA is not in example.test's CAA).
		"caa-forbids-issuer":      {"CN=legacy.example.test", "CN=private.example.test", "shop.example.test"},
		"self-signed-certificate": {"CN=self.example.test"},
		// One finding for the endpoint reached by name and by address.
		"weak-tls-version": {"legacy.example.test:8443"},
		"key-reuse":        {"demo/kek", "demo/legacy.example.test", "demo/mail.example.test", "demo/rsa.example.test"},
		// The validity stage's cases (.18-.26, revocation server on .30).
		"incomplete-chain":        {"CN=aia.example.test"},
		"revoked-but-deployed":    {"CN=revoked.example.test"},
		"must-staple-not-stapled": {"CN=staple.example.test"},
		"expired-intermediate":    {"CN=oldca.example.test"},
		// The huge chain is recorded truncated (16 of 25 certificates).
		"untrusted-chain":           {"CN=huge.example.test", "CN=private.example.test"},
		"revocation-status-unknown": {"CN=unknown.example.test"},
	}
	if !named["hostname-mismatch"] {
		t.Error("no high hostname-mismatch finding for mismatch.example.test")
	}
	if suppressed == 0 {
		t.Error("the configured suppression matched nothing")
	}
	for check, want := range exactly {
		sort.Strings(want)
		if g := subjects(check); strings.Join(g, "|") != strings.Join(want, "|") {
			t.Errorf("%s: got %v, want %v", check, g, want)
		}
	}
	// False alarms: nothing in the estate warrants these.
	for _, check := range []string{"certificate-expiring", "weak-signature", "ct-log-misbehaviour",
		"incomplete-input", "caa-lookup-failed", "caa-missing", "cryptoperiod-exceeded", "endpoint-gone", "suppression-expired"} {
		if len(got[check]) > 0 {
			t.Errorf("false alarm: %s %v", check, subjects(check))
		}
	}
	for _, f := range []string{"audit.html", "keyaudit.sarif", "cbom.json", "junit.xml", "audit.md", "audit.json", "keyaudit.prom"} {
		if st, err := os.Stat(filepath.Join(dir, "reports", f)); err != nil || st.Size() == 0 {
			t.Errorf("report %s: %v", f, err)
		}
	}
}
