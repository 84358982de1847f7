package estate

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// ValidityScope is the fetch scope the demo's validity stage needs: the
// estate's /27, where its revocation server listens.
func (d *Demo) ValidityScope() string { return d.Net + ".0/27" }

// startValidity serves the cases of the validity stage, each with a leaf
// from the estate's intermediate pointing at the revocation server on
// .30:80: a chain without its intermediate, a revoked leaf, a must-staple
// leaf without a staple, a chain through an expired intermediate, one
// from a root nobody trusts, an OCSP URL outside the fetch scope, and a
// name the leaf does not cover. Without openssl there is no responder and
// none of them is served.
func (d *Demo) startValidity(o DemoOptions, ip func(int) string, addTLS func(string, *tls.Config, Expect) error) error {
	if _, err := exec.LookPath("openssl"); err != nil {
		return nil
	}
	dir, temp := o.Dir, o.Dir == ""
	if temp {
		var err error
		if dir, err = os.MkdirTemp("", "keyaudit-demo-ocsp"); err != nil {
			return err
		}
	}
	rs, err := StartRevocation(filepath.Join(dir, "ocsp"), ip(30)+":80", d.Inter)
	if err != nil {
		if temp {
			os.RemoveAll(dir)
		}
		return err
	}
	rs.removeDir = temp
	d.Revocation = rs
	now := time.Now()
	expiredCA, err := d.Root.IntermediateBetween("keyaudit demo retired CA", ECDSA256, now.Add(-50*time.Minute), now.Add(-10*time.Minute))
	if err != nil {
		return err
	}
	private, err := NewRootOrg("Unlisted Private Root", "Unlisted Private PKI", ECDSA256)
	if err != nil {
		return err
	}
	privateCA, err := private.Intermediate("Unlisted Private Issuing CA", ECDSA256)
	if err != nil {
		return err
	}
	urls := func(l Leaf) Leaf {
		l.OCSP, l.CRL, l.Key = []string{rs.OCSPURL}, []string{rs.CRLURL}, ECDSA256
		return l
	}
	cases := []struct {
		n      int
		ca     *CA
		leaf   Leaf
		cut    bool // serve the leaf alone
		revoke bool
		note   string
	}{
		{18, d.Inter, func() Leaf { l := urls(Leaf{CN: "aia.example.test"}); l.CAIssuers = []string{rs.IssuerURL}; return l }(), true, false, "intermediate omitted, AIA caIssuers"},
		{19, d.Inter, urls(Leaf{CN: "revoked.example.test"}), false, true, "revoked (OCSP and CRL)"},
		{22, d.Inter, func() Leaf { l := urls(Leaf{CN: "staple.example.test"}); l.MustStaple = true; return l }(), false, false, "must-staple, no staple"},
		{23, expiredCA, Leaf{CN: "oldca.example.test", Key: ECDSA256, NotBefore: now.Add(-45 * time.Minute)}, false, false, "expired intermediate"},
		{24, privateCA, Leaf{CN: "private.example.test", Key: ECDSA256}, false, false, "unknown private root"},
		{25, d.Inter, Leaf{CN: "unknown.example.test", Key: ECDSA256, OCSP: []string{"http://127.0.2.99/ocsp"}}, false, false, "OCSP URL outside the fetch scope"},
		{26, d.Inter, urls(Leaf{CN: "elsewhere.example.test"}), false, false, "serves elsewhere.example.test for mismatch.example.test"},
	}
	for _, c := range cases {
		cert, err := c.ca.Issue(c.leaf)
		if err != nil {
			return err
		}
		x, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			return err
		}
		rs.Good(x)
		if c.revoke {
			if err := rs.Revoke(x, now.Add(-2*time.Hour), "keyCompromise", 1); err != nil {
				return err
			}
		}
		d.Leaves[c.leaf.CN[:len(c.leaf.CN)-len(".example.test")]] = cert
		if c.cut {
			cert.Certificate = cert.Certificate[:1]
		}
		if err := addTLS(fmt.Sprintf("%s:443", ip(c.n)), &tls.Config{Certificates: []tls.Certificate{cert}}, Expect{Note: "validity: " + c.note}); err != nil {
			return err
		}
	}
	d.Names["mismatch.example.test"] = []string{ip(26)}
	return nil
}
