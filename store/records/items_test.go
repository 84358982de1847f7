package records

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/store"
)

func TestObservationItemsRoundTrip(t *testing.T) {
	leaf, inter := []byte("leaf DER"), []byte("intermediate DER")
	o := Observation{Target: "127.0.0.1:443", IP: "127.0.0.1", Protocol: "tls", Chain: []certinfo.Cert{
		{SHA256: "l", SPKISHA256: "lk", DER: leaf},
		{SHA256: "i", SPKISHA256: "ik", DER: inter},
	}}
	seen := NewCertSet()
	seen.Add("i")
	items, err := ObservationItems(o, seen)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].Kind != store.KindObservation || items[0].Key != "tls|127.0.0.1:443|127.0.0.1" ||
		items[0].SPKISHA256 != "lk" || items[0].CertSHA256 != "l" {
		t.Fatalf("items %+v: want the observation, then the one certificate not yet seen", items)
	}
	if seen.Add("l") {
		t.Error("the stored certificate was not marked seen")
	}
	got, err := DecodeObservation(items[0])
	if err != nil || got.Target != o.Target || len(got.Chain) != 2 {
		t.Errorf("DecodeObservation: %+v, %v", got, err)
	}
	der, err := DecodeCertificateDER(items[1])
	if err != nil || !bytes.Equal(der, leaf) || items[1].Key != "l" {
		t.Errorf("DecodeCertificateDER: %q, %v (key %s)", der, err, items[1].Key)
	}
	if _, err := DecodeSighting(items[0]); err == nil {
		t.Error("an observation decoded as a sighting")
	}
	if _, err := DecodeCertificateDER(store.Item{Kind: store.KindCertificate, Key: "x", Data: []byte(`{}`)}); err == nil {
		t.Error("a certificate item without DER decoded")
	}
}

func TestSightingItemsRoundTrip(t *testing.T) {
	ss := []Sighting{{CertSHA256: "c", SPKISHA256: "k", Names: []string{"a.example.test"}, DER: []byte("DER")}}
	items, err := SightingItems(ss)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].Kind != store.KindSighting || items[0].Key != ss[0].ItemKey() || items[0].CertSHA256 != "c" {
		t.Fatalf("items %+v", items)
	}
	s, err := DecodeSighting(items[0])
	if err != nil || s.CertSHA256 != "c" || len(s.Names) != 1 || s.DER != nil {
		t.Errorf("DecodeSighting: %+v, %v", s, err)
	}
	// The stored JSON is the sighting's own; the DER is the item's, as
	// bytes.
	want, _ := ss[0].AppendJSON(nil)
	if string(items[0].Data) != string(want) || string(items[0].DER) != "DER" {
		t.Errorf("stored JSON %s, DER %q", items[0].Data, items[0].DER)
	}
	if sha, der, err := ItemDER(items[0]); err != nil || sha != "c" || string(der) != "DER" {
		t.Errorf("ItemDER: %q %q, %v", sha, der, err)
	}
	// A sighting stored while the DER went inside its JSON ("der",
	// base64) still gives it.
	old := store.Item{Kind: store.KindSighting, Key: "k", CertSHA256: "c",
		Data: json.RawMessage(`{"cert_sha256":"c","names":["a.example.test"],"der":"REVS"}`)}
	if sha, der, err := ItemDER(old); err != nil || sha != "c" || string(der) != "DER" {
		t.Errorf("ItemDER of a sighting with DER in its JSON: %q %q, %v", sha, der, err)
	}
	// Without DER (a precertificate the log gave without a match), the
	// sighting is stored without "der" and has none.
	items, err = SightingItems([]Sighting{{CertSHA256: "d", Names: []string{}}})
	if err != nil {
		t.Fatal(err)
	}
	if sha, der, err := ItemDER(items[0]); err != nil || sha != "d" || der != nil || items[0].DER != nil || strings.Contains(string(items[0].Data), "der") {
		t.Errorf("no DER: %s %q %q, %v", items[0].Data, sha, der, err)
	}
	// A certificate item, as scans (and CT syncs before) store it.
	ci, err := CertificateItem([]byte("DER"), "c", "k")
	if err != nil {
		t.Fatal(err)
	}
	if sha, der, err := ItemDER(ci); err != nil || sha != "c" || string(der) != "DER" {
		t.Errorf("ItemDER of a certificate item: %q %q, %v", sha, der, err)
	}
	if _, _, err := ItemDER(store.Item{Kind: store.KindObservation, Key: "o"}); err == nil {
		t.Error("ItemDER of an observation")
	}
}

