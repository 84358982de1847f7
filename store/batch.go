package store

import (
	"context"
	"sync"
	"time"
)

// Batcher groups items into transactions: it flushes when Size items are
// pending or Interval has passed since the first pending item, so a long
// scan commits continuously and an interrupted one keeps what it saw.
type Batcher struct {
	s        Store
	runID    int64
	size     int
	interval time.Duration

	mu      sync.Mutex
	pending []Item
	timer   *time.Timer
	err     error
	ctx     context.Context
}

// NewBatcher returns a Batcher writing to run runID. ctx bounds the
// writes; flushes after ctx ends use a short detached deadline so the
// last items still reach the store on Ctrl-C.
func NewBatcher(ctx context.Context, s Store, runID int64, size int, interval time.Duration) *Batcher {
	if size <= 0 {
		size = 256
	}
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	return &Batcher{s: s, runID: runID, size: size, interval: interval, ctx: ctx}
}

// Add queues an item. It returns the error of an earlier failed flush.
func (b *Batcher) Add(it Item) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return b.err
	}
	b.pending = append(b.pending, it)
	if len(b.pending) >= b.size {
		return b.flushLocked()
	}
	if b.timer == nil {
		b.timer = time.AfterFunc(b.interval, func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.timer = nil
			_ = b.flushLocked()
		})
	}
	return nil
}

func (b *Batcher) flushLocked() error {
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	if len(b.pending) == 0 || b.err != nil {
		return b.err
	}
	ctx := b.ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
	}
	if err := b.s.Put(ctx, b.runID, b.pending...); err != nil {
		b.err = err
		return err
	}
	b.pending = b.pending[:0]
	return nil
}

// Flush writes pending items now.
func (b *Batcher) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}
