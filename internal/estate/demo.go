package estate

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/internal/certinfo"
)

// Expect is what a scan of one demo endpoint must report.
type Expect struct {
	Addr     string // ip:port ([v6]:port)
	Protocol string // protocol keyaudit should speak there
	SNI      string // name to send, if the endpoint needs one
	// ErrorKind is the expected error kind; "" means a chain is served.
	ErrorKind string
	// LeafSPKI and LeafSHA256 identify the leaf that must be reported.
	LeafSPKI   string
	LeafSHA256 string
	TLSVersion string // when pinned (e.g. "TLS 1.0")
	Note       string
}

// DemoOptions configure StartDemo.
type DemoOptions struct {
	// Dir holds state of the real servers; required when Real is set.
	Dir string
	// Net is the first three octets of the /27 used, default "127.0.1".
	Net string
	// DNSAddr is where Knot serves example.test; default 127.0.2.53:53.
	DNSAddr string
	// V6Port is the TLS port on [::1]; default 9443; -1 disables IPv6.
	V6Port int
	// Real starts Postfix, Dovecot and Knot; otherwise only Go servers.
	Real bool
	// NoV6SNI leaves [::1]:443 alone (another estate may hold it).
	NoV6SNI bool
}

// Demo is a running estate.
type Demo struct {
	Root, Inter *CA
	// RootPEM is the estate root, for trust stores and CT log roots.
	RootPEM []byte
	Expect  []Expect
	// Names maps the demo DNS names to their addresses.
	Names   map[string][]string
	DNSAddr string
	Zone    string
	// Leaves are the served certificates with their keys, by short name
	// (rsa, ecdsa, ed25519, www, mail, postfix …), for the HSM and CT
	// parts of the demo.
	Leaves map[string]tls.Certificate
	// Net and V6Port are where the estate lives (see DemoOptions).
	Net    string
	V6Port int
	// Revocation serves the intermediate's OCSP, CRL and certificate for
	// the validity cases (nil without openssl).
	Revocation *RevocationServer
	servers    []*Server
	processes  []*Process
}

// Close stops every server of the estate.
func (d *Demo) Close() error {
	if d.Revocation != nil {
		d.Revocation.Close()
	}
	for _, s := range d.servers {
		s.Close()
	}
	for _, p := range d.processes {
		p.Stop()
	}
	return nil
}

func leafIDs(c tls.Certificate) (spki, sha string) {
	ci, _ := certinfo.Parse(c.Certificate[0])
	return ci.SPKISHA256, ci.SHA256
}

