package validity_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/store/records"
	"github.com/keyaudit/keyaudit/validity"
)

// loopbackResolver answers every name with addr: tests never resolve
// through the system.
func loopbackResolver(t *testing.T, names map[string]string) validity.Resolver {
	return func(_ context.Context, host string) ([]netip.Addr, error) {
		a, ok := names[host]
		if !ok {
			return nil, fmt.Errorf("no such host %s", host)
		}
		testlab.MustLoopback(t, a)
		return []netip.Addr{netip.MustParseAddr(a)}, nil
	}
}

type pki struct {
	root, inter *estate.CA
}

func newPKI(t *testing.T) pki {
	t.Helper()
	root, err := estate.NewRoot("Validity Test Root", estate.ECDSA256)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.Intermediate("Validity Test Issuing CA", estate.ECDSA256)
	if err != nil {
		t.Fatal(err)
	}
	return pki{root: root, inter: inter}
}

func issue(t *testing.T, ca *estate.CA, l estate.Leaf) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	c, err := ca.Issue(l)
	if err != nil {
		t.Fatal(err)
	}
	x, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return c, x
}

// target is the observation of chain served at host (SNI sni).
func target(host, sni string, chain [][]byte) validity.Target {
	o := records.Observation{Target: host + ":443", Host: host, IP: "127.0.0.1", Port: 443, SNI: sni, Protocol: "tls"}
	for _, der := range chain {
		c, _ := certinfo.Parse(der)
		o.Chain = append(o.Chain, c)
	}
	return validity.Target{Obs: o, DER: chain, ScanRun: 1}
}

