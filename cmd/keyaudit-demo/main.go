// Command keyaudit-demo runs keyaudit's demo estate on loopback until it
// is interrupted: TLS servers with every kind of chain, protocol-exact
// STARTTLS servers, hostile servers, and — with -real — Postfix, Dovecot
// and a Knot DNS server for example.test. It is what the README's demo
// scans; nothing in it leaves 127.0.0.0/8 and ::1.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/keyaudit/keyaudit/internal/estate"
)

func main() {
	dir := flag.String("dir", ".demo/estate", "state directory for the real servers")
	real := flag.Bool("real", true, "also start Postfix, Dovecot and Knot (needs them installed)")
	netPrefix := flag.String("net", "127.0.1", "first three octets of the /27 the estate occupies")
	dns := flag.String("dns", "127.0.2.53:53", "address of the demo DNS server (example.test)")
	v6 := flag.Int("v6-port", 9443, "TLS port on [::1] (-1: no IPv6)")
	ready := flag.String("ready-file", "", "write the estate's manifest (JSON) here once everything listens")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	abs, err := filepath.Abs(*dir)
	if err == nil {
		err = os.MkdirAll(abs, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyaudit-demo:", err)
		os.Exit(2)
	}
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	d, err := estate.StartDemo(sctx, estate.DemoOptions{Dir: abs, Net: *netPrefix, DNSAddr: *dns, V6Port: *v6, Real: *real})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyaudit-demo:", err)
		os.Exit(2)
	}
	defer d.Close()
	if *ready != "" {
		b, _ := json.MarshalIndent(struct {
			Expect  []estate.Expect     `json:"endpoints"`
			Names   map[string][]string `json:"names"`
			DNS     string              `json:"dns"`
			RootPEM string              `json:"root_pem"`
		}{d.Expect, d.Names, d.DNSAddr, string(d.RootPEM)}, "", "  ")
		if err := os.WriteFile(*ready, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "keyaudit-demo:", err)
			os.Exit(2)
		}
	}
	fmt.Fprintf(os.Stderr, "keyaudit-demo: %d endpoints up on %s.0/27, [::1] and DNS %s; Ctrl-C to stop\n", len(d.Expect), *netPrefix, d.DNSAddr)
	<-ctx.Done()
}
