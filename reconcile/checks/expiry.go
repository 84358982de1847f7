package checks

import (
	"fmt"
	"time"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/reconcile"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:          "certificate-expired",
		Severity:    reconcile.High,
		Description: "An endpoint serves an expired certificate.",
		Help:        "Renew and deploy; automate renewal (ACME) well before notAfter.",
		Citations:   []string{"RFC 5280 §4.1.2.5", "PCI DSS 4.0 4.2.1"},
		Controls:    []string{pciStrongCrypto, hipaaTransmit},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for _, d := range s.DeployedLeaves() {
				if !s.Now.After(d.Cert.NotAfter) {
					continue
				}
				for _, ep := range d.Endpoints {
					out = append(out, reconcile.Finding{Subject: d.Cert.Subject, SPKISHA256: d.Cert.SPKISHA256, CertSHA256: d.Cert.SHA256, Endpoint: ep,
						Message:  fmt.Sprintf("certificate expired %d days ago (%s)", days(s.Now.Sub(d.Cert.NotAfter)), d.Cert.NotAfter.Format(time.DateOnly)),
						Evidence: map[string]any{"not_after": d.Cert.NotAfter}})
				}
			}
			return out
		},
	})
	reconcile.Register(&reconcile.Check{
		ID:          "certificate-expiring",
		Severity:    reconcile.Medium,
		Description: "An endpoint serves a certificate that expires within the policy's thresholds (default 30, 14, 7 days: low, medium, high).",
		Help:        "Renew and deploy before notAfter.",
		Citations:   []string{"RFC 5280 §4.1.2.5", "PCI DSS 4.0 4.2.1"},
		Controls:    []string{pciStrongCrypto, hipaaTransmit},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			th := s.Policy.ExpiryDays
			for _, d := range s.DeployedLeaves() {
				left := d.Cert.NotAfter.Sub(s.Now)
				if left < 0 || len(th) == 0 || left > time.Duration(th[0])*reconcile.Day {
					continue
				}
				// The nearer the threshold crossed, the higher the severity.
				sev := reconcile.Low
				for i, t := range th {
					if left <= time.Duration(t)*reconcile.Day {
						sev = []reconcile.Severity{reconcile.Low, reconcile.Medium, reconcile.High}[min(i, 2)]
					}
				}
				for _, ep := range d.Endpoints {
					out = append(out, reconcile.Finding{Severity: sev, Subject: d.Cert.Subject, SPKISHA256: d.Cert.SPKISHA256, CertSHA256: d.Cert.SHA256, Endpoint: ep,
						Message:  fmt.Sprintf("certificate expires in %d days (%s)", days(left), d.Cert.NotAfter.Format(time.DateOnly)),
						Evidence: map[string]any{"not_after": d.Cert.NotAfter, "days_left": days(left)}})
				}
			}
			return out
		},
	})
	reconcile.Register(&reconcile.Check{
		ID:          "certificate-lifetime",
		Severity:    reconcile.Medium,
		Description: "A publicly logged certificate is valid for longer than the CA/B Forum maximum in force when it was issued (398 days; 200 from 2026-03-15; 100 from 2027-03-15; 47 from 2029-03-15).",
		Help:        "Such a certificate is mis-issued: report it to the CA and replace it with one of compliant lifetime.",
		Citations:   []string{"CA/B Forum BR 6.3.2 (Ballot SC-081v3)"},
		Controls:    []string{pciStrongCrypto},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			// Public certificates: those in CT. Deployed ones are judged when
			// CT saw them too.
			inCT := map[string]bool{}
			for _, sg := range s.Sightings {
				inCT[sg.CertSHA256] = true
			}
			for _, d := range s.DeployedLeaves() {
				if !inCT[d.Cert.SHA256] || d.Cert.SelfSigned {
					continue
				}
				if f, bad := lifetimeFinding(*d.Cert); bad {
					f.Endpoint = d.Endpoints[0]
					out = append(out, f)
				}
			}
			return out
		},
	})
}

// maxLifetimeDays is the BR 6.3.2 maximum validity for a certificate
// issued at t (SC-081v3 schedule).
func maxLifetimeDays(t time.Time) int {
	switch {
	case !t.Before(time.Date(2029, 3, 15, 0, 0, 0, 0, time.UTC)):
		return 47
	case !t.Before(time.Date(2027, 3, 15, 0, 0, 0, 0, time.UTC)):
		return 100
	case !t.Before(time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)):
		return 200
	}
	return 398
}

func lifetimeFinding(c certinfo.Cert) (reconcile.Finding, bool) {
	// BR validity counts notAfter inclusively: notAfter − notBefore + 1 s.
	life := c.NotAfter.Sub(c.NotBefore) + time.Second
	max := maxLifetimeDays(c.NotBefore)
	if life <= time.Duration(max)*reconcile.Day {
		return reconcile.Finding{}, false
	}
	return reconcile.Finding{Subject: c.Subject, SPKISHA256: c.SPKISHA256, CertSHA256: c.SHA256,
		Message:  fmt.Sprintf("valid for %d days, more than the %d-day maximum for certificates issued on %s", days(life), max, c.NotBefore.Format(time.DateOnly)),
		Evidence: map[string]any{"not_before": c.NotBefore, "not_after": c.NotAfter, "max_days": max}}, true
}
