package inventory

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math/big"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestSPKIBuilders(t *testing.T) {
	r, _ := rsa.GenerateKey(rand.Reader, 1024)
	want, _ := x509.MarshalPKIXPublicKey(&r.PublicKey)
	got, err := RSASPKI(r.N.Bytes(), big.NewInt(int64(r.E)).Bytes())
	if err != nil || string(got) != string(want) {
		t.Errorf("RSA SPKI differs from crypto/x509's: %v", err)
	}
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		k, _ := ecdsa.GenerateKey(curve, rand.Reader)
		want, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		ecdhKey, _ := k.ECDH()
		point := ecdhKey.PublicKey().Bytes()
		c, ok := CurveByName(curve.Params().Name)
		if !ok {
			t.Fatalf("curve %s unknown", curve.Params().Name)
		}
		params, _ := asn1.Marshal(c.OID)
		pc, err := ParseECParams(params)
		if err != nil || pc.Name != c.Name {
			t.Errorf("ParseECParams: %v %v", pc, err)
		}
		wrapped, _ := asn1.Marshal(point)
		for _, raw := range [][]byte{point, wrapped} {
			got, err := ECSPKI(c, ECPoint(c, raw))
			if err != nil || string(got) != string(want) {
				t.Errorf("%s SPKI differs from crypto/x509's: %v", c.Name, err)
			}
		}
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	want, _ = x509.MarshalPKIXPublicKey(pub)
	ed, _ := CurveByName("edwards25519")
	printable, _ := asn1.MarshalWithParams("edwards25519", "printable")
	if c, err := ParseECParams(printable); err != nil || c.Name != "Ed25519" {
		t.Errorf("printable curve name: %v %v", c, err)
	}
	wrapped, _ := asn1.Marshal([]byte(pub))
	if got, err := ECSPKI(ed, ECPoint(ed, wrapped)); err != nil || string(got) != string(want) {
		t.Errorf("Ed25519 SPKI differs: %v", err)
	}
	if _, err := ECSPKI(ed, []byte{1, 2, 3}); err == nil {
		t.Error("short Ed25519 point accepted")
	}
	if _, err := RSASPKI(nil, []byte{1}); err == nil {
		t.Error("empty modulus accepted")
	}
	if _, err := ParseECParams([]byte{0x06, 0x01, 0x01}); err == nil {
		t.Error("unknown curve accepted")
	}
}

func key(class Class, id, spki string) Key {
	return Key{Source: "pkcs11", Class: class, ID: id, Label: id, SPKISHA256: spki, KeyType: "ECDSA", Curve: "P-256"}
}

func TestPair(t *testing.T) {
	keys := []Key{
		key(ClassPrivateKey, "01", "aa"),
		key(ClassPublicKey, "01", "aa"),
		key(ClassCertificate, "02", "aa"), // same key, other CKA_ID
		key(ClassPrivateKey, "03", ""),    // EC private: SPKI from the public key with its ID
		key(ClassPublicKey, "03", "bb"),
		key(ClassPrivateKey, "04", ""), // nothing shares its ID
		{Source: "pkcs11", Class: ClassSecretKey, ID: "05", KCV: "abc"},
	}
	Pair(keys)
	if len(keys[0].PairedWith) != 2 || !keys[0].IDMismatch || !keys[2].IDMismatch {
		t.Errorf("01: %+v / cert %+v", keys[0], keys[2])
	}
	if keys[0].PairedWith[0].Class != ClassPublicKey || keys[0].PairedWith[1].Class != ClassCertificate {
		t.Errorf("pair order: %+v", keys[0].PairedWith)
	}
	if keys[3].SPKISHA256 != "bb" || keys[3].SPKISource != SPKIFromSameID || len(keys[3].PairedWith) != 1 || keys[3].IDMismatch {
		t.Errorf("03: %+v", keys[3])
	}
	if keys[5].SPKISHA256 != "" || len(keys[5].Notes) != 1 {
		t.Errorf("04: %+v", keys[5])
	}
	if keys[6].PairedWith != nil {
		t.Errorf("secret key paired")
	}
	// Two different public keys under one ID: ambiguous, not guessed.
	amb := []Key{key(ClassPrivateKey, "09", ""), key(ClassPublicKey, "09", "c1"), key(ClassCertificate, "09", "c2")}
	Pair(amb)
	if amb[0].SPKISHA256 != "" {
		t.Errorf("ambiguous ID resolved to %q", amb[0].SPKISHA256)
	}
}

