package records

import (
	"crypto/sha256"

	"github.com/keyaudit/keyaudit/internal/certinfo"
)

// certSetSize bounds a CertSet: it remembers between certSetSize and
// 2·certSetSize recent certificates. 3,584 is 7/8 of 4,096, a Go map's
// most entries per 4,096 slots: a generation of 3,584 digests takes 240
// KiB, one of 4,096 takes 319 (Go 1.26).
const certSetSize = 3584

// CertSet remembers the certificates a run has already written, so an
// intermediate served by thousands of endpoints is written once. It is
// bounded: it keeps the recent ones in two generations (a certificate
// seen again is kept), so a run over a million endpoints with a million
// distinct leaves does not hold a million fingerprints. Forgetting one
// only costs a rewrite: the store keeps one item per run and key.
// Not safe for concurrent use.
type CertSet struct {
	cur, old map[[sha256.Size]byte]struct{} // digests, not their hex: half the memory
	limit    int
}

// NewCertSet returns an empty set.
func NewCertSet() *CertSet { return newCertSet(certSetSize) }

func newCertSet(limit int) *CertSet {
	return &CertSet{cur: map[[sha256.Size]byte]struct{}{}, limit: limit}
}

// Add records sha and reports whether it was new (not remembered).
// sha is a certificate's SHA-256 in hex (certinfo.Cert.SHA256); anything
// else is remembered by its own digest.
func (s *CertSet) Add(sha string) bool {
	k, ok := certinfo.ParseSum(sha)
	if !ok {
		k = sha256.Sum256([]byte(sha))
	}
	if _, ok := s.cur[k]; ok {
		return false
	}
	_, seen := s.old[k]
	if len(s.cur) >= s.limit {
		s.old, s.cur = s.cur, make(map[[sha256.Size]byte]struct{}, s.limit)
	}
	s.cur[k] = struct{}{}
	return !seen
}

// Len is how many certificates the set remembers now.
func (s *CertSet) Len() int { return len(s.cur) + len(s.old) }
