package stage

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// Progress is drawn on Env.Stderr, and only when Env.Progress is set and
// Stderr is a terminal: stdout carries results, and a log or a pipe gets
// no progress at all. Bars are drawn by mpb.

// progressRefresh is how often bars are redrawn.
const progressRefresh = 150 * time.Millisecond

// progressOutput returns where a stage draws its progress, or nil when
// it draws none.
func (e Env) progressOutput() io.Writer {
	if !e.Progress || e.Stderr == nil {
		return nil
	}
	f, ok := e.Stderr.(interface{ Fd() uintptr })
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return e.Stderr
}

func newProgress(w io.Writer) *mpb.Progress {
	return mpb.New(mpb.WithOutput(w), mpb.WithRefreshRate(progressRefresh), mpb.WithAutoRefresh())
}

// scanBar is a scan's progress: endpoints done of those queued so far,
// the rate and, once every target is expanded, the time left.
type scanBar struct {
	p     *mpb.Progress
	bar   *mpb.Bar
	final atomic.Bool
}

// newScanBar returns the bar of a scan, or nil (its methods then do
// nothing) when env draws no progress.
func newScanBar(env Env) *scanBar {
	w := env.progressOutput()
	if w == nil {
		return nil
	}
	b := &scanBar{p: newProgress(w)}
	avg := decor.AverageETA(decor.ET_STYLE_GO)
	eta := decor.Any(func(s decor.Statistics) string {
		if !b.final.Load() || s.Current == 0 {
			return "" // the total is not known yet
		}
		left, _ := avg.Decor(s)
		return "ETA " + left
	})
	b.bar = b.p.New(0, mpb.BarStyle(),
		mpb.PrependDecorators(decor.Name("scan "), decor.Any(func(s decor.Statistics) string {
			more := ""
			if !b.final.Load() {
				more = "+" // targets still being expanded
			}
			return fmt.Sprintf("%d/%d%s endpoints", s.Current, s.Total, more)
		}, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(rateDecor(time.Now()), decor.Name(" "), eta))
	return b
}

// rateDecor shows the average rate since start.
func rateDecor(start time.Time) decor.Decorator {
	return decor.Any(func(s decor.Statistics) string {
		return fmt.Sprintf("%.0f/s", float64(s.Current)/max(time.Since(start).Seconds(), 0.001))
	})
}

// queued is a scanner.Config.Queued.
func (b *scanBar) queued(n int64, final bool) {
	if b == nil {
		return
	}
	if final {
		b.final.Store(true)
	}
	b.bar.SetTotal(n, false)
}

// done counts one endpoint scanned.
func (b *scanBar) done() {
	if b != nil {
		b.bar.EwmaIncrement(0)
	}
}

// close completes the bar and waits until it is drawn.
func (b *scanBar) close() {
	if b == nil {
		return
	}
	b.final.Store(true)
	b.bar.SetTotal(-1, true)
	b.p.Wait()
}

// sourceBar is an inventory's progress: sources read of all, and the
// keys of the source being read with their rate.
type sourceBar struct {
	p     *mpb.Progress
	bar   *mpb.Bar
	mu    sync.Mutex
	name  string
	keys  atomic.Int64
	start time.Time
}

// newSourceBar returns the bar of an inventory of n sources, or nil.
func newSourceBar(env Env, n int) *sourceBar {
	w := env.progressOutput()
	if w == nil {
		return nil
	}
	b := &sourceBar{p: newProgress(w), start: time.Now()}
	b.bar = b.p.New(int64(n), mpb.BarStyle(),
		mpb.PrependDecorators(decor.Name("inventory "), decor.CountersNoUnit("%d/%d sources", decor.WCSyncSpaceR)),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
			b.mu.Lock()
			name := b.name
			b.mu.Unlock()
			keys := b.keys.Load()
			rate := float64(keys) / max(time.Since(b.start).Seconds(), 0.001)
			if name == "" {
				return fmt.Sprintf("%d keys, %.0f/s", keys, rate)
			}
			return fmt.Sprintf("%s · %d keys, %.0f/s", name, keys, rate)
		})))
	return b
}

// source starts reading the source named name.
func (b *sourceBar) source(name string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.name = name
	b.mu.Unlock()
}

// key counts one key listed.
func (b *sourceBar) key() {
	if b != nil {
		b.keys.Add(1)
	}
}

// sourceDone counts one source read.
func (b *sourceBar) sourceDone() {
	if b != nil {
		b.bar.Increment()
	}
}

func (b *sourceBar) close() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.name = ""
	b.mu.Unlock()
	b.bar.SetTotal(-1, true)
	b.p.Wait()
}

// counter is the progress of a stage that knows no total: results so
// far and their rate.
type counter struct {
	p   *mpb.Progress
	bar *mpb.Bar
}

// newCounter returns a counter labelled label, or nil.
func newCounter(env Env, label, unit string) *counter {
	w := env.progressOutput()
	if w == nil {
		return nil
	}
	c := &counter{p: newProgress(w)}
	c.bar = c.p.New(0, mpb.NopStyle(),
		mpb.PrependDecorators(decor.Name(label+" "), decor.Any(func(s decor.Statistics) string {
			return fmt.Sprintf("%d %s", s.Current, unit)
		}, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(rateDecor(time.Now()), decor.Name(" "), decor.Elapsed(decor.ET_STYLE_GO)))
	return c
}

func (c *counter) inc() {
	if c != nil {
		c.bar.Increment()
	}
}

func (c *counter) close() {
	if c == nil {
		return
	}
	c.bar.SetTotal(-1, true)
	c.p.Wait()
}

// countEmit wraps emit so that c counts each result.
func countEmit[T any](c *counter, emit func(T) error) func(T) error {
	if c == nil {
		return emit
	}
	return func(v T) error {
		c.inc()
		if emit == nil {
			return nil
		}
		return emit(v)
	}
}
