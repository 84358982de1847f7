package stage

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/sqlite"
)

// TestLoadReportChanges: a report carries the lifecycle events of its own
// reconcile (opened, reopened, escalated), not those of earlier ones.
func TestLoadReportChanges(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	fs := []reconcile.Finding{
		{Check: "weak-crypto", Severity: reconcile.High, Subject: "a"},
		{Check: "weak-crypto", Severity: reconcile.High, Subject: "b"},
		{Check: "weak-crypto", Severity: reconcile.Critical, Subject: "c"},
	}
	reconcileRun := func(events map[int]string) int64 {
		r, err := st.BeginRun(ctx, store.RunSpec{Kind: "reconcile"})
		if err != nil {
			t.Fatal(err)
		}
		var items []store.Item
		for _, f := range fs {
			b, _ := json.Marshal(f)
			items = append(items, store.Item{Kind: store.KindFinding, Key: f.Fingerprint(), Data: b})
		}
		if err := st.Put(ctx, r.ID, items...); err != nil {
			t.Fatal(err)
		}
		err = st.UpdateFindings(ctx, nil, func(map[string]store.FindingRecord) ([]store.FindingRecord, []store.FindingEvent, error) {
			var recs []store.FindingRecord
			var evs []store.FindingEvent
			for i, ev := range events {
				f := fs[i]
				b, _ := json.Marshal(f)
				recs = append(recs, store.FindingRecord{Fingerprint: f.Fingerprint(), Check: f.Check, Severity: string(f.Severity), State: store.FindingOpen,
					FirstSeen: now, LastSeen: now, Since: now, RunID: r.ID, Data: b})
				evs = append(evs, store.FindingEvent{Fingerprint: f.Fingerprint(), Time: now, RunID: r.ID, Event: ev})
			}
			return recs, evs, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.FinishRun(ctx, r.ID, store.StatusComplete, ""); err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	reconcileRun(map[int]string{0: store.EventOpened, 1: store.EventOpened, 2: store.EventOpened})
	reconcileRun(map[int]string{1: store.EventReopened, 2: store.EventEscalated})
	rep, err := LoadReport(ctx, st, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{fs[1].Fingerprint(): store.EventReopened, fs[2].Fingerprint(): store.EventEscalated}
	if len(rep.Changes) != len(want) {
		t.Fatalf("changes %v, want %v", rep.Changes, want)
	}
	for fp, ev := range want {
		if rep.Changes[fp] != ev {
			t.Errorf("%s: %q, want %q", fp, rep.Changes[fp], ev)
		}
	}
}
