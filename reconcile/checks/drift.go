package checks

import (
	"fmt"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

// Drift checks read the estate view (Snapshot.Endpoints): each endpoint's
// latest attempt, what it served before, and its failed attempts since.
// An endpoint no run attempted keeps its state, so a narrower run (one
// shard, one ad-hoc host) never makes the rest of the estate drift.

func errorOf(o *records.Observation) string {
	if o == nil {
		return "not attempted"
	}
	if o.Error != nil {
		return string(o.Error.Kind) + ": " + o.Error.Message
	}
	return "no certificate"
}

// endpointOf renders an endpoint state's endpoint for findings.
func endpointOf(e *reconcile.EndpointState) string {
	o := e.Latest
	if e.Served != nil {
		o = e.Served
	}
	return reconcile.EndpointName(o)
}

// changedLeaves calls fn for each endpoint serving a leaf now whose
// previous served leaf differs in what same says.
func changedLeaves(s *reconcile.Snapshot, fn func(e *reconcile.EndpointState)) {
	for i := range s.Endpoints {
		e := &s.Endpoints[i]
		if e.Gone || e.Served == nil || e.Prior == nil || e.Latest != e.Served {
			continue
		}
		fn(e)
	}
}

var driftCitations = []string{"NIST SP 800-53 Rev. 5 CM-3 (configuration change control)", "NIST SP 800-53 Rev. 5 CM-8 (system component inventory)", "PCI DSS 4.0 12.5.1 (inventory of in-scope components)"}

func init() {
	reconcile.Register(&reconcile.Check{
		ID:          "endpoint-new",
		Severity:    reconcile.Info,
		Description: "An endpoint serves TLS that did not before: its earlier attempts failed, or it appeared after the estate's first complete scan.",
		Help:        "Confirm the service is expected and owned; add its key to the inventory if it is not there.",
		Citations:   driftCitations,
		Controls:    []string{pciKeyMgmt, nistKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for i := range s.Endpoints {
				e := &s.Endpoints[i]
				if !e.New || e.Gone {
					continue
				}
				l := e.Served.Leaf()
				out = append(out, reconcile.Finding{Subject: l.Subject, SPKISHA256: l.SPKISHA256, CertSHA256: l.SHA256, Endpoint: endpointOf(e),
					Message:  fmt.Sprintf("new endpoint serving %s (first attempted %s)", l.Subject, e.FirstSeen.UTC().Format("2006-01-02")),
					Evidence: map[string]any{"run": e.ServedRun, "first_attempted": e.FirstSeen}})
			}
			return out
		},
	})
	reconcile.Register(&reconcile.Check{
		ID:          "endpoint-gone",
		Severity:    reconcile.Low,
		Description: "An endpoint that served a certificate was attempted and served no TLS in several consecutive complete scans (policy gone-after, default 2).",
		Help: "If the service was retired, retire its key (and revoke its certificate if still valid); otherwise find out why it stopped answering. " +
			"An endpoint no scan attempted is never gone: it keeps its last state.",
		Citations: append([]string{"NIST SP 800-57 Part 1 Rev. 5 §7.3 (key retirement)"}, driftCitations...),
		Controls:  []string{pciKeyLifecycle, nistKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for i := range s.Endpoints {
				e := &s.Endpoints[i]
				if !e.Gone {
					continue
				}
				l := e.Served.Leaf()
				out = append(out, reconcile.Finding{Subject: l.Subject, SPKISHA256: l.SPKISHA256, CertSHA256: l.SHA256, Endpoint: endpointOf(e),
					Message: fmt.Sprintf("endpoint that served %s is gone: %s; latest: %s", l.Subject, e.GoneEvidence(), errorOf(e.Latest)),
					Evidence: map[string]any{"failed_runs": e.FailRuns, "last_served_run": e.ServedRun, "last_served": e.Served.Time,
						"now": errorOf(e.Latest)}})
			}
			return out
		},
	})
	reconcile.Register(&reconcile.Check{
		ID:          "certificate-changed",
		Severity:    reconcile.Info,
		Description: "An endpoint serves a different certificate than it did at its previous attempt.",
		Help:        "Expected after a renewal; otherwise confirm who replaced it. A change of key is reported separately when the new key is unmanaged.",
		Citations:   driftCitations,
		Controls:    []string{pciKeyMgmt, nistKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			changedLeaves(s, func(e *reconcile.EndpointState) {
				l, pl := e.Served.Leaf(), e.Prior.Leaf()
				if l.SHA256 == pl.SHA256 {
					return
				}
				ev := map[string]any{"run": e.ServedRun, "previous_run": e.PriorRun,
					"previous_cert_sha256": pl.SHA256, "previous_subject": pl.Subject, "previous_not_after": pl.NotAfter, "key_changed": l.SPKISHA256 != pl.SPKISHA256}
				out = append(out, reconcile.Finding{Subject: l.Subject, SPKISHA256: l.SPKISHA256, CertSHA256: l.SHA256, Endpoint: endpointOf(e),
					Message: fmt.Sprintf("certificate changed (was %s, serial %s, expiring %s)", pl.Subject, pl.Serial, pl.NotAfter.Format("2006-01-02")), Evidence: ev})
			})
			return out
		},
	})
	reconcile.Register(&reconcile.Check{
		ID:          "key-changed-unmanaged",
		Severity:    reconcile.Medium,
		Description: "An endpoint's key changed since its previous attempt and the new key is in no inventory source: a key was replaced outside key management.",
		Help:        "Find who generated the new key; bring it under management (HSM/KMS and inventory) or re-issue with a managed key, and retire the old one.",
		Citations:   append([]string{"NIST SP 800-57 Part 2 Rev. 1 §6.3 (key inventory)", "PCI DSS 4.0 3.6.1"}, driftCitations...),
		Controls:    []string{pciKeyMgmt, pciKeyLifecycle, nistKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			changedLeaves(s, func(e *reconcile.EndpointState) {
				l, pl := e.Served.Leaf(), e.Prior.Leaf()
				if l.SPKISHA256 == pl.SPKISHA256 || s.Managed(l.SPKISHA256) {
					return
				}
				msg := fmt.Sprintf("key changed (spki %.16s… → %.16s…) and the new key is in no inventory source", pl.SPKISHA256, l.SPKISHA256)
				if !s.SourceComplete("inventory") {
					msg += " (an inventory source was not read completely)"
				}
				ev := map[string]any{"run": e.ServedRun, "previous_run": e.PriorRun,
					"previous_spki_sha256": pl.SPKISHA256, "previous_cert_sha256": pl.SHA256, "previous_key_managed": s.Managed(pl.SPKISHA256)}
				out = append(out, reconcile.Finding{Subject: l.Subject, SPKISHA256: l.SPKISHA256, CertSHA256: l.SHA256, Endpoint: endpointOf(e),
					Message: msg, Evidence: ev})
			})
			return out
		},
	})
	reconcile.Register(&reconcile.Check{
		ID:          "stale-observation",
		Severity:    reconcile.Low,
		Description: "No scan has attempted an endpoint for longer than the policy's stale-after (default 30 days): what keyaudit knows of it is old.",
		Help:        "Scan it again (it may be outside the scheduled targets now), or remove it from the estate if it was retired.",
		Citations:   append([]string{"NIST SP 800-53 Rev. 5 CA-7 (continuous monitoring)"}, driftCitations...),
		Controls:    []string{nistKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for i := range s.Endpoints {
				e := &s.Endpoints[i]
				if e.Gone || e.Latest == nil || s.Now.Sub(e.Latest.Time) <= s.Policy.StaleAfter {
					continue
				}
				subject := e.Latest.Target
				if l := e.Latest.Leaf(); l != nil {
					subject = l.Subject
				} else if e.Served != nil {
					subject = e.Served.Leaf().Subject
				}
				out = append(out, reconcile.Finding{Subject: subject, Endpoint: endpointOf(e),
					Message:  fmt.Sprintf("last attempted %s (%d days ago, run %d)", e.Latest.Time.UTC().Format("2006-01-02"), days(s.Now.Sub(e.Latest.Time)), e.LatestRun),
					Evidence: map[string]any{"last_attempt": e.Latest.Time, "run": e.LatestRun}})
			}
			return out
		},
	})
}
