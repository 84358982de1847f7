package scanner

import (
	"context"
	"testing"
	"time"
)

// fakeClock lets a test decide how long each handshake took.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// run completes n handshakes of the given latency, one window at a time.
func run(t *testing.T, w *window, clk *fakeClock, n int, lat time.Duration) {
	t.Helper()
	for range n {
		s, err := w.acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		clk.t = clk.t.Add(lat)
		s.done(true, 0)
	}
}

// TestWindowAdapts: the window grows (slow start) while latency stays at
// its floor, shrinks when the queueing part of latency climbs, never
// below its minimum nor above --concurrency, and grows back afterwards.
func TestWindowAdapts(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	w := newWindow(1000, 2*time.Second)
	w.now = clk.now
	run(t, w, clk, 500, 2*time.Millisecond)
	if st := w.stats(); st.Final < 500 {
		t.Fatalf("after 500 fast handshakes the window is %d, want slow start to have grown it", st.Final)
	}
	run(t, w, clk, 2000, 400*time.Millisecond) // starved: 200× slower
	st := w.stats()
	if st.Final > 16 || st.Final < 4 {
		t.Fatalf("after starved handshakes the window is %d, want it cut to [4, 16]", st.Final)
	}
	run(t, w, clk, 6000, 2*time.Millisecond)
	if st2 := w.stats(); st2.Final <= st.Final || st2.Highest > 1000 {
		t.Fatalf("window did not recover (%d → %d) or passed the ceiling (%d)", st.Final, st2.Final, st2.Highest)
	}
}

// TestWindowIgnoresDistance: far hosts are slow by round trips, not by
// queueing; a scan mixing near and far hosts must not shrink.
func TestWindowIgnoresDistance(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	w := newWindow(500, 5*time.Second)
	w.now = clk.now
	for i := range 3000 {
		s, _ := w.acquire(context.Background())
		rtt := time.Duration(1+i%300) * time.Millisecond // 1–300 ms away
		clk.t = clk.t.Add(2*rtt + 3*time.Millisecond)
		s.done(true, rtt)
	}
	if st := w.stats(); st.Final < 400 {
		t.Fatalf("window %d (lowest %d) on a healthy scan of near and far hosts", st.Final, st.Lowest)
	}
}

// TestWindowStragglersLeave: handshakes that never answer (tarpits) give
// their place back after the straggler bound, so live endpoints are not
// queued behind them until they time out.
func TestWindowStragglersLeave(t *testing.T) {
	w := newWindow(100, 400*time.Millisecond) // straggler bound: 100–200 ms
	var held []*slot
	for range initialWindow {
		s, err := w.acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if _, err := w.acquire(ctx); err == nil {
		t.Fatal("a 17th handshake started while 16 were fresh")
	}
	cancel()
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	s, err := w.acquire(ctx)
	if err != nil {
		t.Fatalf("stragglers kept their places: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("waited %v for a straggler's place", d)
	}
	s.done(false, 0)
	for _, h := range held {
		h.done(false, 0) // late completion: no double release
	}
	if w.inflight != 0 {
		t.Fatalf("inflight %d after every handshake ended", w.inflight)
	}
}

// TestWindowOpensOnDeadSweep: a sweep where almost nothing answers gives
// no latency samples; refusals and timeouts must still open the window.
func TestWindowOpensOnDeadSweep(t *testing.T) {
	w := newWindow(1000, time.Second)
	for range 2000 {
		s, err := w.acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		s.done(false, 0)
	}
	if st := w.stats(); st.Final != 1000 {
		t.Fatalf("window %d after 2,000 refusals, want the ceiling", st.Final)
	}
}

// TestWindowToleratesQueueing: with a 10 s timeout, handshakes queued
// 40 ms behind each other are not congestion (the allowance is a
// fortieth of the timeout, at most 50 ms), 150 ms is; with a 600 ms
// timeout the allowance is the 15 ms floor, and 40 ms is congestion.
func TestWindowToleratesQueueing(t *testing.T) {
	for _, tc := range []struct {
		timeout time.Duration
		lat     time.Duration
		cut     bool
	}{
		{10 * time.Second, 40 * time.Millisecond, false},
		{10 * time.Second, 150 * time.Millisecond, true},
		{600 * time.Millisecond, 40 * time.Millisecond, true},
	} {
		clk := &fakeClock{t: time.Unix(1e9, 0)}
		w := newWindow(200, tc.timeout)
		w.now = clk.now
		run(t, w, clk, 400, 2*time.Millisecond)
		before := w.stats().Final
		run(t, w, clk, 1000, tc.lat)
		after := w.stats().Final
		if cut := after < before; cut != tc.cut {
			t.Errorf("timeout %v, queueing %v: window %d → %d, want cut=%v", tc.timeout, tc.lat, before, after, tc.cut)
		}
	}
}
