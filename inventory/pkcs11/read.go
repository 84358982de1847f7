package pkcs11

import (
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/inventory"
)

// Key types of PKCS#11 3.0 that miekg/pkcs11 v1.1.2 does not name.
const (
	ckkECEdwards    = 0x40
	ckkECMontgomery = 0x41
)

// Attribute sets read per class. CKA_VALUE appears only in the
// certificate set: a key's value is never requested.
var (
	keyAttrs = []uint{pkcs11.CKA_LABEL, pkcs11.CKA_ID, pkcs11.CKA_KEY_TYPE, pkcs11.CKA_LOCAL,
		pkcs11.CKA_START_DATE, pkcs11.CKA_END_DATE, pkcs11.CKA_DERIVE}
	privAttrs = append(append([]uint{}, keyAttrs...), pkcs11.CKA_SENSITIVE, pkcs11.CKA_EXTRACTABLE,
		pkcs11.CKA_ALWAYS_SENSITIVE, pkcs11.CKA_NEVER_EXTRACTABLE, pkcs11.CKA_SIGN, pkcs11.CKA_SIGN_RECOVER,
		pkcs11.CKA_DECRYPT, pkcs11.CKA_UNWRAP)
	pubAttrs = append(append([]uint{}, keyAttrs...), pkcs11.CKA_VERIFY, pkcs11.CKA_VERIFY_RECOVER,
		pkcs11.CKA_ENCRYPT, pkcs11.CKA_WRAP)
	secretAttrs = append(append([]uint{}, keyAttrs...), pkcs11.CKA_SENSITIVE, pkcs11.CKA_EXTRACTABLE,
		pkcs11.CKA_ALWAYS_SENSITIVE, pkcs11.CKA_NEVER_EXTRACTABLE, pkcs11.CKA_SIGN, pkcs11.CKA_VERIFY,
		pkcs11.CKA_ENCRYPT, pkcs11.CKA_DECRYPT, pkcs11.CKA_WRAP, pkcs11.CKA_UNWRAP, pkcs11.CKA_VALUE_LEN)
	certAttrs = []uint{pkcs11.CKA_LABEL, pkcs11.CKA_ID, pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKA_VALUE}

	// Per key type, the attributes that give size and public key.
	rsaAttrs    = []uint{pkcs11.CKA_MODULUS, pkcs11.CKA_PUBLIC_EXPONENT}
	ecPrivAttrs = []uint{pkcs11.CKA_EC_PARAMS}
	ecPubAttrs  = []uint{pkcs11.CKA_EC_PARAMS, pkcs11.CKA_EC_POINT}
)

// Optional attributes: not every token knows them, and asking for one it
// lacks fails the whole call. They are asked for with the others until the
// token shows it does not know them (reader.noOpt).
var (
	optSecretAttrs = []uint{pkcs11.CKA_CHECK_VALUE}
	optECPrivAttrs = []uint{pkcs11.CKA_PUBLIC_KEY_INFO}
)

// classAttrs returns the attributes read from every object of class.
func classAttrs(class uint) (req, opt []uint) {
	switch class {
	case pkcs11.CKO_PRIVATE_KEY:
		return privAttrs, nil
	case pkcs11.CKO_SECRET_KEY:
		return secretAttrs, optSecretAttrs
	case pkcs11.CKO_CERTIFICATE:
		return certAttrs, nil
	}
	return pubAttrs, nil
}

// typeAttrs returns the type-specific attributes of a key class and type.
func typeAttrs(class, keyType uint) (req, opt []uint) {
	switch {
	case keyType == pkcs11.CKK_RSA && (class == pkcs11.CKO_PRIVATE_KEY || class == pkcs11.CKO_PUBLIC_KEY):
		return rsaAttrs, nil
	case isEC(keyType) && class == pkcs11.CKO_PRIVATE_KEY:
		return ecPrivAttrs, optECPrivAttrs
	case isEC(keyType) && class == pkcs11.CKO_PUBLIC_KEY:
		return ecPubAttrs, nil
	}
	return nil, nil
}

func isEC(kt uint) bool { return kt == pkcs11.CKK_EC || kt == ckkECEdwards || kt == ckkECMontgomery }

