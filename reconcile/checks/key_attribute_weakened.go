package checks

import (
	"fmt"
	"slices"
	"strings"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:       "key-attribute-weakened",
		Severity: reconcile.High,
		Description: "A key listed by two complete reads of a source lost protection between them: it stopped being sensitive, became " +
			"extractable, gained a usage, or its key manager's state went back (deactivated or compromised to active, destroyed to anything else).",
		Help: "A PKCS#11 token lets CKA_SENSITIVE change only to true and CKA_EXTRACTABLE only to false, so a weakened object was replaced " +
			"or the token misbehaves; a key manager state that goes back breaks the key's lifecycle (NIST SP 800-57 Part 1 §7). " +
			"Find who changed the key; if the change was not approved, treat the key as compromised and replace it.",
		Citations: []string{"PKCS #11 v3.0 §4.9–4.10 (CKA_SENSITIVE only to CK_TRUE, CKA_EXTRACTABLE only to CK_FALSE)",
			"NIST SP 800-57 Part 1 Rev. 5 §7 (key states and transitions)", "PCI DSS 4.0 3.6.1 (procedures to protect cryptographic keys)"},
		Controls: []string{pciKeyMgmt, nistKeyMgmt},
		Sticky:   true,
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			for i := range s.Changed {
				c := &s.Changed[i]
				b, a := &c.Before, &c.After
				var what []string
				if isTrue(b.Sensitive) && isFalse(a.Sensitive) {
					what = append(what, "no longer sensitive")
				}
				if isFalse(b.Extractable) && isTrue(a.Extractable) {
					what = append(what, "now extractable")
				}
				var gained []string
				for _, u := range a.Usage {
					if !slices.Contains(b.Usage, u) {
						gained = append(gained, u)
					}
				}
				if len(gained) > 0 {
					what = append(what, "usage broadened by "+strings.Join(gained, ", "))
				}
				if stateWentBack(b.State, a.State) {
					what = append(what, fmt.Sprintf("state went back from %s to %s", b.State, a.State))
				}
				if len(what) == 0 {
					continue
				}
				out = append(out, reconcile.Finding{Severity: reconcile.High, Subject: a.Name(), SPKISHA256: a.SPKISHA256,
					Message: fmt.Sprintf("%s %s key %s of %s weakened between runs %d and %d: %s",
						a.KeyType, a.Class, a.Name(), c.Source, c.PrevRun, c.Run, strings.Join(what, "; ")),
					Evidence: map[string]any{"source": c.Source, "previous_run": c.PrevRun, "run": c.Run, "label": a.Label, "id": a.ID, "class": a.Class,
						"changes": what, "before": attrs(b), "after": attrs(a)},
					Source: keySource(a)})
			}
			return out
		},
	})
}

func isTrue(b *bool) bool  { return b != nil && *b }
func isFalse(b *bool) bool { return b != nil && !*b }

// stateRank orders the KMIP lifecycle states (as the kmip source writes
// them) by how far along a key is; a key only moves forward. Other
// managers' states (AWS KMS enabled/disabled/pending_deletion) may go
// back and forth by design and are not ranked (-1).
func stateRank(s string) int {
	switch s {
	case "pre_active", "active":
		return 0
	case "deactivated":
		return 1
	case "compromised", "destroyed":
		return 2
	case "destroyed_compromised":
		return 3
	}
	return -1
}

func stateWentBack(before, after string) bool {
	b, a := stateRank(before), stateRank(after)
	return b > 0 && a >= 0 && a < b
}

// attrs are the attributes the check compares, for the evidence.
func attrs(k *records.Key) map[string]any {
	return map[string]any{"sensitive": k.Sensitive, "extractable": k.Extractable, "usage": k.Usage, "state": k.State}
}
