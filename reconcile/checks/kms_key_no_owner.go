package checks

import (
	"fmt"

	"github.com/keyaudit/keyaudit/reconcile"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:          "kms-key-no-owner",
		Severity:    reconcile.Low,
		Description: "A key manager's key has no owner tag, and the inventory metadata names no owner for it.",
		Help:        "Tag the key with owner (and purpose), or give its source or a metadata rule an owner in the config.",
		Citations: []string{"NIST SP 800-130 §6.2.1 (key metadata: owner identifier)", "NIST SP 800-57 Part 2 Rev. 1 §6.3 (key inventory)",
			"PCI DSS 4.0 12.3.3 (cryptographic inventory)"},
		Controls: []string{pciKeyMgmt, nistKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for i := range s.Keys {
				k := &s.Keys[i]
				// A key on its way out needs no owner any more.
				if !fromKeyManager(k) || k.Owner != "" || pendingDeletion(k) {
					continue
				}
				out = append(out, reconcile.Finding{Subject: k.Name(), SPKISHA256: k.SPKISHA256,
					Message:  fmt.Sprintf("%s %s key %s has no owner tag and no owner in the inventory metadata", k.Source, k.KeyType, k.Name()),
					Evidence: map[string]any{"source": k.Source, "uri": k.URI, "state": k.State, "tags": len(k.Tags)},
					Source:   keySource(k)})
			}
			return out
		},
	})
}
