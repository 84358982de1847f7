package checks

import (
	"fmt"

	"github.com/keyaudit/keyaudit/reconcile"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:          "kms-key-pending-deletion-in-use",
		Severity:    reconcile.High,
		Description: "A key manager will destroy a key whose public key is still served on an endpoint or in a CT-logged certificate.",
		Help:        "Cancel the deletion until the certificates using the key are replaced and revoked, or replace them before the deletion date.",
		Citations: []string{"NIST SP 800-57 Part 1 Rev. 5 §7.3 (transitions to the destroyed state)", "NIST SP 800-57 Part 1 Rev. 5 §8.3.4 (key destruction)",
			"PCI DSS 4.0 3.7.5 (retirement and replacement of keys)"},
		Controls: []string{pciKeyLifecycle, nistKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for i := range s.Keys {
				k := &s.Keys[i]
				if !pendingDeletion(k) || k.SPKISHA256 == "" || !s.Seen(k.SPKISHA256) {
					continue
				}
				when := "soon"
				ev := map[string]any{"source": k.Source, "uri": k.URI, "state": k.State}
				if k.DeletionDate != nil {
					when = "on " + k.DeletionDate.Format("2006-01-02")
					ev["deletion_date"] = *k.DeletionDate
				}
				out = append(out, reconcile.Finding{Subject: k.Name(), SPKISHA256: k.SPKISHA256,
					Message:  fmt.Sprintf("%s key %s is pending deletion (%s) but its public key is still served or in a CT-logged certificate", k.Source, k.Name(), when),
					Evidence: ev, Source: keySource(k)})
			}
			return out
		},
	})
}
