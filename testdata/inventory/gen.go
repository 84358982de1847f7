//go:build ignore

// gen.go writes the inventory file fixtures: certificates, public and
// private keys (PEM, DER), a PKCS#12 bundle, a JWK set and cloud-KMS
// exports as their CLIs print them, plus expected.json with the
// spki_sha256 each must give. Keys are fresh at every run and exist only
// for tests.
//
//	go generate ./inventory/files   (or: go run gen.go -out .)
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"hash/crc32"
	"log"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	gopkcs12 "software.sslmate.com/src/go-pkcs12"
)

// P12Password opens bundle.p12; tests read it from bundle.p12.password.
const P12Password = "fixture-p12-password"

type expect struct {
	File    string `json:"file"`
	Class   string `json:"class"`
	SPKI    string `json:"spki_sha256"`
	KeyType string `json:"key_type"`
	KeyBits int    `json:"key_bits"`
	Curve   string `json:"curve,omitempty"`
	Label   string `json:"label,omitempty"`
	Owner   string `json:"owner,omitempty"`
	Purpose string `json:"purpose,omitempty"`
}

var (
	out       = flag.String("out", ".", "output directory")
	expected  []expect
	notBefore = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	notAfter  = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
)

func main() {
	flag.Parse()
	rsa2048 := must(rsa.GenerateKey(rand.Reader, 2048))
	rsa3072 := must(rsa.GenerateKey(rand.Reader, 3072))
	p256 := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	p384 := must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))
	edPub, edPriv := must2(ed25519.GenerateKey(rand.Reader))

	// A CA and a leaf, PEM with a text dump above each block.
	caKey := must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))
	caCert := cert("Fixture CA", caKey, &caKey.PublicKey, nil, nil, true)
	leaf := cert("web.example.test", caKey, &rsa2048.PublicKey, caCert, nil, false)
	writePEM("rsa2048-cert.pem", "CERTIFICATE", leaf.Raw, describeCert(leaf))
	add("rsa2048-cert.pem", "certificate", &rsa2048.PublicKey, "RSA", 2048, "", "web.example.test")
	writeFile("ec-p384-ca.der", caCert.Raw)
	add("ec-p384-ca.der", "certificate", &caKey.PublicKey, "ECDSA", 384, "P-384", "Fixture CA")

	writePEM("ec-p256-public.pem", "PUBLIC KEY", spki(&p256.PublicKey), "P-256 public key")
	add("ec-p256-public.pem", "public_key", &p256.PublicKey, "ECDSA", 256, "P-256", "ec-p256-public")
	writeFile("rsa3072-public.der", spki(&rsa3072.PublicKey))
	add("rsa3072-public.der", "public_key", &rsa3072.PublicKey, "RSA", 3072, "", "rsa3072-public")
	writePEM("rsa3072-pkcs1-public.pem", "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsa3072.PublicKey), "RSA-3072 public key, PKCS#1")
	add("rsa3072-pkcs1-public.pem", "public_key", &rsa3072.PublicKey, "RSA", 3072, "", "")
	writePEM("ed25519-private.pem", "PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(edPriv)), "Ed25519 private key (test only)")
	add("ed25519-private.pem", "private_key", edPub, "Ed25519", 256, "Ed25519", "")
	writePEM("ec-p256-private-sec1.pem", "EC PRIVATE KEY", must(x509.MarshalECPrivateKey(p256)), "P-256 private key, SEC 1 (test only)")
	add("ec-p256-private-sec1.pem", "private_key", &p256.PublicKey, "ECDSA", 256, "P-256", "")
	writePEM("encrypted-private.pem", "ENCRYPTED PRIVATE KEY", []byte("not really encrypted: only the block type matters"), "An encrypted PKCS#8 key: listed, public half unknown")

	// PKCS#12: key, leaf and CA.
	p12 := must(gopkcs12.Modern.Encode(rsa2048, leaf, []*x509.Certificate{caCert}, P12Password))
	writeFile("bundle.p12", p12)
	writeFile("bundle.p12.password", []byte(P12Password+"\n"))
	add("bundle.p12", "private_key", &rsa2048.PublicKey, "RSA", 2048, "", "web.example.test")
	add("bundle.p12", "certificate", &rsa2048.PublicKey, "RSA", 2048, "", "web.example.test")
	add("bundle.p12", "certificate", &caKey.PublicKey, "ECDSA", 384, "P-384", "Fixture CA")

	// A JWK set.
	b64 := base64.RawURLEncoding.EncodeToString
	pad := func(n *big.Int, size int) string { b := make([]byte, size); n.FillBytes(b); return b64(b) }
	jwks := map[string]any{"keys": []map[string]any{
		{"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": b64(rsa2048.N.Bytes()), "e": b64(big.NewInt(int64(rsa2048.E)).Bytes()),
			"x5c": []string{base64.StdEncoding.EncodeToString(leaf.Raw)}},
		{"kty": "EC", "kid": "ec-1", "use": "sig", "crv": "P-384", "x": pad(p384.X, 48), "y": pad(p384.Y, 48)},
		{"kty": "OKP", "kid": "ed-1", "crv": "Ed25519", "x": b64(edPub)},
		{"kty": "oct", "kid": "hmac-1", "alg": "HS256", "k": b64(make([]byte, 32))},
		{"kty": "EC", "kid": "ec-priv", "key_ops": []string{"sign"}, "crv": "P-256", "x": pad(p256.X, 32), "y": pad(p256.Y, 32), "d": pad(p256.D, 32)},
	}}
	writeJSON("jwks.json", jwks)
	add("jwks.json", "public_key", &rsa2048.PublicKey, "RSA", 2048, "", "rsa-1")
	add("jwks.json", "certificate", &rsa2048.PublicKey, "RSA", 2048, "", "web.example.test")
	add("jwks.json", "public_key", &p384.PublicKey, "ECDSA", 384, "P-384", "ec-1")
	add("jwks.json", "public_key", edPub, "Ed25519", 256, "Ed25519", "ed-1")
	add("jwks.json", "private_key", &p256.PublicKey, "ECDSA", 256, "P-256", "ec-priv")
	expected = append(expected, expect{File: "jwks.json", Class: "secret_key", KeyType: "HMAC-SHA256", KeyBits: 256, Label: "hmac-1"})

	// aws kms get-public-key --key-id … --output json
	writeJSON("aws-kms-get-public-key.json", map[string]any{
		"KeyId":                 "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"PublicKey":             base64.StdEncoding.EncodeToString(spki(&rsa3072.PublicKey)),
		"CustomerMasterKeySpec": "RSA_3072",
		"KeySpec":               "RSA_3072",
		"KeyUsage":              "ENCRYPT_DECRYPT",
		"EncryptionAlgorithms":  []string{"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"},
	})
	add("aws-kms-get-public-key.json", "public_key", &rsa3072.PublicKey, "RSA", 3072, "", "1234abcd-12ab-34cd-56ef-1234567890ab")
	writeJSON("aws-kms-ecc.json", map[string]any{
		"KeyId":             "arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321",
		"PublicKey":         base64.StdEncoding.EncodeToString(spki(&p256.PublicKey)),
		"KeySpec":           "ECC_NIST_P256",
		"KeyUsage":          "SIGN_VERIFY",
		"SigningAlgorithms": []string{"ECDSA_SHA_256"},
	})
	add("aws-kms-ecc.json", "public_key", &p256.PublicKey, "ECDSA", 256, "P-256", "0987dcba-09fe-87dc-65ba-ab0987654321")

	// az keyvault key show --vault-name … --name … --output json
	writeJSON("azure-key-show-rsa.json", map[string]any{
		"attributes": map[string]any{"created": "2026-01-01T10:00:00+00:00", "enabled": true, "expires": "2028-01-01T00:00:00+00:00",
			"exportable": false, "notBefore": nil, "recoverableDays": 90, "recoveryLevel": "Recoverable+Purgeable", "updated": "2026-01-01T10:00:00+00:00"},
		"key": map[string]any{"crv": nil, "d": nil, "dp": nil, "dq": nil, "e": b64(big.NewInt(int64(rsa3072.E)).Bytes()), "k": nil,
			"keyOps": []string{"encrypt", "decrypt", "wrapKey", "unwrapKey"}, "kid": "https://fixture-vault.vault.azure.net/keys/payments-kek/0123456789abcdef0123456789abcdef",
			"kty": "RSA-HSM", "n": b64(rsa3072.N.Bytes()), "p": nil, "q": nil, "qi": nil, "t": nil, "x": nil, "y": nil},
		"managed": nil, "releasePolicy": nil,
		"tags": map[string]string{"owner": "payments-team", "purpose": "key-encryption"},
	})
	expected = append(expected, expect{File: "azure-key-show-rsa.json", Class: "public_key", SPKI: fp(&rsa3072.PublicKey), KeyType: "RSA", KeyBits: 3072,
		Label: "payments-kek", Owner: "payments-team", Purpose: "key-encryption"})
	writeJSON("azure-key-show-ec.json", map[string]any{
		"attributes": map[string]any{"enabled": true, "exportable": false},
		"key": map[string]any{"crv": "P-384", "keyOps": []string{"sign", "verify"}, "kid": "https://fixture-vault.vault.azure.net/keys/code-signing/fedcba9876543210",
			"kty": "EC", "x": pad(p384.X, 48), "y": pad(p384.Y, 48)},
		"tags": map[string]string{},
	})
	add("azure-key-show-ec.json", "public_key", &p384.PublicKey, "ECDSA", 384, "P-384", "code-signing")

	// gcloud kms keys versions get-public-key 1 … (PEM, and --format=json)
	gpem := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki(&p256.PublicKey)}))
	writeFile("gcp-public-key.pem", []byte(gpem))
	add("gcp-public-key.pem", "public_key", &p256.PublicKey, "ECDSA", 256, "P-256", "")
	writeJSON("gcp-public-key.json", map[string]any{
		"algorithm":       "EC_SIGN_P256_SHA256",
		"name":            "projects/fixture/locations/global/keyRings/ring/cryptoKeys/signer/cryptoKeyVersions/1",
		"pem":             gpem,
		"pemCrc32c":       fmt.Sprint(crc32.Checksum([]byte(gpem), crc32.MakeTable(crc32.Castagnoli))),
		"protectionLevel": "HSM",
	})
	add("gcp-public-key.json", "public_key", &p256.PublicKey, "ECDSA", 256, "P-256", "signer")

	writeFile("README.txt", []byte("Not key material: the files source skips this file when it walks the directory.\n"))
	writeJSON("expected.json", expected)
}

