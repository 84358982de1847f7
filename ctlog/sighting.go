package ctlog

import (
	"bytes"
	"crypto/sha256"
	"hash"
	"slices"
	"time"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/store/records"
)

// Sighting is a log entry whose certificate or precertificate names a
// watched domain. The record lives in store/records with the other stored
// records.
type Sighting = records.Sighting

func unixMilli(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// matcher turns entries into sightings. It is used by one goroutine.
type matcher struct {
	watch *Watchlist
	log   Log
	names map[string]string // issuer Name DER → string (issuerName)
	exts  []extension       // parseTBSInto's buffer
	h     hash.Hash         // hashTBS's SHA-256 (sha)
	hdr   []byte            // hashTBS's scratch
}

// entryStats counts what happened to entries.
type entryStats struct {
	parsed, unparsed, matched, dups uint64
}

// match returns the sighting for e, or nil when e names no watched
// domain. It walks the TBSCertificate once for the names; the rest of the
// sighting is read from that walk for matches alone. Certificates the
// walk refuses go to the lenient parsers.
func (m *matcher) match(e *Entry, st *entryStats) *Sighting {
	if len(e.Cert) == 0 {
		st.unparsed++
		return nil
	}
	tbs := e.Cert
	if !e.Precert {
		t, err := certTBS(e.Cert)
		if err != nil {
			tbs = nil
		} else {
			tbs = t
		}
	}
	var dns, cns []string
	var f tbsFields
	var err error
	fast := false
	if tbs != nil {
		if f, err = parseTBSInto(tbs, m.exts); err == nil {
			m.exts = f.exts[:0]
			if !f.mayMatch(m.watch) {
				st.parsed++
				return nil
			}
			dns, cns, err = f.names()
			fast = err == nil
		}
	}
	if !fast {
		der := e.Cert
		if e.Precert {
			if der, err = wrapTBS(e.Cert); err != nil {
				st.unparsed++
				return nil
			}
		}
		if dns, cns, err = lenientNames(der); err != nil {
			st.unparsed++
			return nil
		}
	}
	st.parsed++
	names, nul := dnsNames(dns, cns)
	var matched, nulNames []string
	for _, n := range names {
		matched = append(matched, m.watch.Match(n)...)
	}
	// A name with a NUL in it is matched by what precedes the NUL: that
	// is the name a client stopping there sees.
	for _, n := range nul {
		if p, ok := nulPrefix(n); ok {
			if w := m.watch.Match(p); len(w) > 0 {
				matched = append(matched, w...)
				nulNames = append(nulNames, n)
			}
		}
	}
	if len(matched) == 0 {
		return nil
	}
	st.matched++
	s := &Sighting{
		Log: m.log.URL, LogID: m.log.ID, Index: e.Index,
		Timestamp: unixMilli(int64(e.Timestamp)),
		Names:     names, Matched: sortCompact(matched), Precert: e.Precert,
		NULNames: sortCompact(nulNames),
	}
	var sum certSummary
	ok := false
	if fast {
		sum, ok = m.summary(&f)
	}
	if ok {
		s.SPKISHA256, s.Issuer, s.Subject, s.Serial = sum.spkiSHA256, sum.issuer, sum.subject, sum.serial
		s.NotBefore, s.NotAfter = sum.notBefore, sum.notAfter
	} else {
		der := e.Cert
		if e.Precert {
			der, _ = wrapTBS(e.Cert)
		}
		ci, _ := certinfo.Parse(der)
		s.SPKISHA256, s.Issuer, s.Subject, s.Serial = ci.SPKISHA256, ci.Issuer, ci.Subject, ci.Serial
		s.NotBefore, s.NotAfter, s.Lenient = ci.NotBefore, ci.NotAfter, ci.Lenient
	}
	var dedup [32]byte
	dedupOK := false
	if fast {
		dedup, m.hdr = hashTBS(m.sha(), m.hdr, f, notCTExtension)
		dedupOK = true
	} else {
		dedup, dedupOK = m.dedupHash(tbsOr(tbs, e.Cert))
	}
	if dedupOK {
		s.TBSSHA256 = certinfo.HexSum(dedup)
	} else {
		s.TBSSHA256 = certinfo.Hex256(e.Cert)
	}
	if e.Precert {
		var leaf *[32]byte
		if dedupOK {
			leaf = &dedup
		}
		if s.CertSHA256 = m.precertHash(e, leaf, s.SPKISHA256, s.Serial); s.CertSHA256 != "" {
			s.DER = bytes.Clone(e.PreCert)
		}
	} else {
		s.CertSHA256 = certinfo.Hex256(e.Cert)
		s.DER = bytes.Clone(e.Cert)
	}
	if len(e.Chain) > 0 {
		s.IssuerSHA256 = certinfo.HexSum(e.Chain[0])
	}
	return s
}

func tbsOr(tbs, cert []byte) []byte {
	if tbs != nil {
		return tbs
	}
	return cert
}

// precertHash returns the SHA-256 of the precertificate the log attached
// (outside the signed leaf) when it is the one the signed TBS describes:
// the same TBS once poison is removed (leafDedup is the hash of the
// signed TBS's dedupTBS, nil when it has none), or — for precertificates
// from a precertificate signing certificate, whose issuer the log
// rewrote — the same key and serial. "" otherwise.
func (m *matcher) precertHash(e *Entry, leafDedup *[32]byte, leafSPKI, leafSerial string) string {
	if len(e.PreCert) == 0 {
		return ""
	}
	pt, err := certTBS(e.PreCert)
	if err != nil {
		return ""
	}
	if leafDedup != nil {
		if sum, ok := m.dedupHash(pt); ok && sum == *leafDedup {
			return certinfo.Hex256(e.PreCert)
		}
	}
	pc, err := certinfo.Parse(e.PreCert)
	if err == nil && pc.SPKISHA256 == leafSPKI && pc.Serial == leafSerial && leafSPKI != "" {
		return pc.SHA256
	}
	return ""
}

// dedupHash is the SHA-256 of dedupTBS(tbs), computed without building
// it, with the matcher's buffers; ok is false when tbs does not parse.
func (m *matcher) dedupHash(tbs []byte) (sum [32]byte, ok bool) {
	f, err := parseTBSInto(tbs, m.exts)
	if err != nil {
		return sum, false
	}
	m.exts = f.exts[:0]
	sum, m.hdr = hashTBS(m.sha(), m.hdr, f, notCTExtension)
	return sum, true
}

// sha returns the matcher's reusable SHA-256.
func (m *matcher) sha() hash.Hash {
	if m.h == nil {
		m.h = sha256.New()
	}
	return m.h
}

func sortCompact(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// dedupSet remembers the latest dedup keys, oldest evicted first. The
// keys live in a ring, so adding one costs the same however full it is.
type dedupSet struct {
	ring []string // insertion order, oldest at next once full
	next int
	seen map[string]bool
}

func newDedupSet(max int, keys []string) *dedupSet {
	d := &dedupSet{ring: make([]string, 0, max), seen: make(map[string]bool, max)}
	for _, k := range keys {
		d.add(k)
	}
	return d
}

// dedupKeyLen: 128 bits of the TBS hash are plenty to tell issuances apart
// and keep the state small.
const dedupKeyLen = 32

func (d *dedupSet) has(k string) bool { return d.seen[k[:min(len(k), dedupKeyLen)]] }

func (d *dedupSet) add(k string) {
	k = k[:min(len(k), dedupKeyLen)]
	if d.seen[k] {
		return
	}
	d.seen[k] = true
	if len(d.ring) < cap(d.ring) {
		d.ring = append(d.ring, k)
		return
	}
	delete(d.seen, d.ring[d.next])
	d.ring[d.next] = k
	d.next = (d.next + 1) % len(d.ring)
}

// keys returns the keys, oldest first.
func (d *dedupSet) keys() []string {
	return append(slices.Clone(d.ring[d.next:]), d.ring[:d.next]...)
}
