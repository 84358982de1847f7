package records

import (
	"fmt"
	"strings"
	"time"
)

// KeyClass is the kind of object a Key describes.
type KeyClass string

// Object classes, named after their PKCS#11 counterparts.
const (
	ClassPrivateKey  KeyClass = "private_key"
	ClassPublicKey   KeyClass = "public_key"
	ClassSecretKey   KeyClass = "secret_key"
	ClassCertificate KeyClass = "certificate"
)

// Usage flags, as written in Key.Usage (in this order).
const (
	UsageSign    = "sign"
	UsageVerify  = "verify"
	UsageEncrypt = "encrypt"
	UsageDecrypt = "decrypt"
	UsageWrap    = "wrap"
	UsageUnwrap  = "unwrap"
	UsageDerive  = "derive"
)

var usageOrder = []string{UsageSign, UsageVerify, UsageEncrypt, UsageDecrypt, UsageWrap, UsageUnwrap, UsageDerive}

// Where a Key's spki_sha256 came from (Key.SPKISource).
const (
	SPKIFromObject      = "object"          // the public key object's own attributes, or a file's public key
	SPKIFromCertificate = "certificate"     // the certificate's SubjectPublicKeyInfo
	SPKIFromPrivate     = "derived"         // derived from private-key attributes (CKA_MODULUS, CKA_PUBLIC_EXPONENT)
	SPKIFromKeyInfo     = "public_key_info" // the private key's CKA_PUBLIC_KEY_INFO
	SPKIFromSameID      = "same_id"         // taken from the public key or certificate with the same CKA_ID
	SPKIFromLink        = "link"            // taken from the public key or certificate a KMIP Link ties it to
	SPKIFromName        = "name_rule"       // taken from the public key or certificate its name pairs it with (no Link)
	SPKIFromEarlierRead = "earlier_read"    // the source no longer serves it (a key pending deletion): from an earlier inventory read
)

