package scanner

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// TestParseSpecRejectsNonNames: a target that is neither an IP nor a
// hostname is a TargetError saying why, not a name to resolve.
func TestParseSpecRejectsNonNames(t *testing.T) {
	long := strings.Repeat("a", 64)
	huge := strings.Repeat(strings.Repeat("b", 60)+".", 5) + "example" // 312 bytes
	for _, tt := range []struct {
		in, reason string
	}{
		{"300.1.1.1", "not a valid IPv4 address"},
		{"300.1.1.1:443", "not a valid IPv4 address"},
		{"tls://256.0.0.1", "not a valid IPv4 address"},
		{"1.2.3", "all digits"},
		{"host.123", `top-level label "123" is all digits`},
		{"host.123.", `top-level label "123" is all digits`},
		{"smtp://mail.example.99:25", "all digits"},
		{"12345", "all digits"},
		{long + ".example.com", "label is 64 bytes, over 63"},
		{huge, "over 253"},
		{"127.0.0.1, host.123", "all digits"},
		{"127.0.0.1, " + long + ".example", "over 63"},
	} {
		sp, err := ParseSpec(tt.in)
		var te *TargetError
		if !errors.As(err, &te) || !errors.Is(err, ErrBadTarget) {
			t.Errorf("ParseSpec(%q) = %+v, %v; want a TargetError", tt.in, sp, err)
			continue
		}
		if !strings.Contains(te.Reason, tt.reason) {
			t.Errorf("ParseSpec(%q) reason %q, want it to say %q", tt.in, te.Reason, tt.reason)
		}
	}
	// Still names: digits are fine anywhere but the top-level label, and a
	// 63-byte label or a 253-byte name is at the limit, not over it.
	at253 := strings.Repeat(strings.Repeat("c", 63)+".", 3) + strings.Repeat("d", 61)
	for _, ok := range []string{"123.example.com", "host1.example.com", "1password.com", "x.y2k", "0.example", strings.Repeat("a", 63) + ".example", at253} {
		sp, err := ParseSpec(ok)
		if err != nil || sp.Name == "" {
			t.Errorf("ParseSpec(%q) = %+v, %v; want a name", ok, sp, err)
		}
	}
}

// TestSeenSetBounded: the set forgets its oldest endpoints rather than
// grow past its size.
func TestSeenSetBounded(t *testing.T) {
	s := newSeenSet(4)
	k := func(i int) endpointKey {
		return endpointKey{Protocol: "tls", IP: netip.AddrFrom4([4]byte{127, 0, 5, byte(i)}), Port: 443}
	}
	for i := range 4 {
		if !s.add(k(i)) {
			t.Fatalf("first add(%d) reported a repeat", i)
		}
	}
	if s.add(k(0)) || s.add(k(3)) {
		t.Error("repeat within the bound was not caught")
	}
	for i := 4; i < 100; i++ {
		s.add(k(i))
		if n := s.len(); n > 4 {
			t.Fatalf("set holds %d endpoints, bound 4", n)
		}
	}
	if !s.add(k(0)) {
		t.Error("evicted endpoint still remembered")
	}
}

// TestCIDRNotRemembered: walking a range records nothing in the seen set,
// so memory does not grow with the number of addresses.
func TestCIDRNotRemembered(t *testing.T) {
	sc, err := New(Config{Ports: []int{443, 8443}})
	if err != nil {
		t.Fatal(err)
	}
	seen := newSeenSet(maxSeenEndpoints)
	sp, err := ParseSpec("127.0.5.0/22")
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan Endpoint, 4096)
	if !sc.expand(context.Background(), sp, out, seen) {
		t.Fatal("expand stopped")
	}
	if len(out) != 2048 {
		t.Errorf("%d endpoints from a /22 on two ports, want 2048", len(out))
	}
	if n := seen.len(); n != 0 {
		t.Errorf("seen set holds %d endpoints after a CIDR walk", n)
	}
	// Single targets are remembered, once per port.
	for range 3 {
		one, _ := ParseSpec(fmt.Sprintf("127.0.5.%d", 9))
		sc.expand(context.Background(), one, out, seen)
	}
	if n := seen.len(); n != 2 || len(out) != 2050 {
		t.Errorf("after 3 × one IP on two ports: seen %d, queued %d; want 2, 2050", seen.len(), len(out)-2048)
	}
}
