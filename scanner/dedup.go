package scanner

import (
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
type seenSet struct {
	mu   sync.Mutex
	max  int
	keys map[endpointKey]struct{}
	ring []endpointKey // insertion order, for eviction
	next int           // oldest entry in ring once full
}

func newSeenSet(max int) *seenSet {
	return &seenSet{max: max, keys: map[endpointKey]struct{}{}}
}

// add records k and reports whether it was new.
func (s *seenSet) add(k endpointKey) bool {
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