// StartDemo starts the demo estate. Addresses (with the default Net):
//
//	.1:443 RSA-2048 chain via an intermediate   .2:443 ECDSA P-256
//	.3:443 Ed25519                              .4:443 expired
//	.5:443 self-signed                          .6:443 SNI-dependent (www.example.test)
//	.7:8443 TLS 1.0 only                        .8:8443 negative serial
//	.9:443 RSA-1024                             .10: SMTP 25, IMAP 143, POP3 110, FTP 21,
//	                                                 LDAP 389, PostgreSQL 5432, MySQL 3306, XMPP 5222
//	.11:25 SMTP without STARTTLS                .12:443 tarpit   .13:443 garbage
//	.14:443 reset                               .15:443 slow drip .16:443 huge chain
//	.17:443 closes at once                      .20:25 Postfix   .21:143/110 Dovecot (Real)
//	[::1]:9443 ECDSA P-384; [::1]:443 the SNI-dependent server
//	validity cases (with openssl): .18:443 intermediate omitted (AIA)
//	.19:443 revoked (OCSP, CRL)  .22:443 must-staple, no staple
//	.23:443 expired intermediate .24:443 unknown private root
//	.25:443 OCSP URL outside the fetch scope  .26:443 mismatch.example.test
//	.30:80 OCSP responder (openssl), CRL and caIssuers of the intermediate
//
// Every other port of the /27 is closed (refused).
func StartDemo(ctx context.Context, o DemoOptions) (d *Demo, err error) {
	if o.Net == "" {
		o.Net = "127.0.1"
	}
	if o.DNSAddr == "" {
		o.DNSAddr = "127.0.2.53:53"
	}
	if o.V6Port == 0 {
		o.V6Port = 9443
	}
	d = &Demo{Names: map[string][]string{}, DNSAddr: o.DNSAddr, Leaves: map[string]tls.Certificate{}, Net: o.Net, V6Port: o.V6Port}
	started := d
	defer func() {
		if err != nil {
			started.Close()
		}
	}()
	if d.Root, err = NewRoot("keyaudit demo root", ECDSA256); err != nil {
		return nil, err
	}
	if d.Inter, err = d.Root.Intermediate("keyaudit demo issuing CA", ECDSA256); err != nil {
		return nil, err
	}
	d.RootPEM = PEMChain([][]byte{d.Root.Cert.Raw})
	ip := func(n int) string { return fmt.Sprintf("%s.%d", o.Net, n) }
	at := func(n, port int) string { return net.JoinHostPort(ip(n), fmt.Sprint(port)) }

	addTLS := func(addr string, cfg *tls.Config, e Expect) error {
		s, err := ServeTLS(addr, cfg)
		if err != nil {
			return err
		}
		d.servers = append(d.servers, s)
		e.Addr, e.Protocol = addr, "tls"
		if len(cfg.Certificates) > 0 && e.LeafSPKI == "" && e.ErrorKind == "" {
			e.LeafSPKI, e.LeafSHA256 = leafIDs(cfg.Certificates[0])
		}
		d.Expect = append(d.Expect, e)
		return nil
	}
	issue := func(l Leaf) (tls.Certificate, error) { return d.Inter.Issue(l) }
	type tlsSpec struct {
		n, port int
		leaf    Leaf
		tweak   func(*tls.Config)
		expect  Expect
	}
	now := time.Now()
	specs := []tlsSpec{
		{n: 1, port: 443, leaf: Leaf{CN: "rsa.example.test", Key: RSA2048}, expect: Expect{Note: "RSA-2048 via intermediate"}},
		{n: 2, port: 443, leaf: Leaf{CN: "ecdsa.example.test", Key: ECDSA256}, expect: Expect{Note: "ECDSA P-256"}},
		{n: 3, port: 443, leaf: Leaf{CN: "ed25519.example.test", Key: Ed25519}, expect: Expect{Note: "Ed25519"}},
		{n: 4, port: 443, leaf: Leaf{CN: "expired.example.test", Key: ECDSA256, NotBefore: now.AddDate(0, -4, 0), NotAfter: now.AddDate(0, 0, -3)}, expect: Expect{Note: "expired"}},
		{n: 5, port: 443, leaf: Leaf{CN: "self.example.test", Key: ECDSA256, SelfSigned: true}, expect: Expect{Note: "self-signed"}},
		{n: 7, port: 8443, leaf: Leaf{CN: "legacy.example.test", Key: RSA2048}, tweak: func(c *tls.Config) {
			c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS10
		}, expect: Expect{Note: "TLS 1.0 only", TLSVersion: "TLS 1.0"}},
		{n: 8, port: 8443, leaf: Leaf{CN: "negative.example.test", Key: ECDSA256, NegativeSerial: true}, expect: Expect{Note: "negative serial"}},
		{n: 9, port: 443, leaf: Leaf{CN: "weak.example.test", Key: RSA1024}, expect: Expect{Note: "RSA-1024"}},
	}
	for _, s := range specs {
		cert, err := issue(s.leaf)
		if err != nil {
			return nil, err
		}
		d.Leaves[strings.TrimSuffix(s.leaf.CN, ".example.test")] = cert
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
		if s.tweak != nil {
			s.tweak(cfg)
		}
		if err := addTLS(at(s.n, s.port), cfg, s.expect); err != nil {
			return nil, err
		}
	}

	// SNI-dependent: www.example.test gets its own certificate.
	wwwCert, err := issue(Leaf{CN: "www.example.test", DNS: []string{"www.example.test", "example.test"}, Key: ECDSA256})
	if err != nil {
		return nil, err
	}
	defCert, err := issue(Leaf{CN: "default.example.test", Key: ECDSA256})
	if err != nil {
		return nil, err
	}
	sniCfg := &tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if strings.EqualFold(h.ServerName, "www.example.test") {
			return &wwwCert, nil
		}
		return &defCert, nil
	}}
	d.Leaves["www"], d.Leaves["default"] = wwwCert, defCert
	spkiDef, shaDef := leafIDs(defCert)
	spkiWWW, shaWWW := leafIDs(wwwCert)
	if err := addTLS(at(6, 443), sniCfg, Expect{Note: "SNI-dependent, no SNI", LeafSPKI: spkiDef, LeafSHA256: shaDef}); err != nil {
		return nil, err
	}
	d.Expect = append(d.Expect, Expect{Addr: at(6, 443), Protocol: "tls", SNI: "www.example.test", LeafSPKI: spkiWWW, LeafSHA256: shaWWW, Note: "SNI-dependent, SNI www.example.test"})
	d.Names["www.example.test"] = []string{ip(6)}

	if o.V6Port > 0 {
		v6Cert, err := issue(Leaf{CN: "v6.example.test", Key: ECDSA384})
		if err != nil {
			return nil, err
		}
		if err := addTLS(net.JoinHostPort("::1", fmt.Sprint(o.V6Port)), &tls.Config{Certificates: []tls.Certificate{v6Cert}}, Expect{Note: "IPv6 ECDSA P-384"}); err != nil {
			return nil, err
		}
		if !o.NoV6SNI {
			if s, err := ServeTLS("[::1]:443", sniCfg); err == nil {
				d.servers = append(d.servers, s)
				d.Names["www.example.test"] = append(d.Names["www.example.test"], "::1")
				d.Expect = append(d.Expect, Expect{Addr: "[::1]:443", Protocol: "tls", SNI: "www.example.test", LeafSPKI: spkiWWW, LeafSHA256: shaWWW, Note: "SNI-dependent over IPv6"})
			}
		}
	}

	// STARTTLS servers, protocol-exact Go implementations.
	mailCert, err := issue(Leaf{CN: "mail.example.test", DNS: []string{"mail.example.test", "imap.example.test"}, Key: RSA2048})
	if err != nil {
		return nil, err
	}
	d.Leaves["mail"] = mailCert
	mailCfg := &tls.Config{Certificates: []tls.Certificate{mailCert}}
	mailSPKI, mailSHA := leafIDs(mailCert)
	for _, p := range []struct {
		proto string
		port  int
	}{{"smtp", 25}, {"imap", 143}, {"pop3", 110}, {"ftp", 21}, {"ldap", 389}, {"postgres", 5432}, {"mysql", 3306}, {"xmpp", 5222}} {
		s, err := ServeSTARTTLS(at(10, p.port), p.proto, mailCfg, STARTTLSOptions{})
		if err != nil {
			return nil, err
		}
		d.servers = append(d.servers, s)
		d.Expect = append(d.Expect, Expect{Addr: at(10, p.port), Protocol: p.proto, LeafSPKI: mailSPKI, LeafSHA256: mailSHA, Note: p.proto + " STARTTLS"})
	}
	s, err := ServeSTARTTLS(at(11, 25), "smtp", mailCfg, STARTTLSOptions{NoTLS: true})
	if err != nil {
		return nil, err
	}
	d.servers = append(d.servers, s)
	d.Expect = append(d.Expect, Expect{Addr: at(11, 25), Protocol: "smtp", ErrorKind: "starttls", Note: "SMTP without STARTTLS"})

	// Hostile servers.
	for _, h := range []struct {
		n    int
		kind Hostile
		want string
	}{{12, Tarpit, "timeout"}, {13, Garbage, "handshake"}, {14, Reset, "reset"}, {15, SlowDrip, "timeout"}, {17, CloseEarly, "handshake"}} {
		s, err := ServeHostile(at(h.n, 443), h.kind)
		if err != nil {
			return nil, err
		}
		d.servers = append(d.servers, s)
		d.Expect = append(d.Expect, Expect{Addr: at(h.n, 443), Protocol: "tls", ErrorKind: h.want, Note: "hostile: " + string(h.kind)})
	}
	huge, err := HugeChain(d.Inter, 24)
	if err != nil {
		return nil, err
	}
	if err := addTLS(at(16, 443), huge, Expect{Note: "huge chain (25 certificates, recorded truncated)"}); err != nil {
		return nil, err
	}

	if err := d.startValidity(o, ip, addTLS); err != nil {
		return nil, err
	}

	if o.Real {
		if err := d.startReal(ctx, o, ip, at); err != nil {
			return nil, err
		}
	}
	sort.Slice(d.Expect, func(i, j int) bool { return d.Expect[i].Addr+d.Expect[i].SNI < d.Expect[j].Addr+d.Expect[j].SNI })
	return d, nil
}

