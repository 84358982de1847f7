package stage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/ctlog"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
)

// TestCTWatchStopsFollowingARolledBackLog (hardening a): a log whose
// signed head went back to a shorter history after a round verified it
// is recorded as a suspected rollback, with the verified and the new
// head, and is no longer polled: the watch ends by itself instead of
// retrying it every round.
func TestCTWatchStopsFollowingARolledBackLog(t *testing.T) {
	ca := testlab.NewCTCA(t)
	f := testlab.NewFakeLog(t)
	for i := range 300 {
		f.Add(t, ca.Cert(t, fmt.Sprintf("h%d.example.com", i)), false, ca.Root.Raw)
	}
	f.Publish(t)
	l, err := ctlog.NewLog(f.URL, f.PublicKeyBase64(), ctlog.Static)
	if err != nil {
		t.Fatal(err)
	}
	st := tempStore(t)
	var stderr bytes.Buffer
	var rounds []CTLogResult
	p := CTParams{Config: ctConfig(t), Logs: []ctlog.Log{l}, From: ctlog.FromStart, Group: "rb",
		LogDone: func(r CTLogResult) {
			rounds = append(rounds, r)
			if len(rounds) == 1 {
				f.LieFork(100) // back to a shorter history, signed anew
				f.Publish(t)
			}
		}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tally, err := CTWatch(ctx, Env{Store: st, Stderr: &stderr}, p, 10*time.Millisecond, nil)
	if ctx.Err() != nil {
		t.Fatalf("the watch kept polling a rolled-back log (%d rounds)", len(rounds))
	}
	if err != nil || tally != (CTTally{Synced: 1, Misbehaved: 1}) || len(rounds) != 2 {
		t.Fatalf("watch: %+v, %v; %d rounds", tally, err, len(rounds))
	}
	var mis *ctlog.MisbehaviourError
	if !errors.As(rounds[1].Err, &mis) || mis.Kind != ctlog.Rollback {
		t.Fatalf("second round: %v", rounds[1].Err)
	}
	s := rounds[1].Status
	if s == nil || s.Status != records.LogMisbehaviour || s.Kind != string(ctlog.Rollback) {
		t.Fatalf("recorded status %+v", s)
	}
	trusted, _ := s.Detail["trusted_head"].(*ctlog.Head)
	served, _ := s.Detail["served_head"].(*ctlog.Head)
	if trusted == nil || served == nil || trusted.Size != 300 || served.Size != 100 {
		t.Fatalf("evidence %+v", s.Detail)
	}
	if !strings.Contains(stderr.String(), "CRITICAL log misbehaviour") {
		t.Errorf("stderr %q", stderr.String())
	}
	snap, err := LoadEstate(context.Background(), st, EstateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.LogIssues) != 1 || snap.LogIssues[0].Kind != string(ctlog.Rollback) {
		t.Errorf("log issues %+v", snap.LogIssues)
	}
}

var noteCounts = regexp.MustCompile(`(\d+) entries, (\d+) sightings`)

// TestCTWatchInterruptedCountsAgree (hardening 16): a watch stopped in
// the middle of a catch-up (SIGTERM) records, in its run's note, the
// entries and sightings it stored — the position it committed and the
// sighting items of the run — not what it fetched after the last commit.
func TestCTWatchInterruptedCountsAgree(t *testing.T) {
	ca := testlab.NewCTCA(t)
	f := testlab.NewFakeLog(t)
	f.AddMany(t, 1500, func(i int) ([]byte, bool, []byte) {
		name := fmt.Sprintf("h%d.other.test", i)
		if i%50 == 0 {
			name = fmt.Sprintf("h%d.example.com", i)
		}
		return ca.Cert(t, name), false, ca.Root.Raw
	})
	f.Publish(t)
	l, err := ctlog.NewLog(f.URL, f.PublicKeyBase64(), ctlog.Static)
	if err != nil {
		t.Fatal(err)
	}
	st := tempStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := ctConfig(t)
	cfg.CommitEvery, cfg.Parallel = 512, 1
	// Stopped once 768 entries were fetched: 512 of them are committed.
	cfg.Progress = func(p ctlog.Progress) {
		if p.Done >= 768 {
			cancel()
		}
	}
	p := CTParams{Config: cfg, Logs: []ctlog.Log{l}, From: ctlog.FromStart, Group: "term"}
	if _, err := CTWatch(ctx, Env{Store: st}, p, time.Second, nil); err != nil {
		t.Fatal(err)
	}
	runs, err := st.Runs(context.Background(), store.RunFilter{Kind: "ct", Group: "term"})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %+v, %v", runs, err)
	}
	run := runs[0]
	m := noteCounts.FindStringSubmatch(run.Note)
	if run.Status != store.StatusInterrupted || m == nil {
		t.Fatalf("run %s: %q", run.Status, run.Note)
	}
	b, err := st.Cursor(context.Background(), CTCursor(l.ID))
	if err != nil {
		t.Fatal(err)
	}
	var pos struct{ Size uint64 }
	if err := json.Unmarshal(b, &pos); err != nil {
		t.Fatal(err)
	}
	stored := countItems(t, st, run.ID, store.KindSighting)
	if m[1] != strconv.FormatUint(pos.Size, 10) || m[2] != strconv.FormatInt(stored, 10) || stored == 0 {
		t.Fatalf("note %q; stored: position %d, %d sightings", run.Note, pos.Size, stored)
	}
}

// TestCTSyncNotALogCannotBeSynced (hardening 17): a URL serving an HTML
// page given as a static log could not be synced — recorded unreachable,
// kind config, the run failed — and is not a log that misbehaved.
func TestCTSyncNotALogCannotBeSynced(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<!doctype html><title>Welcome</title><p>It works!\n")
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	key := testlab.NewFakeLog(t).PublicKeyBase64()
	l, err := ctlog.NewLog(srv.URL+"/", key, ctlog.Static)
	if err != nil {
		t.Fatal(err)
	}
	st := tempStore(t)
	var stderr bytes.Buffer
	var tally CTTally
	p := CTParams{Config: ctConfig(t), Logs: []ctlog.Log{l}, From: ctlog.FromStart, LogDone: tally.Add}
	out, err := CTSync(context.Background(), Env{Store: st, Stderr: &stderr}, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	finishedRun(t, st, out, store.StatusFailed)
	if tally != (CTTally{Failed: 1}) {
		t.Fatalf("tally %+v", tally)
	}
	s := logStatuses(t, st, out.RunID)[l.URL]
	if s.Status != records.LogUnreachable || s.Kind != "config" || !strings.Contains(s.Message, "does not serve a CT log") {
		t.Fatalf("status %+v", s)
	}
	if strings.Contains(stderr.String(), "misbehaviour") {
		t.Errorf("stderr %q", stderr.String())
	}
}