func checker(t *testing.T, p pki, scope string, names map[string]string, mods ...func(*validity.Config)) *validity.Checker {
	t.Helper()
	sc, err := validity.ParseScope([]string{scope})
	if err != nil {
		t.Fatal(err)
	}
	cfg := validity.Config{Roots: x509.NewCertPool(), Anchors: []*x509.Certificate{p.root.Cert},
		Fetch: validity.FetchConfig{Scope: sc, Resolver: loopbackResolver(t, names), Timeout: 5 * time.Second, HostRate: 100}}
	for _, m := range mods {
		m(&cfg)
	}
	c, err := validity.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestChainTrust(t *testing.T) {
	p := newPKI(t)
	files := testlab.ServeFiles(t, "127.0.70.1")
	files.Set("/int.der", p.inter.Cert.Raw)
	other, _ := estate.NewRoot("Somebody Else's Root", estate.ECDSA256)
	now := time.Now()
	expired, err := p.root.IntermediateBetween("Expired Issuing CA", estate.ECDSA256, now.Add(-50*time.Minute), now.Add(-30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	full, _ := issue(t, p.inter, estate.Leaf{CN: "www.valid.test", DNS: []string{"www.valid.test"}})
	aia, _ := issue(t, p.inter, estate.Leaf{CN: "aia.valid.test", CAIssuers: []string{files.URL + "/int.der"}})
	noAIA, _ := issue(t, p.inter, estate.Leaf{CN: "noaia.valid.test"})
	foreign, _ := issue(t, other, estate.Leaf{CN: "foreign.valid.test"})
	old, _ := issue(t, expired, estate.Leaf{CN: "old.valid.test", NotBefore: now.Add(-45 * time.Minute), NotAfter: now.Add(-20 * time.Minute)})
	oldValidLeaf, _ := issue(t, expired, estate.Leaf{CN: "old2.valid.test", NotBefore: now.Add(-45 * time.Minute)})
	longExpired, _ := issue(t, p.inter, estate.Leaf{CN: "gone.valid.test", NotBefore: now.AddDate(0, -4, 0), NotAfter: now.AddDate(0, 0, -3)})
	ipLeaf, _ := issue(t, p.inter, estate.Leaf{CN: "ip", IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	c := checker(t, p, "127.0.70.0/24", nil)
	ctx := context.Background()

	for _, tc := range []struct {
		name       string
		t          validity.Target
		status     string
		hostnameOK bool
		expired    int
		fetched    int
	}{
		{"complete chain", target("www.valid.test", "", full.Certificate), records.ChainTrusted, true, 0, 0},
		{"name not covered", target("mail.valid.test", "", full.Certificate), records.ChainTrusted, false, 0, 0},
		{"SNI decides", target("127.0.0.1", "www.valid.test", full.Certificate), records.ChainTrusted, true, 0, 0},
		{"intermediate omitted, AIA in scope", target("aia.valid.test", "", aia.Certificate[:1]), records.ChainIncomplete, true, 0, 1},
		{"intermediate omitted, no AIA", target("noaia.valid.test", "", noAIA.Certificate[:1]), records.ChainUntrusted, true, 0, 0},
		{"unknown root", target("foreign.valid.test", "", foreign.Certificate), records.ChainUntrusted, true, 0, 0},
		{"expired intermediate and leaf", target("old.valid.test", "", old.Certificate), records.ChainTrusted, true, 1, 0},
		{"expired intermediate", target("old2.valid.test", "", oldValidLeaf.Certificate), records.ChainTrusted, true, 1, 0},
		{"expired leaf older than its CA", target("gone.valid.test", "", longExpired.Certificate), records.ChainTrusted, true, 0, 0},
		{"IP target, IP SAN", target("127.0.0.1", "", ipLeaf.Certificate), records.ChainTrusted, true, 0, 0},
		{"IP target, no IP SAN", target("127.0.0.1", "", full.Certificate), records.ChainTrusted, false, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := c.Check(ctx, tc.t)
			if v.Error != "" {
				t.Fatal(v.Error)
			}
			if v.Chain.Status != tc.status || v.HostnameOK != tc.hostnameOK || len(v.Chain.ExpiredIntermediates) != tc.expired || len(v.Chain.Fetched) != tc.fetched {
				t.Errorf("got %+v hostname_ok=%v, want %s hostname_ok=%v expired=%d fetched=%d", v.Chain, v.HostnameOK, tc.status, tc.hostnameOK, tc.expired, tc.fetched)
			}
		})
	}
	if n := files.Requests("/int.der"); n != 1 {
		t.Errorf("caIssuers fetched %d times, want 1", n)
	}
}

// TestFetchScope: a certificate's URLs pointing outside the fetch scope
// are never contacted, whether given as addresses or as names that
// resolve there, and the revocation status is unknown, never good.
func TestFetchScope(t *testing.T) {
	p := newPKI(t)
	outside := testlab.ServeFiles(t, "127.0.71.2")
	port := strings.TrimPrefix(outside.URL, "http://127.0.71.2")
	leaf, _ := issue(t, p.inter, estate.Leaf{CN: "scope.valid.test",
		OCSP: []string{outside.URL + "/ocsp"}, CRL: []string{"http://crl.outside.test" + port + "/int.crl"},
		CAIssuers: []string{outside.URL + "/int.der"}})
	names := map[string]string{"crl.outside.test": "127.0.71.2"}
	for _, scope := range []string{"127.0.71.1/32", ""} { // "": the default, public only
		c := checker(t, p, scope, names)
		v := c.Check(context.Background(), target("scope.valid.test", "", leaf.Certificate[:1]))
		if v.Chain.Status != records.ChainUntrusted {
			t.Errorf("scope %q: chain %+v, want untrusted (the intermediate was out of reach)", scope, v.Chain)
		}
		v = c.Check(context.Background(), target("scope.valid.test", "", leaf.Certificate))
		if len(v.Revocation) != 2 {
			t.Fatalf("scope %q: revocation %+v, want OCSP and CRL", scope, v.Revocation)
		}
		for _, r := range v.Revocation {
			if r.Status != records.RevUnknown || !strings.Contains(r.Problem, "outside the fetch scope") {
				t.Errorf("scope %q: %+v, want unknown, outside the fetch scope", scope, r)
			}
		}
	}
	for _, path := range []string{"/ocsp", "/int.crl", "/int.der"} {
		if n := outside.Requests(path); n != 0 {
			t.Errorf("%s: %d requests reached the out-of-scope server", path, n)
		}
	}
	f, err := validity.NewFetcher(validity.FetchConfig{Scope: mustScope(t, "127.0.71.1/32"), Resolver: loopbackResolver(t, nil)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Do(context.Background(), validity.Request{URL: "ftp://127.0.71.1/x"})
	if !errors.Is(err, validity.ErrOutOfScope) {
		t.Errorf("ftp URL: %v, want refused", err)
	}
	// A redirect from inside the scope to outside it is refused before it
	// connects, by address or by a name resolving outside.
	inside := testlab.ServeFiles(t, "127.0.71.1")
	outside.Set("/int.der", p.inter.Cert.Raw)
	inside.Redirect("/hop", outside.URL+"/int.der")
	inside.Redirect("/named", "http://crl.outside.test"+port+"/int.der")
	inside.Redirect("/ftp", "ftp://127.0.71.1/x")
	f, err = validity.NewFetcher(validity.FetchConfig{Scope: mustScope(t, "127.0.71.1/32"), Resolver: loopbackResolver(t, names)})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/hop", "/named", "/ftp"} {
		if _, err := f.Do(context.Background(), validity.Request{URL: inside.URL + path}); !errors.Is(err, validity.ErrOutOfScope) {
			t.Errorf("redirect %s: %v, want refused as out of scope", path, err)
		}
		if inside.Requests(path) != 1 {
			t.Errorf("redirect %s: %d requests inside, want 1", path, inside.Requests(path))
		}
	}
	if n := outside.Requests("/int.der"); n != 0 {
		t.Errorf("a redirect reached the out-of-scope server %d times", n)
	}
}

func mustScope(t *testing.T, s ...string) validity.Scope {
	t.Helper()
	sc, err := validity.ParseScope(s)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestScope(t *testing.T) {
	def := mustScope(t)
	// Every special-purpose range (private, link-local, CGNAT …) is
	// covered by TestSpecialRangesRefused, from the table itself.
	for addr, want := range map[string]bool{"8.8.8.8": true, "2606:4700::1111": true, "127.0.0.1": false,
		"::1": false, "::ffff:127.0.0.1": false, "0.0.0.0": false, "192.0.2.1": false, "2001:db8::1": false} {
		if got := def.Allows(netip.MustParseAddr(addr)); got != want {
			t.Errorf("default scope allows %s = %v, want %v", addr, got, want)
		}
	}
	lo := mustScope(t, "127.0.0.0/8")
	if !lo.Allows(netip.MustParseAddr("127.9.9.9")) || lo.Allows(netip.MustParseAddr("8.8.8.8")) {
		t.Error("an explicit scope replaces the default")
	}
	both := mustScope(t, "public,198.51.100.0/24")
	if !both.Allows(netip.MustParseAddr("198.51.100.7")) || !both.Allows(netip.MustParseAddr("8.8.8.8")) || both.Allows(netip.MustParseAddr("127.0.0.1")) {
		t.Error("public plus a range")
	}
	if _, err := validity.ParseScope([]string{"nonsense"}); err == nil {
		t.Error("nonsense scope accepted")
	}
}

// TestFetchHostRate: fetches to one host wait for its rate.
func TestFetchHostRate(t *testing.T) {
	files := testlab.ServeFiles(t, "127.0.72.2")
	files.Set("/x", []byte("x"))
	f, err := validity.NewFetcher(validity.FetchConfig{Scope: mustScope(t, "127.0.72.2/32"), HostRate: 4})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 8 { // a burst of 4, then 4 at 4 a second
		if _, err := f.Do(context.Background(), validity.Request{URL: files.URL + "/x"}); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took < 750*time.Millisecond {
		t.Errorf("8 fetches at 4/s (burst 4) took %s", took)
	}
}

func TestFetchCaps(t *testing.T) {
	files := testlab.ServeFiles(t, "127.0.72.1")
	files.Set("/big", make([]byte, 2048))
	files.Set("/redirect", nil)
	f, err := validity.NewFetcher(validity.FetchConfig{Scope: mustScope(t, "127.0.72.1/32"), Resolver: loopbackResolver(t, nil)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Do(context.Background(), validity.Request{URL: files.URL + "/big", Max: 1024})
	if !errors.Is(err, validity.ErrTooLarge) {
		t.Errorf("2 KiB under a 1 KiB cap: %v", err)
	}
	if _, err := f.Do(context.Background(), validity.Request{URL: files.URL + "/big", Max: 4096}); err != nil {
		t.Errorf("under the cap: %v", err)
	}
}

// ocspLab is a CA with an OpenSSL OCSP responder (delegated signer) and a
// CRL, served on loopback.
type ocspLab struct {
	pki
	ocsp  *testlab.OCSPResponder
	files *testlab.FileServer
}

func newOCSPLab(t *testing.T, ip string, nextUpdate time.Duration, ocspSigning bool) ocspLab {
	t.Helper()
	p := newPKI(t)
	signer, key, err := p.inter.OCSPSigner("Validity Test OCSP", ocspSigning)
	if err != nil {
		t.Fatal(err)
	}
	r := testlab.StartOCSP(t, ip, testlab.PEMCert(p.inter.Cert.Raw), testlab.PEMCert(signer.Raw), testlab.PEMKey(t, key), nextUpdate)
	return ocspLab{pki: p, ocsp: r, files: testlab.ServeFiles(t, ip)}
}

func TestOCSP(t *testing.T) {
	lab := newOCSPLab(t, "127.0.73.1", 10*time.Minute, true)
	good, goodX := issue(t, lab.inter, estate.Leaf{CN: "good.valid.test", OCSP: []string{lab.ocsp.URL}})
	bad, badX := issue(t, lab.inter, estate.Leaf{CN: "revoked.valid.test", OCSP: []string{lab.ocsp.URL}})
	lab.ocsp.Good(goodX)
	revokedAt := time.Now().Add(-time.Hour).Truncate(time.Second)
	lab.ocsp.Revoke(badX, revokedAt, "keyCompromise")
	var offset time.Duration
	cache := &validity.MemCache{}
	c := checker(t, lab.pki, "127.0.73.0/24", nil, func(cfg *validity.Config) {
		cfg.Cache = cache
		cfg.Now = func() time.Time { return time.Now().Add(offset) }
	})
	ctx := context.Background()

	v := c.Check(ctx, target("good.valid.test", "", good.Certificate))
	if len(v.Revocation) != 1 || v.Revocation[0].Status != records.RevGood || v.Revocation[0].Cached {
		t.Fatalf("good: %+v", v.Revocation)
	}
	v = c.Check(ctx, target("revoked.valid.test", "", bad.Certificate))
	r := v.Revocation[0]
	if r.Status != records.RevRevoked || r.Reason != "keyCompromise" || !r.RevokedAt.Equal(revokedAt) {
		t.Fatalf("revoked: %+v, want revoked keyCompromise at %s", r, revokedAt)
	}
	if n := lab.ocsp.Requests(); n != 2 {
		t.Fatalf("%d OCSP requests, want 2", n)
	}
	// Within nextUpdate: from the cache, no request.
	v = c.Check(ctx, target("good.valid.test", "", good.Certificate))
	if !v.Revocation[0].Cached || v.Revocation[0].Status != records.RevGood {
		t.Errorf("second check: %+v, want cached good", v.Revocation[0])
	}
	if n := lab.ocsp.Requests(); n != 2 {
		t.Errorf("second check within nextUpdate made a request (%d in all)", n)
	}
	// Past nextUpdate: asked again.
	offset = 11 * time.Minute
	v = c.Check(ctx, target("good.valid.test", "", good.Certificate))
	if v.Revocation[0].Cached || lab.ocsp.Requests() != 3 {
		t.Errorf("past nextUpdate: %+v after %d requests, want a fresh answer", v.Revocation[0], lab.ocsp.Requests())
	}
}

func TestOCSPUnauthorisedResponder(t *testing.T) {
	lab := newOCSPLab(t, "127.0.74.1", 10*time.Minute, false) // signer lacks id-kp-OCSPSigning
	leaf, x := issue(t, lab.inter, estate.Leaf{CN: "unauth.valid.test", OCSP: []string{lab.ocsp.URL}})
	lab.ocsp.Good(x)
	c := checker(t, lab.pki, "127.0.74.0/24", nil)
	v := c.Check(context.Background(), target("unauth.valid.test", "", leaf.Certificate))
	if r := v.Revocation[0]; r.Status != records.RevUnknown || !strings.Contains(r.Problem, "OCSPSigning") {
		t.Errorf("%+v, want unknown: unauthorised responder", r)
	}
	// Unreachable and malformed are unknown too, never good.
	lab.files.Set("/junk", []byte("not OCSP"))
	for _, u := range []string{lab.files.URL + "/junk", "http://127.0.74.1:1/"} {
		leaf, _ := issue(t, lab.inter, estate.Leaf{CN: "x.valid.test", OCSP: []string{u}})
		v := c.Check(context.Background(), target("x.valid.test", "", leaf.Certificate))
		if r := v.Revocation[0]; r.Status != records.RevUnknown || r.Problem == "" {
			t.Errorf("%s: %+v, want unknown", u, r)
		}
	}
}

func TestStaple(t *testing.T) {
	lab := newOCSPLab(t, "127.0.75.1", 10*time.Minute, true)
	leaf, x := issue(t, lab.inter, estate.Leaf{CN: "staple.valid.test", MustStaple: true})
	lab.ocsp.Revoke(x, time.Now().Add(-time.Hour), "superseded")
	req, err := ocsp.CreateRequest(x, lab.inter.Cert, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := validity.NewFetcher(validity.FetchConfig{Scope: mustScope(t, "127.0.75.1/32")})
	resp, err := f.Do(context.Background(), validity.Request{URL: lab.ocsp.URL, Method: "POST", Body: req, ContentType: "application/ocsp-request", Max: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c := checker(t, lab.pki, "127.0.75.0/24", nil)
	tg := target("staple.valid.test", "", leaf.Certificate)
	v := c.Check(context.Background(), tg)
	if !v.MustStaple || v.Stapled || len(v.Revocation) != 0 {
		t.Errorf("no staple: %+v", v)
	}
	tg.Obs.OCSPResponse, tg.Obs.OCSPStapled = resp.Body, true
	v = c.Check(context.Background(), tg)
	if !v.Stapled || len(v.Revocation) != 1 || v.Revocation[0].Source != records.SourceStaple || v.Revocation[0].Status != records.RevRevoked || v.Revocation[0].Reason != "superseded" {
		t.Errorf("staple: %+v", v.Revocation)
	}
	// A staple for another certificate's issuer does not verify.
	other := newPKI(t)
	otherLeaf, _ := issue(t, other.inter, estate.Leaf{CN: "staple.valid.test"})
	tg2 := target("staple.valid.test", "", otherLeaf.Certificate)
	tg2.Obs.OCSPResponse = resp.Body
	c2 := checker(t, other, "127.0.75.0/24", nil)
	if v := c2.Check(context.Background(), tg2); v.Revocation[0].Status != records.RevUnknown {
		t.Errorf("foreign staple: %+v", v.Revocation)
	}
}

func TestCRL(t *testing.T) {
	p := newPKI(t)
	files := testlab.ServeFiles(t, "127.0.76.1")
	good, _ := issue(t, p.inter, estate.Leaf{CN: "good.valid.test", CRL: []string{"http://crl.valid.test" + strings.TrimPrefix(files.URL, "http://127.0.76.1") + "/int.crl"}})
	bad, badX := issue(t, p.inter, estate.Leaf{CN: "bad.valid.test", CRL: []string{files.URL + "/int.crl"}})
	revokedAt := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	crl, err := p.inter.CRL([]x509.RevocationListEntry{{SerialNumber: badX.SerialNumber, RevocationTime: revokedAt, ReasonCode: 1}, {SerialNumber: big.NewInt(7), RevocationTime: revokedAt}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	files.Set("/int.crl", crl)
	var offset time.Duration
	c := checker(t, p, "127.0.76.0/24", map[string]string{"crl.valid.test": "127.0.76.1"}, func(cfg *validity.Config) {
		cfg.Now = func() time.Time { return time.Now().Add(offset) }
	})
	ctx := context.Background()
	v := c.Check(ctx, target("bad.valid.test", "", bad.Certificate))
	if r := v.Revocation[0]; r.Source != records.SourceCRL || r.Status != records.RevRevoked || r.Reason != "keyCompromise" || !r.RevokedAt.Equal(revokedAt) {
		t.Fatalf("revoked by CRL: %+v", r)
	}
	v = c.Check(ctx, target("good.valid.test", "", good.Certificate)) // another URL (by name): fetched once
	if r := v.Revocation[0]; r.Status != records.RevGood {
		t.Fatalf("good by CRL: %+v", r)
	}
	v = c.Check(ctx, target("bad.valid.test", "", bad.Certificate))
	if !v.Revocation[0].Cached || files.Requests("/int.crl") != 2 {
		t.Errorf("within nextUpdate: %+v after %d requests, want cached and 2", v.Revocation[0], files.Requests("/int.crl"))
	}
	// Past nextUpdate with the same CRL on the server: the conditional GET
	// answers 304 and the stale CRL is not believed.
	offset = 2 * time.Hour
	v = c.Check(ctx, target("bad.valid.test", "", bad.Certificate))
	if r := v.Revocation[0]; r.Status != records.RevUnknown || !strings.Contains(r.Problem, "stale") || files.Requests("/int.crl") != 3 {
		t.Errorf("past nextUpdate: %+v after %d requests", r, files.Requests("/int.crl"))
	}
	// A CRL signed by someone else is not believed.
	other := newPKI(t)
	forged, _ := other.inter.CRL(nil, time.Hour)
	files.Set("/forged.crl", forged)
	leaf, _ := issue(t, p.inter, estate.Leaf{CN: "f.valid.test", CRL: []string{files.URL + "/forged.crl"}})
	offset = 0
	if r := c.Check(ctx, target("f.valid.test", "", leaf.Certificate)).Revocation[0]; r.Status != records.RevUnknown {
		t.Errorf("forged CRL: %+v", r)
	}
	// Over the size cap: unknown.
	small := checker(t, p, "127.0.76.0/24", nil, func(cfg *validity.Config) { cfg.Fetch.MaxCRLBytes = 64 })
	if r := small.Check(ctx, target("bad.valid.test", "", bad.Certificate)).Revocation[0]; r.Status != records.RevUnknown || !strings.Contains(r.Problem, "too large") {
		t.Errorf("capped CRL: %+v", r)
	}
}

// TestAIAPKCS7: a caIssuers URL serving a certs-only PKCS#7 (.p7c, as
// openssl crl2pkcs7 makes it) completes the chain like a DER certificate.
func TestAIAPKCS7(t *testing.T) {
	bin := testlab.Need(t, "openssl")
	p := newPKI(t)
	dir := t.TempDir()
	pemPath, p7c := filepath.Join(dir, "int.pem"), filepath.Join(dir, "int.p7c")
	if err := os.WriteFile(pemPath, testlab.PEMCert(p.inter.Cert.Raw), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "crl2pkcs7", "-nocrl", "-certfile", pemPath, "-outform", "DER", "-out", p7c).CombinedOutput(); err != nil {
		t.Fatalf("openssl crl2pkcs7: %v: %s", err, out)
	}
	b, err := os.ReadFile(p7c)
	if err != nil {
		t.Fatal(err)
	}
	files := testlab.ServeFiles(t, "127.0.77.1")
	files.Set("/int.p7c", b)
	leaf, _ := issue(t, p.inter, estate.Leaf{CN: "p7c.valid.test", CAIssuers: []string{files.URL + "/int.p7c"}})
	v := checker(t, p, "127.0.77.0/24", nil).Check(context.Background(), target("p7c.valid.test", "", leaf.Certificate[:1]))
	if v.Chain.Status != records.ChainIncomplete || len(v.Chain.Fetched) != 1 {
		t.Errorf("chain %+v, want incomplete, completed from the .p7c", v.Chain)
	}
}

// TestOCSPResponderAuthorisation: the CA itself may sign (RFC 6960
// §4.2.2.2); a responder certificate with id-kp-OCSPSigning from another
// CA may not.
func TestOCSPResponderAuthorisation(t *testing.T) {
	p := newPKI(t)
	caSigned := testlab.StartOCSP(t, "127.0.78.1", testlab.PEMCert(p.inter.Cert.Raw), testlab.PEMCert(p.inter.Cert.Raw), testlab.PEMKey(t, p.inter.Key), 10*time.Minute)
	other := newPKI(t)
	foreignSigner, foreignKey, err := other.inter.OCSPSigner("someone else's responder", true)
	if err != nil {
		t.Fatal(err)
	}
	foreign := testlab.StartOCSP(t, "127.0.78.2", testlab.PEMCert(p.inter.Cert.Raw), testlab.PEMCert(foreignSigner.Raw), testlab.PEMKey(t, foreignKey), 10*time.Minute)
	c := checker(t, p, "127.0.78.0/24", nil)
	for _, tc := range []struct {
		r      *testlab.OCSPResponder
		status string
	}{{caSigned, records.RevGood}, {foreign, records.RevUnknown}} {
		leaf, x := issue(t, p.inter, estate.Leaf{CN: "auth.valid.test", OCSP: []string{tc.r.URL}})
		tc.r.Good(x)
		if r := c.Check(context.Background(), target("auth.valid.test", "", leaf.Certificate)).Revocation[0]; r.Status != tc.status {
			t.Errorf("%s: %+v, want %s", tc.r.URL, r, tc.status)
		} else if tc.status == records.RevUnknown && !strings.Contains(r.Problem, "unauthorised responder") {
			t.Errorf("%s: problem %q, want an unauthorised responder", tc.r.URL, r.Problem)
		}
	}
}
