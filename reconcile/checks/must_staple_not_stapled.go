package checks

import (
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:       "must-staple-not-stapled",
		Severity: reconcile.High,
		Description: "An endpoint serves a leaf carrying the TLS feature extension status_request (must-staple) without stapling " +
			"an OCSP response: clients that honour the extension refuse the connection.",
		Help:      "Enable OCSP stapling on the server (and make sure it can reach the CA's responder), or reissue without must-staple.",
		Citations: []string{"RFC 7633 §4.2.3.1 (TLS feature: the server must staple)", "RFC 6066 §8 (certificate status request)", "PCI DSS 4.0 4.2.1"},
		Controls:  []string{pciStrongCrypto},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			return validityFindings(s, func(o *records.Observation, v *records.Validity) *reconcile.Finding {
				if !v.MustStaple || v.Stapled || o.OCSPStapled {
					return nil
				}
				return &reconcile.Finding{Message: "must-staple certificate served without a stapled OCSP response",
					Evidence: map[string]any{"validity_time": v.Time}}
			})
		},
	})
}
