package scanner

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Limits on untrusted target input.
const (
	maxTargetLen = 512 // one target line
	// maxCIDRBits caps a single CIDR at 2^24 addresses per spec: a /8 of
	// IPv4 or a /104 of IPv6. Larger sweeps are split by the caller.
	maxCIDRBits = 24
)

// Protocols that keyaudit speaks, "tls" meaning TLS from the first byte.
var Protocols = []string{"tls", "smtp", "imap", "pop3", "ftp", "ldap", "postgres", "mysql", "xmpp"}

// ProtocolForPort infers the protocol from a well-known port: STARTTLS
// where the port's protocol upgrades, direct TLS otherwise (465, 993, 995,
// 636, 990 and anything unknown).
func ProtocolForPort(port int) string {
	switch port {
	case 25, 587:
		return "smtp"
	case 143:
		return "imap"
	case 110:
		return "pop3"
	case 21:
		return "ftp"
	case 389:
		return "ldap"
	case 5432:
		return "postgres"
	case 3306:
		return "mysql"
	case 5222:
		return "xmpp"
	}
	return "tls"
}

// defaultPortForProtocol is the port used for proto://host without one.
func defaultPortForProtocol(proto string) int {
	switch proto {
	case "smtp":
		return 25
	case "imap":
		return 143
	case "pop3":
		return 110
	case "ftp":
		return 21
	case "ldap":
		return 389
	case "postgres":
		return 5432
	case "mysql":
		return 3306
	case "xmpp":
		return 5222
	}
	return 443
}

func knownProtocol(p string) bool {
	for _, k := range Protocols {
		if k == p {
			return true
		}
	}
	return false
}

// Spec is one parsed target as the user wrote it.
type Spec struct {
	Raw      string
	Protocol string       // from proto://, "" otherwise
	Name     string       // DNS name to resolve; "" for IPs and CIDRs
	Addr     netip.Addr   // a single IP
	Prefix   netip.Prefix // a CIDR (valid only for CIDR specs)
	Port     int          // 0: use the configured ports
	SNI      string       // SNI for an IP ("IP, NAME" pairs)
}

// IsCIDR reports whether s names a range.
func (s Spec) IsCIDR() bool { return s.Prefix.IsValid() }

// ErrBadTarget is wrapped by every target parse error.
var ErrBadTarget = errors.New("invalid target")

// TargetError is a target that could not be parsed.
type TargetError struct {
	Target string
	Reason string
}

func (e *TargetError) Error() string { return fmt.Sprintf("invalid target %q: %s", e.Target, e.Reason) }
func (e *TargetError) Unwrap() error { return ErrBadTarget }

