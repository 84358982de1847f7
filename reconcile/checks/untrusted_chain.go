package checks

import (
	"fmt"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:       "untrusted-chain",
		Severity: reconcile.High,
		Description: "An endpoint serves a chain that does not build to a trusted root (the system roots or the configured private trust anchors), " +
			"even with the intermediates its AIA caIssuers URLs point at.",
		Help: "Serve a certificate issued by a CA the clients trust, with its intermediates; for a private CA, add its root to trust.bundles " +
			"only if the clients trust it too.",
		Citations: []string{"RFC 5280 §6.1 (certification path validation)", "CA/B Forum BR 7.1.2 (certificate content and chaining)",
			"PCI DSS 4.0 4.2.1 (certificates used for PAN transmission are confirmed valid)"},
		Controls: []string{pciStrongCrypto, hipaaTransmit},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			return validityFindings(s, func(o *records.Observation, v *records.Validity) *reconcile.Finding {
				if v.Chain.Status != records.ChainUntrusted || o.Leaf().SelfSigned { // self-signed leaves have their own check
					return nil
				}
				return &reconcile.Finding{Message: fmt.Sprintf("chain served for %s does not build to a trusted root: %s", v.Name, v.Chain.Reason),
					Evidence: map[string]any{"reason": v.Chain.Reason, "issuer": o.Leaf().Issuer, "fetched": v.Chain.Fetched, "validity_time": v.Time}}
			})
		},
	})
}
