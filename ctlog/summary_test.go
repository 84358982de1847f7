package ctlog

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// summaryCerts are certificates whose subjects, issuers, serials and
// validities exercise the summary's decoders: string types, multi-valued
// RDNs, unknown attributes, zero and high-bit serials, GeneralizedTime.
func summaryCerts(t testing.TB) [][]byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(serial *big.Int, subj pkix.Name, rawSubj []byte, nb, na time.Time) []byte {
		tmpl := &x509.Certificate{SerialNumber: serial, Subject: subj, RawSubject: rawSubj, NotBefore: nb, NotAfter: na, DNSNames: []string{"a.example.com"}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	raw := func(rdns pkix.RDNSequence) []byte {
		b, err := asn1.Marshal(rdns)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	out := [][]byte{
		mk(big.NewInt(0), pkix.Name{CommonName: "zero.example.com"}, nil, now, now.AddDate(0, 3, 0)),
		mk(new(big.Int).SetBytes([]byte{0x80, 1, 2}), pkix.Name{CommonName: "high bit", Organization: []string{"Ex, Inc.", "Second"}, Country: []string{"DE"},
			StreetAddress: []string{"Main St 1"}, PostalCode: []string{"10115"}, SerialNumber: "42", OrganizationalUnit: []string{"IT"}}, nil, now, now.AddDate(60, 0, 0)),
		mk(big.NewInt(7), pkix.Name{}, raw(pkix.RDNSequence{
			{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "multi"}, {Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "valued"}},
			{{Type: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, Value: "hostmaster@example.com"}},
			{{Type: asn1.ObjectIdentifier{2, 5, 4, 97}, Value: "VATDE-123"}},
			{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "Bücher, \"quoted\" + more"}},
		}), now.AddDate(-40, 0, 0), now),
	}
	// Common-name-only subjects (cnOnlyName's shortcut) and its edges:
	// PrintableString with the '*' crypto/x509 tolerates and the '_' it
	// refuses, UTF8String, an empty CN, characters the rendering escapes.
	cn := func(tag int, v string) []byte {
		return raw(pkix.RDNSequence{{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: asn1.RawValue{Tag: tag, Bytes: []byte(v)}}}})
	}
	for _, c := range []struct {
		tag int
		v   string
	}{
		{19, "*.star.example"}, {19, "under_score.example"}, {12, "under_score.example"}, {12, "*.wild.example"},
		{12, ""}, {19, "#hash.example"}, {12, " lead.example"}, {12, "a,b.example"}, {22, "ia5.example"}, {12, "Mixed-Case.Example"},
	} {
		out = append(out, mk(big.NewInt(int64(100+len(out))), pkix.Name{}, cn(c.tag, c.v), now, now.AddDate(0, 3, 0)))
	}
	out = append(out, mk(big.NewInt(99), pkix.Name{}, raw(pkix.RDNSequence{}), now, now.AddDate(0, 3, 0)))
	for _, name := range []string{"cert.pem", "cn-only.pem", "final.pem", "idn-cn.pem", "root.pem", "precert.pem"} {
		out = append(out, readCert(t, name))
	}
	return out
}

// TestSummaryMatchesCertinfo: what a sighting records of a certificate is
// the same whether read from the monitor's TBS walk or by certinfo's full
// parse.
func TestSummaryMatchesCertinfo(t *testing.T) {
	m := &matcher{}
	for i, der := range summaryCerts(t) {
		checkSummary(t, m, der, i)
	}
	// Negative serials are left to certinfo (crypto/x509 refuses them).
	tbs, _ := certTBS(readCert(t, "negative-serial.pem"))
	f, err := parseTBS(tbs)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.summary(&f); ok {
		t.Error("negative serial summarised")
	}
}

