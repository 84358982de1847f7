package scanner_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/scanner"
)

// TestPerIPLimit counts concurrent connections at one IP: it never
// exceeds --per-ip, however high the scan's concurrency.
func TestPerIPLimit(t *testing.T) {
	var cur, peak atomic.Int32
	var wg sync.WaitGroup
	var targets []string
	for range 12 {
		ln, err := estate.Listen("127.0.12.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		targets = append(targets, ln.Addr().String())
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func(c net.Conn) {
					n := cur.Add(1)
					for {
						p := peak.Load()
						if n <= p || peak.CompareAndSwap(p, n) {
							break
						}
					}
					time.Sleep(150 * time.Millisecond) // hold the connection, then drop it
					cur.Add(-1)
					c.Close()
				}(c)
			}
		}()
	}
	obs, _ := collect(t, scanner.Config{Concurrency: 50, PerIP: 2, Timeout: 5 * time.Second}, targets...)
	if len(obs) != len(targets) {
		t.Fatalf("%d observations", len(obs))
	}
	if p := peak.Load(); p > 2 || p == 0 {
		t.Errorf("peak concurrent connections to one IP = %d, want ≤ 2", p)
	}
}

// TestRateLimit: new connections per second stay under --rate.
func TestRateLimit(t *testing.T) {
	var targets []string
	for i := range 15 {
		targets = append(targets, fmt.Sprintf("127.0.12.%d:1", 10+i)) // closed: refused at once
	}
	_, took := collect(t, scanner.Config{Concurrency: 15, Rate: 10, Timeout: time.Second}, targets...)
	// 15 connections at 10/s with a burst of 1: at least 1.4 s.
	if took < 1300*time.Millisecond {
		t.Errorf("15 connections at --rate 10 took %v", took)
	}
}

// TestIPv6CIDR scans a v6 prefix: addresses are walked like v4 ones.
func TestIPv6CIDR(t *testing.T) {
	root, _ := estate.NewRoot("v6 root", estate.ECDSA256)
	cert, err := root.Issue(estate.Leaf{CN: "v6cidr.example.test", Key: estate.ECDSA256})
	if err != nil {
		t.Fatal(err)
	}
	s, err := estate.ServeTLS("[::1]:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer s.Close()
	_, port, _ := net.SplitHostPort(s.Addr)
	ports, _ := scanner.ParsePorts(port)
	obs, _ := collect(t, scanner.Config{Ports: ports, Timeout: 2 * time.Second}, "::1/128")
	if len(obs) != 1 || obs[0].Error != nil || obs[0].Leaf() == nil || obs[0].Leaf().Subject != "CN=v6cidr.example.test" || obs[0].Target != "[::1]:"+port {
		t.Fatalf("::1/128 scan: %+v", obs)
	}
}

// TestWaitingEndpointsHoldNoGoroutine: while the adaptive window is full,
// endpoints wait in the dispatcher, not as --concurrency goroutines
// parked on the window (whose stacks every collection shrank and scanned,
// and every handshake grew again). 256 slow endpoints at --concurrency
// 400: the window starts at 16 and grows by completions, so most
// endpoints wait at first; at most one goroutine (the dispatcher) may
// ever be seen waiting for a place in the window.
func TestWaitingEndpointsHoldNoGoroutine(t *testing.T) {
	if testing.Short() {
		t.Skip("slow endpoints: not in -short")
	}
	first, err := estate.Listen("127.0.13.0:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(first.Addr().String())
	lns := []net.Listener{first}
	for i := 1; i < 256; i++ {
		ln, err := estate.Listen(fmt.Sprintf("127.0.13.%d:%s", i, port))
		if err != nil {
			t.Skipf("port %s is taken on 127.0.13.%d: %v", port, i, err)
		}
		lns = append(lns, ln)
	}
	for _, ln := range lns {
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { time.Sleep(40 * time.Millisecond); c.Close() }() // answers nothing, then hangs up
			}
		}()
	}

	var waiting atomic.Int32 // most goroutines seen in (*window).acquire at once
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		buf := make([]byte, 1<<22)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			n := runtime.Stack(buf, true)
			if c := int32(strings.Count(string(buf[:n]), "scanner.(*window).acquire")); c > waiting.Load() {
				waiting.Store(c)
			}
		}
	}()
	ports, _ := scanner.ParsePorts(port)
	obs, _ := collect(t, scanner.Config{Concurrency: 400, PerIP: 4, Ports: ports, Timeout: 5 * time.Second}, "127.0.13.0/24")
	close(stop)
	<-sampled
	if len(obs) != 256 {
		t.Fatalf("%d observations of 256 endpoints", len(obs))
	}
	if w := waiting.Load(); w > 1 {
		t.Errorf("%d goroutines waited for the window at once, want the dispatcher alone", w)
	}
}
