package stage

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/ctlog"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
)

// ctConfig watches example.com, retrying nothing (a log that does not
// answer fails at once).
func ctConfig(t *testing.T) ctlog.Config {
	t.Helper()
	w, err := ctlog.NewWatchlist([]string{"example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return ctlog.Config{Watch: w, Retries: -1, Timeout: 10 * time.Second, RateLimit: 10000, Burst: 100}
}

// logStatuses returns run's log statuses by item key.
func logStatuses(t *testing.T, st store.Store, runID int64) map[string]records.LogStatus {
	t.Helper()
	var ls []records.LogStatus
	if err := records.Decode(context.Background(), st, runID, store.KindLogStatus, &ls); err != nil {
		t.Fatal(err)
	}
	out := map[string]records.LogStatus{}
	for _, s := range ls {
		out[s.Log] = s
	}
	if len(out) != len(ls) {
		t.Errorf("log statuses %+v: one log twice", ls)
	}
	return out
}

func countItems(t *testing.T, st store.Store, runID int64, kind string) int64 {
	t.Helper()
	n, err := st.Count(context.Background(), runID, kind)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// deadLog is a static log on a loopback port nothing listens on, with
// key as its key.
func deadLog(t *testing.T, key crypto.PublicKey) ctlog.Log {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	u := fmt.Sprintf("http://%s/", closedPort(t, "127.0.0.1"))
	l, err := ctlog.NewLog(u, base64.StdEncoding.EncodeToString(der), ctlog.Static)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestCTSyncRecordsLogStatus follows a real log (TesseraCT,
// static-ct-api): each sync records the log's status ok with the
// sightings and the position; a log that does not answer is recorded
// unreachable and makes the run partial.
func TestCTSyncRecordsLogStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts a real CT log")
	}
	ctx := context.Background()
	ca := testlab.NewCTCA(t)
	lg := testlab.TesseraCT(t, ca.RootPEM)
	l, err := ctlog.NewLog(lg.MonitorURL, base64.StdEncoding.EncodeToString(lg.PublicKeyDER), ctlog.Static)
	if err != nil {
		t.Fatal(err)
	}
	lg.Submit(t, false, ca.Cert(t, "www.example.com"), ca.Root.Raw)
	lg.Submit(t, false, ca.Cert(t, "other.test"), ca.Root.Raw)
	lg.WaitTreeSize(t, 2, 60*time.Second)

	// Without a store nothing is recorded; Positions carries the position
	// from one sync to the next.
	mem := CTParams{Config: ctConfig(t), Logs: []ctlog.Log{l}, From: ctlog.FromStart, Positions: &Positions{}}
	memSeen := 0
	memCount := func(ctlog.Sighting) error { memSeen++; return nil }
	if out, err := CTSync(ctx, Env{}, mem, memCount); err != nil || out.RunID != 0 || out.Status != store.StatusComplete || memSeen != 1 {
		t.Fatalf("sync without a store: %+v, %v, %d sightings", out, err, memSeen)
	}

	st := tempStore(t)
	var stderr bytes.Buffer
	env := Env{Store: st, Stderr: &stderr}
	var got []ctlog.Sighting
	var done []CTLogResult
	p := CTParams{Config: ctConfig(t), Logs: []ctlog.Log{l}, From: ctlog.FromStart, Group: "ct-g",
		LogDone: func(r CTLogResult) { done = append(done, r) }}
	out, err := CTSync(ctx, env, p, func(s ctlog.Sighting) error { got = append(got, s); return nil })
	if err != nil {
		t.Fatal(err)
	}
	run := finishedRun(t, st, out, store.StatusComplete)
	if run.Kind != "ct" || run.Group != "ct-g" || runMeta(t, run)["mode"] != "sync" {
		t.Errorf("run %+v", run)
	}
	if len(got) != 1 || got[0].Names[0] != "www.example.com" || countItems(t, st, out.RunID, store.KindSighting) != 1 {
		t.Fatalf("sightings %+v", got)
	}
	ls := logStatuses(t, st, out.RunID)
	if s := ls[l.URL]; len(ls) != 1 || s.Status != records.LogOK || s.Time.IsZero() {
		t.Fatalf("log statuses %+v, want %s ok", ls, l.URL)
	}
	if len(done) != 1 || done[0].Err != nil || done[0].Status == nil || done[0].Status.Status != records.LogOK {
		t.Fatalf("LogDone %+v", done)
	}
	if _, err := st.Cursor(ctx, CTCursor(l.ID)); err != nil {
		t.Fatalf("no position stored: %v", err)
	}

	// The next sync resumes: only the new entry, and the log's status
	// again; a dead log beside it is unreachable and the run partial.
	lg.Submit(t, false, ca.Cert(t, "later.example.com"), ca.Root.Raw)
	lg.WaitTreeSize(t, 3, 60*time.Second)
	dead := deadLog(t, ca.LeafKey())
	got, done = nil, nil
	p.Logs = []ctlog.Log{l, dead}
	out, err = CTSync(ctx, env, p, func(s ctlog.Sighting) error { got = append(got, s); return nil })
	if err != nil {
		t.Fatal(err)
	}
	finishedRun(t, st, out, store.StatusPartial)
	if len(got) != 1 || got[0].Names[0] != "later.example.com" {
		t.Fatalf("second sync sighted %+v", got)
	}
	ls = logStatuses(t, st, out.RunID)
	if ls[l.URL].Status != records.LogOK || ls[dead.URL].Status != records.LogUnreachable || ls[dead.URL].Message == "" {
		t.Fatalf("log statuses %+v, want %s ok and %s unreachable", ls, l.URL, dead.URL)
	}
	if len(done) != 2 || done[1].Log.URL != dead.URL || done[1].Err == nil || ctlog.IsMisbehaviour(done[1].Err) {
		t.Fatalf("LogDone %+v", done)
	}
	if !strings.Contains(stderr.String(), dead.URL) {
		t.Errorf("stderr %q: want the dead log reported", stderr.String())
	}
	if n := countItems(t, st, out.RunID, store.KindFinding); n != 0 {
		t.Errorf("%d findings recorded by a sync", n)
	}

	if _, err := CTSync(ctx, Env{}, mem, memCount); err != nil || memSeen != 2 {
		t.Fatalf("second sync without a store: %v, %d sightings in all, want 2", err, memSeen)
	}

	// Only dead logs: the run fails, the status is still recorded.
	p.Logs = []ctlog.Log{dead}
	out, err = CTSync(ctx, env, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	finishedRun(t, st, out, store.StatusFailed)
	if s := logStatuses(t, st, out.RunID)[dead.URL]; s.Status != records.LogUnreachable {
		t.Errorf("dead log status %+v", s)
	}
}

// TestCTSyncMisbehaviourIsALogStatus: a log that lies (the fake, which
// can) gets the status misbehaviour with both heads as evidence; no
// finding is written and its position does not move.
func TestCTSyncMisbehaviourIsALogStatus(t *testing.T) {
	ctx := context.Background()
	ca := testlab.NewCTCA(t)
	f := testlab.NewFakeLog(t)
	for i := range 20 {
		f.Add(t, ca.Cert(t, fmt.Sprintf("h%d.example.com", i)), false, ca.Root.Raw)
	}
	f.Publish(t)
	l, err := ctlog.NewLog(f.URL, f.PublicKeyBase64(), ctlog.Static)
	if err != nil {
		t.Fatal(err)
	}
	st := tempStore(t)
	var stderr bytes.Buffer
	env := Env{Store: st, Stderr: &stderr}
	p := CTParams{Config: ctConfig(t), Logs: []ctlog.Log{l}, From: ctlog.FromStart}
	out, err := CTSync(ctx, env, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	finishedRun(t, st, out, store.StatusComplete)
	before, err := st.Cursor(ctx, CTCursor(l.ID))
	if err != nil {
		t.Fatal(err)
	}

	// The log rewrites an entry it already served under a new head.
	f.Add(t, ca.Cert(t, "more.example.com"), false, ca.Root.Raw)
	f.Publish(t)
	f.LieReplaceEntry(t, f.Size()-1, ca.Cert(t, "swapped.example.com"), ca.Root.Raw)
	var done CTLogResult
	p.LogDone = func(r CTLogResult) { done = r }
	out, err = CTSync(ctx, env, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	finishedRun(t, st, out, store.StatusPartial)
	s := logStatuses(t, st, out.RunID)[l.URL]
	if s.Status != records.LogMisbehaviour || s.Kind == "" || s.Message == "" ||
		s.Detail["trusted_head"] == nil || s.Detail["served_head"] == nil || s.Detail["log_id"] != l.ID {
		t.Fatalf("log status %+v, want misbehaviour with both heads", s)
	}
	var mis *ctlog.MisbehaviourError
	if !errors.As(done.Err, &mis) || done.Status == nil || done.Status.Status != records.LogMisbehaviour {
		t.Fatalf("LogDone %+v", done)
	}
	if n := countItems(t, st, out.RunID, store.KindFinding); n != 0 {
		t.Errorf("%d findings recorded, want none: reconcile makes the finding from the status", n)
	}
	if after, _ := st.Cursor(ctx, CTCursor(l.ID)); !bytes.Equal(after, before) {
		t.Error("the lying log's position moved")
	}
	if !strings.Contains(stderr.String(), "CRITICAL log misbehaviour") {
		t.Errorf("stderr %q", stderr.String())
	}

	// The estate turns the latest status into a log issue.
	snap, err := LoadEstate(ctx, st, EstateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.LogIssues) != 1 || snap.LogIssues[0].Log != l.URL || snap.LogIssues[0].Kind != string(mis.Kind) {
		t.Errorf("log issues %+v", snap.LogIssues)
	}
}
