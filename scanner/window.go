package scanner

import (
	"context"
	"sync"
	"time"
)

// window adapts how many handshakes run at once. --concurrency is its
// ceiling, not its setting: a scan that starts 1,000 handshakes on two
// cores (or against a farm on the same cores) starves every one of them
// of CPU until they all time out, and a starved handshake looks to the
// report exactly like a dead host. So the window grows while handshake
// latency stays near the best seen and shrinks when latency climbs.
//
// The control is AIMD on latency, as TCP Vegas reads queueing from RTT:
//   - slow start: +1 per completed handshake (doubling per round trip)
//     until latency first climbs;
//   - then +1/limit per completion (one per round trip);
//   - latency above gradientFactor × the recent minimum, plus an
//     allowance that grows with the timeout (queueing, not distance), cuts
//     the limit by decreaseFactor, at most once per round of limit
//     completions.
//
// A handshake that has waited longer than the straggler bound leaves the
// window (it keeps its worker, bounded by the ceiling): a tarpit that
// accepts and never answers uses no CPU, and must not hold a slot that a
// live endpoint could use while it waits for its timeout.
type window struct {
	ceiling  int
	minLimit int
	timeout  time.Duration
	queueing time.Duration // tolerated queueing latency above the baseline
	now      func() time.Time

	mu       sync.Mutex
	limit    float64
	inflight int
	waiters  []chan struct{}
	slow     bool                         // slow start over
	minLat   [latencyEpochs]time.Duration // per epoch, newest first
	epochN   int
	avg      time.Duration // EWMA of queueing latency (see done)
	avgTotal time.Duration // EWMA of whole handshakes, for stragglers
	sinceCut int           // completions since the last decrease
	// stats
	lowest, highest int
}

const (
	// initialWindow is the first window; slow start doubles it per round.
	initialWindow = 16
	// gradientFactor × the minimum latency (plus the queueing allowance) is where
	// queueing starts.
	gradientFactor = 2
	// The queueing tolerated above the baseline before the window is cut:
	// a fortieth of the per-endpoint timeout, within these bounds. The
	// lower bound keeps loopback's sub-millisecond handshakes from reading
	// a 1 ms jitter as congestion; the timeout share leaves almost all of
	// an endpoint's time to the endpoint. With 15 ms, a loopback scan on
	// two cores held ≈10 handshakes in flight and the CPUs idled between
	// round trips: 5% more time and CPU than with ≈40 in flight; 100 ms
	// (≈70 in flight) was no faster than 50 and took 3 MiB more.
	minQueueing = 15 * time.Millisecond
	maxQueueing = 50 * time.Millisecond
	// decreaseFactor is the multiplicative decrease.
	decreaseFactor = 0.75
	// The baseline is the least queueing latency of the last
	// latencyEpochs epochs of latencyEpoch samples each: old enough to
	// remember an unloaded path through a long overload, young enough to
	// follow a path that really changed.
	latencyEpoch  = 256
	latencyEpochs = 16
	// cutEvery bounds how often the window is cut: once per this many
	// completions, or once per window when it is smaller.
	cutEvery = 32
)

func newWindow(ceiling int, timeout time.Duration) *window {
	w := &window{ceiling: ceiling, minLimit: min(ceiling, 4), timeout: timeout, now: time.Now,
		queueing: min(max(timeout/40, minQueueing), maxQueueing)}
	w.limit = float64(min(ceiling, initialWindow))
	w.lowest, w.highest = int(w.limit), int(w.limit)
	return w
}

// slot is one handshake's place in the window.
type slot struct {
	w        *window
	start    time.Time
	released bool
	timer    *time.Timer
}

// acquire waits for a place in the window.
func (w *window) acquire(ctx context.Context) (*slot, error) {
	w.mu.Lock()
	if w.inflight < int(w.limit) && len(w.waiters) == 0 {
		w.inflight++
		w.mu.Unlock()
		return w.started(), nil
	}
	ch := make(chan struct{})
	w.waiters = append(w.waiters, ch)
	w.mu.Unlock()
	select {
	case <-ch:
		return w.started(), nil
	case <-ctx.Done():
		w.mu.Lock()
		for i, c := range w.waiters {
			if c == ch {
				w.waiters = append(w.waiters[:i], w.waiters[i+1:]...)
				w.mu.Unlock()
				return nil, ctx.Err()
			}
		}
		w.mu.Unlock()
		// Granted meanwhile: give the place back.
		<-ch
		w.mu.Lock()
		w.inflight--
		w.grantLocked()
		w.mu.Unlock()
		return nil, ctx.Err()
	}
}

