package stage

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vbauerster/mpb/v8"

	"github.com/keyaudit/keyaudit/ctlog"
	"github.com/keyaudit/keyaudit/internal/testlab"
	"github.com/keyaudit/keyaudit/store"
)

func TestCTTally(t *testing.T) {
	var tally CTTally
	for _, err := range []error{nil, nil, &ctlog.MisbehaviourError{Kind: "x"}, errors.New("unreachable"), context.Canceled} {
		tally.Add(CTLogResult{Err: err})
	}
	if tally != (CTTally{Synced: 2, Misbehaved: 1, Failed: 2}) {
		t.Fatalf("tally %+v", tally)
	}
}

func TestNewCTParams(t *testing.T) {
	ca := testlab.NewCTCA(t)
	l := deadLog(t, ca.LeafKey())
	lc := ctlog.LogsConfig{URLs: []string{l.URL}, Keys: []string{base64.StdEncoding.EncodeToString(l.KeyDER)}, Types: []string{"static"}}
	p, err := NewCTParams(ctlog.Config{MaxEntries: 7}, lc, []string{"example.com", ".example.org"}, "start")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Logs) != 1 || p.Logs[0].ID != l.ID || p.Logs[0].Type != ctlog.Static || p.From != ctlog.FromStart ||
		p.Config.MaxEntries != 7 || strings.Join(p.Config.Watch.Entries(), " ") != "example.com .example.org" {
		t.Fatalf("params %+v", p)
	}
	if p, err = NewCTParams(ctlog.Config{}, lc, []string{"example.com"}, "42"); err != nil || p.From != ctlog.FromIndex(42) {
		t.Fatalf("--from 42: %+v, %v", p.From, err)
	}

	cases := []struct {
		cfg   ctlog.Config
		lc    ctlog.LogsConfig
		watch []string
		from  string
		want  string
	}{
		{ctlog.Config{}, ctlog.LogsConfig{}, []string{"example.com"}, "end", "no CT logs"},
		{ctlog.Config{}, lc, nil, "end", "no watched domains: give --watch or a watch: list in the config"},
		{ctlog.Config{}, lc, []string{"a b"}, "end", ""},
		{ctlog.Config{}, lc, []string{"example.com"}, "middle", ""},
		{ctlog.Config{Parallel: 1000}, lc, []string{"example.com"}, "end", "parallel"},
	}
	for _, tc := range cases {
		p, err := NewCTParams(tc.cfg, tc.lc, tc.watch, tc.from)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %+v, %v; want an error with %q", tc, p, err, tc.want)
		}
	}
}

// TestCTWatchFollowsRealLog follows a real log (TesseraCT) beside a dead
// one: every round is a ct run of its own in mode watch, new entries are
// sighted as they are logged, the dead log is tried again each round,
// and the watch stops when ctx ends.
func TestCTWatchFollowsRealLog(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts a real CT log")
	}
	ca := testlab.NewCTCA(t)
	lg := testlab.TesseraCT(t, ca.RootPEM)
	l, err := ctlog.NewLog(lg.MonitorURL, base64.StdEncoding.EncodeToString(lg.PublicKeyDER), ctlog.Static)
	if err != nil {
		t.Fatal(err)
	}
	dead := deadLog(t, ca.LeafKey())
	lg.Submit(t, false, ca.Cert(t, "first.example.com"), ca.Root.Raw)
	lg.WaitTreeSize(t, 1, 60*time.Second)

	st := tempStore(t)
	env := Env{Store: st}
	var mu sync.Mutex
	var names []string
	deadTries := 0
	p := CTParams{Config: ctConfig(t), Logs: []ctlog.Log{l, dead}, From: ctlog.FromStart, Group: "w",
		LogDone: func(r CTLogResult) {
			mu.Lock()
			defer mu.Unlock()
			if r.Log.ID == dead.ID {
				deadTries++
			}
		}}
	emit := func(s ctlog.Sighting) error {
		mu.Lock()
		defer mu.Unlock()
		names = append(names, s.Names[0])
		return nil
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			mu.Lock()
			done := ok()
			mu.Unlock()
			if done {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("watch: no %s; sighted %v, dead log tried %d times", what, names, deadTries)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		tally CTTally
		err   error
	}
	done := make(chan result, 1)
	go func() {
		tally, err := CTWatch(ctx, env, p, 50*time.Millisecond, emit)
		done <- result{tally, err}
	}()
	waitFor("first sighting", func() bool { return len(names) == 1 })
	lg.Submit(t, false, ca.Cert(t, "other.test"), ca.Root.Raw)
	lg.Submit(t, false, ca.Cert(t, "second.example.com"), ca.Root.Raw)
	waitFor("second sighting", func() bool { return len(names) == 2 })
	waitFor("retries of the dead log", func() bool { return deadTries >= 2 })
	cancel()
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("watch did not stop when ctx ended")
	}
	if r.err != nil || r.tally.Misbehaved != 0 || r.tally.Synced < 2 || r.tally.Failed < 2 {
		t.Fatalf("watch ended with %+v, %v", r.tally, r.err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(names, " ") != "first.example.com second.example.com" {
		t.Errorf("sighted %v", names)
	}
	runs, err := st.Runs(context.Background(), store.RunFilter{Kind: "ct", Group: "w"})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) < 2 {
		t.Fatalf("%d runs, want one per round", len(runs))
	}
	for _, run := range runs {
		if runMeta(t, run)["mode"] != "watch" {
			t.Errorf("run %d meta %s, want mode watch", run.ID, run.Meta)
		}
	}
}

