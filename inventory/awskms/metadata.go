package awskms

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"strconv"
	"strings"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/keyaudit/keyaudit/inventory"
)

// SourceKind is Key.Source of the keys this package lists (the same as
// the files source's AWS KMS exports).
const SourceKind = "aws-kms"

// fromMetadata maps DescribeKey's metadata into a Key.
func fromMetadata(m *types.KeyMetadata) inventory.Key {
	t, f := true, false
	k := inventory.Key{
		Source:      SourceKind,
		ID:          aws.ToString(m.KeyId),
		URI:         aws.ToString(m.Arn),
		State:       stateName(string(m.KeyState)),
		Origin:      string(m.Origin),
		MultiRegion: m.MultiRegion,
		StartDate:   m.CreationDate,
		EndDate:     m.ValidTo, // imported key material's expiry
		// DeletionDate is only set for keys pending deletion.
		DeletionDate: m.DeletionDate,
		// KMS never lets key material out.
		Sensitive:   &t,
		Extractable: &f,
	}
	k.Label = k.ID
	if k.URI == "" {
		k.URI = k.ID
	}
	// arn:aws:kms:REGION:ACCOUNT:key/ID: the vault is REGION/ACCOUNT, as
	// for the files source's exports.
	if parts := strings.SplitN(k.URI, ":", 6); len(parts) == 6 && parts[0] == "arn" {
		k.Token = parts[3] + "/" + parts[4]
	}
	if m.Origin == types.OriginTypeAwsKms {
		k.Local, k.NeverExtractable = &t, &t
	} else if m.Origin != "" {
		k.Local = &f
	}
	spec := string(m.KeySpec)
	switch {
	case spec == string(types.KeySpecSymmetricDefault):
		k.Class, k.KeyType, k.KeyBits = inventory.ClassSecretKey, "AES", 256
	case strings.HasPrefix(spec, "HMAC_"):
		k.Class, k.KeyType = inventory.ClassSecretKey, "HMAC"
		k.KeyBits, _ = strconv.Atoi(strings.TrimPrefix(spec, "HMAC_"))
	case strings.HasPrefix(spec, "RSA_"):
		k.Class, k.KeyType = inventory.ClassPrivateKey, "RSA"
		k.KeyBits, _ = strconv.Atoi(strings.TrimPrefix(spec, "RSA_"))
	case strings.HasPrefix(spec, "ECC_"):
		k.Class, k.KeyType = inventory.ClassPrivateKey, "EC"
		k.Curve, k.KeyBits = eccCurve(spec)
	default: // SM2, ML_DSA_*, specs to come: asymmetric, named as AWS names them
		k.Class, k.KeyType = inventory.ClassPrivateKey, spec
	}
	if k.Class == inventory.ClassPrivateKey && spec == "" {
		k.Class = inventory.ClassSecretKey // no spec at all: nothing to fetch a public key of
	}
	switch m.KeyUsage {
	case types.KeyUsageTypeSignVerify, types.KeyUsageTypeGenerateVerifyMac:
		k.SetUsage(map[string]bool{inventory.UsageSign: true, inventory.UsageVerify: true})
	case types.KeyUsageTypeEncryptDecrypt:
		k.SetUsage(map[string]bool{inventory.UsageEncrypt: true, inventory.UsageDecrypt: true})
	case types.KeyUsageTypeKeyAgreement:
		k.SetUsage(map[string]bool{inventory.UsageDerive: true})
	default:
		k.SetUsage(nil)
	}
	if d := aws.ToString(m.Description); d != "" {
		k.AddNote("description: %s", d)
	}
	return k
}

// eccCurve names the curve of an ECC_* key spec.
func eccCurve(spec string) (string, int) {
	switch spec {
	case "ECC_NIST_P256":
		return "P-256", 256
	case "ECC_NIST_P384":
		return "P-384", 384
	case "ECC_NIST_P521":
		return "P-521", 521
	case "ECC_SECG_P256K1":
		return "secp256k1", 256
	case "ECC_NIST_EDWARDS25519":
		return "Ed25519", 256
	}
	return spec, 0
}

// setPublicKey fingerprints GetPublicKey's DER SubjectPublicKeyInfo and,
// when Go parses it, takes the key size from it.
func setPublicKey(k *inventory.Key, der []byte) {
	if len(der) == 0 {
		k.AddNote("public key empty")
		return
	}
	k.SPKISHA256, k.SPKISource = inventory.SHA256Hex(der), inventory.SPKIFromKeyInfo
	switch pub, err := x509.ParsePKIXPublicKey(der); p := pub.(type) {
	case *rsa.PublicKey:
		k.KeyBits = p.N.BitLen()
	case *ecdsa.PublicKey:
		k.KeyBits = p.Curve.Params().BitSize
	case ed25519.PublicKey:
		k.KeyType, k.Curve, k.KeyBits = "Ed25519", "Ed25519", 256
	default:
		if err != nil && k.KeyType == "RSA" {
			k.AddNote("public key not parsed: %v", err)
		}
	}
}

// stateName turns a KeyState (PendingDeletion) into the inventory's
// lower-case form (pending_deletion).
func stateName(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
