package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
)

// TestValidityCLI: keyaudit scan, keyaudit validity (private anchor from
// trust.bundles, fetch scope on loopback, OpenSSL OCSP responder) and
// keyaudit reconcile, end to end; then the same through keyaudit audit.
func TestValidityCLI(t *testing.T) {
	root, err := estate.NewRoot("cli validity root", estate.ECDSA256)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.Intermediate("cli validity CA", estate.ECDSA256)
	if err != nil {
		t.Fatal(err)
	}
	signer, key, err := inter.OCSPSigner("cli validity OCSP", true)
	if err != nil {
		t.Fatal(err)
	}
	ocsp := testlab.StartOCSP(t, "127.0.82.100", testlab.PEMCert(inter.Cert.Raw), testlab.PEMCert(signer.Raw), testlab.PEMKey(t, key), 30*time.Minute)
	files := testlab.ServeFiles(t, "127.0.82.100")
	files.Set("/ca.der", inter.Cert.Raw)
	serve := func(ip string, l estate.Leaf, cut bool, revoke bool) string {
		c, err := inter.Issue(l)
		if err != nil {
			t.Fatal(err)
		}
		x, _ := x509.ParseCertificate(c.Certificate[0])
		if revoke {
			ocsp.Revoke(x, time.Now().Add(-time.Hour), "keyCompromise")
		} else {
			ocsp.Good(x)
		}
		if cut {
			c.Certificate = c.Certificate[:1]
		}
		s, err := estate.ServeTLS(ip+":0", &tls.Config{Certificates: []tls.Certificate{c}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s.Addr
	}
	aia := serve("127.0.82.1", estate.Leaf{CN: "aia.cli.test", OCSP: []string{ocsp.URL}, CAIssuers: []string{files.URL + "/ca.der"}}, true, false)
	revoked := serve("127.0.82.2", estate.Leaf{CN: "revoked.cli.test", OCSP: []string{ocsp.URL}}, false, true)

	dir := t.TempDir()
	db := filepath.Join(dir, "k.db")
	bundle := filepath.Join(dir, "corp-root.pem")
	if err := os.WriteFile(bundle, testlab.PEMCert(root.Cert.Raw), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "keyaudit.yaml")
	body := "store: " + db + "\ntrust:\n  bundles: [" + bundle + "]\nvalidity:\n  fetch-scope: [127.0.82.0/24]\n" +
		"scan:\n  timeout: 2s\n  targets: [\"" + aia + ", aia.cli.test\", \"" + revoked + ", revoked.cli.test\"]\n"
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if r := runCLI(t, ctx, "", "--config", cfg, "scan", "--format", "jsonl"); r.code != 0 {
		t.Fatalf("scan: exit %d %s", r.code, r.stderr)
	}
	r := runCLI(t, ctx, "", "--config", cfg, "validity", "--format", "jsonl")
	if r.code != 0 {
		t.Fatalf("validity: exit %d %s", r.code, r.stderr)
	}
	vs := lines[records.Validity](t, r.stdout)
	if len(vs) != 2 {
		t.Fatalf("validity printed %d results, want 2:\n%s", len(vs), r.stdout)
	}
	byName := map[string]records.Validity{}
	for _, v := range vs {
		byName[v.Name] = v
	}
	if v := byName["aia.cli.test"]; v.Chain.Status != records.ChainIncomplete || !v.HostnameOK || len(v.Revocation) != 1 || v.Revocation[0].Status != records.RevGood {
		t.Errorf("aia.cli.test: %+v", v)
	}
	if v := byName["revoked.cli.test"]; v.Chain.Status != records.ChainTrusted || len(v.Revocation) != 1 || v.Revocation[0].Status != records.RevRevoked {
		t.Errorf("revoked.cli.test: %+v", v)
	}
	r = runCLI(t, ctx, "", "--config", cfg, "reconcile", "--format", "jsonl", "--fail-on", "critical")
	if r.code != 1 {
		t.Fatalf("reconcile: exit %d, want 1 (revoked-but-deployed is critical)\n%s", r.code, r.stderr)
	}
	checks := map[string]bool{}
	for _, f := range lines[reconcile.Finding](t, r.stdout) {
		checks[f.Check] = true
	}
	for _, c := range []string{"incomplete-chain", "revoked-but-deployed"} {
		if !checks[c] {
			t.Errorf("reconcile lacks %s: %v", c, checks)
		}
	}
	if checks["untrusted-chain"] || checks["hostname-mismatch"] {
		t.Errorf("unexpected findings: %v", checks)
	}

	// Bad settings are refused before anything runs.
	for _, args := range [][]string{{"--fetch-scope", "nonsense"}, {"--trust-bundle", filepath.Join(dir, "missing.pem")}, {"--resolver", "x"}} {
		r := runCLI(t, ctx, "", append([]string{"--config", cfg, "validity"}, args...)...)
		if r.code != 2 {
			t.Errorf("validity %v: exit %d, want 2", args, r.code)
		}
	}
	if r := runCLI(t, ctx, "", "--no-store", "validity"); r.code != 2 {
		t.Errorf("validity --no-store: exit %d, want 2", r.code)
	}

	// keyaudit audit runs the stage when the config has validity: or trust:.
	r = runCLI(t, ctx, "", "--config", cfg, "audit", "--fail-on", "none")
	if r.code != 0 || !strings.Contains(r.stdout, "validity") {
		t.Fatalf("audit: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	st := openStore(t, db)
	defer st.Close()
	run, err := store.Latest(ctx, st, "validity")
	if err != nil || run.Status != store.StatusComplete {
		t.Errorf("latest validity run %+v %v", run, err)
	}
}

// TestValidityARICLI: a certificate from Pebble served on loopback;
// keyaudit validity asks Pebble's renewalInfo (config acme.directories);
// after the certificate is revoked in Pebble its window is in the past and
// reconcile reports renewal-due.
func TestValidityARICLI(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: Pebble")
	}
	p := testlab.StartPebble(t)
	client, _ := p.NewAccount(t)
	leaf, chain, key := p.Issue(t, client, "ari.cli.test")
	s, err := estate.ServeTLS("127.0.83.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: chain, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	dir := t.TempDir()
	db, roots, cfg := filepath.Join(dir, "k.db"), filepath.Join(dir, "pebble-root.pem"), filepath.Join(dir, "keyaudit.yaml")
	if err := os.WriteFile(roots, p.Roots(t), 0o644); err != nil {
		t.Fatal(err)
	}
	body := "store: " + db + "\ntrust:\n  bundles: [" + roots + "]\nvalidity:\n  fetch-scope: [127.0.0.0/8]\n  no-revocation: true\n" +
		"acme:\n  ca_file: " + p.CAFile + "\n  directories:\n    - url: " + p.DirectoryURL + "\n      issuers: [\"" + leaf.Issuer.CommonName + "\"]\n"
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if r := runCLI(t, ctx, "", "--config", cfg, "scan", s.Addr+", ari.cli.test"); r.code != 0 {
		t.Fatalf("scan: exit %d %s", r.code, r.stderr)
	}
	due := func() []reconcile.Finding {
		t.Helper()
		if r := runCLI(t, ctx, "", "--config", cfg, "validity"); r.code != 0 {
			t.Fatalf("validity: exit %d %s", r.code, r.stderr)
		}
		r := runCLI(t, ctx, "", "--config", cfg, "reconcile", "--format", "jsonl", "--check", "renewal-due", "--fail-on", "none")
		if r.code != 0 {
			t.Fatalf("reconcile: exit %d %s", r.code, r.stderr)
		}
		var out []reconcile.Finding
		for _, f := range lines[reconcile.Finding](t, r.stdout) {
			if !f.Suppressed {
				out = append(out, f)
			}
		}
		return out
	}
	if fs := due(); len(fs) != 0 {
		t.Fatalf("fresh certificate: %+v, want no renewal-due", fs)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := client.RevokeCert(rctx, nil, leaf.Raw, acme.CRLReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	fs := due()
	if len(fs) != 1 || fs[0].Severity != reconcile.High || !strings.Contains(fs[0].Endpoint, "ari.cli.test") {
		t.Fatalf("after revocation in Pebble: %+v, want one high renewal-due", fs)
	}
}
