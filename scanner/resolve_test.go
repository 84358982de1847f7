package scanner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/testlab"
)

// TestResolverAgainstKnot: the resolver against a real Knot: A and AAAA
// together, an in-zone CNAME, an RRset too large for UDP (asked again
// over TCP), NXDOMAIN, SERVFAIL (a zone Knot cannot load), REFUSED (a zone
// it does not serve), and a dead first server that the second replaces.
func TestResolverAgainstKnot(t *testing.T) {
	var many strings.Builder
	for i := 1; i <= 120; i++ {
		fmt.Fprintf(&many, "many A 127.0.%d.%d\n", 100+i/250, i%250+1)
	}
	knot := testlab.StartKnot(t, "127.0.0.1:0", map[string]string{
		"res.example.test.": "$ORIGIN res.example.test.\n$TTL 60\n" +
			"@ SOA ns.res.example.test. hostmaster.res.example.test. 1 3600 600 86400 60\n@ NS ns\nns A 127.0.0.1\n" +
			"dual A 127.0.30.1\ndual AAAA ::1\nv4 A 127.0.30.2\nalias CNAME v4\nnone TXT \"no address\"\n" + many.String(),
		"broken.test.": "$ORIGIN broken.test.\n@ SOA garbage\n",
	})
	r, err := NewResolver([]string{knot})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		want   []string
		reason string
	}{
		{"dual.res.example.test", []string{"127.0.30.1", "::1"}, ""},
		{"alias.res.example.test", []string{"127.0.30.2"}, ""},
		{"missing.res.example.test", nil, "NXDOMAIN"},
		{"none.res.example.test", nil, "no A or AAAA records"},
		{"x.broken.test", nil, "SERVFAIL"},
		{"x.elsewhere.test", nil, "REFUSED"},
	} {
		got, err := r.Resolve(ctx, tc.name)
		var de *DNSError
		switch {
		case tc.reason == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.reason != "" && (!errors.As(err, &de) || de.Reason != tc.reason):
			t.Errorf("%s: %v, want %s", tc.name, err, tc.reason)
		case tc.reason == "":
			var s []string
			for _, a := range got {
				s = append(s, a.String())
			}
			slices.Sort(s)
			if !slices.Equal(s, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, s, tc.want)
			}
		}
	}
	got, err := r.Resolve(ctx, "many.res.example.test")
	if err != nil || len(got) != 120 {
		t.Fatalf("120 A records (truncated over UDP): %d, %v", len(got), err)
	}
	rt, err := NewResolver([]string{"tcp:" + knot})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rt.Resolve(ctx, "dual.res.example.test"); err != nil || len(got) != 2 {
		t.Fatalf("over TCP: %v, %v", got, err)
	}

	// A first server that refuses every datagram (a closed port), then Knot.
	dead := closedUDPAddr(t)
	r2, err := NewResolver([]string{dead, knot})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r2.Resolve(ctx, "v4.res.example.test"); err != nil || len(got) != 1 || got[0] != netip.MustParseAddr("127.0.30.2") {
		t.Fatalf("dead server first: %v, %v", got, err)
	}
	// Only the dead server: a query failure naming it.
	r3, _ := NewResolver([]string{dead})
	if _, err := r3.Resolve(ctx, "v4.res.example.test"); !errors.As(err, new(*DNSError)) || !strings.Contains(err.Error(), dead) {
		t.Fatalf("dead server only: %v", err)
	}
}

// TestResolverHonoursContext: a server that never answers (a socket that
// reads nothing — no real server behaves so on purpose, hence this fake)
// holds a resolution only as long as the caller's context.
func TestResolverHonoursContext(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	r, err := NewResolver([]string{pc.LocalAddr().String()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = r.Resolve(ctx, "slow.example.test")
	var de *DNSError
	if !errors.As(err, &de) || de.Reason != "timeout" {
		t.Fatalf("silent server: %v, want a timeout", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the resolution outlived its context by %v", took-300*time.Millisecond)
	}
}

// TestNewResolverRefusesNames: resolvers are addresses; a name would need
// a resolver of its own.
func TestNewResolverRefusesNames(t *testing.T) {
	if _, err := NewResolver([]string{"dns.example.test:53"}); err == nil {
		t.Fatal("a resolver given by name was accepted")
	}
	r, err := NewResolver([]string{"127.0.0.1", "[::1]:5353", "tcp:127.0.0.2", "udp:[::1]"})
	if err != nil {
		t.Fatal(err)
	}
	d := r.(*dnsResolver)
	if !slices.Equal(d.servers, []string{"127.0.0.1:53", "[::1]:5353", "127.0.0.2:53", "[::1]:53"}) ||
		!slices.Equal(d.tcpOnly, []bool{false, false, true, false}) {
		t.Fatalf("servers %v, tcp %v", d.servers, d.tcpOnly)
	}
}

// closedUDPAddr is a loopback UDP address nothing listens on.
func closedUDPAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := pc.LocalAddr().String()
	pc.Close()
	return a
}
