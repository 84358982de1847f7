package ctlog

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"filippo.io/sunlight"

	"github.com/keyaudit/keyaudit/internal/certinfo"
)

const testdata = "../testdata/ct"

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readCert(t testing.TB, name string) []byte {
	t.Helper()
	blk, _ := pem.Decode(readFile(t, filepath.Join("certs", name)))
	if blk == nil {
		t.Fatalf("%s: no PEM", name)
	}
	return blk.Bytes
}

func TestTBSNames(t *testing.T) {
	cases := []struct {
		file    string
		names   []string
		lenient bool // only the fallback parsers read it
	}{
		{"cert.pem", []string{"example.com", "www.example.com"}, false},
		{"precert.pem", []string{"*.pre.example.com", "pre.example.com"}, false},
		{"cn-only.pem", []string{"legacy.example.net"}, false},
		{"idn-cn.pem", []string{"xn--bcher-kva.example.org"}, false},
		{"negative-serial.pem", []string{"negative.example.com"}, false},
	}
	for _, c := range cases {
		der := readCert(t, c.file)
		tbs, err := certTBS(der)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		dns, cns, err := tbsNames(tbs)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if got, _ := dnsNames(dns, cns); !slices.Equal(got, c.names) {
			t.Errorf("%s: names %v, want %v", c.file, got, c.names)
		}
		ldns, lcns, err := lenientNames(der)
		if err != nil {
			t.Fatalf("%s: lenient: %v", c.file, err)
		}
		if got, _ := dnsNames(ldns, lcns); !slices.Equal(got, c.names) {
			t.Errorf("%s: lenient names %v, want %v", c.file, got, c.names)
		}
	}
}

