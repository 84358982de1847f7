package inventory

import "sort"

// MaxPairedWith caps the objects one Key lists in PairedWith (and the
// CKA_ID mismatches it notes): a file of thousands of copies of one
// certificate must not give each copy a list of all the others, which
// costs memory and output quadratic in the copies. A key paired with more
// says how many in a note.
const MaxPairedWith = 16

// Pair links the objects of one container (a token, a file) that hold the
// same public key: it fills PairedWith (each distinct object once, at most
// MaxPairedWith), flags pairs whose CKA_IDs disagree (IDMismatch and a
// note), and gives a private key without a public half the SPKI of the
// public key or certificate that shares its CKA_ID — the only link left
// when the private key's attributes do not carry its public key (EC
// private keys). Pairing is by SPKI, never by label. Time and memory are
// linear in the number of keys.
func Pair(keys []Key) {
	borrowSPKI(keys)

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
		if g := groups[spki]; len(g) > 1 {
			pairGroup(keys, g)
		}
	}
}

// borrowSPKI gives private keys without an SPKI (EC) the SPKI of the
// public key or certificate with the same non-empty CKA_ID and a
// compatible type; two different ones under one ID are ambiguous and
// give none.
func borrowSPKI(keys []Key) {
	byID := map[string][]int{}
	for i, k := range keys {
		if k.SPKISHA256 != "" && k.ID != "" && (k.Class == ClassPublicKey || k.Class == ClassCertificate) {
			byID[k.ID] = append(byID[k.ID], i)
		}
	}
	type want struct{ id, keyType, curve string }
	type found struct{ spki, from string }
	memo := map[want]found{} // many private keys under one ID look once
	for i := range keys {
		k := &keys[i]
		// KMIP identifiers are unique per object: the kmip source pairs
		// by Link and name itself.
		if k.Class != ClassPrivateKey || k.SPKISHA256 != "" || k.Source == "kmip" {
			continue
		}
		w := want{k.ID, k.KeyType, k.Curve}
		f, ok := memo[w]
		if !ok {
			for _, j := range byID[k.ID] {
				c := keys[j]
				if k.ID == "" || (k.KeyType != "" && c.KeyType != "" && c.KeyType != k.KeyType) ||
					(k.Curve != "" && c.Curve != "" && c.Curve != k.Curve) {
					continue
				}
				if f.spki != "" && f.spki != c.SPKISHA256 {
					f.spki = "" // ambiguous: two different public keys share the ID
					break
				}
				f = found{c.SPKISHA256, string(c.Class)}
			}
			memo[w] = f
		}
		if f.spki == "" {
			k.AddNote("no public half: no public key or certificate with this key's CKA_ID")
			continue
		}
		k.SPKISHA256, k.SPKISource = f.spki, SPKIFromSameID
		k.AddNote("spki_sha256 taken from the %s with the same CKA_ID (a private key of this type does not carry its public key)", f.from)
	}
}

// pairGroup pairs the keys g of one SPKI. Each key lists the group's
// distinct objects but itself, in class order, at most MaxPairedWith.
func pairGroup(keys []Key, g []int) {
	type ref struct {
		ObjectRef
		n int // objects of the group with this ref
	}
	var refs []ref // distinct, in order of appearance
	at := map[ObjectRef]int{}
	// CKA_IDs are meant to tie a token's objects together; file and
	// cloud ids (JWK kid, key versions) are not: only PKCS#11 objects'
	// IDs are compared. ids are the distinct (class, ID) of the group's
	// PKCS#11 objects, the first few kept for the notes.
	var ids []ObjectRef
	idSeen := map[ObjectRef]bool{}
	distinctIDs := map[string]bool{}
	for _, i := range g {
		o := keys[i]
		r := ObjectRef{Class: o.Class, ID: o.ID, Label: o.Label}
		if j, ok := at[r]; ok {
			refs[j].n++
		} else {
			at[r] = len(refs)
			refs = append(refs, ref{r, 1})
		}
		if o.Source == "pkcs11" {
			distinctIDs[o.ID] = true
			if c := (ObjectRef{Class: o.Class, ID: o.ID}); !idSeen[c] && len(ids) < MaxPairedWith+4 {
				idSeen[c] = true
				ids = append(ids, c)
			}
		}
	}
	sort.SliceStable(refs, func(a, b int) bool { return classRank(refs[a].Class) < classRank(refs[b].Class) })
	sort.SliceStable(ids, func(a, b int) bool { return classRank(ids[a].Class) < classRank(ids[b].Class) })
	for _, i := range g {
		k := &keys[i]
		self := ObjectRef{Class: k.Class, ID: k.ID, Label: k.Label}
		k.PairedWith = make([]ObjectRef, 0, min(len(refs), MaxPairedWith))
		for _, r := range refs {
			if len(k.PairedWith) == MaxPairedWith {
				break
			}
			if r.ObjectRef == self && r.n == 1 {
				continue
			}
			k.PairedWith = append(k.PairedWith, r.ObjectRef)
		}
		if others := len(g) - 1; others > len(k.PairedWith) {
			k.AddNote("%d other objects hold the same key; paired_with lists %d distinct ones", others, len(k.PairedWith))
		}
		if k.Source != "pkcs11" || len(distinctIDs) < 2 {
			continue
		}
		k.IDMismatch = true
		notes := 0
		for _, o := range ids {
			if o.ID != k.ID && notes < MaxPairedWith {
				k.AddNote("CKA_ID %s differs from the paired %s's %s", idOrNone(k.ID), o.Class, idOrNone(o.ID))
				notes++
			}
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
