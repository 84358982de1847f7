package validity

import (
	"net/netip"
	"testing"
)

// TestSpecialRangesRefused: the default scope refuses the first and the
// last address of every special-purpose range it lists, and an explicit
// listing of the range admits them.
func TestSpecialRangesRefused(t *testing.T) {
	var def Scope
	for _, p := range special {
		first := p.Masked().Addr()
		b := first.AsSlice()
		for i := p.Bits(); i < len(b)*8; i++ {
			b[i/8] |= 0x80 >> (i % 8) // the host bits set: the range's last address
		}
		last, _ := netip.AddrFromSlice(b)
		for _, a := range []netip.Addr{first, last} {
			if def.Allows(a) {
				t.Errorf("default scope allows %s (in %s)", a, p)
			}
			if first.Is4In6() {
				continue // a mapped address is judged as the IPv4 address it maps
			}
			listed, err := ParseScope([]string{p.String()})
			if err != nil {
				t.Fatal(err)
			}
			if !listed.Allows(a) {
				t.Errorf("scope %s refuses %s", p, a)
			}
		}
	}
	if len(special) < 20 {
		t.Fatalf("%d special ranges: the table lost entries", len(special))
	}
}
