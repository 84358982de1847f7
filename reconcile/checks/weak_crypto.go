package checks

import (
	"fmt"
	"slices"
	"strings"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:          "weak-key",
		Severity:    reconcile.High,
		Description: "A key is weaker than policy: RSA below the minimum size, a curve outside the allowed set, DSA, or an RSA key with a known defect (small factor, ROCA, close primes).",
		Help:        "Replace the key with RSA ≥ policy minimum, ECDSA P-256/P-384 or Ed25519, generated in the HSM.",
		Citations:   []string{"NIST SP 800-57 Part 1 Rev. 5 §5.6.1 Table 2", "NIST SP 800-131A Rev. 2", "CA/B Forum BR 6.1.5", "CVE-2017-15361 (ROCA)"},
		Controls:    []string{pciStrongCrypto, nistKeyMgmt, hipaaTransmit, gdprSecurity},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for _, d := range s.DeployedLeaves() {
				if why := certKeyWeakness(s, *d.Cert); why != "" {
					for _, ep := range d.Endpoints {
						sev := reconcile.High
						if d.Cert.KeyWeakness != "" {
							sev = reconcile.Critical // factorable: the key is as good as public
						}
						out = append(out, reconcile.Finding{Severity: sev, Subject: d.Cert.Subject, SPKISHA256: d.Cert.SPKISHA256, CertSHA256: d.Cert.SHA256, Endpoint: ep,
							Message: "served key is weak: " + why})
					}
				}
			}
			for i := range s.Keys {
				k := &s.Keys[i]
				if k.Class == records.ClassSecretKey || k.Class == records.ClassCertificate {
					continue
				}
				if why := keyWeakness(s, k.KeyType, k.KeyBits, k.Curve); why != "" {
					out = append(out, reconcile.Finding{Subject: k.Name(), SPKISHA256: k.SPKISHA256, Source: keySource(k), Message: "inventory key is weak: " + why})
				}
			}
			return out
		},
	})
	reconcile.Register(&reconcile.Check{
		ID:          "weak-signature",
		Severity:    reconcile.High,
		Description: "A certificate in a served chain is signed with SHA-1 or MD5.",
		Help:        "Re-issue with SHA-256 or stronger.",
		Citations:   []string{"NIST SP 800-131A Rev. 2 §3", "CA/B Forum BR 7.1.3.2"},
		Controls:    []string{pciStrongCrypto, hipaaTransmit},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			seen := map[string]bool{}
			for i := range s.Observations {
				o := &s.Observations[i]
				for j, c := range o.Chain {
					sig := strings.ToUpper(c.SignatureAlgorithm)
					if !(strings.Contains(sig, "SHA1") || strings.Contains(sig, "MD5") || strings.Contains(sig, "MD2")) {
						continue
					}
					if c.SelfSigned && j > 0 {
						continue // a root's self-signature is not relied upon
					}
					ep := reconcile.EndpointName(o)
					if seen[c.SHA256+ep] {
						continue
					}
					seen[c.SHA256+ep] = true
					out = append(out, reconcile.Finding{Subject: c.Subject, SPKISHA256: c.SPKISHA256, CertSHA256: c.SHA256, Endpoint: ep,
						Message: fmt.Sprintf("chain certificate %d (%s) is signed with %s", j, c.Subject, c.SignatureAlgorithm)})
				}
			}
			return out
		},
	})
	reconcile.Register(&reconcile.Check{
		ID:          "weak-tls-version",
		Severity:    reconcile.Medium,
		Description: "An endpoint negotiated a deprecated protocol version (SSL 3.0, TLS 1.0, TLS 1.1).",
		Help:        "Disable TLS 1.0 and 1.1 (RFC 8996); offer TLS 1.2 and 1.3.",
		Citations:   []string{"RFC 8996", "PCI DSS 4.0 4.2.1", "NIST SP 800-52 Rev. 2 §3.1"},
		Controls:    []string{pciStrongCrypto, hipaaTransmit, gdprSecurity},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for i := range s.Observations {
				o := &s.Observations[i]
				if o.TLSVersion == "" || !slices.Contains(s.Policy.WeakTLSVersions, o.TLSVersion) {
					continue
				}
				f := reconcile.Finding{Endpoint: reconcile.EndpointName(o), Subject: o.Target,
					Message: fmt.Sprintf("negotiated %s with %s although keyaudit offered up to TLS 1.3", o.TLSVersion, o.CipherSuite)}
				if l := o.Leaf(); l != nil {
					f.SPKISHA256, f.CertSHA256 = l.SPKISHA256, l.SHA256
				}
				out = append(out, f)
			}
			return out
		},
	})
	reconcile.Register(&reconcile.Check{
		ID:          "no-pqc-key-exchange",
		Severity:    reconcile.Info,
		Description: "A TLS endpoint did not negotiate a post-quantum hybrid key exchange (X25519MLKEM768 or similar) although keyaudit offered one.",
		Help:        "Enable hybrid ML-KEM key exchange (X25519MLKEM768) to protect recorded traffic against future quantum attacks (harvest now, decrypt later).",
		Citations:   []string{"NIST FIPS 203 (ML-KEM)", "NIST IR 8547 (transition to PQC)", "draft-ietf-tls-ecdhe-mlkem"},
		Controls:    []string{nistKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			if s.Policy.ExpectPQC != nil && !*s.Policy.ExpectPQC {
				return nil
			}
			var out []reconcile.Finding
			for i := range s.Observations {
				o := &s.Observations[i]
				if o.Error != nil || o.TLSVersion == "" || strings.Contains(strings.ToUpper(o.Group), "MLKEM") {
					continue
				}
				group := o.Group
				if group == "" {
					group = "no (EC)DHE group"
				}
				out = append(out, reconcile.Finding{Endpoint: reconcile.EndpointName(o), Subject: o.Target,
					Message: fmt.Sprintf("%s key exchange used %s, not a post-quantum hybrid", o.TLSVersion, group)})
			}
			return out
		},
	})
}

func certKeyWeakness(s *reconcile.Snapshot, c certinfo.Cert) string {
	if c.KeyWeakness != "" {
		return c.KeyWeakness
	}
	return keyWeakness(s, c.KeyType, c.KeyBits, c.Curve)
}

func keyWeakness(s *reconcile.Snapshot, typ string, bits int, curve string) string {
	switch strings.ToUpper(typ) {
	case "RSA":
		if bits > 0 && bits < s.Policy.MinRSABits {
			return fmt.Sprintf("RSA-%d is below the %d-bit minimum", bits, s.Policy.MinRSABits)
		}
	case "EC", "ECDSA":
		if curve != "" && !slices.Contains(s.Policy.AllowedCurves, curve) {
			return fmt.Sprintf("curve %s is not among the allowed curves (%s)", curve, strings.Join(s.Policy.AllowedCurves, ", "))
		}
	case "DSA":
		return "DSA is no longer approved for signature generation (FIPS 186-5)"
	}
	return ""
}
