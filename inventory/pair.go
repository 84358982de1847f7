package inventory

import "sort"

// Pair links the objects of one container (a token, a file) that hold the
// same public key: it fills PairedWith, flags pairs whose CKA_IDs disagree
// (IDMismatch and a note), and gives a private key without a public half
// the SPKI of the public key or certificate that shares its CKA_ID — the
// only link left when the private key's attributes do not carry its public
// key (EC private keys). Pairing is by SPKI, never by label.
func Pair(keys []Key) {
	// Private keys without an SPKI (EC): borrow it from a public key or
	// certificate with the same non-empty CKA_ID and compatible type.
	byID := map[string][]int{}
	for i, k := range keys {
		if k.SPKISHA256 != "" && k.ID != "" && (k.Class == ClassPublicKey || k.Class == ClassCertificate) {
			byID[k.ID] = append(byID[k.ID], i)
		}
	}
	for i := range keys {
		k := &keys[i]
		if k.Class != ClassPrivateKey || k.SPKISHA256 != "" {
			continue
		}
		spki, from := "", ""
		for _, j := range byID[k.ID] {
			c := keys[j]
			if k.ID == "" || (k.KeyType != "" && c.KeyType != "" && c.KeyType != k.KeyType) ||
				(k.Curve != "" && c.Curve != "" && c.Curve != k.Curve) {
				continue
			}
			if spki != "" && spki != c.SPKISHA256 {
				spki = "" // ambiguous: two different public keys share the ID
				break
			}
			spki, from = c.SPKISHA256, string(c.Class)
		}
		if spki == "" {
			k.AddNote("no public half: no public key or certificate with this key's CKA_ID")
			continue
		}
		k.SPKISHA256, k.SPKISource = spki, SPKIFromSameID
		k.AddNote("spki_sha256 taken from the %s with the same CKA_ID (a private key of this type does not carry its public key)", from)
	}

	groups := map[string][]int{}
	var order []string
	for i, k := range keys {
		if k.SPKISHA256 == "" || k.Class == ClassSecretKey {
			continue
		}
		if _, ok := groups[k.SPKISHA256]; !ok {
			order = append(order, k.SPKISHA256)
		}
		groups[k.SPKISHA256] = append(groups[k.SPKISHA256], i)
	}
	for _, spki := range order {
		g := groups[spki]
		if len(g) < 2 {
			continue
		}
		for _, i := range g {
			k := &keys[i]
			k.PairedWith = k.PairedWith[:0]
			for _, j := range g {
				if i == j {
					continue
				}
				o := keys[j]
				k.PairedWith = append(k.PairedWith, ObjectRef{Class: o.Class, ID: o.ID, Label: o.Label})
				// CKA_IDs are meant to tie a token's objects together;
				// file and cloud ids (JWK kid, key versions) are not.
				if o.ID != k.ID && o.Source == "pkcs11" && k.Source == "pkcs11" {
					k.IDMismatch = true
					k.AddNote("CKA_ID %s differs from the paired %s's %s", idOrNone(k.ID), o.Class, idOrNone(o.ID))
				}
			}
			sort.SliceStable(k.PairedWith, func(a, b int) bool {
				return classRank(k.PairedWith[a].Class) < classRank(k.PairedWith[b].Class)
			})
		}
	}
}

func idOrNone(id string) string {
	if id == "" {
		return "(none)"
	}
	return id
}

func classRank(c Class) int {
	switch c {
	case ClassPrivateKey:
		return 0
	case ClassPublicKey:
		return 1
	case ClassCertificate:
		return 2
	}
	return 3
}
