package checks

import (
	"fmt"

	"github.com/keyaudit/keyaudit/reconcile"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:       "token-changed",
		Severity: reconcile.High,
		Description: "A PKCS#11 token of an inventory source changed between two complete reads: its label is now carried by another " +
			"serial number (the device was replaced) or its serial number carries another label (the token was re-initialised).",
		Help: "Confirm the replacement or re-initialisation was approved and that the keys on the new token were generated or imported " +
			"under dual control; an unexplained change may be a substituted device. The keys of the old token are reported as disappeared, " +
			"those of the new one as appeared.",
		Citations: []string{"NIST SP 800-57 Part 2 Rev. 1 §6.3 (key inventory)", "PCI DSS 4.0 3.6.1 (procedures to protect cryptographic keys)",
			"NIST SP 800-57 Part 1 Rev. 5 §6.1 (protection requirements for cryptographic information)"},
		Controls: []string{pciKeyMgmt, nistKeyMgmt},
		Sticky:   true,
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for i := range s.TokenChanges {
				c := &s.TokenChanges[i]
				what := "re-initialised: its label changed"
				if c.Before.Label == c.After.Label {
					what = "replaced: its serial changed"
				}
				out = append(out, reconcile.Finding{Severity: reconcile.High, Subject: "token " + c.Before.Label,
					Message: fmt.Sprintf("token %s (serial %s) of %s in run %d is token %s (serial %s) in run %d: %s",
						c.Before.Label, c.Before.Serial, c.Source, c.PrevRun, c.After.Label, c.After.Serial, c.Run, what),
					Evidence: map[string]any{"source": c.Source, "previous_run": c.PrevRun, "run": c.Run,
						"label_before": c.Before.Label, "serial_before": c.Before.Serial, "label_after": c.After.Label, "serial_after": c.After.Serial}})
			}
			return out
		},
	})
}
