package revoke

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"sync"

	"github.com/miekg/pkcs11"

	"github.com/keyaudit/keyaudit/internal/pkcs11uri"
	"github.com/keyaudit/keyaudit/internal/secretfile"
	"github.com/keyaudit/keyaudit/inventory"
	invp11 "github.com/keyaudit/keyaudit/inventory/pkcs11"
)

// PKCS11Token is one PKCS#11 token, logged in once, whose private keys
// sign inside the token: a certificate's key held in an HSM authorises
// its certificate's revocation without leaving it.
type PKCS11Token struct {
	tok     *invp11.Token // module, session and login, shared with inventory
	ctx     *pkcs11.Ctx
	session pkcs11.SessionHandle
	label   string
	mu      sync.Mutex // a session is used by one thread at a time
	signers []*PKCS11Signer
	closed  bool
}

// PKCS11Signer is a crypto.Signer whose private key is a token object.
// Sign sends the digest to the token (C_Sign): CKM_ECDSA for EC keys,
// the signature returned as ASN.1 DER (what crypto.Signer callers such as
// x/crypto/acme and crypto/x509 expect), CKM_RSA_PKCS with the
// DigestInfo prefix of the hash for RSA keys (PKCS #1 v1.5).
type PKCS11Signer struct {
	t     *PKCS11Token
	obj   pkcs11.ObjectHandle
	pub   crypto.PublicKey
	label string
	id    []byte
	spki  string
}

var _ crypto.Signer = (*PKCS11Signer)(nil)

// OpenPKCS11 opens the one token the URI selects, as inventory/pkcs11's
// OpenToken does — module from module-path or module-name, token by all
// its path attributes, logged in once with the PIN from the URI's
// pin-source file (refused or warned about, as secrets says, when its
// group or others may read it) or from $KEYAUDIT_PKCS11_PIN (getenv; a
// pin-value in the URI is refused) — and finds the selected private keys and their
// public keys (from the public key object of the same CKA_ID, else the
// private object's public attributes). No secret attribute is ever read.
// Errors match inventory/pkcs11's (ErrNoPIN, ErrPINIncorrect, …) with
// errors.Is, and never contain the PIN.
func OpenPKCS11(uri string, getenv func(string) string, secrets secretfile.Policy) (*PKCS11Token, error) {
	u, err := pkcs11uri.Parse(uri)
	if err != nil {
		return nil, err
	}
	pin, err := invp11.ResolvePIN(u, getenv, secrets)
	if err != nil {
		return nil, err
	}
	tok, err := invp11.OpenToken(context.Background(), u, pin, invp11.TokenOptions{Login: true})
	if err != nil {
		return nil, err
	}
	t := &PKCS11Token{tok: tok, ctx: tok.Ctx(), session: tok.Session, label: tok.Label}
	if err := t.open(u); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// open finds the private keys u selects.
func (t *PKCS11Token) open(u *pkcs11uri.URI) error {
	tmpl := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)}
	if u.Object != "" {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_LABEL, u.Object))
	}
	if u.HasID {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_ID, u.ID))
	}
	objs, err := t.find(tmpl)
	if err != nil {
		return err
	}
	var problems []string
	for _, o := range objs {
		s, err := t.signer(o)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		t.signers = append(t.signers, s)
	}
	if len(t.signers) == 0 {
		why := "no private key matches"
		if len(problems) > 0 {
			why = strings.Join(problems, "; ")
		}
		return fmt.Errorf("pkcs11: token %q, %s: %s", t.label, u.Path(), why)
	}
	return nil
}

func (t *PKCS11Token) find(tmpl []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := t.ctx.FindObjectsInit(t.session, tmpl); err != nil {
		return nil, fmt.Errorf("pkcs11: C_FindObjectsInit: %w", err)
	}
	defer t.ctx.FindObjectsFinal(t.session)
	var out []pkcs11.ObjectHandle
	for {
		os, _, err := t.ctx.FindObjects(t.session, 256)
		if err != nil {
			return nil, fmt.Errorf("pkcs11: C_FindObjects: %w", err)
		}
		if len(os) == 0 {
			return out, nil
		}
		out = append(out, os...)
	}
}

// attr reads one non-secret attribute; nil when the token has none.
func (t *PKCS11Token) attr(o pkcs11.ObjectHandle, typ uint) []byte {
	a, err := t.ctx.GetAttributeValue(t.session, o, []*pkcs11.Attribute{pkcs11.NewAttribute(typ, nil)})
	if err != nil || len(a) == 0 {
		return nil
	}
	return a[0].Value
}

func ulong(b []byte) (uint, bool) {
	if len(b) == 0 || len(b) > 8 {
		return 0, false
	}
	var v uint
	for i := len(b) - 1; i >= 0; i-- { // little-endian on the platforms keyaudit supports
		v = v<<8 | uint(b[i])
	}
	return v, true
}

