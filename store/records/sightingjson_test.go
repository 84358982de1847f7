package records

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/store"
)

func sightingSamples() []Sighting {
	t0 := time.Date(2026, 11, 3, 4, 5, 6, 789000000, time.UTC)
	return []Sighting{
		{},
		{Log: "https://ct.example.test/log/", LogID: "7H3vEPTl10SO4qp9Tbu7AtljeEWq2/kWBX1eC+uf+OA=", Index: 1 << 40, Timestamp: t0,
			CertSHA256: "aa", SPKISHA256: "bb", Issuer: "CN=R1,O=Example CA,C=US", Names: []string{"a.example.test", "*.b.example.test"},
			Matched: []string{"example.test"}, Precert: true, TBSSHA256: "cc", Subject: "CN=a.example.test", Serial: "01ab",
			NotBefore: t0, NotAfter: t0.Add(47 * 24 * time.Hour), IssuerSHA256: "dd", Lenient: true, DER: []byte{1, 2, 3}},
		{Names: []string{}, Matched: []string{}, NULNames: []string{"www.example.test\x00.evil.example"}},
		{Issuer: `CN="Q" <ca> & co\path`, Subject: "CN=bücher.example, O=\u2028line\u2029", Names: []string{"\xff\xfe invalid", "tab\there", "del\x7f"}},
		{Timestamp: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("X", 3600)), NotBefore: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Timestamp: time.UnixMilli(1<<62 - 1)}, // past year 9999: encoding/json refuses it
		{NotAfter: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
		{NotAfter: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("far", 25*3600))},
	}
}

// TestSightingAppendJSON: AppendJSON is json.Marshal, byte for byte and
// in its failures.
func TestSightingAppendJSON(t *testing.T) {
	for i, s := range sightingSamples() {
		checkSightingJSON(t, i, s)
	}
}

func checkSightingJSON(t *testing.T, i int, s Sighting) {
	t.Helper()
	want, werr := json.Marshal(s)
	got, gerr := s.AppendJSON([]byte("prefix"))
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("sample %d: AppendJSON error %v, json.Marshal error %v", i, gerr, werr)
	}
	if werr != nil {
		return
	}
	if !bytes.HasPrefix(got, []byte("prefix")) || !bytes.Equal(got[len("prefix"):], want) {
		t.Fatalf("sample %d:\n got %s\nwant %s", i, got, want)
	}
}

func FuzzSightingAppendJSON(f *testing.F) {
	f.Add("https://l/", "id", uint64(7), int64(1796325397649), "CN=x", "a.example", "b.example", "", true, "01", int64(0), false)
	f.Add("<&>", "\x00", uint64(0), int64(-62135596800001), "\u2028", "\xff", "", "x\x00.y", false, "", int64(1<<62), true)
	f.Fuzz(func(t *testing.T, log, id string, index uint64, ms int64, issuer, n1, n2, nul string, precert bool, serial string, nb int64, lenient bool) {
		s := Sighting{Log: log, LogID: id, Index: index, Timestamp: time.UnixMilli(ms).UTC(), Issuer: issuer,
			Names: []string{n1, n2}, Precert: precert, Serial: serial, Subject: n2, Lenient: lenient}
		if nul != "" {
			s.NULNames = []string{nul}
		}
		if nb != 0 {
			s.NotBefore = time.Unix(nb, 0)
		}
		if n1 == "" {
			s.Matched = []string{}
		}
		checkSightingJSON(t, 0, s)
	})
}

// TestCertificateItemJSON: a certificate item's Data is what json.Marshal
// makes of certificateData.
func TestCertificateItem(t *testing.T) {
	for _, der := range [][]byte{{0}, []byte("DER"), bytes.Repeat([]byte{0xfb, 0xff, 0x3e}, 500)} {
		it, err := CertificateItem(der, "sha", "spki")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(it.DER, der) || string(it.Data) != `{}` || it.Key != "sha" || it.SPKISHA256 != "spki" {
			t.Fatalf("certificate item of %d bytes: %+v", len(der), it)
		}
		if got, err := DecodeCertificateDER(it); err != nil || !bytes.Equal(got, der) {
			t.Fatalf("DecodeCertificateDER: %x, %v", got, err)
		}
		// As certificate items were written before the DER had a column
		// of its own.
		old, _ := json.Marshal(certificateData{DER: der})
		if got, err := DecodeCertificateDER(store.Item{Kind: store.KindCertificate, Key: "sha", Data: old}); err != nil || !bytes.Equal(got, der) {
			t.Fatalf("DecodeCertificateDER of an older item: %x, %v", got, err)
		}
	}
	for _, der := range [][]byte{nil, {}} {
		if _, err := CertificateItem(der, "sha", "spki"); err == nil {
			t.Fatal("a certificate item without DER was made")
		}
	}
}

// TestSightingItemsSharedBuffers: SightingItems encodes the sightings
// into shared buffers; each item's data is json.Marshal of its sighting,
// and appending to one item's data cannot write over the next.
func TestSightingItemsSharedBuffers(t *testing.T) {
	var ss []Sighting
	for i, s := range sightingSamples() {
		if _, err := json.Marshal(s); err != nil {
			continue // samples encoding/json refuses are checked elsewhere
		}
		s.Index = uint64(i)
		ss = append(ss, s)
	}
	for len(ss) < 60 { // several buffers, names longer than the room left
		s := ss[len(ss)%3]
		s.Index = uint64(len(ss))
		s.Names = append(slices.Clone(s.Names), strings.Repeat("n", 300*(len(ss)%9))+".example.test")
		ss = append(ss, s)
	}
	items, err := SightingItems(ss)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != len(ss) {
		t.Fatalf("%d items for %d sightings", len(items), len(ss))
	}
	for i := range items {
		_ = append(items[i].Data, "XXXX"...)
	}
	for i, it := range items {
		want, _ := json.Marshal(ss[i])
		if string(it.Data) != string(want) || it.Key != ss[i].ItemKey() || it.Kind != store.KindSighting {
			t.Fatalf("item %d: %s %s %s, want %s", i, it.Kind, it.Key, it.Data, want)
		}
	}
}
