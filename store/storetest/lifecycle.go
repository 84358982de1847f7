package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/store"
)

// runLifecycle registers the tests of run leases, the estate view's
// per-key history, the findings lifecycle and the Recorder.
func runLifecycle(t *testing.T, open func(t *testing.T) store.Store, o options) {
	t.Run("Lease", func(t *testing.T) { testLease(t, open(t)) })
	t.Run("KindItems", func(t *testing.T) { testKindItems(t, open(t)) })
	t.Run("KindItemsManyPages", func(t *testing.T) { testKindItemsMany(t, open(t)) })
	t.Run("Findings", func(t *testing.T) { testFindings(t, open(t)) })
	t.Run("ConcurrentUpdateFindings", func(t *testing.T) {
		s := open(t)
		handles := make([]store.Store, 8)
		for i := range handles {
			handles[i] = s
			if o.again != nil && i > 0 {
				handles[i] = o.again(t, s)
			}
		}
		testConcurrentUpdateFindings(t, s, handles)
	})
	t.Run("Recorder", func(t *testing.T) { testRecorder(t, open(t)) })
}

func mustBegin(t *testing.T, s store.Store, spec store.RunSpec) store.Run {
	t.Helper()
	r, err := s.BeginRun(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustGet(t *testing.T, s store.Store, id int64) store.Run {
	t.Helper()
	r, err := s.GetRun(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func runIDs(runs []store.Run) []int64 {
	ids := make([]int64, 0, len(runs))
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	return ids
}

// testLease: a run records its holder and heartbeat; a renewed lease
// keeps it; one not renewed within the lease is marked abandoned, after
// which its holder can neither renew nor finish it; a finished run is
// never abandoned.
func testLease(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := mustBegin(t, s, store.RunSpec{Kind: "scan", Holder: "host-a:101"})
	if r.Holder != "host-a:101" || r.Heartbeat.IsZero() || !r.Heartbeat.Equal(r.Started) {
		t.Fatalf("BeginRun = %+v: want holder host-a:101 and heartbeat = started", r)
	}
	got := mustGet(t, s, r.ID)
	if got.Holder != r.Holder || !got.Heartbeat.Equal(r.Heartbeat) || got.Heartbeat.Location() != time.UTC {
		t.Fatalf("GetRun = %+v, BeginRun returned %+v", got, r)
	}
	done := mustBegin(t, s, store.RunSpec{Kind: "scan", Holder: "host-a:102"})
	if err := s.FinishRun(ctx, done.ID, store.StatusComplete, "all good"); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, done.ID, store.StatusFailed, "again"); !errors.Is(err, store.ErrRunClosed) {
		t.Fatalf("FinishRun of a finished run: err = %v, want ErrRunClosed", err)
	}

	time.Sleep(20 * time.Millisecond)
	if err := s.Heartbeat(ctx, r.ID); err != nil {
		t.Fatalf("Heartbeat of a running run: %v", err)
	}
	renewed := mustGet(t, s, r.ID).Heartbeat
	if !renewed.After(r.Heartbeat) {
		t.Fatalf("heartbeat %v after Heartbeat, was %v: not renewed", renewed, r.Heartbeat)
	}
	if runs, err := s.AbandonStale(ctx, time.Hour); err != nil || len(runs) != 0 {
		t.Fatalf("AbandonStale(1h) = %v, %v; want none", runIDs(runs), err)
	}
	if got := mustGet(t, s, r.ID); got.Status != store.StatusRunning {
		t.Fatalf("run %d is %s after AbandonStale(1h)", r.ID, got.Status)
	}

	// r3 renews its lease just before the check; r does not.
	r3 := mustBegin(t, s, store.RunSpec{Kind: "inventory", Holder: "host-b:7"})
	time.Sleep(300 * time.Millisecond)
	if err := s.Heartbeat(ctx, r3.ID); err != nil {
		t.Fatal(err)
	}
	stale, err := s.AbandonStale(ctx, 250*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) != 1 || stale[0].ID != r.ID {
		t.Fatalf("AbandonStale(250ms) = runs %v, want [%d]", runIDs(stale), r.ID)
	}
	if a := stale[0]; a.Status != store.StatusAbandoned || a.Ended.IsZero() || !strings.Contains(a.Note, "host-a:101") || !a.Heartbeat.Equal(renewed) {
		t.Fatalf("abandoned run as returned = %+v, want status abandoned, an end, a note naming the holder, the last heartbeat %v", a, renewed)
	}
	got = mustGet(t, s, r.ID)
	if got.Status != store.StatusAbandoned || got.Ended.Before(got.Started) || got.Ended.Location() != time.UTC ||
		!strings.Contains(got.Note, "host-a:101") || !strings.Contains(got.Note, renewed.UTC().Format("2006-01-02T15:04:05")) {
		t.Fatalf("abandoned run = %+v: want status abandoned, an end, a note naming holder and last heartbeat %v", got, renewed)
	}
	if err := s.Heartbeat(ctx, r.ID); !errors.Is(err, store.ErrRunClosed) {
		t.Fatalf("Heartbeat of an abandoned run: err = %v, want ErrRunClosed", err)
	}
	if err := s.FinishRun(ctx, r.ID, store.StatusComplete, ""); !errors.Is(err, store.ErrRunClosed) {
		t.Fatalf("FinishRun of an abandoned run: err = %v, want ErrRunClosed", err)
	}
	if got := mustGet(t, s, r.ID); got.Status != store.StatusAbandoned || got.Note != stale[0].Note {
		t.Fatalf("abandoned run changed by a late FinishRun: %+v", got)
	}
	if got := mustGet(t, s, r3.ID); got.Status != store.StatusRunning {
		t.Fatalf("run %d, renewed within its lease, is %s", r3.ID, got.Status)
	}

	// Lease 0: every running run is stale, once.
	time.Sleep(5 * time.Millisecond)
	stale, err = s.AbandonStale(ctx, 0)
	if err != nil || len(stale) != 1 || stale[0].ID != r3.ID || stale[0].Status != store.StatusAbandoned {
		t.Fatalf("AbandonStale(0) = %+v, %v; want run %d abandoned", stale, err, r3.ID)
	}
	if stale, err = s.AbandonStale(ctx, 0); err != nil || len(stale) != 0 {
		t.Fatalf("second AbandonStale(0) = runs %v, %v; want none", runIDs(stale), err)
	}
	if got := mustGet(t, s, done.ID); got.Status != store.StatusComplete || got.Note != "all good" {
		t.Fatalf("finished run = %+v after AbandonStale: a finished run is never abandoned", got)
	}
	runs, err := s.Runs(ctx, store.RunFilter{Status: []store.RunStatus{store.StatusAbandoned}})
	if err != nil || fmt.Sprint(runIDs(runs)) != fmt.Sprint([]int64{r3.ID, r.ID}) {
		t.Fatalf("Runs(abandoned) = %v, %v; want [%d %d]", runIDs(runs), err, r3.ID, r.ID)
	}
}

type kindRow struct {
	run int64
	key string
}

func kindItems(t *testing.T, s store.Store, kind string, statuses ...store.RunStatus) []kindRow {
	t.Helper()
	var got []kindRow
	err := s.KindItems(context.Background(), kind, statuses, func(runID int64, it store.Item) error {
		if it.Kind != kind {
			t.Errorf("KindItems(%s) gave an item of kind %s", kind, it.Kind)
		}
		if want := fmt.Sprintf(`{"run":%d,"key":%q}`, runID, it.Key); string(it.Data) != want {
			t.Errorf("item %s of run %d has data %s, want %s", it.Key, runID, it.Data, want)
		}
		got = append(got, kindRow{runID, it.Key})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// testKindItems: the items of a kind across runs, only from runs of the
// given statuses, ordered by key (bytewise), then run.
func testKindItems(t *testing.T, s store.Store) {
	ctx := context.Background()
	put := func(r store.Run, kind string, keys ...string) {
		t.Helper()
		for _, k := range keys {
			if err := s.Put(ctx, r.ID, store.Item{Kind: kind, Key: k, SPKISHA256: "s-" + k,
				Data: json.RawMessage(fmt.Sprintf(`{"run":%d,"key":%q}`, r.ID, k))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	finish := func(r store.Run, st store.RunStatus) {
		t.Helper()
		if err := s.FinishRun(ctx, r.ID, st, ""); err != nil {
			t.Fatal(err)
		}
	}
	complete := mustBegin(t, s, store.RunSpec{Kind: "inventory"})
	partial := mustBegin(t, s, store.RunSpec{Kind: "inventory"})
	failed := mustBegin(t, s, store.RunSpec{Kind: "scan"})
	running := mustBegin(t, s, store.RunSpec{Kind: "inventory"})
	// Written out of order, and interleaved across runs; "C" sorts
	// before "a" bytewise.
	put(partial, store.KindKey, "d", "a")
	put(complete, store.KindKey, "b", "a", "C")
	put(failed, store.KindKey, "a")
	put(running, store.KindKey, "a", "z")
	put(complete, store.KindSourceStatus, "a")
	put(partial, store.KindSourceStatus, "b")
	finish(complete, store.StatusComplete)
	finish(partial, store.StatusPartial)
	finish(failed, store.StatusFailed)

	want := []kindRow{{complete.ID, "C"}, {complete.ID, "a"}, {partial.ID, "a"}, {complete.ID, "b"}, {partial.ID, "d"}}
	if got := kindItems(t, s, store.KindKey, store.StatusComplete, store.StatusPartial); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("KindItems(key, complete+partial) = %v, want %v", got, want)
	}
	want = []kindRow{{failed.ID, "a"}, {running.ID, "a"}, {running.ID, "z"}}
	if got := kindItems(t, s, store.KindKey, store.StatusFailed, store.StatusRunning); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("KindItems(key, failed+running) = %v, want %v", got, want)
	}
	want = []kindRow{{complete.ID, "a"}}
	if got := kindItems(t, s, store.KindSourceStatus, store.StatusComplete); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("KindItems(source_status, complete) = %v, want %v", got, want)
	}
	if got := kindItems(t, s, store.KindKey, store.StatusInterrupted); len(got) != 0 {
		t.Fatalf("KindItems(key, interrupted) = %v, want none", got)
	}
	if got := kindItems(t, s, store.KindCAA, store.Finished...); len(got) != 0 {
		t.Fatalf("KindItems(caa) = %v, want none", got)
	}
	// Item fields survive.
	err := s.KindItems(ctx, store.KindKey, []store.RunStatus{store.StatusFailed}, func(_ int64, it store.Item) error {
		if it.SPKISHA256 != "s-a" || it.Key != "a" {
			t.Errorf("item = %+v", it)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	if err := s.KindItems(ctx, store.KindKey, store.Finished, func(int64, store.Item) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("KindItems callback error not returned: %v", err)
	}
}

// testKindItemsMany: a history longer than any backend's read page comes
// back whole and in order.
func testKindItemsMany(t *testing.T, s store.Store) {
	ctx := context.Background()
	const perRun = 900
	var runs []store.Run
	for range 3 {
		r := mustBegin(t, s, store.RunSpec{Kind: "inventory"})
		items := make([]store.Item, 0, perRun)
		for i := perRun - 1; i >= 0; i-- { // written in reverse key order
			k := fmt.Sprintf("k%04d", i)
			items = append(items, store.Item{Kind: store.KindKey, Key: k, Data: json.RawMessage(fmt.Sprintf(`{"run":%d,"key":%q}`, r.ID, k))})
		}
		if err := s.Put(ctx, r.ID, items...); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	for _, r := range runs {
		if err := s.FinishRun(ctx, r.ID, store.StatusComplete, ""); err != nil {
			t.Fatal(err)
		}
	}
	got := kindItems(t, s, store.KindKey, store.StatusComplete)
	if len(got) != perRun*len(runs) {
		t.Fatalf("KindItems gave %d items, want %d", len(got), perRun*len(runs))
	}
	for i, g := range got {
		want := kindRow{runs[i%len(runs)].ID, fmt.Sprintf("k%04d", i/len(runs))}
		if g != want {
			t.Fatalf("item #%d = %v, want %v", i, g, want)
		}
	}
}

func findingsOf(t *testing.T, s store.Store, f store.FindingFilter) []store.FindingRecord {
	t.Helper()
	var out []store.FindingRecord
	if err := s.Findings(context.Background(), f, func(r store.FindingRecord) error { out = append(out, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func fingerprints(rs []store.FindingRecord) string {
	fps := make([]string, 0, len(rs))
	for _, r := range rs {
		fps = append(fps, r.Fingerprint)
	}
	return fmt.Sprint(fps)
}

func eventsOf(t *testing.T, s store.Store, fp string) []store.FindingEvent {
	t.Helper()
	var out []store.FindingEvent
	if err := s.FindingEvents(context.Background(), fp, func(e store.FindingEvent) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameFinding(a, b store.FindingRecord) bool {
	return a.Fingerprint == b.Fingerprint && a.Check == b.Check && a.Severity == b.Severity && a.State == b.State &&
		a.FirstSeen.Equal(b.FirstSeen) && a.LastSeen.Equal(b.LastSeen) && a.Since.Equal(b.Since) && a.RunID == b.RunID &&
		string(a.Data) == string(b.Data) && sameJSON(a.Evidence, b.Evidence)
}

// sameJSON compares stored JSON; an empty value reads back as {}.
func sameJSON(a, b json.RawMessage) bool {
	norm := func(x json.RawMessage) string {
		if len(x) == 0 {
			return "{}"
		}
		return string(x)
	}
	return norm(a) == norm(b)
}

// testFindings: what UpdateFindings writes, Findings and FindingEvents
// read back; each update sees the findings of its checks as the last one
// left them; the filters select.
func testFindings(t *testing.T, s store.Store) {
	ctx := context.Background()
	rec1 := mustBegin(t, s, store.RunSpec{Kind: "reconcile"})
	rec2 := mustBegin(t, s, store.RunSpec{Kind: "reconcile"})
	t0 := time.Date(2031, 3, 4, 5, 6, 7, 123456000, time.UTC)
	t1 := t0.Add(26 * time.Hour)
	expired := store.FindingRecord{Fingerprint: "fp-b", Check: "expired", Severity: "high", State: store.FindingOpen,
		FirstSeen: t0, LastSeen: t0, Since: t0, RunID: rec1.ID, Data: json.RawMessage(`{"check":"expired","n":1}`),
		Evidence: json.RawMessage(`{"serial":"01"}`)}
	weak := store.FindingRecord{Fingerprint: "fp-a", Check: "weak-key", Severity: "medium", State: store.FindingOpen,
		FirstSeen: t0, LastSeen: t0, Since: t0, RunID: rec1.ID, Data: json.RawMessage(`{"check":"weak-key"}`)}
	other := store.FindingRecord{Fingerprint: "fp-c", Check: "caa", Severity: "low", State: store.FindingResolved,
		FirstSeen: t0, LastSeen: t0, Since: t0, RunID: rec1.ID, Data: json.RawMessage(`{}`)}

	if got := findingsOf(t, s, store.FindingFilter{}); len(got) != 0 {
		t.Fatalf("Findings on an empty store = %v", fingerprints(got))
	}
	err := s.UpdateFindings(ctx, nil, func(cur map[string]store.FindingRecord) ([]store.FindingRecord, []store.FindingEvent, error) {
		if len(cur) != 0 {
			t.Errorf("first update sees %d findings", len(cur))
		}
		return []store.FindingRecord{expired, weak, other}, []store.FindingEvent{
			{Fingerprint: "fp-b", Time: t0, RunID: rec1.ID, Event: store.EventOpened, Evidence: json.RawMessage(`{"serial":"01"}`)},
			{Fingerprint: "fp-a", Time: t0, RunID: rec1.ID, Event: store.EventOpened},
			{Fingerprint: "fp-c", Time: t0, RunID: rec1.ID, Event: store.EventOpened},
			{Fingerprint: "fp-c", Time: t0, RunID: rec1.ID, Event: store.EventResolved},
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	all := findingsOf(t, s, store.FindingFilter{})
	if fingerprints(all) != "[fp-a fp-b fp-c]" {
		t.Fatalf("Findings = %s, want [fp-a fp-b fp-c] (by fingerprint)", fingerprints(all))
	}
	for i, want := range []store.FindingRecord{weak, expired, other} {
		if !sameFinding(all[i], want) || all[i].FirstSeen.Location() != time.UTC {
			t.Fatalf("finding read back = %+v (data %s, evidence %s), wrote %+v", all[i], all[i].Data, all[i].Evidence, want)
		}
	}

	// A second reconcile of one check sees that check's findings only,
	// resolves one, escalates nothing, and opens a new one.
	err = s.UpdateFindings(ctx, []string{"expired", "weak-key"}, func(cur map[string]store.FindingRecord) ([]store.FindingRecord, []store.FindingEvent, error) {
		if len(cur) != 2 || !sameFinding(cur["fp-b"], expired) || !sameFinding(cur["fp-a"], weak) {
			t.Errorf("update of checks expired, weak-key sees %v", cur)
		}
		resolved := cur["fp-b"]
		resolved.State, resolved.Since, resolved.LastSeen, resolved.RunID = store.FindingResolved, t1, t1, rec2.ID
		resolved.Evidence = json.RawMessage(`{"renewed":true}`)
		fresh := store.FindingRecord{Fingerprint: "fp-d", Check: "expired", Severity: "critical", State: store.FindingOpen,
			FirstSeen: t1, LastSeen: t1, Since: t1, RunID: rec2.ID, Data: json.RawMessage(`{"check":"expired","n":2}`)}
		expired = resolved
		return []store.FindingRecord{resolved, fresh}, []store.FindingEvent{
			{Fingerprint: "fp-b", Time: t1, RunID: rec2.ID, Event: store.EventResolved, Evidence: json.RawMessage(`{"renewed":true}`)},
			{Fingerprint: "fp-d", Time: t1, RunID: rec2.ID, Event: store.EventOpened},
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := findingsOf(t, s, store.FindingFilter{Check: "expired"})
	if fingerprints(got) != "[fp-b fp-d]" || !sameFinding(got[0], expired) || !got[0].FirstSeen.Equal(t0) {
		t.Fatalf("Findings(check expired) = %s %+v", fingerprints(got), got)
	}
	for _, c := range []struct {
		f    store.FindingFilter
		want string
	}{
		{store.FindingFilter{State: store.FindingOpen}, "[fp-a fp-d]"},
		{store.FindingFilter{State: store.FindingResolved}, "[fp-b fp-c]"},
		{store.FindingFilter{ChangedBy: rec2.ID}, "[fp-b fp-d]"},
		{store.FindingFilter{ChangedBy: rec1.ID}, "[fp-a fp-c]"},
		{store.FindingFilter{State: store.FindingOpen, Check: "expired"}, "[fp-d]"},
		{store.FindingFilter{State: store.FindingResolved, ChangedBy: rec2.ID, Check: "expired"}, "[fp-b]"},
		{store.FindingFilter{Check: "none"}, "[]"},
	} {
		if got := fingerprints(findingsOf(t, s, c.f)); got != c.want {
			t.Errorf("Findings(%+v) = %s, want %s", c.f, got, c.want)
		}
	}

	evs := eventsOf(t, s, "fp-b")
	if len(evs) != 2 || evs[0].Event != store.EventOpened || evs[1].Event != store.EventResolved ||
		!evs[0].Time.Equal(t0) || !evs[1].Time.Equal(t1) || evs[1].RunID != rec2.ID || string(evs[1].Evidence) != `{"renewed":true}` ||
		evs[0].ID >= evs[1].ID || evs[0].Fingerprint != "fp-b" {
		t.Fatalf("FindingEvents(fp-b) = %+v", evs)
	}
	evs = eventsOf(t, s, "")
	var seq []string
	for i, e := range evs {
		if i > 0 && e.ID <= evs[i-1].ID {
			t.Fatalf("events not oldest first: %+v", evs)
		}
		seq = append(seq, e.Fingerprint+":"+e.Event)
	}
	if want := "[fp-b:opened fp-a:opened fp-c:opened fp-c:resolved fp-b:resolved fp-d:opened]"; fmt.Sprint(seq) != want {
		t.Fatalf("FindingEvents() = %v, want %s", seq, want)
	}
	if evs := eventsOf(t, s, "fp-none"); len(evs) != 0 {
		t.Fatalf("FindingEvents(unknown) = %+v", evs)
	}

	// An update whose fn fails writes nothing and returns its error.
	boom := errors.New("boom")
	err = s.UpdateFindings(ctx, nil, func(cur map[string]store.FindingRecord) ([]store.FindingRecord, []store.FindingEvent, error) {
		if len(cur) != 4 {
			t.Errorf("update of every check sees %d findings, want 4", len(cur))
		}
		return []store.FindingRecord{{Fingerprint: "fp-z", Check: "x", Severity: "low", State: store.FindingOpen, Data: json.RawMessage(`{}`)}},
			[]store.FindingEvent{{Fingerprint: "fp-z", Event: store.EventOpened}}, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("UpdateFindings with a failing fn: err = %v, want boom", err)
	}
	if got := fingerprints(findingsOf(t, s, store.FindingFilter{})); got != "[fp-a fp-b fp-c fp-d]" {
		t.Fatalf("a failed update wrote: findings %s", got)
	}
	if n := len(eventsOf(t, s, "")); n != 6 {
		t.Fatalf("a failed update wrote: %d events, want 6", n)
	}
}

// testConcurrentUpdateFindings: updates through several handles at once
// each read the counter the previous one wrote: none is lost.
func testConcurrentUpdateFindings(t *testing.T, s store.Store, handles []store.Store) {
	ctx := context.Background()
	rec := mustBegin(t, s, store.RunSpec{Kind: "reconcile"})
	type counter struct {
		N int `json:"n"`
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(handles))
	for i, h := range handles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := h.UpdateFindings(ctx, []string{"counter"}, func(cur map[string]store.FindingRecord) ([]store.FindingRecord, []store.FindingEvent, error) {
				now := time.Now().UTC()
				r, ok := cur["fp-counter"]
				if !ok {
					r = store.FindingRecord{Fingerprint: "fp-counter", Check: "counter", Severity: "low", State: store.FindingOpen,
						FirstSeen: now, Since: now, RunID: rec.ID}
				}
				var c counter
				if len(r.Data) > 0 {
					if err := json.Unmarshal(r.Data, &c); err != nil {
						return nil, nil, err
					}
				}
				c.N++
				// Widen the window between read and write.
				time.Sleep(5 * time.Millisecond)
				b, err := json.Marshal(c)
				if err != nil {
					return nil, nil, err
				}
				r.Data, r.LastSeen = b, now
				return []store.FindingRecord{r}, []store.FindingEvent{{Fingerprint: r.Fingerprint, Time: now, RunID: rec.ID, Event: fmt.Sprintf("bump-%d", i)}}, nil
			})
			if err != nil {
				errs <- fmt.Errorf("writer %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := findingsOf(t, s, store.FindingFilter{Check: "counter"})
	if len(got) != 1 {
		t.Fatalf("Findings(counter) = %s", fingerprints(got))
	}
	var c counter
	if err := json.Unmarshal(got[0].Data, &c); err != nil || c.N != len(handles) {
		t.Fatalf("counter = %s (%v), want %d: concurrent UpdateFindings were not serialised", got[0].Data, err, len(handles))
	}
	if evs := eventsOf(t, s, "fp-counter"); len(evs) != len(handles) {
		t.Fatalf("%d events, want %d", len(evs), len(handles))
	}
}

// testRecorder: a Recorder holds its run's lease while open and finishes
// it exactly once; one closed without an outcome leaves the run failed;
// one whose run was abandoned reports it.
func testRecorder(t *testing.T, s store.Store) {
	ctx := context.Background()
	opts := store.RecorderOptions{BatchSize: 10, BatchInterval: 20 * time.Millisecond, Lease: 2 * time.Second}
	rec, err := store.Begin(ctx, s, store.RunSpec{Kind: "scan", Group: "rec"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	begun := mustGet(t, s, rec.ID())
	if begun.Status != store.StatusRunning || begun.Holder != store.Holder() || begun.Holder != rec.Run().Holder || begun.Group != "rec" {
		t.Fatalf("recorder run = %+v, want running, held by %s", begun, store.Holder())
	}
	for i := range 25 {
		if err := rec.Add(store.Item{Kind: store.KindObservation, Key: fmt.Sprint(i), Data: json.RawMessage(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	// The heartbeat renews every Lease/4 (500ms here).
	deadline := time.Now().Add(5 * time.Second)
	for !mustGet(t, s, rec.ID()).Heartbeat.After(begun.Heartbeat) {
		if time.Now().After(deadline) {
			t.Fatalf("heartbeat of run %d still %v after 5s: the recorder does not renew its lease", rec.ID(), begun.Heartbeat)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if stale, err := s.AbandonStale(ctx, opts.Lease); err != nil || len(stale) != 0 {
		t.Fatalf("AbandonStale(lease) with the recorder open = runs %v, %v", runIDs(stale), err)
	}
	if err := rec.Finish(ctx, store.StatusComplete, "done"); err != nil {
		t.Fatal(err)
	}
	if err := rec.Finish(ctx, store.StatusFailed, "twice"); err != nil {
		t.Fatalf("second Finish: %v", err)
	}
	rec.Close()
	got := mustGet(t, s, rec.ID())
	if got.Status != store.StatusComplete || got.Note != "done" || got.Ended.IsZero() {
		t.Fatalf("finished recorder run = %+v", got)
	}
	if n, err := s.Count(ctx, rec.ID(), store.KindObservation); err != nil || n != 25 {
		t.Fatalf("recorder run holds %d items, %v; want 25", n, err)
	}

	// Closed without an outcome: failed, and what was added is kept.
	rec2, err := store.Begin(ctx, s, store.RunSpec{Kind: "scan", Holder: "host-c:9"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rec2.Run().Holder != "host-c:9" {
		t.Fatalf("holder %q, want the spec's host-c:9", rec2.Run().Holder)
	}
	if err := rec2.Add(store.Item{Kind: store.KindObservation, Key: "x", Data: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	rec2.Close()
	got = mustGet(t, s, rec2.ID())
	if got.Status != store.StatusFailed || got.Note == "" || got.Ended.IsZero() {
		t.Fatalf("recorder closed without Finish: run = %+v, want failed with a note", got)
	}
	if n, err := s.Count(ctx, rec2.ID(), store.KindObservation); err != nil || n != 1 {
		t.Fatalf("recorder closed without Finish holds %d items, %v; want 1", n, err)
	}

	// Abandoned under it: Finish reports the lost lease and does not
	// reopen the run.
	rec3, err := store.Begin(ctx, s, store.RunSpec{Kind: "scan"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer rec3.Close()
	time.Sleep(5 * time.Millisecond)
	if stale, err := s.AbandonStale(ctx, 0); err != nil || len(stale) != 1 || stale[0].ID != rec3.ID() {
		t.Fatalf("AbandonStale(0) = runs %v, %v; want [%d]", runIDs(stale), err, rec3.ID())
	}
	if err := rec3.Finish(ctx, store.StatusComplete, ""); !errors.Is(err, store.ErrRunClosed) {
		t.Fatalf("Finish of an abandoned recorder run: err = %v, want ErrRunClosed", err)
	}
	if got := mustGet(t, s, rec3.ID()); got.Status != store.StatusAbandoned {
		t.Fatalf("abandoned recorder run = %+v after Finish", got)
	}
}
