package scanner_test

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/scanner"
)

// TestDuplicateTargetsConnectOnce: the same endpoint written four ways —
// a bare IP twice, IP:port and tls://IP:port — is one connection and one
// observation.
func TestDuplicateTargetsConnectOnce(t *testing.T) {
	root, _ := estate.NewRoot("dedup root", estate.ECDSA256)
	cert, err := root.Issue(estate.Leaf{CN: "dedup.example.test", Key: estate.ECDSA256})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := estate.Listen("127.0.5.9:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer c.Close()
				tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
				_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
				_ = tc.Handshake()
			}()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ports, _ := scanner.ParsePorts(port)
	obs, _ := collect(t, scanner.Config{Ports: ports, Timeout: 3 * time.Second},
		"127.0.5.9", "127.0.5.9", "127.0.5.9:"+port, "tls://127.0.5.9:"+port)
	if len(obs) != 1 {
		t.Errorf("%d observations, want 1", len(obs))
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("%d connections accepted, want 1", n)
	}
	if len(obs) > 0 && (obs[0].Error != nil || obs[0].Leaf() == nil || obs[0].Leaf().Subject != "CN=dedup.example.test") {
		t.Errorf("observation %+v", obs[0])
	}
	// Another SNI or protocol is another endpoint.
	accepted.Store(0)
	obs, _ = collect(t, scanner.Config{Ports: ports, Timeout: 3 * time.Second},
		"127.0.5.9", "127.0.5.9, other.example.test", "127.0.5.9, other.example.test")
	if len(obs) != 2 || accepted.Load() != 2 {
		t.Errorf("two SNIs: %d observations, %d connections; want 2, 2", len(obs), accepted.Load())
	}
}

// TestInvalidNamesNeverQueried: targets that are neither IPs nor
// hostnames are skipped as bad lines; no query for them reaches the
// resolver.
func TestInvalidNamesNeverQueried(t *testing.T) {
	var queries atomic.Int32
	dnsAddr := testlab.StartFakeDNS(t, "127.0.5.53", func([]byte, bool) []byte {
		queries.Add(1)
		return nil
	})
	lines := strings.Join([]string{
		"300.1.1.1",
		"host.123",
		strings.Repeat("a", 64) + ".example.test",
		strings.Repeat(strings.Repeat("b", 60)+".", 5) + "example",
		"tls://999.0.0.1:443",
	}, "\n")
	var skipped []string
	targets := &scanner.Targets{
		Sources: []scanner.Source{scanner.ReaderSource("list", strings.NewReader(lines))},
		Skip:    func(err error) { skipped = append(skipped, err.Error()) },
	}
	s, err := scanner.New(scanner.Config{Resolvers: []string{dnsAddr}, Timeout: time.Second, DNSTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if _, err := s.Scan(context.Background(), targets.All(), func(scanner.Observation) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if q := queries.Load(); q != 0 {
		t.Errorf("%d DNS queries for invalid names", q)
	}
	if n != 0 || len(skipped) != 5 {
		t.Errorf("%d observations, skipped %q; want 0 and all 5", n, skipped)
	}
	for _, a := range []string{"300.1.1.1", "host.123"} {
		if _, err := scanner.ParseTargets([]string{a}, nil, ""); err == nil {
			t.Errorf("ParseTargets(%q) accepted it", a)
		}
	}
}
