package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// bareResult is what the bare loop prints (one JSON line on stdout).
type bareResult struct {
	Targets int     `json:"targets"`
	OK      int64   `json:"ok"`
	Failed  int64   `json:"failed"`
	Certs   int64   `json:"certs"`
	Seconds float64 `json:"seconds"`
}

// bareCmd is the floor a scanner is compared with: a crypto/tls handshake
// per target that reads the peer's chain and does nothing else (no
// parsing beyond what crypto/tls does, no recording, no output per
// endpoint).
func bareCmd(args []string) error {
	fs := flag.NewFlagSet("bare", flag.ExitOnError)
	targets := fs.String("targets", "", "file of ip:port lines (loopback only)")
	conc := fs.Int("c", 200, "concurrency")
	timeout := fs.Duration("timeout", 10*time.Second, "one deadline per endpoint, connect and handshake")
	fs.Parse(args)
	if *targets == "" || *conc < 1 {
		return fmt.Errorf("bare: -targets FILE and -c >= 1 are required")
	}
	addrs, err := readTargets(*targets)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var ok, failed, certs atomic.Int64
	work := make(chan string)
	var wg sync.WaitGroup
	start := time.Now()
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := &tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}}
			for a := range work {
				hctx, cancel := context.WithTimeout(ctx, *timeout)
				c, err := d.DialContext(hctx, "tcp", a)
				cancel()
				if err != nil {
					failed.Add(1)
					continue
				}
				chain := c.(*tls.Conn).ConnectionState().PeerCertificates
				if len(chain) > 0 {
					ok.Add(1)
					certs.Add(int64(len(chain)))
				} else {
					failed.Add(1)
				}
				c.Close()
			}
		}()
	}
feed:
	for _, a := range addrs {
		select {
		case work <- a:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	r := bareResult{Targets: len(addrs), OK: ok.Load(), Failed: failed.Load(), Certs: certs.Load(), Seconds: time.Since(start).Seconds()}
	return json.NewEncoder(os.Stdout).Encode(r)
}
