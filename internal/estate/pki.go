package estate

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// KeyType names the key algorithms the estate issues.
type KeyType string

// Key types.
const (
	RSA2048  KeyType = "rsa2048"
	RSA3072  KeyType = "rsa3072"
	RSA1024  KeyType = "rsa1024" // weak, for findings
	ECDSA256 KeyType = "ecdsa256"
	ECDSA384 KeyType = "ecdsa384"
	Ed25519  KeyType = "ed25519"
)

// NewKey generates a private key of type kt.
func NewKey(kt KeyType) (crypto.Signer, error) {
	switch kt {
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case RSA1024:
		return rsa.GenerateKey(rand.Reader, 1024)
	case ECDSA256, "":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSA384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("estate: unknown key type %q", kt)
}

// CA is an issuing certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Chain is the CA's own chain above it (intermediates first, root
	// excluded), appended to the chains it issues.
	Chain [][]byte
}

var serialLimit = new(big.Int).Lsh(big.NewInt(1), 127)

func randSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, serialLimit)
	return n.Add(n, big.NewInt(1))
}

// NewRoot creates a self-signed root CA of the "keyaudit demo"
// organisation.
func NewRoot(cn string, kt KeyType) (*CA, error) { return NewRootOrg(cn, "keyaudit demo", kt) }

// NewRootOrg creates a self-signed root CA of organisation org; its
// intermediates carry the same organisation.
func NewRootOrg(cn, org string, kt KeyType) (*CA, error) {
	key, err := NewKey(kt)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randSerial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{org}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("estate: create root: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &CA{Cert: cert, Key: key}, nil
}

// Intermediate issues a subordinate CA.
func (ca *CA) Intermediate(cn string, kt KeyType) (*CA, error) {
	key, err := NewKey(kt)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randSerial(),
		Subject:               pkix.Name{CommonName: cn, Organization: ca.Cert.Subject.Organization},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("estate: create intermediate: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &CA{Cert: cert, Key: key, Chain: append([][]byte{der}, ca.Chain...)}, nil
}

// IntermediateBetween issues a subordinate CA valid from notBefore to
// notAfter (in the past for an expired intermediate).
func (ca *CA) IntermediateBetween(cn string, kt KeyType, notBefore, notAfter time.Time) (*CA, error) {
	key, err := NewKey(kt)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randSerial(),
		Subject:               pkix.Name{CommonName: cn, Organization: ca.Cert.Subject.Organization},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("estate: create intermediate: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &CA{Cert: cert, Key: key, Chain: append([][]byte{der}, ca.Chain...)}, nil
}

// OCSPSigner issues a delegated OCSP responder certificate (RFC 6960
// §4.2.2.2: id-kp-OCSPSigning, issued by the CA) and returns it with its
// key. ocspSigning false leaves the EKU out: an unauthorised responder.
func (ca *CA) OCSPSigner(cn string, ocspSigning bool) (*x509.Certificate, crypto.Signer, error) {
	key, err := NewKey(ECDSA256)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(0, 0, 30),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if ocspSigning {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("estate: create OCSP signer: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key, nil
}

// CRL issues the CA's CRL listing revoked, valid for next.
func (ca *CA) CRL(revoked []x509.RevocationListEntry, next time.Duration) ([]byte, error) {
	now := time.Now()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(now.UnixNano()), ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(next),
		RevokedCertificateEntries: revoked,
	}, ca.Cert, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("estate: create CRL: %w", err)
	}
	return der, nil
}

// Leaf describes a server certificate to issue.
type Leaf struct {
	CN        string
	DNS       []string
	IPs       []net.IP
	Key       KeyType
	NotBefore time.Time // default: an hour ago
	NotAfter  time.Time // default: 90 days from now
	// SelfSigned ignores the CA and signs with the leaf's own key.
	SelfSigned bool
	// NegativeSerial re-encodes the serial as a negative INTEGER (as
	// some broken CAs did), which crypto/x509 refuses to parse.
	NegativeSerial bool
	// Signer, when set, is the key to certify instead of a new one
	// (a key held elsewhere, an HSM's public half).
	Signer crypto.Signer
	// OCSP, CRL and CAIssuers are the leaf's AIA OCSP URLs, CRL
	// distribution points and AIA caIssuers URLs.
	OCSP, CRL, CAIssuers []string
	// MustStaple adds the RFC 7633 TLS feature status_request.
	MustStaple bool
}

// oidTLSFeature is the RFC 7633 TLS feature extension; mustStapleValue
// its DER value SEQUENCE { INTEGER 5 } (status_request).
var (
	oidTLSFeature   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 24}
	mustStapleValue = []byte{0x30, 0x03, 0x02, 0x01, 0x05}
)

// Issue creates a certificate and returns it as a tls.Certificate whose
// chain is the leaf followed by the CA's chain.
func (ca *CA) Issue(l Leaf) (tls.Certificate, error) {
	key := l.Signer
	if key == nil {
		var err error
		if key, err = NewKey(l.Key); err != nil {
			return tls.Certificate{}, err
		}
	}
	now := time.Now()
	if l.NotBefore.IsZero() {
		l.NotBefore = now.Add(-time.Hour)
	}
	if l.NotAfter.IsZero() {
		l.NotAfter = now.AddDate(0, 0, 90)
	}
	dns := l.DNS
	if len(dns) == 0 && len(l.IPs) == 0 && l.CN != "" {
		dns = []string{l.CN}
	}
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(),
		Subject:      pkix.Name{CommonName: l.CN},
		NotBefore:    l.NotBefore,
		NotAfter:     l.NotAfter,
		DNSNames:     dns,
		IPAddresses:  l.IPs,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},

		OCSPServer:            l.OCSP,
		CRLDistributionPoints: l.CRL,
		IssuingCertificateURL: l.CAIssuers,
	}
	if l.MustStaple {
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: oidTLSFeature, Value: mustStapleValue})
	}
	if _, isRSA := key.(*rsa.PrivateKey); isRSA {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	parent, signer := ca.Cert, ca.Key
	chain := ca.Chain
	if l.SelfSigned {
		parent, signer, chain = tmpl, key, nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("estate: issue %s: %w", l.CN, err)
	}
	if l.NegativeSerial {
		if der, err = negateSerial(der, signer); err != nil {
			return tls.Certificate{}, err
		}
	}
	return tls.Certificate{Certificate: append([][]byte{der}, chain...), PrivateKey: key}, nil
}

