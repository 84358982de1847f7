package testlab

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// CT extension OIDs (RFC 6962 §3.1, §3.3).
var (
	oidCTPoison  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 3}
	oidCTSCTList = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 2}
)

// CTCA is a test CA whose root a test CT log accepts. It issues
// certificates and precertificate/certificate pairs for add-chain and
// add-pre-chain.
type CTCA struct {
	Root    *x509.Certificate
	RootKey crypto.Signer
	// RootPEM is the roots file content for the log.
	RootPEM []byte

	mu     sync.Mutex
	serial int64
	key    *ecdsa.PrivateKey // one leaf key for all certificates: generation is not what is tested
}

// NewCTCA creates a CA with an ECDSA P-256 root.
func NewCTCA(t testing.TB) *CTCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "keyaudit CT test root", Organization: []string{"keyaudit testlab"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	root, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &CTCA{
		Root: root, RootKey: key, key: leafKey, serial: 1000,
		RootPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}
}

// WriteRoots writes RootPEM into dir and returns the path.
func (ca *CTCA) WriteRoots(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "roots.pem")
	if err := os.WriteFile(p, ca.RootPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (ca *CTCA) template(names []string) *x509.Certificate {
	ca.mu.Lock()
	ca.serial++
	s := ca.serial
	ca.mu.Unlock()
	cn := ""
	if len(names) > 0 {
		cn = names[0]
	}
	return &x509.Certificate{
		SerialNumber: big.NewInt(s),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Minute).Truncate(time.Second),
		NotAfter:     time.Now().Add(90 * 24 * time.Hour).Truncate(time.Second),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
}

// LeafKey returns the public key every issued certificate carries.
func (ca *CTCA) LeafKey() crypto.PublicKey { return ca.key.Public() }

// Cert issues a certificate for names (the first is also the CN).
func (ca *CTCA) Cert(t testing.TB, names ...string) []byte {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, ca.template(names), ca.Root, ca.key.Public(), ca.RootKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// CertWithTemplate issues a certificate from tmpl (serial and validity
// filled in when empty).
func (ca *CTCA) CertWithTemplate(t testing.TB, tmpl *x509.Certificate) []byte {
	t.Helper()
	base := ca.template(tmpl.DNSNames)
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = base.SerialNumber
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = base.NotBefore, base.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Root, ca.key.Public(), ca.RootKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// Pair is a precertificate and the template of its final certificate.
type Pair struct {
	Precert []byte
	ca      *CTCA
	tmpl    *x509.Certificate
}

// Precert issues a precertificate for names (critical poison extension).
func (ca *CTCA) Precert(t testing.TB, names ...string) *Pair {
	t.Helper()
	tmpl := ca.template(names)
	pre := *tmpl
	pre.ExtraExtensions = []pkix.Extension{{Id: oidCTPoison, Critical: true, Value: []byte{0x05, 0x00}}}
	der, err := x509.CreateCertificate(rand.Reader, &pre, ca.Root, ca.key.Public(), ca.RootKey)
	if err != nil {
		t.Fatal(err)
	}
	return &Pair{Precert: der, ca: ca, tmpl: tmpl}
}

// Final issues the certificate matching the precertificate, embedding
// the given SCTs (TLS-encoded SignedCertificateTimestamp structures).
func (p *Pair) Final(t testing.TB, scts ...[]byte) []byte {
	t.Helper()
	// SignedCertificateTimestampList (RFC 6962 §3.3) in an OCTET STRING.
	var b cryptobyte.Builder
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, s := range scts {
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(s) })
		}
	})
	list, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	val, err := asn1.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	final := *p.tmpl
	final.ExtraExtensions = []pkix.Extension{{Id: oidCTSCTList, Value: val}}
	der, err := x509.CreateCertificate(rand.Reader, &final, p.ca.Root, p.ca.key.Public(), p.ca.RootKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