func (d *Demo) startReal(ctx context.Context, o DemoOptions, ip func(int) string, at func(int, int) string) error {
	if o.Dir == "" {
		return errors.New("estate: real servers need a state directory")
	}
	cert, err := d.Inter.Issue(Leaf{CN: "mail.example.test", DNS: []string{"mail.example.test", "imap.example.test"}, Key: ECDSA256})
	if err != nil {
		return err
	}
	d.Leaves["postfix"] = cert
	chain := PEMChain(cert.Certificate)
	key, err := PEMKey(cert.PrivateKey)
	if err != nil {
		return err
	}
	spki, sha := leafIDs(cert)
	pf, err := StartPostfix(ctx, filepath.Join(o.Dir, "postfix"), at(20, 25), chain, key)
	if err != nil {
		return err
	}
	d.processes = append(d.processes, pf)
	d.Expect = append(d.Expect, Expect{Addr: at(20, 25), Protocol: "smtp", LeafSPKI: spki, LeafSHA256: sha, Note: "Postfix STARTTLS"})
	dv, err := StartDovecot(ctx, filepath.Join(o.Dir, "dovecot"), at(21, 143), at(21, 110), chain, key)
	if err != nil {
		return err
	}
	d.processes = append(d.processes, dv)
	d.Expect = append(d.Expect,
		Expect{Addr: at(21, 143), Protocol: "imap", LeafSPKI: spki, LeafSHA256: sha, Note: "Dovecot IMAP STARTTLS"},
		Expect{Addr: at(21, 110), Protocol: "pop3", LeafSPKI: spki, LeafSHA256: sha, Note: "Dovecot POP3 STARTTLS"})
	d.Names["mail.example.test"] = []string{ip(20)}
	d.Names["imap.example.test"] = []string{ip(21)}
	d.Zone = d.ZoneFile()
	dnsDir := filepath.Join(o.Dir, "knot")
	if err := os.MkdirAll(dnsDir, 0o755); err != nil {
		return err
	}
	kn, err := StartKnot(ctx, dnsDir, o.DNSAddr, map[string]string{"example.test": d.Zone})
	if err != nil {
		return err
	}
	d.processes = append(d.processes, kn)
	return nil
}

