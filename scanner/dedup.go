package scanner

import (
	"hash/maphash"
	"net/netip"
	"sync"
)

// maxSeenEndpoints bounds the endpoints one scan remembers to skip
// repeats. When full, the older half is forgotten: a repeat further apart
// than half of this in the target list may be scanned again, and memory
// stays fixed.
// Two generations of 7,168, 7/8 of 8,192 (a Go map's most entries per
// 8,192 slots): a generation takes 292 KiB, one of 8,192 would take 426
// (Go 1.26).
const maxSeenEndpoints = 14336

// endpointKey is what makes two endpoints the same connection.
type endpointKey struct {
	Protocol string
	IP       netip.Addr
	Port     int
	SNI      string
}

// seenSet remembers the most recent endpoints of explicitly listed
// targets (single IPs and names, never CIDR walks), up to a fixed size, in
// two generations: when the newer holds half the size, the older is
// forgotten (an endpoint seen again moves to the newer). It keeps two
// independent 64-bit hashes of each endpoint, not the endpoint (16 bytes
// instead of its strings): two endpoints are taken for one only if both
// hashes collide, about 2⁻¹²⁸ per pair.
type seenSet struct {
	mu       sync.Mutex
	half     int
	seeds    [2]maphash.Seed
	cur, old map[seenKey]struct{}
}

type seenKey [2]uint64

func newSeenSet(size int) *seenSet {
	return &seenSet{half: max(size/2, 1), cur: map[seenKey]struct{}{}, seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
}

// add records e and reports whether it was new.
func (s *seenSet) add(e endpointKey) bool {
	k := seenKey{maphash.Comparable(s.seeds[0], e), maphash.Comparable(s.seeds[1], e)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cur[k]; ok {
		return false
	}
	_, seen := s.old[k]
	if len(s.cur) >= s.half {
		s.old, s.cur = s.cur, make(map[seenKey]struct{}, s.half)
	}
	s.cur[k] = struct{}{}
	return !seen
}

func (s *seenSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.cur) + len(s.old)
}
