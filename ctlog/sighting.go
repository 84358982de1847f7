package ctlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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

// matcher turns entries into sightings.
type matcher struct {
	watch *Watchlist
	log   Log
}

// entryStats counts what happened to entries.
type entryStats struct {
	parsed, unparsed, matched, dups uint64
}

// match returns the sighting for e, or nil when e names no watched
// domain. It parses only the names first; the full summary is built for
// matches alone.
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
	var err error
	if tbs != nil {
		dns, cns, err = tbsNames(tbs)
	}
	if tbs == nil || err != nil {
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
	der := e.Cert
	if e.Precert {
		der, _ = wrapTBS(e.Cert)
	}
	ci, _ := certinfo.Parse(der)
	s.SPKISHA256, s.Issuer, s.Subject, s.Serial = ci.SPKISHA256, ci.Issuer, ci.Subject, ci.Serial
	s.NotBefore, s.NotAfter, s.Lenient = ci.NotBefore, ci.NotAfter, ci.Lenient
	if e.Precert {
		s.CertSHA256 = precertHash(e, ci)
		if s.CertSHA256 != "" && s.CertSHA256 == hex256(e.PreCert) {
			s.DER = bytes.Clone(e.PreCert)
		}
	} else {
		s.CertSHA256 = hex256(e.Cert)
		s.DER = bytes.Clone(e.Cert)
	}
	if d, err := dedupTBS(tbsOr(tbs, e.Cert)); err == nil {
		s.TBSSHA256 = hex256(d)
	} else {
		s.TBSSHA256 = hex256(e.Cert)
	}
	if len(e.Chain) > 0 {
		s.IssuerSHA256 = hex.EncodeToString(e.Chain[0][:])
	}
	return s
}

func tbsOr(tbs, cert []byte) []byte {
	if tbs != nil {
		return tbs
	}
	return cert
}

// precertHash returns the precertificate's hash when the precertificate
// the log attached (outside the signed leaf) is the one the signed TBS
// describes: same TBS once poison is removed, or — for precertificates
// from a precertificate signing certificate, whose issuer the log
// rewrote — the same key and serial.
func precertHash(e *Entry, leaf certinfo.Cert) string {
	if len(e.PreCert) == 0 {
		return ""
	}
	pt, err := certTBS(e.PreCert)
	if err != nil {
		return ""
	}
	a, err1 := dedupTBS(pt)
	b, err2 := dedupTBS(e.Cert)
	if err1 == nil && err2 == nil && bytes.Equal(a, b) {
		return hex256(e.PreCert)
	}
	pc, err := certinfo.Parse(e.PreCert)
	if err == nil && pc.SPKISHA256 == leaf.SPKISHA256 && pc.Serial == leaf.Serial && leaf.SPKISHA256 != "" {
		return pc.SHA256
	}
	return ""
}

func hex256(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func sortCompact(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// dedupSet remembers the latest dedup keys, oldest evicted first.
type dedupSet struct {
	max   int
	order []string
	seen  map[string]bool
}

func newDedupSet(max int, keys []string) *dedupSet {
	d := &dedupSet{max: max, seen: make(map[string]bool, len(keys))}
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
	d.order = append(d.order, k)
	if len(d.order) > d.max {
		delete(d.seen, d.order[0])
		d.order = slices.Delete(d.order, 0, 1)
	}
}

func (d *dedupSet) keys() []string { return slices.Clone(d.order) }
