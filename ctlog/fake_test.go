package ctlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/ctlog"
	"github.com/keyaudit/keyaudit/internal/testlab"
)

// memSink is a Sink in memory; commits are atomic under its lock.
type memSink struct {
	mu        sync.Mutex
	state     map[string][]byte
	sightings []ctlog.Sighting
	commits   int
	most      int // most sightings in one commit
	failAfter int // >0: the n-th commit fails
}

func newMemSink() *memSink { return &memSink{state: map[string][]byte{}} }

func (s *memSink) Load(_ context.Context, l ctlog.Log) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state[l.ID], nil
}

func (s *memSink) Commit(_ context.Context, l ctlog.Log, state []byte, ss []ctlog.Sighting) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failAfter > 0 && s.commits+1 >= s.failAfter {
		return errors.New("memsink: induced failure")
	}
	s.commits++
	s.most = max(s.most, len(ss))
	s.state[l.ID] = append([]byte(nil), state...)
	s.sightings = append(s.sightings, ss...)
	return nil
}

func (s *memSink) indices() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []uint64
	for _, x := range s.sightings {
		out = append(out, x.Index)
	}
	return out
}

func fakeLog(t *testing.T, f *testlab.FakeLog, typ ctlog.Type) ctlog.Log {
	t.Helper()
	l, err := ctlog.NewLog(f.URL, f.PublicKeyBase64(), typ)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func newMonitor(t testing.TB, watch []string, mod func(*ctlog.Config)) *ctlog.Monitor {
	t.Helper()
	w, err := ctlog.NewWatchlist(watch)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ctlog.Config{Watch: w, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, RateLimit: 10000, Burst: 100}
	if mod != nil {
		mod(&cfg)
	}
	m, err := ctlog.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var bothTypes = []ctlog.Type{ctlog.Static, ctlog.RFC6962}

// populate adds n certificates to f: every 7th for a watched name, every
// 11th as a precertificate followed by its certificate. It returns the
// indices that must be sighted.
func populate(t *testing.T, f *testlab.FakeLog, ca *testlab.CTCA, n int) []uint64 {
	t.Helper()
	var want []uint64
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("host%d.other.test", i)
		watched := i%7 == 0
		if watched {
			name = fmt.Sprintf("host%d.example.com", i)
		}
		if i%11 == 0 {
			p := ca.Precert(t, name)
			idx := f.Add(t, p.Precert, true, ca.Root.Raw)
			f.Add(t, p.Final(t), false, ca.Root.Raw)
			if watched {
				want = append(want, uint64(idx)) // the certificate after it is a duplicate
			}
			continue
		}
		idx := f.Add(t, ca.Cert(t, name), false, ca.Root.Raw)
		if watched {
			want = append(want, uint64(idx))
		}
	}
	f.Publish(t)
	return want
}

func TestFakeHonestSync(t *testing.T) {
	ca := testlab.NewCTCA(t)
	for _, typ := range bothTypes {
		t.Run(string(typ), func(t *testing.T) {
			f := testlab.NewFakeLog(t)
			want := populate(t, f, ca, 700)
			l := fakeLog(t, f, typ)
			sink := newMemSink()
			m := newMonitor(t, []string{"example.com"}, func(c *ctlog.Config) { c.CommitEvery = 300; c.BatchSize = 100 })
			res, err := m.Sync(context.Background(), l, sink, ctlog.FromStart)
			if err != nil {
				t.Fatal(err)
			}
			if got := sink.indices(); !slices.Equal(got, want) {
				t.Fatalf("sightings at %v\nwant %v", got, want)
			}
			if res.To != uint64(f.HeadSize()) || res.Dups == 0 {
				t.Fatalf("result %+v", res)
			}
			if sink.commits < 3 {
				t.Fatalf("only %d commits", sink.commits)
			}
			for _, s := range sink.sightings {
				if s.SPKISHA256 == "" || s.CertSHA256 == "" || s.TBSSHA256 == "" || len(s.Matched) != 1 || s.Matched[0] != "example.com" {
					t.Fatalf("incomplete sighting %+v", s)
				}
			}
			// A second sync finds nothing new; more entries are picked up.
			before := len(sink.sightings)
			if _, err := m.Sync(context.Background(), l, sink, ctlog.FromStart); err != nil {
				t.Fatal(err)
			}
			if len(sink.sightings) != before {
				t.Fatalf("resync added sightings")
			}
			idx := f.Add(t, ca.Cert(t, "late.example.com"), false, ca.Root.Raw)
			f.Publish(t)
			if _, err := m.Sync(context.Background(), l, sink, ctlog.FromStart); err != nil {
				t.Fatal(err)
			}
			if got := sink.indices(); got[len(got)-1] != uint64(idx) || len(got) != before+1 {
				t.Fatalf("after growth: %v", got[max(0, len(got)-3):])
			}
		})
	}
}

// syncedFake returns a fake log with 600 entries, synced once, and then
// 300 more entries published but not yet synced.
func syncedFake(t *testing.T, ca *testlab.CTCA, typ ctlog.Type) (*testlab.FakeLog, ctlog.Log, *memSink, *ctlog.Monitor) {
	t.Helper()
	f := testlab.NewFakeLog(t)
	populate(t, f, ca, 600)
	l := fakeLog(t, f, typ)
	sink := newMemSink()
	m := newMonitor(t, []string{"example.com"}, func(c *ctlog.Config) { c.CommitEvery = 100000; c.BatchSize = 64 })
	if _, err := m.Sync(context.Background(), l, sink, ctlog.FromStart); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		f.Add(t, ca.Cert(t, fmt.Sprintf("n%d.example.com", i)), false, ca.Root.Raw)
	}
	f.Publish(t)
	return f, l, sink, m
}

