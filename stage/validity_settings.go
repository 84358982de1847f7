package stage

import (
	"crypto/x509"
	"fmt"
	"time"

	"github.com/keyaudit/keyaudit/validity"
)

// ValiditySettings are the validity stage's settings as the CLI and the
// config give them (the flags of keyaudit validity, the config's
// validity: section and trust.bundles).
type ValiditySettings struct {
	TrustBundles []string
	FetchScope   []string
	// Resolvers are the DNS servers names in certificate URLs are
	// resolved with (none: the system's).
	Resolvers    []string
	Timeout      time.Duration
	MaxCRLBytes  int64
	HostRate     float64
	NoRevocation bool
	Group        string
	// ACME is the config's acme: section (renewalInfo, RFC 9773).
	ACME ACMESection
}

// ACMESection is the config's top-level "acme:" section.
type ACMESection struct {
	// Directories map issuers to the ACME directories asked for their
	// certificates' renewal windows.
	Directories []validity.ACMEDirectory `yaml:"directories"`
	// CAFile holds PEM CA certificates to trust, beside the system roots,
	// for the directories' HTTPS (a private ACME CA).
	CAFile string `yaml:"ca-file" was:"ca_file"`
}

// TrustSection is the config's top-level "trust:" section.
type TrustSection struct {
	// Bundles are PEM files of private trust anchors, added to the
	// system roots.
	Bundles []string `yaml:"bundles"`
}

// Check validates the settings without reading the bundles.
func (s ValiditySettings) Check() error {
	if _, err := validity.ParseScope(s.FetchScope); err != nil {
		return err
	}
	if _, err := validity.DNSResolver(s.Resolvers); err != nil {
		return err
	}
	for _, d := range s.ACME.Directories {
		if err := d.Check(); err != nil {
			return fmt.Errorf("config acme.directories: %w", err)
		}
	}
	return validity.FetchConfig{Timeout: s.Timeout, MaxCRLBytes: s.MaxCRLBytes, HostRate: s.HostRate}.Check()
}

// Params reads the trust bundles and returns the stage's parameters.
func (s ValiditySettings) Params() (ValidityParams, error) {
	if err := s.Check(); err != nil {
		return ValidityParams{}, err
	}
	scope, _ := validity.ParseScope(s.FetchScope)
	resolver, _ := validity.DNSResolver(s.Resolvers)
	anchors, err := validity.LoadBundles(s.TrustBundles)
	if err != nil {
		return ValidityParams{}, err
	}
	var rootCAs *x509.CertPool
	if s.ACME.CAFile != "" {
		cas, err := validity.LoadBundles([]string{s.ACME.CAFile})
		if err != nil {
			return ValidityParams{}, fmt.Errorf("config acme.ca_file: %w", err)
		}
		if rootCAs, err = x509.SystemCertPool(); err != nil || rootCAs == nil {
			rootCAs = x509.NewCertPool()
		}
		for _, c := range cas {
			rootCAs.AddCert(c)
		}
	}
	return ValidityParams{Group: s.Group, Meta: map[string]any{"trust_bundles": s.TrustBundles},
		Config: validity.Config{Anchors: anchors, NoRevocation: s.NoRevocation, ACME: s.ACME.Directories,
			Fetch: validity.FetchConfig{Scope: scope, Resolver: resolver, Timeout: s.Timeout, MaxCRLBytes: s.MaxCRLBytes, HostRate: s.HostRate, RootCAs: rootCAs}}}, nil
}
