package checks

import (
	"fmt"
	"slices"
	"time"

	"github.com/keyaudit/keyaudit/reconcile"
)

func init() {
	reconcile.Register(&reconcile.Check{
		ID:       "key-destruction-unverified",
		Severity: reconcile.High,
		Description: "keyaudit carried out an approved key destruction, and no read of the key's source has shown the key gone since: " +
			"the destruction failed, was partial, or (AWS KMS) is still in its waiting period.",
		Help: "Run keyaudit destroy verify PLAN, or the next inventory read; if the key is still there, find out why the source kept it " +
			"(an object the plan did not name, a replica, a backup) and destroy it, or record why it stays (NIST SP 800-57 Part 1 §8.3.4).",
		Citations: []string{"NIST SP 800-57 Part 1 Rev. 5 §8.3.4 (key destruction)", "PCI DSS 4.0 3.7.5 (retirement and destruction of keys)"},
		Controls:  []string{pciKeyLifecycle, nistKeyMgmt},
		Run: func(s *reconcile.Snapshot) []reconcile.Finding {
			var out []reconcile.Finding
			listed := map[string]bool{} // source|ref listed by the latest complete read
			read := map[string]bool{}   // sources the estate holds a read of
			for i := range s.Keys {
				src := s.KeySource(i)
				listed[src+"|"+s.Keys[i].Ref] = true
				read[src] = true
			}
			for _, d := range s.Destructions {
				if d.Verified {
					continue
				}
				// The latest complete inventory read of the source lists
				// none of the objects: it has shown the key gone (the key
				// existed when the plan was made, so a read from before the
				// destruction would list it).
				still := slices.ContainsFunc(d.Refs, func(r string) bool { return listed[d.Source+"|"+r] })
				if read[d.Source] && !still {
					continue
				}
				sev, what := reconcile.High, "and the source still holds it"
				switch {
				case d.Outcome == "scheduled" && d.DeletionDate != nil && s.Now.Before(*d.DeletionDate):
					sev, what = reconcile.Low, "and its deletion is scheduled for "+d.DeletionDate.UTC().Format(time.DateOnly)
				case !read[d.Source]:
					what = "and the estate holds no complete read of its source since"
				case d.Outcome == "failed":
					what = "but the source refused or failed, and still holds it"
				}
				out = append(out, reconcile.Finding{Severity: sev, Subject: d.Name, SPKISHA256: d.SPKISHA256,
					Message: fmt.Sprintf("key %s of %s was %s by plan %s (action %d) on %s %s", d.Name, d.Source, d.Outcome, d.PlanID, d.Action,
						d.At.UTC().Format(time.DateOnly), what),
					Evidence: map[string]any{"plan_id": d.PlanID, "action": d.Action, "source": d.Source, "refs": d.Refs, "outcome": d.Outcome, "remaining": d.Remaining},
					Source:   d.Source})
			}
			return out
		},
	})
}
