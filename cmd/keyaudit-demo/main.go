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
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/keyaudit/keyaudit/internal/estate"
)

func toolsBin() string {
	d := os.Getenv("KEYAUDIT_TOOLS")
	if d == "" {
		home, _ := os.UserHomeDir()
		d = filepath.Join(home, ".cache", "keyaudit-tools")
	}
	return filepath.Join(d, "bin")
}

func main() { os.Exit(run()) }

// ctHost is the address of the demo's CT log for the estate on prefix (the
// first three octets of its /27): .62 of the same /24, outside the
// estate, so demos on different -net never share a log address.
func ctHost(prefix string) string { return prefix + ".62" }

// run is main with its deferred cleanups honoured on every path.
func run() int {
	dir := flag.String("dir", ".demo/estate", "state directory for the real servers")
	real := flag.Bool("real", true, "also start Postfix, Dovecot and Knot (needs them installed)")
	netPrefix := flag.String("net", "127.0.1", "first three octets of the /27 the estate occupies")
	dns := flag.String("dns", "127.0.2.53:53", "address of the demo DNS server (example.test)")
	v6 := flag.Int("v6-port", 9443, "TLS port on [::1] (-1: no IPv6)")
	ready := flag.String("ready-file", "", "write the estate's manifest (JSON) here once everything listens")
	audit := flag.Bool("audit", true, "also create the SoftHSM token and CT log (on NET.62, beside the estate's /27) a full audit needs, and write DIR/../keyaudit.yaml")
	tools := flag.String("tools", toolsBin(), "directory of the TesseraCT binary (posix)")
	reportsDir := flag.String("reports", ".demo/reports", "where the audit config sends its reports")
	keyManagers := flag.Bool("key-managers", true, "also start a KMIP server (PyKMIP) on "+estate.DemoKMIPAddr+" and an AWS KMS emulator (local-kms) on "+estate.DemoLocalKMSAddr)
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	abs, err := filepath.Abs(*dir)
	if err == nil {
		err = os.MkdirAll(abs, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyaudit-demo:", err)
		return 2
	}
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	d, err := estate.StartDemo(sctx, estate.DemoOptions{Dir: abs, Net: *netPrefix, DNSAddr: *dns, V6Port: *v6, Real: *real})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyaudit-demo:", err)
		return 2
	}
	defer d.Close()
	var config, softhsmConf string
	if *audit {
		rep, _ := filepath.Abs(*reportsDir)
		actx, cancel := context.WithTimeout(ctx, 90*time.Second)
		ctHost := ctHost(*netPrefix)
		ao := estate.AuditOptions{Dir: filepath.Dir(abs), ToolsBin: *tools,
			CTAddr: net.JoinHostPort(ctHost, "6962"), CTMonitorAddr: net.JoinHostPort(ctHost, "8080"), ReportsDir: rep, Notify: true}
		if *keyManagers {
			ao.KMIPAddr, ao.KMSAddr = estate.DemoKMIPAddr, estate.DemoLocalKMSAddr
		}
		au, err := d.SetupAudit(actx, ao)
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "keyaudit-demo:", err)
			return 2
		}
		defer au.Close()
		config, softhsmConf = au.Config, au.HSM.Conf
		if au.CT == nil {
			fmt.Fprintln(os.Stderr, "keyaudit-demo: no TesseraCT binary in", *tools, "- the audit runs without a CT stage")
		}
	}
	if *ready != "" {
		b, _ := json.MarshalIndent(struct {
			Expect      []estate.Expect     `json:"endpoints"`
			Names       map[string][]string `json:"names"`
			DNS         string              `json:"dns"`
			RootPEM     string              `json:"root_pem"`
			Config      string              `json:"config,omitempty"`
			SoftHSMConf string              `json:"softhsm2_conf,omitempty"`
		}{d.Expect, d.Names, d.DNSAddr, string(d.RootPEM), config, softhsmConf}, "", "  ")
		if err := os.WriteFile(*ready, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "keyaudit-demo:", err)
			return 2
		}
	}
	fmt.Fprintf(os.Stderr, "keyaudit-demo: %d endpoints up on %s.0/27, [::1] and DNS %s; Ctrl-C to stop\n", len(d.Expect), *netPrefix, d.DNSAddr)
	<-ctx.Done()
	return 0
}
