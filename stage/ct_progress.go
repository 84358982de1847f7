package stage

import (
	"sync"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/keyaudit/keyaudit/ctlog"
)

// ctBars draws one progress bar per log of a CT sync.
type ctBars struct {
	p    *mpb.Progress
	mu   sync.Mutex
	bars map[string]*mpb.Bar
}

// newCTBars returns the bars of a CT sync, or nil when env draws no
// progress.
func newCTBars(env Env) *ctBars {
	w := env.progressOutput()
	if w == nil {
		return nil
	}
	return &ctBars{bars: map[string]*mpb.Bar{}, p: newProgress(w)}
}

// progress is a ctlog.Config.Progress: it moves p's log's bar.
func (b *ctBars) progress(p ctlog.Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bar, ok := b.bars[p.Log.ID]
	if !ok {
		bar = b.p.AddBar(int64(p.Target-p.Started),
			mpb.PrependDecorators(decor.Name(p.Log.Name(), decor.WCSyncSpaceR)),
			mpb.AppendDecorators(decor.CountersNoUnit("%d / %d entries"), decor.Name(" "), decor.AverageSpeed(0, "%.0f/s"),
				decor.Name(" ETA "), decor.AverageETA(decor.ET_STYLE_GO)))
		b.bars[p.Log.ID] = bar
	}
	bar.SetTotal(int64(p.Target-p.Started), false)
	bar.SetCurrent(int64(p.Done - p.Started))
}

// done completes every bar and waits until they are drawn.
func (b *ctBars) done() {
	b.mu.Lock()
	for _, bar := range b.bars {
		bar.SetTotal(-1, true)
	}
	b.mu.Unlock()
	b.p.Wait()
}
