package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ovh/kmip-go"
	"github.com/ovh/kmip-go/kmipclient"

	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/inventory"
)

// TestInventoryCLIKMIP: keyaudit inventory lists a KMIP server named in
// the config, and warns about a client key file others may read.
func TestInventoryCLIKMIP(t *testing.T) {
	lab := testlab.StartPyKMIP(t)
	ctx := context.Background()
	c, err := kmipclient.DialContext(ctx, lab.Addr, kmipclient.WithClientCertFiles(lab.ClientCert, lab.ClientKey),
		kmipclient.WithRootCAFile(lab.CAFile), kmipclient.WithServerName("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kmip-cli.example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register().Certificate(kmip.CertificateTypeX_509, der).WithName("cli-cert").ExecContext(ctx); err != nil {
		t.Fatal(err)
	}
	c.Close()
	cert, _ := x509.ParseCertificate(der)
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)

	if err := os.Chmod(lab.ClientKey, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "keyaudit.yaml")
	os.WriteFile(cfg, []byte(`inventory:
  format: jsonl
  sources:
    - kmip: kmip://`+lab.Addr+`
      cert-file: `+lab.ClientCert+`
      key-file: `+lab.ClientKey+`
      ca-file: `+lab.CAFile+`
      owner: kms-team
`), 0o600)
	r := runCLI(t, ctx, "", "--config", cfg, "inventory")
	if r.code != exitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "warning") || !strings.Contains(r.stderr, lab.ClientKey) {
		t.Errorf("stderr %q, want a warning about the readable key file", r.stderr)
	}
	var k inventory.Key
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &k); err != nil {
		t.Fatalf("stdout %q: %v", r.stdout, err)
	}
	if k.Source != "kmip" || k.Label != "cli-cert" || k.SPKISHA256 != hex.EncodeToString(sum[:]) || k.Owner != "kms-team" {
		t.Errorf("key %+v", k)
	}
}