// TestCommitSightings: when every entry matches, a commit holds at most
// CommitSightings sightings, however far apart CommitEvery puts commits,
// and nothing is lost or repeated across the extra commits. Every
// sighting keeps its own certificate and names, though the responses
// they were read from (six tiles, two fetches in flight) are reused for
// later fetches.
func TestCommitSightings(t *testing.T) {
	const n = 1400
	ca := testlab.NewCTCA(t)
	f := testlab.NewFakeLog(t)
	var ders [][]byte
	for i := 0; i < n; i++ {
		der := ca.Cert(t, fmt.Sprintf("h%d.example.com", i))
		ders = append(ders, der)
		f.Add(t, der, false, ca.Root.Raw)
	}
	f.Publish(t)
	for _, typ := range []ctlog.Type{ctlog.RFC6962, ctlog.Static} {
		t.Run(string(typ), func(t *testing.T) {
			l := fakeLog(t, f, typ)
			sink := newMemSink()
			m := newMonitor(t, []string{"example.com"}, func(c *ctlog.Config) {
				c.CommitEvery = 100000
				c.CommitSightings = 100
				c.BatchSize = 64
				c.Parallel = 2
			})
			res, err := m.Sync(context.Background(), l, sink, ctlog.FromStart)
			if err != nil {
				t.Fatal(err)
			}
			got := sink.indices()
			if res.Sightings != n || len(got) != n {
				t.Fatalf("%d sightings reported, %d committed; want %d", res.Sightings, len(got), n)
			}
			for i, x := range got {
				if x != uint64(i) {
					t.Fatalf("sighting %d has index %d: lost or repeated", i, x)
				}
				s := sink.sightings[i]
				if !bytes.Equal(s.DER, ders[i]) || len(s.Names) != 1 || s.Names[0] != fmt.Sprintf("h%d.example.com", i) {
					t.Fatalf("sighting %d: names %v, DER %d bytes (equal to the logged one: %v)", i, s.Names, len(s.DER), bytes.Equal(s.DER, ders[i]))
				}
			}
			if sink.most > 100+256 || sink.commits < 3 {
				t.Fatalf("%d commits, the largest with %d sightings: want several of about 100", sink.commits, sink.most)
			}
		})
	}
}

