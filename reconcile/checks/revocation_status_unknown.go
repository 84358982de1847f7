package checks

import (
	"fmt"
	"strings"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:       "revocation-status-unknown",
		Severity: reconcile.Medium,
		Description: "The revocation status of a served leaf could not be established from a source it names (OCSP responder unreachable " +
			"or out of the fetch scope, unauthorised responder, bad signature, stale or malformed answer, CRL too large): it is not taken as good.",
		Help: "Check that the CA's OCSP responder and CRL are reachable from where clients are and answer correctly; widen --fetch-scope " +
			"only for addresses you mean keyaudit to contact.",
		Citations: []string{"RFC 6960 §3.2 (signed response acceptance)", "RFC 5280 §6.3 (CRL validation)", "PCI DSS 4.0 4.2.1"},
		Controls:  []string{pciStrongCrypto},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			return validityFindings(s, func(o *records.Observation, v *records.Validity) *reconcile.Finding {
				var unknown []string
				answered := false
				for _, r := range v.Revocation {
					switch r.Status {
					case records.RevRevoked:
						return nil // revoked-but-deployed says more
					case records.RevUnknown:
						where := r.Source
						if r.URL != "" {
							where += " " + r.URL
						}
						unknown = append(unknown, where+": "+r.Problem)
					default:
						answered = true
					}
				}
				if len(unknown) == 0 {
					return nil
				}
				f := &reconcile.Finding{Evidence: map[string]any{"sources": v.Revocation, "validity_time": v.Time}}
				if answered {
					f.Severity = reconcile.Low
					f.Message = "revocation source(s) failed, another answered: " + strings.Join(unknown, "; ")
				} else {
					f.Message = fmt.Sprintf("revocation status unknown: %s", strings.Join(unknown, "; "))
				}
				return f
			})
		},
	})
}
