package main

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/term"

	"github.com/keyaudit/keyaudit/reconcile"
)

// progress prints a live counter on stderr when stderr is a terminal;
// otherwise it does nothing (stdout carries results, logs stay clean).
type progress struct {
	w     io.Writer
	label string
	n     atomic.Int64
	stop  chan struct{}
	done_ chan struct{}
	start time.Time
}

func newProgress(w io.Writer, label string) *progress {
	p := &progress{w: w, label: label, start: time.Now()}
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

func (p *progress) draw() {
	n := p.n.Load()
	el := time.Since(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(n) / el
	}
	fmt.Fprintf(p.w, "\r%s: %d done, %.0f/s, %s elapsed ", p.label, n, rate, time.Since(p.start).Round(time.Second))
}

func (p *progress) inc() { p.n.Add(1) }

func (p *progress) done() {
	if p.stop != nil {
		close(p.stop)
		<-p.done_
	}
}

// failOn is a parsed --fail-on, with the exit it means.
type failOn struct{ reconcile.Threshold }

// parseFailOn parses --fail-on; a bad value is exit 2.
func parseFailOn(s string) (failOn, error) {
	t, err := reconcile.ParseThreshold(s)
	if err != nil {
		return failOn{}, withCode(exitError, fmt.Errorf("--fail-on: %w", err))
	}
	return failOn{t}, nil
}

// exit is exit 1 when a finding reaches the threshold, else nil.
func (f failOn) exit(fs []reconcile.Finding) error {
	if f.Exceeded(fs) {
		return withCode(exitFindings, nil)
	}
	return nil
}
