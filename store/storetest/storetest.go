// Package storetest is the behaviour every store.Store backend must show.
// Each backend's tests call Run with a constructor of fresh, empty stores.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/keyaudit/keyaudit/store"
)

// Run runs the shared suite. open must return an empty store.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Runs", func(t *testing.T) { testRuns(t, open(t)) })
	t.Run("Items", func(t *testing.T) { testItems(t, open(t)) })
	t.Run("Advance", func(t *testing.T) { testAdvance(t, open(t)) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, open(t)) })
	t.Run("ConcurrentWriters", func(t *testing.T) { testConcurrent(t, open(t)) })
}

func testRuns(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := store.Latest(ctx, s, "scan"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Latest on empty store: err = %v, want ErrNotFound", err)
	}
	r1, err := s.BeginRun(ctx, store.RunSpec{Kind: "scan", Group: "g1", Meta: map[string]string{"shard": "1/2"}})
	if err != nil {
		t.Fatal(err)
	}
	if r1.ID == 0 || r1.Status != store.StatusRunning {
		t.Fatalf("BeginRun = %+v", r1)
	}
	r2, err := s.BeginRun(ctx, store.RunSpec{Kind: "scan", Group: "g1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, r1.ID, store.StatusComplete, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, 999999, store.StatusComplete, ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("FinishRun(missing) err = %v, want ErrNotFound", err)
	}
	got, err := s.GetRun(ctx, r1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.StatusComplete || got.Ended.IsZero() || got.Group != "g1" {
		t.Fatalf("GetRun = %+v", got)
	}
	var meta map[string]string
	if err := json.Unmarshal(got.Meta, &meta); err != nil || meta["shard"] != "1/2" {
		t.Fatalf("meta = %s (%v)", got.Meta, err)
	}
	latest, err := store.Latest(ctx, s, "scan")
	if err != nil || latest.ID != r2.ID {
		t.Fatalf("Latest = %+v, %v; want run %d", latest, err, r2.ID)
	}
	complete, err := store.Latest(ctx, s, "scan", store.StatusComplete)
	if err != nil || complete.ID != r1.ID {
		t.Fatalf("Latest complete = %+v, %v; want run %d", complete, err, r1.ID)
	}
	runs, err := s.Runs(ctx, store.RunFilter{Group: "g1"})
	if err != nil || len(runs) != 2 || runs[0].ID != r2.ID {
		t.Fatalf("Runs(group) = %+v, %v", runs, err)
	}
	if _, err := s.GetRun(ctx, 424242); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetRun(missing) err = %v", err)
	}
}

func testItems(t *testing.T, s store.Store) {
	ctx := context.Background()
	r, err := s.BeginRun(ctx, store.RunSpec{Kind: "scan"})
	if err != nil {
		t.Fatal(err)
	}
	var items []store.Item
	for i := range 250 {
		items = append(items, store.Item{Kind: store.KindObservation, Key: fmt.Sprintf("127.0.0.1:%d", i),
			SPKISHA256: fmt.Sprintf("%064x", i), Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))})
	}
	if err := s.Put(ctx, r.ID, items...); err != nil {
		t.Fatal(err)
	}
	// Same key replaces.
	if err := s.Put(ctx, r.ID, store.Item{Kind: store.KindObservation, Key: "127.0.0.1:0", Data: json.RawMessage(`{"n":-1}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, r.ID, store.Item{Kind: store.KindKey, Key: "k", Data: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	n, err := s.Count(ctx, r.ID, store.KindObservation)
	if err != nil || n != 250 {
		t.Fatalf("Count = %d, %v; want 250", n, err)
	}
	var seen int
	err = s.Items(ctx, r.ID, store.KindObservation, func(it store.Item) error {
		if seen == 0 && string(it.Data) != `{"n":-1}` {
			t.Errorf("first item data = %s, want replaced value", it.Data)
		}
		seen++
		return nil
	})
	if err != nil || seen != 250 {
		t.Fatalf("Items saw %d, %v", seen, err)
	}
	stop := errors.New("stop")
	if err := s.Items(ctx, r.ID, store.KindObservation, func(store.Item) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("Items callback error not returned: %v", err)
	}
}

func testAdvance(t *testing.T, s store.Store) {
	ctx := context.Background()
	r, err := s.BeginRun(ctx, store.RunSpec{Kind: "ct"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Cursor(ctx, "ct:log1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Cursor(missing) err = %v", err)
	}
	if err := s.Advance(ctx, r.ID, "ct:log1", []byte(`{"size":10}`), store.Item{Kind: store.KindSighting, Key: "log1/3", Data: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	v, err := s.Cursor(ctx, "ct:log1")
	if err != nil || string(v) != `{"size":10}` {
		t.Fatalf("Cursor = %s, %v", v, err)
	}
	// A failing item aborts the whole transaction: the cursor stays.
	err = s.Advance(ctx, r.ID, "ct:log1", []byte(`{"size":20}`), store.Item{Kind: "", Key: "bad"})
	if err == nil {
		t.Fatal("Advance with an invalid item succeeded")
	}
	v, _ = s.Cursor(ctx, "ct:log1")
	if string(v) != `{"size":10}` {
		t.Fatalf("cursor moved by a failed Advance: %s", v)
	}
	n, _ := s.Count(ctx, r.ID, store.KindSighting)
	if n != 1 {
		t.Fatalf("sightings = %d, want 1", n)
	}
}

func testAudit(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i := range 3 {
		e, err := s.AppendAudit(ctx, store.AuditEntry{Actor: "alice", Action: "approve", Target: fmt.Sprintf("serial-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		if e.ID == 0 || e.Time.IsZero() {
			t.Fatalf("AppendAudit = %+v", e)
		}
	}
	var targets []string
	if err := s.Audit(ctx, func(e store.AuditEntry) error { targets = append(targets, e.Target); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(targets) != "[serial-0 serial-1 serial-2]" {
		t.Fatalf("audit = %v", targets)
	}
}

func testConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	r, err := s.BeginRun(ctx, store.RunSpec{Kind: "scan"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				if err := s.Put(ctx, r.ID, store.Item{Kind: store.KindObservation, Key: fmt.Sprintf("%d-%d", w, i), Data: json.RawMessage(`{}`)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n, _ := s.Count(ctx, r.ID, store.KindObservation); n != 200 {
		t.Fatalf("count = %d, want 200", n)
	}
}
