package kmip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/ovh/kmip-go/kmipclient"

	"github.com/keyaudit/keyaudit/internal/secretfile"
	"github.com/keyaudit/keyaudit/inventory"
)

// Scheme is the URI scheme of KMIP sources: kmip://host:port.
const Scheme = "kmip"

// DefaultPort is the IANA-registered KMIP port.
const DefaultPort = "5696"

// maxPEMFile bounds a certificate, key or CA file.
const maxPEMFile = 1 << 20

// Config is one KMIP source.
type Config struct {
	// URI is kmip://host[:port] (port 5696 when left out). Required.
	URI string
	// CertFile and KeyFile are the client certificate and its private
	// key (PEM). Required: KMIP servers authenticate clients by
	// certificate. A key file its group or others may read is warned
	// about or refused as Secrets says.
	CertFile, KeyFile string
	// CAFile holds the CAs the server's certificate must chain to; ""
	// means the system roots.
	CAFile string
	// ServerName overrides the name checked in the server's certificate
	// (default: the URI's host).
	ServerName string
	// Names is the rule pairing a private key with its public key or
	// certificate by Name when the server gives no Link; the zero value
	// is DefaultNames.
	Names NameRule
	// Secrets says what to do with a key file others may read.
	Secrets secretfile.Policy
	// Log receives debug events (never key material); nil discards.
	Log *slog.Logger

	// middlewares let tests observe the requests sent.
	middlewares []kmipclient.Middleware
	// locatePage and batch override locatePage and batchSize (tests
	// page through a few objects).
	locatePage, batch int
}

// NameRule pairs objects by Name: "web-private", "web-public" and
// "web-cert" share the stem "web". Each list holds the suffixes of one
// role; the first suffix that ends a name gives its stem.
type NameRule struct {
	Private     []string `yaml:"private" json:"private,omitempty"`
	Public      []string `yaml:"public" json:"public,omitempty"`
	Certificate []string `yaml:"certificate" json:"certificate,omitempty"`
}

// DefaultNames is the rule used when Config.Names is empty.
var DefaultNames = NameRule{
	Private:     []string{"-private", "-priv", "-key"},
	Public:      []string{"-public", "-pub"},
	Certificate: []string{"-cert", "-certificate", "-crt"},
}

func (r NameRule) empty() bool {
	return len(r.Private) == 0 && len(r.Public) == 0 && len(r.Certificate) == 0
}

// ParseURI returns the host:port of a kmip:// URI.
func ParseURI(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("kmip: %w", err)
	}
	if u.Scheme != Scheme || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("kmip: %q: want kmip://host[:port]", raw)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = DefaultPort
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("kmip: %q: bad port", raw)
	}
	if host == "" || strings.ContainsAny(host, "[]") || (strings.Contains(host, ":") && net.ParseIP(host) == nil) {
		return "", fmt.Errorf("kmip: %q: bad host", raw)
	}
	return net.JoinHostPort(host, port), nil
}

// IsURI reports whether raw names a KMIP source.
func IsURI(raw string) bool { return strings.HasPrefix(raw, Scheme+"://") }

// Check checks c without reading a file or dialling.
func (c Config) Check() error {
	if _, err := ParseURI(c.URI); err != nil {
		return err
	}
	if c.CertFile == "" || c.KeyFile == "" {
		return errors.New("kmip: needs a client certificate and key (cert-file, key-file)")
	}
	return nil
}

// Source is an open KMIP connection.
type Source struct {
	cfg    Config
	name   string
	client *kmipclient.Client
	log    *slog.Logger
}

// Open reads the client certificate, key and CA, connects and negotiates
// the protocol version. Missing or unreadable files are input errors.
func Open(ctx context.Context, cfg Config) (*Source, error) {
	if err := cfg.Check(); err != nil {
		return nil, inventory.Input(err)
	}
	addr, _ := ParseURI(cfg.URI)
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Names.empty() {
		cfg.Names = DefaultNames
	}
	certPEM, err := readFile(cfg.CertFile, "", cfg.Secrets)
	if err != nil {
		return nil, inventory.Input(fmt.Errorf("kmip: client certificate: %w", err))
	}
	keyPEM, err := readFile(cfg.KeyFile, "kmip client key file", cfg.Secrets)
	if err != nil {
		return nil, inventory.Input(fmt.Errorf("kmip: client key: %w", err))
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// crypto/tls names what is wrong (no PEM block, a key not
		// matching the certificate), never the key itself.
		return nil, inventory.Input(fmt.Errorf("kmip: client certificate %s and key %s: %w", cfg.CertFile, cfg.KeyFile, err))
	}
	opts := []kmipclient.Option{kmipclient.WithClientCert(pair), kmipclient.WithMiddlewares(cfg.middlewares...)}
	if cfg.CAFile != "" {
		ca, err := readFile(cfg.CAFile, "", cfg.Secrets)
		if err != nil {
			return nil, inventory.Input(fmt.Errorf("kmip: CA file: %w", err))
		}
		opts = append(opts, kmipclient.WithRootCAPem(ca))
	}
	host, _, _ := net.SplitHostPort(addr)
	sn := cfg.ServerName
	if sn == "" {
		sn = host
	}
	opts = append(opts, kmipclient.WithServerName(sn))
	name := Scheme + "://" + addr
	client, err := kmipclient.DialContext(ctx, addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("kmip: %s: %w", name, err)
	}
	log.Debug("kmip: connected", "server", name, "version", client.Version().String())
	return &Source{cfg: cfg, name: name, client: client, log: log}, nil
}

// readFile reads a PEM file of at most maxPEMFile bytes; secret names the
// role of a file holding a secret, checked against secrets.
func readFile(path, secret string, secrets secretfile.Policy) ([]byte, error) {
	if secret == "" {
		secrets = secretfile.Policy{} // not a secret: no mode check
	}
	return secrets.ReadFile(secret, path, maxPEMFile)
}

// Name is kmip://host:port.
func (s *Source) Name() string { return s.name }

// Close closes the connection.
func (s *Source) Close() error {
	if s.client == nil {
		return nil
	}
	err := s.client.Close()
	s.client = nil
	return err
}
