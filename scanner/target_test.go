package scanner

import (
	"errors"
	"net/netip"
	"testing"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		in   string
		want Spec
		bad  bool
	}{
		{in: "example.com", want: Spec{Name: "example.com"}},
		{in: "Example.COM.", want: Spec{Name: "example.com"}},
		{in: "example.com:8443", want: Spec{Name: "example.com", Port: 8443}},
		{in: "192.0.2.7", want: Spec{Addr: netip.MustParseAddr("192.0.2.7")}},
		{in: "192.0.2.7:25", want: Spec{Addr: netip.MustParseAddr("192.0.2.7"), Port: 25}},
		{in: "2001:db8::1", want: Spec{Addr: netip.MustParseAddr("2001:db8::1")}},
		{in: "[2001:db8::1]:9443", want: Spec{Addr: netip.MustParseAddr("2001:db8::1"), Port: 9443}},
		{in: "[::1]", want: Spec{Addr: netip.MustParseAddr("::1")}},
		{in: "127.0.1.0/27", want: Spec{Prefix: netip.MustParsePrefix("127.0.1.0/27")}},
		{in: "127.0.1.9/27", want: Spec{Prefix: netip.MustParsePrefix("127.0.1.0/27")}},
		{in: "2001:db8::/120", want: Spec{Prefix: netip.MustParsePrefix("2001:db8::/120")}},
		{in: "smtp://mail.example.com", want: Spec{Protocol: "smtp", Name: "mail.example.com", Port: 25}},
		{in: "imap://mail.example.com:1143", want: Spec{Protocol: "imap", Name: "mail.example.com", Port: 1143}},
		{in: "tls://[::1]:443", want: Spec{Protocol: "tls", Addr: netip.MustParseAddr("::1"), Port: 443}},
		{in: "postgres://192.0.2.1", want: Spec{Protocol: "postgres", Addr: netip.MustParseAddr("192.0.2.1"), Port: 5432}},
		{in: "192.0.2.7, www.example.com", want: Spec{Addr: netip.MustParseAddr("192.0.2.7"), SNI: "www.example.com"}},
		{in: "192.0.2.7:8443,www.example.com", want: Spec{Addr: netip.MustParseAddr("192.0.2.7"), Port: 8443, SNI: "www.example.com"}},
		{in: "_sip._tcp.example.com", want: Spec{Name: "_sip._tcp.example.com"}},
		{in: "", bad: true},
		{in: "http://example.com", bad: true},
		{in: "exa mple.com", bad: true},
		{in: "example.com:0", bad: true},
		{in: "example.com:65536", bad: true},
		{in: "example.com:", bad: true},
		{in: "2001:db8::1:443:x", bad: true},
		{in: "[2001:db8::1", bad: true},
		{in: "2001:db8::/100", bad: true}, // 2^28 addresses
		{in: "-bad-.example.com", bad: true},
		{in: "www.example.com, 192.0.2.1", bad: true},
		{in: "192.0.2.0/24, name.example", bad: true},
	}
	for _, tt := range tests {
		got, err := ParseSpec(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("ParseSpec(%q) = %+v, want error", tt.in, got)
			} else if !errors.Is(err, ErrBadTarget) {
				t.Errorf("ParseSpec(%q) error %v does not wrap ErrBadTarget", tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", tt.in, err)
			continue
		}
		tt.want.Raw = got.Raw
		if got != tt.want {
			t.Errorf("ParseSpec(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParsePorts(t *testing.T) {
	got, err := ParsePorts("443,8443,25-27,443")
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{443, 8443, 25, 26, 27}; len(got) != len(want) || got[2] != 25 || got[4] != 27 {
		t.Errorf("ParsePorts = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "0", "65536", "30-20", "a", "1-b"} {
		if _, err := ParsePorts(bad); err == nil {
			t.Errorf("ParsePorts(%q) succeeded", bad)
		}
	}
}

func TestProtocolForPort(t *testing.T) {
	for port, want := range map[int]string{25: "smtp", 587: "smtp", 143: "imap", 110: "pop3", 21: "ftp", 389: "ldap",
		5432: "postgres", 3306: "mysql", 5222: "xmpp", 465: "tls", 993: "tls", 995: "tls", 636: "tls", 990: "tls", 443: "tls", 8443: "tls"} {
		if got := ProtocolForPort(port); got != want {
			t.Errorf("ProtocolForPort(%d) = %s, want %s", port, got, want)
		}
	}
}

func TestParseShard(t *testing.T) {
	if s, err := ParseShard("2/5"); err != nil || s != (Shard{2, 5}) {
		t.Errorf("ParseShard(2/5) = %v, %v", s, err)
	}
	for _, bad := range []string{"0/3", "4/3", "1/0", "x/2", "3"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) succeeded", bad)
		}
	}
}

func TestEndpointTarget(t *testing.T) {
	for _, tt := range []struct {
		ep   Endpoint
		want string
	}{
		{Endpoint{IP: netip.MustParseAddr("127.0.0.1"), Port: 443}, "127.0.0.1:443"},
		{Endpoint{IP: netip.MustParseAddr("::1"), Port: 9443}, "[::1]:9443"},
		{Endpoint{Name: "mail.example.test", IP: netip.MustParseAddr("127.0.1.20"), Port: 25}, "mail.example.test:25"},
	} {
		if got := tt.ep.Target(); got != tt.want {
			t.Errorf("Target() = %s, want %s", got, tt.want)
		}
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"example.com", "[::1]:443", "127.0.0.0/30", "smtp://mail.example.com:25", "1.2.3.4, name.example", "a:b:c", "[", "::ffff:1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := ParseSpec(s)
		if err != nil {
			if !errors.Is(err, ErrBadTarget) {
				t.Fatalf("error %v does not wrap ErrBadTarget", err)
			}
			return
		}
		n := 0
		if sp.Name != "" {
			n++
		}
		if sp.Addr.IsValid() {
			n++
		}
		if sp.Prefix.IsValid() {
			n++
		}
		if n != 1 {
			t.Fatalf("ParseSpec(%q) = %+v: want exactly one of name, address, prefix", s, sp)
		}
		if sp.Port < 0 || sp.Port > 65535 {
			t.Fatalf("port %d", sp.Port)
		}
		if sp.Prefix.IsValid() && sp.Prefix.Addr().BitLen()-sp.Prefix.Bits() > maxCIDRBits {
			t.Fatalf("oversized CIDR accepted: %v", sp.Prefix)
		}
	})
}
