package validity_test

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/store/records"
	"github.com/keyaudit/keyaudit/validity"
)

// TestCheckCert: a certificate seen only in CT is asked about with its
// issuer from the store, else from its AIA caIssuers within scope (once
// per URL); without an issuer, or with its responder out of scope, the
// status is unknown and nothing out of scope is contacted.
func TestCheckCert(t *testing.T) {
	lab := newOCSPLab(t, "127.0.79.1", 10*time.Minute, true)
	outside := testlab.ServeFiles(t, "127.0.79.200") // not in the fetch scope
	outside.Set("/int.der", lab.inter.Cert.Raw)
	lab.files.Set("/int.der", lab.inter.Cert.Raw)
	revokedAt := time.Now().Add(-time.Hour).Truncate(time.Second)
	crlURL := "http://crl.ct.test" + strings.TrimPrefix(lab.files.URL, "http://127.0.79.1") + "/int.crl"
	aiaURL := "http://aia.ct.test" + strings.TrimPrefix(lab.files.URL, "http://127.0.79.1") + "/int.der"

	_, storedX := issue(t, lab.inter, estate.Leaf{CN: "stored.ct.test", OCSP: []string{lab.ocsp.URL}})
	lab.ocsp.Revoke(storedX, revokedAt, "keyCompromise")
	_, fetchedX := issue(t, lab.inter, estate.Leaf{CN: "fetched.ct.test", CRL: []string{crlURL}, CAIssuers: []string{aiaURL}})
	_, fetched2X := issue(t, lab.inter, estate.Leaf{CN: "fetched2.ct.test", OCSP: []string{lab.ocsp.URL}, CAIssuers: []string{aiaURL}})
	lab.ocsp.Good(fetched2X)
	_, noIssuerX := issue(t, lab.inter, estate.Leaf{CN: "orphan.ct.test", OCSP: []string{lab.ocsp.URL}, CRL: []string{crlURL}, CAIssuers: []string{outside.URL + "/int.der"}})
	_, farX := issue(t, lab.inter, estate.Leaf{CN: "far.ct.test", OCSP: []string{outside.URL + "/ocsp"}})
	crl, err := lab.inter.CRL([]x509.RevocationListEntry{{SerialNumber: fetchedX.SerialNumber, RevocationTime: revokedAt, ReasonCode: 4}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	lab.files.Set("/int.crl", crl)
	c := checker(t, lab.pki, "127.0.79.0/25", map[string]string{"crl.ct.test": "127.0.79.1", "aia.ct.test": "127.0.79.1"})
	ctx := context.Background()
	stored := [][]byte{lab.root.Cert.Raw, lab.inter.Cert.Raw} // the root does not sign leaves: skipped

	for _, tc := range []struct {
		name       string
		x          *x509.Certificate
		issuers    [][]byte
		from       string
		statuses   []string // per source, in order OCSP, CRL
		reason     string
		problem    string
		issuerMiss bool
	}{
		{name: "issuer stored, OCSP revoked", x: storedX, issuers: stored, from: "store", statuses: []string{records.RevRevoked}, reason: "keyCompromise"},
		{name: "issuer fetched, CRL revoked", x: fetchedX, from: aiaURL, statuses: []string{records.RevRevoked}, reason: "superseded"},
		{name: "issuer fetched once, OCSP good", x: fetched2X, from: aiaURL, statuses: []string{records.RevGood}},
		{name: "no issuer to be had", x: noIssuerX, statuses: []string{records.RevUnknown, records.RevUnknown}, problem: "outside the fetch scope", issuerMiss: true},
		{name: "responder out of scope", x: farX, issuers: stored, from: "store", statuses: []string{records.RevUnknown}, problem: "outside the fetch scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := c.CheckCert(ctx, validity.CertTarget{DER: tc.x.Raw, Issuers: tc.issuers})
			if v.Error != "" || v.CT == nil || v.Serial == "" || v.SPKISHA256 == "" {
				t.Fatalf("%+v", v)
			}
			if v.CT.IssuerFrom != tc.from || (tc.issuerMiss != (v.CT.IssuerProblem != "")) {
				t.Errorf("issuer from %q (problem %q), want %q", v.CT.IssuerFrom, v.CT.IssuerProblem, tc.from)
			}
			if len(v.Revocation) != len(tc.statuses) {
				t.Fatalf("revocation %+v, want %v", v.Revocation, tc.statuses)
			}
			for i, r := range v.Revocation {
				if r.Status != tc.statuses[i] || !strings.Contains(r.Problem, tc.problem) {
					t.Errorf("%s: %+v, want %s (%q)", r.Source, r, tc.statuses[i], tc.problem)
				}
				if r.Status == records.RevRevoked && (r.Reason != tc.reason || !r.RevokedAt.Equal(revokedAt)) {
					t.Errorf("%s: %+v, want revoked %s at %s", r.Source, r, tc.reason, revokedAt)
				}
			}
		})
	}
	if n := lab.files.Requests("/int.der"); n != 1 {
		t.Errorf("caIssuers fetched %d times for two certificates, want 1", n)
	}
	if n := lab.ocsp.Requests(); n != 2 {
		t.Errorf("%d OCSP requests, want 2 (none without an issuer)", n)
	}
	if n := lab.files.Requests("/int.crl"); n != 1 {
		t.Errorf("%d CRL requests, want 1 (none without an issuer)", n)
	}
	for _, p := range []string{"/int.der", "/ocsp"} {
		if n := outside.Requests(p); n != 0 {
			t.Errorf("%s: %d requests reached the out-of-scope server", p, n)
		}
	}
	// With revocation off nothing is fetched, and nothing is said.
	off := checker(t, lab.pki, "127.0.79.0/25", nil, func(cfg *validity.Config) { cfg.NoRevocation = true })
	if v := off.CheckCert(ctx, validity.CertTarget{DER: storedX.Raw}); len(v.Revocation) != 0 || v.Error != "" {
		t.Errorf("no revocation: %+v", v)
	}
	if v := c.CheckCert(ctx, validity.CertTarget{DER: []byte("junk")}); v.Error == "" {
		t.Error("junk DER: no error")
	}
}
