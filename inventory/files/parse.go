package files

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/inventory"
)

// Limits on untrusted input.
const (
	maxFileBytes      = 16 << 20 // larger files are skipped with a warning
	maxObjectsPerFile = 10000    // PEM blocks, JWKs or certificates read from one file
	maxFiles          = 1 << 20  // files walked per source
)

// ErrNotKeyMaterial means a file holds nothing this package recognises.
var ErrNotKeyMaterial = errors.New("files: no keys or certificates recognised")

// ErrTooManyObjects means a file holds more than maxObjectsPerFile
// objects: the first ones are listed and the source is partial.
var ErrTooManyObjects = fmt.Errorf("files: more than %d objects in one file; the rest were not read", maxObjectsPerFile)

// ErrPassword means a PKCS#12 file did not open with the password given.
var ErrPassword = errors.New("files: PKCS#12 password incorrect or missing")

// Options tune parsing.
type Options struct {
	// Password opens PKCS#12 files ("" tries an empty password).
	Password string
	// Kind overrides the source kind of PEM and DER keys ("gcp-kms" for a
	// directory of gcloud get-public-key output).
	Kind string
}

// Parse recognises the format of data (read from path, used for labels and
// the PKCS#12 extension hint) and returns its keys.
func Parse(path string, data []byte, opt Options) ([]inventory.Key, error) {
	trimmed := bytes.TrimSpace(data)
	ext := strings.ToLower(filepath.Ext(path))
	switch {
	case len(trimmed) == 0:
		return nil, ErrNotKeyMaterial
	case trimmed[0] == '{' || trimmed[0] == '[':
		return ParseJSON(data)
	case bytes.Contains(data, []byte("-----BEGIN ")):
		return ParsePEM(data, labelOf(path), opt.Kind)
	case ext == ".p12" || ext == ".pfx":
		return ParsePKCS12(data, opt.Password)
	}
	keys, err := ParseDER(data, labelOf(path), opt.Kind)
	if errors.Is(err, ErrNotKeyMaterial) && looksLikePKCS12(data) {
		return ParsePKCS12(data, opt.Password)
	}
	return keys, err
}

func labelOf(path string) string {
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}

// looksLikePKCS12 checks for PFX's outer SEQUENCE { INTEGER 3, …}.
func looksLikePKCS12(b []byte) bool {
	if len(b) < 8 || b[0] != 0x30 {
		return false
	}
	i := 2
	if b[1]&0x80 != 0 {
		i += int(b[1] & 0x7f)
	}
	return i+2 < len(b) && b[i] == 0x02 && b[i+1] == 0x01 && b[i+2] == 0x03
}

// ParsePEM reads every PEM block it recognises: CERTIFICATE, PUBLIC KEY,
// RSA PUBLIC KEY, PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY. Encrypted
// private keys are listed without a public key. Text around blocks (the
// human-readable dump above a certificate) is ignored.
func ParsePEM(data []byte, label, kind string) ([]inventory.Key, error) {
	if kind == "" {
		kind = "pem"
	}
	var keys []inventory.Key
	var errs []error
	rest := data
	for n := 0; ; n++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if n == maxObjectsPerFile {
			errs = append(errs, ErrTooManyObjects)
			break
		}
		var k inventory.Key
		var err error
		switch b.Type {
		case "CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE":
			k, err = certKey(b.Bytes)
		case "PUBLIC KEY":
			k, err = spkiKey(b.Bytes)
		case "RSA PUBLIC KEY":
			var pub *rsa.PublicKey
			if pub, err = x509.ParsePKCS1PublicKey(b.Bytes); err == nil {
				k, err = pubKey(pub)
			}
		case "PRIVATE KEY":
			var priv any
			if priv, err = x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
				k, err = privKey(priv)
			}
		case "RSA PRIVATE KEY", "EC PRIVATE KEY":
			if _, encrypted := b.Headers["DEK-Info"]; encrypted {
				k = encryptedKey(b.Type)
				break
			}
			var priv any
			if b.Type == "RSA PRIVATE KEY" {
				priv, err = x509.ParsePKCS1PrivateKey(b.Bytes)
			} else {
				priv, err = x509.ParseECPrivateKey(b.Bytes)
			}
			if err == nil {
				k, err = privKey(priv)
			}
		case "ENCRYPTED PRIVATE KEY":
			k = encryptedKey(b.Type)
		default:
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("PEM block %d (%s): %w", n+1, b.Type, err))
			continue
		}
		k.Source = kind
		if k.Class != inventory.ClassCertificate {
			k.Label = label
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 && len(errs) == 0 {
		return nil, ErrNotKeyMaterial
	}
	return keys, errors.Join(errs...)
}

