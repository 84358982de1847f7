package checks

import (
	"fmt"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/scanner"
)

// Drift checks compare the scan in the snapshot with the previous complete
// scan (Snapshot.PreviousObservations). An endpoint is identified by
// protocol, target and IP. Without a previous scan they report nothing.

// bothComplete reports whether a previous scan exists and both it and the
// current scan completed: only then does an absence mean something.
func bothComplete(s *reconcile.Snapshot) bool {
	return s.PreviousScan != nil && s.PreviousScan.Status == "complete" && s.HasSource("scan") && s.SourceComplete("scan")
}

func timedOut(o *scanner.Observation) bool {
	return o != nil && o.Error != nil && o.Error.Kind == scanner.KindTimeout
}

func errorOf(o *scanner.Observation) string {
	if o == nil {
		return "not in the scan"
	}
	if o.Error != nil {
		return string(o.Error.Kind) + ": " + o.Error.Message
	}
	return "no certificate"
}

// changedLeaves calls fn for each endpoint that served a leaf in both
// scans, with the current and previous observation.
func changedLeaves(s *reconcile.Snapshot, fn func(cur, prev *scanner.Observation)) {
	if s.PreviousScan == nil || len(s.PreviousObservations) == 0 {
		return
	}
	prev := s.ByEndpoint(true)
	for i := range s.Observations {
		cur := &s.Observations[i]
		if cur.Leaf() == nil {
			continue
		}
		p, ok := prev[reconcile.KeyOf(cur)]
		if !ok || p.Leaf() == nil {
			continue
		}
		fn(cur, p)
	}
}

func driftEvidence(s *reconcile.Snapshot) map[string]any {
	return map[string]any{"previous_scan_run": s.PreviousScan.RunID}
}

var driftCitations = []string{"NIST SP 800-53 Rev. 5 CM-3 (configuration change control)", "NIST SP 800-53 Rev. 5 CM-8 (system component inventory)", "PCI DSS 4.0 12.5.1 (inventory of in-scope components)"}