// DemoCAAIdentifier is the CAA issuer-domain-name of the demo CA.
const DemoCAAIdentifier = "demo-ca.example.test"

// ZoneFile is the example.test zone for the demo names.
func (d *Demo) ZoneFile() string {
	host, _, _ := net.SplitHostPort(d.DNSAddr)
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN example.test.\n$TTL 60\n@ SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 60\n@ NS ns\nns A %s\n", host)
	// CAA: the demo CA for the zone; legacy.example.test only lets
	// Let's Encrypt issue, so its demo-CA certificate breaks CAA.
	b.WriteString("@ CAA 0 issue \"" + DemoCAAIdentifier + "\"\n@ CAA 0 iodef \"mailto:security@example.test\"\nlegacy CAA 0 issue \"letsencrypt.org\"\nlegacy A " + d.Net + ".7\n")
	names := make([]string, 0, len(d.Names))
	for n := range d.Names {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		label := strings.TrimSuffix(n, ".example.test")
		for _, a := range d.Names[n] {
			typ := "A"
			if strings.Contains(a, ":") {
				typ = "AAAA"
			}
			fmt.Fprintf(&b, "%s %s %s\n", label, typ, a)
		}
	}
	return b.String()
}

// StopServer stops the estate's Go server listening on addr (ip:port), as
// an operator retiring a service would.
func (d *Demo) StopServer(addr string) error {
	for i, s := range d.servers {
		if s.Addr == addr {
			d.servers = append(d.servers[:i], d.servers[i+1:]...)
			return s.Close()
		}
	}
	return fmt.Errorf("estate: no server on %s", addr)
}

// ReplaceLeaf stops the server on addr and serves there a new leaf,
// with a new key, issued by the estate's intermediate, as after a
// re-keying. It returns the new leaf's SPKI and certificate SHA-256.
func (d *Demo) ReplaceLeaf(addr string, l Leaf) (spki, sha string, err error) {
	if err := d.StopServer(addr); err != nil {
		return "", "", err
	}
	cert, err := d.Inter.Issue(l)
	if err != nil {
		return "", "", err
	}
	s, err := ServeTLS(addr, &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		return "", "", err
	}
	d.servers = append(d.servers, s)
	spki, sha = leafIDs(cert)
	return spki, sha, nil
}
