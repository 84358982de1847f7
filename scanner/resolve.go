package scanner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/keyaudit/keyaudit/internal/dnsq"
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

// dnsResolver asks explicit DNS servers only (the --resolver list, or
// the system's nameservers when none is given) for a name's A and AAAA
// records, in parallel, with the caller's context on every exchange: a
// scan confined to its scope never queries a server it was not given, and
// a cancelled scan leaves no query behind.
type dnsResolver struct {
	servers  []string // ip:port
	tcpOnly  []bool   // per server: asked over TCP ("tcp:" prefix)
	udp, tcp *dns.Client
	retries  int
}

// dnsExchangeTimeout bounds one exchange with one server; the caller's
// context bounds the whole resolution.
const dnsExchangeTimeout = 3 * time.Second

// NewResolver returns a resolver asking the given servers — "ip",
// "ip:port" or "[ipv6]:port", optionally prefixed "udp:" (the default, TCP
// on truncation) or "tcp:" — or the system's (/etc/resolv.conf) when none
// are given.
func NewResolver(servers []string) (Resolver, error) {
	if len(servers) == 0 {
		sys, err := dnsq.SystemServers()
		if err != nil {
			return nil, fmt.Errorf("scanner: %w", err)
		}
		servers = sys
	}
	r := &dnsResolver{
		udp:     &dns.Client{Net: "udp", Timeout: dnsExchangeTimeout, UDPSize: dnsUDPSize},
		tcp:     &dns.Client{Net: "tcp", Timeout: dnsExchangeTimeout},
		retries: 2,
	}
	list, err := dnsq.ParseServers(servers)
	if err != nil {
		return nil, fmt.Errorf("scanner: %w", err)
	}
	for _, srv := range list {
		r.servers = append(r.servers, srv.Addr)
		r.tcpOnly = append(r.tcpOnly, srv.Net == "tcp")
	}
	return r, nil
}

// dnsUDPSize is the EDNS0 UDP payload size offered (the DNS flag day 2020
// value): larger answers come truncated and are asked again over TCP.
const dnsUDPSize = 1232

// Resolve implements Resolver: the A and AAAA answers together, each
// address once. A name the servers say does not exist is NXDOMAIN; one
// they cannot resolve is SERVFAIL (or the last transport error); one with
// neither record is "no A or AAAA records".
func (r *dnsResolver) Resolve(ctx context.Context, name string) ([]netip.Addr, error) {
	fqdn := dns.Fqdn(name)
	type answer struct {
		msg *dns.Msg
		err error
	}
	var a, aaaa answer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		aaaa.msg, aaaa.err = r.query(ctx, fqdn, dns.TypeAAAA)
	}()
	a.msg, a.err = r.query(ctx, fqdn, dns.TypeA)
	wg.Wait()
	for _, err := range []error{ctx.Err(), a.err, aaaa.err} {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return nil, &DNSError{Name: name, Reason: "timeout", Err: err}
		}
	}
	var addrs []netip.Addr
	seen := map[netip.Addr]bool{}
	for _, an := range []answer{a, aaaa} {
		if an.msg == nil || an.msg.Rcode != dns.RcodeSuccess {
			continue
		}
		for _, rr := range an.msg.Answer {
			var ip net.IP
			switch rr := rr.(type) {
			case *dns.A:
				ip = rr.A
			case *dns.AAAA:
				ip = rr.AAAA
			default:
				continue // CNAME and the like: their targets' records follow
			}
			ad, ok := netip.AddrFromSlice(ip)
			if !ok || seen[ad.Unmap()] {
				continue
			}
			seen[ad.Unmap()] = true
			addrs = append(addrs, ad.Unmap())
		}
	}
	if len(addrs) > 0 {
		return addrs, nil
	}
	for _, an := range []answer{a, aaaa} {
		if an.msg != nil && an.msg.Rcode == dns.RcodeNameError {
			return nil, &DNSError{Name: name, Reason: "NXDOMAIN"}
		}
	}
	for _, an := range []answer{a, aaaa} {
		switch {
		case an.err != nil:
			return nil, &DNSError{Name: name, Reason: "query failed", Err: an.err}
		case an.msg != nil && an.msg.Rcode != dns.RcodeSuccess:
			return nil, &DNSError{Name: name, Reason: dns.RcodeToString[an.msg.Rcode]}
		}
	}
	return nil, &DNSError{Name: name, Reason: "no A or AAAA records"}
}

// query asks the servers in turn, up to retries+1 rounds, for fqdn's
// qtype records. An answer (NOERROR or NXDOMAIN) ends it; SERVFAIL,
// REFUSED and transport errors move on to the next server. It returns the
// last refusal when no server answered, else the last error.
func (r *dnsResolver) query(ctx context.Context, fqdn string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(fqdn, qtype)
	m.SetEdns0(dnsUDPSize, false)
	var refused *dns.Msg
	var last error
	for round := 0; round <= r.retries; round++ {
		for i, s := range r.servers {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			c := r.udp
			if r.tcpOnly[i] {
				c = r.tcp
			}
			in, _, err := dnsq.Exchange(ctx, c, m, s)
			if err == nil && in.Truncated && c == r.udp {
				in, _, err = dnsq.Exchange(ctx, r.tcp, m, s)
			}
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return nil, err
			}
			if err != nil {
				last = fmt.Errorf("%s: %w", s, err)
				continue
			}
			if in.Rcode == dns.RcodeSuccess || in.Rcode == dns.RcodeNameError {
				return in, nil
			}
			refused = in
		}
	}
	if refused != nil {
		return refused, nil
	}
	return nil, last
}
