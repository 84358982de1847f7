package certinfo

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

func TestParseSummarises(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x1234), Subject: pkix.Name{CommonName: "a.example.test"},
		DNSNames: []string{"a.example.test"}, NotBefore: time.Unix(1e9, 0), NotAfter: time.Unix(2e9, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	spki, _ := SPKISHA256(k.Public())
	if c.SHA256 != Hex256(der) || c.SPKISHA256 != spki || c.Serial != "1234" || c.KeyType != "ECDSA" || c.Curve != "P-384" ||
		c.KeyBits != 384 || !c.SelfSigned || c.Subject != "CN=a.example.test" || c.SANs[0] != "a.example.test" || c.Lenient {
		t.Errorf("Parse = %+v", c)
	}
	if _, err := Parse([]byte("garbage")); err == nil {
		t.Error("garbage parsed")
	}
	g, _ := Parse([]byte("garbage"))
	if g.SHA256 != Hex256([]byte("garbage")) || g.ParseError == "" {
		t.Errorf("unparseable certificate lost its fingerprint: %+v", g)
	}
}

func TestRSAWeakness(t *testing.T) {
	good, _ := rsa.GenerateKey(rand.Reader, 2048)
	if w := RSAWeakness(&good.PublicKey); w != "" {
		t.Errorf("fresh key reported weak: %s", w)
	}
	// A modulus with a factor of 751.
	n := new(big.Int).Mul(good.Primes[0], big.NewInt(751))
	if w := RSAWeakness(&rsa.PublicKey{N: n, E: 65537}); w == "" {
		t.Error("small factor not detected")
	}
	// Close primes: p and the next prime after it.
	p := good.Primes[0]
	q := new(big.Int).Add(p, big.NewInt(2))
	for !q.ProbablyPrime(20) {
		q.Add(q, big.NewInt(2))
	}
	if w := RSAWeakness(&rsa.PublicKey{N: new(big.Int).Mul(p, q), E: 65537}); w != "primes too close (Fermat factorisation)" {
		t.Errorf("close primes: %q", w)
	}
	// A modulus built to carry the ROCA fingerprint: N ≡ 65537^k (mod p)
	// for every ROCA prime p, via the CRT, made odd and large.
	roc := big.NewInt(0)
	mod := big.NewInt(1)
	for _, pr := range rocaPrimes {
		r := new(big.Int).Exp(big.NewInt(65537), big.NewInt(5), new(big.Int).SetUint64(pr))
		// roc = roc + mod * ((r - roc) * mod^-1 mod pr)
		diff := new(big.Int).Sub(r, roc)
		inv := new(big.Int).ModInverse(mod, new(big.Int).SetUint64(pr))
		tt := new(big.Int).Mul(diff, inv)
		tt.Mod(tt, new(big.Int).SetUint64(pr))
		roc.Add(roc, new(big.Int).Mul(mod, tt))
		mod.Mul(mod, new(big.Int).SetUint64(pr))
	}
	if !roca(smallRemainders(roc)) {
		t.Fatal("constructed ROCA residue not detected")
	}
	if roca(smallRemainders(good.N)) {
		t.Error("fresh key matches the ROCA fingerprint")
	}
}
