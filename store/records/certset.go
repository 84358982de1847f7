package records

// certSetSize bounds a CertSet: it remembers between certSetSize and
// 2·certSetSize recent certificates.
const certSetSize = 4096

// CertSet remembers the certificates a run has already written, so an
// intermediate served by thousands of endpoints is written once. It is
// bounded: it keeps the recent ones in two generations (a certificate
// seen again is kept), so a run over a million endpoints with a million
// distinct leaves does not hold a million fingerprints. Forgetting one
// only costs a rewrite: the store keeps one item per run and key.
// Not safe for concurrent use.
type CertSet struct {
	cur, old map[string]struct{}
	limit    int
}

// NewCertSet returns an empty set.
func NewCertSet() *CertSet { return newCertSet(certSetSize) }

func newCertSet(limit int) *CertSet {
	return &CertSet{cur: map[string]struct{}{}, limit: limit}
}

// Add records sha and reports whether it was new (not remembered).
func (s *CertSet) Add(sha string) bool {
	if _, ok := s.cur[sha]; ok {
		return false
	}
	_, seen := s.old[sha]
	if len(s.cur) >= s.limit {
		s.old, s.cur = s.cur, make(map[string]struct{}, s.limit)
	}
	s.cur[sha] = struct{}{}
	return !seen
}

// Len is how many certificates the set remembers now.
func (s *CertSet) Len() int { return len(s.cur) + len(s.old) }
