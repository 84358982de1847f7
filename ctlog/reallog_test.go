package ctlog_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/ctlog"
	"github.com/keyaudit/keyaudit/internal/testlab"
)

func hexSum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

type wantSighting struct {
	index   uint64
	precert bool
	cert    string // sha256 of the (pre)certificate
}

// realLogs starts the two real logs the monitor must follow.
var realLogs = []struct {
	typ   ctlog.Type
	start func(testing.TB, []byte) *testlab.CTLog
}{
	{ctlog.Static, testlab.TesseraCT},
	{ctlog.RFC6962, testlab.CTFE},
}

// TestRealLogs submits certificates and precertificates to TesseraCT
// (static-ct-api) and CTFE + Trillian on PostgreSQL (RFC 6962), then
// syncs and checks that exactly the watched ones are sighted, at the
// indices the logs gave them, with precertificate/certificate pairs
// reported once; then that a second sync resumes from the stored
// position.
func TestRealLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts real CT logs")
	}
	for _, rl := range realLogs {
		t.Run(string(rl.typ), func(t *testing.T) {
			ca := testlab.NewCTCA(t)
			lg := rl.start(t, ca.RootPEM)
			l, err := ctlog.NewLog(lg.MonitorURL, hex2b64(lg.PublicKeyDER), rl.typ)
			if err != nil {
				t.Fatal(err)
			}
			var want []wantSighting
			submit := func(der []byte, precert, watched bool) []byte {
				_, sct := lg.Submit(t, precert, der, ca.Root.Raw)
				if watched {
					want = append(want, wantSighting{index: lg.IndexOf(t, sct, precert, der, ca.Root.Raw), precert: precert, cert: hexSum(der)})
				}
				return sct
			}
			submit(ca.Cert(t, "www.example.com"), false, true)
			submit(ca.Cert(t, "other.test"), false, false)
			submit(ca.Cert(t, "example.com.evil.test", "notexample.com"), false, false)
			// A precertificate, then its certificate with the SCT: one sighting.
			p := ca.Precert(t, "pre.example.com", "www.pre.example.com")
			sct := submit(p.Precert, true, true)
			submit(p.Final(t, sct), false, false)
			submit(ca.Precert(t, "onlypre.sub.example.com").Precert, true, true)
			submit(ca.Cert(t, "*.example.com"), false, true)
			submit(ca.Cert(t, "xn--bcher-kva.example.org"), false, true)
			submit(ca.CertWithTemplate(t, &x509.Certificate{Subject: pkix.Name{CommonName: "legacy.example.net"}}), false, true)
			submit(ca.Cert(t, "apex.test", "EXAMPLE.COM."), false, true)
			p2 := ca.Precert(t, "unwatched.test")
			sct2 := submit(p2.Precert, true, false)
			submit(p2.Final(t, sct2), false, false)
			size := uint64(12)
			lg.WaitTreeSize(t, size, 60*time.Second)

			watch := []string{"example.com", "bücher.example.org", "legacy.example.net"}
			m := newMonitor(t, watch, func(c *ctlog.Config) { c.FetchIssuers = true; c.BatchSize = 4; c.CommitEvery = 5 })
			sink := newMemSink()
			res, err := m.Sync(context.Background(), l, sink, ctlog.FromStart)
			if err != nil {
				t.Fatal(err)
			}
			if res.To < size || res.Dups != 1 {
				t.Fatalf("result %+v", res)
			}
			checkSightings(t, sink.sightings, want, ca)

			// A fresh position from an index in the middle: the start is
			// authenticated through the log's proofs (RFC 6962
			// get-proof-by-hash, static hash tiles).
			sink5 := newMemSink()
			if _, err := m.Sync(context.Background(), l, sink5, ctlog.FromIndex(5)); err != nil {
				t.Fatal(err)
			}
			var want5 []wantSighting
			for _, w := range want {
				if w.index >= 5 {
					want5 = append(want5, w)
				}
			}
			checkSightings(t, sink5.sightings, want5, ca)

			// Resume: only the new entries are read and sighted.
			n := len(sink.sightings)
			submit(ca.Cert(t, "later.example.com"), false, true)
			submit(ca.Cert(t, "later.other.test"), false, false)
			lg.WaitTreeSize(t, size+2, 60*time.Second)
			res, err = m.Sync(context.Background(), l, sink, ctlog.FromStart)
			if err != nil {
				t.Fatal(err)
			}
			if res.From != uint64(res.To-res.Entries) || res.From < size {
				t.Fatalf("second sync did not resume: %+v", res)
			}
			if len(sink.sightings) != n+1 {
				t.Fatalf("resume: %d new sightings, want 1", len(sink.sightings)-n)
			}
			checkSightings(t, sink.sightings, want, ca)
		})
	}
}

func checkSightings(t *testing.T, got []ctlog.Sighting, want []wantSighting, ca *testlab.CTCA) {
	t.Helper()
	spki, err := x509.MarshalPKIXPublicKey(ca.LeafKey())
	if err != nil {
		t.Fatal(err)
	}
	var g []wantSighting
	for _, s := range got {
		g = append(g, wantSighting{index: s.Index, precert: s.Precert, cert: s.CertSHA256})
		if s.SPKISHA256 != hexSum(spki) || s.Issuer != ca.Root.Subject.String() || s.IssuerSHA256 != hexSum(ca.Root.Raw) || s.Timestamp.IsZero() {
			t.Errorf("sighting %d: %+v", s.Index, s)
		}
	}
	sort.Slice(want, func(i, j int) bool { return want[i].index < want[j].index })
	if !slices.Equal(g, want) {
		t.Fatalf("sightings\n got %v\nwant %v", g, want)
	}
}

func hex2b64(der []byte) string { return base64.StdEncoding.EncodeToString(der) }
