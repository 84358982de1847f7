package dnsq

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestParseServers: the --resolver syntax every command shares.
func TestParseServers(t *testing.T) {
	got, err := ParseServers([]string{"127.0.0.1", "127.0.0.1:5353", "[::1]:53", "::1", "tcp:127.0.0.2", "udp:[::1]", "::ffff:127.0.0.3"})
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, g := range got {
		s = append(s, g.Net+" "+g.Addr)
	}
	want := []string{"udp 127.0.0.1:53", "udp 127.0.0.1:5353", "udp [::1]:53", "udp [::1]:53", "tcp 127.0.0.2:53", "udp [::1]:53", "udp 127.0.0.3:53"}
	if !slices.Equal(s, want) {
		t.Fatalf("got %v\nwant %v", s, want)
	}
	for _, bad := range []string{"resolver.example:53", "127.0.0.1:0", "127.0.0.1:99999", "127.0.0.1:x", "udp:", "tcp:dns.example.test", "127.0.0.1:053"} {
		if _, err := ParseServers([]string{bad}); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestResolvConf(t *testing.T) {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(p, []byte("# test\nsearch example.test\nnameserver 127.0.0.53\nnameserver ::1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := ResolvConf(p); err != nil || !slices.Equal(got, []string{"127.0.0.53", "::1"}) {
		t.Fatalf("%v, %v", got, err)
	}
	if err := os.WriteFile(p, []byte("search example.test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ResolvConf(p); err == nil {
		t.Fatal("a resolv.conf without nameservers was accepted")
	}
}
