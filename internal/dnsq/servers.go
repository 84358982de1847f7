package dnsq

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// Server is one DNS server: Net "udp" or "tcp", Addr "ip:port".
type Server struct {
	Net, Addr string
	IP        netip.Addr
}

// ParseServers accepts "ip", "ip:port", "[ipv6]" and "[ipv6]:port", each
// optionally prefixed by "udp:" (the default) or "tcp:". Servers are IP
// addresses: a server named by a host name would need a resolver to find
// it. Every keyaudit command that takes --resolver parses it here.
func ParseServers(list []string) ([]Server, error) {
	out := make([]Server, 0, len(list))
	for _, s := range list {
		orig := s
		srv := Server{Net: "udp"}
		if rest, ok := strings.CutPrefix(s, "udp:"); ok {
			s = rest
		} else if rest, ok := strings.CutPrefix(s, "tcp:"); ok {
			s, srv.Net = rest, "tcp"
		}
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			host, port = strings.Trim(s, "[]"), "53"
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return nil, fmt.Errorf("resolver %q: not an IP address", orig)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 || strconv.Itoa(p) != port {
			return nil, fmt.Errorf("resolver %q: bad port", orig)
		}
		srv.IP = ip.Unmap()
		srv.Addr = net.JoinHostPort(srv.IP.String(), port)
		out = append(out, srv)
	}
	return out, nil
}

// SystemServers returns the nameservers of /etc/resolv.conf.
func SystemServers() ([]string, error) { return ResolvConf("/etc/resolv.conf") }

// ResolvConf returns the nameservers a resolv.conf file lists.
func ResolvConf(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("no resolvers given and none in %s: %w", path, err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			out = append(out, fields[1])
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no resolvers given and %s lists no nameserver", path)
	}
	return out, nil
}
