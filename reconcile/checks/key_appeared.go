package checks

import (
	"fmt"

	"github.com/keyaudit/keyaudit/reconcile"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:       "key-appeared",
		Severity: reconcile.Info,
		Description: "A key an inventory source lists at its latest complete read was not listed at its previous complete read: " +
			"it was generated, imported or restored in between.",
		Help: "Match the key to an approved generation or import (NIST SP 800-57 Part 1 §8.1) and give it an owner, purpose and cryptoperiod " +
			"through a metadata rule. A key no rule or source label describes is medium: nobody has claimed it.",
		Citations: []string{"NIST SP 800-57 Part 1 Rev. 5 §8.1 (pre-operational phase: key generation and registration)",
			"NIST SP 800-57 Part 2 Rev. 1 §6.3 (key inventory)", "PCI DSS 4.0 3.6.1 (procedures to protect cryptographic keys)"},
		Controls: []string{pciKeyMgmt, nistKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for i := range s.Appeared {
				a := &s.Appeared[i]
				k := &a.Key
				// The metadata rules are applied when the source is read:
				// a key they matched carries an owner, purpose or
				// cryptoperiod (so does one its key manager labels).
				sev, why := reconcile.Info, ""
				if k.Owner == "" && k.Purpose == "" && k.Cryptoperiod == "" {
					sev, why = reconcile.Medium, "; no metadata rule matches its label or ID"
				}
				out = append(out, reconcile.Finding{Severity: sev, Subject: k.Name(), SPKISHA256: k.SPKISHA256,
					Message: fmt.Sprintf("%s %s key %s is listed by %s in run %d and was not in its complete read of run %d%s",
						k.KeyType, k.Class, k.Name(), a.Source, a.Run, a.PrevRun, why),
					Evidence: map[string]any{"source": a.Source, "previous_run": a.PrevRun, "run": a.Run, "label": k.Label, "id": k.ID, "class": k.Class,
						"owner": k.Owner, "purpose": k.Purpose},
					Source: keySource(k)})
			}
			return out
		},
	})
}
