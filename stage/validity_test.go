package stage

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	lab "github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/scanner"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
	"github.com/keyaudit/keyaudit/validity"
)

// TestValidityEndToEnd: TLS servers on loopback, a scan, the validity
// stage against an OpenSSL OCSP responder and a CRL on loopback, and the
// reconcile of the estate: each case becomes its finding, and a second
// validity run within nextUpdate asks the responder nothing.
func TestValidityEndToEnd(t *testing.T) {
	root, err := lab.NewRoot("validity stage root", lab.ECDSA256)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.Intermediate("validity stage CA", lab.ECDSA256)
	if err != nil {
		t.Fatal(err)
	}
	signer, signerKey, err := inter.OCSPSigner("validity stage OCSP", true)
	if err != nil {
		t.Fatal(err)
	}
	responder := testlab.StartOCSP(t, "127.0.80.100", testlab.PEMCert(inter.Cert.Raw), testlab.PEMCert(signer.Raw), testlab.PEMKey(t, signerKey), 30*time.Minute)
	files := testlab.ServeFiles(t, "127.0.80.100")
	files.Set("/ca.der", inter.Cert.Raw)
	outside := testlab.ServeFiles(t, "127.0.81.1") // not in the fetch scope

	type server struct {
		name string
		leaf lab.Leaf
		// serve modifies what is served (chain cut, staple).
		serve func(*tls.Certificate, *x509.Certificate)
		addr  string
	}
	ocspURL := []string{responder.URL}
	servers := []*server{
		{name: "good.v.test", leaf: lab.Leaf{CN: "good.v.test", OCSP: ocspURL, CRL: []string{files.URL + "/ca.crl"}}},
		{name: "aia.v.test", leaf: lab.Leaf{CN: "aia.v.test", OCSP: ocspURL, CAIssuers: []string{files.URL + "/ca.der"}},
			serve: func(c *tls.Certificate, _ *x509.Certificate) { c.Certificate = c.Certificate[:1] }},
		{name: "revoked.v.test", leaf: lab.Leaf{CN: "revoked.v.test", OCSP: ocspURL},
			serve: func(_ *tls.Certificate, x *x509.Certificate) {
				responder.Revoke(x, time.Now().Add(-time.Hour), "keyCompromise")
			}},
		{name: "mismatch.v.test", leaf: lab.Leaf{CN: "other.v.test", OCSP: ocspURL}},
		{name: "staple.v.test", leaf: lab.Leaf{CN: "staple.v.test", MustStaple: true, OCSP: ocspURL}},
		{name: "stapled.v.test", leaf: lab.Leaf{CN: "stapled.v.test", MustStaple: true},
			serve: func(c *tls.Certificate, x *x509.Certificate) {
				responder.Revoke(x, time.Now().Add(-time.Hour), "superseded")
				c.OCSPStaple = ocspResponse(t, responder.URL, x, inter.Cert)
			}},
		{name: "unknown.v.test", leaf: lab.Leaf{CN: "unknown.v.test", OCSP: []string{outside.URL + "/ocsp"}}},
	}
	var targets []string
	for i, s := range servers {
		cert, err := inter.Issue(s.leaf)
		if err != nil {
			t.Fatal(err)
		}
		x, _ := x509.ParseCertificate(cert.Certificate[0])
		responder.Good(x)
		if s.serve != nil {
			s.serve(&cert, x)
		}
		srv, err := lab.ServeTLS("127.0.80."+string(rune('1'+i))+":0", &tls.Config{Certificates: []tls.Certificate{cert}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		s.addr = srv.Addr
		targets = append(targets, srv.Addr+", "+s.name)
	}
	crl, err := inter.CRL(nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	files.Set("/ca.crl", crl)

	st := tempStore(t)
	ctx := context.Background()
	var sp []scanner.Spec
	for _, tg := range targets {
		s, err := scanner.ParseSpec(tg)
		if err != nil {
			t.Fatal(err)
		}
		sp = append(sp, s)
	}
	if _, err := Scan(ctx, Env{Store: st}, ScanParams{Config: scanner.Config{Timeout: 5 * time.Second}, Targets: func(yield func(scanner.Spec) bool) {
		for _, s := range sp {
			if !yield(s) {
				return
			}
		}
	}}, nil); err != nil {
		t.Fatal(err)
	}

	scope, err := validity.ParseScope([]string{"127.0.80.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	p := ValidityParams{Config: validity.Config{Roots: x509.NewCertPool(), Anchors: []*x509.Certificate{root.Cert},
		Fetch: validity.FetchConfig{Scope: scope, Timeout: 5 * time.Second, HostRate: 100}}}
	var got []records.Validity
	out, err := Validity(ctx, Env{Store: st}, p, func(v records.Validity) error { got = append(got, v); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != store.StatusComplete || len(got) != len(servers) {
		t.Fatalf("outcome %+v with %d results, want complete with %d", out, len(got), len(servers))
	}
	if n, _ := st.Count(ctx, out.RunID, records.KindValidity); n != int64(len(servers)) {
		t.Errorf("%d validity items stored, want %d", n, len(servers))
	}
	requests := responder.Requests()
	if outside.Requests("/ocsp") != 0 {
		t.Error("the out-of-scope responder was contacted")
	}

	rr, err := Reconcile(ctx, Env{Store: st}, ReconcileParams{})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string][]string{}
	for _, f := range rr.Findings {
		found[f.Check] = append(found[f.Check], f.Endpoint+" "+f.Message)
	}
	want := map[string]string{
		"incomplete-chain":          "aia.v.test",
		"hostname-mismatch":         "mismatch.v.test",
		"must-staple-not-stapled":   "staple.v.test",
		"revocation-status-unknown": "unknown.v.test",
	}
	for check, ep := range want {
		if len(found[check]) != 1 || !strings.Contains(found[check][0], ep) {
			t.Errorf("%s: %v, want one finding for %s", check, found[check], ep)
		}
	}
	if len(found["untrusted-chain"]) != 0 || len(found["expired-intermediate"]) != 0 {
		t.Errorf("unexpected findings: %v", found)
	}
	var stapledRevoked bool
	for _, v := range got {
		for _, r := range v.Revocation {
			if r.Source == records.SourceStaple && r.Status == records.RevRevoked && r.Reason == "superseded" {
				stapledRevoked = true
			}
		}
	}
	if !stapledRevoked {
		t.Errorf("the stapled revoked response was not read: %+v", got)
	}
	// Both revoked leaves are found: the OCSP one and the stapled one.
	rv := 0
	for _, f := range rr.Findings {
		if f.Check == "revoked-but-deployed" {
			rv++
		}
	}
	if rv != 2 || !strings.Contains(strings.Join(found["revoked-but-deployed"], "\n"), "revoked.v.test] certificate revoked on") {
		t.Errorf("%d revoked-but-deployed findings, want 2 (OCSP and staple): %v", rv, found["revoked-but-deployed"])
	}

	// A second run within nextUpdate answers from the store's cache.
	if _, err := Validity(ctx, Env{Store: st}, p, nil); err != nil {
		t.Fatal(err)
	}
	if n := responder.Requests(); n != requests {
		t.Errorf("second run made %d OCSP requests, want none", n-requests)
	}
}

// ocspResponse asks the responder about x, for a staple.
func ocspResponse(t *testing.T, url string, x, issuer *x509.Certificate) []byte {
	t.Helper()
	req, err := ocsp.CreateRequest(x, issuer, nil)
	if err != nil {
		t.Fatal(err)
	}
	scope, _ := validity.ParseScope([]string{"127.0.0.0/8"})
	f, err := validity.NewFetcher(validity.FetchConfig{Scope: scope})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.Do(context.Background(), validity.Request{URL: url, Method: "POST", Body: req, ContentType: "application/ocsp-request", Max: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Body
}
