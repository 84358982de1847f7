package stage

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/store"
)

func TestRunsStatuses(t *testing.T) {
	got, err := RunStatuses([]string{" Failed", "interrupted", "ABANDONED"})
	if want := []store.RunStatus{store.StatusFailed, store.StatusInterrupted, store.StatusAbandoned}; err != nil || !slices.Equal(got, want) {
		t.Errorf("RunStatuses = %v, %v; want %v", got, err, want)
	}
	if got, err := RunStatuses(nil); err != nil || got != nil {
		t.Errorf("RunStatuses(nil) = %v, %v", got, err)
	}
	if _, err := RunStatuses([]string{"complete", "nope"}); err == nil || !strings.HasPrefix(err.Error(), `"nope": want running, complete`) {
		t.Errorf("RunStatuses(nope): %v", err)
	}
}

func TestRunsRows(t *testing.T) {
	ctx := context.Background()
	st := tempStore(t)
	done, err := st.BeginRun(ctx, store.RunSpec{Kind: "scan", Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a", "b"} {
		if err := store.PutJSON(ctx, st, done.ID, store.KindObservation, key, "", "", map[string]string{"k": key}); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.PutJSON(ctx, st, done.ID, "not-counted", "x", "", "", 1); err != nil {
		t.Fatal(err)
	}
	if err := st.FinishRun(ctx, done.ID, store.StatusComplete, ""); err != nil {
		t.Fatal(err)
	}
	running, err := st.BeginRun(ctx, store.RunSpec{Kind: "ct", Holder: "host:1"})
	if err != nil {
		t.Fatal(err)
	}
	run, err := st.GetRun(ctx, running.ID)
	if err != nil || run.Heartbeat.IsZero() {
		t.Fatalf("running run %+v, %v: want a heartbeat", run, err)
	}

	// Within its lease a running run is shown running.
	env := Env{Store: st, Now: func() time.Time { return run.Heartbeat.Add(time.Second) }}
	rows, err := Runs(ctx, env, store.RunFilter{})
	if err != nil || len(rows) != 2 {
		t.Fatalf("Runs = %+v, %v", rows, err)
	}
	if rows[0].ID != running.ID || rows[0].Status != store.StatusRunning || len(rows[0].Counts) != 0 {
		t.Errorf("newest first, running: %+v", rows[0])
	}
	if rows[1].ID != done.ID || rows[1].Counts[store.KindObservation] != 2 || len(rows[1].Counts) != 1 {
		t.Errorf("counts of the finished run: %+v", rows[1])
	}

	// Past it, it is shown as the next writer will mark it, and the
	// store is left alone.
	env.Now = func() time.Time { return run.Heartbeat.Add(store.Lease() + time.Second) }
	rows, err = Runs(ctx, env, store.RunFilter{Kind: "ct"})
	if err != nil || len(rows) != 1 {
		t.Fatalf("Runs(ct) = %+v, %v", rows, err)
	}
	if r := rows[0]; r.Status != store.StatusAbandoned || !strings.HasPrefix(r.Note, "no heartbeat from host:1 since ") {
		t.Errorf("expired lease: %+v", r)
	}
	if again, _ := st.GetRun(ctx, running.ID); again.Status != store.StatusRunning {
		t.Errorf("Runs changed the store: %s", again.Status)
	}
	if _, err := Runs(ctx, Env{}, store.RunFilter{}); err == nil {
		t.Error("no store: no error")
	}
}

func TestRunsIDs(t *testing.T) {
	if got, err := RunIDs([]string{"7", "12"}); err != nil || !slices.Equal(got, []int64{7, 12}) {
		t.Errorf("RunIDs = %v, %v", got, err)
	}
	if got, err := RunIDs(nil); err != nil || got != nil {
		t.Errorf("RunIDs(nil) = %v, %v", got, err)
	}
	if _, err := RunIDs([]string{"7", "latest"}); err == nil || err.Error() != `"latest": not a run ID` {
		t.Errorf("RunIDs(latest): %v", err)
	}
}
