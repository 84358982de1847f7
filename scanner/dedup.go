package scanner

import (
	"hash/maphash"
	"net/netip"
	"sync"
)

// maxSeenEndpoints bounds the endpoints one scan remembers to skip
// repeats. When full, the oldest is forgotten: a repeat further apart than
// this in the target list is scanned again, and memory stays fixed.
const maxSeenEndpoints = 1 << 14

// endpointKey is what makes two endpoints the same connection.
type endpointKey struct {
	Protocol string
	IP       netip.Addr
	Port     int
	SNI      string
}

// seenSet remembers the most recent endpoints of explicitly listed
// targets (single IPs and names, never CIDR walks), up to a fixed size.
// It keeps two independent 64-bit hashes of each endpoint, not the
// endpoint (16 bytes instead of its strings): two endpoints are taken for
// one only if both hashes collide, about 2⁻¹²⁸ per pair.
type seenSet struct {
	mu    sync.Mutex
	max   int
	seeds [2]maphash.Seed
	keys  map[seenKey]struct{}
	ring  []seenKey // insertion order, for eviction
	next  int       // oldest entry in ring once full
}

type seenKey [2]uint64

func newSeenSet(max int) *seenSet {
	return &seenSet{max: max, keys: map[seenKey]struct{}{}, seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
}

// add records e and reports whether it was new.
func (s *seenSet) add(e endpointKey) bool {
	k := seenKey{maphash.Comparable(s.seeds[0], e), maphash.Comparable(s.seeds[1], e)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[k]; ok {
		return false
	}
	if len(s.ring) < s.max {
		s.ring = append(s.ring, k)
	} else {
		delete(s.keys, s.ring[s.next])
		s.ring[s.next] = k
		s.next = (s.next + 1) % s.max
	}
	s.keys[k] = struct{}{}
	return true
}

func (s *seenSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}
