package dnsq

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/keyaudit/keyaudit/internal/testlab"
)

// TestExchangeCancelled: a query to a server that never answers (a socket
// that reads nothing, standing in for a dead resolver) returns as soon as
// its context is cancelled, though the client would wait a minute; the
// same client then gets a real answer from a real Knot, over UDP and TCP.
func TestExchangeCancelled(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	m := new(dns.Msg)
	m.SetQuestion("a.example.test.", dns.TypeA)
	for _, network := range []string{"udp", "tcp"} {
		addr := pc.LocalAddr().String()
		if network == "tcp" {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					defer c.Close() // accepted, never answered
				}
			}()
			addr = l.Addr().String()
		}
		c := &dns.Client{Net: network, Timeout: time.Minute}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(200*time.Millisecond, cancel)
		start := time.Now()
		_, _, err := Exchange(ctx, c, m, addr)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v, want context.Canceled", network, err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("%s: returned %v after the cancel", network, took-200*time.Millisecond)
		}
	}

	knot := testlab.StartKnot(t, "127.0.0.1:0", map[string]string{"example.test.": "$ORIGIN example.test.\n$TTL 60\n" +
		"@ SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 60\n@ NS ns\nns A 127.0.0.1\na A 127.0.40.1\n"})
	for _, network := range []string{"udp", "tcp"} {
		r, _, err := Exchange(context.Background(), &dns.Client{Net: network, Timeout: 5 * time.Second}, m, knot)
		if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("%s: %v, %v", network, r, err)
		}
	}
}
