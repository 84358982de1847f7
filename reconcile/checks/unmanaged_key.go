package checks

import (
	"fmt"
	"strings"

	"github.com/keyaudit/keyaudit/reconcile"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:          "unmanaged-key",
		Severity:    reconcile.Critical,
		Description: "A certificate served on an endpoint uses a key that no inventory source holds.",
		Help:        "Find who deployed the key, move it into the HSM/KMS (or re-issue with a managed key), and record it in the inventory.",
		Citations:   []string{"NIST SP 800-57 Part 2 Rev. 1 §6.3 (key inventory)", "PCI DSS 4.0 3.6.1", "PCI DSS 4.0 12.3.3 (cryptographic inventory)"},
		Controls:    []string{pciKeyMgmt, nistKeyMgmt, gdprSecurity},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			// Count first: an estate of a million unmanaged endpoints
			// would otherwise copy its findings a dozen times growing.
			var unmanaged []*reconcile.Deployed
			n := 0
			for _, d := range s.DeployedLeaves() {
				if !s.Managed(d.Cert.SPKISHA256) {
					unmanaged = append(unmanaged, d)
					n += len(d.Endpoints)
				}
			}
			out := make([]reconcile.Finding, 0, n)
			for _, d := range unmanaged {
				msg := fmt.Sprintf("%s is served with a key in no inventory source", d.Cert.Subject)
				if !s.SourceComplete("inventory") {
					msg += " (the inventory run was partial)"
				}
				for _, ep := range d.Endpoints {
					out = append(out, reconcile.Finding{
						Subject: d.Cert.Subject, SPKISHA256: d.Cert.SPKISHA256, CertSHA256: d.Cert.SHA256, Endpoint: ep,
						Message:  msg,
						Evidence: map[string]any{"issuer": d.Cert.Issuer, "key": strings.TrimSpace(d.Cert.KeyType + " " + d.Cert.Curve), "not_after": d.Cert.NotAfter},
					})
				}
			}
			return out
		},
	})
}