// forbidden reports whether reading attr of an object of class would
// expose secret material. Checked on every read, as a last guard.
func forbidden(class, attr uint) bool {
	if class != pkcs11.CKO_PRIVATE_KEY && class != pkcs11.CKO_SECRET_KEY {
		return false
	}
	switch attr {
	case pkcs11.CKA_VALUE, pkcs11.CKA_PRIVATE_EXPONENT, pkcs11.CKA_PRIME_1, pkcs11.CKA_PRIME_2,
		pkcs11.CKA_EXPONENT_1, pkcs11.CKA_EXPONENT_2, pkcs11.CKA_COEFFICIENT:
		return true
	}
	return false
}

// errForbidden guards against a template that would read key material;
// no code path builds one.
var errForbidden = errors.New("pkcs11: refusing to read secret key material")

// attrs holds the attributes read from one object; absent ones (invalid,
// sensitive, unavailable) are missing from the map.
type attrs map[uint][]byte

func (a attrs) bool(t uint) *bool {
	v, ok := a[t]
	if !ok || len(v) == 0 {
		return nil
	}
	return inventory.Bool(v[0] != 0)
}

func (a attrs) flag(t uint) bool { b := a.bool(t); return b != nil && *b }

// ulong decodes a CK_ULONG in the machine's byte order (miekg/pkcs11
// returns the raw C value).
func (a attrs) ulong(t uint) (uint, bool) {
	v, ok := a[t]
	if !ok {
		return 0, false
	}
	switch len(v) {
	case 8:
		return uint(binary.NativeEndian.Uint64(v)), true
	case 4:
		return uint(binary.NativeEndian.Uint32(v)), true
	}
	return 0, false
}

// date decodes a CK_DATE ("YYYYMMDD"); empty or zero dates are nil.
func (a attrs) date(t uint) *time.Time {
	v, ok := a[t]
	if !ok || len(v) != 8 {
		return nil
	}
	d, err := time.Parse("20060102", string(v))
	if err != nil {
		return nil
	}
	return &d
}

// errAttrFailed means a bulk read failed on an attribute the object
// lacks; the caller reads attributes one by one.
func retryable(err error) bool {
	var code pkcs11.Error
	if !errors.As(err, &code) {
		return false
	}
	switch code {
	case pkcs11.CKR_ATTRIBUTE_TYPE_INVALID, pkcs11.CKR_ATTRIBUTE_SENSITIVE, pkcs11.CKR_ARGUMENTS_BAD,
		pkcs11.CKR_FUNCTION_FAILED, pkcs11.CKR_GENERAL_ERROR:
		return true
	}
	return false
}

// fatal reports whether err means the token or session is gone: stop
// listing it (the source becomes partial).
func fatal(err error) bool {
	var code pkcs11.Error
	if !errors.As(err, &code) {
		return false
	}
	switch code {
	case pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_SESSION_HANDLE_INVALID,
		pkcs11.CKR_SESSION_CLOSED, pkcs11.CKR_DEVICE_ERROR, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED,
		pkcs11.CKR_USER_NOT_LOGGED_IN, pkcs11.CKR_TOKEN_NOT_RECOGNIZED, pkcs11.CKR_SLOT_ID_INVALID:
		return true
	}
	return false
}

// reader reads objects of one token through one session. Readers are
// not shared between goroutines.
type reader struct {
	p  p11
	sh pkcs11.SessionHandle
	// seen lists, per class, the key types met so far, most recent
	// first. Reading an object with the right type's attributes takes one
	// call; a wrong guess costs one failed call, cheaper than reading the
	// key type first and the type's attributes after.
	seen map[uint][]uint
	// noOpt records optional attributes the token does not know.
	noOpt map[uint]bool
}

func newReader(p p11, sh pkcs11.SessionHandle) *reader {
	return &reader{p: p, sh: sh, seen: map[uint][]uint{}, noOpt: map[uint]bool{}}
}

// bulk reads types in one call.
func (r *reader) bulk(class uint, o pkcs11.ObjectHandle, types []uint) (attrs, error) {
	tmpl := make([]*pkcs11.Attribute, len(types))
	for i, t := range types {
		if forbidden(class, t) {
			return nil, fmt.Errorf("%w: attribute 0x%x of a class 0x%x object", errForbidden, t, class)
		}
		tmpl[i] = pkcs11.NewAttribute(t, nil)
	}
	res, err := r.p.GetAttributeValue(r.sh, o, tmpl)
	if err != nil {
		return nil, err
	}
	out := make(attrs, len(res))
	for _, a := range res {
		if a.Value != nil {
			out[a.Type] = a.Value
		}
	}
	return out, nil
}

