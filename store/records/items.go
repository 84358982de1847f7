package records

import (
	"encoding/json"
	"fmt"

	"github.com/keyaudit/keyaudit/store"
)

// ObservationKey is the store key of an observation: one endpoint
// (protocol, target, address) per run.
func ObservationKey(o Observation) string {
	k := o.Protocol + "|" + o.Target + "|" + o.IP
	if sni := o.ExtraSNI(); sni != "" {
		k += "|" + sni // the same address asked for another name
	}
	return k
}

// ObservationItems are the store items of a scan observation, as every
// scan run writes them (keyaudit scan, keyaudit audit, queue scan jobs):
// the observation, keyed by ObservationKey and carrying its leaf's SPKI
// and certificate hashes, then a certificate item (the DER) for each
// served certificate not yet in seen, so a run holds each certificate
// once (revocation plans read them). seen may be nil: then every
// certificate of the chain is included.
func ObservationItems(o Observation, seen *CertSet) ([]store.Item, error) {
	it := store.Item{Kind: store.KindObservation, Key: ObservationKey(o)}
	if l := o.Leaf(); l != nil {
		it.SPKISHA256, it.CertSHA256 = l.SPKISHA256, l.SHA256
	}
	b, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("encode observation %s: %w", it.Key, err)
	}
	it.Data = b
	items := []store.Item{it}
	for _, c := range o.Chain {
		if len(c.DER) == 0 || (seen != nil && !seen.Add(c.SHA256)) {
			continue
		}
		ci, err := CertificateItem(c.DER, c.SHA256, c.SPKISHA256)
		if err != nil {
			return nil, err
		}
		items = append(items, ci)
	}
	return items, nil
}

// SightingItems are the store items of CT sightings, as every CT sync
// writes them (keyaudit ct sync, queue CT-sync jobs): one item per
// sighting, keyed by Sighting.ItemKey, whose data is the sighting's JSON
// and whose DER is the certificate's, when the sighting carries one.
//
// The DER travels with the sighting instead of in a certificate item of
// its own (as keyaudit before 2026-12 stored it, and as scans still do):
// certificate items are keyed by a hash, so a broad watch, where every
// entry is a sighting, inserted them at random places of the store's
// indexes — every commit rewrote most index pages, and the store wrote
// about four times the bytes it kept. Sighting keys follow the log. It is
// bytes in the item's DER column, not base64 in its JSON: the DER is most
// of what a broad watch writes. ItemDER reads every form.
//
// The sightings are encoded one after the other into shared buffers of
// 32 KiB (the largest the allocator serves from its size classes), each
// item's data its own capped slice of one: a commit is thousands of
// sightings, and a buffer each was a tenth of what a broad watch spent on
// them (one buffer for a whole commit cost more: fresh pages to fault in).
func SightingItems(ss []Sighting) ([]store.Item, error) {
	items := make([]store.Item, len(ss))
	var buf []byte
	for i := range ss {
		s := &ss[i]
		items[i] = store.Item{Kind: store.KindSighting, Key: s.ItemKey(), SPKISHA256: s.SPKISHA256, CertSHA256: s.CertSHA256, DER: s.DER}
		if cap(buf)-len(buf) < sightingJSONRoom {
			buf = make([]byte, 0, sightingBufSize)
		}
		start := len(buf)
		var err error
		if buf, err = s.AppendJSON(buf); err != nil {
			return nil, fmt.Errorf("encode sighting %s: %w", items[i].Key, err)
		}
		items[i].Data = buf[start:len(buf):len(buf)]
	}
	return items, nil
}

// sightingBufSize is the size of SightingItems' buffers; a sighting
// starts a new one when fewer than sightingJSONRoom bytes are left (a
// sighting's JSON is ≈850 bytes with a handful of names; a longer one
// grows the buffer, moving what it holds: the items already made keep
// theirs).
const (
	sightingBufSize  = 32 << 10
	sightingJSONRoom = 2 << 10
)

// CAAItem is the store item of a CAA result, as every CAA run writes it
// (keyaudit caa, keyaudit audit): keyed by the name, or by name|CA for a
// per-CA decision.
func CAAItem(r CAAResult) (store.Item, error) {
	it := store.Item{Kind: store.KindCAA, Key: r.Name}
	if r.CA != "" {
		it.Key += "|" + r.CA
	}
	b, err := json.Marshal(r)
	if err != nil {
		return it, fmt.Errorf("encode caa result %s: %w", it.Key, err)
	}
	it.Data = b
	return it, nil
}

// certificateData is the Data of a store.KindCertificate item.
type certificateData struct {
	DER []byte `json:"der"`
}

// CertificateItem is the store item holding one certificate's DER, keyed
// by its SHA-256.
func CertificateItem(der []byte, sha, spki string) (store.Item, error) {
	it := store.Item{Kind: store.KindCertificate, Key: sha, SPKISHA256: spki, CertSHA256: sha, Data: json.RawMessage(`{}`), DER: der}
	if len(der) == 0 {
		return it, fmt.Errorf("encode certificate %s: no DER", sha)
	}
	return it, nil
}

// DecodeObservation decodes an observation item.
func DecodeObservation(it store.Item) (Observation, error) {
	var o Observation
	err := decodeItem(it, store.KindObservation, &o)
	return o, err
}

// DecodeSighting decodes a CT sighting item.
func DecodeSighting(it store.Item) (Sighting, error) {
	var s Sighting
	err := decodeItem(it, store.KindSighting, &s)
	return s, err
}

// ItemDER returns the certificate DER an item holds and the certificate's
// SHA-256: a certificate item's, or a CT sighting's (nil DER when the
// sighting was stored without one, or before sightings carried it). The
// DER is the item's own (Item.DER) or, in items written before that
// existed, the "der" member of its data. Other kinds are an error.
func ItemDER(it store.Item) (sha string, der []byte, err error) {
	switch it.Kind {
	case store.KindCertificate:
		der, err = DecodeCertificateDER(it)
		return it.Key, der, err
	case store.KindSighting:
		der, err = carriedDER(it)
		return it.CertSHA256, der, err
	default:
		return "", nil, fmt.Errorf("item %q of kind %q holds no certificate", it.Key, it.Kind)
	}
}

// DecodeCertificateDER returns the DER of a certificate item.
func DecodeCertificateDER(it store.Item) ([]byte, error) {
	if it.Kind != "" && it.Kind != store.KindCertificate {
		return nil, fmt.Errorf("item %q is a %s, not a %s", it.Key, it.Kind, store.KindCertificate)
	}
	der, err := carriedDER(it)
	if err == nil && len(der) == 0 {
		err = fmt.Errorf("certificate %q: no DER", it.Key)
	}
	return der, err
}

// carriedDER is the DER an item carries: its own (Item.DER) or, in items
// written before that existed, the "der" member of its data; nil when it
// has none.
func carriedDER(it store.Item) ([]byte, error) {
	if len(it.DER) > 0 {
		return it.DER, nil
	}
	var c certificateData
	if err := json.Unmarshal(it.Data, &c); err != nil {
		return nil, fmt.Errorf("%s %q: %w", it.Kind, it.Key, err)
	}
	return c.DER, nil
}

// decodeItem unmarshals its Data into v. An item whose Kind is set and
// is not kind is refused.
func decodeItem(it store.Item, kind string, v any) error {
	if it.Kind != "" && it.Kind != kind {
		return fmt.Errorf("item %q is a %s, not a %s", it.Key, it.Kind, kind)
	}
	if err := json.Unmarshal(it.Data, v); err != nil {
		return fmt.Errorf("%s %q: %w", kind, it.Key, err)
	}
	return nil
}
