// Package storetest is the behaviour every store.Store backend must show.
// Each backend's tests call Run with a constructor of fresh, empty stores.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/store"
)

// Option adds backend capabilities to the suite.
type Option func(*options)

type options struct {
	again  func(t *testing.T, s store.Store) store.Store
	tamper func(t *testing.T, s store.Store, id int64, actor string)
}

// Tamper gives the suite a way to alter an audit entry behind the
// store's back, as someone with SQL access would: set the actor of entry
// id to actor directly in the database (bypassing the append-only
// triggers). With it, the suite checks that VerifyAudit detects it.
func Tamper(fn func(t *testing.T, s store.Store, id int64, actor string)) Option {
	return func(o *options) { o.tamper = fn }
}

// Again gives the suite a way to open another handle on the store s that
// open returned — what a second process would get (its own connections).
// With it, the suite also runs writers through separate handles.
func Again(fn func(t *testing.T, s store.Store) store.Store) Option {
	return func(o *options) { o.again = fn }
}

// Run runs the shared suite. open must return an empty store.
func Run(t *testing.T, open func(t *testing.T) store.Store, opts ...Option) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	t.Run("Runs", func(t *testing.T) { testRuns(t, open(t)) })
	t.Run("RunRoundTrip", func(t *testing.T) { testRunRoundTrip(t, open(t)) })
	t.Run("Items", func(t *testing.T) { testItems(t, open(t)) })
	t.Run("RepeatedKeyInOneBatch", func(t *testing.T) { testRepeatedKey(t, open(t)) })
	t.Run("Advance", func(t *testing.T) { testAdvance(t, open(t)) })
	t.Run("WriteEndsWithContext", func(t *testing.T) { testWriteEndsWithContext(t, open(t)) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, open(t)) })
	t.Run("AuditChain", func(t *testing.T) { testAuditChain(t, open(t), o) })
	t.Run("ConcurrentWriters", func(t *testing.T) { testConcurrent(t, open(t)) })
	t.Run("Groups", func(t *testing.T) { testGroups(t, open(t)) })
	t.Run("LatestItems", func(t *testing.T) { testLatestItems(t, open(t)) })
	t.Run("ConcurrentShardRuns", func(t *testing.T) {
		s := open(t)
		handles := []store.Store{s, s, s, s}
		if o.again != nil {
			for i := 1; i < len(handles); i++ {
				handles[i] = o.again(t, s)
			}
		}
		testShardRuns(t, handles)
	})
	runLifecycle(t, open, o)
	runNotifications(t, open, o)
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