func TestMetadata(t *testing.T) {
	rules, err := Rules{
		{Owner: "pki"},
		{URI: "pkcs11:token=hsm*;type=private", Purpose: "tls", Cryptoperiod: "2y"},
		{Label: "backup-*", Owner: "backup-team", Cryptoperiod: "90d"},
		{Path: "/etc/kms/*.json", Purpose: "kms"},
		{URI: "arn:aws:kms:*", Owner: "cloud"},
	}.Compile()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		k                      Key
		owner, purpose, period string
	}{
		{Key{URI: "pkcs11:token=hsm1;object=web;type=private", Label: "web"}, "pki", "tls", "2y"},
		{Key{URI: "pkcs11:token=hsm1;object=backup-1;type=private", Label: "backup-1"}, "backup-team", "tls", "90d"},
		{Key{URI: "pkcs11:token=other;object=web;type=private"}, "pki", "", ""},
		{Key{Path: "/etc/kms/a.json", URI: "arn:aws:kms:eu-west-1:1:key/x"}, "cloud", "kms", ""},
	}
	for _, tt := range tests {
		k := tt.k
		rules.Apply(&k)
		if k.Owner != tt.owner || k.Purpose != tt.purpose || k.Cryptoperiod != tt.period {
			t.Errorf("%s: %q %q %q, want %q %q %q", tt.k.URI, k.Owner, k.Purpose, k.Cryptoperiod, tt.owner, tt.purpose, tt.period)
		}
	}
	for _, bad := range []Rules{{{Owner: "x", URI: "pkcs11:bogus=1"}}, {{Label: "["}}, {{Label: "x"}}, {{Owner: "x", Cryptoperiod: "soon"}}} {
		if _, err := bad.Compile(); err == nil {
			t.Errorf("%+v compiled", bad)
		}
	}
}

func TestParsePeriod(t *testing.T) {
	for in, want := range map[string]time.Duration{"2y": 2 * 365 * 24 * time.Hour, "90d": 90 * 24 * time.Hour, "6w": 42 * 24 * time.Hour, "720h": 720 * time.Hour} {
		if got, err := ParsePeriod(in); err != nil || got != want {
			t.Errorf("ParsePeriod(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "0d", "-1y", "y", "1.5y", "-5h", "soon"} {
		if _, err := ParsePeriod(bad); err == nil {
			t.Errorf("ParsePeriod(%q) succeeded", bad)
		}
	}
}

func TestRefs(t *testing.T) {
	r := Refs{}
	a := MakeRef("pkcs11:abc", ClassPrivateKey, "01", "a/b", "0123456789abcdef0123")
	if a != "pkcs11:abc/private_key/01/a%2Fb/0123456789abcdef" {
		t.Errorf("ref = %q", a)
	}
	if r.Unique(a) != a || r.Unique(a) != a+"#2" {
		t.Error("duplicates not numbered")
	}
}

// TestPairManySharingOneKey: 20,000 objects of one token holding one key
// under distinct CKA_IDs and labels. Each lists at most MaxPairedWith
// others, notes how many there are, and is flagged as an ID mismatch with
// a bounded number of notes; time and memory stay linear (each once
// listed all 19,999 others: gigabytes).
func TestPairManySharingOneKey(t *testing.T) {
	const n = 20000
	keys := make([]Key, n)
	for i := range keys {
		id := fmt.Sprintf("%04x", i)
		keys[i] = key(ClassCertificate, id, "aa")
	}
	keys[0].Class = ClassPrivateKey
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	Pair(keys)
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 128<<20 {
		t.Errorf("pairing %d keys allocated %d MB", n, alloc>>20)
	}
	for _, i := range []int{0, 1, n - 1} {
		k := keys[i]
		if len(k.PairedWith) != MaxPairedWith || !k.IDMismatch || len(k.Notes) > MaxPairedWith+1 {
			t.Fatalf("key %d: %d paired, mismatch %v, %d notes", i, len(k.PairedWith), k.IDMismatch, len(k.Notes))
		}
		for _, p := range k.PairedWith {
			if p.ID == k.ID {
				t.Errorf("key %d lists itself", i)
			}
		}
		if !strings.Contains(strings.Join(k.Notes, "\n"), fmt.Sprintf("%d other objects hold the same key", n-1)) {
			t.Errorf("key %d notes %q", i, k.Notes)
		}
	}
	if keys[1].PairedWith[0].Class != ClassPrivateKey {
		t.Errorf("the private key is not listed first: %+v", keys[1].PairedWith[0])
	}

	// Identical copies (one file holding one certificate three times):
	// each lists the copy once.
	same := []Key{key(ClassCertificate, "", "bb"), key(ClassCertificate, "", "bb"), key(ClassCertificate, "", "bb")}
	for i := range same {
		same[i].Source = "pem"
	}
	Pair(same)
	if len(same[0].PairedWith) != 1 || same[0].IDMismatch {
		t.Errorf("copies: %+v", same[0])
	}
}
