package certinfo

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"time"

	zx509 "github.com/zmap/zcrypto/x509"
)

// Cert is the summary of one certificate, as written in observations,
// sightings and reports.
type Cert struct {
	SHA256             string    `json:"sha256"`
	SPKISHA256         string    `json:"spki_sha256"`
	Subject            string    `json:"subject"`
	Issuer             string    `json:"issuer"`
	Serial             string    `json:"serial"`
	SANs               []string  `json:"sans"`
	NotBefore          time.Time `json:"not_before"`
	NotAfter           time.Time `json:"not_after"`
	KeyType            string    `json:"key_type"`
	KeyBits            int       `json:"key_bits"`
	Curve              string    `json:"curve"`
	SignatureAlgorithm string    `json:"signature_algorithm"`
	SelfSigned         bool      `json:"self_signed"`
	// KeyWeakness names a weak-key defect of an RSA key (small factor,
	// ROCA, close primes); empty when none was found.
	KeyWeakness string `json:"key_weakness,omitempty"`
	// ParseError is set when neither parser accepted the DER; only the
	// fingerprint is then known.
	ParseError string `json:"parse_error,omitempty"`
	// Lenient is true when crypto/x509 refused the certificate and the
	// summary comes from zcrypto's lenient parser.
	Lenient bool `json:"lenient,omitempty"`
	// DER is the certificate itself. It is not part of the summary's JSON:
	// the store keeps it once per certificate (kind "certificate"), for
	// revocation and reports that need the whole certificate.
	DER []byte `json:"-"`
}

// Hex256 returns the lower-case hex SHA-256 of b.
func Hex256(b []byte) string { return HexSum(sha256.Sum256(b)) }

// HexSum is hex.EncodeToString of a SHA-256 digest with one allocation
// (the string) instead of two: scans and CT syncs encode several per
// certificate.
func HexSum(s [sha256.Size]byte) string {
	var buf [2 * sha256.Size]byte
	hex.Encode(buf[:], s[:])
	return string(buf[:])
}

// ParseSum is the digest HexSum encoded as s; false when s is not 64
// hex digits.
func ParseSum(s string) (sum [sha256.Size]byte, ok bool) {
	var buf [2 * sha256.Size]byte
	if len(s) != len(buf) {
		return sum, false
	}
	copy(buf[:], s)
	_, err := hex.Decode(sum[:], buf[:])
	return sum, err == nil
}

// SPKISHA256 returns the spki_sha256 of a public key (any type accepted by
// x509.MarshalPKIXPublicKey).
func SPKISHA256(pub any) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("certinfo: marshal public key: %w", err)
	}
	return Hex256(der), nil
}

// KeyInfo describes a public key: algorithm family, size in bits and curve.
type KeyInfo struct {
	Type  string // RSA, ECDSA, Ed25519, X25519, DSA, unknown
	Bits  int
	Curve string // P-256, P-384, P-521, Ed25519 …
}

// DescribeKey returns the type, size and curve of a crypto public key.
func DescribeKey(pub any) KeyInfo {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return KeyInfo{Type: "RSA", Bits: k.N.BitLen()}
	case *ecdsa.PublicKey:
		return KeyInfo{Type: "ECDSA", Bits: k.Curve.Params().BitSize, Curve: k.Curve.Params().Name}
	case ed25519.PublicKey:
		return KeyInfo{Type: "Ed25519", Bits: 256, Curve: "Ed25519"}
	case *ecdh.PublicKey:
		return KeyInfo{Type: "X25519", Bits: 256, Curve: "X25519"}
	default:
		return KeyInfo{Type: "unknown"}
	}
}

// Parse summarises a DER certificate. It never fails outright: when no
// parser accepts der, the result carries the fingerprint and ParseError,
// and the returned error says why.
func Parse(der []byte) (Cert, error) {
	sum := sha256.Sum256(der)
	if c, ok := cached(sum); ok && c.ParseError == "" {
		c.DER = der
		return c, nil
	}
	c := Cert{SHA256: HexSum(sum), SANs: []string{}, DER: der}
	if x, err := x509.ParseCertificate(der); err == nil {
		fillStd(&c, x)
		remember(sum, c)
		return c, nil
	} else if z, zerr := zx509.ParseCertificate(der); zerr == nil {
		fillZ(&c, z)
		c.Lenient = true
		remember(sum, c)
		return c, nil
	} else {
		c.ParseError = err.Error()
		return c, fmt.Errorf("certinfo: parse certificate %s: %w", c.SHA256[:16], err)
	}
}

