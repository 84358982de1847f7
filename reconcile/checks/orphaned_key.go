package checks

import (
	"fmt"
	"time"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:          "orphaned-key",
		Severity:    reconcile.Medium,
		Description: "An inventory key pair is served on no endpoint and appears in no CT-logged certificate.",
		Help:        "Confirm the key is unused, then deactivate and destroy it at the end of its lifecycle (NIST SP 800-57 Part 1 §8.3), or record why it is kept.",
		Citations:   []string{"NIST SP 800-57 Part 1 Rev. 5 §8.3.4 (key destruction)", "PCI DSS 4.0 3.7.5 (retirement of keys)"},
		Controls:    []string{pciKeyLifecycle, nistKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			// Absence is only evidence when the scan and CT inputs are there
			// and complete.
			if !s.HasSource("scan") || !s.SourceComplete("scan") || !s.SourceComplete("ct") {
				return nil
			}
			// The orphans first, then their findings in a slice of the right
			// size (a million keys would otherwise be copied growing).
			type orphan struct {
				k   *records.Key
				age time.Duration // -1: unknown
			}
			var orphans []orphan
			done := map[string]bool{}
			for i := range s.Keys {
				k := &s.Keys[i]
				if k.SPKISHA256 == "" || k.Class == records.ClassSecretKey || s.Seen(k.SPKISHA256) {
					continue
				}
				// One finding per key pair, on its private half when there is
				// one; only a key held more than once needs remembering.
				group := s.KeysBySPKI(k.SPKISHA256)
				if len(group) > 1 {
					if done[k.SPKISHA256] || k.Class != records.ClassPrivateKey && hasPrivate(s, k.SPKISHA256) {
						continue
					}
					done[k.SPKISHA256] = true
				}
				age := time.Duration(-1)
				if k.StartDate != nil {
					age = s.Now.Sub(*k.StartDate)
					if age < s.Policy.OrphanMinAge {
						continue
					}
				} else if s.Policy.OrphanMinAge > 0 {
					continue // cannot tell its age: do not call it orphaned yet
				}
				orphans = append(orphans, orphan{k, age})
			}
			out := make([]reconcile.Finding, 0, len(orphans))
			for _, o := range orphans {
				k := o.k
				age := "of unknown age"
				ev := map[string]any{"source": k.Source, "token": k.Token, "label": k.Label, "id": k.ID, "class": k.Class}
				if o.age >= 0 {
					age = fmt.Sprintf("%d days old", days(o.age))
					ev["age_days"] = days(o.age)
				}
				out = append(out, reconcile.Finding{Subject: k.Name(), SPKISHA256: k.SPKISHA256,
					Message:  fmt.Sprintf("%s %s key %s is served on no endpoint and in no CT certificate (%s): a candidate for destruction", k.KeyType, k.Class, k.Name(), age),
					Evidence: ev, Source: keySource(k)})
			}
			return out
		},
	})
}

func hasPrivate(s *reconcile.Snapshot, spki string) bool {
	for _, k := range s.KeysBySPKI(spki) {
		if k.Class == records.ClassPrivateKey {
			return true
		}
	}
	return false
}

func keySource(k *records.Key) string {
	if k.Path != "" {
		return k.Path
	}
	return k.URI
}
