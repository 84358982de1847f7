package checks

import (
	"fmt"
	"strings"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:       "incomplete-chain",
		Severity: reconcile.Medium,
		Description: "An endpoint omits an intermediate certificate: the chain builds to a trusted root only with the intermediates " +
			"fetched through the leaf's AIA caIssuers URL, which many clients (and every client offline) do not do.",
		Help: "Configure the server with the full chain (leaf, then each intermediate up to, not including, the root).",
		Citations: []string{"RFC 8446 §4.4.2 (the server's certificate_list)", "RFC 5280 §4.2.2.1 (caIssuers)",
			"PCI DSS 4.0 4.2.1 (certificates used for PAN transmission are confirmed valid)"},
		Controls: []string{pciStrongCrypto},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			return validityFindings(s, func(o *records.Observation, v *records.Validity) *reconcile.Finding {
				if v.Chain.Status != records.ChainIncomplete {
					return nil
				}
				var missing []string
				for _, f := range v.Chain.Fetched {
					missing = append(missing, f.Subject)
				}
				return &reconcile.Finding{Message: fmt.Sprintf("server omits intermediate(s) %s (fetched through AIA caIssuers)", strings.Join(missing, "; ")),
					Evidence: map[string]any{"fetched": v.Chain.Fetched, "root": v.Chain.Root, "validity_time": v.Time}}
			})
		},
	})
}
