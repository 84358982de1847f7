package scanner

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/miekg/dns"
	"github.com/projectdiscovery/dnsx/libs/dnsx"
)

// Resolver turns a name into every A and AAAA address.
type Resolver interface {
	Resolve(ctx context.Context, name string) ([]netip.Addr, error)
}

// DNSError is a name that did not resolve.
type DNSError struct {
	Name   string
	Reason string // NXDOMAIN, SERVFAIL, no addresses, timeout …
	Err    error
}

func (e *DNSError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("resolve %s: %s: %v", e.Name, e.Reason, e.Err)
	}
	return fmt.Sprintf("resolve %s: %s", e.Name, e.Reason)
}
func (e *DNSError) Unwrap() error { return e.Err }

// dnsxResolver resolves through projectdiscovery dnsx against explicit
// resolvers only: dnsx's defaults are public resolvers, which a scan
// confined to its scope must never query unasked.
type dnsxResolver struct {
	client *dnsx.DNSX
}

// NewResolver returns a dnsx resolver for the given "ip:port" servers, or
// for the system's (/etc/resolv.conf) when none are given.
func NewResolver(servers []string) (Resolver, error) {
	if len(servers) == 0 {
		sys, err := systemResolvers("/etc/resolv.conf")
		if err != nil {
			return nil, err
		}
		servers = sys
	}
	base := make([]string, 0, len(servers))
	for _, s := range servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			s = net.JoinHostPort(s, "53")
		}
		base = append(base, "udp:"+s)
	}
	c, err := dnsx.New(dnsx.Options{
		BaseResolvers: base,
		MaxRetries:    2,
		QuestionTypes: []uint16{dns.TypeA, dns.TypeAAAA},
		Hostsfile:     false,
	})
	if err != nil {
		return nil, fmt.Errorf("scanner: dns client: %w", err)
	}
	return &dnsxResolver{client: c}, nil
}

func systemResolvers(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("scanner: no --resolver and no system resolvers: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			out = append(out, net.JoinHostPort(fields[1], "53"))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("scanner: no --resolver and %s lists no nameserver", path)
	}
	return out, nil
}

// Resolve implements Resolver. dnsx has no context; the query runs in a
// goroutine and the caller stops waiting when ctx ends.
func (r *dnsxResolver) Resolve(ctx context.Context, name string) ([]netip.Addr, error) {
	type result struct {
		addrs []netip.Addr
		err   error
	}
	ch := make(chan result, 1)
	go func() {
		d, err := r.client.QueryMultiple(name)
		if err != nil {
			ch <- result{err: &DNSError{Name: name, Reason: "query failed", Err: err}}
			return
		}
		if d.StatusCode != "" && d.StatusCode != "NOERROR" {
			ch <- result{err: &DNSError{Name: name, Reason: d.StatusCode}}
			return
		}
		var addrs []netip.Addr
		seen := map[netip.Addr]bool{}
		for _, s := range append(append([]string{}, d.A...), d.AAAA...) {
			a, err := netip.ParseAddr(s)
			if err != nil || seen[a.Unmap()] {
				continue
			}
			seen[a.Unmap()] = true
			addrs = append(addrs, a.Unmap())
		}
		if len(addrs) == 0 {
			ch <- result{err: &DNSError{Name: name, Reason: "no A or AAAA records"}}
			return
		}
		ch <- result{addrs: addrs}
	}()
	select {
	case <-ctx.Done():
		return nil, &DNSError{Name: name, Reason: "timeout", Err: ctx.Err()}
	case r := <-ch:
		return r.addrs, r.err
	}
}
