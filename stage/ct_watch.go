package stage

import (
	"context"
	"time"

	"github.com/keyaudit/keyaudit/ctlog"
)

// CTTally counts how the logs of CT syncs ended. Its Add is a
// CTParams.LogDone.
type CTTally struct {
	// Synced logs were caught up; Misbehaved logs misbehaved
	// (ctlog.IsMisbehaviour); Failed logs could not be read or recorded,
	// or their sync was interrupted.
	Synced, Misbehaved, Failed int
}

// Add counts r.
func (t *CTTally) Add(r CTLogResult) {
	switch {
	case r.Err == nil:
		t.Synced++
	case ctlog.IsMisbehaviour(r.Err):
		t.Misbehaved++
	default:
		t.Failed++
	}
}

// DefaultCTWatchInterval is how often CTWatch syncs when not told.
const DefaultCTWatchInterval = 30 * time.Second

// CTWatch follows p's logs until ctx ends: a CTSync of every log each
// interval (DefaultCTWatchInterval when not positive), each round a run
// of its own (mode "watch" unless p.Mode is set), emit getting each
// sighting once its position is committed. A log that misbehaves is no
// longer followed — a suspected rollback too (its head went back and it
// no longer serves the verified tree): its status records both heads and
// polling it again would only repeat that; one that could not be read is
// tried again at the next round. Without a store the positions are kept across rounds in
// p.Positions (a new Positions when nil). p.LogDone, when set, is called
// for every log of every round.
//
// It returns once every log misbehaved or when ctx ends, with how the
// logs ended in all rounds (a log that misbehaved is counted once; one
// that failed, once per round it failed). The error is that of a round
// that did not run to its end for another reason than ctx (its records
// or output could not be written).
func CTWatch(ctx context.Context, env Env, p CTParams, interval time.Duration, emit func(ctlog.Sighting) error) (CTTally, error) {
	if interval <= 0 {
		interval = DefaultCTWatchInterval
	}
	if p.Mode == "" {
		p.Mode = "watch"
	}
	if p.Positions == nil {
		p.Positions = &Positions{}
	}
	logDone := p.LogDone
	var tally CTTally
	for len(p.Logs) > 0 {
		var next []ctlog.Log
		p.LogDone = func(r CTLogResult) {
			if logDone != nil {
				logDone(r)
			}
			tally.Add(r)
			if !ctlog.IsMisbehaviour(r.Err) {
				next = append(next, r.Log)
			}
		}
		out, err := CTSync(ctx, env, p, emit)
		if ctx.Err() != nil {
			return tally, nil
		}
		if err != nil {
			return tally, err
		}
		env.logger().Debug("ct: watch round done", "run", out.RunID, "status", out.Status, "note", out.Note)
		p.Logs = next
		if len(p.Logs) == 0 {
			break
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return tally, nil
		case <-t.C:
		}
	}
	return tally, nil
}
