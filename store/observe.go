package store

import "context"

type observerKey struct{}

// WithRunObserver returns a context under which Observe(ctx, st) reports
// every run begun through the returned store to fn: an audit learns the
// runs its own stages made, never "the newest run of that kind", which
// may be another process's.
func WithRunObserver(ctx context.Context, fn func(Run)) context.Context {
	return context.WithValue(ctx, observerKey{}, fn)
}

// Observe wraps st so that runs begun through it are reported to the
// observer in ctx (st itself when ctx has none).
func Observe(ctx context.Context, st Store) Store {
	fn, ok := ctx.Value(observerKey{}).(func(Run))
	if !ok || fn == nil || st == nil {
		return st
	}
	return observed{Store: st, fn: fn}
}

type observed struct {
	Store
	fn func(Run)
}

func (o observed) BeginRun(ctx context.Context, spec RunSpec) (Run, error) {
	r, err := o.Store.BeginRun(ctx, spec)
	if err == nil {
		o.fn(r)
	}
	return r, err
}
