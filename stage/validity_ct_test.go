package stage

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	lab "github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/scanner"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
	"github.com/keyaudit/keyaudit/validity"
)

// TestValidityCT: certificates seen only in CT get a validity result of
// their own, their issuer taken from a scan run's stored chain or fetched
// through AIA caIssuers (by a name the loopback resolver answers), against
// an OpenSSL OCSP responder and a Go-made CRL on loopback. The reconcile's
// unauthorized-issuance findings stay open and say which certificate its
// CA revoked (source, reason, time), which not, and which could not be
// told because its responder is outside the fetch scope (never contacted).
func TestValidityCT(t *testing.T) {
	root, err := lab.NewRoot("validity CT root", lab.ECDSA256)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.Intermediate("validity CT CA", lab.ECDSA256)
	if err != nil {
		t.Fatal(err)
	}
	signer, signerKey, err := inter.OCSPSigner("validity CT OCSP", true)
	if err != nil {
		t.Fatal(err)
	}
	responder := testlab.StartOCSP(t, "127.0.84.100", testlab.PEMCert(inter.Cert.Raw), testlab.PEMCert(signer.Raw), testlab.PEMKey(t, signerKey), 30*time.Minute)
	files := testlab.ServeFiles(t, "127.0.84.100")
	files.Set("/ca.der", inter.Cert.Raw)
	outside := testlab.ServeFiles(t, "127.0.85.1") // not in the fetch scope
	port := strings.TrimPrefix(files.URL, "http://127.0.84.100")
	resolver := func(_ context.Context, host string) ([]netip.Addr, error) {
		if host != "aia.ct.test" && host != "crl.ct.test" {
			return nil, fmt.Errorf("no such host %s", host)
		}
		testlab.MustLoopback(t, "127.0.84.100")
		return []netip.Addr{netip.MustParseAddr("127.0.84.100")}, nil
	}

	// An endpoint served with its chain: the scan run stores the CA's DER.
	served, err := inter.Issue(lab.Leaf{CN: "www.ct.test", OCSP: []string{responder.URL}})
	if err != nil {
		t.Fatal(err)
	}
	sx, _ := x509.ParseCertificate(served.Certificate[0])
	responder.Good(sx)
	srv, err := lab.ServeTLS("127.0.84.1:0", &tls.Config{Certificates: []tls.Certificate{served}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	revokedAt := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	interSHA := certinfo.Hex256(inter.Cert.Raw)
	type logged struct {
		name      string
		leaf      lab.Leaf
		issuerSHA string // the log entry's issuer ("": none given)
		x         *x509.Certificate
	}
	certs := []*logged{
		{name: "ocsp-revoked", leaf: lab.Leaf{CN: "ocsp-revoked.ct.test", OCSP: []string{responder.URL}}, issuerSHA: interSHA},
		{name: "crl-revoked", leaf: lab.Leaf{CN: "crl-revoked.ct.test", CRL: []string{"http://crl.ct.test" + port + "/ca.crl"}}, issuerSHA: interSHA},
		{name: "good", leaf: lab.Leaf{CN: "good.ct.test", OCSP: []string{responder.URL}, CAIssuers: []string{"http://aia.ct.test" + port + "/ca.der"}}},
		{name: "far", leaf: lab.Leaf{CN: "far.ct.test", OCSP: []string{outside.URL + "/ocsp"}}, issuerSHA: interSHA},
	}
	var sightings []records.Sighting
	for i, c := range certs {
		tc, err := inter.Issue(c.leaf)
		if err != nil {
			t.Fatal(err)
		}
		c.x, _ = x509.ParseCertificate(tc.Certificate[0])
		ci, _ := certinfo.Parse(c.x.Raw)
		sightings = append(sightings, records.Sighting{Log: "https://ct.test/log", LogID: "L", Index: uint64(10 + i), Timestamp: time.Now(),
			CertSHA256: ci.SHA256, SPKISHA256: ci.SPKISHA256, Issuer: ci.Issuer, Names: []string{c.leaf.CN}, Subject: ci.Subject, Serial: ci.Serial,
			NotBefore: ci.NotBefore, NotAfter: ci.NotAfter, IssuerSHA256: c.issuerSHA, DER: c.x.Raw})
	}
	responder.Revoke(certs[0].x, revokedAt, "keyCompromise")
	responder.Good(certs[2].x)
	crl, err := inter.CRL([]x509.RevocationListEntry{{SerialNumber: certs[1].x.SerialNumber, RevocationTime: revokedAt, ReasonCode: 4}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	files.Set("/ca.crl", crl)

	st := tempStore(t)
	ctx := context.Background()
	spec, err := scanner.ParseSpec(srv.Addr + ", www.ct.test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Scan(ctx, Env{Store: st}, ScanParams{Config: scanner.Config{Timeout: 5 * time.Second}, Targets: func(yield func(scanner.Spec) bool) { yield(spec) }}, nil); err != nil {
		t.Fatal(err)
	}
	run, err := st.BeginRun(ctx, store.RunSpec{Kind: "ct"})
	if err != nil {
		t.Fatal(err)
	}
	items, err := records.SightingItems(sightings)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, run.ID, items...); err != nil {
		t.Fatal(err)
	}
	if err := st.FinishRun(ctx, run.ID, store.StatusComplete, ""); err != nil {
		t.Fatal(err)
	}

	scope, err := validity.ParseScope([]string{"127.0.84.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	p := ValidityParams{Config: validity.Config{Roots: x509.NewCertPool(), Anchors: []*x509.Certificate{root.Cert},
		Fetch: validity.FetchConfig{Scope: scope, Resolver: resolver, Timeout: 5 * time.Second, HostRate: 100}}}
	got := map[string]records.Validity{}
	out, err := Validity(ctx, Env{Store: st}, p, func(v records.Validity) error { got[v.Endpoint] = v; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != store.StatusComplete || len(got) != 1+len(certs) || !strings.Contains(out.Note, "4 CT certificates: 2 revoked, 1 revocation status unknown") {
		t.Fatalf("outcome %+v with %d results, want complete with %d", out, len(got), 1+len(certs))
	}
	if n, _ := st.Count(ctx, out.RunID, records.KindValidity); n != int64(1+len(certs)) {
		t.Errorf("%d validity items stored, want %d", n, 1+len(certs))
	}
	for i, c := range certs {
		v, ok := got[records.CTValidityKey(sightings[i].CertSHA256)]
		if !ok || v.CT == nil || v.CT.Log != "https://ct.test/log" || v.CT.Index != uint64(10+i) {
			t.Fatalf("%s: %+v, want a CT result keyed by its hash", c.name, v)
		}
		from := "store"
		if c.issuerSHA == "" {
			from = "http://aia.ct.test" + port + "/ca.der"
		}
		if v.CT.IssuerFrom != from || v.CT.IssuerSHA256 != interSHA {
			t.Errorf("%s: issuer %+v, want from %s", c.name, v.CT, from)
		}
	}
	if outside.Requests("/ocsp") != 0 {
		t.Error("the out-of-scope responder was contacted")
	}
	if files.Requests("/ca.der") != 1 {
		t.Errorf("caIssuers fetched %d times, want 1", files.Requests("/ca.der"))
	}

	rr, err := Reconcile(ctx, Env{Store: st}, ReconcileParams{})
	if err != nil {
		t.Fatal(err)
	}
	rogue := map[string]reconcile.Finding{}
	for _, f := range rr.Findings {
		switch f.Check {
		case "unauthorized-issuance":
			rogue[f.CertSHA256] = f
		case "revoked-but-deployed", "revocation-status-unknown":
			t.Errorf("%s: %s %s (nothing served is revoked or unknown)", f.Check, f.Endpoint, f.Message)
		}
	}
	day := revokedAt.UTC().Format(time.RFC3339)
	for i, want := range []struct{ has, hasNot string }{
		{"revoked on " + day + " (keyCompromise, via OCSP " + responder.URL + ")", ""},
		{"revoked on " + day + " (superseded, via CRL http://crl.ct.test" + port + "/ca.crl)", ""},
		{"", "revo"},
		{"revocation status unknown (OCSP " + outside.URL + "/ocsp: fetch", "revoked"},
	} {
		f, ok := rogue[sightings[i].CertSHA256]
		if !ok {
			t.Errorf("%s: no unauthorized-issuance finding (a revoked rogue certificate stays one)", certs[i].name)
			continue
		}
		if !strings.Contains(f.Message, want.has) || (want.hasNot != "" && strings.Contains(f.Message, want.hasNot)) {
			t.Errorf("%s: %q, want %q and not %q", certs[i].name, f.Message, want.has, want.hasNot)
		}
		rv, revoked := f.Evidence["revoked"].(map[string]any)
		if revoked != (i < 2) {
			t.Errorf("%s: evidence %v", certs[i].name, f.Evidence)
		} else if revoked && (!rv["revoked_at"].(time.Time).Equal(revokedAt) || rv["reason"] == "" || rv["source"] == "") {
			t.Errorf("%s: revoked evidence %v", certs[i].name, rv)
		}
	}
}

// TestValidityCTOwnRevocation: a certificate keyaudit revoked itself
// leaves the CT view (its finding resolves), whatever the CA's answers.
func TestValidityCTOwnRevocation(t *testing.T) {
	ctx := context.Background()
	st := tempStore(t)
	sg := records.Sighting{Log: "https://ct.test/log", LogID: "L", Index: 1, CertSHA256: "c1", SPKISHA256: "s1", Issuer: "CN=CA",
		Names: []string{"rogue.ct.test"}, NotAfter: time.Now().Add(time.Hour)}
	run, err := st.BeginRun(ctx, store.RunSpec{Kind: "ct"})
	if err != nil {
		t.Fatal(err)
	}
	other := sg
	other.Index, other.CertSHA256, other.Names = 2, "c2", []string{"other.ct.test"}
	items, err := records.SightingItems([]records.Sighting{sg, other})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, run.ID, items...); err != nil {
		t.Fatal(err)
	}
	if err := st.FinishRun(ctx, run.ID, store.StatusComplete, ""); err != nil {
		t.Fatal(err)
	}
	for _, own := range []bool{false, true} {
		rr, err := Reconcile(ctx, Env{Store: st}, ReconcileParams{Revocations: func(context.Context, store.Store) ([]reconcile.Revocation, error) {
			if !own {
				return nil, nil
			}
			return []reconcile.Revocation{{CertSHA256: "c1", RevokedAt: time.Now(), Reason: "keyCompromise", Source: "keyaudit revoke"}}, nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, f := range rr.Findings {
			if f.Check == "unauthorized-issuance" && f.CertSHA256 == "c1" {
				n++
			}
		}
		if want := map[bool]int{false: 1, true: 0}[own]; n != want {
			t.Errorf("revoked by keyaudit %v: %d unauthorized-issuance findings, want %d", own, n, want)
		}
	}
}
