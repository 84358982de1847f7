package certinfo

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

func benchRSACert(b *testing.B, bits int) ([]byte, *rsa.PrivateKey) {
	b.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "bench.example.test"},
		DNSNames: []string{"bench.example.test"}, NotBefore: time.Unix(1e9, 0), NotAfter: time.Unix(2e9, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		b.Fatal(err)
	}
	return der, k
}

// BenchmarkRSAWeakness runs the weak-key tests on one 2048-bit modulus,
// uncached: the cost of a key seen for the first time.
func BenchmarkRSAWeakness(b *testing.B) {
	_, k := benchRSACert(b, 2048)
	b.ResetTimer()
	for range b.N {
		if w := rsaWeakness(&k.PublicKey); w != "" {
			b.Fatal(w)
		}
	}
}

// BenchmarkParseX509Repeat summarises one already parsed certificate again
// and again, as the scanner does with an intermediate shared by thousands
// of endpoints.
func BenchmarkParseX509Repeat(b *testing.B) {
	der, _ := benchRSACert(b, 2048)
	x, err := x509.ParseCertificate(der)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		_ = ParseX509(x)
	}
}
