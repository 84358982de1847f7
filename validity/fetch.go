package validity

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Fetch limits. Everything a certificate points at is read through them.
const (
	// DefaultFetchTimeout bounds one fetch, connection to last byte.
	DefaultFetchTimeout = 10 * time.Second
	// DefaultMaxCRLBytes caps a CRL download.
	DefaultMaxCRLBytes = 32 << 20
	// maxOCSPBytes caps an OCSP response (real ones are a few KiB).
	maxOCSPBytes = 256 << 10
	// maxCertBytes caps a caIssuers download (one certificate or a small
	// PKCS#7 bundle).
	maxCertBytes = 256 << 10
	// maxRedirects bounds the redirects a fetch follows (each one's
	// address is checked against the scope like the first).
	maxRedirects = 3
	// DefaultHostRate is the default number of fetches per second to one
	// host, with a burst of the same size.
	DefaultHostRate = 5
)

// ErrOutOfScope is wrapped by every error of a fetch refused because its
// address is outside the fetch scope: nothing was sent.
var ErrOutOfScope = errors.New("outside the fetch scope")

// ErrTooLarge is wrapped by the error of a response larger than its cap.
var ErrTooLarge = errors.New("response too large")

// ScopeError is a fetch refused before any connection: the URL's scheme is
// not http(s), or its host resolves only to addresses outside the scope.
type ScopeError struct {
	URL    string
	Reason string
}

func (e *ScopeError) Error() string { return fmt.Sprintf("fetch %s: %s", e.URL, e.Reason) }

// Unwrap makes errors.Is(err, ErrOutOfScope) true.
func (e *ScopeError) Unwrap() error { return ErrOutOfScope }

// Resolver looks up the addresses of a host name.
type Resolver func(ctx context.Context, host string) ([]netip.Addr, error)

// FetchConfig configures a Fetcher. Its zero value is the documented
// default: public unicast addresses only, the system resolver, 10 s per
// fetch, 32 MiB per CRL, 5 fetches a second per host.
type FetchConfig struct {
	Scope Scope
	// Resolver resolves host names (nil: the system resolver). Tests pass
	// one that answers loopback addresses.
	Resolver Resolver
	// Timeout bounds one fetch (0: DefaultFetchTimeout).
	Timeout time.Duration
	// MaxCRLBytes caps a CRL (0: DefaultMaxCRLBytes).
	MaxCRLBytes int64
	// HostRate is the fetches per second allowed to one host (0:
	// DefaultHostRate).
	HostRate float64
	// RootCAs verify HTTPS fetches (nil: the system roots); a private
	// ACME CA's HTTPS certificate is trusted by adding its CA here.
	RootCAs *x509.CertPool
	Logger  *slog.Logger
}

// Check rejects nonsense settings.
func (c FetchConfig) Check() error {
	switch {
	case c.Timeout < 0:
		return fmt.Errorf("fetch timeout %s: must not be negative", c.Timeout)
	case c.MaxCRLBytes < 0:
		return fmt.Errorf("max CRL bytes %d: must not be negative", c.MaxCRLBytes)
	case c.HostRate < 0:
		return fmt.Errorf("fetch rate %g: must not be negative", c.HostRate)
	}
	return nil
}

// Fetcher fetches what certificates point at, within its scope.
type Fetcher struct {
	cfg    FetchConfig
	client *http.Client
	mu     sync.Mutex
	hosts  map[string]*rate.Limiter
}

// NewFetcher validates cfg and returns a Fetcher.
func NewFetcher(cfg FetchConfig) (*Fetcher, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultFetchTimeout
	}
	if cfg.MaxCRLBytes == 0 {
		cfg.MaxCRLBytes = DefaultMaxCRLBytes
	}
	if cfg.HostRate == 0 {
		cfg.HostRate = DefaultHostRate
	}
	if cfg.Resolver == nil {
		cfg.Resolver = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	f := &Fetcher{cfg: cfg, hosts: map[string]*rate.Limiter{}}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would connect on our behalf, past the scope
		DialContext:           f.dial,
		TLSClientConfig:       &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       30 * time.Second,
		DisableCompression:    true, // caps apply to what is read, not to a compressed stream
	}
	f.client = &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("fetch %s: more than %d redirects", via[0].URL, maxRedirects)
		}
		return checkScheme(req.URL)
	}}
	return f, nil
}

// Scope returns the fetcher's scope.
func (f *Fetcher) Scope() Scope { return f.cfg.Scope }

// MaxCRLBytes returns the CRL cap in force.
func (f *Fetcher) MaxCRLBytes() int64 { return f.cfg.MaxCRLBytes }

func checkScheme(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return &ScopeError{URL: u.String(), Reason: fmt.Sprintf("scheme %q is not http or https", u.Scheme)}
	}
	if u.Host == "" {
		return &ScopeError{URL: u.String(), Reason: "no host"}
	}
	return nil
}

