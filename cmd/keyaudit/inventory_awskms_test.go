package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/reconcile"
)

// kmsSigner signs TLS handshakes with a KMS key (Sign, DIGEST).
type kmsSigner struct {
	c   *kms.Client
	id  string
	pub crypto.PublicKey
}

func (s kmsSigner) Public() crypto.PublicKey { return s.pub }

func (s kmsSigner) Sign(_ io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	out, err := s.c.Sign(context.Background(), &kms.SignInput{KeyId: aws.String(s.id), Message: digest,
		MessageType: types.MessageTypeDigest, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	if err != nil {
		return nil, err
	}
	return out.Signature, nil
}

// TestInventoryCLIAWSKMS: keyaudit lists an AWS KMS region named in the
// config (dummy credentials from the environment, local-kms on loopback),
// a TLS endpoint serves a certificate whose key lives in KMS, the key is
// then scheduled for deletion, and reconcile reports it still in use
// (with the fingerprint of the earlier read: AWS no longer serves it),
// besides the unrotated, unowned symmetric key.
func TestInventoryCLIAWSKMS(t *testing.T) {
	dir := t.TempDir()
	dummyAWSEnv(t, "AKIAKEYAUDITTEST", "dummy-secret")
	lk := testlab.StartLocalKMS(t, "eu-west-2")
	ctx := context.Background()
	dial := &net.Dialer{Timeout: 5 * time.Second}
	c := kms.New(kms.Options{Region: lk.Region, BaseEndpoint: aws.String(lk.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("AKIAKEYAUDITTEST", "dummy-secret", ""),
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if !testlab.IsLoopback(addr) {
				return nil, fmt.Errorf("refusing to dial %s", addr)
			}
			return dial.DialContext(ctx, network, addr)
		}}}})
	ec, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify,
		Tags: []types.Tag{{TagKey: aws.String("owner"), TagValue: aws.String("team-web")}}})
	if err != nil {
		t.Fatal(err)
	}
	sym, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	pk, err := c.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: ec.KeyMetadata.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(pk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pk.PublicKey)
	spki := hex.EncodeToString(sum[:])

	// A certificate for the KMS key, issued by a throwaway CA.
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kms test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kms.example.test"}, DNSNames: []string{"kms.example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, pub, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := estate.ServeTLS("127.0.33.7:0", &tls.Config{MaxVersion: tls.VersionTLS13, Certificates: []tls.Certificate{{
		Certificate: [][]byte{der}, PrivateKey: kmsSigner{c: c, id: *ec.KeyMetadata.KeyId, pub: pub}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	db := filepath.Join(dir, "k.db")
	cfg := filepath.Join(dir, "keyaudit.yaml")
	if err := os.WriteFile(cfg, []byte("store: "+db+"\ninventory:\n  format: jsonl\n  sources:\n    - awskms: awskms://eu-west-2\n      endpoint: "+lk.Endpoint+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, ctx, "", "--config", cfg, "inventory")
	if r.code != exitOK {
		t.Fatalf("inventory: exit %d: %s", r.code, r.stderr)
	}
	keys := lines[inventory.Key](t, r.stdout)
	if len(keys) != 2 {
		t.Fatalf("keys %+v", keys)
	}
	for _, k := range keys {
		if k.ID == *ec.KeyMetadata.KeyId && (k.SPKISHA256 != spki || k.Owner != "team-web" || k.State != "enabled") {
			t.Errorf("EC key %+v", k)
		}
	}
	if r := runCLI(t, ctx, "", "--config", cfg, "scan", "--timeout", "5s", "--format", "jsonl", srv.Addr); r.code != exitOK {
		t.Fatalf("scan: exit %d: %s", r.code, r.stderr)
	} else if !strings.Contains(r.stdout, spki) {
		t.Fatalf("scan saw no certificate with the KMS key: %s", r.stdout)
	}

	if _, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: ec.KeyMetadata.KeyId, PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, ctx, "", "--config", cfg, "inventory"); r.code != exitOK {
		t.Fatalf("inventory: exit %d: %s", r.code, r.stderr)
	}
	r = runCLI(t, ctx, "", "--config", cfg, "reconcile", "--format", "jsonl")
	got := map[string][]string{}
	for _, f := range lines[reconcile.Finding](t, r.stdout) {
		got[f.Check] = append(got[f.Check], f.Subject+" "+f.SPKISHA256)
	}
	ecName := lk.Region + "/" + lk.Account + "/" + *ec.KeyMetadata.KeyId
	symName := lk.Region + "/" + lk.Account + "/" + *sym.KeyMetadata.KeyId
	for check, want := range map[string]string{
		"kms-key-pending-deletion-in-use": "[" + ecName + " " + spki + "]",
		"kms-key-rotation-disabled":       "[" + symName + " ]",
		"kms-key-no-owner":                "[" + symName + " ]",
		"unmanaged-key":                   "[]",
		"key-disappeared":                 "[]",
	} {
		if fmt.Sprint(got[check]) != want {
			t.Errorf("%s: %v, want %s (stderr %s)", check, got[check], want, r.stderr)
		}
	}
}

// dummyAWSEnv gives AWS's standard credential chain dummy credentials in
// the environment, for local-kms, and nothing else to find: no profile
// files, no instance metadata, no web identity, no endpoint override.
func dummyAWSEnv(t *testing.T, keyID, secret string) {
	t.Helper()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": keyID, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": "",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull, "AWS_PROFILE": "",
		"AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_ROLE_ARN": "", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_KMS": "",
	} {
		t.Setenv(k, v)
	}
}