// publicDER builds the SubjectPublicKeyInfo of key object o of type kt
// from its public attributes.
func (t *PKCS11Token) publicDER(o pkcs11.ObjectHandle, kt uint) []byte {
	switch kt {
	case pkcs11.CKK_RSA:
		mod, exp := t.attr(o, pkcs11.CKA_MODULUS), t.attr(o, pkcs11.CKA_PUBLIC_EXPONENT)
		if len(mod) > 0 && len(exp) > 0 {
			if d, err := inventory.RSASPKI(mod, exp); err == nil {
				return d
			}
		}
	case pkcs11.CKK_EC:
		params, pt := t.attr(o, pkcs11.CKA_EC_PARAMS), t.attr(o, pkcs11.CKA_EC_POINT)
		if len(params) > 0 && len(pt) > 0 {
			if c, err := inventory.ParseECParams(params); err == nil {
				if d, err := inventory.ECSPKI(c, inventory.ECPoint(c, pt)); err == nil {
					return d
				}
			}
		}
	}
	return t.attr(o, pkcs11.CKA_PUBLIC_KEY_INFO)
}

func (t *PKCS11Token) signer(o pkcs11.ObjectHandle) (*PKCS11Signer, error) {
	s := &PKCS11Signer{t: t, obj: o, label: string(t.attr(o, pkcs11.CKA_LABEL)), id: t.attr(o, pkcs11.CKA_ID)}
	name := fmt.Sprintf("key %q (id %x)", s.label, s.id)
	kt, ok := ulong(t.attr(o, pkcs11.CKA_KEY_TYPE))
	if !ok || kt != pkcs11.CKK_RSA && kt != pkcs11.CKK_EC {
		return nil, fmt.Errorf("%s: only RSA and EC keys sign ACME requests", name)
	}
	if b := t.attr(o, pkcs11.CKA_SIGN); len(b) == 1 && b[0] == 0 {
		return nil, fmt.Errorf("%s: CKA_SIGN is false", name)
	}
	var der []byte
	if len(s.id) > 0 {
		pubs, err := t.find([]*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, kt),
			pkcs11.NewAttribute(pkcs11.CKA_ID, s.id),
		})
		if err != nil {
			return nil, err
		}
		for _, p := range pubs {
			if der = t.publicDER(p, kt); der != nil {
				break
			}
		}
	}
	if der == nil {
		der = t.publicDER(o, kt)
	}
	if der == nil {
		return nil, fmt.Errorf("%s: the token gives neither a public key object with its CKA_ID nor its public attributes", name)
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: public key: %w", name, err)
	}
	s.pub, s.spki = pub, inventory.SHA256Hex(der)
	return s, nil
}

// Signers are the token's selected private keys.
func (t *PKCS11Token) Signers() []*PKCS11Signer { return t.signers }

// Close logs out, closes the session and releases the module (the last
// user of the module in the process finalizes it).
func (t *PKCS11Token) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	return t.tok.Close()
}

// Public implements crypto.Signer.
func (s *PKCS11Signer) Public() crypto.PublicKey { return s.pub }

// SPKISHA256 is the hex SHA-256 of the key's SubjectPublicKeyInfo.
func (s *PKCS11Signer) SPKISHA256() string { return s.spki }

// String names the key object (never any key material).
func (s *PKCS11Signer) String() string {
	return fmt.Sprintf("pkcs11 token %q key %q (id %x)", s.t.label, s.label, s.id)
}

// digestInfoPrefix is the DER prefix of a PKCS #1 v1.5 DigestInfo for
// each hash (RFC 8017 §9.2, note 1).
var digestInfoPrefix = map[crypto.Hash][]byte{
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

// Sign implements crypto.Signer: digest is signed by the token.
func (s *PKCS11Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	h := opts.HashFunc()
	if h != 0 && len(digest) != h.Size() {
		return nil, fmt.Errorf("pkcs11: digest is %d bytes, %v needs %d", len(digest), h, h.Size())
	}
	var mech uint
	data := digest
	switch s.pub.(type) {
	case *ecdsa.PublicKey:
		mech = pkcs11.CKM_ECDSA
	case *rsa.PublicKey:
		if _, pss := opts.(*rsa.PSSOptions); pss {
			return nil, errors.New("pkcs11: RSA-PSS signing is not supported (ACME uses RS256)")
		}
		prefix, ok := digestInfoPrefix[h]
		if !ok {
			return nil, fmt.Errorf("pkcs11: RSA signing with hash %v is not supported", h)
		}
		mech = pkcs11.CKM_RSA_PKCS
		data = append(bytes.Clone(prefix), digest...)
	default:
		return nil, fmt.Errorf("pkcs11: unsupported key type %T", s.pub)
	}
	t := s.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, errors.New("pkcs11: token closed")
	}
	if err := t.ctx.SignInit(t.session, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, s.obj); err != nil {
		return nil, fmt.Errorf("pkcs11: %s: C_SignInit: %w", s, err)
	}
	sig, err := t.ctx.Sign(t.session, data)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: %s: C_Sign: %w", s, err)
	}
	if mech != pkcs11.CKM_ECDSA {
		return sig, nil
	}
	// CKM_ECDSA returns r||s, each the size of the group order.
	if len(sig) == 0 || len(sig)%2 != 0 {
		return nil, fmt.Errorf("pkcs11: %s: ECDSA signature of odd length %d", s, len(sig))
	}
	n := len(sig) / 2
	return asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])})
}