// dial connects only to addresses inside the scope: the host is resolved
// here and the connection made to the address checked, so a name that
// resolves differently a second time (DNS rebinding) gains nothing.
func (f *Fetcher) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("fetch: address %q: %w", addr, err)
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		addrs = []netip.Addr{a}
	} else {
		if addrs, err = f.cfg.Resolver(ctx, host); err != nil {
			return nil, fmt.Errorf("fetch: resolve %s: %w", host, err)
		}
	}
	var refused []string
	var d net.Dialer
	var lastErr error
	for _, a := range addrs {
		if !f.cfg.Scope.Allows(a) {
			refused = append(refused, a.String())
			continue
		}
		c, err := d.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	if lastErr != nil {
		return nil, fmt.Errorf("fetch: connect %s: %w", addr, lastErr)
	}
	return nil, &ScopeError{URL: addr, Reason: fmt.Sprintf("%s resolves to %s, outside the fetch scope (%s)", host, strings.Join(refused, ", "), f.cfg.Scope)}
}

func (f *Fetcher) limiter(host string) *rate.Limiter {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.hosts[host]
	if !ok {
		b := max(int(f.cfg.HostRate), 1)
		l = rate.NewLimiter(rate.Limit(f.cfg.HostRate), b)
		f.hosts[host] = l
	}
	return l
}

// Response is a fetched body with the headers caching needs.
type Response struct {
	Status       int
	Body         []byte
	ETag         string
	LastModified string
}

// Request is one fetch.
type Request struct {
	URL string
	// Method is GET (default) or POST with Body of ContentType.
	Method      string
	Body        []byte
	ContentType string
	// Max caps the body.
	Max int64
	// IfNoneMatch and IfModifiedSince make a conditional GET; a 304 is
	// returned as is.
	IfNoneMatch, IfModifiedSince string
}

// Do performs one fetch: scheme and scope checked before anything is
// sent, the host's rate respected, the deadline and the size cap applied.
// A status other than 200 (or 304 to a conditional GET) is an error.
func (f *Fetcher) Do(ctx context.Context, r Request) (*Response, error) {
	u, err := url.Parse(r.URL)
	if err != nil {
		return nil, fmt.Errorf("fetch %q: %w", r.URL, err)
	}
	if err := checkScheme(u); err != nil {
		return nil, err
	}
	// Refuse before waiting for the rate or opening anything when the
	// host is an address outside the scope.
	if a, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && !f.cfg.Scope.Allows(a) {
		return nil, &ScopeError{URL: r.URL, Reason: fmt.Sprintf("%s is outside the fetch scope (%s)", a, f.cfg.Scope)}
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	if err := f.limiter(strings.ToLower(u.Hostname())).Wait(ctx); err != nil {
		return nil, fmt.Errorf("fetch %s: rate limit: %w", r.URL, err)
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", r.URL, err)
	}
	req.Header.Set("User-Agent", "keyaudit-validity")
	if r.ContentType != "" {
		req.Header.Set("Content-Type", r.ContentType)
	}
	if r.IfNoneMatch != "" {
		req.Header.Set("If-None-Match", r.IfNoneMatch)
	}
	if r.IfModifiedSince != "" {
		req.Header.Set("If-Modified-Since", r.IfModifiedSince)
	}
	f.cfg.Logger.Debug("validity: fetch", "method", method, "url", r.URL)
	resp, err := f.client.Do(req)
	if err != nil {
		var se *ScopeError
		if errors.As(err, &se) {
			se.URL = r.URL
			return nil, se
		}
		return nil, fmt.Errorf("fetch %s: %w", r.URL, err)
	}
	defer resp.Body.Close()
	out := &Response{Status: resp.StatusCode, ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
	if resp.StatusCode == http.StatusNotModified && (r.IfNoneMatch != "" || r.IfModifiedSince != "") {
		return out, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch %s: HTTP %s", r.URL, resp.Status)
	}
	limit := r.Max
	if limit <= 0 {
		limit = maxCertBytes
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("fetch %s: %d bytes announced: %w (cap %d)", r.URL, resp.ContentLength, ErrTooLarge, limit)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: read: %w", r.URL, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("fetch %s: %w (cap %d bytes)", r.URL, ErrTooLarge, limit)
	}
	out.Body = b
	return out, nil
}

// DNSResolver resolves through the DNS servers given (ip or ip:port, port
// 53 by default) instead of the system's.
func DNSResolver(servers []string) (Resolver, error) {
	addrs := make([]string, 0, len(servers))
	for _, s := range servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			s = net.JoinHostPort(s, "53")
		}
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return nil, fmt.Errorf("resolver %q: want ip[:port]: %w", s, err)
		}
		addrs = append(addrs, ap.String())
	}
	if len(addrs) == 0 {
		return nil, nil
	}
	var next int
	var mu sync.Mutex
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		mu.Lock()
		a := addrs[next%len(addrs)]
		next++
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, a)
	}}
	return func(ctx context.Context, host string) ([]netip.Addr, error) {
		return r.LookupNetIP(ctx, "ip", host)
	}, nil
}