// ParseSpec parses a hostname, IP, CIDR (v4 or v6), host:port, [v6]:port,
// proto://host[:port], or a zgrab2-style "IP, NAME" pair.
func ParseSpec(s string) (Spec, error) {
	raw := strings.TrimSpace(s)
	bad := func(reason string) (Spec, error) { return Spec{}, &TargetError{Target: raw, Reason: reason} }
	if raw == "" {
		return bad("empty")
	}
	if len(raw) > maxTargetLen {
		return Spec{}, &TargetError{Target: raw[:64] + "…", Reason: "too long"}
	}
	sp := Spec{Raw: raw}
	rest := raw
	if i := strings.Index(rest, "://"); i >= 0 {
		proto := strings.ToLower(rest[:i])
		if !knownProtocol(proto) {
			return bad(fmt.Sprintf("unknown protocol %q (want one of %s)", proto, strings.Join(Protocols, ", ")))
		}
		sp.Protocol = proto
		rest = strings.TrimSuffix(rest[i+3:], "/")
	}
	// zgrab2-style "IP, NAME".
	if i := strings.IndexByte(rest, ','); i >= 0 {
		ipPart, name := strings.TrimSpace(rest[:i]), strings.TrimSpace(rest[i+1:])
		name = strings.TrimSuffix(strings.ToLower(name), ".")
		if name != "" {
			if reason := hostnameProblem(name); reason != "" {
				return bad(fmt.Sprintf("invalid name %q: %s", name, reason))
			}
		}
		inner, err := ParseSpec(ipPart)
		if err != nil {
			return bad(err.(*TargetError).Reason)
		}
		if inner.Name != "" || inner.IsCIDR() {
			return bad("an \"IP, NAME\" pair needs an IP first")
		}
		inner.Raw, inner.SNI = raw, name
		if sp.Protocol != "" {
			inner.Protocol = sp.Protocol
		}
		return inner, nil
	}
	if strings.ContainsAny(rest, " \t") {
		return bad("contains whitespace")
	}
	// CIDR.
	if strings.Contains(rest, "/") {
		p, err := netip.ParsePrefix(rest)
		if err != nil {
			return bad("invalid CIDR: " + err.Error())
		}
		if p.Addr().BitLen()-p.Bits() > maxCIDRBits {
			return bad(fmt.Sprintf("CIDR larger than 2^%d addresses: split it", maxCIDRBits))
		}
		sp.Prefix = p.Masked()
		return sp, nil
	}
	// Bare IP (v4, or v6 without brackets).
	if a, err := netip.ParseAddr(strings.Trim(rest, "[]")); err == nil && (!strings.HasPrefix(rest, "[") || strings.HasSuffix(rest, "]")) {
		sp.Addr = a.Unmap()
		if sp.Protocol != "" {
			sp.Port = defaultPortForProtocol(sp.Protocol)
		}
		return sp, nil
	}
	host, portStr := rest, ""
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]")
		if end < 0 {
			return bad("missing ]")
		}
		host = rest[1:end]
		after := rest[end+1:]
		if after != "" {
			if !strings.HasPrefix(after, ":") {
				return bad("garbage after ]")
			}
			portStr = after[1:]
		}
		a, err := netip.ParseAddr(host)
		if err != nil {
			return bad("invalid IPv6 address in brackets")
		}
		sp.Addr = a.Unmap()
	} else if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		if strings.Count(rest, ":") > 1 {
			return bad("IPv6 with a port needs brackets: [addr]:port")
		}
		host, portStr = rest[:i], rest[i+1:]
		if a, err := netip.ParseAddr(host); err == nil {
			sp.Addr = a.Unmap()
		}
	}
	if portStr != "" || strings.HasSuffix(rest, ":") {
		p, err := strconv.Atoi(portStr)
		if err != nil || p < 1 || p > 65535 {
			return bad(fmt.Sprintf("invalid port %q", portStr))
		}
		sp.Port = p
	}
	if !sp.Addr.IsValid() {
		name := strings.TrimSuffix(strings.ToLower(host), ".")
		if reason := hostnameProblem(name); reason != "" {
			return bad(fmt.Sprintf("invalid hostname %q: %s", host, reason))
		}
		sp.Name = name
	}
	if sp.Protocol != "" && sp.Port == 0 {
		sp.Port = defaultPortForProtocol(sp.Protocol)
	}
	return sp, nil
}

// hostnameProblem says why h (lower case, without a trailing dot) is not
// a name worth resolving, or "" when it is: LDH labels (and '_' as seen
// in service names), 1–63 bytes each, 253 in all. A name whose last label is
// all digits, such as 300.1.1.1 or host.123, is refused: no top-level
// domain is numeric, and a dotted quad that is not an IP is a typo.
func hostnameProblem(h string) string {
	if h == "" {
		return "empty name"
	}
	if len(h) > 253 {
		return fmt.Sprintf("name is %d bytes, over 253", len(h))
	}
	labels := strings.Split(h, ".")
	for _, label := range labels {
		if label == "" {
			return "empty label"
		}
		if len(label) > 63 {
			return fmt.Sprintf("label is %d bytes, over 63", len(label))
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Sprintf("label %q starts or ends with '-'", label)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '*' && i == 0 && len(label) == 1) {
				return fmt.Sprintf("label %q has character %q", label, c)
			}
		}
	}
	if tld := labels[len(labels)-1]; strings.Trim(tld, "0123456789") == "" {
		if len(labels) == 4 {
			return "not a valid IPv4 address"
		}
		return fmt.Sprintf("top-level label %q is all digits", tld)
	}
	return ""
}

// ParsePorts parses "443,8443,25-26".
func ParsePorts(s string) ([]int, error) {
	var out []int
	seen := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi := part, part
		if i := strings.IndexByte(part, '-'); i >= 0 {
			lo, hi = part[:i], part[i+1:]
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || a < 1 || b > 65535 || a > b {
			return nil, fmt.Errorf("invalid port range %q", part)
		}
		for p := a; p <= b; p++ {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no ports in %q", s)
	}
	return out, nil
}
