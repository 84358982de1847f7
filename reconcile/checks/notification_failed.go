package checks

import (
	"fmt"
	"time"

	"github.com/keyaudit/keyaudit/reconcile"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:       "notification-failed",
		Severity: reconcile.High,
		Description: "Notifications routed to a sink keep failing: the team they are for has not been told of its findings. " +
			"They stay in the outbox and are retried; this finding resolves once they are delivered.",
		Help: "Check the sink (webhook URL and secret, SMTP server, hook) with keyaudit notify test --route ROUTE, fix it, then run keyaudit notify; " +
			"keyaudit notify list --status pending shows what waits.",
		Citations: []string{"NIST SP 800-57 Part 2 Rev. 1 §4.4 (key management monitoring and reporting)", "PCI DSS 4.0 10.7 (failures of critical security controls are detected and reported)"},
		Controls:  []string{nistKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for _, nf := range s.NotificationFailures {
				out = append(out, reconcile.Finding{Subject: nf.Route + "/" + nf.Sink,
					Message: fmt.Sprintf("%d notifications of route %s to sink %s are undelivered, the oldest since %s, after up to %d attempts; last error: %s",
						nf.Pending, nf.Route, nf.Sink, nf.Oldest.UTC().Format(time.RFC3339), nf.Attempts, nf.LastError),
					Evidence: map[string]any{"route": nf.Route, "sink": nf.Sink, "pending": nf.Pending, "attempts": nf.Attempts, "last_error": nf.LastError}})
			}
			return out
		},
	})
}
