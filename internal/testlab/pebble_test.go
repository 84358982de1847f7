package testlab

import (
	"context"
	"testing"

	"golang.org/x/crypto/acme"
)

func TestStartPebble(t *testing.T) {
	p := StartPebble(t)
	c, _ := p.NewAccount(t)
	leaf, chain, _ := p.Issue(t, c, "pebble-test.example.test")
	if len(chain) < 2 || leaf.DNSNames[0] != "pebble-test.example.test" {
		t.Fatalf("chain of %d, names %v", len(chain), leaf.DNSNames)
	}
	if s := p.CertStatus(t, leaf.SerialNumber); s.Status != "Valid" {
		t.Fatalf("status %+v", s)
	}
	if err := c.RevokeCert(context.Background(), nil, chain[0], acme.CRLReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	s := p.CertStatus(t, leaf.SerialNumber)
	if s.Status != "Revoked" || s.Reason == nil || *s.Reason != 4 {
		t.Fatalf("after revocation: %+v", s)
	}
	if len(p.Roots(t)) == 0 {
		t.Fatal("no roots")
	}
}
