package validity

import (
	"context"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/keyaudit/keyaudit/store/records"
)

// maxBundleBytes caps a trust bundle file.
const maxBundleBytes = 16 << 20

// Cache keeps answers across runs (the stage keeps them in the store).
// Get returns nil, nil for a key it does not hold.
type Cache interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, value []byte) error
}

// MemCache is a Cache in memory, for runs without a store.
type MemCache struct {
	mu sync.Mutex
	m  map[string][]byte
}

// Get implements Cache.
func (c *MemCache) Get(_ context.Context, key string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[key], nil
}

// Put implements Cache.
func (c *MemCache) Put(_ context.Context, key string, v []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string][]byte{}
	}
	c.m[key] = v
	return nil
}

// Config configures a Checker.
type Config struct {
	// Roots are the trust anchors; nil: the system roots plus Anchors.
	Roots *x509.CertPool
	// Anchors are private trust anchors added to the roots (config
	// trust.bundles, --trust-bundle).
	Anchors []*x509.Certificate
	Fetch   FetchConfig
	// NoRevocation skips OCSP and CRL fetches (staples are still read).
	NoRevocation bool
	// ACME maps issuers to ACME directories asked for renewalInfo (RFC
	// 9773, config acme.directories).
	ACME []ACMEDirectory
	// Cache keeps OCSP answers and CRLs until their nextUpdate (nil: in
	// memory for this Checker).
	Cache  Cache
	Now    func() time.Time
	Logger *slog.Logger
}

// Checker checks served chains.
type Checker struct {
	roots *x509.CertPool
	fetch *Fetcher
	cache Cache
	now   func() time.Time
	log   *slog.Logger
	cfg   Config

	// chains memoises chain building by the served chain: endpoints that
	// serve the same chain are judged (and fetched for) once.
	mu     sync.Mutex
	chains map[string]chainResult
	// ariBase holds each ACME directory's renewalInfo URL.
	ariBase map[string]string
	// issuers memoises caIssuers fetches for CheckCert, by the URLs.
	issuers map[string]issuerFetch
}

// chainOnce is checkChain, once per distinct served chain.
func (c *Checker) chainOnce(ctx context.Context, served []*x509.Certificate, now time.Time) chainResult {
	key := ""
	for _, s := range served {
		key += certSHA(s)
	}
	c.mu.Lock()
	r, ok := c.chains[key]
	c.mu.Unlock()
	if ok {
		return r
	}
	r = c.checkChain(ctx, served, now)
	c.mu.Lock()
	if c.chains == nil {
		c.chains = map[string]chainResult{}
	}
	c.chains[key] = r
	c.mu.Unlock()
	return r
}

// New validates cfg and returns a Checker.
func New(cfg Config) (*Checker, error) {
	c := &Checker{cfg: cfg, cache: cfg.Cache, now: cfg.Now, log: cfg.Logger, roots: cfg.Roots}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.cache == nil {
		c.cache = &MemCache{}
	}
	if c.roots == nil {
		sys, err := x509.SystemCertPool()
		if err != nil || sys == nil {
			sys = x509.NewCertPool()
		}
		c.roots = sys
	}
	for _, a := range cfg.Anchors {
		c.roots.AddCert(a)
	}
	for _, d := range cfg.ACME {
		if err := d.Check(); err != nil {
			return nil, fmt.Errorf("validity: %w", err)
		}
	}
	cfg.Fetch.Logger = c.log
	f, err := NewFetcher(cfg.Fetch)
	if err != nil {
		return nil, fmt.Errorf("validity: %w", err)
	}
	c.fetch = f
	return c, nil
}