func TestDedupPrecertAndCertificate(t *testing.T) {
	pre, err := certTBS(readCert(t, "precert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	final, err := certTBS(readCert(t, "final.pem"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := dedupTBS(pre)
	if err != nil {
		t.Fatal(err)
	}
	b, err := dedupTBS(final)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("precertificate and certificate do not normalise to the same TBS")
	}
	if bytes.Equal(pre, final) {
		t.Fatal("fixtures are identical")
	}
	// Idempotent, and a different certificate differs.
	if c, _ := dedupTBS(a); !bytes.Equal(a, c) {
		t.Fatal("dedupTBS is not idempotent")
	}
	other, _ := certTBS(readCert(t, "cert.pem"))
	if o, _ := dedupTBS(other); bytes.Equal(o, a) {
		t.Fatal("different certificates collide")
	}
}

func TestWrapTBSParses(t *testing.T) {
	tbs, _ := certTBS(readCert(t, "precert.pem"))
	der, err := wrapTBS(tbs)
	if err != nil {
		t.Fatal(err)
	}
	dns, _, err := lenientNames(der)
	if err != nil || !slices.Contains(dns, "pre.example.com") {
		t.Fatalf("wrapped TBS: %v %v", dns, err)
	}
}

func TestParseTileMatchesSunlight(t *testing.T) {
	tile := readFile(t, "tile-data.bin")
	es, err := parseDataTile(tile, 0, 5)
	if err != nil {
		t.Fatal(err)
	}
	rest := tile
	for i := range es {
		var se *sunlight.LogEntry
		se, rest, err = sunlight.ReadTileLeaf(rest)
		if err != nil {
			t.Fatal(err)
		}
		if es[i].LeafHash != leafHash(se.MerkleTreeLeaf()) || es[i].Precert != se.IsPrecert ||
			!bytes.Equal(es[i].Cert, se.Certificate) || uint64(se.Timestamp) != es[i].Timestamp {
			t.Fatalf("entry %d differs from sunlight's reading", i)
		}
		// The RFC 6962 leaf of the same entry parses to the same thing.
		var e Entry
		if err := parseMerkleTreeLeaf(readFile(t, "leaf-"+strconv.Itoa(i)+".bin"), readFile(t, "extra-"+strconv.Itoa(i)+".bin"), &e); err != nil {
			t.Fatal(err)
		}
		if e.LeafHash != es[i].LeafHash || !bytes.Equal(e.Cert, es[i].Cert) || !bytes.Equal(e.PreCert, es[i].PreCert) || e.Chain[0] != es[i].Chain[0] {
			t.Fatalf("entry %d: RFC 6962 and tile readings differ", i)
		}
	}
	// Wrong count, trailing bytes, wrong leaf index.
	if _, err := parseDataTile(tile, 0, 4); err == nil {
		t.Error("trailing entry accepted")
	}
	if _, err := parseDataTile(tile, 0, 6); err == nil {
		t.Error("missing entry accepted")
	}
	if _, err := parseDataTile(tile, 256, 5); err == nil {
		t.Error("wrong leaf index accepted")
	}
}

func TestMatchSightingFromFixtures(t *testing.T) {
	tile := readFile(t, "tile-data.bin")
	es, err := parseDataTile(tile, 0, 5)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := NewWatchlist([]string{"example.com", "legacy.example.net"})
	m := &matcher{watch: w, log: Log{URL: "https://log.example/", ID: "id"}}
	var st entryStats
	var got []*Sighting
	for i := range es {
		if s := m.match(&es[i], &st); s != nil {
			got = append(got, s)
		}
	}
	if len(got) != 5 {
		t.Fatalf("%d sightings, want 5", len(got))
	}
	root := readCert(t, "root.pem")
	rootFP := sha256.Sum256(root)
	for _, s := range got {
		if s.IssuerSHA256 != hexString(rootFP[:]) || s.SPKISHA256 == "" || s.TBSSHA256 == "" {
			t.Errorf("sighting %d: %+v", s.Index, s)
		}
	}
	pre, final := got[1], got[2]
	if !pre.Precert || final.Precert || pre.TBSSHA256 != final.TBSSHA256 {
		t.Fatalf("precert/cert pair: %+v / %+v", pre, final)
	}
	if pre.CertSHA256 != certinfo.Hex256(readCert(t, "precert.pem")) || final.CertSHA256 != certinfo.Hex256(readCert(t, "final.pem")) {
		t.Fatal("certificate hashes")
	}
	if !got[4].Lenient || got[4].Serial != "-01" {
		t.Fatalf("negative serial: %+v", got[4])
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}

func TestVerifyCheckpointFixture(t *testing.T) {
	l, err := NewLog("https://fixture.example/", filepath.Join(testdata, "log-key.pem"), Static)
	if err != nil {
		t.Fatal(err)
	}
	cp := readFile(t, "checkpoint")
	h, err := verifyCheckpoint(l, cp)
	if err != nil {
		t.Fatal(err)
	}
	tile := readFile(t, "tile-data.bin")
	es, _ := parseDataTile(tile, 0, 5)
	r := rangeFactory.NewEmptyRange(0)
	for _, e := range es {
		r.Append(e.LeafHash[:], nil)
	}
	if h.Size != 5 || !bytes.Equal(rootOf(r), h.Root) || h.Timestamp.IsZero() {
		t.Fatalf("head %v does not match the tile", h)
	}
	// A changed body, a foreign key, a missing signature.
	bad := bytes.Replace(cp, []byte("\n5\n"), []byte("\n6\n"), 1)
	if _, err := verifyCheckpoint(l, bad); !IsMisbehaviour(err) {
		t.Errorf("tampered checkpoint: %v", err)
	}
	other, _ := NewLog("https://fixture.example/", readCertKey(t), Static)
	if _, err := verifyCheckpoint(other, cp); !IsMisbehaviour(err) {
		t.Errorf("foreign key: %v", err)
	}
	// The origin is held against the configured one by the monitor
	// (TestOriginBinding); here it is only read.
	if o, _, _ := bytes.Cut(cp, []byte("\n")); checkpointOrigin(h.Signed) != string(o) || len(o) == 0 {
		t.Errorf("origin %q, want %q", checkpointOrigin(h.Signed), o)
	}
}

// readCertKey returns a public key that is not the log's (the fixture
// root's), as base64 DER.
func readCertKey(t testing.TB) string {
	t.Helper()
	c, err := x509.ParseCertificate(readCert(t, "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(c.RawSubjectPublicKeyInfo)
}