// Key is one key or certificate object of an inventory: one store.KindKey
// item. Its JSON form is the stable output contract of `keyaudit
// inventory --format jsonl`.
//
// Tri-state flags (Sensitive, Extractable, …) are null when the source
// does not say — a certificate file has no CKA_SENSITIVE — rather than a
// false that would read as a finding.
type Key struct {
	// Source is the kind of source: pkcs11, pem, der, pkcs12, jwk,
	// aws-kms, azure-key-vault, gcp-kms.
	Source string `json:"source"`
	// Token is the PKCS#11 token label, or the vault / key ring holding a
	// cloud key.
	Token string `json:"token"`
	// Label is CKA_LABEL, a JWK kid, a cloud key name, a PKCS#12 friendly
	// name or a certificate's subject CN.
	Label string `json:"label"`
	// ID is CKA_ID in lower-case hex, or a cloud key version.
	ID    string   `json:"id"`
	Class KeyClass `json:"class"`
	// KeyType is RSA, ECDSA, Ed25519, X25519, AES, DES3, HMAC, GENERIC…
	KeyType string `json:"key_type"`
	KeyBits int    `json:"key_bits"`
	Curve   string `json:"curve"`
	// SPKISHA256 is the lower-case hex SHA-256 of the DER
	// SubjectPublicKeyInfo; empty for secret keys and for private keys
	// whose public half could not be found.
	SPKISHA256 string `json:"spki_sha256"`
	// SPKISource says how SPKISHA256 was obtained (SPKIFrom*).
	SPKISource string `json:"spki_source,omitempty"`

	Sensitive        *bool `json:"sensitive"`
	Extractable      *bool `json:"extractable"`
	AlwaysSensitive  *bool `json:"always_sensitive"`
	NeverExtractable *bool `json:"never_extractable"`
	Local            *bool `json:"local"`
	// Usage lists what the key may be used for (sign, verify, encrypt,
	// decrypt, wrap, unwrap, derive), never null.
	Usage []string `json:"usage"`

	// StartDate and EndDate are CKA_START_DATE/CKA_END_DATE, a
	// certificate's validity, or a cloud key's not-before/expiry; null
	// when unset.
	StartDate *time.Time `json:"start_date"`
	EndDate   *time.Time `json:"end_date"`

	// State, Rotation, Origin, MultiRegion and Tags are what a key
	// manager (a cloud KMS) says of its key; sources without one leave
	// them empty. State is lower-case with underscores: enabled,
	// disabled, pending_deletion, pending_import, unavailable…
	State string `json:"state,omitempty"`
	// DeletionDate is when a key pending deletion will be destroyed.
	DeletionDate *time.Time `json:"deletion_date,omitempty"`
	// Rotation says whether the manager rotates the key material
	// automatically; null when it does not say or cannot rotate the key.
	Rotation *bool `json:"rotation,omitempty"`
	// Origin is where the key material came from (the manager itself,
	// imported, an external key store), as the manager names it.
	Origin      string `json:"origin,omitempty"`
	MultiRegion *bool  `json:"multi_region,omitempty"`
	// Tags are the manager's labels of the key.
	Tags map[string]string `json:"tags,omitempty"`

	// KCV is the key check value (CKA_CHECK_VALUE, hex) of a secret key,
	// when the token offers one.
	KCV string `json:"kcv,omitempty"`

	// Owner, Purpose and Cryptoperiod come from config metadata or from
	// the source's own labels (cloud tags).
	Owner        string `json:"owner,omitempty"`
	Purpose      string `json:"purpose,omitempty"`
	Cryptoperiod string `json:"cryptoperiod,omitempty"`

	// URI names the object: an RFC 7512 PKCS#11 URI (no PIN), a cloud key
	// ARN or id.
	URI string `json:"uri,omitempty"`
	// Path is the file the key was read from.
	Path        string `json:"path,omitempty"`
	TokenSerial string `json:"token_serial,omitempty"`

	// Certificate objects: the certificate's fingerprint and subject.
	CertSHA256 string `json:"cert_sha256,omitempty"`
	Subject    string `json:"subject,omitempty"`

	// PairedWith lists the other objects of the same token or file that
	// hold the same public key.
	PairedWith []ObjectRef `json:"paired_with,omitempty"`
	// IDMismatch is true when a paired object has a different CKA_ID.
	IDMismatch bool `json:"id_mismatch,omitempty"`
	// Notes explain pairing and derivation ("no public half", "CKA_ID
	// differs from the paired certificate", …).
	Notes []string `json:"notes,omitempty"`

	// Ref is a stable identifier of the object within its source, used as
	// the store key (inventory.MakeRef builds it).
	Ref string `json:"ref"`
}

// ObjectRef points at another object of the same source.
type ObjectRef struct {
	Class KeyClass `json:"class"`
	ID    string   `json:"id"`
	Label string   `json:"label"`
}

// SetUsage sets Usage from flags, in the canonical order.
func (k *Key) SetUsage(flags map[string]bool) {
	k.Usage = []string{}
	for _, u := range usageOrder {
		if flags[u] {
			k.Usage = append(k.Usage, u)
		}
	}
}

// Asymmetric reports whether k has (or should have) a public key.
func (k *Key) Asymmetric() bool { return k.Class != ClassSecretKey }

// AddNote appends a note once.
func (k *Key) AddNote(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	for _, x := range k.Notes {
		if x == n {
			return
		}
	}
	k.Notes = append(k.Notes, n)
}

// Normalize fills the invariants every source must meet: non-nil Usage,
// lower-case hex fingerprints, UTC dates.
func (k *Key) Normalize() {
	if k.Usage == nil {
		k.Usage = []string{}
	}
	k.SPKISHA256 = strings.ToLower(k.SPKISHA256)
	k.CertSHA256 = strings.ToLower(k.CertSHA256)
	if k.StartDate != nil {
		t := k.StartDate.UTC()
		k.StartDate = &t
	}
	if k.EndDate != nil {
		t := k.EndDate.UTC()
		k.EndDate = &t
	}
	if k.DeletionDate != nil {
		t := k.DeletionDate.UTC()
		k.DeletionDate = &t
	}
}

// Name is how people (and findings) name a key: token/label, label, path,
// URI, else its ref.
func (k *Key) Name() string {
	switch {
	case k.Token != "" && k.Label != "":
		return k.Token + "/" + k.Label
	case k.Label != "":
		return k.Label
	case k.Path != "":
		return k.Path
	case k.URI != "":
		return k.URI
	}
	return k.Ref
}