func checkSummary(t *testing.T, m *matcher, der []byte, i int) {
	t.Helper()
	ci, err := certinfo.Parse(der)
	if err != nil || ci.Lenient {
		return // only what crypto/x509 reads is compared
	}
	tbs, err := certTBS(der)
	if err != nil {
		t.Fatalf("cert %d: %v", i, err)
	}
	f, err := parseTBS(tbs)
	if err != nil {
		t.Fatalf("cert %d: %v", i, err)
	}
	s, ok := m.summary(&f)
	if !ok {
		t.Logf("cert %d: left to certinfo", i)
		return
	}
	if s.spkiSHA256 != ci.SPKISHA256 || s.issuer != ci.Issuer || s.subject != ci.Subject || s.serial != ci.Serial ||
		!s.notBefore.Equal(ci.NotBefore) || !s.notAfter.Equal(ci.NotAfter) || s.notBefore.Location() != time.UTC {
		t.Errorf("cert %d: summary %+v\ncertinfo %+v", i, s, ci)
	}
}

// FuzzSummary: for any certificate crypto/x509 accepts, the summary (when
// the fast path takes it) says what certinfo says.
func FuzzSummary(f *testing.F) {
	for _, c := range summaryCerts(f) {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		checkSummary(t, &matcher{}, der, 0)
	})
}

// TestDedupSetWindow: the dedup window keeps the latest keys, drops the
// oldest first, and hands them back oldest first (the stored state).
func TestDedupSetWindow(t *testing.T) {
	d := newDedupSet(4, []string{"k0", "k1"})
	for i := 2; i < 10; i++ {
		d.add("k" + string(rune('0'+i)))
	}
	d.add("k9") // already there: no change
	if got := d.keys(); len(got) != 4 || got[0] != "k6" || got[3] != "k9" {
		t.Fatalf("keys %v, want k6..k9", got)
	}
	if d.has("k5") || !d.has("k6") || !d.has("k9") {
		t.Fatal("window membership")
	}
	again := newDedupSet(4, d.keys())
	again.add("kx")
	if got := again.keys(); got[0] != "k7" || got[3] != "kx" || again.has("k6") {
		t.Fatalf("restored window %v", got)
	}
}

// FuzzFastTime: whenever fastTime reads a time, cryptobyte reads the same
// element to the same instant and consumes as much; what it refuses,
// readTime still reads as cryptobyte does.
func FuzzFastTime(f *testing.F) {
	for _, s := range []string{
		"\x17\x0d261204173000Z", "\x17\x0d491231235959Z", "\x17\x0d500101000000Z", "\x17\x0d991231235959Z",
		"\x17\x0d000229000000Z", "\x17\x0d010229000000Z", "\x17\x0d260431120000Z", "\x17\x0d261304120000Z",
		"\x17\x0d261204240000Z", "\x17\x0d261204236000Z", "\x17\x0d261204235960Z", "\x17\x0d2612041730Z+0",
		"\x17\x0b2612041730Z", "\x17\x11261204173000+0100", "\x17\x0d26120417300 Z", "\x17\x0d-61204173000Z",
		"\x18\x0f20261204173000Z", "\x18\x0f99991231235959Z", "\x18\x0f00000101000000Z", "\x18\x0f21000229000000Z",
		"\x18\x0f20000229000000Z", "\x18\x1320261204173000.123Z", "\x18\x0f2026120417300aZ", "\x18\x0d261204173000Z",
		"\x17\x0d261204173000Zextra", "\x17", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := fastTime(b)
		viaCB := cryptobyte.String(b)
		var want time.Time
		var cbOK bool
		switch {
		case viaCB.PeekASN1Tag(cbasn1.UTCTime):
			cbOK = viaCB.ReadASN1UTCTime(&want)
		case viaCB.PeekASN1Tag(cbasn1.GeneralizedTime):
			cbOK = viaCB.ReadASN1GeneralizedTime(&want)
		}
		if ok && (!cbOK || !fast.Equal(want) || fast.Location() != time.UTC) {
			t.Fatalf("%q: fastTime %v, cryptobyte %v (%v)", b, fast, want, cbOK)
		}
		rt := cryptobyte.String(b)
		var got time.Time
		rok := readTime(&rt, &got)
		if rok != cbOK || (rok && (!got.Equal(want) || len(rt) != len(viaCB))) {
			t.Fatalf("%q: readTime %v %v rest %d, cryptobyte %v %v rest %d", b, got, rok, len(rt), want, cbOK, len(viaCB))
		}
	})
}
