package inventory

import (
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
)

// Object identifiers of SubjectPublicKeyInfo algorithms and named curves.
var (
	oidRSA         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidEd25519     = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidEd448       = asn1.ObjectIdentifier{1, 3, 101, 113}
	oidX25519      = asn1.ObjectIdentifier{1, 3, 101, 110}
	oidX448        = asn1.ObjectIdentifier{1, 3, 101, 111}
)

// Curve describes a named elliptic curve.
type Curve struct {
	Name string // P-256, secp256k1, brainpoolP256r1, Ed25519 …
	Bits int
	OID  asn1.ObjectIdentifier
}

var curves = []Curve{
	{"P-224", 224, asn1.ObjectIdentifier{1, 3, 132, 0, 33}},
	{"P-256", 256, asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}},
	{"P-384", 384, asn1.ObjectIdentifier{1, 3, 132, 0, 34}},
	{"P-521", 521, asn1.ObjectIdentifier{1, 3, 132, 0, 35}},
	{"P-192", 192, asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 1}},
	{"secp256k1", 256, asn1.ObjectIdentifier{1, 3, 132, 0, 10}},
	{"brainpoolP256r1", 256, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 7}},
	{"brainpoolP384r1", 384, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 11}},
	{"brainpoolP512r1", 512, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 13}},
	{"Ed25519", 256, oidEd25519},
	{"Ed448", 456, oidEd448},
	{"X25519", 256, oidX25519},
	{"X448", 448, oidX448},
}

// CurveByOID returns the named curve with oid.
func CurveByOID(oid asn1.ObjectIdentifier) (Curve, bool) {
	for _, c := range curves {
		if c.OID.Equal(oid) {
			return c, true
		}
	}
	return Curve{}, false
}

// CurveByName returns the curve named name (also accepting the SEC and
// JOSE spellings: secp256r1, prime256v1, P-256K, edwards25519).
func CurveByName(name string) (Curve, bool) {
	switch name {
	case "secp256r1", "prime256v1":
		name = "P-256"
	case "secp384r1":
		name = "P-384"
	case "secp521r1":
		name = "P-521"
	case "P-256K", "SECP256K1":
		name = "secp256k1"
	case "edwards25519":
		name = "Ed25519"
	case "edwards448":
		name = "Ed448"
	case "curve25519":
		name = "X25519"
	}
	for _, c := range curves {
		if c.Name == name {
			return c, true
		}
	}
	return Curve{}, false
}

// ErrBadKey is returned for public key material that cannot form an SPKI.
var ErrBadKey = errors.New("inventory: malformed public key")

// ParseECParams decodes CKA_EC_PARAMS: a DER named-curve OID, or (for
// Edwards and Montgomery curves in PKCS#11 3.0) a PrintableString curve
// name.
func ParseECParams(der []byte) (Curve, error) {
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(der, &oid); err == nil && len(rest) == 0 {
		if c, ok := CurveByOID(oid); ok {
			return c, nil
		}
		return Curve{}, fmt.Errorf("%w: unknown curve %s", ErrBadKey, oid)
	}
	var name string
	if rest, err := asn1.Unmarshal(der, &name); err == nil && len(rest) == 0 {
		if c, ok := CurveByName(name); ok {
			return c, nil
		}
		return Curve{}, fmt.Errorf("%w: unknown curve %q", ErrBadKey, name)
	}
	return Curve{}, fmt.Errorf("%w: EC parameters are not a named curve", ErrBadKey)
}

type spki struct {
	Algorithm pkix.AlgorithmIdentifier
	PublicKey asn1.BitString
}

type rsaPublicKey struct {
	N *big.Int
	E *big.Int
}

// RSASPKI builds the DER SubjectPublicKeyInfo of an RSA key from its
// big-endian modulus and public exponent (CKA_MODULUS,
// CKA_PUBLIC_EXPONENT).
func RSASPKI(modulus, exponent []byte) ([]byte, error) {
	n := new(big.Int).SetBytes(modulus)
	e := new(big.Int).SetBytes(exponent)
	if n.Sign() == 0 || e.Sign() == 0 {
		return nil, fmt.Errorf("%w: empty RSA modulus or exponent", ErrBadKey)
	}
	pk, err := asn1.Marshal(rsaPublicKey{N: n, E: e})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	return asn1.Marshal(spki{
		Algorithm: pkix.AlgorithmIdentifier{Algorithm: oidRSA, Parameters: asn1.NullRawValue},
		PublicKey: asn1.BitString{Bytes: pk, BitLength: 8 * len(pk)},
	})
}

// ECPoint unwraps CKA_EC_POINT: a DER OCTET STRING around the encoded
// point, or (some tokens) the raw point.
func ECPoint(c Curve, raw []byte) []byte {
	var inner []byte
	if rest, err := asn1.Unmarshal(raw, &inner); err == nil && len(rest) == 0 && validPoint(c, inner) {
		return inner
	}
	return raw
}

func validPoint(c Curve, p []byte) bool {
	switch c.Name {
	case "Ed25519", "X25519":
		return len(p) == 32
	case "Ed448":
		return len(p) == 57
	case "X448":
		return len(p) == 56
	}
	size := (c.Bits + 7) / 8
	if len(p) == 0 {
		return false
	}
	switch p[0] {
	case 4:
		return len(p) == 1+2*size
	case 2, 3:
		return len(p) == 1+size
	}
	return false
}

// ECSPKI builds the DER SubjectPublicKeyInfo of an elliptic-curve key
// from its curve and encoded public point (already unwrapped by ECPoint).
// Edwards and Montgomery curves use their own algorithm OIDs (RFC 8410).
func ECSPKI(c Curve, point []byte) ([]byte, error) {
	if !validPoint(c, point) {
		return nil, fmt.Errorf("%w: public point does not fit curve %s", ErrBadKey, c.Name)
	}
	var alg pkix.AlgorithmIdentifier
	switch c.Name {
	case "Ed25519", "Ed448", "X25519", "X448":
		alg = pkix.AlgorithmIdentifier{Algorithm: c.OID}
	default:
		params, err := asn1.Marshal(c.OID)
		if err != nil {
			return nil, err
		}
		alg = pkix.AlgorithmIdentifier{Algorithm: oidECPublicKey, Parameters: asn1.RawValue{FullBytes: params}}
	}
	return asn1.Marshal(spki{Algorithm: alg, PublicKey: asn1.BitString{Bytes: point, BitLength: 8 * len(point)}})
}

// SHA256Hex is the lower-case hex SHA-256 of b: the form of every
// fingerprint keyaudit writes.
func SHA256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