// get reads req and opt from object o. It tries one call; when that fails
// because an attribute is missing or refused, it retries without the
// optional ones (reading those one by one, so a token that lacks one is
// noticed once), then one attribute at a time, keeping what succeeds.
// With strict, it gives up after the first call instead (a wrong guess).
func (r *reader) get(class uint, o pkcs11.ObjectHandle, req, opt []uint, strict bool) (attrs, error) {
	var use []uint
	for _, t := range opt {
		if !r.noOpt[t] {
			use = append(use, t)
		}
	}
	all := append(append(make([]uint, 0, len(req)+len(use)), req...), use...)
	if len(all) == 0 {
		return attrs{}, nil
	}
	a, err := r.bulk(class, o, all)
	if err == nil || !retryable(err) {
		return a, err
	}
	if len(use) > 0 {
		a, err = r.bulk(class, o, req)
		if err == nil {
			for _, t := range use {
				v, err := r.getOne(class, o, t)
				if err != nil {
					return nil, err
				}
				if len(v) > 0 {
					a[t] = v
				}
			}
			return a, nil
		}
		if !retryable(err) {
			return nil, err
		}
	}
	if strict {
		return nil, err
	}
	out := attrs{}
	for _, t := range all {
		v, err := r.getOne(class, o, t)
		if err != nil {
			return nil, err
		}
		if v != nil {
			out[t] = v
		}
	}
	return out, nil
}

// getOne reads a single attribute, tolerating its absence (nil) and
// remembering optional attributes the token does not know.
func (r *reader) getOne(class uint, o pkcs11.ObjectHandle, t uint) ([]byte, error) {
	res, err := r.bulk(class, o, []uint{t})
	if err != nil {
		if fatal(err) {
			return nil, err
		}
		var code pkcs11.Error
		if errors.As(err, &code) && code == pkcs11.CKR_ATTRIBUTE_TYPE_INVALID && (t == pkcs11.CKA_CHECK_VALUE || t == pkcs11.CKA_PUBLIC_KEY_INFO) {
			r.noOpt[t] = true
		}
		return nil, nil
	}
	return res[t], nil
}

// read reads one object of class as a Key (without token fields).
func (r *reader) read(class uint, o pkcs11.ObjectHandle) (inventory.Key, error) {
	req, opt := classAttrs(class)
	if class == pkcs11.CKO_CERTIFICATE {
		a, err := r.get(class, o, req, opt, false)
		if err != nil {
			return inventory.Key{}, err
		}
		return certKey(a), nil
	}
	var a attrs
	// One call when the key type is guessed right.
	for _, guess := range r.seen[class] {
		treq, topt := typeAttrs(class, guess)
		if len(treq) == 0 {
			continue
		}
		got, err := r.get(class, o, concat(req, treq), concat(opt, topt), true)
		if err != nil && !retryable(err) {
			return inventory.Key{}, err
		}
		if kt, ok := got.ulong(pkcs11.CKA_KEY_TYPE); err == nil && ok && sameAttrs(class, kt, guess) {
			a = got
			break
		}
	}
	if a == nil {
		var err error
		if a, err = r.get(class, o, req, opt, false); err != nil {
			return inventory.Key{}, err
		}
		if kt, ok := a.ulong(pkcs11.CKA_KEY_TYPE); ok {
			treq, topt := typeAttrs(class, kt)
			extra, err := r.get(class, o, treq, topt, false)
			if err != nil {
				return inventory.Key{}, err
			}
			for t, v := range extra {
				a[t] = v
			}
		}
	}
	kt, ok := a.ulong(pkcs11.CKA_KEY_TYPE)
	if ok {
		r.remember(class, kt)
	}
	return keyFromAttrs(class, kt, ok, a), nil
}

// maxGuesses bounds the key types tried per object before reading the type.
const maxGuesses = 3

func (r *reader) remember(class, kt uint) {
	l := r.seen[class]
	if len(l) > 0 && l[0] == kt {
		return
	}
	nl := []uint{kt}
	for _, x := range l {
		if x != kt && len(nl) < maxGuesses {
			nl = append(nl, x)
		}
	}
	r.seen[class] = nl
}

func concat(a, b []uint) []uint {
	return append(append(make([]uint, 0, len(a)+len(b)), a...), b...)
}

