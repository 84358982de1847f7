package scanner_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/scanner"
)

// Each test package that starts the estate uses its own addresses.
const (
	labNet  = "127.0.1"
	labDNS  = "127.0.2.53:53"
	labV6   = 9443
	allPort = "443,8443,25,143,110,21,5432,389"
)

func specs(t testing.TB, targets ...string) func(func(scanner.Spec) bool) {
	t.Helper()
	var out []scanner.Spec
	for _, s := range targets {
		sp, err := scanner.ParseSpec(s)
		if err != nil {
			t.Fatalf("ParseSpec(%q): %v", s, err)
		}
		out = append(out, sp)
	}
	return slices.Values(out)
}

func collect(t testing.TB, cfg scanner.Config, targets ...string) ([]scanner.Observation, time.Duration) {
	t.Helper()
	s, err := scanner.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var obs []scanner.Observation
	start := time.Now()
	_, err = s.Scan(context.Background(), specs(t, targets...), func(o scanner.Observation) error {
		mu.Lock()
		obs = append(obs, o)
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return obs, time.Since(start)
}

func key(addr, sni string) string { return addr + "|" + sni }

func obsAddr(o scanner.Observation) string {
	ip, _ := netip.ParseAddr(o.IP)
	return netip.AddrPortFrom(ip, uint16(o.Port)).String()
}

// TestScanDemoEstate is the end-to-end scan: the demo estate's /27 with
// real Postfix, Dovecot and Knot, names resolved through Knot, IPv6, and
// every hostile server. Every endpoint must be reported exactly once and
// classified exactly.
func TestScanDemoEstate(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: real servers")
	}
	d := testlab.Demo(t, labNet, labDNS, labV6, true)
	ports, _ := scanner.ParsePorts(allPort)
	const timeout = 3 * time.Second
	obs, took := collect(t, scanner.Config{Ports: ports, Resolvers: []string{labDNS}, Timeout: timeout, Concurrency: 300},
		labNet+".0/27", "www.example.test", "mail.example.test:25", fmt.Sprintf("[::1]:%d", labV6),
		"mysql://"+labNet+".10:3306", "xmpp://"+labNet+".10:5222", "nx.example.test:443")

	// Exactly one record per endpoint.
	want := 32*len(ports) + 2*len(ports) /* www: A + AAAA */ + 1 + 1 + 2 + 1
	if len(obs) != want {
		t.Errorf("got %d observations, want %d", len(obs), want)
	}
	seen := map[string]scanner.Observation{}
	for _, o := range obs {
		k := o.Protocol + "|" + o.Target + "|" + o.IP
		if _, dup := seen[k]; dup {
			t.Errorf("duplicate observation %s", k)
		}
		seen[k] = o
	}
	byAddr := map[string]scanner.Observation{}
	for _, o := range obs {
		byAddr[key(obsAddr(o), o.SNI)] = o
	}
	for _, e := range d.Expect {
		o, ok := byAddr[key(e.Addr, e.SNI)]
		if !ok {
			t.Errorf("%s (%s): no observation", e.Addr, e.Note)
			continue
		}
		if o.Protocol != e.Protocol {
			t.Errorf("%s (%s): protocol %q, want %q", e.Addr, e.Note, o.Protocol, e.Protocol)
		}
		if e.ErrorKind != "" {
			if o.Error == nil || string(o.Error.Kind) != e.ErrorKind {
				t.Errorf("%s (%s): error %+v, want kind %s", e.Addr, e.Note, o.Error, e.ErrorKind)
			}
			continue
		}
		if o.Error != nil {
			t.Errorf("%s (%s): unexpected error %v", e.Addr, e.Note, o.Error)
			continue
		}
		if len(o.Chain) == 0 || o.Chain[0].SPKISHA256 != e.LeafSPKI || o.Chain[0].SHA256 != e.LeafSHA256 {
			t.Errorf("%s (%s): leaf %+v, want spki %s", e.Addr, e.Note, o.Leaf(), e.LeafSPKI)
		}
		if e.TLSVersion != "" && o.TLSVersion != e.TLSVersion {
			t.Errorf("%s (%s): version %s, want %s", e.Addr, e.Note, o.TLSVersion, e.TLSVersion)
		}
	}
	expected := map[string]bool{}
	for _, e := range d.Expect {
		expected[e.Addr] = true
	}
	// Everything else in the /27 is closed.
	for _, o := range obs {
		if !strings.HasPrefix(o.IP, labNet+".") || expected[obsAddr(o)] {
			continue
		}
		if o.Error == nil || o.Error.Kind != scanner.KindRefused {
			t.Errorf("%s: want refused, got %+v", o.Target, o.Error)
		}
	}
	// Details the contract promises.
	check := func(addr string, f func(o scanner.Observation) string) {
		if msg := f(byAddr[key(addr, "")]); msg != "" {
			t.Errorf("%s: %s", addr, msg)
		}
	}
	check(labNet+".1:443", func(o scanner.Observation) string {
		if len(o.Chain) != 2 || o.Chain[0].KeyType != "RSA" || o.Chain[0].KeyBits != 2048 || o.Chain[1].Subject != "CN=keyaudit demo issuing CA,O=keyaudit demo" {
			return fmt.Sprintf("chain %+v", o.Chain)
		}
		if o.TLSVersion != "TLS 1.3" || o.CipherSuite == "" || o.Group != "X25519MLKEM768" {
			return fmt.Sprintf("tls %s %s group %q (want TLS 1.3 with X25519MLKEM768)", o.TLSVersion, o.CipherSuite, o.Group)
		}
		return ""
	})
	check(labNet+".3:443", func(o scanner.Observation) string {
		if o.Leaf() == nil || o.Leaf().KeyType != "Ed25519" {
			return fmt.Sprintf("leaf %+v", o.Leaf())
		}
		return ""
	})
	check(labNet+".5:443", func(o scanner.Observation) string {
		if o.Leaf() == nil || !o.Leaf().SelfSigned {
			return "self-signed not recorded"
		}
		return ""
	})
	check(labNet+".8:8443", func(o scanner.Observation) string {
		if o.Leaf() == nil || !strings.HasPrefix(o.Leaf().Serial, "-") {
			return fmt.Sprintf("negative serial not recorded: %+v", o.Leaf())
		}
		return ""
	})
	check(labNet+".16:443", func(o scanner.Observation) string {
		if len(o.Chain) != 16 || !o.ChainTruncated {
			return fmt.Sprintf("huge chain: %d certificates recorded, truncated=%v", len(o.Chain), o.ChainTruncated)
		}
		return ""
	})
	if o := byAddr[key(labNet+".4:443", "")]; o.Leaf() == nil || o.Leaf().NotAfter.After(time.Now()) {
		t.Errorf("expired certificate not recorded: %+v", o.Leaf())
	}
	nx := seen["tls|nx.example.test:443|"]
	if nx.Error == nil || nx.Error.Kind != scanner.KindDNS || !strings.Contains(nx.Error.Message, "NXDOMAIN") {
		t.Errorf("nx.example.test: %+v, want dns NXDOMAIN", nx.Error)
	}
	// One deadline per endpoint, run concurrently: the whole scan takes
	// about one timeout.
	if took > timeout+5*time.Second {
		t.Errorf("scan took %v, want about the %v timeout", took, timeout)
	}
	t.Logf("%d endpoints in %v", len(obs), took)
}

func TestScopeNeverContacts(t *testing.T) {
	// A listener that records any connection: nothing may reach it.
	var hits int
	var mu sync.Mutex
	ln, err := estate.Listen("127.0.5.9:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			hits++
			mu.Unlock()
			c.Close()
		}
	}()
	addr := ln.Addr().String()
	scope, _ := scanner.ParseScope([]string{"127.0.6.0/24"})
	obs, _ := collect(t, scanner.Config{Scope: scope, Timeout: time.Second}, addr, "127.0.5.0/30", "127.0.6.1:1")
	kinds := map[string]string{}
	for _, o := range obs {
		k := "ok"
		if o.Error != nil {
			k = string(o.Error.Kind)
		}
		kinds[o.Target] = k
	}
	if kinds[addr] != "scope" || kinds["127.0.5.0/30:443"] != "scope" || kinds["127.0.6.1:1"] != "refused" {
		t.Errorf("kinds = %v", kinds)
	}
	mu.Lock()
	defer mu.Unlock()
	if hits != 0 {
		t.Errorf("out-of-scope listener was contacted %d times", hits)
	}
}

