package checks

import (
	"fmt"

	"github.com/keyaudit/keyaudit/reconcile"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:       "key-disappeared",
		Severity: reconcile.High,
		Description: "A key an inventory source listed at its previous complete read is missing from its latest complete read: " +
			"it was destroyed, moved or deleted outside the recorded lifecycle, or the source was tampered with.",
		Help: "A key destroyed through an approved keyaudit destroy plan is not reported. Otherwise confirm the key's destruction was approved and recorded (NIST SP 800-57 Part 1 §8.3.4); if it was not, treat it as a possible compromise. " +
			"A key still served or in CT is critical: its certificate now has no managed key behind it.",
		Citations: []string{"NIST SP 800-57 Part 1 Rev. 5 §8.3.4 (key destruction)", "NIST SP 800-57 Part 2 Rev. 1 §6.3 (key inventory)",
			"PCI DSS 4.0 3.7.5 (retirement and destruction of keys)"},
		Controls: []string{pciKeyLifecycle, nistKeyMgmt},
		Sticky:   true,
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			destroyed := map[string]bool{} // source|ref of objects an approved plan destroyed
			for _, d := range s.Destructions {
				if d.Outcome != "failed" || d.Verified {
					for _, r := range d.Refs {
						destroyed[d.Source+"|"+r] = true
					}
				}
			}
			for i := range s.Disappeared {
				d := &s.Disappeared[i]
				k := &d.Key
				if destroyed[d.Source+"|"+k.Ref] {
					continue // destroyed by an approved keyaudit plan: recorded in the audit log
				}
				sev, use := reconcile.High, ""
				if k.SPKISHA256 != "" && s.Seen(k.SPKISHA256) {
					sev, use = reconcile.Critical, " while its key is still served or logged in CT"
				}
				out = append(out, reconcile.Finding{Severity: sev, Subject: k.Name(), SPKISHA256: k.SPKISHA256,
					Message: fmt.Sprintf("%s %s key %s was listed by %s in run %d and is gone from its complete read in run %d%s",
						k.KeyType, k.Class, k.Name(), d.Source, d.LastRun, d.Run, use),
					Evidence: map[string]any{"source": d.Source, "last_listed_run": d.LastRun, "missing_in_run": d.Run, "label": k.Label, "id": k.ID, "class": k.Class},
					Source:   keySource(k)})
			}
			return out
		},
	})
}
