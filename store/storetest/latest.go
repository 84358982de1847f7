package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/keyaudit/keyaudit/store"
)

// testLatestItems: LatestItems keeps each key's latest n items of the
// runs of one kind and status, in key, run, insertion order, and names
// each key's first such run.
func testLatestItems(t *testing.T, s store.Store) {
	ctx := context.Background()
	put := func(kind string, status store.RunStatus, keys ...string) int64 {
		t.Helper()
		r, err := s.BeginRun(ctx, store.RunSpec{Kind: kind})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if err := s.Put(ctx, r.ID, store.Item{Kind: "obs", Key: k, Data: json.RawMessage(fmt.Sprintf(`{"run":%d}`, r.ID))}); err != nil {
				t.Fatal(err)
			}
		}
		if status != store.StatusRunning {
			if err := s.FinishRun(ctx, r.ID, status, ""); err != nil {
				t.Fatal(err)
			}
		}
		return r.ID
	}
	r1 := put("scan", store.StatusComplete, "a", "b")
	r2 := put("scan", store.StatusComplete, "a")
	put("reconcile", store.StatusComplete, "a", "b") // another kind of run
	r4 := put("scan", store.StatusPartial, "a", "B")
	put("scan", store.StatusRunning, "a") // not finished
	r6 := put("scan", store.StatusComplete, "b")

	type row struct {
		run, first int64
		key        string
	}
	var got []row
	err := s.LatestItems(ctx, "scan", "obs", []store.RunStatus{store.StatusComplete, store.StatusPartial}, 2, func(run, first int64, it store.Item) error {
		got = append(got, row{run, first, it.Key})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []row{{r4, r4, "B"}, {r2, r1, "a"}, {r4, r1, "a"}, {r1, r1, "b"}, {r6, r1, "b"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("LatestItems = %v, want %v", got, want)
	}
}
