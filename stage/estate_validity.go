package stage

import (
	"context"
	"fmt"
	"slices"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
)

// validity keeps each endpoint's and each CT certificate's latest
// validity result, and turns the revocations it proved (OCSP, CRL,
// staple: verified answers only) into the snapshot's revocations, which
// revoked-but-deployed reads and unauthorized-issuance reports (a CT
// certificate its CA revoked stays in the view).
func (e *estate) validity(ctx context.Context) error {
	n := 0
	err := e.latest(ctx, "validity", records.KindValidity, store.Finished, 1, func(runID, _ int64, it store.Item) error {
		if e.run(ctx, runID).Kind != "validity" || !e.visible("validity", runID) {
			return nil
		}
		v, err := records.DecodeValidity(it)
		if err != nil {
			return fmt.Errorf("run %d: %w", runID, err)
		}
		n++
		if len(e.snap.Validity) > 0 && e.snap.Validity[len(e.snap.Validity)-1].Endpoint == v.Endpoint {
			e.snap.Validity[len(e.snap.Validity)-1] = v // a later run of the same endpoint
		} else {
			e.snap.Validity = append(e.snap.Validity, v)
		}
		e.addContrib("validity", runID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("estate: validity: %w", err)
	}
	for _, v := range e.snap.Validity {
		for _, r := range v.Revocation {
			if r.Status != records.RevRevoked {
				continue
			}
			src := r.Source
			if r.URL != "" {
				src += " " + r.URL
			}
			e.snap.Revocations = append(e.snap.Revocations, reconcile.Revocation{CertSHA256: v.CertSHA256, Serial: v.Serial,
				RevokedAt: r.RevokedAt, Reason: r.Reason, Source: src})
			break
		}
	}
	if n > 0 {
		e.snap.Sources = append(e.snap.Sources, reconcile.SourceStatus{Kind: "validity", Status: string(store.StatusComplete),
			Note: fmt.Sprintf("estate: %d validity results from %d runs", len(e.snap.Validity), len(e.contrib["validity"]))})
	}
	// A contributing run that did not complete (endpoints it could not
	// check) is said so: its absence of findings proves nothing.
	ids := make([]int64, 0, len(e.contrib["validity"]))
	for id := range e.contrib["validity"] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if r := e.runs[id]; r.Status != store.StatusComplete {
			e.snap.Sources = append(e.snap.Sources, reconcile.SourceStatus{Kind: "validity", RunID: id, Status: string(r.Status), Note: r.Note})
		}
	}
	return nil
}