func TestFakeLyingLog(t *testing.T) {
	ca := testlab.NewCTCA(t)
	other := ca.Cert(t, "evil.example.com")
	cases := []struct {
		name  string
		lie   func(t *testing.T, f *testlab.FakeLog)
		kinds []ctlog.MisbehaviourKind // accepted kinds
		only  ctlog.Type               // "" both
	}{
		{"bad signature", func(t *testing.T, f *testlab.FakeLog) { f.LieCorruptHeadSignature(t) },
			[]ctlog.MisbehaviourKind{ctlog.BadSignature}, ""},
		{"entry swapped after signing", func(t *testing.T, f *testlab.FakeLog) { f.LieReplaceEntry(t, 700, other, ca.Root.Raw) },
			[]ctlog.MisbehaviourKind{ctlog.RootMismatch}, ""},
		{"entries reordered", func(t *testing.T, f *testlab.FakeLog) { f.LieSwapEntries(700, 701) },
			[]ctlog.MisbehaviourKind{ctlog.RootMismatch, ctlog.Malformed}, ""},
		{"entry dropped", func(t *testing.T, f *testlab.FakeLog) { f.LieDropEntry(800) },
			[]ctlog.MisbehaviourKind{ctlog.RootMismatch, ctlog.Malformed}, ""},
		{"entry inserted", func(t *testing.T, f *testlab.FakeLog) { f.LieInsertEntry(t, 700, other, ca.Root.Raw) },
			[]ctlog.MisbehaviourKind{ctlog.RootMismatch, ctlog.Malformed}, ""},
		{"inconsistent heads", func(t *testing.T, f *testlab.FakeLog) {
			f.LieFork(500)
			for i := 0; i < 450; i++ {
				f.Add(t, ca.Cert(t, fmt.Sprintf("fork%d.other.test", i)), false, ca.Root.Raw)
			}
			f.Publish(t)
		}, []ctlog.MisbehaviourKind{ctlog.InconsistentHeads}, ""},
		{"truncated tile", func(t *testing.T, f *testlab.FakeLog) { f.LieTiles("truncated") },
			[]ctlog.MisbehaviourKind{ctlog.Malformed}, ctlog.Static},
		{"garbage tile", func(t *testing.T, f *testlab.FakeLog) { f.LieTiles("garbage") },
			[]ctlog.MisbehaviourKind{ctlog.Malformed}, ctlog.Static},
	}
	for _, typ := range bothTypes {
		for _, tc := range cases {
			if tc.only != "" && tc.only != typ {
				continue
			}
			t.Run(string(typ)+"/"+tc.name, func(t *testing.T) {
				f, l, sink, m := syncedFake(t, ca, typ)
				before := append([]byte(nil), sink.state[l.ID]...)
				nBefore := len(sink.sightings)
				tc.lie(t, f)
				_, err := m.Sync(context.Background(), l, sink, ctlog.FromStart)
				var mis *ctlog.MisbehaviourError
				if !errors.As(err, &mis) {
					t.Fatalf("got %v, want a misbehaviour error", err)
				}
				if !slices.Contains(tc.kinds, mis.Kind) {
					t.Fatalf("kind %s, want one of %v: %v", mis.Kind, tc.kinds, err)
				}
				if mis.Trusted == nil || mis.Served == nil || mis.LogID != l.ID {
					t.Fatalf("evidence missing: trusted %v served %v", mis.Trusted, mis.Served)
				}
				if string(sink.state[l.ID]) != string(before) || len(sink.sightings) != nBefore {
					t.Fatalf("position or sightings moved past a lying log")
				}
				// Still refused on the next attempt.
				if _, err := m.Sync(context.Background(), l, sink, ctlog.FromStart); !ctlog.IsMisbehaviour(err) {
					t.Fatalf("second sync: %v", err)
				}
			})
		}
	}
}

func TestFakeFirstContactBadSignature(t *testing.T) {
	ca := testlab.NewCTCA(t)
	for _, typ := range bothTypes {
		t.Run(string(typ), func(t *testing.T) {
			f := testlab.NewFakeLog(t)
			f.LieBadSignature(true)
			populate(t, f, ca, 10)
			sink := newMemSink()
			_, err := newMonitor(t, []string{"example.com"}, nil).Sync(context.Background(), fakeLog(t, f, typ), sink, ctlog.FromStart)
			var mis *ctlog.MisbehaviourError
			if !errors.As(err, &mis) || mis.Kind != ctlog.BadSignature || mis.Served == nil || mis.Served.Size != 11 {
				t.Fatalf("got %v", err)
			}
			if sink.commits != 0 {
				t.Fatal("committed from an unverified head")
			}
		})
	}
}

func TestFakeStaleHeadIsFine(t *testing.T) {
	ca := testlab.NewCTCA(t)
	for _, typ := range bothTypes {
		t.Run(string(typ), func(t *testing.T) {
			f, l, sink, m := syncedFake(t, ca, typ)
			if _, err := m.Sync(context.Background(), l, sink, ctlog.FromStart); err != nil {
				t.Fatal(err)
			}
			state := string(sink.state[l.ID])
			f.LieServeOldHead(1) // the head before the 300 additions
			if _, err := m.Sync(context.Background(), l, sink, ctlog.FromStart); err != nil {
				t.Fatalf("stale but consistent head: %v", err)
			}
			if string(sink.state[l.ID]) != state {
				t.Fatal("state changed on a stale head")
			}
		})
	}
}

func TestFakeAwkwardButHonest(t *testing.T) {
	ca := testlab.NewCTCA(t)
	cases := []struct {
		name string
		set  func(f *testlab.FakeLog)
	}{
		{"short get-entries", func(f *testlab.FakeLog) { f.ShortEntries(7) }},
		{"503 then ok", func(f *testlab.FakeLog) { f.FailNext(5, http.StatusServiceUnavailable) }},
		{"429 then ok", func(f *testlab.FakeLog) { f.FailNext(3, http.StatusTooManyRequests) }},
		{"gzip tiles", func(f *testlab.FakeLog) { f.GzipTiles(true) }},
	}
	for _, typ := range bothTypes {
		for _, tc := range cases {
			t.Run(string(typ)+"/"+tc.name, func(t *testing.T) {
				f := testlab.NewFakeLog(t)
				want := populate(t, f, ca, 300)
				tc.set(f)
				sink := newMemSink()
				m := newMonitor(t, []string{"example.com"}, func(c *ctlog.Config) { c.BatchSize = 50; c.CommitEvery = 100 })
				if _, err := m.Sync(context.Background(), fakeLog(t, f, typ), sink, ctlog.FromStart); err != nil {
					t.Fatal(err)
				}
				if got := sink.indices(); !slices.Equal(got, want) {
					t.Fatalf("sightings %v, want %v", got, want)
				}
			})
		}
	}
}