func init() {
	reconcile.Register(&reconcile.Check{
		ID:          "endpoint-new",
		Severity:    reconcile.Info,
		Description: "An endpoint serves TLS that did not in the previous complete scan.",
		Help:        "Confirm the service is expected and owned; add its key to the inventory if it is not there.",
		Citations:   driftCitations,
		Controls:    []string{pciKeyMgmt, nistKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			if !bothComplete(s) {
				return nil
			}
			prev := s.ByEndpoint(true)
			var out []reconcile.Finding
			for i := range s.Observations {
				o := &s.Observations[i]
				l := o.Leaf()
				if l == nil {
					continue
				}
				p, seen := prev[reconcile.KeyOf(o)]
				// A previous timeout may have hidden a live endpoint: not new.
				if seen && (p.Leaf() != nil || timedOut(p)) {
					continue
				}
				was := "not in the previous scan"
				if seen {
					was = "previous scan: " + errorOf(p)
				}
				ev := driftEvidence(s)
				ev["previous"] = was
				out = append(out, reconcile.Finding{Subject: l.Subject, SPKISHA256: l.SPKISHA256, CertSHA256: l.SHA256, Endpoint: reconcile.EndpointName(o),
					Message: fmt.Sprintf("new endpoint serving %s (%s)", l.Subject, was), Evidence: ev})
			}
			return out
		},
	})
	reconcile.Register(&reconcile.Check{
		ID:          "endpoint-gone",
		Severity:    reconcile.Low,
		Description: "An endpoint that served a certificate in the previous complete scan no longer does.",
		Help: "If the service was retired, retire its key (and revoke its certificate if still valid); otherwise find out why it stopped answering. " +
			"Not reported when either scan was partial or when the endpoint now times out, since either may be transient.",
		Citations: append([]string{"NIST SP 800-57 Part 1 Rev. 5 §7.3 (key retirement)"}, driftCitations...),
		Controls:  []string{pciKeyLifecycle, nistKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			if !bothComplete(s) {
				return nil
			}
			cur := s.ByEndpoint(false)
			var out []reconcile.Finding
			for i := range s.PreviousObservations {
				p := &s.PreviousObservations[i]
				l := p.Leaf()
				if l == nil {
					continue
				}
				c := cur[reconcile.KeyOf(p)]
				if c != nil && (c.Leaf() != nil || timedOut(c)) {
					continue
				}
				ev := driftEvidence(s)
				ev["now"] = errorOf(c)
				out = append(out, reconcile.Finding{Subject: l.Subject, SPKISHA256: l.SPKISHA256, CertSHA256: l.SHA256, Endpoint: reconcile.EndpointName(p),
					Message: fmt.Sprintf("endpoint that served %s is gone (%s)", l.Subject, errorOf(c)), Evidence: ev})
			}
			return out
		},
	})
	reconcile.Register(&reconcile.Check{
		ID:          "certificate-changed",
		Severity:    reconcile.Info,
		Description: "An endpoint serves a different certificate than in the previous scan.",
		Help:        "Expected after a renewal; otherwise confirm who replaced it. A change of key is reported separately when the new key is unmanaged.",
		Citations:   driftCitations,
		Controls:    []string{pciKeyMgmt, nistKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			changedLeaves(s, func(cur, prev *scanner.Observation) {
				l, pl := cur.Leaf(), prev.Leaf()
				if l.SHA256 == pl.SHA256 {
					return
				}
				ev := driftEvidence(s)
				ev["previous_cert_sha256"], ev["previous_subject"], ev["previous_not_after"] = pl.SHA256, pl.Subject, pl.NotAfter
				ev["key_changed"] = l.SPKISHA256 != pl.SPKISHA256
				out = append(out, reconcile.Finding{Subject: l.Subject, SPKISHA256: l.SPKISHA256, CertSHA256: l.SHA256, Endpoint: reconcile.EndpointName(cur),
					Message: fmt.Sprintf("certificate changed (was %s, serial %s, expiring %s)", pl.Subject, pl.Serial, pl.NotAfter.Format("2006-01-02")), Evidence: ev})
			})
			return out
		},
	})
	reconcile.Register(&reconcile.Check{
		ID:          "key-changed-unmanaged",
		Severity:    reconcile.Medium,
		Description: "An endpoint's key changed since the previous scan and the new key is in no inventory source: a key was replaced outside key management.",
		Help:        "Find who generated the new key; bring it under management (HSM/KMS and inventory) or re-issue with a managed key, and retire the old one.",
		Citations:   append([]string{"NIST SP 800-57 Part 2 Rev. 1 §6.3 (key inventory)", "PCI DSS 4.0 3.6.1"}, driftCitations...),
		Controls:    []string{pciKeyMgmt, pciKeyLifecycle, nistKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			changedLeaves(s, func(cur, prev *scanner.Observation) {
				l, pl := cur.Leaf(), prev.Leaf()
				if l.SPKISHA256 == pl.SPKISHA256 || s.Managed(l.SPKISHA256) {
					return
				}
				msg := fmt.Sprintf("key changed (spki %.16s… → %.16s…) and the new key is in no inventory source", pl.SPKISHA256, l.SPKISHA256)
				if !s.SourceComplete("inventory") {
					msg += " (the inventory run was partial)"
				}
				ev := driftEvidence(s)
				ev["previous_spki_sha256"], ev["previous_cert_sha256"], ev["previous_key_managed"] = pl.SPKISHA256, pl.SHA256, s.Managed(pl.SPKISHA256)
				out = append(out, reconcile.Finding{Subject: l.Subject, SPKISHA256: l.SPKISHA256, CertSHA256: l.SHA256, Endpoint: reconcile.EndpointName(cur),
					Message: msg, Evidence: ev})
			})
			return out
		},
	})
}