// negateSerial rewrites the serial of der as a negative INTEGER and
// re-signs the TBS with signer.
func negateSerial(der []byte, signer crypto.Signer) ([]byte, error) {
	var cert struct {
		TBS    asn1.RawValue
		SigAlg asn1.RawValue
		Sig    asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &cert); err != nil {
		return nil, fmt.Errorf("estate: negate serial: %w", err)
	}
	in := cryptobyte.String(cert.TBS.Bytes)
	var version cryptobyte.String
	var hasVersion bool
	if !in.ReadOptionalASN1(&version, &hasVersion, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return nil, fmt.Errorf("estate: negate serial: bad version")
	}
	var serial cryptobyte.String
	if !in.ReadASN1(&serial, cbasn1.INTEGER) {
		return nil, fmt.Errorf("estate: negate serial: bad serial")
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		if hasVersion {
			b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(version) })
		}
		// 0xff 0x.. : a negative number of the same length.
		neg := append([]byte{0xff}, serial...)
		b.AddASN1(cbasn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes(neg) })
		b.AddBytes(in)
	})
	tbs, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	var digest []byte
	var opts crypto.SignerOpts = crypto.SHA256
	if _, ok := signer.(ed25519.PrivateKey); ok {
		digest, opts = tbs, crypto.Hash(0)
	} else {
		h := crypto.SHA256.New()
		h.Write(tbs)
		digest = h.Sum(nil)
	}
	if k, ok := signer.(*ecdsa.PrivateKey); ok && k.Curve == elliptic.P384() {
		h := crypto.SHA384.New()
		h.Write(tbs)
		digest, opts = h.Sum(nil), crypto.SHA384
	}
	sig, err := signer.Sign(rand.Reader, digest, opts)
	if err != nil {
		return nil, err
	}
	var out cryptobyte.Builder
	out.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		b.AddBytes(cert.SigAlg.FullBytes)
		b.AddASN1BitString(sig)
	})
	return out.Bytes()
}

// PEMChain encodes a chain as PEM CERTIFICATE blocks.
func PEMChain(chain [][]byte) []byte {
	var out []byte
	for _, der := range chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return out
}

// PEMKey encodes a private key as PKCS#8 PEM.
func PEMKey(k crypto.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
