package caa

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/keyaudit/keyaudit/internal/dnsq"
)

// Resolver sends one CAA question and returns the answer as received,
// whatever its rcode. Checking the answer is the caller's job.
type Resolver interface {
	// QueryCAA asks for the CAA RRset of name (a fully qualified domain
	// name) and returns the response and the server that gave it.
	QueryCAA(ctx context.Context, name string) (*dns.Msg, string, error)
}

// SystemResolvers returns the nameservers of /etc/resolv.conf.
func SystemResolvers() ([]string, error) {
	l, err := dnsq.SystemServers()
	if err != nil {
		return nil, fmt.Errorf("caa: %w", err)
	}
	return l, nil
}

// directResolver queries with miekg/dns, one server (picked at random)
// per call: retries are the checker's, so that an empty NOERROR answer
// (the common case while climbing) is not re-asked and a SERVFAIL is. It
// honours the context and timeout of each query exactly, and with dnssec
// sets the AD bit (RFC 6840 §5.7) and the DO bit, so a validating
// resolver reports whether the answer was authenticated.
type directResolver struct {
	servers []dnsq.Server
	timeout time.Duration
	dnssec  bool
}

func (r *directResolver) QueryCAA(ctx context.Context, name string) (*dns.Msg, string, error) {
	srv := r.servers[rand.IntN(len(r.servers))]
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeCAA)
	m.RecursionDesired = true
	m.SetEdns0(4096, r.dnssec)
	m.AuthenticatedData = r.dnssec
	c := &dns.Client{Net: srv.Net, Timeout: r.timeout}
	resp, _, err := dnsq.Exchange(ctx, c, m, srv.Addr)
	if err == nil && resp != nil && resp.Truncated && srv.Net == "udp" {
		c.Net = "tcp"
		resp, _, err = dnsq.Exchange(ctx, c, m, srv.Addr)
	}
	return resp, srv.Addr, err
}

// classify maps a transport error to an ErrorKind.
func classify(err error) ErrorKind {
	var ne net.Error
	var de *dns.Error
	switch {
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return KindTimeout
	case errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.ECONNRESET):
		return KindNetwork
	case errors.Is(err, dns.ErrId), errors.As(err, &de):
		return KindMalformed
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return KindMalformed
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return KindNetwork
	}
	return KindMalformed
}

// checkResponse turns an answer that cannot be used into a LookupError:
// a message that is not a response to this question, a truncated one,
// or an error rcode. NOERROR and NXDOMAIN are answers.
func checkResponse(name string, m *dns.Msg, srv string) error {
	fail := func(kind ErrorKind, format string, args ...any) error {
		return &LookupError{QName: name, Kind: kind, Server: srv, Err: fmt.Errorf(format, args...)}
	}
	if m == nil {
		return fail(KindMalformed, "no response")
	}
	if !m.Response {
		return fail(KindMalformed, "answer has QR=0 (not a response)")
	}
	if m.Opcode != dns.OpcodeQuery {
		return fail(KindMalformed, "answer has opcode %d", m.Opcode)
	}
	if len(m.Question) != 1 {
		return fail(KindMalformed, "answer has %d questions", len(m.Question))
	}
	q := m.Question[0]
	if !strings.EqualFold(q.Name, name) || q.Qtype != dns.TypeCAA || q.Qclass != dns.ClassINET {
		return fail(KindMalformed, "answer is for another question (%s %s)", q.Name, dns.TypeToString[q.Qtype])
	}
	if m.Truncated {
		return fail(KindMalformed, "answer truncated even over TCP")
	}
	switch m.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
		return nil
	case dns.RcodeServerFailure:
		return fail(KindServFail, "SERVFAIL")
	case dns.RcodeRefused:
		return fail(KindRefused, "REFUSED")
	default:
		rc := dns.RcodeToString[m.Rcode]
		if rc == "" {
			rc = fmt.Sprintf("rcode %d", m.Rcode)
		}
		return fail(KindRcode, "%s", rc)
	}
}
