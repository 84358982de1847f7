package checks

import (
	"fmt"
	"net"
	"strings"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:       "hostname-mismatch",
		Severity: reconcile.High,
		Description: "The leaf an endpoint serves does not cover the name it was reached by (the SNI, else the scanned host; " +
			"for an IP target reached without SNI, an IP address SAN: low then, since most clients use a name).",
		Help: "Issue a certificate whose subjectAltName covers every name (and address) clients use for the endpoint.",
		Citations: []string{"RFC 9525 §6 (service identity verification)", "RFC 5280 §4.2.1.6 (subjectAltName)",
			"CA/B Forum BR 7.1.4.2.1 (subjectAltName)", "PCI DSS 4.0 4.2.1 (certificates are confirmed valid)"},
		Controls: []string{pciStrongCrypto, hipaaTransmit},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			return validityFindings(s, func(o *records.Observation, v *records.Validity) *reconcile.Finding {
				if v.HostnameOK {
					return nil
				}
				sans := o.Leaf().SANs
				f := &reconcile.Finding{Message: fmt.Sprintf("certificate does not cover the name %s (SANs: %s)", v.Name, strings.Join(sans, ", ")),
					Evidence: map[string]any{"name": v.Name, "sans": sans, "validity_time": v.Time}}
				if net.ParseIP(v.Name) != nil {
					// Reached by address without SNI (a sweep): clients that
					// connect by address fail, most clients use a name.
					f.Severity = reconcile.Low
					f.Message = fmt.Sprintf("certificate has no IP address SAN for %s, the address it was reached by without SNI (SANs: %s)", v.Name, strings.Join(sans, ", "))
				}
				return f
			})
		},
	})
}