func TestFakeFromPositions(t *testing.T) {
	ca := testlab.NewCTCA(t)
	for _, typ := range bothTypes {
		for _, from := range []string{"end", "0", "1", "255", "256", "257", "300", "511", "763", "764"} {
			t.Run(string(typ)+"/"+from, func(t *testing.T) {
				f := testlab.NewFakeLog(t)
				all := populate(t, f, ca, 700)
				st, err := ctlog.ParseStart(from)
				if err != nil {
					t.Fatal(err)
				}
				sink := newMemSink()
				m := newMonitor(t, []string{"example.com"}, nil)
				l := fakeLog(t, f, typ)
				if _, err := m.Sync(context.Background(), l, sink, st); err != nil {
					t.Fatal(err)
				}
				var want []uint64
				if from != "end" {
					var n uint64
					fmt.Sscan(from, &n)
					for _, i := range all {
						if i >= n {
							want = append(want, i)
						}
					}
				}
				got := sink.indices()
				// A certificate whose precertificate came before the start
				// is not a duplicate of anything seen: allow it.
				got = slices.DeleteFunc(got, func(i uint64) bool { return !slices.Contains(all, i) && slices.Contains(all, i-1) })
				if !slices.Equal(got, want) {
					t.Fatalf("from %s: %v, want %v", from, got, want)
				}
				// Later entries are found from the stored position.
				idx := f.Add(t, ca.Cert(t, "after.example.com"), false, ca.Root.Raw)
				f.Publish(t)
				if _, err := m.Sync(context.Background(), l, sink, st); err != nil {
					t.Fatal(err)
				}
				if got := sink.indices(); len(got) == 0 || got[len(got)-1] != uint64(idx) {
					t.Fatalf("not resumed: %v", got)
				}
			})
		}
	}
}

func TestFakeCommitFailureResumes(t *testing.T) {
	ca := testlab.NewCTCA(t)
	for _, typ := range bothTypes {
		t.Run(string(typ), func(t *testing.T) {
			f := testlab.NewFakeLog(t)
			want := populate(t, f, ca, 900)
			l := fakeLog(t, f, typ)
			sink := newMemSink()
			sink.failAfter = 3
			m := newMonitor(t, []string{"example.com"}, func(c *ctlog.Config) { c.CommitEvery = 256; c.BatchSize = 64 })
			if _, err := m.Sync(context.Background(), l, sink, ctlog.FromStart); err == nil {
				t.Fatal("no error from a failing sink")
			}
			sink.failAfter = 0
			if _, err := m.Sync(context.Background(), l, sink, ctlog.FromStart); err != nil {
				t.Fatal(err)
			}
			if got := sink.indices(); !slices.Equal(got, want) {
				t.Fatalf("after resume: %v, want %v", got, want)
			}
		})
	}
}

// TestFakeDedupAcrossSyncs: a certificate logged in a later sync than its
// precertificate is still a duplicate (the dedup keys live in the state).
func TestFakeDedupAcrossSyncs(t *testing.T) {
	ca := testlab.NewCTCA(t)
	for _, typ := range bothTypes {
		t.Run(string(typ), func(t *testing.T) {
			f := testlab.NewFakeLog(t)
			p := ca.Precert(t, "pair.example.com")
			pi := f.Add(t, p.Precert, true, ca.Root.Raw)
			f.Publish(t)
			l := fakeLog(t, f, typ)
			sink := newMemSink()
			m := newMonitor(t, []string{"example.com"}, nil)
			if _, err := m.Sync(context.Background(), l, sink, ctlog.FromStart); err != nil {
				t.Fatal(err)
			}
			f.Add(t, p.Final(t), false, ca.Root.Raw)
			ci := f.Add(t, ca.Cert(t, "other.example.com"), false, ca.Root.Raw)
			f.Publish(t)
			res, err := m.Sync(context.Background(), l, sink, ctlog.FromStart)
			if err != nil {
				t.Fatal(err)
			}
			if got := sink.indices(); !slices.Equal(got, []uint64{uint64(pi), uint64(ci)}) || res.Dups != 1 || !sink.sightings[0].Precert {
				t.Fatalf("sightings %v, dups %d", got, res.Dups)
			}
		})
	}
}
