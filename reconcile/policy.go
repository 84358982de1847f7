package reconcile

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Day is 24 hours, for policy durations.
const Day = 24 * time.Hour

// Policy is what the organisation accepts. The zero value means the
// documented defaults below; each default names its source.
type Policy struct {
	// MinRSABits: NIST SP 800-57 Part 1 Rev. 5 Table 2 and SP 800-131A
	// Rev. 2 — RSA-2048 (112-bit security) is the minimum through 2030.
	// Default 2048; organisations preparing for 2031 set 3072.
	MinRSABits int `yaml:"min-rsa-bits" was:"min_rsa_bits" json:"min_rsa_bits"`
	// AllowedCurves: NIST SP 800-186 / CA/B Forum BR 6.1.5 curves P-256,
	// P-384, P-521, plus Ed25519 (RFC 8032). Default those four.
	AllowedCurves []string `yaml:"allowed-curves" was:"allowed_curves" json:"allowed_curves"`
	// ExpiryDays are the warning thresholds before notAfter, most distant
	// first. Default 30, 14, 7 (the usual ACME renewal window is 30 days
	// before expiry for 90-day certificates).
	ExpiryDays []int `yaml:"expiry-days" was:"expiry_days" json:"expiry_days"`
	// AllowedCAs are the CAA issuer-domain-names the organisation uses
	// (e.g. letsencrypt.org). Empty: any CA the name's CAA allows.
	AllowedCAs []string `yaml:"allowed-cas" was:"allowed_cas" json:"allowed_cas"`
	// OrphanMinAge: an inventory key younger than this is not reported as
	// orphaned (it may not be deployed yet). Default 0.
	OrphanMinAge time.Duration `yaml:"orphan-min-age" was:"orphan_min_age" json:"orphan_min_age"`
	// Cryptoperiods by key use, NIST SP 800-57 Part 1 Rev. 5 §5.3.6
	// Table 1 (originator-usage periods): private signature key 1–3
	// years (default 3), private key-transport key ≤ 2 years, symmetric
	// data-encryption key ≤ 2 years, symmetric key-wrapping key ≤ 2 years,
	// public signature-verification key as long as the private key.
	Cryptoperiods Cryptoperiods `yaml:"cryptoperiods" json:"cryptoperiods"`
	// WeakTLSVersions are versions reported as weak (RFC 8996 deprecates
	// TLS 1.0 and 1.1). Default TLS 1.0, TLS 1.1, SSL 3.0.
	WeakTLSVersions []string `yaml:"weak-tls-versions" was:"weak_tls_versions" json:"weak_tls_versions"`
	// ExpectPQC reports endpoints that did not negotiate a post-quantum
	// hybrid group (info). Default true.
	ExpectPQC *bool `yaml:"expect-pqc" was:"expect_pqc" json:"expect_pqc"`
	// GoneAfter is how many consecutive complete attempts must find no
	// TLS on an endpoint before it is called gone. Default 2: one failed
	// attempt may be a restart.
	GoneAfter int `yaml:"gone-after" was:"gone_after" json:"gone_after"`
	// StaleAfter is the age past which an endpoint's latest observation
	// raises stale-observation (nobody has looked at it since). Default
	// 30 days.
	StaleAfter time.Duration `yaml:"stale-after" was:"stale_after" json:"stale_after"`
	// Severity overrides the severity of every finding of a check, by
	// check ID (policy: {severity: {stale-observation: high}}): an
	// organisation ranks what matters to it. Check validates it.
	Severity map[string]Severity `yaml:"severity" json:"severity,omitempty"`
}

// Check reports what is wrong with p's settings that decoding cannot
// see: a severity override of an unregistered check, or an unknown
// severity. Every problem is returned (errors.Join).
func (p Policy) Check() error {
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(p.Severity)) {
		if _, ok := Lookup(id); !ok {
			errs = append(errs, fmt.Errorf("policy.severity: unknown check %q (see keyaudit checks list)", id))
		} else if _, err := ParseSeverity(string(p.Severity[id])); err != nil {
			errs = append(errs, fmt.Errorf("policy.severity.%s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// severityOf is the severity a finding of check id gets: the policy's
// override, else sev.
func (p Policy) severityOf(id string, sev Severity) Severity {
	if o, ok := p.Severity[id]; ok {
		if v, err := ParseSeverity(string(o)); err == nil {
			return v
		}
	}
	return sev
}

const defaultGoneAfter = 2

// Cryptoperiods are maximum key lifetimes by use.
type Cryptoperiods struct {
	Signature    time.Duration `yaml:"signature" json:"signature"`
	KeyTransport time.Duration `yaml:"key-transport" was:"key_transport" json:"key_transport"`
	Symmetric    time.Duration `yaml:"symmetric" json:"symmetric"`
	KeyWrapping  time.Duration `yaml:"key-wrapping" was:"key_wrapping" json:"key_wrapping"`
}

func (p Policy) withDefaults() Policy {
	if p.MinRSABits == 0 {
		p.MinRSABits = 2048
	}
	if len(p.AllowedCurves) == 0 {
		p.AllowedCurves = []string{"P-256", "P-384", "P-521", "Ed25519"}
	}
	if len(p.ExpiryDays) == 0 {
		p.ExpiryDays = []int{30, 14, 7}
	}
	if p.Cryptoperiods.Signature == 0 {
		p.Cryptoperiods.Signature = 3 * 365 * Day
	}
	if p.Cryptoperiods.KeyTransport == 0 {
		p.Cryptoperiods.KeyTransport = 2 * 365 * Day
	}
	if p.Cryptoperiods.Symmetric == 0 {
		p.Cryptoperiods.Symmetric = 2 * 365 * Day
	}
	if p.Cryptoperiods.KeyWrapping == 0 {
		p.Cryptoperiods.KeyWrapping = 2 * 365 * Day
	}
	if len(p.WeakTLSVersions) == 0 {
		p.WeakTLSVersions = []string{"SSL 3.0", "TLS 1.0", "TLS 1.1"}
	}
	if p.GoneAfter <= 0 {
		p.GoneAfter = defaultGoneAfter
	}
	if p.StaleAfter <= 0 {
		p.StaleAfter = 30 * Day
	}
	if p.ExpectPQC == nil {
		t := true
		p.ExpectPQC = &t
	}
	return p
}

// WithDefaults returns p with every zero field set to its default.
func (p Policy) WithDefaults() Policy { return p.withDefaults() }