func encryptedKey(typ string) inventory.Key {
	k := inventory.Key{Class: inventory.ClassPrivateKey, KeyType: "unknown",
		Sensitive: inventory.Bool(false), Extractable: inventory.Bool(true)}
	k.AddNote("encrypted private key (%s): its public half is unknown without the passphrase", typ)
	return k
}

// ParseDER reads one DER object: a certificate, a SubjectPublicKeyInfo, a
// PKCS#1 public key, or a PKCS#8 / PKCS#1 / SEC 1 private key.
func ParseDER(data []byte, label, kind string) ([]inventory.Key, error) {
	if kind == "" {
		kind = "der"
	}
	var k inventory.Key
	var err error
	if _, cerr := x509.ParseCertificate(data); cerr == nil {
		k, err = certKey(data)
	} else if _, perr := x509.ParsePKIXPublicKey(data); perr == nil {
		k, err = spkiKey(data)
	} else if pub, perr := x509.ParsePKCS1PublicKey(data); perr == nil {
		k, err = pubKey(pub)
	} else if priv, perr := x509.ParsePKCS8PrivateKey(data); perr == nil {
		k, err = privKey(priv)
	} else if priv, perr := x509.ParsePKCS1PrivateKey(data); perr == nil {
		k, err = privKey(priv)
	} else if priv, perr := x509.ParseECPrivateKey(data); perr == nil {
		k, err = privKey(priv)
	} else {
		return nil, ErrNotKeyMaterial
	}
	if err != nil {
		return nil, err
	}
	k.Source = kind
	if k.Class != inventory.ClassCertificate {
		k.Label = label
	}
	return []inventory.Key{k}, nil
}

// certKey summarises a DER certificate.
func certKey(der []byte) (inventory.Key, error) {
	c, err := certinfo.Parse(der)
	if err != nil {
		return inventory.Key{}, err
	}
	k := inventory.Key{
		Class: inventory.ClassCertificate, KeyType: c.KeyType, KeyBits: c.KeyBits, Curve: c.Curve,
		SPKISHA256: c.SPKISHA256, SPKISource: inventory.SPKIFromCertificate,
		CertSHA256: c.SHA256, Subject: c.Subject, Usage: []string{},
	}
	nb, na := c.NotBefore, c.NotAfter
	k.StartDate, k.EndDate = &nb, &na
	k.Label = c.Subject
	if x, err := x509.ParseCertificate(der); err == nil && x.Subject.CommonName != "" {
		k.Label = x.Subject.CommonName
	}
	return k, nil
}

// spkiKey describes a DER SubjectPublicKeyInfo.
func spkiKey(der []byte) (inventory.Key, error) {
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return inventory.Key{}, err
	}
	k := describe(pub)
	k.Class = inventory.ClassPublicKey
	k.SPKISHA256, k.SPKISource = inventory.SHA256Hex(der), inventory.SPKIFromObject
	return k, nil
}

// pubKey describes a parsed public key.
func pubKey(pub crypto.PublicKey) (inventory.Key, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return inventory.Key{}, fmt.Errorf("files: public key: %w", err)
	}
	return spkiKey(der)
}

// privKey describes a private key by its public half. The private key
// itself is dropped here.
func privKey(priv any) (inventory.Key, error) {
	s, ok := priv.(crypto.Signer)
	var pub crypto.PublicKey
	if ok {
		pub = s.Public()
	} else if x, ok := priv.(*ecdh.PrivateKey); ok {
		pub = x.PublicKey()
	} else {
		return inventory.Key{}, fmt.Errorf("files: unsupported private key type %T", priv)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return inventory.Key{}, fmt.Errorf("files: private key's public half: %w", err)
	}
	k := describe(pub)
	k.Class = inventory.ClassPrivateKey
	k.SPKISHA256, k.SPKISource = inventory.SHA256Hex(der), inventory.SPKIFromPrivate
	// A key in a file is, by nature, extractable and not sensitive.
	k.Sensitive, k.Extractable = inventory.Bool(false), inventory.Bool(true)
	k.AddNote("private key stored in a file")
	return k, nil
}

func describe(pub crypto.PublicKey) inventory.Key {
	ki := certinfo.DescribeKey(pub)
	return inventory.Key{KeyType: ki.Type, KeyBits: ki.Bits, Curve: ki.Curve, Usage: []string{}}
}
