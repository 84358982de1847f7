package validity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// fuzzPKI is a CA, a leaf it issued, an OCSP response and a CRL about it:
// the seeds of the fuzzers of what responders and distribution points send.
func fuzzPKI(f *testing.F) (ca, leaf *x509.Certificate, resp, crl []byte) {
	f.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fuzz CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		f.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(der)
	lt := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "fuzz leaf"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
	der, err = x509.CreateCertificate(rand.Reader, lt, ca, key.Public(), key)
	if err != nil {
		f.Fatal(err)
	}
	leaf, _ = x509.ParseCertificate(der)
	resp, err = ocsp.CreateResponse(ca, ca, ocsp.Response{Status: ocsp.Revoked, SerialNumber: leaf.SerialNumber, ThisUpdate: now, NextUpdate: now.Add(time.Hour), RevokedAt: now, RevocationReason: 1}, key)
	if err != nil {
		f.Fatal(err)
	}
	crl, err = x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: now, NextUpdate: now.Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: leaf.SerialNumber, RevocationTime: now}}}, ca, key)
	if err != nil {
		f.Fatal(err)
	}
	return ca, leaf, resp, crl
}

// FuzzRevocationAnswers: whatever a responder, a distribution point or a
// caIssuers URL sends, parsing it never panics and a status it yields is
// one of good, revoked, unknown.
func FuzzRevocationAnswers(f *testing.F) {
	ca, leaf, resp, crl := fuzzPKI(f)
	for _, s := range [][]byte{resp, crl, ca.Raw, leaf.Raw, nil, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")} {
		f.Add(s)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, b []byte) {
		if r := checkStaple(b, leaf, ca, now); r.Status != "good" && r.Status != "revoked" && r.Status != "unknown" {
			t.Fatalf("status %q", r.Status)
		}
		if c, err := verifyCRL(b, ca, now); err == nil {
			_ = crlStatus("u", c, leaf)
		}
		for _, c := range parseCerts(b) {
			_ = leaf.CheckSignatureFrom(c)
		}
	})
}
