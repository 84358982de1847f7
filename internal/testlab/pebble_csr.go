package testlab

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
)

// IssueWithKey orders a certificate for names through c, like Issue, but
// for the public key of key, which signs the CSR: key may be held in an
// HSM (any crypto.Signer). It returns the leaf and the chain's DER.
func (p *Pebble) IssueWithKey(t testing.TB, c *acme.Client, key crypto.Signer, names ...string) (*x509.Certificate, [][]byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o, err := c.AuthorizeOrder(ctx, acme.DomainIDs(names...))
	if err != nil {
		t.Fatalf("testlab: Pebble order: %v", err)
	}
	for _, u := range o.AuthzURLs {
		z, err := c.GetAuthorization(ctx, u)
		if err != nil {
			t.Fatalf("testlab: Pebble authorization: %v", err)
		}
		if z.Status != acme.StatusPending {
			continue
		}
		var chal *acme.Challenge
		for _, ch := range z.Challenges {
			if ch.Type == "http-01" || chal == nil {
				chal = ch
			}
		}
		if chal == nil {
			t.Fatalf("testlab: Pebble authorization %s offers no challenge", u)
		}
		if _, err := c.Accept(ctx, chal); err != nil {
			t.Fatalf("testlab: Pebble accept challenge: %v", err)
		}
		if _, err := c.WaitAuthorization(ctx, u); err != nil {
			t.Fatalf("testlab: Pebble authorization %s: %v", u, err)
		}
	}
	orderURL := o.URI
	if o, err = c.WaitOrder(ctx, orderURL); err != nil {
		t.Fatalf("testlab: Pebble order not ready: %v", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: names[0]}, DNSNames: names}, key)
	if err != nil {
		t.Fatalf("testlab: CSR: %v", err)
	}
	// Pebble answers finalize with a "processing" order without a Location
	// header, so x/crypto/acme's CreateOrderCert (v0.55) then polls an
	// empty URL: when it fails, poll the order's URL and fetch.
	chain, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, true)
	if err != nil {
		done, werr := c.WaitOrder(ctx, orderURL)
		if werr != nil || done.Status != acme.StatusValid {
			t.Fatalf("testlab: Pebble finalize: %v (order: %v)", err, werr)
		}
		if chain, err = c.FetchCert(ctx, done.CertURL, true); err != nil {
			t.Fatalf("testlab: Pebble certificate: %v", err)
		}
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf, chain
}