// sameAttrs reports whether key types x and y of class read the same
// type-specific attributes.
func sameAttrs(class, x, y uint) bool {
	a, _ := typeAttrs(class, x)
	b, _ := typeAttrs(class, y)
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var classNames = map[uint]inventory.Class{
	pkcs11.CKO_PRIVATE_KEY: inventory.ClassPrivateKey,
	pkcs11.CKO_PUBLIC_KEY:  inventory.ClassPublicKey,
	pkcs11.CKO_SECRET_KEY:  inventory.ClassSecretKey,
	pkcs11.CKO_CERTIFICATE: inventory.ClassCertificate,
}

var keyTypeNames = map[uint]string{
	pkcs11.CKK_RSA: "RSA", pkcs11.CKK_DSA: "DSA", pkcs11.CKK_DH: "DH", pkcs11.CKK_EC: "ECDSA",
	pkcs11.CKK_X9_42_DH: "DH", pkcs11.CKK_GENERIC_SECRET: "GENERIC", pkcs11.CKK_DES: "DES",
	pkcs11.CKK_DES2: "DES2", pkcs11.CKK_DES3: "DES3", pkcs11.CKK_AES: "AES", pkcs11.CKK_RC4: "RC4",
	pkcs11.CKK_CAMELLIA: "CAMELLIA", pkcs11.CKK_ARIA: "ARIA", pkcs11.CKK_SEED: "SEED",
	pkcs11.CKK_BLOWFISH: "BLOWFISH", pkcs11.CKK_TWOFISH: "TWOFISH",
	pkcs11.CKK_MD5_HMAC: "HMAC-MD5", pkcs11.CKK_SHA_1_HMAC: "HMAC-SHA1", pkcs11.CKK_SHA224_HMAC: "HMAC-SHA224",
	pkcs11.CKK_SHA256_HMAC: "HMAC-SHA256", pkcs11.CKK_SHA384_HMAC: "HMAC-SHA384", pkcs11.CKK_SHA512_HMAC: "HMAC-SHA512",
	pkcs11.CKK_GOSTR3410: "GOSTR3410", pkcs11.CKK_GOST28147: "GOST28147",
	ckkECEdwards: "EdDSA", ckkECMontgomery: "ECDH-Montgomery",
}

func keyTypeName(kt uint) string {
	if n, ok := keyTypeNames[kt]; ok {
		return n
	}
	if kt >= pkcs11.CKK_VENDOR_DEFINED {
		return fmt.Sprintf("vendor-0x%x", kt)
	}
	return fmt.Sprintf("0x%x", kt)
}

// keyFromAttrs builds the Key of a private, public or secret key object.
func keyFromAttrs(class, kt uint, ktKnown bool, a attrs) inventory.Key {
	k := inventory.Key{
		Source: "pkcs11",
		Class:  classNames[class],
		Label:  string(a[pkcs11.CKA_LABEL]),
		ID:     hex.EncodeToString(a[pkcs11.CKA_ID]),
		Local:  a.bool(pkcs11.CKA_LOCAL),
	}
	k.StartDate, k.EndDate = a.date(pkcs11.CKA_START_DATE), a.date(pkcs11.CKA_END_DATE)
	if class != pkcs11.CKO_PUBLIC_KEY {
		k.Sensitive = a.bool(pkcs11.CKA_SENSITIVE)
		k.Extractable = a.bool(pkcs11.CKA_EXTRACTABLE)
		k.AlwaysSensitive = a.bool(pkcs11.CKA_ALWAYS_SENSITIVE)
		k.NeverExtractable = a.bool(pkcs11.CKA_NEVER_EXTRACTABLE)
	}
	k.SetUsage(map[string]bool{
		inventory.UsageSign:    a.flag(pkcs11.CKA_SIGN) || a.flag(pkcs11.CKA_SIGN_RECOVER),
		inventory.UsageVerify:  a.flag(pkcs11.CKA_VERIFY) || a.flag(pkcs11.CKA_VERIFY_RECOVER),
		inventory.UsageEncrypt: a.flag(pkcs11.CKA_ENCRYPT),
		inventory.UsageDecrypt: a.flag(pkcs11.CKA_DECRYPT),
		inventory.UsageWrap:    a.flag(pkcs11.CKA_WRAP),
		inventory.UsageUnwrap:  a.flag(pkcs11.CKA_UNWRAP),
		inventory.UsageDerive:  a.flag(pkcs11.CKA_DERIVE),
	})
	if !ktKnown {
		k.KeyType = "unknown"
		k.AddNote("the token did not give CKA_KEY_TYPE")
		return k
	}
	k.KeyType = keyTypeName(kt)

	if class == pkcs11.CKO_SECRET_KEY {
		if n, ok := a.ulong(pkcs11.CKA_VALUE_LEN); ok {
			k.KeyBits = int(n) * 8
		}
		switch kt {
		case pkcs11.CKK_DES:
			k.KeyBits = 56
		case pkcs11.CKK_DES2:
			k.KeyBits = 112
		case pkcs11.CKK_DES3:
			k.KeyBits = 168
		}
		if kcv := a[pkcs11.CKA_CHECK_VALUE]; len(kcv) > 0 {
			k.KCV = hex.EncodeToString(kcv)
		}
		return k
	}

	// The public key: from the object's own public attributes, or from
	// CKA_PUBLIC_KEY_INFO.
	var der []byte
	switch {
	case kt == pkcs11.CKK_RSA:
		mod, exp := a[pkcs11.CKA_MODULUS], a[pkcs11.CKA_PUBLIC_EXPONENT]
		if len(mod) > 0 {
			k.KeyBits = new(big.Int).SetBytes(mod).BitLen()
		}
		if len(mod) > 0 && len(exp) > 0 {
			if d, err := inventory.RSASPKI(mod, exp); err == nil {
				der = d
				k.SPKISource = inventory.SPKIFromObject
				if class == pkcs11.CKO_PRIVATE_KEY {
					k.SPKISource = inventory.SPKIFromPrivate
				}
			}
		} else if class == pkcs11.CKO_PRIVATE_KEY {
			k.AddNote("the token does not give this RSA private key's modulus and public exponent")
		}
	case isEC(kt):
		if params, ok := a[pkcs11.CKA_EC_PARAMS]; ok {
			c, err := inventory.ParseECParams(params)
			if err != nil {
				k.AddNote("EC parameters: %v", err)
				break
			}
			k.Curve, k.KeyBits = c.Name, c.Bits
			switch c.Name {
			case "Ed25519", "Ed448", "X25519", "X448":
				k.KeyType = c.Name
			}
			if pt, ok := a[pkcs11.CKA_EC_POINT]; ok {
				if d, err := inventory.ECSPKI(c, inventory.ECPoint(c, pt)); err == nil {
					der, k.SPKISource = d, inventory.SPKIFromObject
				} else {
					k.AddNote("EC point: %v", err)
				}
			}
		}
	}
	if der == nil {
		if info := a[pkcs11.CKA_PUBLIC_KEY_INFO]; len(info) > 0 {
			if pub, err := x509.ParsePKIXPublicKey(info); err == nil {
				der, k.SPKISource = info, inventory.SPKIFromKeyInfo
				if k.KeyBits == 0 {
					ki := certinfo.DescribeKey(pub)
					k.KeyBits = ki.Bits
				}
			}
		}
	}
	if der != nil {
		k.SPKISHA256 = inventory.SHA256Hex(der)
	}
	return k
}

// certKey builds the Key of a certificate object.
func certKey(a attrs) inventory.Key {
	k := inventory.Key{
		Source: "pkcs11",
		Class:  inventory.ClassCertificate,
		Label:  string(a[pkcs11.CKA_LABEL]),
		ID:     hex.EncodeToString(a[pkcs11.CKA_ID]),
		Usage:  []string{},
	}
	ct, _ := a.ulong(pkcs11.CKA_CERTIFICATE_TYPE)
	der := a[pkcs11.CKA_VALUE]
	if ct != pkcs11.CKC_X_509 || len(der) == 0 {
		k.KeyType = "unknown"
		k.AddNote("not an X.509 certificate (CKA_CERTIFICATE_TYPE 0x%x)", ct)
		return k
	}
	c, err := certinfo.Parse(der)
	k.CertSHA256 = c.SHA256
	if err != nil {
		k.KeyType = "unknown"
		k.AddNote("certificate does not parse: %v", err)
		return k
	}
	k.SPKISHA256, k.SPKISource = c.SPKISHA256, inventory.SPKIFromCertificate
	k.KeyType, k.KeyBits, k.Curve = c.KeyType, c.KeyBits, c.Curve
	k.Subject = c.Subject
	nb, na := c.NotBefore, c.NotAfter
	k.StartDate, k.EndDate = &nb, &na
	return k
}