func cert(cn string, signer crypto.Signer, pub any, parent *x509.Certificate, _ any, ca bool) *x509.Certificate {
	tmpl := &x509.Certificate{
		SerialNumber: must(rand.Int(rand.Reader, big.NewInt(1<<62))),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"keyaudit fixtures"}},
		NotBefore:    notBefore, NotAfter: notAfter,
		BasicConstraintsValid: true, IsCA: ca,
	}
	if !ca {
		tmpl.DNSNames = []string{cn}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = x509.KeyUsageCertSign
	}
	if parent == nil {
		parent = tmpl
	}
	der := must(x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer))
	return must(x509.ParseCertificate(der))
}

func describeCert(c *x509.Certificate) string {
	s := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return fmt.Sprintf("Subject: %s\nIssuer: %s\nNot before: %s\nNot after: %s\nspki_sha256: %s",
		c.Subject, c.Issuer, c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339), hex.EncodeToString(s[:]))
}

func spki(pub any) []byte { return must(x509.MarshalPKIXPublicKey(pub)) }

func fp(pub any) string {
	s := sha256.Sum256(spki(pub))
	return hex.EncodeToString(s[:])
}

func add(file, class string, pub any, typ string, bits int, curve, label string) {
	expected = append(expected, expect{File: file, Class: class, SPKI: fp(pub), KeyType: typ, KeyBits: bits, Curve: curve, Label: label})
}

func writePEM(name, typ string, der []byte, text string) {
	var b strings.Builder
	for _, l := range strings.Split(text, "\n") {
		b.WriteString("# " + l + "\n")
	}
	b.Write(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	writeFile(name, []byte(b.String()))
}

func writeJSON(name string, v any) {
	b := must(json.MarshalIndent(v, "", "  "))
	writeFile(name, append(b, '\n'))
}

func writeFile(name string, b []byte) {
	if err := os.WriteFile(filepath.Join(*out, name), b, 0o644); err != nil {
		log.Fatal(err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		log.Fatal(err)
	}
	return v
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		log.Fatal(err)
	}
	return a, b
}