// ParseX509 summarises an already parsed certificate.
func ParseX509(x *x509.Certificate) Cert { return parseStdCached(x) }

func fillStd(c *Cert, x *x509.Certificate) {
	c.SPKISHA256 = Hex256(x.RawSubjectPublicKeyInfo)
	c.Subject = x.Subject.String()
	c.Issuer = x.Issuer.String()
	c.Serial = serialHex(x.SerialNumber)
	c.SANs = sans(x.DNSNames, x.IPAddresses, x.EmailAddresses, x.URIs)
	c.NotBefore = x.NotBefore.UTC()
	c.NotAfter = x.NotAfter.UTC()
	ki := DescribeKey(x.PublicKey)
	if x.PublicKey == nil {
		ki = KeyInfo{Type: x.PublicKeyAlgorithm.String()}
	}
	c.KeyType, c.KeyBits, c.Curve = ki.Type, ki.Bits, ki.Curve
	if k, ok := x.PublicKey.(*rsa.PublicKey); ok {
		c.KeyWeakness = RSAWeakness(k)
	}
	c.SignatureAlgorithm = x.SignatureAlgorithm.String()
	c.SelfSigned = selfSigned(x.RawSubject, x.RawIssuer, x.SubjectKeyId, x.AuthorityKeyId)
}

func fillZ(c *Cert, x *zx509.Certificate) {
	c.SPKISHA256 = Hex256(x.RawSubjectPublicKeyInfo)
	c.Subject = x.Subject.String()
	c.Issuer = x.Issuer.String()
	c.Serial = serialHex(x.SerialNumber)
	names := append([]string{}, x.DNSNames...)
	for _, ip := range x.IPAddresses {
		names = append(names, ip.String())
	}
	names = append(names, x.EmailAddresses...)
	c.SANs = names
	c.NotBefore = x.NotBefore.UTC()
	c.NotAfter = x.NotAfter.UTC()
	if pub, err := x509.ParsePKIXPublicKey(x.RawSubjectPublicKeyInfo); err == nil {
		ki := DescribeKey(pub)
		c.KeyType, c.KeyBits, c.Curve = ki.Type, ki.Bits, ki.Curve
		if k, ok := pub.(*rsa.PublicKey); ok {
			c.KeyWeakness = RSAWeakness(k)
		}
	} else {
		c.KeyType = x.PublicKeyAlgorithm.String()
	}
	c.SignatureAlgorithm = x.SignatureAlgorithm.String()
	c.SelfSigned = selfSigned(x.RawSubject, x.RawIssuer, x.SubjectKeyId, x.AuthorityKeyId)
}

func selfSigned(subj, iss, ski, aki []byte) bool {
	if string(subj) != string(iss) {
		return false
	}
	return len(aki) == 0 || len(ski) == 0 || string(aki) == string(ski)
}

// serialHex renders a serial as lower-case hex, with a leading '-' for the
// negative serials some broken CAs emit.
func serialHex(n *big.Int) string {
	if n == nil {
		return ""
	}
	if n.Sign() < 0 {
		return "-" + hex.EncodeToString(new(big.Int).Neg(n).Bytes())
	}
	b := n.Bytes()
	if len(b) == 0 {
		return "00"
	}
	return hex.EncodeToString(b)
}

func sans(dns []string, ips []net.IP, emails []string, uris []*url.URL) []string {
	out := append([]string{}, dns...)
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	out = append(out, emails...)
	for _, u := range uris {
		out = append(out, u.String())
	}
	return out
}

// ErrNoCertificate is returned by ParsePEMChain when the input holds none.
var ErrNoCertificate = errors.New("certinfo: no certificate found")

// Names returns the DNS names a certificate is for: SANs, and the CN when
// there are no DNS SANs (legacy certificates), lower-cased.
func Names(c Cert, cn string) []string {
	out := make([]string, 0, len(c.SANs)+1)
	for _, s := range c.SANs {
		out = append(out, strings.ToLower(s))
	}
	if len(out) == 0 && cn != "" {
		out = append(out, strings.ToLower(cn))
	}
	return out
}
