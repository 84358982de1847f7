package validity

import (
	"fmt"
	"net/netip"
	"strings"
)

// ScopePublic is the scope keyword for public unicast addresses.
const ScopePublic = "public"

// Scope is the set of addresses fetches may go to. The zero Scope allows
// public unicast addresses only: loopback, private (RFC 1918, RFC 4193),
// link-local, CGNAT, multicast, documentation and other special ranges
// must be listed explicitly.
type Scope struct {
	public   bool
	prefixes []netip.Prefix
	set      bool
}

// ParseScope reads --fetch-scope values: CIDRs, bare addresses, or
// "public". None: public unicast only.
func ParseScope(values []string) (Scope, error) {
	var s Scope
	for _, v := range values {
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			switch {
			case f == "":
				continue
			case strings.EqualFold(f, ScopePublic):
				s.public = true
			case strings.Contains(f, "/"):
				p, err := netip.ParsePrefix(f)
				if err != nil {
					return Scope{}, fmt.Errorf("fetch scope %q: %w", f, err)
				}
				s.prefixes = append(s.prefixes, p.Masked())
			default:
				a, err := netip.ParseAddr(f)
				if err != nil {
					return Scope{}, fmt.Errorf("fetch scope %q: not a CIDR, address or %q", f, ScopePublic)
				}
				s.prefixes = append(s.prefixes, netip.PrefixFrom(a, a.BitLen()))
			}
			s.set = true
		}
	}
	if !s.set {
		s.public = true
	}
	return s, nil
}

// Allows reports whether a fetch may connect to addr.
func (s Scope) Allows(addr netip.Addr) bool {
	addr = addr.Unmap()
	if !s.set && !s.public {
		s.public = true // the zero Scope
	}
	for _, p := range s.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return s.public && IsPublic(addr)
}

// String renders the scope as ParseScope reads it.
func (s Scope) String() string {
	var parts []string
	if s.public || !s.set {
		parts = append(parts, ScopePublic)
	}
	for _, p := range s.prefixes {
		parts = append(parts, p.String())
	}
	return strings.Join(parts, ",")
}

// special are the ranges that are not public unicast (IANA special-purpose
// registries, RFC 6890 and successors).
var special = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
		"::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
		"2002::/16", "fc00::/7", "fe80::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// IsPublic reports whether addr is a public unicast address.
func IsPublic(addr netip.Addr) bool {
	addr = addr.Unmap()
	if !addr.IsValid() || !addr.IsGlobalUnicast() {
		return false
	}
	for _, p := range special {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}
