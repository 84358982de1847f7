package store

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Leased wraps st so that every run begun through it renews its lease
// until it is finished (or the store closed): whoever begins a run holds
// it alive, without having to heartbeat by hand.
func Leased(st Store) Store {
	if st == nil {
		return nil
	}
	return &leased{Store: st, stops: map[int64]chan struct{}{}}
}

type leased struct {
	Store
	mu    sync.Mutex
	stops map[int64]chan struct{}
}

func (l *leased) BeginRun(ctx context.Context, spec RunSpec) (Run, error) {
	if spec.Holder == "" {
		spec.Holder = Holder()
	}
	r, err := l.Store.BeginRun(ctx, spec)
	if err != nil {
		return r, err
	}
	stop := make(chan struct{})
	l.mu.Lock()
	l.stops[r.ID] = stop
	l.mu.Unlock()
	every := Lease() / 4
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				hctx, cancel := context.WithTimeout(context.Background(), every)
				err := l.Store.Heartbeat(hctx, r.ID)
				cancel()
				if errors.Is(err, ErrRunClosed) || errors.Is(err, ErrNotFound) {
					return
				}
			}
		}
	}()
	return r, nil
}

func (l *leased) stop(id int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.stops[id]; ok {
		close(c)
		delete(l.stops, id)
	}
}

func (l *leased) FinishRun(ctx context.Context, id int64, status RunStatus, note string) error {
	l.stop(id)
	return l.Store.FinishRun(ctx, id, status, note)
}

func (l *leased) Close() error {
	l.mu.Lock()
	for id, c := range l.stops {
		close(c)
		delete(l.stops, id)
	}
	l.mu.Unlock()
	return l.Store.Close()
}
