package inventory

import (
	"fmt"
	"strings"

	"github.com/keyaudit/keyaudit/store/records"
)

// The key record lives in store/records with the other stored records;
// these names keep the inventory's API.

// Class is the kind of object a Key describes.
type Class = records.KeyClass

// Object classes, named after their PKCS#11 counterparts.
const (
	ClassPrivateKey  = records.ClassPrivateKey
	ClassPublicKey   = records.ClassPublicKey
	ClassSecretKey   = records.ClassSecretKey
	ClassCertificate = records.ClassCertificate
)

// Usage flags, as written in Key.Usage (in this order).
const (
	UsageSign    = records.UsageSign
	UsageVerify  = records.UsageVerify
	UsageEncrypt = records.UsageEncrypt
	UsageDecrypt = records.UsageDecrypt
	UsageWrap    = records.UsageWrap
	UsageUnwrap  = records.UsageUnwrap
	UsageDerive  = records.UsageDerive
)

// Where a Key's spki_sha256 came from (Key.SPKISource).
const (
	SPKIFromObject      = records.SPKIFromObject
	SPKIFromCertificate = records.SPKIFromCertificate
	SPKIFromPrivate     = records.SPKIFromPrivate
	SPKIFromKeyInfo     = records.SPKIFromKeyInfo
	SPKIFromSameID      = records.SPKIFromSameID
	SPKIFromLink        = records.SPKIFromLink
	SPKIFromName        = records.SPKIFromName
)

// Key is one key or certificate object of an inventory. Its JSON form is
// the stable output contract of `keyaudit inventory --format jsonl`.
type Key = records.Key

// ObjectRef points at another object of the same source.
type ObjectRef = records.ObjectRef

// Bool returns a pointer to b, for the tri-state flags.
func Bool(b bool) *bool { return &b }

// MakeRef builds the stable reference of an object from the parts that
// identify it within its source: the container (token serial, file path),
// the class, the CKA_ID and label, and the key's fingerprint or KCV. Two
// runs over an unchanged source give the same refs; sources disambiguate
// exact duplicates with a "#n" suffix (see Refs).
func MakeRef(container string, class Class, id, label, fp string) string {
	if len(fp) > 16 {
		fp = fp[:16]
	}
	return strings.Join([]string{container, string(class), id, escapeRef(label), fp}, "/")
}

func escapeRef(s string) string {
	return strings.NewReplacer("%", "%25", "/", "%2F").Replace(s)
}

// Refs hands out unique refs: the second identical ref gets "#2", and so on.
type Refs map[string]int

// Unique returns ref, or ref#n when ref was already handed out.
func (r Refs) Unique(ref string) string {
	r[ref]++
	if n := r[ref]; n > 1 {
		return fmt.Sprintf("%s#%d", ref, n)
	}
	return ref
}
