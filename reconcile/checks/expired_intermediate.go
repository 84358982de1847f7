package checks

import (
	"fmt"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:          "expired-intermediate",
		Severity:    reconcile.High,
		Description: "An endpoint serves an intermediate CA certificate past its notAfter: clients that build the path through it reject the chain.",
		Help:        "Replace the intermediate in the served chain with the CA's current one (or the cross-sign the CA now publishes).",
		Citations: []string{"RFC 5280 §6.1.3 (a)(2) (every certificate in the path is within its validity period)",
			"CA/B Forum BR 6.3.2 (certificate operational periods)", "PCI DSS 4.0 4.2.1 (certificates are confirmed valid and not expired)"},
		Controls: []string{pciStrongCrypto},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			return validityFindings(s, func(o *records.Observation, v *records.Validity) *reconcile.Finding {
				if len(v.Chain.ExpiredIntermediates) == 0 {
					return nil
				}
				var parts []string
				for _, e := range v.Chain.ExpiredIntermediates {
					parts = append(parts, fmt.Sprintf("%s (expired %s)", e.Subject, e.NotAfter.UTC().Format(time.DateOnly)))
				}
				return &reconcile.Finding{Message: "served intermediate past notAfter: " + strings.Join(parts, "; "),
					Evidence: map[string]any{"expired_intermediates": v.Chain.ExpiredIntermediates, "validity_time": v.Time}}
			})
		},
	})
}