func TestShardsPartitionTargets(t *testing.T) {
	// Closed loopback ports: every endpoint is refused at once.
	ports, _ := scanner.ParsePorts("1-4")
	all, _ := collect(t, scanner.Config{Ports: ports, Timeout: time.Second}, "127.0.7.0/26")
	union := map[string]int{}
	for i := 1; i <= 3; i++ {
		part, _ := collect(t, scanner.Config{Ports: ports, Timeout: time.Second, Shard: scanner.Shard{Index: i, Count: 3}}, "127.0.7.0/26")
		if len(part) == 0 || len(part) == len(all) {
			t.Errorf("shard %d/3 has %d of %d endpoints", i, len(part), len(all))
		}
		for _, o := range part {
			union[o.Target]++
		}
	}
	if len(union) != len(all) {
		t.Fatalf("union of shards has %d endpoints, unsharded %d", len(union), len(all))
	}
	for _, o := range all {
		if union[o.Target] != 1 {
			t.Errorf("%s appears in %d shards", o.Target, union[o.Target])
		}
	}
}

func TestHostileServersCostOneDeadline(t *testing.T) {
	const timeout = 1500 * time.Millisecond
	cases := map[estate.Hostile]scanner.ErrorKind{
		estate.Tarpit: scanner.KindTimeout, estate.Garbage: scanner.KindHandshake, estate.Reset: scanner.KindReset,
		estate.SlowDrip: scanner.KindTimeout, estate.CloseEarly: scanner.KindHandshake,
	}
	var targets []string
	want := map[string]scanner.ErrorKind{}
	i := 1
	for h, k := range cases {
		s, err := estate.ServeHostile(fmt.Sprintf("127.0.8.%d:0", i), h)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		targets = append(targets, s.Addr)
		want[s.Addr] = k
		i++
	}
	obs, took := collect(t, scanner.Config{Timeout: timeout}, targets...)
	for _, o := range obs {
		if o.Error == nil || o.Error.Kind != want[o.Target] {
			t.Errorf("%s: got %+v, want %s", o.Target, o.Error, want[o.Target])
		}
		if o.DurationMS > float64((timeout + 1500*time.Millisecond).Milliseconds()) {
			t.Errorf("%s took %.0f ms, beyond its deadline", o.Target, o.DurationMS)
		}
	}
	if took > timeout+3*time.Second {
		t.Errorf("scan took %v", took)
	}
}

