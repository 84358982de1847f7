package reports

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/scanner"
	"github.com/keyaudit/keyaudit/store/records"
)

// cbomDoc is the part of a CBOM the graph checks read.
type cbomDoc struct {
	Components []struct {
		Ref    string              `json:"bom-ref"`
		Name   string              `json:"name"`
		Props  []map[string]string `json:"properties"`
		Crypto struct {
			AssetType string `json:"assetType"`
			OID       string `json:"oid"`
			Cert      *struct {
				SignatureAlgorithmRef string `json:"signatureAlgorithmRef"`
				SubjectPublicKeyRef   string `json:"subjectPublicKeyRef"`
			} `json:"certificateProperties"`
			Material *struct {
				Type string `json:"type"`
			} `json:"relatedCryptoMaterialProperties"`
			Protocol *struct {
				Type         string `json:"type"`
				Version      string `json:"version"`
				CipherSuites []struct {
					Name        string   `json:"name"`
					Algorithms  []string `json:"algorithms"`
					Identifiers []string `json:"identifiers"`
				} `json:"cipherSuites"`
				CryptoRefArray []string `json:"cryptoRefArray"`
			} `json:"protocolProperties"`
		} `json:"cryptoProperties"`
	} `json:"components"`
	Services []struct {
		Ref       string   `json:"bom-ref"`
		Name      string   `json:"name"`
		Endpoints []string `json:"endpoints"`
	} `json:"services"`
	Dependencies []struct {
		Ref       string   `json:"ref"`
		DependsOn []string `json:"dependsOn"`
	} `json:"dependencies"`
}

var suiteByte = regexp.MustCompile(`^0x[0-9A-F]{2}$`)

// checkCBOMGraph checks the dependency graph of a CBOM: every reference
// resolves; every component and service is listed once; every
// certificate depends on its public key (and signature algorithm); every
// protocol is TLS with a version and cipher suites with identifiers and
// depends on the certificates it names; every service depends on a
// protocol. It returns the document and its dependencies by ref.
func checkCBOMGraph(t *testing.T, out []byte) (cbomDoc, map[string][]string) {
	t.Helper()
	var bom cbomDoc
	if err := json.Unmarshal(out, &bom); err != nil {
		t.Fatal(err)
	}
	kind := map[string]string{}
	for _, c := range bom.Components {
		if kind[c.Ref] != "" {
			t.Errorf("bom-ref %s repeated", c.Ref)
		}
		kind[c.Ref] = c.Crypto.AssetType
		if c.Crypto.Material != nil {
			kind[c.Ref] += "/" + c.Crypto.Material.Type
		}
	}
	for _, s := range bom.Services {
		if kind[s.Ref] != "" {
			t.Errorf("bom-ref %s repeated", s.Ref)
		}
		kind[s.Ref] = "service"
	}
	deps := map[string][]string{}
	for _, d := range bom.Dependencies {
		if kind[d.Ref] == "" {
			t.Errorf("dependency of %q, which is no component or service", d.Ref)
		}
		if _, dup := deps[d.Ref]; dup {
			t.Errorf("%s listed twice in dependencies", d.Ref)
		}
		deps[d.Ref] = d.DependsOn
		for _, on := range d.DependsOn {
			if kind[on] == "" {
				t.Errorf("%s dependsOn %q, which is no component or service", d.Ref, on)
			}
		}
	}
	for ref := range kind {
		if _, ok := deps[ref]; !ok {
			t.Errorf("%s is missing from the dependency graph", ref)
		}
	}
	for _, c := range bom.Components {
		on := deps[c.Ref]
		switch c.Crypto.AssetType {
		case "certificate":
			cp := c.Crypto.Cert
			if !slices.ContainsFunc(on, func(r string) bool { return kind[r] == "related-crypto-material/public-key" }) {
				t.Errorf("certificate %s depends on no public key: %v", c.Name, on)
			}
			if cp.SubjectPublicKeyRef != "" && !slices.Contains(on, cp.SubjectPublicKeyRef) {
				t.Errorf("certificate %s does not depend on its subjectPublicKeyRef", c.Name)
			}
			if cp.SignatureAlgorithmRef != "" && !slices.Contains(on, cp.SignatureAlgorithmRef) {
				t.Errorf("certificate %s does not depend on its signatureAlgorithmRef", c.Name)
			}
		case "protocol":
			pp := c.Crypto.Protocol
			if pp == nil || pp.Type != "tls" || pp.Version == "" || len(pp.CipherSuites) == 0 {
				t.Errorf("protocol %s: %+v", c.Ref, pp)
				continue
			}
			for _, cs := range pp.CipherSuites {
				if cs.Name == "" || len(cs.Identifiers) != 2 || !suiteByte.MatchString(cs.Identifiers[0]) || !suiteByte.MatchString(cs.Identifiers[1]) {
					t.Errorf("protocol %s: cipher suite %+v lacks a name or its two-byte identifier", c.Ref, cs)
				}
				for _, a := range cs.Algorithms {
					if kind[a] != "algorithm" || !slices.Contains(on, a) {
						t.Errorf("protocol %s: suite algorithm %s is no algorithm it depends on", c.Ref, a)
					}
				}
			}
			certs := 0
			for _, r := range pp.CryptoRefArray {
				if !slices.Contains(on, r) {
					t.Errorf("protocol %s names %s but does not depend on it", c.Ref, r)
				}
				if kind[r] == "certificate" {
					certs++
				}
			}
			if certs == 0 {
				t.Errorf("protocol %s depends on no certificate", c.Ref)
			}
		}
	}
	for _, s := range bom.Services {
		if len(deps[s.Ref]) != 1 || kind[deps[s.Ref][0]] != "protocol" {
			t.Errorf("service %s: depends on %v, want one protocol", s.Ref, deps[s.Ref])
		}
		if len(s.Endpoints) != 1 {
			t.Errorf("service %s: endpoints %v", s.Ref, s.Endpoints)
		}
	}
	return bom, deps
}

