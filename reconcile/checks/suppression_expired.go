package checks

import (
	"fmt"
	"time"

	"github.com/keyaudit/keyaudit/reconcile"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:          "suppression-expired",
		Severity:    reconcile.Low,
		Description: "A suppression (accepted risk) has passed its expiry date and no longer applies.",
		Help:        "Fix what it suppressed, or review the risk again and set a new expiry with a reason.",
		Citations:   []string{"PCI DSS 4.0 12.3.1 (targeted risk analysis, reviewed periodically)", "NIST SP 800-57 Part 2 Rev. 1 §6.4"},
		Controls:    []string{pciKeyMgmt, nistKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for _, sup := range s.Suppressions {
				if !sup.Expired(s.Now) {
					continue
				}
				what := sup.Check
				for _, x := range []string{sup.Subject, sup.Endpoint, sup.SPKI, sup.Cert, sup.Fingerprint} {
					if x != "" {
						what += " " + x
					}
				}
				out = append(out, reconcile.Finding{Subject: what, Source: sup.Source,
					Message:  fmt.Sprintf("suppression of %s expired on %s (reason was: %s)", what, sup.Until.Format(time.DateOnly), sup.Reason),
					Evidence: map[string]any{"until": sup.Until, "reason": sup.Reason}})
			}
			return out
		},
	})
}
