package checks

import (
	"fmt"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:          "kms-key-rotation-disabled",
		Severity:    reconcile.Medium,
		Description: "A key manager's enabled symmetric key does not have automatic rotation turned on.",
		Help:        "Turn on automatic rotation (aws kms enable-key-rotation, a rotation period on the key ring), or record the cryptoperiod and the manual rotation that replaces it.",
		Citations: []string{"NIST SP 800-57 Part 1 Rev. 5 §5.3 (cryptoperiods)", "PCI DSS 4.0 3.6.4 / 3.7.4 (cryptoperiods)",
			"CIS AWS Foundations Benchmark v3.0.0 3.6 (rotation of customer created symmetric keys)"},
		Controls: []string{pciKeyLifecycle, nistKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for i := range s.Keys {
				k := &s.Keys[i]
				// Only the manager's own answer counts: Rotation is null
				// for keys it cannot rotate (asymmetric, imported).
				if !fromKeyManager(k) || k.Class != records.ClassSecretKey || k.State != "enabled" || k.Rotation == nil || *k.Rotation {
					continue
				}
				out = append(out, reconcile.Finding{Subject: k.Name(),
					Message:  fmt.Sprintf("%s %s key %s is not rotated automatically", k.Source, k.KeyType, k.Name()),
					Evidence: map[string]any{"source": k.Source, "uri": k.URI, "state": k.State, "origin": k.Origin, "created": k.StartDate},
					Source:   keySource(k)})
			}
			return out
		},
	})
}

// fromKeyManager reports whether a key comes from a key manager (a cloud
// KMS) that reports its lifecycle state, rather than from a token or a
// file.
func fromKeyManager(k *records.Key) bool { return k.State != "" }

// pendingDeletion reports whether the key manager will destroy the key.
func pendingDeletion(k *records.Key) bool {
	return k.State == "pending_deletion" || k.State == "pending_replica_deletion"
}