// TestCBOMGraph checks the fixture's protocols, OIDs and dependency
// graph: the endpoint that timed out has no protocol, the four that
// answered have one each with the suite they negotiated.
func TestCBOMGraph(t *testing.T) {
	bom, deps := checkCBOMGraph(t, render(t, FormatCBOM, fixtureReport(), Options{}))

	type proto struct{ version, suite, id, group string }
	got := map[string]proto{}
	for _, c := range bom.Components {
		if c.Crypto.AssetType != "protocol" {
			continue
		}
		pp := c.Crypto.Protocol
		p := proto{version: pp.Version, suite: pp.CipherSuites[0].Name, id: strings.Join(pp.CipherSuites[0].Identifiers, ",")}
		for _, a := range pp.CipherSuites[0].Algorithms {
			if strings.Contains(a, "x25519") {
				p.group = strings.TrimPrefix(a, "crypto/algorithm/")
			}
		}
		var ep string
		for _, pr := range c.Props {
			if pr["name"] == "keyaudit:endpoint" {
				ep = pr["value"]
			}
		}
		got[ep] = p
	}
	want := map[string]proto{
		"tls://www.example.test:443 (127.0.1.1)":     {"1.3", "TLS_AES_128_GCM_SHA256", "0x13,0x01", "x25519mlkem768"},
		"smtp://mail.example.test:25 (127.0.1.20)":   {"1.2", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "0xC0,0x2C", "x25519"},
		"tls://legacy.example.test:8443 (127.0.1.7)": {"1.0", "TLS_RSA_WITH_AES_128_CBC_SHA", "0x00,0x2F", ""},
		"tls://api.example.test:443 (::1)":           {"1.3", "TLS_AES_256_GCM_SHA384", "0x13,0x02", "x25519mlkem768"},
	}
	if len(got) != len(want) || len(bom.Services) != len(want) {
		t.Errorf("%d protocols, %d services; want %d of each: %v", len(got), len(bom.Services), len(want), got)
	}
	for ep, w := range want {
		if got[ep] != w {
			t.Errorf("protocol of %s: %+v, want %+v", ep, got[ep], w)
		}
	}

	oids := map[string]string{}
	for _, c := range bom.Components {
		if c.Crypto.AssetType == "algorithm" {
			oids[c.Name] = c.Crypto.OID
		}
	}
	for name, oid := range map[string]string{
		"RSA-2048": "1.2.840.113549.1.1.1", "ECDSA P-256": "1.2.840.10045.2.1", "Ed25519": "1.3.101.112",
		"SHA384-RSA": "1.2.840.113549.1.1.12", "SHA1-RSA": "1.2.840.113549.1.1.5", "ECDSA-SHA384": "1.2.840.10045.4.3.3",
		"SHA-384": "2.16.840.1.101.3.4.2.2", "AES-128-GCM": "2.16.840.1.101.3.4.1.6", "AES-256-GCM": "2.16.840.1.101.3.4.1.46",
		"HMAC-SHA1": "1.2.840.113549.2.7", "X25519": "1.3.101.110", "ML-KEM-768": "2.16.840.1.101.3.4.4.2",
	} {
		if oids[name] != oid {
			t.Errorf("algorithm %s: oid %q, want %s", name, oids[name], oid)
		}
	}
	for ref, want := range map[string][]string{
		"crypto/algorithm/x25519mlkem768": {"crypto/algorithm/ml-kem-768", "crypto/algorithm/x25519"},
		"crypto/algorithm/sha384-rsa":     {"crypto/algorithm/rsa", "crypto/algorithm/sha-384"},
		"crypto/algorithm/ecdsa-sha384":   {"crypto/algorithm/ecdsa", "crypto/algorithm/sha-384"},
	} {
		if !slices.Equal(deps[ref], want) {
			t.Errorf("%s depends on %v, want %v", ref, deps[ref], want)
		}
	}
	// An inventory private key depends on its algorithm and public key.
	for _, c := range bom.Components {
		if c.Crypto.Material != nil && c.Crypto.Material.Type == "private-key" && len(deps[c.Ref]) != 2 {
			t.Errorf("private key %s depends on %v, want its algorithm and public key", c.Name, deps[c.Ref])
		}
	}
}