// TestCertSetBounded: a run over many distinct leaves keeps a bounded
// set, and a certificate that keeps coming back (an intermediate) is
// never written twice however many leaves pass between its repeats.
func TestCertSetBounded(t *testing.T) {
	s := newCertSet(100)
	if !s.Add("intermediate") {
		t.Fatal("first sight not new")
	}
	for i := range 10_000 {
		if !s.Add(fmt.Sprintf("leaf-%d", i)) {
			t.Fatalf("leaf %d reported seen", i)
		}
		if i%50 == 0 && s.Add("intermediate") {
			t.Fatalf("intermediate forgotten after %d leaves", i)
		}
		if s.Len() > 200 {
			t.Fatalf("set holds %d, bound 200", s.Len())
		}
	}
}

// TestObservationEncodingOnce: an observation's JSONL line is json.Marshal
// of it whether it is encoded afresh or written from the encoding its
// store item already holds (UseEncoding).
func TestObservationEncodingOnce(t *testing.T) {
	o := Observation{Target: "127.0.0.1:443", Host: "127.0.0.1", IP: "127.0.0.1", Port: 443, Protocol: "tls",
		TLSVersion: "TLS 1.3", Time: time.Date(2026, 12, 4, 10, 0, 0, 5, time.UTC), DurationMS: 1.25,
		Chain: []certinfo.Cert{{SHA256: "ab", Subject: "CN=<a&b>", SANs: []string{"a.example"}}},
		Error: &ScanError{Kind: "timeout", Message: "x"}}
	want, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := o.AppendJSON([]byte("prefix"))
	if err != nil || string(fresh) != "prefix"+string(want) {
		t.Fatalf("AppendJSON = %s, %v; want prefix%s", fresh, err, want)
	}
	items, err := ObservationItems(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.UseEncoding(items[0].Data)
	reused, _ := o.AppendJSON(nil)
	if string(reused) != string(want) {
		t.Fatalf("reused encoding %s, want %s", reused, want)
	}
}

// TestSightingEncodingOnce: a sighting's JSONL line is its json.Marshal
// whether encoded afresh or written from the data of its store item
// (UseEncoding, as a CT sync does after the commit), and the DER stays
// out of both.
func TestSightingEncodingOnce(t *testing.T) {
	s := Sighting{Log: "https://log.example/", LogID: "aWQ=", Index: 7, Timestamp: time.Date(2026, 12, 4, 10, 0, 0, 5, time.UTC),
		CertSHA256: "c", SPKISHA256: "s", Issuer: "CN=<CA>", Names: []string{"www.example.test"}, Matched: []string{"example.test"},
		NULNames: []string{"www.example.test\x00.evil.example"}, Precert: true, TBSSHA256: "t", DER: []byte{0x30, 0x00}}
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	items, err := SightingItems([]Sighting{s})
	if err != nil {
		t.Fatal(err)
	}
	if string(items[0].Data) != string(want) {
		t.Fatalf("item data %s, want %s", items[0].Data, want)
	}
	s.UseEncoding(items[0].Data)
	reused, _ := s.AppendJSON([]byte("p"))
	if string(reused) != "p"+string(want) {
		t.Fatalf("reused encoding %s, want p%s", reused, want)
	}
	s.UseEncoding(nil)
	s.Index = 8 // a sighting without an encoding is encoded as it stands
	fresh, _ := s.AppendJSON(nil)
	if want2, _ := json.Marshal(s); string(fresh) != string(want2) {
		t.Fatalf("fresh encoding %s, want %s", fresh, want2)
	}
}
