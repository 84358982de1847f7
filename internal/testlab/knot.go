package testlab

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// knotReadyTimeout bounds how long StartKnot waits for every zone to be
// loaded (or to have failed to load).
const knotReadyTimeout = 15 * time.Second

// StartKnot starts a real knotd (foreground, temp rundir/storage, user root:root) listening on addr
// (e.g. "127.0.2.53:53" or "127.0.0.1:0"-style: if port is 0 pick a free port) serving the given zones
// (origin -> zone file text). It returns the "ip:port" it listens on, waits until it answers, stops it in t.Cleanup.
//
// A zone whose file Knot cannot load stays configured: Knot answers
// SERVFAIL for it, which tests use to provoke lookup failures. Names in no
// configured zone get REFUSED.
func StartKnot(t testing.TB, addr string, zones map[string]string) string {
	t.Helper()
	knotd := Need(t, "knotd", "/usr/sbin")
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("testlab: knot address %q: %v", addr, err)
	}
	MustLoopback(t, host)
	if port == "" || port == "0" {
		port = strconv.Itoa(freeUDPTCPPort(t, host))
	}
	listen := net.JoinHostPort(host, port)

	dir := t.TempDir()
	for _, sub := range []string{"run", "storage", "zones"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatalf("testlab: %v", err)
		}
	}
	origins := make([]string, 0, len(zones))
	for o := range zones {
		origins = append(origins, dns.Fqdn(strings.ToLower(o)))
	}
	sort.Strings(origins)

	var conf bytes.Buffer
	fmt.Fprintf(&conf, `server:
    rundir: "%[1]s/run"
    user: root:root
    listen: %[2]s@%[3]s
    udp-workers: 2
    tcp-workers: 2
    background-workers: 1
database:
    storage: "%[1]s/storage"
log:
  - target: stderr
    any: info
template:
  - id: default
    storage: "%[1]s/zones"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
zone:
`, dir, host, port)
	for o, text := range zones {
		origin := dns.Fqdn(strings.ToLower(o))
		file := zoneFileName(origin)
		if err := os.WriteFile(filepath.Join(dir, "zones", file), []byte(text), 0o644); err != nil {
			t.Fatalf("testlab: %v", err)
		}
	}
	for _, origin := range origins {
		fmt.Fprintf(&conf, "  - domain: %q\n    file: %q\n", origin, zoneFileName(origin))
	}
	confPath := filepath.Join(dir, "knot.conf")
	if err := os.WriteFile(confPath, conf.Bytes(), 0o644); err != nil {
		t.Fatalf("testlab: %v", err)
	}
	StartProcess(t, dir, knotd, "-c", confPath)
	waitKnot(t, listen, origins, filepath.Join(dir, "knotd.log"))
	return listen
}

// zoneFileName maps an origin to a safe file name ("." is the root zone).
func zoneFileName(origin string) string {
	name := strings.TrimSuffix(origin, ".")
	if name == "" {
		name = "root"
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, name) + ".zone"
}

// waitKnot waits until Knot answers for every zone: a loaded zone answers
// its SOA with AA; a zone Knot failed to load is logged as such (and
// then answers SERVFAIL forever, which is what a test wants from it).
func waitKnot(t testing.TB, listen string, origins []string, logPath string) {
	t.Helper()
	deadline := time.Now().Add(knotReadyTimeout)
	c := &dns.Client{Net: "udp", Timeout: 200 * time.Millisecond}
	pending := map[string]bool{}
	for _, o := range origins {
		pending[o] = true
	}
	answered := len(origins) == 0
	for {
		logText, _ := os.ReadFile(logPath)
		for o := range pending {
			m := new(dns.Msg)
			m.SetQuestion(o, dns.TypeSOA)
			r, _, err := c.Exchange(m, listen)
			if err != nil {
				continue
			}
			answered = true
			if r.Rcode == dns.RcodeSuccess && r.Authoritative && len(r.Answer) > 0 {
				delete(pending, o)
				continue
			}
			if knotZoneFailed(logText, o) {
				delete(pending, o)
			}
		}
		if answered && len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testlab: knotd on %s not ready after %v (answering: %v; zones pending: %v)",
				listen, knotReadyTimeout, answered, keys(pending))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// knotZoneFailed reports whether Knot's log says zone origin failed to load.
func knotZoneFailed(logText []byte, origin string) bool {
	for _, line := range strings.Split(string(logText), "\n") {
		if strings.Contains(line, "error: ["+origin+"]") && strings.Contains(line, "failed") {
			return true
		}
	}
	return false
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// freeUDPTCPPort returns a port free for both UDP and TCP on ip.
func freeUDPTCPPort(t testing.TB, ip string) int {
	t.Helper()
	for range 50 {
		p := FreePort(t, ip)
		u, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(p)))
		if err != nil {
			continue
		}
		u.Close()
		return p
	}
	t.Fatalf("testlab: no port free for UDP and TCP on %s", ip)
	return 0
}