func TestCipherSuiteIdentifiers(t *testing.T) {
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if id, ok := suiteID(s.Name); !ok || id != s.ID {
			t.Errorf("suiteID(%s) = %#04x %v, want %#04x", s.Name, id, ok, s.ID)
		}
		if len(suiteAlgorithms(s.Name)) < 2 {
			t.Errorf("%s: algorithms %v", s.Name, suiteAlgorithms(s.Name))
		}
	}
	for name, want := range map[string]uint16{
		"TLS_DHE_RSA_WITH_AES_128_GCM_SHA256": 0x009e, // zcrypto only
		"TLS_RSA_WITH_RC4_128_MD5":            0x0004,
		"0x1304":                              0x1304, // crypto/tls's name of a suite it does not know
	} {
		if id, ok := suiteID(name); !ok || id != want {
			t.Errorf("suiteID(%s) = %#04x %v, want %#04x", name, id, ok, want)
		}
	}
	if _, ok := suiteID("unknown"); ok {
		t.Error("suiteID(unknown) found an identifier")
	}
	names := func(specs []algSpec) []string {
		var out []string
		for _, s := range specs {
			out = append(out, s.name)
		}
		return out
	}
	for suite, want := range map[string][]string{
		"TLS_AES_128_GCM_SHA256":                        {"AES-128-GCM", "SHA-256"},
		"TLS_CHACHA20_POLY1305_SHA256":                  {"ChaCha20-Poly1305", "SHA-256"},
		"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256":         {"ECDHE", "RSA", "AES-128-CBC", "HMAC-SHA256"},
		"TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA":             {"DHE", "DSA", "3DES-EDE-CBC", "HMAC-SHA1"},
		"TLS_RSA_WITH_AES_256_GCM_SHA384":               {"RSA", "AES-256-GCM", "SHA-384"},
		"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": {"ECDHE", "ECDSA", "ChaCha20-Poly1305", "SHA-256"},
		"TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8":            {"ECDHE", "ECDSA", "AES-128-CCM-8"},
		"TLS_RSA_WITH_NULL_SHA":                         {"RSA", "HMAC-SHA1"},
	} {
		if got := names(suiteAlgorithms(suite)); !slices.Equal(got, want) {
			t.Errorf("suiteAlgorithms(%s) = %v, want %v", suite, got, want)
		}
	}
}