func testRunRoundTrip(t *testing.T, s store.Store) {
	ctx := context.Background()
	r, err := s.BeginRun(ctx, store.RunSpec{Kind: "scan", Group: "rt", Meta: map[string]any{"b": 1, "a": []string{"x"}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	// What BeginRun returns is what readers get back.
	if !got.Started.Equal(r.Started) || got.Started.Location() != time.UTC || !got.Ended.IsZero() ||
		got.Status != store.StatusRunning || string(got.Meta) != string(r.Meta) || got.Kind != "scan" || got.Group != "rt" {
		t.Fatalf("GetRun = %+v (meta %s), BeginRun returned %+v (meta %s)", got, got.Meta, r, r.Meta)
	}
	if err := s.FinishRun(ctx, r.ID, store.StatusPartial, "2 sources failed"); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetRun(ctx, r.ID)
	if got.Status != store.StatusPartial || got.Note != "2 sources failed" || got.Ended.Before(got.Started) || got.Ended.Location() != time.UTC {
		t.Fatalf("finished run = %+v", got)
	}
	runs, err := s.Runs(ctx, store.RunFilter{Kind: "scan", Status: []store.RunStatus{store.StatusComplete}})
	if err != nil || len(runs) != 0 {
		t.Fatalf("Runs(complete) = %+v, %v; want none", runs, err)
	}
	runs, err = s.Runs(ctx, store.RunFilter{Kind: "scan", Status: []store.RunStatus{store.StatusComplete, store.StatusPartial}, Limit: 5})
	if err != nil || len(runs) != 1 || runs[0].ID != r.ID {
		t.Fatalf("Runs(complete, partial) = %+v, %v", runs, err)
	}
	// Item data reads back byte for byte.
	raw := `{"z":1,  "a":"\u00e9\u0000"}`
	if err := s.Put(ctx, r.ID, store.Item{Kind: store.KindObservation, Key: "k", SPKISHA256: "s", CertSHA256: "c", Data: json.RawMessage(raw)}); err != nil {
		t.Fatal(err)
	}
	err = s.Items(ctx, r.ID, store.KindObservation, func(it store.Item) error {
		if string(it.Data) != raw || it.Key != "k" || it.SPKISHA256 != "s" || it.CertSHA256 != "c" || it.Kind != store.KindObservation {
			t.Errorf("item = %+v (data %s)", it, it.Data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, 987654, store.Item{Kind: store.KindObservation, Key: "k", Data: json.RawMessage(`{}`)}); err == nil {
		t.Fatal("Put into a run that does not exist succeeded")
	}
	// An item's DER reads back as bytes from every reader, replaced by a
	// later Put of its key (to none, too); items without one read nil.
	der := []byte{0x30, 0x82, 0x00, 0x00, 0xff, 0x00, 0x01}
	if err := s.Put(ctx, r.ID,
		store.Item{Kind: store.KindSighting, Key: "d", CertSHA256: "c", Data: json.RawMessage(`{}`), DER: der},
		store.Item{Kind: store.KindSighting, Key: "e", Data: json.RawMessage(`{}`), DER: der},
		store.Item{Kind: store.KindSighting, Key: "n", Data: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, r.ID, store.Item{Kind: store.KindSighting, Key: "e", Data: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	check := func(how string, it store.Item) {
		want := map[string][]byte{"d": der}[it.Key]
		if !bytes.Equal(it.DER, want) || (want == nil && it.DER != nil) {
			t.Errorf("%s: item %s DER %x, want %x", how, it.Key, it.DER, want)
		}
	}
	n := 0
	if err := s.Items(ctx, r.ID, store.KindSighting, func(it store.Item) error { n++; check("Items", it); return nil }); err != nil || n != 3 {
		t.Fatalf("Items: %d items, %v", n, err)
	}
	n = 0
	if err := s.KindItems(ctx, store.KindSighting, []store.RunStatus{store.StatusPartial}, func(_ int64, it store.Item) error {
		n++
		check("KindItems", it)
		return nil
	}); err != nil || n != 3 {
		t.Fatalf("KindItems: %d items, %v", n, err)
	}
	n = 0
	if err := s.LatestItems(ctx, "scan", store.KindSighting, []store.RunStatus{store.StatusPartial}, 1, func(_, _ int64, it store.Item) error {
		n++
		check("LatestItems", it)
		return nil
	}); err != nil || n != 3 {
		t.Fatalf("LatestItems: %d items, %v", n, err)
	}
}

func testRepeatedKey(t *testing.T, s store.Store) {
	ctx := context.Background()
	r, err := s.BeginRun(ctx, store.RunSpec{Kind: "scan"})
	if err != nil {
		t.Fatal(err)
	}
	// Within one Put, like one upsert per item in order: the key keeps
	// its first position and takes its last value.
	err = s.Put(ctx, r.ID,
		store.Item{Kind: store.KindObservation, Key: "a", Data: json.RawMessage(`1`)},
		store.Item{Kind: store.KindObservation, Key: "b", Data: json.RawMessage(`2`)},
		store.Item{Kind: store.KindObservation, Key: "a", SPKISHA256: "x", Data: json.RawMessage(`3`)},
		store.Item{Kind: store.KindKey, Key: "a", Data: json.RawMessage(`4`)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := s.Items(ctx, r.ID, store.KindObservation, func(it store.Item) error {
		got = append(got, it.Key+"="+string(it.Data)+"/"+it.SPKISHA256)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[a=3/x b=2/]" {
		t.Fatalf("items = %v, want [a=3/x b=2/]", got)
	}
	if n, _ := s.Count(ctx, r.ID, store.KindKey); n != 1 {
		t.Fatalf("keys = %d, want 1 (same key, other kind)", n)
	}

	// The same in a batch larger than a backend writes at once (a CT
	// commit holds thousands): repeats far apart, and one near the end.
	r2, err := s.BeginRun(ctx, store.RunSpec{Kind: "ct"})
	if err != nil {
		t.Fatal(err)
	}
	var big []store.Item
	for i := range 3000 {
		big = append(big, store.Item{Kind: store.KindSighting, Key: fmt.Sprintf("k%d", i), Data: json.RawMessage(fmt.Sprint(i)), DER: []byte{byte(i)}})
	}
	big = append(big[:1500:1500], append([]store.Item{
		{Kind: store.KindSighting, Key: "k7", Data: json.RawMessage(`"late"`), DER: []byte("late")},
	}, big[1500:]...)...)
	big = append(big, store.Item{Kind: store.KindSighting, Key: "k2998", Data: json.RawMessage(`"last"`)})
	if err := s.Put(ctx, r2.ID, big...); err != nil {
		t.Fatal(err)
	}
	i := 0
	err = s.Items(ctx, r2.ID, store.KindSighting, func(it store.Item) error {
		want, wantData, wantDER := fmt.Sprintf("k%d", i), fmt.Sprint(i), []byte{byte(i)}
		switch i {
		case 7:
			wantData, wantDER = `"late"`, []byte("late")
		case 2998:
			wantData, wantDER = `"last"`, nil
		}
		if it.Key != want || string(it.Data) != wantData || !bytes.Equal(it.DER, wantDER) {
			return fmt.Errorf("item %d: %s=%s der %x, want %s=%s der %x", i, it.Key, it.Data, it.DER, want, wantData, wantDER)
		}
		i++
		return nil
	})
	if err != nil || i != 3000 {
		t.Fatalf("read %d of 3000 items: %v", i, err)
	}
}

func testGroups(t *testing.T, s store.Store) {
	ctx := context.Background()
	begin := func(kind, group string) store.Run {
		r, err := s.BeginRun(ctx, store.RunSpec{Kind: kind, Group: group})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	put := func(r store.Run, keys ...string) {
		for _, k := range keys {
			if err := s.Put(ctx, r.ID, store.Item{Kind: store.KindObservation, Key: k, Data: json.RawMessage(`{}`)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	s1, other, s2 := begin("scan", "nightly"), begin("scan", "weekly"), begin("scan", "nightly")
	inv, failed, lone := begin("inventory", "nightly"), begin("scan", "nightly"), begin("scan", "")
	put(s1, "a", "b")
	put(s2, "c")
	put(other, "x")
	put(inv, "i")
	put(failed, "f")
	put(lone, "l")
	for _, r := range []store.Run{s1, s2, other, inv, lone} {
		if err := s.FinishRun(ctx, r.ID, store.StatusComplete, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.FinishRun(ctx, failed.ID, store.StatusFailed, "boom"); err != nil {
		t.Fatal(err)
	}
	runs, err := store.GroupRuns(ctx, s, "scan", "nightly")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	if fmt.Sprint(ids) != fmt.Sprint([]int64{s1.ID, s2.ID, failed.ID}) {
		t.Fatalf("GroupRuns = %v, want runs %d %d %d oldest first", ids, s1.ID, s2.ID, failed.ID)
	}
	union := func(kind string, statuses ...store.RunStatus) string {
		var keys []string
		err := store.GroupItems(ctx, s, kind, "nightly", store.KindObservation, statuses, func(r store.Run, it store.Item) error {
			if r.Group != "nightly" {
				t.Errorf("item %s from run %d of group %q", it.Key, r.ID, r.Group)
			}
			keys = append(keys, it.Key)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(keys)
	}
	if got := union("scan", store.StatusComplete, store.StatusPartial); got != "[a b c]" {
		t.Fatalf("union of finished scan shards = %s, want [a b c]", got)
	}
	if got := union("scan"); got != "[a b c f]" {
		t.Fatalf("union of all scan runs = %s, want [a b c f]", got)
	}
	if got := union(""); got != "[a b c i f]" {
		t.Fatalf("union of every run kind = %s, want [a b c i f]", got)
	}
	if n, err := store.GroupCount(ctx, s, "scan", "nightly", store.KindObservation, store.StatusComplete); err != nil || n != 3 {
		t.Fatalf("GroupCount = %d, %v; want 3", n, err)
	}
	if _, err := store.GroupRuns(ctx, s, "scan", ""); !errors.Is(err, store.ErrNoGroup) {
		t.Fatalf("GroupRuns(\"\") err = %v, want ErrNoGroup", err)
	}
	stop := errors.New("stop")
	if err := store.GroupItems(ctx, s, "scan", "nightly", store.KindObservation, nil, func(store.Run, store.Item) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("GroupItems callback error not returned: %v", err)
	}
}

// testShardRuns has several writers, each with its own handle when the
// backend can give one, run one shard each of a logical run: begin,
// write in batches, finish — all at once. The group reads back as the
// exact union.
func testShardRuns(t *testing.T, handles []store.Store) {
	ctx := context.Background()
	const perShard = 600
	var wg sync.WaitGroup
	errs := make(chan error, len(handles))
	for i, h := range handles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := h.BeginRun(ctx, store.RunSpec{Kind: "scan", Group: "sharded", Meta: map[string]string{"shard": fmt.Sprintf("%d/%d", i+1, len(handles))}})
			if err != nil {
				errs <- err
				return
			}
			b := store.NewBatcher(ctx, h, r.ID, 64, time.Hour)
			for j := range perShard {
				if err := b.Add(store.Item{Kind: store.KindObservation, Key: fmt.Sprintf("127.0.%d.%d:443", i, j), Data: json.RawMessage(`{}`)}); err != nil {
					errs <- err
					return
				}
			}
			if err := b.Flush(); err != nil {
				errs <- err
				return
			}
			if err := h.FinishRun(ctx, r.ID, store.StatusComplete, ""); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	err := store.GroupItems(ctx, handles[0], "scan", "sharded", store.KindObservation, []store.RunStatus{store.StatusComplete}, func(_ store.Run, it store.Item) error {
		if seen[it.Key] {
			t.Errorf("key %s twice in the union", it.Key)
		}
		seen[it.Key] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != perShard*len(handles) {
		t.Fatalf("union has %d items, want %d", len(seen), perShard*len(handles))
	}
	runs, err := store.GroupRuns(ctx, handles[len(handles)-1], "scan", "sharded")
	if err != nil || len(runs) != len(handles) {
		t.Fatalf("GroupRuns = %d runs, %v; want %d", len(runs), err, len(handles))
	}
}

// testWriteEndsWithContext: a Put or an Advance whose context ends while
// its items are being written keeps all of the batch or none of it (nor
// the position): it fails with the context's error, or succeeds; and the
// store takes the same batch afterwards. The batch is large enough that
// some of the deadlines fall inside the write.
func testWriteEndsWithContext(t *testing.T, s store.Store) {
	ctx := context.Background()
	items := make([]store.Item, 4000)
	for i := range items {
		items[i] = store.Item{Kind: store.KindSighting, Key: fmt.Sprintf("log/%d", i), Data: json.RawMessage(`{"n":1}`), DER: []byte{0x30, 0x03, 1, 2, 3}}
	}
	for _, op := range []struct {
		name  string
		write func(context.Context, int64) error
	}{
		{"Put", func(c context.Context, run int64) error { return s.Put(c, run, items...) }},
		{"Advance", func(c context.Context, run int64) error {
			return s.Advance(c, run, fmt.Sprintf("ct:ending:%d", run), []byte(`{"size":4000}`), items...)
		}},
	} {
		ended := 0
		for _, d := range []time.Duration{time.Millisecond, 10 * time.Millisecond} {
			r, err := s.BeginRun(ctx, store.RunSpec{Kind: "ct"})
			if err != nil {
				t.Fatal(err)
			}
			c, cancel := context.WithCancel(ctx)
			timer := time.AfterFunc(d, cancel)
			err = op.write(c, r.ID)
			timer.Stop()
			cancel()
			cnt, cerr := s.Count(ctx, r.ID, store.KindSighting)
			if cerr != nil {
				t.Fatal(cerr)
			}
			cur, curErr := s.Cursor(ctx, fmt.Sprintf("ct:ending:%d", r.ID))
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("%s ended after %v: %v, want context.Canceled", op.name, d, err)
				}
				ended++
				if cnt != 0 {
					t.Fatalf("%s ended after %v kept %d of %d items", op.name, d, cnt, len(items))
				}
				if !errors.Is(curErr, store.ErrNotFound) {
					t.Fatalf("%s ended after %v kept a position %s (%v)", op.name, d, cur, curErr)
				}
				if err := op.write(ctx, r.ID); err != nil {
					t.Fatalf("%s after an ended one: %v", op.name, err)
				}
				cnt, _ = s.Count(ctx, r.ID, store.KindSighting)
			}
			if cnt != int64(len(items)) {
				t.Fatalf("%s (deadline %v): %d items, want %d", op.name, d, cnt, len(items))
			}
		}
		if ended == 0 {
			t.Fatalf("%s of %d items: no deadline ended it", op.name, len(items))
		}
	}
}