func (w *window) started() *slot {
	s := &slot{w: w, start: w.now()}
	s.timer = time.AfterFunc(w.stragglerAfter(), s.leave)
	return s
}

// stragglerAfter is how long a handshake holds its place: several times
// the current average, never below 100 ms nor above half the timeout.
func (w *window) stragglerAfter() time.Duration {
	w.mu.Lock()
	avg := w.avgTotal
	w.mu.Unlock()
	d := max(8*avg, 100*time.Millisecond)
	return min(d, max(w.timeout/2, time.Millisecond))
}

// leave gives the slot's place back without a latency sample.
func (s *slot) leave() {
	w := s.w
	w.mu.Lock()
	if !s.released {
		s.released = true
		w.inflight--
		w.grantLocked()
	}
	w.mu.Unlock()
}

// done ends the handshake. ok says it completed; connect is how long
// the TCP connect took. Only completed handshakes are samples, and the
// sample is the handshake's time beyond two connect round trips: the
// queueing and computing part. Comparing whole latencies would read a
// scan of near and far hosts as congestion; what grows when CPUs starve
// is the part that is not distance.
func (s *slot) done(ok bool, connect time.Duration) {
	s.timer.Stop()
	lat := s.w.now().Sub(s.start)
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if !s.released {
		s.released = true
		w.inflight--
	}
	if ok {
		w.sampleLocked(lat, max(lat-2*connect, 0))
	} else if !w.congestedLocked() {
		// A refusal or a dead host says nothing about load; while nothing
		// says the path is loaded, a sweep of mostly dead addresses must
		// still open the window.
		w.growLocked()
	}
	w.grantLocked()
}

func (w *window) congestedLocked() bool {
	return w.avg > gradientFactor*w.baseLocked()+w.queueing
}

func (w *window) baseLocked() time.Duration {
	base := w.minLat[0]
	for _, m := range w.minLat[1:] {
		if m != 0 && (base == 0 || m < base) {
			base = m
		}
	}
	return base
}

func (w *window) growLocked() {
	if w.slow {
		w.limit += 1 / w.limit
	} else {
		w.limit++
	}
	w.limit = min(w.limit, float64(w.ceiling))
	w.highest = max(w.highest, int(w.limit))
}

func ewma(avg, x time.Duration) time.Duration {
	if avg == 0 {
		return x
	}
	return avg + (x-avg)/8
}

func (w *window) sampleLocked(total, lat time.Duration) {
	w.avgTotal = ewma(w.avgTotal, total)
	w.avg = ewma(w.avg, lat)
	w.epochN++
	if w.epochN >= latencyEpoch {
		copy(w.minLat[1:], w.minLat[:])
		w.minLat[0], w.epochN = 0, 0
	}
	if w.epochN == 1 || lat < w.minLat[0] {
		w.minLat[0] = lat
	}
	w.sinceCut++
	if w.congestedLocked() {
		if w.sinceCut >= min(int(w.limit), cutEvery) {
			w.slow = true
			w.limit = max(float64(w.minLimit), w.limit*decreaseFactor)
			w.sinceCut = 0
			w.lowest = min(w.lowest, int(w.limit))
		}
		return
	}
	w.growLocked()
}

func (w *window) grantLocked() {
	for len(w.waiters) > 0 && w.inflight < int(w.limit) {
		ch := w.waiters[0]
		w.waiters = w.waiters[1:]
		w.inflight++
		close(ch)
	}
}

// WindowStats says how the adaptive window moved during a scan.
type WindowStats struct {
	Ceiling, Lowest, Highest, Final int
}

func (w *window) stats() WindowStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return WindowStats{Ceiling: w.ceiling, Lowest: w.lowest, Highest: w.highest, Final: int(w.limit)}
}
