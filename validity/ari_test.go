package validity_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/validity"
)

// TestARIWithPebble: renewalInfo from a real ACME CA (Pebble): a fresh
// certificate's window lies ahead; once revoked, Pebble moves it into the
// past; an explanation URL set for a certificate is recorded.
func TestARIWithPebble(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: Pebble")
	}
	p := testlab.StartPebble(t)
	client, _ := p.NewAccount(t)
	leaf, chain, _ := p.Issue(t, client, "ari.validity.test")
	other, otherChain, _ := p.Issue(t, client, "why.validity.test")

	roots := x509.NewCertPool()
	blk, _ := pem.Decode(p.Roots(t))
	root, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots.AddCert(root)
	caPEM, err := os.ReadFile(p.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	https := x509.NewCertPool()
	https.AppendCertsFromPEM(caPEM)
	newChecker := func() *validity.Checker {
		c, err := validity.New(validity.Config{Roots: roots, NoRevocation: true,
			ACME:  []validity.ACMEDirectory{{URL: p.DirectoryURL, Issuers: []string{leaf.Issuer.CommonName}}},
			Fetch: validity.FetchConfig{Scope: mustScope(t, "127.0.0.0/8"), RootCAs: https, Timeout: 10 * time.Second, HostRate: 100}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx := context.Background()
	now := time.Now()

	v := newChecker().Check(ctx, target("ari.validity.test", "", chain))
	r := v.Renewal
	if r == nil || r.Problem != "" || !r.WindowStart.After(now) || r.Directory != p.DirectoryURL {
		t.Fatalf("fresh certificate: renewal %+v, want a window ahead", r)
	}
	if v.Chain.Status != "trusted" {
		t.Errorf("chain %+v", v.Chain)
	}

	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := client.RevokeCert(rctx, nil, leaf.Raw, acme.CRLReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	v = newChecker().Check(ctx, target("ari.validity.test", "", chain))
	if r := v.Renewal; r == nil || r.Problem != "" || !r.WindowEnd.Before(time.Now()) {
		t.Fatalf("revoked certificate: renewal %+v, want a window in the past", r)
	}

	// An explanation URL, through Pebble's management interface.
	start, end := now.Add(-time.Hour).UTC().Format(time.RFC3339), now.Add(time.Hour).UTC().Format(time.RFC3339)
	body, _ := json.Marshal(map[string]string{
		"Certificate": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.Raw})),
		"ARIResponse": fmt.Sprintf(`{"suggestedWindow":{"start":%q,"end":%q},"explanationURL":"https://ca.validity.test/incident/1"}`, start, end),
	})
	res, err := p.HTTPClient().Post(p.ManagementURL+"/set-renewal-info/", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("set-renewal-info: HTTP %d", res.StatusCode)
	}
	v = newChecker().Check(ctx, target("why.validity.test", "", otherChain))
	if r := v.Renewal; r == nil || r.ExplanationURL != "https://ca.validity.test/incident/1" || !r.WindowStart.Before(time.Now()) {
		t.Errorf("window set with an explanation: %+v", r)
	}

	// Outside the fetch scope, the directory is never asked.
	c, err := validity.New(validity.Config{Roots: roots, NoRevocation: true,
		ACME:  []validity.ACMEDirectory{{URL: p.DirectoryURL, Issuers: []string{leaf.Issuer.CommonName}}},
		Fetch: validity.FetchConfig{RootCAs: https}})
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Check(ctx, target("ari.validity.test", "", chain)).Renewal; r == nil || r.Problem == "" {
		t.Errorf("default scope: %+v, want the loopback directory refused", r)
	}
}

func TestARICertID(t *testing.T) {
	// RFC 9773 §4.1's example: AKI 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4,
	// serial 00:87:65:43:21.
	c := &x509.Certificate{AuthorityKeyId: []byte{0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4}}
	c.SerialNumber = new(big.Int).SetBytes([]byte{0x87, 0x65, 0x43, 0x21})
	id, err := validity.ARICertID(c)
	if err != nil || id != "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE" {
		t.Errorf("cert ID %q %v", id, err)
	}
}
