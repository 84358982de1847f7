package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/keyaudit/keyaudit/internal/estate"
)

// The farm's endpoints. Endpoint g (a global index, so several farm
// processes can serve disjoint parts of one big farm) listens on
// 127.0.(liveNet + a/250).(1 + a%250), a = g/len(farmPorts), port
// farmPorts[g%len(farmPorts)]; tarpits use the same layout from
// tarpitNet. Every address is loopback.
const (
	liveNet   = 10
	tarpitNet = 240
	hostsPer  = 250
)

var farmPorts = []uint16{443, 8443, 4443, 9443}

// maxLive and maxTarpits keep the two ranges apart inside 127.0.0.0/16.
var (
	maxLive    = (tarpitNet - liveNet) * hostsPer * len(farmPorts)
	maxTarpits = (255 - tarpitNet) * hostsPer * len(farmPorts)
)

func endpointAddr(net, g int) string {
	a := g / len(farmPorts)
	ip := netip.AddrFrom4([4]byte{127, 0, byte(net + a/hostsPer), byte(1 + a%hostsPer)})
	return netip.AddrPortFrom(ip, farmPorts[g%len(farmPorts)]).String()
}

// Leaf key types of the farm and their share of endpoints, in percent.
var leafMix = []struct {
	name   string
	weight int
}{
	{"rsa2048", 40}, {"rsa3072", 10}, {"rsa4096", 5},
	{"p256", 30}, {"p384", 10}, {"ed25519", 5},
}

// Chain lengths served (leaf; leaf + intermediate; leaf + 2
// intermediates) and their share, in percent.
var chainMix = []struct {
	length int
	weight int
}{{1, 15}, {2, 60}, {3, 25}}

// tls12Percent of endpoints stop at TLS 1.2; the others also offer 1.3.
const tls12Percent = 30

// keyPool is how many distinct keys of each type leaves draw from:
// generating 2,000 RSA-4096 keys would take longer than the benchmark.
// Every leaf certificate is still its own (serial, name, signature).
var keyPool = map[string]int{"rsa2048": 16, "rsa3072": 4, "rsa4096": 4, "p256": 16, "p384": 8, "ed25519": 16}

// The farm's PKI: two roots, single-level issuing CAs (leaf +
// intermediate chains) and two-level ones (leaf + issuing + policy CA).
// Intermediates are shared by many endpoints, as in real life.
var caPlan = []struct{ id, cn, key, parent string }{
	{"root-r1", "keyaudit bench Root R1", "rsa4096", ""},
	{"root-e1", "keyaudit bench Root E1", "p384", ""},
	{"rsa-ca-1", "keyaudit bench RSA CA 1", "rsa2048", "root-r1"},
	{"rsa-ca-2", "keyaudit bench RSA CA 2", "rsa2048", "root-r1"},
	{"ecc-ca-1", "keyaudit bench ECC CA 1", "p384", "root-e1"},
	{"rsa-policy", "keyaudit bench RSA Policy CA", "rsa3072", "root-r1"},
	{"rsa-ca-3", "keyaudit bench RSA CA 3", "rsa2048", "rsa-policy"},
	{"ecc-policy", "keyaudit bench ECC Policy CA", "p384", "root-e1"},
	{"ecc-ca-4", "keyaudit bench ECC CA 4", "p256", "ecc-policy"},
}

var (
	singleIssuers = []string{"rsa-ca-1", "rsa-ca-2", "ecc-ca-1"}
	doubleIssuers = []string{"rsa-ca-3", "ecc-ca-4"}
)