// LoadBundles reads PEM trust bundles (private trust anchors).
func LoadBundles(paths []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("trust bundle: %w", err)
		}
		b, err := io.ReadAll(io.LimitReader(f, maxBundleBytes+1))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("trust bundle %s: %w", p, err)
		}
		if len(b) > maxBundleBytes {
			return nil, fmt.Errorf("trust bundle %s: larger than %d bytes", p, maxBundleBytes)
		}
		found := 0
		for {
			var blk *pem.Block
			blk, b = pem.Decode(b)
			if blk == nil {
				break
			}
			if blk.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("trust bundle %s: certificate %d: %w", p, found+1, err)
			}
			out = append(out, c)
			found++
		}
		if found == 0 {
			return nil, fmt.Errorf("trust bundle %s: no PEM certificate", p)
		}
	}
	return out, nil
}

// Target is one endpoint to check: its observation, the DER of the chain
// it served (leaf first), and the scan run that saw it.
type Target struct {
	Obs     records.Observation
	DER     [][]byte
	ScanRun int64
}

// oidTLSFeature is the RFC 7633 TLS feature extension.
var oidTLSFeature = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 24}

// mustStaple reports whether c requires status_request (feature 5).
func mustStaple(c *x509.Certificate) bool {
	for _, e := range c.Extensions {
		if !e.Id.Equal(oidTLSFeature) {
			continue
		}
		var features []int
		if _, err := asn1.Unmarshal(e.Value, &features); err != nil {
			return false
		}
		for _, f := range features {
			if f == 5 {
				return true
			}
		}
	}
	return false
}

// NameOf is the name the leaf served at o must cover: the SNI sent, else
// the host (an IP address for an IP target).
func NameOf(o records.Observation) string {
	if o.SNI != "" {
		return o.SNI
	}
	if o.Host != "" {
		return o.Host
	}
	return o.IP
}

// Check checks one endpoint. Failures to fetch are data in the result
// (status unknown, never good); the result's Error is set only when the
// chain cannot be read.
func (c *Checker) Check(ctx context.Context, t Target) records.Validity {
	now := c.now()
	o := t.Obs
	v := records.Validity{Endpoint: records.ObservationKey(o), Target: o.Target, IP: o.IP, SNI: o.SNI, Protocol: o.Protocol,
		Name: NameOf(o), ScanRun: t.ScanRun, Time: now.UTC(), Revocation: []records.RevocationStatus{}}
	if l := o.Leaf(); l != nil {
		v.CertSHA256, v.SPKISHA256, v.Subject, v.Serial = l.SHA256, l.SPKISHA256, l.Subject, l.Serial
	}
	var served []*x509.Certificate
	for i, der := range t.DER {
		xc, err := x509.ParseCertificate(der)
		if err != nil {
			if i == 0 {
				v.Error = fmt.Sprintf("leaf does not parse: %v", err)
				return v
			}
			continue // a broken intermediate: the chain is judged without it
		}
		served = append(served, xc)
	}
	if len(served) == 0 {
		v.Error = "no certificate DER recorded for the served chain"
		return v
	}
	leaf := served[0]
	cr := c.chainOnce(ctx, served, now)
	v.Chain = cr.status
	v.HostnameOK = leaf.VerifyHostname(trimZone(v.Name)) == nil
	v.MustStaple = mustStaple(leaf)
	v.Stapled = o.OCSPStapled || len(o.OCSPResponse) > 0 // observations from before the bytes were recorded say only this
	if len(o.OCSPResponse) > 0 {
		v.Revocation = append(v.Revocation, checkStaple(o.OCSPResponse, leaf, cr.issuer, now))
	}
	v.Renewal = c.renewalInfo(ctx, leaf)
	if !c.cfg.NoRevocation {
		if rs := c.checkOCSP(ctx, leaf, cr.issuer, now); rs != nil {
			v.Revocation = append(v.Revocation, *rs)
		}
		if rs := c.checkCRL(ctx, leaf, cr.issuer, now); rs != nil {
			v.Revocation = append(v.Revocation, *rs)
		}
	}
	return v
}

func trimZone(name string) string {
	if h, _, err := net.SplitHostPort(name); err == nil {
		return h
	}
	return name
}