func TestSTARTTLSGoServers(t *testing.T) {
	root, _ := estate.NewRoot("test root", estate.ECDSA256)
	cert, err := root.Issue(estate.Leaf{CN: "svc.example.test", Key: estate.ECDSA256})
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	want := map[string]scanner.ErrorKind{}
	for i, proto := range []string{"smtp", "imap", "pop3", "ftp", "ldap", "postgres", "mysql", "xmpp"} {
		for j, noTLS := range []bool{false, true} {
			s, err := estate.ServeSTARTTLS(fmt.Sprintf("127.0.9.%d:0", 1+i*2+j), proto, &tls.Config{Certificates: []tls.Certificate{cert}}, estate.STARTTLSOptions{NoTLS: noTLS})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			tgt := proto + "://" + s.Addr
			targets = append(targets, tgt)
			if noTLS {
				want[s.Addr] = scanner.KindSTARTTLS
			} else {
				want[s.Addr] = ""
			}
		}
	}
	obs, _ := collect(t, scanner.Config{Timeout: 2 * time.Second}, targets...)
	if len(obs) != len(targets) {
		t.Fatalf("%d observations for %d targets", len(obs), len(targets))
	}
	sort.Slice(obs, func(i, j int) bool { return obs[i].Target < obs[j].Target })
	for _, o := range obs {
		w := want[o.Target]
		switch {
		case w == "" && (o.Error != nil || o.Leaf() == nil || o.Leaf().Subject != "CN=svc.example.test"):
			t.Errorf("%s %s: %+v %+v", o.Protocol, o.Target, o.Error, o.Leaf())
		case w != "" && (o.Error == nil || o.Error.Kind != w):
			t.Errorf("%s %s: error %+v, want %s", o.Protocol, o.Target, o.Error, w)
		}
	}
}

// TestScanRealPostgreSQL upgrades a real PostgreSQL 15 (ssl = on)
// through its SSLRequest.
func TestScanRealPostgreSQL(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: real PostgreSQL")
	}
	dsn := testlab.Postgres(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	obs, _ := collect(t, scanner.Config{Timeout: 5 * time.Second}, "postgres://"+u.Host)
	if len(obs) != 1 || obs[0].Error != nil || obs[0].Leaf() == nil || obs[0].Protocol != "postgres" {
		t.Fatalf("PostgreSQL: %+v", obs)
	}
	t.Logf("PostgreSQL served %s over %s", obs[0].Leaf().Subject, obs[0].TLSVersion)
}