// endpointPlan is what endpoint g serves.
type endpointPlan struct {
	key      string
	chainLen int
	tls12    bool
	issuer   string
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// planFor derives endpoint g's leaf, chain and TLS version from g alone,
// so every farm process agrees and repeated runs serve the same mix.
func planFor(g int) endpointPlan {
	pick := func(salt uint64) int { return int(splitmix(uint64(g)*4+salt) % 100) }
	var p endpointPlan
	r := pick(1)
	for _, m := range leafMix {
		if r < m.weight {
			p.key = m.name
			break
		}
		r -= m.weight
	}
	r = pick(2)
	for _, m := range chainMix {
		if r < m.weight {
			p.chainLen = m.length
			break
		}
		r -= m.weight
	}
	p.tls12 = pick(3) < tls12Percent
	issuers := singleIssuers
	if p.chainLen == 3 {
		issuers = doubleIssuers
	}
	p.issuer = issuers[int(splitmix(uint64(g)*4+4)%uint64(len(issuers)))]
	return p
}

func newKey(kt string) (crypto.Signer, error) {
	switch kt {
	case "rsa2048":
		return rsa.GenerateKey(rand.Reader, 2048)
	case "rsa3072":
		return rsa.GenerateKey(rand.Reader, 3072)
	case "rsa4096":
		return rsa.GenerateKey(rand.Reader, 4096)
	case "p256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "p384":
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("unknown key type %q", kt)
}

// pki is the farm's CAs and leaf key pool.
type pki struct {
	cas  map[string]*estate.CA
	keys map[string][]crypto.Signer
}

// pkiFile is the pki as saved, so later farms (and later benchmark runs)
// skip the key generation.
type pkiFile struct {
	Keys map[string][][]byte `json:"keys"` // key type → PKCS#8 DER
	CAs  map[string]struct {
		Cert []byte `json:"cert"`
		Key  []byte `json:"key"`
	} `json:"cas"`
}

const pkiFileName = "bench-pki.json"

// loadOrCreatePKI reads dir/bench-pki.json, or creates and saves it.
func loadOrCreatePKI(dir string) (*pki, error) {
	path := filepath.Join(dir, pkiFileName)
	if b, err := os.ReadFile(path); err == nil {
		p, err := decodePKI(b)
		if err == nil {
			return p, nil
		}
		fmt.Fprintf(os.Stderr, "farm: %s unusable (%v); generating a new PKI\n", path, err)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var f pkiFile
	f.Keys = map[string][][]byte{}
	f.CAs = map[string]struct {
		Cert []byte `json:"cert"`
		Key  []byte `json:"key"`
	}{}
	type job struct {
		kt string
		i  int
	}
	var jobs []job
	for kt, n := range keyPool {
		f.Keys[kt] = make([][]byte, n)
		for i := range n {
			jobs = append(jobs, job{kt, i})
		}
	}
	var mu sync.Mutex
	var firstErr error
	parallel(len(jobs), func(j int) {
		k, err := newKey(jobs[j].kt)
		var der []byte
		if err == nil {
			der, err = x509.MarshalPKCS8PrivateKey(k)
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			firstErr = err
			return
		}
		f.Keys[jobs[j].kt][jobs[j].i] = der
	})
	if firstErr != nil {
		return nil, firstErr
	}
	certs := map[string]*x509.Certificate{}
	keys := map[string]crypto.Signer{}
	for _, c := range caPlan {
		k, err := newKey(c.key)
		if err != nil {
			return nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(time.Now().UnixNano()),
			Subject:               pkix.Name{CommonName: c.cn, Organization: []string{"keyaudit bench"}},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().AddDate(10, 0, 0),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
		parent, signer := tmpl, k
		if c.parent != "" {
			parent, signer = certs[c.parent], keys[c.parent]
			tmpl.MaxPathLen = 0
			tmpl.MaxPathLenZero = true
			if strings.HasSuffix(c.id, "-policy") {
				tmpl.MaxPathLen, tmpl.MaxPathLenZero = 1, false
			}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, k.Public(), signer)
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", c.id, err)
		}
		cert, _ := x509.ParseCertificate(der)
		certs[c.id], keys[c.id] = cert, k
		kder, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		f.CAs[c.id] = struct {
			Cert []byte `json:"cert"`
			Key  []byte `json:"key"`
		}{der, kder}
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	return decodePKI(b)
}

func decodePKI(b []byte) (*pki, error) {
	var f pkiFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	p := &pki{cas: map[string]*estate.CA{}, keys: map[string][]crypto.Signer{}}
	for kt, n := range keyPool {
		if len(f.Keys[kt]) < n {
			return nil, fmt.Errorf("%d %s keys, want %d", len(f.Keys[kt]), kt, n)
		}
		for _, der := range f.Keys[kt] {
			k, err := x509.ParsePKCS8PrivateKey(der)
			if err != nil {
				return nil, err
			}
			p.keys[kt] = append(p.keys[kt], k.(crypto.Signer))
		}
	}
	for _, c := range caPlan { // parents come first in caPlan
		saved, ok := f.CAs[c.id]
		if !ok {
			return nil, fmt.Errorf("no CA %s", c.id)
		}
		cert, err := x509.ParseCertificate(saved.Cert)
		if err != nil {
			return nil, err
		}
		k, err := x509.ParsePKCS8PrivateKey(saved.Key)
		if err != nil {
			return nil, err
		}
		if time.Until(cert.NotAfter) < 180*24*time.Hour {
			return nil, fmt.Errorf("CA %s expires %s", c.id, cert.NotAfter)
		}
		ca := &estate.CA{Cert: cert, Key: k.(crypto.Signer)}
		if c.parent != "" {
			ca.Chain = append([][]byte{cert.Raw}, p.cas[c.parent].Chain...)
		}
		p.cas[c.id] = ca
	}
	return p, nil
}

// parallel runs f(0..n-1) on GOMAXPROCS goroutines.
func parallel(n int, f func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// farmSummary is what a farm reports once it serves.
type farmSummary struct {
	Live      int            `json:"live"`
	Tarpits   int            `json:"tarpits"`
	Keys      map[string]int `json:"keys"`
	Chains    map[int]int    `json:"chains"`
	TLS12Only int            `json:"tls12_only"`
	Issued    float64        `json:"issue_seconds"`
}

func farmCmd(args []string) error {
	fs := flag.NewFlagSet("farm", flag.ExitOnError)
	n := fs.Int("endpoints", 2000, "live TLS endpoints")
	offset := fs.Int("offset", 0, "global index of the first endpoint (several farms serve disjoint parts)")
	tarpits := fs.Int("tarpits", 0, "endpoints that accept TCP and never answer")
	out := fs.String("out", "", "write the live endpoints here, one ip:port a line")
	tarpitOut := fs.String("tarpit-out", "", "write the tarpit endpoints here")
	pkiDir := fs.String("pki", "", "folder holding the farm's PKI (created once; default: a temp folder)")
	fs.Parse(args)
	if *n < 0 || *offset < 0 || *offset+*n > maxLive || *tarpits < 0 || *tarpits > maxTarpits {
		return fmt.Errorf("farm: %d+%d live endpoints (max %d), %d tarpits (max %d)", *offset, *n, maxLive, *tarpits, maxTarpits)
	}
	dir := *pkiDir
	if dir == "" {
		d, err := os.MkdirTemp("", "keyaudit-bench-pki")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	p, err := loadOrCreatePKI(dir)
	if err != nil {
		return fmt.Errorf("farm: pki: %w", err)
	}

	sum := farmSummary{Live: *n, Tarpits: *tarpits, Keys: map[string]int{}, Chains: map[int]int{}}
	t0 := time.Now()
	cfgs := make([]*tls.Config, *n)
	errs := make([]error, *n)
	parallel(*n, func(i int) {
		g := *offset + i
		pl := planFor(g)
		keys := p.keys[pl.key]
		cert, err := p.cas[pl.issuer].Issue(estate.Leaf{
			CN:     fmt.Sprintf("ep%06d.bench.example", g),
			Signer: keys[g%len(keys)],
		})
		if err != nil {
			errs[i] = err
			return
		}
		cert.Certificate = cert.Certificate[:pl.chainLen]
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
		if pl.tls12 {
			cfg.MaxVersion = tls.VersionTLS12
		}
		cfgs[i] = cfg
	})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("farm: issue: %w", err)
	}
	sum.Issued = time.Since(t0).Seconds()

	var servers []*estate.Server
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()
	var live, tar []string
	for i, cfg := range cfgs {
		g := *offset + i
		pl := planFor(g)
		sum.Keys[pl.key]++
		sum.Chains[pl.chainLen]++
		if pl.tls12 {
			sum.TLS12Only++
		}
		s, err := estate.ServeTLS(endpointAddr(liveNet, g), cfg)
		if err != nil {
			return fmt.Errorf("farm: %w", err)
		}
		servers = append(servers, s)
		live = append(live, s.Addr)
	}
	for t := range *tarpits {
		s, err := estate.ServeHostile(endpointAddr(tarpitNet, t), estate.Tarpit)
		if err != nil {
			return fmt.Errorf("farm: %w", err)
		}
		servers = append(servers, s)
		tar = append(tar, s.Addr)
	}
	for _, w := range []struct {
		path  string
		addrs []string
	}{{*out, live}, {*tarpitOut, tar}} {
		if w.path == "" {
			continue
		}
		if err := os.WriteFile(w.path, []byte(strings.Join(w.addrs, "\n")+"\n"), 0o644); err != nil {
			return err
		}
	}
	b, _ := json.Marshal(sum)
	fmt.Printf("ready %s\n", b)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return nil
}

// describeMix renders a farm summary for the report.
func describeMix(s farmSummary) string {
	total := 0
	for _, c := range s.Keys {
		total += c
	}
	if total == 0 {
		return "no live endpoints"
	}
	pct := func(c int) string { return fmt.Sprintf("%.0f%%", 100*float64(c)/float64(total)) }
	var keys []string
	for _, m := range leafMix {
		keys = append(keys, fmt.Sprintf("%s %s", m.name, pct(s.Keys[m.name])))
	}
	var chains []int
	for l := range s.Chains {
		chains = append(chains, l)
	}
	sort.Ints(chains)
	var cs []string
	for _, l := range chains {
		cs = append(cs, fmt.Sprintf("%d cert %s", l, pct(s.Chains[l])))
	}
	return fmt.Sprintf("leaf keys: %s; chains: %s; TLS 1.2 max: %s, TLS 1.3 offered: %s",
		strings.Join(keys, ", "), strings.Join(cs, ", "), pct(s.TLS12Only), pct(total-s.TLS12Only))
}