// TestCBOMScannedEndpoints scans two TLS servers on loopback (TLS 1.3
// with Go's default hybrid group, TLS 1.2 with an ECDHE suite) with
// keyaudit's scanner and checks the protocols of the CBOM built from
// what it observed.
func TestCBOMScannedEndpoints(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "cbom.example.test"}, DNSNames: []string{"cbom.example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	serve := func(cfg *tls.Config) string {
		cfg.Certificates = []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}
		ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
		if err != nil {
			t.Fatal(err)
		}
		testlab.MustLoopback(t, ln.Addr().String())
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					_ = c.SetDeadline(time.Now().Add(5 * time.Second))
					_ = c.(*tls.Conn).Handshake()
					c.Close()
				}()
			}
		}()
		return ln.Addr().String()
	}
	v13 := serve(&tls.Config{MinVersion: tls.VersionTLS13})
	v12 := serve(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		CurvePreferences: []tls.CurveID{tls.CurveP256}})

	// IP targets resolve nothing; the resolver is loopback all the same.
	sc, err := scanner.New(scanner.Config{Resolvers: []string{"127.0.0.1:53"}, Timeout: 5 * time.Second, Concurrency: 2, Protocol: "tls"})
	if err != nil {
		t.Fatal(err)
	}
	var specs []scanner.Spec
	for _, a := range []string{v13, v12} {
		sp, err := scanner.ParseSpec(a)
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, sp)
	}
	var mu sync.Mutex
	var obs []records.Observation
	if _, err := sc.Scan(context.Background(), slices.Values(specs), func(o scanner.Observation) error {
		mu.Lock()
		defer mu.Unlock()
		obs = append(obs, o)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, o := range obs {
		if o.Error != nil {
			t.Fatalf("scan of %s: %v", o.Target, o.Error)
		}
	}
	out := render(t, FormatCBOM, &Report{GeneratedAt: time.Now().UTC(), Observations: obs}, Options{})
	validate(t, cdxSchema(t), out)
	bom, deps := checkCBOMGraph(t, out)

	got := map[string]string{}
	for _, c := range bom.Components {
		if pp := c.Crypto.Protocol; pp != nil {
			cs := pp.CipherSuites[0]
			got[pp.Version] = fmt.Sprintf("%s %s %v", cs.Name, strings.Join(cs.Identifiers, ","), cs.Algorithms)
		}
	}
	want := map[string]string{
		"1.3": "TLS_AES_128_GCM_SHA256 0x13,0x01 [crypto/algorithm/aes-128-gcm crypto/algorithm/sha-256 crypto/algorithm/x25519mlkem768]",
		"1.2": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 0xC0,0x2B [crypto/algorithm/ecdhe crypto/algorithm/ecdsa crypto/algorithm/aes-128-gcm crypto/algorithm/sha-256 crypto/algorithm/secp256r1]",
	}
	if len(got) != 2 || got["1.3"] != want["1.3"] || got["1.2"] != want["1.2"] {
		t.Errorf("protocols:\n got %v\nwant %v", got, want)
	}
	// endpoint → protocol → certificate → public key → ECDSA P-256.
	if len(bom.Services) != 2 {
		t.Fatalf("%d services, want 2", len(bom.Services))
	}
	for _, s := range bom.Services {
		proto := deps[s.Ref][0]
		var cert string
		for _, r := range deps[proto] {
			if strings.HasPrefix(r, "crypto/certificate/") {
				cert = r
			}
		}
		var pub string
		for _, r := range deps[cert] {
			if strings.HasPrefix(r, "crypto/public-key/") {
				pub = r
			}
		}
		if pub == "" || !slices.Equal(deps[pub], []string{"crypto/algorithm/ecdsa-p-256"}) {
			t.Errorf("%s: chain %s → %s → %s → %v", s.Ref, proto, cert, pub, deps[pub])
		}
	}
}

// TestCBOMDemoEstate scans the demo estate's Go servers (RSA, ECDSA,
// Ed25519, chains, STARTTLS, pinned old versions) and checks that every
// endpoint that answered is a protocol in the CBOM, with its cipher
// suite's identifiers, and that the graph holds.
func TestCBOMDemoEstate(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: the demo estate")
	}
	// This package's own /27 and DNS address (no DNS server runs: every
	// target is an address; the resolver is loopback all the same).
	const lab, dns = "127.0.41", "127.0.42.53:53"
	d := testlab.Demo(t, lab, dns, -1, false)
	var specs []scanner.Spec
	answering := 0
	for _, e := range d.Expect {
		testlab.MustLoopback(t, e.Addr)
		s := e.Protocol + "://" + e.Addr
		if e.SNI != "" {
			s += ", " + e.SNI
		}
		sp, err := scanner.ParseSpec(s)
		if err != nil {
			t.Fatalf("ParseSpec(%q): %v", s, err)
		}
		specs = append(specs, sp)
		if e.ErrorKind == "" {
			answering++
		}
	}
	sc, err := scanner.New(scanner.Config{Resolvers: []string{dns}, Timeout: 3 * time.Second, Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var obs []records.Observation
	if _, err := sc.Scan(context.Background(), slices.Values(specs), func(o scanner.Observation) error {
		mu.Lock()
		defer mu.Unlock()
		obs = append(obs, o)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	out := render(t, FormatCBOM, &Report{GeneratedAt: time.Now().UTC(), Observations: obs}, Options{})
	validate(t, cdxSchema(t), out)
	bom, _ := checkCBOMGraph(t, out)
	protocols, versions := 0, map[string]bool{}
	for _, c := range bom.Components {
		if pp := c.Crypto.Protocol; pp != nil {
			protocols++
			versions[pp.Version] = true
		}
	}
	if answering < 5 || protocols != answering || len(bom.Services) != answering {
		t.Errorf("%d endpoints answered, %d protocols, %d services", answering, protocols, len(bom.Services))
	}
	t.Logf("%d protocols, versions %v", protocols, slices.Sorted(maps.Keys(versions)))
}
