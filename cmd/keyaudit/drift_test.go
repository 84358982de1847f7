package main

import (
	"context"
	"crypto/tls"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/reconcile"
)

// TestReconcileDriftAndZlint scans one loopback endpoint twice, the second
// time serving a new certificate on a new key (whose empty subject and
// missing SAN break RFC 5280), and reconciles: the change of certificate
// and of key is reported against the previous scan, and zlint runs on the
// DER the scan stored.
func TestReconcileDriftAndZlint(t *testing.T) {
	root, err := estate.NewRoot("drift test root", estate.ECDSA256)
	if err != nil {
		t.Fatal(err)
	}
	first, err := root.Issue(estate.Leaf{CN: "drift.example.test", Key: estate.ECDSA256})
	if err != nil {
		t.Fatal(err)
	}
	second, err := root.Issue(estate.Leaf{Key: estate.ECDSA256}) // no CN, no SAN
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "k.db")
	scan := func(addr string, cert tls.Certificate) string {
		t.Helper()
		s, err := estate.ServeTLS(addr, &tls.Config{Certificates: []tls.Certificate{cert}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if r := runCLI(t, context.Background(), "", "--store", db, "scan", "--timeout", "2s", "--format", "jsonl", s.Addr); r.code != 0 {
			t.Fatalf("scan: exit %d %s", r.code, r.stderr)
		}
		return s.Addr
	}
	addr := scan("127.0.10.11:0", first)

	// One scan: nothing to compare with yet.
	r := runCLI(t, context.Background(), "", "--store", db, "reconcile", "--format", "jsonl", "--fail-on", "none")
	if r.code != 0 {
		t.Fatalf("reconcile: exit %d %s", r.code, r.stderr)
	}
	for _, f := range findingLines(t, r.stdout) {
		if f.Check == "certificate-changed" || f.Check == "key-changed-unmanaged" || f.Check == "endpoint-new" || f.Check == "zlint" {
			t.Errorf("first reconcile: unexpected %+v", f)
		}
	}

	scan(addr, second) // same port, new certificate and key
	r = runCLI(t, context.Background(), "", "--store", db, "reconcile", "--format", "jsonl", "--fail-on", "none")
	if r.code != 0 {
		t.Fatalf("reconcile: exit %d %s", r.code, r.stderr)
	}
	byCheck := map[string]reconcile.Finding{}
	for _, f := range findingLines(t, r.stdout) {
		byCheck[f.Check] = f
	}
	changed, ok := byCheck["certificate-changed"]
	if !ok || changed.Severity != reconcile.Info || !strings.Contains(changed.Message, "was CN=drift.example.test") || !strings.Contains(changed.Endpoint, addr) {
		t.Errorf("certificate-changed: %+v\n%s", changed, r.stdout)
	}
	key, ok := byCheck["key-changed-unmanaged"]
	if !ok || key.Severity != reconcile.Medium || key.SPKISHA256 == "" || key.Evidence["previous_spki_sha256"] == key.SPKISHA256 {
		t.Errorf("key-changed-unmanaged: %+v\n%s", key, r.stdout)
	}
	zl, ok := byCheck["zlint"]
	if !ok || zl.Severity != reconcile.Medium || !strings.Contains(zl.Message, "e_subject_empty_without_san") {
		t.Errorf("zlint: %+v\n%s", zl, r.stdout)
	}
	for _, c := range []string{"endpoint-new", "endpoint-gone"} {
		if f, ok := byCheck[c]; ok {
			t.Errorf("same endpoint in both scans, yet %+v", f)
		}
	}
}

func findingLines(t *testing.T, s string) []reconcile.Finding {
	t.Helper()
	return lines[reconcile.Finding](t, s)
}
