package checks

import (
	"fmt"
	"time"

	"github.com/keyaudit/keyaudit/reconcile"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:          "revoked-but-deployed",
		Severity:    reconcile.Critical,
		Description: "An endpoint still serves a certificate that has been revoked (keyaudit revoke, or a verified OCSP answer, stapled response or CRL from the validity stage).",
		Help:        "Deploy the replacement certificate; clients checking revocation will fail, and the key may be compromised.",
		Citations:   []string{"RFC 5280 §5.3.1", "RFC 6960 §2.2", "PCI DSS 4.0 3.7.6 (replacement of compromised keys)"},
		Controls:    []string{pciKeyLifecycle, pciStrongCrypto},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for _, d := range s.DeployedLeaves() {
				r, ok := s.Revoked(d.Cert.SHA256)
				if !ok {
					continue
				}
				for _, ep := range d.Endpoints {
					out = append(out, reconcile.Finding{Subject: d.Cert.Subject, SPKISHA256: d.Cert.SPKISHA256, CertSHA256: d.Cert.SHA256, Endpoint: ep,
						Message:  fmt.Sprintf("certificate revoked on %s (%s, via %s) is still served", r.RevokedAt.Format(time.DateOnly), r.Reason, r.Source),
						Evidence: map[string]any{"serial": r.Serial, "reason": r.Reason, "revoked_at": r.RevokedAt, "source": r.Source}})
				}
			}
			return out
		},
	})
	reconcile.Register(&reconcile.Check{
		ID:          "self-signed-certificate",
		Severity:    reconcile.Medium,
		Description: "An endpoint serves a self-signed leaf certificate, which clients cannot validate and which escapes CA issuance controls.",
		Help:        "Issue the certificate from the organisation's CA or a public CA.",
		Citations:   []string{"PCI DSS 4.0 4.2.1 (trusted certificates)", "RFC 5280 §6"},
		Controls:    []string{pciStrongCrypto, hipaaTransmit},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for _, d := range s.DeployedLeaves() {
				if !d.Cert.SelfSigned {
					continue
				}
				for _, ep := range d.Endpoints {
					out = append(out, reconcile.Finding{Subject: d.Cert.Subject, SPKISHA256: d.Cert.SPKISHA256, CertSHA256: d.Cert.SHA256, Endpoint: ep,
						Message: "self-signed certificate served"})
				}
			}
			return out
		},
	})
	reconcile.Register(&reconcile.Check{
		ID:          "ct-log-misbehaviour",
		Severity:    reconcile.Critical,
		Description: "A Certificate Transparency log served data that failed verification (bad signature, tree that does not match its signed head, inconsistent heads); keyaudit did not advance past it.",
		Help:        "Report the evidence to the log operator and the CT policy groups; until resolved, monitoring of that log has a gap.",
		Citations:   []string{"RFC 6962 §5.1", "RFC 9162 §8.3 (monitors)"},
		Controls:    []string{pciKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for _, li := range s.LogIssues {
				out = append(out, reconcile.Finding{Subject: li.Log, Endpoint: ctLogEndpoint(li.Log),
					Message: fmt.Sprintf("log %s: %s: %s", li.Log, li.Kind, li.Message), Evidence: li.Detail})
			}
			return out
		},
	})
	reconcile.Register(&reconcile.Check{
		ID:          "incomplete-input",
		Severity:    reconcile.Medium,
		Description: "An input of the reconcile (scan, inventory, CAA, CT) did not complete, so its absence of findings proves nothing.",
		Help:        "See the run's note for what failed; fix it and run again.",
		Citations:   []string{"NIST SP 800-57 Part 2 Rev. 1 §6.3"},
		Controls:    []string{nistKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for _, st := range s.Sources {
				if st.Status == "complete" {
					continue
				}
				out = append(out, reconcile.Finding{Subject: fmt.Sprintf("%s run %d", st.Kind, st.RunID),
					Message: fmt.Sprintf("%s run %d is %s: %s", st.Kind, st.RunID, st.Status, st.Note)})
			}
			return out
		},
	})
}
