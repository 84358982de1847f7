package queue

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/keyaudit/keyaudit/ctlog"
	"github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/scanner"
	"github.com/keyaudit/keyaudit/stage"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/postgres"
	"github.com/keyaudit/keyaudit/store/records"
)

var (
	server string
	dbSeq  atomic.Int64
)

// TestQueue starts one real PostgreSQL and runs every test against it,
// each in a fresh database with River's tables.
func TestQueue(t *testing.T) {
	server = testlab.Postgres(t)
	t.Run("ScanJobsShardedIntoOneGroup", testScanJobs)
	t.Run("ScanJobValidation", testScanValidation)
	t.Run("CTSyncUniquePerLog", testCTUnique)
	t.Run("CTSyncLogOwnedByOneWorker", testCTOwnership)
	t.Run("CTSyncMisbehaviourCancels", testCTMisbehaviour)
	t.Run("ConcurrentMigrate", testConcurrentMigrate)
}

// fresh returns a migrated store on a new database, and an enqueuer.
func fresh(t *testing.T) (*postgres.Store, *Enqueuer) {
	t.Helper()
	ctx := context.Background()
	dsn := testlab.PostgresDB(t, server, fmt.Sprintf("q_%d", dbSeq.Add(1)))
	st, err := postgres.Open(ctx, dsn+"&pool_max_conns=20")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := Migrate(ctx, st.Pool(), nil); err != nil {
		t.Fatal(err)
	}
	e, err := NewEnqueuer(st.Pool(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return st, e
}

func newWorker(t *testing.T, st *postgres.Store, cfg Config) *Worker {
	t.Helper()
	cfg.Pool, cfg.Store = st.Pool(), st
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 100 * time.Millisecond
	}
	w, err := NewWorker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func drain(t *testing.T, ws ...*Worker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(ws))
	for i, w := range ws {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = w.RunUntilEmpty(ctx) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if ctx.Err() != nil {
		t.Fatal("queue not drained in time")
	}
}

func jobStates(t *testing.T, st *postgres.Store, kind string) map[rivertype.JobState]int {
	t.Helper()
	rc, err := river.NewClient(riverpgxv5.New(st.Pool()), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := rc.JobList(context.Background(), river.NewJobListParams().Kinds(kind).First(1000))
	if err != nil {
		t.Fatal(err)
	}
	out := map[rivertype.JobState]int{}
	for _, j := range res.Jobs {
		out[j.State]++
	}
	return out
}

func testScanJobs(t *testing.T) {
	ctx := context.Background()
	st, e := fresh(t)
	root, err := estate.NewRoot("queue test root", estate.ECDSA256)
	if err != nil {
		t.Fatal(err)
	}
	port := testlab.FreePort(t, "127.32.0.1")
	nTLS := 0
	for i := 1; i < 16; i += 2 {
		cert, err := root.Issue(estate.Leaf{CN: fmt.Sprintf("q%d.queue.test", i), Key: estate.ECDSA256})
		if err != nil {
			t.Fatal(err)
		}
		s, err := estate.ServeTLS(fmt.Sprintf("127.32.0.%d:%d", i, port), &tls.Config{Certificates: []tls.Certificate{cert}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		nTLS++
	}
	args := ScanArgs{Targets: []string{"127.32.0.0/28"}, Ports: []int{port}, Timeout: 5 * time.Second, Group: "q-nightly"}
	var jobs []ScanArgs
	for i := 1; i <= 2; i++ {
		a := args
		a.Shard = fmt.Sprintf("%d/2", i)
		jobs = append(jobs, a)
	}
	res, err := e.EnqueueScan(ctx, 0, jobs...)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Duplicate || res[1].Duplicate || res[0].JobID == res[1].JobID {
		t.Fatalf("enqueued %+v", res)
	}
	// The same shard of the same group, while queued: not a second job.
	again, err := e.EnqueueScan(ctx, 0, jobs[0])
	if err != nil || !again[0].Duplicate || again[0].JobID != res[0].JobID {
		t.Fatalf("re-enqueue of a queued shard = %+v, %v; want the duplicate of job %d", again, err, res[0].JobID)
	}

	// Two workers, one scan job each at a time.
	drain(t, newWorker(t, st, Config{ScanWorkers: 1, CTWorkers: -1}), newWorker(t, st, Config{ScanWorkers: 1, CTWorkers: -1}))
	if s := jobStates(t, st, KindScan); s[rivertype.JobStateCompleted] != 2 || len(s) != 1 {
		t.Fatalf("job states %v, want 2 completed", s)
	}

	// The union of the group equals an unsharded scan of the targets.
	want := map[string]bool{}
	cfg, _ := args.scannerConfig()
	sc, _ := scanner.New(cfg)
	sp, _ := scanner.ParseSpec(args.Targets[0])
	if _, err := sc.Scan(ctx, slices.Values([]scanner.Spec{sp}), func(o scanner.Observation) error {
		items, err := records.ObservationItems(o, nil)
		if err == nil {
			want[items[0].Key+" "+items[0].SPKISHA256] = true
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	spkis := map[string]bool{}
	err = store.GroupItems(ctx, st, "scan", "q-nightly", store.KindObservation, []store.RunStatus{store.StatusComplete}, func(_ store.Run, it store.Item) error {
		if got[it.Key+" "+it.SPKISHA256] {
			t.Errorf("%s twice", it.Key)
		}
		got[it.Key+" "+it.SPKISHA256] = true
		if it.SPKISHA256 != "" {
			spkis[it.SPKISHA256] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 16 || !maps.Equal(got, want) || len(spkis) != nTLS {
		t.Fatalf("group union: %d items, %d keys; unsharded: %d items; want equal sets with %d keys", len(got), len(spkis), len(want), nTLS)
	}
	runs, _ := store.GroupRuns(ctx, st, "scan", "q-nightly")
	var shards []string
	for _, r := range runs {
		var m map[string]any
		json.Unmarshal(r.Meta, &m)
		if r.Status != store.StatusComplete || m["job_id"] == nil || m["worker"] == nil {
			t.Errorf("run %+v (meta %s)", r, r.Meta)
		}
		shards = append(shards, fmt.Sprint(m["shard"]))
	}
	slices.Sort(shards)
	if fmt.Sprint(shards) != "[1/2 2/2]" {
		t.Errorf("runs of the group have shards %v", shards)
	}

	// After completion the group's shard can be queued again.
	again, err = e.EnqueueScan(ctx, 0, jobs[0])
	if err != nil || again[0].Duplicate {
		t.Fatalf("re-enqueue after completion = %+v, %v", again, err)
	}
}

func testScanValidation(t *testing.T) {
	ctx := context.Background()
	_, e := fresh(t)
	for _, a := range []ScanArgs{
		{Group: "g"},
		{Targets: []string{"not a target!"}, Group: "g"},
		{Targets: []string{"127.0.0.1"}},
		{Targets: []string{"127.0.0.1"}, Group: "g", Shard: "3/2"},
		{Targets: []string{"127.0.0.1"}, Group: "g", Scope: []string{"nope"}},
		{Targets: []string{"127.0.0.1"}, Group: "g", Protocol: "gopher"},
	} {
		if _, err := e.EnqueueScan(ctx, 0, ScanArgs{Targets: []string{"127.0.0.2"}, Group: "ok"}, a); err == nil {
			t.Errorf("EnqueueScan(%+v) accepted", a)
		}
	}
}

func TestIntersectScope(t *testing.T) {
	p := func(ss ...string) scanner.Scope {
		s, err := scanner.ParseScope(ss)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		job, worker scanner.Scope
		allowed     []string
		refused     []string
	}{
		{nil, nil, []string{"192.0.2.1", "127.0.0.1"}, nil},
		{p("127.0.0.0/8"), nil, []string{"127.1.2.3"}, []string{"192.0.2.1"}},
		{nil, p("127.0.0.0/8"), []string{"127.1.2.3"}, []string{"192.0.2.1"}},
		{p("0.0.0.0/0"), p("127.30.0.0/16"), []string{"127.30.1.1"}, []string{"127.31.0.1", "192.0.2.1"}},
		{p("127.30.5.0/24", "192.0.2.0/24"), p("127.30.0.0/16"), []string{"127.30.5.9"}, []string{"127.30.6.1", "192.0.2.1"}},
	} {
		got, err := intersect(tc.job, tc.worker)
		if err != nil {
			t.Errorf("intersect(%v, %v): %v", tc.job, tc.worker, err)
			continue
		}
		for _, a := range tc.allowed {
			if !got.Allows(mustAddr(t, a)) {
				t.Errorf("intersect(%v, %v) = %v refuses %s", tc.job, tc.worker, got, a)
			}
		}
		for _, a := range tc.refused {
			if got.Allows(mustAddr(t, a)) {
				t.Errorf("intersect(%v, %v) = %v allows %s", tc.job, tc.worker, got, a)
			}
		}
	}
}

// TestIntersectScopeDisjoint: scopes with nothing in common give no Scope
// at all (an empty one would allow everything, and {::/128} would allow
// "::", which reaches the local host), only an error.
func TestIntersectScopeDisjoint(t *testing.T) {
	for _, tc := range [][2][]string{
		{{"192.0.2.0/24"}, {"127.0.0.0/8"}},
		{{"2001:db8::/32"}, {"127.30.0.0/16", "192.0.2.0/24"}},
	} {
		job, _ := scanner.ParseScope(tc[0])
		worker, _ := scanner.ParseScope(tc[1])
		got, err := intersect(job, worker)
		if !errors.Is(err, errNoOverlap) || got != nil {
			t.Errorf("intersect(%v, %v) = %v, %v; want nil, errNoOverlap", job, worker, got, err)
		}
	}
}

// TestScanJobRefusedByWorkerScope: a worker with --scope cancels, before
// any scanner is built, a job whose scope misses the worker's or whose
// resolvers lie outside the intersected scope.
func TestScanJobRefusedByWorkerScope(t *testing.T) {
	workerScope, err := scanner.ParseScope([]string{"127.30.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	built := false
	w := &Worker{cfg: Config{Scope: workerScope, Logger: slog.New(slog.DiscardHandler), Scanner: func(*scanner.Config) { built = true }}}
	sw := &scanWorker{w: w}
	for _, tc := range []struct {
		name string
		args ScanArgs
		want string
	}{
		{"DisjointScope", ScanArgs{Targets: []string{"192.0.2.1"}, Group: "g", Scope: []string{"192.0.2.0/24"}}, "does not overlap"},
		{"ResolverOutsideWorkerScope", ScanArgs{Targets: []string{"example.test"}, Group: "g", Resolvers: []string{"192.0.2.53:53"}}, "outside"},
		{"ResolverOutsideJobScope", ScanArgs{Targets: []string{"example.test"}, Group: "g", Scope: []string{"127.30.1.0/24"}, Resolvers: []string{"127.30.2.53"}}, "outside"},
		{"ResolverLoopbackElsewhere", ScanArgs{Targets: []string{"example.test"}, Group: "g", Resolvers: []string{"127.0.0.1:53"}}, "outside"},
		{"ResolverUnspecified", ScanArgs{Targets: []string{"example.test"}, Group: "g", Scope: []string{"::/0", "0.0.0.0/0"}, Resolvers: []string{"[::]:53"}}, "outside"},
		{"ResolverHostName", ScanArgs{Targets: []string{"example.test"}, Group: "g", Resolvers: []string{"dns.example.test:53"}}, "not an IP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			built = false
			err := sw.Work(context.Background(), &river.Job[ScanArgs]{JobRow: &rivertype.JobRow{ID: 7}, Args: tc.args})
			var cancel *rivertype.JobCancelError
			if !errors.As(err, &cancel) {
				t.Fatalf("Work = %v, want a cancelled job", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Work = %v, want %q", err, tc.want)
			}
			if built {
				t.Error("a scanner was configured for a refused job")
			}
		})
	}
}

// TestResolversAllowed: resolvers inside the scope pass; any scope-less
// worker passes any resolver.
func TestResolversAllowed(t *testing.T) {
	scope, _ := scanner.ParseScope([]string{"127.30.0.0/16", "2001:db8::/32"})
	ok := ScanArgs{Resolvers: []string{"127.30.0.53", "127.30.0.53:5353", "[2001:db8::53]:53", "::ffff:127.30.0.1", "tcp:127.30.0.53", "udp:[2001:db8::53]"}}
	if err := ok.resolversAllowed(scope); err != nil {
		t.Errorf("resolversAllowed(%v) = %v", ok.Resolvers, err)
	}
	if err := (ScanArgs{}).resolversAllowed(scope); err != nil {
		t.Errorf("no resolvers: %v", err)
	}
	bad := ScanArgs{Resolvers: []string{"127.30.0.53", "8.8.8.8:53"}}
	if err := bad.resolversAllowed(scope); err == nil {
		t.Errorf("resolversAllowed(%v) accepted", bad.Resolvers)
	}
	for _, r := range []string{"tcp:8.8.8.8", "udp:[2001:4860::8888]:53", "tcp:dns.example.test"} {
		if err := (ScanArgs{Resolvers: []string{r}}).resolversAllowed(scope); err == nil {
			t.Errorf("resolversAllowed(%s) accepted", r)
		}
	}
	if err := bad.resolversAllowed(nil); err != nil {
		t.Errorf("empty scope refused %v: %v", bad.Resolvers, err)
	}
}

// ctLog builds a FAKE log with n entries, every 5th naming a watched
// domain; it returns the log and the number of watched entries.
func ctLog(t *testing.T, ca *testlab.CTCA, n int) (*testlab.FakeLog, ctlog.Log, int) {
	t.Helper()
	f := testlab.NewFakeLog(t)
	watched := addEntries(t, f, ca, 0, n)
	l, err := ctlog.NewLog(f.URL, f.PublicKeyBase64(), ctlog.Static)
	if err != nil {
		t.Fatal(err)
	}
	return f, l, watched
}

func addEntries(t *testing.T, f *testlab.FakeLog, ca *testlab.CTCA, from, n int) int {
	t.Helper()
	watched := 0
	for i := from; i < from+n; i++ {
		name := fmt.Sprintf("h%d.other.test", i)
		if i%5 == 0 {
			name = fmt.Sprintf("h%d.example.com", i)
			watched++
		}
		f.Add(t, ca.Cert(t, name), false, ca.Root.Raw)
	}
	f.Publish(t)
	return watched
}

func sightings(t *testing.T, st store.Store) map[string]int {
	t.Helper()
	out := map[string]int{}
	runs, err := st.Runs(context.Background(), store.RunFilter{Kind: "ct"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		st.Items(context.Background(), r.ID, store.KindSighting, func(it store.Item) error {
			out[it.Key]++
			return nil
		})
	}
	return out
}

func testCTUnique(t *testing.T) {
	ctx := context.Background()
	st, e := fresh(t)
	ca := testlab.NewCTCA(t)
	f, l, watched := ctLog(t, ca, 60)
	args := NewCTSyncArgs(l, []string{"example.com"})
	args.From = "start"
	first, err := e.EnqueueCTSync(ctx, 0, args)
	if err != nil || first[0].Duplicate {
		t.Fatalf("enqueue = %+v, %v", first, err)
	}
	// Another job for the same log — even with other settings — is not
	// queued while the first one is: the log has one owner.
	other := args
	other.Watch, other.Group = []string{"example.com", "example.org"}, "other"
	dup, err := e.EnqueueCTSync(ctx, 0, other)
	if err != nil || !dup[0].Duplicate || dup[0].JobID != first[0].JobID {
		t.Fatalf("second job for the log = %+v, %v; want a duplicate of job %d", dup, err, first[0].JobID)
	}
	drain(t, newWorker(t, st, Config{ScanWorkers: -1}))
	cur, err := st.Cursor(ctx, stage.CTCursor(l.ID))
	if err != nil || len(cur) == 0 {
		t.Fatalf("cursor after sync: %q, %v", cur, err)
	}
	got := sightings(t, st)
	if len(got) != watched {
		t.Fatalf("%d sightings, want %d", len(got), watched)
	}

	// Once done, the log can be queued again; the next job resumes from
	// the stored position and records only the new entries.
	more := addEntries(t, f, ca, 60, 40)
	next, err := e.EnqueueCTSync(ctx, 0, args)
	if err != nil || next[0].Duplicate {
		t.Fatalf("enqueue after completion = %+v, %v", next, err)
	}
	drain(t, newWorker(t, st, Config{ScanWorkers: -1}))
	got = sightings(t, st)
	if len(got) != watched+more {
		t.Fatalf("%d sightings after the second job, want %d", len(got), watched+more)
	}
	for k, n := range got {
		if n != 1 {
			t.Errorf("sighting %s recorded %d times", k, n)
		}
	}
	runs, _ := st.Runs(ctx, store.RunFilter{Kind: "ct", Status: []store.RunStatus{store.StatusComplete}})
	if len(runs) != 2 {
		t.Fatalf("%d complete ct runs, want 2", len(runs))
	}
}

// A log whose lock another worker holds is not synced: the job snoozes
// and runs once the lock is free. Two workers over three logs sync each
// log exactly once.
func testCTOwnership(t *testing.T) {
	ctx := context.Background()
	st, e := fresh(t)
	ca := testlab.NewCTCA(t)
	var logs []ctlog.Log
	want := 0
	for range 3 {
		_, l, n := ctLog(t, ca, 30)
		logs = append(logs, l)
		want += n
	}
	// This test plays the worker that owns logs[0].
	conn, err := st.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+ctLockKey+`)`, logs[0].ID); err != nil {
		t.Fatal(err)
	}
	var jobs []CTSyncArgs
	for _, l := range logs {
		a := NewCTSyncArgs(l, []string{"example.com"})
		a.From, a.Group = "start", "ct-fleet"
		jobs = append(jobs, a)
	}
	if _, err := e.EnqueueCTSync(ctx, 0, jobs...); err != nil {
		t.Fatal(err)
	}
	cfg := Config{ScanWorkers: -1, CTWorkers: 2, Snooze: 300 * time.Millisecond}
	w1, w2 := newWorker(t, st, cfg), newWorker(t, st, cfg)
	done := make(chan struct{})
	go func() { defer close(done); drain(t, w1, w2) }()

	// The two free logs are synced; the owned one waits.
	deadline := time.Now().Add(30 * time.Second)
	for {
		runs, _ := st.Runs(ctx, store.RunFilter{Kind: "ct", Status: []store.RunStatus{store.StatusComplete}})
		if len(runs) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("free logs not synced: %d complete runs", len(runs))
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // several snoozes
	if _, err := st.Cursor(ctx, stage.CTCursor(logs[0].ID)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("owned log advanced by a worker: %v", err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(`+ctLockKey+`)`, logs[0].ID); err != nil {
		t.Fatal(err)
	}
	<-done
	for _, l := range logs {
		if _, err := st.Cursor(ctx, stage.CTCursor(l.ID)); err != nil {
			t.Errorf("log %s: %v", l.URL, err)
		}
	}
	got := sightings(t, st)
	if len(got) != want {
		t.Fatalf("%d sightings, want %d", len(got), want)
	}
	for k, n := range got {
		if n != 1 {
			t.Errorf("sighting %s recorded %d times", k, n)
		}
	}
	runs, _ := store.GroupRuns(ctx, st, "ct", "ct-fleet")
	if len(runs) != 3 {
		t.Errorf("%d runs in the group, want 3 (one per log, none for a snoozed attempt)", len(runs))
	}
	if s := jobStates(t, st, KindCTSync); s[rivertype.JobStateCompleted] != 3 {
		t.Errorf("job states %v, want 3 completed", s)
	}
}

func testCTMisbehaviour(t *testing.T) {
	ctx := context.Background()
	st, e := fresh(t)
	ca := testlab.NewCTCA(t)
	f, l, _ := ctLog(t, ca, 20)
	a := NewCTSyncArgs(l, []string{"example.com"})
	a.From = "start"
	w := newWorker(t, st, Config{ScanWorkers: -1})
	if _, err := e.EnqueueCTSync(ctx, 0, a); err != nil {
		t.Fatal(err)
	}
	drain(t, w)
	before, err := st.Cursor(ctx, stage.CTCursor(l.ID))
	if err != nil {
		t.Fatal(err)
	}
	// The log rewrites an entry it already served under a new head.
	addEntries(t, f, ca, 20, 5)
	f.LieReplaceEntry(t, f.Size()-1, ca.Cert(t, "swapped.example.com"), ca.Root.Raw)
	if _, err := e.EnqueueCTSync(ctx, 0, a); err != nil {
		t.Fatal(err)
	}
	drain(t, w)
	if s := jobStates(t, st, KindCTSync); s[rivertype.JobStateCancelled] != 1 || s[rivertype.JobStateCompleted] != 1 {
		t.Fatalf("job states %v, want the second job cancelled (retrying cannot help)", s)
	}
	r, err := store.Latest(ctx, st, "ct")
	if err != nil || r.Status != store.StatusPartial {
		t.Fatalf("run %+v, %v; want partial", r, err)
	}
	// The log's status says it misbehaved, with the evidence; no finding
	// is written by the sync (reconcile makes it from the status).
	var statuses []records.LogStatus
	if err := records.Decode(ctx, st, r.ID, store.KindLogStatus, &statuses); err != nil {
		t.Fatal(err)
	}
	if len(statuses) != 1 || statuses[0].Log != l.URL || statuses[0].Status != records.LogMisbehaviour ||
		statuses[0].Detail["trusted_head"] == nil || statuses[0].Detail["served_head"] == nil {
		t.Fatalf("log statuses %+v, want one misbehaviour with both heads", statuses)
	}
	if n, _ := st.Count(ctx, r.ID, store.KindFinding); n != 0 {
		t.Fatalf("%d findings recorded by the sync, want none", n)
	}
	after, _ := st.Cursor(ctx, stage.CTCursor(l.ID))
	if string(after) != string(before) {
		t.Fatal("misbehaving log's position moved")
	}
}

func testConcurrentMigrate(t *testing.T) {
	ctx := context.Background()
	dsn := testlab.PostgresDB(t, server, fmt.Sprintf("q_%d", dbSeq.Add(1)))
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- Migrate(ctx, st.Pool(), nil) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM river_job`).Scan(&n); err != nil {
		t.Fatalf("river_job after migrate: %v", err)
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
