package records

import (
	"bytes"
	"testing"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/store"
)

func TestObservationItemsRoundTrip(t *testing.T) {
	leaf, inter := []byte("leaf DER"), []byte("intermediate DER")
	o := Observation{Target: "127.0.0.1:443", IP: "127.0.0.1", Protocol: "tls", Chain: []certinfo.Cert{
		{SHA256: "l", SPKISHA256: "lk", DER: leaf},
		{SHA256: "i", SPKISHA256: "ik", DER: inter},
	}}
	seen := map[string]bool{"i": true}
	items, err := ObservationItems(o, seen)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].Kind != store.KindObservation || items[0].Key != "tls|127.0.0.1:443|127.0.0.1" ||
		items[0].SPKISHA256 != "lk" || items[0].CertSHA256 != "l" {
		t.Fatalf("items %+v: want the observation, then the one certificate not yet seen", items)
	}
	if !seen["l"] {
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
	if len(items) != 2 || items[0].Kind != store.KindSighting || items[0].Key != ss[0].ItemKey() || items[1].Kind != store.KindCertificate {
		t.Fatalf("items %+v", items)
	}
	s, err := DecodeSighting(items[0])
	if err != nil || s.CertSHA256 != "c" || len(s.Names) != 1 {
		t.Errorf("DecodeSighting: %+v, %v", s, err)
	}
	if der, err := DecodeCertificateDER(items[1]); err != nil || string(der) != "DER" {
		t.Errorf("DecodeCertificateDER: %q, %v", der, err)
	}
}
