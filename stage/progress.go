package stage

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// Counter prints a live count of results on stderr when stderr is a terminal;
// otherwise it does nothing (stdout carries results, logs stay clean).
type Counter struct {
	w     io.Writer
	label string
	n     atomic.Int64
	stop  chan struct{}
	done_ chan struct{}
	start time.Time
}

// NewCounter starts a counter labelled label on w.
func NewCounter(w io.Writer, label string) *Counter {
	p := &Counter{w: w, label: label, start: time.Now()}
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return p
	}
	p.stop, p.done_ = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(p.done_)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				p.draw()
				fmt.Fprintln(p.w)
				return
			case <-t.C:
				p.draw()
			}
		}
	}()
	return p
}

func (p *Counter) draw() {
	n := p.n.Load()
	el := time.Since(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(n) / el
	}
	fmt.Fprintf(p.w, "\r%s: %d done, %.0f/s, %s elapsed ", p.label, n, rate, time.Since(p.start).Round(time.Second))
}

// Inc counts one result.
func (p *Counter) Inc() { p.n.Add(1) }

// Done stops the counter, leaving its last line.
func (p *Counter) Done() {
	if p.stop != nil {
		close(p.stop)
		<-p.done_
	}
}
