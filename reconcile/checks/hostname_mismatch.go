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
			"for an IP target, an IP address SAN).",
		Help: "Issue a certificate whose subjectAltName covers every name (and address) clients use for the endpoint.",
		Citations: []string{"RFC 9525 §6 (service identity verification)", "RFC 5280 §4.2.1.6 (subjectAltName)",
			"CA/B Forum BR 7.1.4.2.1 (subjectAltName)", "PCI DSS 4.0 4.2.1 (certificates are confirmed valid)"},
		Controls: []string{pciStrongCrypto, hipaaTransmit},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			return validityFindings(s, func(o *records.Observation, v *records.Validity) *reconcile.Finding {
				if v.HostnameOK {
					return nil
				}
				kind := "name"
				if net.ParseIP(v.Name) != nil {
					kind = "IP address"
				}
				sans := o.Leaf().SANs
				return &reconcile.Finding{Message: fmt.Sprintf("certificate does not cover the %s %s (SANs: %s)", kind, v.Name, strings.Join(sans, ", ")),
					Evidence: map[string]any{"name": v.Name, "sans": sans, "validity_time": v.Time}}
			})
		},
	})
}
