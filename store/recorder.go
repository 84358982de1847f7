package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// DefaultLease is how long a run stays "running" without a heartbeat
// before another process may mark it abandoned. The holder renews it
// every Lease/4.
const DefaultLease = 2 * time.Minute

// Lease returns the run lease in force: KEYAUDIT_RUN_LEASE (a Go
// duration, at least one second) when set, else DefaultLease.
func Lease() time.Duration {
	if v := os.Getenv("KEYAUDIT_RUN_LEASE"); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d >= time.Second {
			return d
		}
	}
	return DefaultLease
}

// Holder names this process in a run's lease: host:pid.
func Holder() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", h, os.Getpid())
}

// Recorder is the lifecycle of one run, the same for every stage: begin
// with a lease, batch items, heartbeat while it works, and finish —
// exactly once, whatever happened. A Recorder whose Finish was never
// called finishes as failed on Close, so no run is left "running" by a
// process that is still alive.
type Recorder struct {
	st    Store
	run   Run
	batch *Batcher
	stop  chan struct{}
	wg    sync.WaitGroup

	mu       sync.Mutex
	finished bool
	lost     error // the lease was lost (the run was marked abandoned)
}

// RecorderOptions tune a Recorder.
type RecorderOptions struct {
	BatchSize     int
	BatchInterval time.Duration
	Lease         time.Duration // 0: Lease()
}

// Begin starts a run and its heartbeat.
func Begin(ctx context.Context, st Store, spec RunSpec, o RecorderOptions) (*Recorder, error) {
	if spec.Holder == "" {
		spec.Holder = Holder()
	}
	run, err := st.BeginRun(ctx, spec)
	if err != nil {
		return nil, err
	}
	lease := o.Lease
	if lease <= 0 {
		lease = Lease()
	}
	r := &Recorder{st: st, run: run, stop: make(chan struct{}),
		batch: NewBatcher(ctx, st, run.ID, o.BatchSize, o.BatchInterval)}
	r.wg.Add(1)
	go r.heartbeat(context.WithoutCancel(ctx), lease/4)
	return r, nil
}

func (r *Recorder) heartbeat(ctx context.Context, every time.Duration) {
	defer r.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			hctx, cancel := context.WithTimeout(ctx, every)
			err := r.st.Heartbeat(hctx, r.run.ID)
			cancel()
			if errors.Is(err, ErrRunClosed) || errors.Is(err, ErrNotFound) {
				r.mu.Lock()
				r.lost = fmt.Errorf("run %d: lease lost: %w", r.run.ID, err)
				r.mu.Unlock()
				return
			}
		}
	}
}

// Run returns the run as begun.
func (r *Recorder) Run() Run { return r.run }

// ID returns the run's ID.
func (r *Recorder) ID() int64 { return r.run.ID }

// Add queues items; they are written in batches.
func (r *Recorder) Add(items ...Item) error {
	for _, it := range items {
		if err := r.batch.Add(it); err != nil {
			return err
		}
	}
	return nil
}

// Flush writes queued items now.
func (r *Recorder) Flush() error { return r.batch.Flush() }

// Finish flushes what is queued and records the run's outcome. A failed
// flush turns the outcome into failed (the run never claims items it
// could not write). It is done once; later calls return nil. The store
// writes use a detached deadline, so an interrupted run is still closed.
func (r *Recorder) Finish(ctx context.Context, status RunStatus, note string) error {
	r.mu.Lock()
	if r.finished {
		r.mu.Unlock()
		return nil
	}
	r.finished = true
	r.mu.Unlock()
	close(r.stop)
	r.wg.Wait()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	flushErr := r.batch.Flush()
	if flushErr != nil {
		status, note = StatusFailed, "store: "+flushErr.Error()
	}
	r.mu.Lock()
	lost := r.lost
	r.mu.Unlock()
	if lost != nil {
		return lost
	}
	if err := r.st.FinishRun(fctx, r.run.ID, status, note); err != nil {
		return fmt.Errorf("finish run %d: %w", r.run.ID, err)
	}
	if flushErr != nil {
		return fmt.Errorf("run %d: %w", r.run.ID, flushErr)
	}
	return nil
}

// Close finishes the run as failed when Finish was not called (a panic,
// an early return).
func (r *Recorder) Close() {
	_ = r.Finish(context.Background(), StatusFailed, "ended without recording an outcome")
}
