package testlab

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/estate"
)

// Demo starts the demo estate for the test on the /27 at net (e.g.
// "127.0.1"), with real Postfix, Dovecot and Knot when real is set
// (skipping, or failing under CI, when they are not installed). Packages
// that run in parallel must use different nets, DNS addresses and IPv6
// ports.
func Demo(t testing.TB, net, dnsAddr string, v6Port int, real bool) *estate.Demo {
	t.Helper()
	MustLoopback(t, net+".1")
	MustLoopback(t, dnsAddr)
	if real {
		for _, bin := range []string{"postfix", "dovecot", "knotd"} {
			Need(t, bin, "/usr/sbin")
		}
		if _, err := exec.LookPath("postfix"); err != nil {
			Missing(t, "postfix not in PATH")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d, err := estate.StartDemo(ctx, estate.DemoOptions{Dir: t.TempDir(), Net: net, DNSAddr: dnsAddr, V6Port: v6Port, Real: real})
	if err != nil {
		t.Fatalf("testlab: start demo estate: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
