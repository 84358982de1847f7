package scanner_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/scanner"
)

// benchFarm starts n loopback TLS endpoints on 127.21.x.y:443.
func benchFarm(b *testing.B, n int) []string {
	b.Helper()
	root, err := estate.NewRoot("bench root", estate.ECDSA256)
	if err != nil {
		b.Fatal(err)
	}
	cert, err := root.Issue(estate.Leaf{CN: "farm.example.test", Key: estate.ECDSA256})
	if err != nil {
		b.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	var addrs []string
	for i := range n {
		s, err := estate.ServeTLS(fmt.Sprintf("127.21.%d.%d:443", i/250, 1+i%250), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		addrs = append(addrs, s.Addr)
	}
	return addrs
}

const benchEndpoints = 256

// BenchmarkScan scans the farm with the full scanner, recording every
// observation; compare with BenchmarkBareHandshake (benchstat).
func BenchmarkScan(b *testing.B) {
	addrs := benchFarm(b, benchEndpoints)
	for _, conc := range []int{50, 200} {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			sc, err := scanner.New(scanner.Config{Timeout: 10 * time.Second, Concurrency: conc, PerIP: conc})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			n := 0
			specs := func(yield func(scanner.Spec) bool) {
				for n < b.N {
					sp, _ := scanner.ParseSpec(addrs[n%len(addrs)])
					n++
					if !yield(sp) {
						return
					}
				}
			}
			fails := 0
			if _, err := sc.Scan(context.Background(), specs, func(o scanner.Observation) error {
				if o.Error != nil {
					fails++
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			if fails > 0 {
				b.Fatalf("%d failed endpoints", fails)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "endpoints/s")
		})
	}
}

// BenchmarkBareHandshake is a bare crypto/tls handshake loop against the
// same farm: the ceiling the scanner is measured against.
func BenchmarkBareHandshake(b *testing.B) {
	addrs := benchFarm(b, benchEndpoints)
	for _, conc := range []int{50, 200} {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			work := make(chan string, conc)
			var wg sync.WaitGroup
			b.ResetTimer()
			for range conc {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d := &net.Dialer{Timeout: 10 * time.Second}
					for a := range work {
						c, err := tls.DialWithDialer(d, "tcp", a, &tls.Config{InsecureSkipVerify: true})
						if err != nil {
							b.Error(err)
							continue
						}
						c.Close()
					}
				}()
			}
			for i := range b.N {
				work <- addrs[i%len(addrs)]
			}
			close(work)
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "endpoints/s")
		})
	}
}
