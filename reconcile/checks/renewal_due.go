package checks

import (
	"fmt"
	"time"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:       "renewal-due",
		Severity: reconcile.Medium,
		Description: "The ACME CA that issued a served certificate suggests renewing it now (its ACME Renewal Information window is " +
			"open) or should have been renewed already (the window has passed: high) — e.g. before a mass revocation.",
		Help: "Renew the certificate through the ACME client now and deploy it; read the CA's explanation URL when it gives one.",
		Citations: []string{"RFC 9773 §4.2 (suggestedWindow, explanationURL)", "CA/B Forum BR 4.9.1.1 (revocation within 24 hours or 5 days)",
			"PCI DSS 4.0 4.2.1 (certificates are confirmed valid and not expired or revoked)"},
		Controls: []string{pciStrongCrypto, pciKeyLifecycle},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			return validityFindings(s, func(o *records.Observation, v *records.Validity) *reconcile.Finding {
				r := v.Renewal
				if r == nil || r.Problem != "" || r.WindowStart.IsZero() || s.Now.Before(r.WindowStart) {
					return nil
				}
				f := &reconcile.Finding{Message: fmt.Sprintf("ACME renewal window opened %s (until %s)", r.WindowStart.Format(time.DateOnly), r.WindowEnd.Format(time.DateOnly)),
					Evidence: map[string]any{"directory": r.Directory, "window_start": r.WindowStart, "window_end": r.WindowEnd, "explanation_url": r.ExplanationURL, "validity_time": v.Time}}
				if s.Now.After(r.WindowEnd) {
					f.Severity = reconcile.High
					f.Message = fmt.Sprintf("ACME renewal window passed %s: renew now", r.WindowEnd.Format(time.RFC3339))
				}
				if r.ExplanationURL != "" {
					f.Message += "; the CA explains: " + r.ExplanationURL
				}
				return f
			})
		},
	})
}
