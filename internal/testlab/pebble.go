package testlab

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
)

// Pebble is a real Pebble v2.10.1 ACME CA (with pebble-challtestsrv as
// its DNS server) on loopback, on random free ports. Orders validate
// without challenges (PEBBLE_VA_ALWAYS_VALID=1); nonces are never
// rejected. Binaries and Pebble's HTTPS certificate come from
// .ci/pebble.sh (in $KEYAUDIT_TOOLS/bin and $KEYAUDIT_TOOLS/pebble).
type Pebble struct {
	// DirectoryURL is the ACME directory (https://127.0.0.1:PORT/dir).
	DirectoryURL string
	// ManagementURL is the management interface (roots, cert status).
	ManagementURL string
	// CAFile is the PEM of the CA that signed Pebble's HTTPS certificate:
	// what a client must trust to talk to it.
	CAFile string
	// Dir holds the config and logs.
	Dir string

	pool *x509.CertPool
}

// PebbleCertStatus is Pebble's answer on /cert-status-by-serial/.
type PebbleCertStatus struct {
	Status      string // Valid, Revoked
	Serial      string
	Certificate string
	Reason      *int
	RevokedAt   string
}

// StartPebble starts pebble-challtestsrv and Pebble for the test and
// stops them in t.Cleanup.
func StartPebble(t testing.TB) *Pebble {
	t.Helper()
	bins := ToolsBin()
	pebble := Need(t, "pebble", bins)
	challsrv := Need(t, "pebble-challtestsrv", bins)
	certs := filepath.Join(filepath.Dir(bins), "pebble")
	for _, f := range []string{"cert.pem", "key.pem", "pebble.minica.pem"} {
		if _, err := os.Stat(filepath.Join(certs, f)); err != nil {
			Missing(t, fmt.Sprintf("Pebble's HTTPS certificate %s missing (bash .ci/pebble.sh copies it)", filepath.Join(certs, f)))
		}
	}
	const ip = "127.0.0.1"
	dir := t.TempDir()
	dnsPort := freeUDPTCPPort(t, ip)
	challMgmt := FreePort(t, ip)
	StartProcess(t, dir, challsrv,
		"-dnsserver", net.JoinHostPort(ip, strconv.Itoa(dnsPort)),
		"-management", net.JoinHostPort(ip, strconv.Itoa(challMgmt)),
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
		"-defaultIPv4", ip, "-defaultIPv6", "")

	listen := net.JoinHostPort(ip, strconv.Itoa(FreePort(t, ip)))
	mgmt := net.JoinHostPort(ip, strconv.Itoa(FreePort(t, ip)))
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  listen,
		"managementListenAddress":        mgmt,
		"certificate":                    filepath.Join(certs, "cert.pem"),
		"privateKey":                     filepath.Join(certs, "key.pem"),
		"httpPort":                       FreePort(t, ip),
		"tlsPort":                        FreePort(t, ip),
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 0, "order": 0},
		"keyAlgorithm":                   "rsa",
		// One profile only: with several, Pebble picks one per order.
		"profiles": map[string]any{"default": map[string]any{"description": "keyaudit tests", "validityPeriod": 7776000}},
	}}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	cfgPath := filepath.Join(dir, "pebble-config.json")
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	startWithEnv(t, dir, []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_VA_ALWAYS_VALID=1", "PEBBLE_AUTHZREUSE=100"},
		pebble, "-config", cfgPath, "-dnsserver", net.JoinHostPort(ip, strconv.Itoa(dnsPort)))

	ca, err := os.ReadFile(filepath.Join(certs, "pebble.minica.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatalf("testlab: %s holds no certificate", filepath.Join(certs, "pebble.minica.pem"))
	}
	caFile := filepath.Join(dir, "pebble.minica.pem")
	if err := os.WriteFile(caFile, ca, 0o644); err != nil {
		t.Fatal(err)
	}
	p := &Pebble{DirectoryURL: "https://" + listen + "/dir", ManagementURL: "https://" + mgmt, CAFile: caFile, Dir: dir, pool: pool}
	WaitTCP(t, listen, 10*time.Second)
	WaitTCP(t, mgmt, 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := p.HTTPClient().Get(p.DirectoryURL)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
			err = fmt.Errorf("HTTP %d", res.StatusCode)
		}
		if time.Now().After(deadline) {
			t.Fatalf("testlab: Pebble directory %s not ready: %v", p.DirectoryURL, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p
}

// startWithEnv is StartProcess with extra environment variables.
func startWithEnv(t testing.TB, dir string, env []string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	logPath := filepath.Join(dir, filepath.Base(name)+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		cancel()
		t.Fatalf("testlab: %v", err)
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 3 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		lf.Close()
		t.Fatalf("testlab: start %s: %v", name, err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		lf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil && len(b) > 0 {
				t.Logf("%s output:\n%s", filepath.Base(name), tail(b, 4000))
			}
		}
	})
}

// HTTPClient trusts Pebble's HTTPS certificate and dials loopback only.
func (p *Pebble) HTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS12},
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if !IsLoopback(addr) {
					return nil, fmt.Errorf("testlab: refusing non-loopback address %q", addr)
				}
				return dialer.DialContext(ctx, network, addr)
			},
		},
	}
}

// NewAccount registers a new ACME account with a fresh P-256 key.
func (p *Pebble) NewAccount(t testing.TB) (*acme.Client, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := &acme.Client{Key: key, DirectoryURL: p.DirectoryURL, HTTPClient: p.HTTPClient()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil && !errors.Is(err, acme.ErrAccountAlreadyExists) {
		t.Fatalf("testlab: Pebble register: %v", err)
	}
	return c, key
}

// Issue orders a certificate for names through c (challenges are
// accepted and Pebble validates them unconditionally) and returns the
// leaf, the chain's DER and the certificate's new P-256 key.
func (p *Pebble) Issue(t testing.TB, c *acme.Client, names ...string) (*x509.Certificate, [][]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf, chain := p.IssueWithKey(t, c, key, names...)
	return leaf, chain, key
}

// CertStatus asks Pebble's management interface about a serial.
func (p *Pebble) CertStatus(t testing.TB, serial *big.Int) PebbleCertStatus {
	t.Helper()
	res, err := p.HTTPClient().Get(p.ManagementURL + "/cert-status-by-serial/" + serial.Text(16))
	if err != nil {
		t.Fatalf("testlab: Pebble cert status: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("testlab: Pebble cert status of %x: HTTP %d %s", serial, res.StatusCode, b)
	}
	var s PebbleCertStatus
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("testlab: Pebble cert status: %v in %s", err, b)
	}
	return s
}

// Roots returns Pebble's current root certificate (it changes at every
// start) as PEM.
func (p *Pebble) Roots(t testing.TB) []byte {
	t.Helper()
	res, err := p.HTTPClient().Get(p.ManagementURL + "/roots/0")
	if err != nil {
		t.Fatalf("testlab: Pebble roots: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("testlab: Pebble roots: HTTP %d", res.StatusCode)
	}
	if blk, _ := pem.Decode(b); blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatalf("testlab: Pebble roots: not a PEM certificate")
	}
	return b
}
