package scanner

import (
	"hash/fnv"
	"net/netip"
	"strconv"
)

// Endpoint is one (IP, port, protocol, SNI) to handshake with.
type Endpoint struct {
	Name     string     // the DNS name the IP came from, if any
	IP       netip.Addr // invalid when the name did not resolve
	Port     int
	Protocol string
	SNI      string

	// label replaces Target() for endpoints that stand for more than one
	// address (a CIDR refused as a whole by the scope).
	label string
	// err, when set, is the endpoint's outcome decided before any
	// connection (dns, scope): it is recorded, never dialed.
	err *ScanError
}

// Target renders the endpoint as recorded: name:port for names,
// ip:port ([v6]:port) for addresses.
func (e Endpoint) Target() string {
	if e.label != "" {
		return e.label
	}
	host := e.Name
	if host == "" {
		host = e.IP.String()
		if e.IP.Is6() {
			host = "[" + host + "]"
		}
	}
	return host + ":" + strconv.Itoa(e.Port)
}

// Addr is ip:port for dialing.
func (e Endpoint) Addr() string {
	return netip.AddrPortFrom(e.IP, uint16(e.Port)).String()
}

// shardKey is the stable identity used to assign endpoints to shards.
func (e Endpoint) shardKey() []byte {
	b := make([]byte, 0, 64)
	b = append(b, e.Protocol...)
	b = append(b, e.label...)
	b = append(b, '|')
	b = append(b, e.Name...)
	b = append(b, '|')
	b = e.IP.AppendTo(b)
	b = append(b, '|')
	return strconv.AppendInt(b, int64(e.Port), 10)
}

// Shard is a deterministic split of the target space: endpoint e belongs
// to shard Index (1-based) of Count when hash(e) mod Count == Index-1.
// The zero value (Count 0) means unsharded.
type Shard struct {
	Index, Count int
}

// Owns reports whether e belongs to this shard.
func (s Shard) Owns(e Endpoint) bool {
	if s.Count <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write(e.shardKey())
	return int(h.Sum64()%uint64(s.Count)) == s.Index-1
}

// ParseShard parses "i/n" (1 ≤ i ≤ n).
func ParseShard(s string) (Shard, error) {
	var sh Shard
	if s == "" {
		return sh, nil
	}
	i := 0
	for i < len(s) && s[i] != '/' {
		i++
	}
	if i == len(s) {
		return sh, &TargetError{Target: s, Reason: "shard must be i/n"}
	}
	a, err1 := strconv.Atoi(s[:i])
	b, err2 := strconv.Atoi(s[i+1:])
	if err1 != nil || err2 != nil || b < 1 || a < 1 || a > b {
		return sh, &TargetError{Target: s, Reason: "shard must be i/n with 1 ≤ i ≤ n"}
	}
	return Shard{Index: a, Count: b}, nil
}

// Scope is the set of prefixes the scanner may contact. Empty: anything.
type Scope []netip.Prefix

// Allows reports whether ip may be contacted.
func (s Scope) Allows(ip netip.Addr) bool {
	if len(s) == 0 {
		return true
	}
	ip = ip.Unmap()
	if ip.IsUnspecified() {
		return false // :: and 0.0.0.0 reach the local host whatever the scope says
	}
	for _, p := range s {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Overlaps reports whether any address of p may be contacted.
func (s Scope) Overlaps(p netip.Prefix) bool {
	if len(s) == 0 {
		return true
	}
	for _, q := range s {
		if q.Overlaps(p) {
			return true
		}
	}
	return false
}

// ParseScope parses CIDRs or single IPs.
func ParseScope(items []string) (Scope, error) {
	var s Scope
	for _, it := range items {
		if p, err := netip.ParsePrefix(it); err == nil {
			s = append(s, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(it)
		if err != nil {
			return nil, &TargetError{Target: it, Reason: "scope must be a CIDR or an IP"}
		}
		s = append(s, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return s, nil
}
