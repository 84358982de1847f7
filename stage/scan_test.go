package stage

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	lab "github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/scanner"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
	"github.com/keyaudit/keyaudit/store/sqlite"
)

// tempStore opens a new SQLite store in a temporary directory.
func tempStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// serveTLS serves a fresh leaf named cn on addr (loopback, port 0).
func serveTLS(t *testing.T, addr, cn string) *lab.Server {
	t.Helper()
	testlab.MustLoopback(t, addr)
	root, err := lab.NewRoot("stage test root", lab.ECDSA256)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := root.Issue(lab.Leaf{CN: cn, Key: lab.ECDSA256})
	if err != nil {
		t.Fatal(err)
	}
	s, err := lab.ServeTLS(addr, &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// closedPort is a loopback endpoint nothing listens on.
func closedPort(t *testing.T, ip string) string {
	t.Helper()
	return fmt.Sprintf("%s:%d", ip, testlab.FreePort(t, ip))
}

func specs(t *testing.T, targets ...string) func(func(scanner.Spec) bool) {
	t.Helper()
	var out []scanner.Spec
	for _, tg := range targets {
		testlab.MustLoopback(t, tg)
		sp, err := scanner.ParseSpec(tg)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sp)
	}
	return slices.Values(out)
}

// storedObservations decodes the observations of run.
func storedObservations(t *testing.T, st store.Store, runID int64) map[string]scanner.Observation {
	t.Helper()
	out := map[string]scanner.Observation{}
	err := st.Items(context.Background(), runID, store.KindObservation, func(it store.Item) error {
		o, err := records.DecodeObservation(it)
		if err != nil {
			return err
		}
		if it.Key != records.ObservationKey(o) {
			t.Errorf("observation of %s stored under %q", o.Target, it.Key)
		}
		if _, dup := out[o.Target]; dup {
			t.Errorf("%s recorded twice", o.Target)
		}
		out[o.Target] = o
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// finishedRun returns the run of out, failing t unless it ended with
// status, as out says.
func finishedRun(t *testing.T, st store.Store, out Outcome, status store.RunStatus) store.Run {
	t.Helper()
	run, err := st.GetRun(context.Background(), out.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != status || run.Ended.IsZero() || run.Note != out.Note {
		t.Errorf("run %+v, want ended %s, noted %q", run, status, out.Note)
	}
	return run
}

func runMeta(t *testing.T, r store.Run) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Meta, &m); err != nil {
		t.Fatalf("run %d meta %s: %v", r.ID, r.Meta, err)
	}
	return m
}

func TestScanRecordsOneObservationPerEndpoint(t *testing.T) {
	a := serveTLS(t, "127.0.61.1:0", "a.stage.test")
	b := serveTLS(t, "127.0.61.2:0", "b.stage.test")
	closed := closedPort(t, "127.0.61.3")
	st := tempStore(t)
	ctx := context.Background()

	var emitted []string
	out, err := Scan(ctx, Env{Store: st}, ScanParams{
		Config:  scanner.Config{Timeout: 5 * time.Second, Shard: scanner.Shard{Index: 1, Count: 1}},
		Targets: specs(t, a.Addr, b.Addr, closed),
		Group:   "g",
		Meta:    map[string]any{"targets": []string{a.Addr, b.Addr, closed}, "shard": "ignored"},
	}, func(o scanner.Observation) error {
		emitted = append(emitted, o.Target)
		return nil
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	want := "3 endpoints, 2 with a chain, 1 refused"
	if out.Stage != "scan" || out.RunID == 0 || out.Status != store.StatusComplete || out.Note != want || out.TookText == "" {
		t.Errorf("outcome %+v, want complete with note %q", out, want)
	}
	if len(emitted) != 3 {
		t.Errorf("emitted %v, want the 3 endpoints", emitted)
	}

	run, err := st.GetRun(ctx, out.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Kind != "scan" || run.Group != "g" || run.Status != store.StatusComplete || run.Note != want || run.Ended.IsZero() {
		t.Errorf("run %+v, want a finished complete scan run of group g noted %q", run, want)
	}
	meta := runMeta(t, run)
	if meta["shard"] != "1/1" || meta["targets"] == nil {
		t.Errorf("run meta %v: want shard 1/1 (from the scanner config) and the caller's keys", meta)
	}

	obs := storedObservations(t, st, run.ID)
	if len(obs) != 3 {
		t.Fatalf("stored %d observations, want 3", len(obs))
	}
	for _, s := range []*lab.Server{a, b} {
		if o := obs[s.Addr]; o.Error != nil || o.Leaf() == nil {
			t.Errorf("%s: %+v, want a served chain", s.Addr, o)
		}
	}
	if o := obs[closed]; o.Error == nil || o.Error.Kind != scanner.KindRefused {
		t.Errorf("%s: %+v, want refused", closed, o)
	}

	// Each certificate served is stored once, as its DER.
	var certs int
	err = st.Items(ctx, run.ID, store.KindCertificate, func(it store.Item) error {
		der, err := records.DecodeCertificateDER(it)
		if err != nil {
			return err
		}
		if certinfo.Hex256(der) != it.Key {
			t.Errorf("certificate %s holds DER of %s", it.Key, certinfo.Hex256(der))
		}
		certs++
		return nil
	})
	if err != nil || certs != 2 {
		t.Errorf("stored %d certificates (%v), want 2", certs, err)
	}
}

func TestScanWithoutStoreAndSkippedLines(t *testing.T) {
	s := serveTLS(t, "127.0.61.4:0", "nostore.stage.test")
	out, err := Scan(context.Background(), Env{}, ScanParams{
		Targets:  specs(t, s.Addr),
		BadLines: func() int { return 2 },
	}, nil)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if out.RunID != 0 || out.Status != store.StatusPartial || out.Note != "2 invalid target lines skipped; 1 endpoints, 1 with a chain" {
		t.Errorf("outcome %+v, want partial, unrecorded", out)
	}
}

func TestScanCancelledEndsInterruptedKeepingWhatItSaw(t *testing.T) {
	fast := serveTLS(t, "127.0.61.5:0", "fast.stage.test")
	tarpit, err := lab.ServeHostile("127.0.61.6:0", lab.Tarpit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tarpit.Close() })
	st := tempStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	start := time.Now()
	out, err := Scan(ctx, Env{Store: st}, ScanParams{
		Config:  scanner.Config{Timeout: 30 * time.Second},
		Targets: specs(t, fast.Addr, tarpit.Addr),
	}, func(o scanner.Observation) error {
		if o.Target == fast.Addr {
			cancel() // the tarpit is still being waited for
		}
		return nil
	})
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("interrupt took %v", took)
	}
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want the cancellation", err)
	}
	if out.Status != store.StatusInterrupted || !strings.HasPrefix(out.Note, "interrupted: ") {
		t.Errorf("outcome %+v, want interrupted", out)
	}
	run := finishedRun(t, st, out, store.StatusInterrupted)
	obs := storedObservations(t, st, run.ID)
	if o, ok := obs[fast.Addr]; !ok || o.Leaf() == nil {
		t.Errorf("stored %v; the endpoint scanned before the interrupt is missing", obs)
	}
	// The tarpit was cut short by the interrupt, not by its deadline: it is
	// recorded as cancelled, never as a timeout.
	if o, ok := obs[tarpit.Addr]; ok && (o.Error == nil || o.Error.Kind != scanner.KindCancelled) {
		t.Errorf("interrupted endpoint recorded as %+v, want kind cancelled", o.Error)
	}
	if strings.Contains(out.Note, "timeout") {
		t.Errorf("note %q counts the interrupted endpoint as a timeout", out.Note)
	}
}

// failingWrites is a store whose item writes fail.
type failingWrites struct{ store.Store }

var errDiskFull = errors.New("disk full")

func (failingWrites) Put(context.Context, int64, ...store.Item) error { return errDiskFull }

func TestScanStoreWriteFailureEndsFailed(t *testing.T) {
	s := serveTLS(t, "127.0.61.7:0", "fail.stage.test")
	st := tempStore(t)
	out, err := Scan(context.Background(), Env{Store: failingWrites{st}}, ScanParams{Targets: specs(t, s.Addr)}, nil)
	if !errors.Is(err, errDiskFull) {
		t.Errorf("err = %v, want the store's", err)
	}
	if out.Status != store.StatusFailed || !strings.Contains(out.Note, "disk full") {
		t.Errorf("outcome %+v, want failed with the store's error", out)
	}
	if run := finishedRun(t, st, out, store.StatusFailed); !strings.Contains(run.Note, "disk full") {
		t.Errorf("run %+v, want failed (not running), noting the store's error", run)
	}
}

func TestScanBadConfigRecordsNothing(t *testing.T) {
	st := tempStore(t)
	_, err := Scan(context.Background(), Env{Store: st}, ScanParams{
		Config:  scanner.Config{Ports: []int{0}},
		Targets: specs(t, "127.0.61.8"),
	}, nil)
	if err == nil {
		t.Fatal("invalid port accepted")
	}
	if runs, _ := st.Runs(context.Background(), store.RunFilter{}); len(runs) != 0 {
		t.Errorf("runs %+v recorded for a scan that could not start", runs)
	}
}

// TestScanInterruptWhileReadingStdin: targets come from stdin, which
// stays open after one line. An interrupt ends the scan at once — not
// when stdin closes — and the run is recorded interrupted with the
// endpoint read before it.
func TestScanInterruptWhileReadingStdin(t *testing.T) {
	target := closedPort(t, "127.0.61.7")
	testlab.MustLoopback(t, target)
	stdin, w := io.Pipe()
	t.Cleanup(func() { w.Close() }) // lets the blocked reader go
	go io.WriteString(w, target+"\n")
	ts, err := scanner.ParseTargets([]string{"-"}, stdin, "")
	if err != nil {
		t.Fatal(err)
	}
	st := tempStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		out Outcome
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := Scan(ctx, Env{Store: st}, ScanParams{Targets: ts.All(), BadLines: ts.Skipped},
			func(o scanner.Observation) error {
				if o.Target == target {
					cancel() // Ctrl-C, stdin still open
				}
				return nil
			})
		done <- result{out, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		w.Close()
		<-done
		t.Fatal("the interrupted scan waited for stdin to close")
	}
	if !errors.Is(r.err, context.Canceled) || r.out.Status != store.StatusInterrupted {
		t.Errorf("outcome %+v, err %v; want interrupted", r.out, r.err)
	}
	run := finishedRun(t, st, r.out, store.StatusInterrupted)
	if obs := storedObservations(t, st, run.ID); len(obs) != 1 || obs[target].Error == nil || obs[target].Error.Kind != scanner.KindRefused {
		t.Errorf("stored %+v; want the refused endpoint read before the interrupt", obs)
	}
}