// TestCTWatchStopsFollowingALyingLog: a log that misbehaves (the fake,
// which can lie) is no longer followed; once no log is left the watch
// returns by itself. Without a store the rounds share their positions in
// memory: the lie is caught against the head the first round verified.
func TestCTWatchStopsFollowingALyingLog(t *testing.T) {
	ca := testlab.NewCTCA(t)
	f := testlab.NewFakeLog(t)
	for range 5 {
		f.Add(t, ca.Cert(t, "www.example.com"), false, ca.Root.Raw)
	}
	f.Publish(t)
	l, err := ctlog.NewLog(f.URL, f.PublicKeyBase64(), ctlog.Static)
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	var rounds []CTLogResult
	p := CTParams{Config: ctConfig(t), Logs: []ctlog.Log{l}, From: ctlog.FromStart,
		LogDone: func(r CTLogResult) {
			rounds = append(rounds, r)
			if len(rounds) == 1 {
				// After the first round the log rewrites an entry it
				// already served under a new head.
				f.Add(t, ca.Cert(t, "more.example.com"), false, ca.Root.Raw)
				f.Publish(t)
				f.LieReplaceEntry(t, f.Size()-1, ca.Cert(t, "swapped.example.com"), ca.Root.Raw)
			}
		}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sightings := 0
	tally, err := CTWatch(ctx, Env{Stderr: &stderr}, p, 10*time.Millisecond, func(ctlog.Sighting) error { sightings++; return nil })
	if ctx.Err() != nil {
		t.Fatal("the watch went on following a log that misbehaved")
	}
	if err != nil || tally != (CTTally{Synced: 1, Misbehaved: 1}) || len(rounds) != 2 || !ctlog.IsMisbehaviour(rounds[1].Err) {
		t.Fatalf("watch: %+v, %v; rounds %+v", tally, err, rounds)
	}
	if sightings != 5 || !strings.Contains(stderr.String(), "CRITICAL log misbehaviour") {
		t.Errorf("%d sightings; stderr %q", sightings, stderr.String())
	}
}

// TestCTBars: one bar per log, named after it; none when the output is
// not a terminal.
func TestCTBars(t *testing.T) {
	if newCTBars(Env{Progress: true, Stderr: &bytes.Buffer{}}) != nil {
		t.Fatal("bars drawn on a buffer")
	}
	var out bytes.Buffer
	b := &ctBars{bars: map[string]*mpb.Bar{}, p: mpb.New(mpb.WithOutput(&out), mpb.WithWidth(60), mpb.WithAutoRefresh())}
	l := ctlog.Log{URL: "https://ct.example/", ID: "id1", Description: "Example log"}
	b.progress(ctlog.Progress{Log: l, Started: 10, Done: 50, Target: 110})
	b.progress(ctlog.Progress{Log: l, Started: 10, Done: 110, Target: 110})
	b.done()
	if len(b.bars) != 1 || !strings.Contains(out.String(), "Example log") || !strings.Contains(out.String(), "100 / 100") {
		t.Fatalf("bars drew %q", out.String())
	}
}
