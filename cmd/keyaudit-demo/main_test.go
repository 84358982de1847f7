package main

import (
	"net/netip"
	"testing"
)

// TestCTHostFollowsNet: the CT log is on the -net /24, outside the
// estate's /27, and on loopback.
func TestCTHostFollowsNet(t *testing.T) {
	for _, prefix := range []string{"127.0.1", "127.0.2", "127.11.0"} {
		a, err := netip.ParseAddr(ctHost(prefix))
		if err != nil {
			t.Fatal(err)
		}
		estate := netip.MustParsePrefix(prefix + ".0/27")
		if !a.IsLoopback() || estate.Contains(a) || !netip.MustParsePrefix(prefix+".0/24").Contains(a) {
			t.Errorf("-net %s: CT log on %s", prefix, a)
		}
	}
}
