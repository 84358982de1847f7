package stage

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sort"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/scanner"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
)

// Batching of every stage's items: a long stage commits continuously and
// an interrupted one keeps what it saw.
const (
	batchSize     = 256
	batchInterval = 500 * time.Millisecond
)

// ScanParams are a scan's inputs.
type ScanParams struct {
	// Config configures the scanner (scanner.New validates it). A nil
	// Logger or Now is taken from the Env.
	Config scanner.Config
	// Targets yields what to scan. It is iterated once, from another
	// goroutine than the caller's.
	Targets iter.Seq[scanner.Spec]
	// Group is the run group the run joins ("": none).
	Group string
	// Meta is recorded with the run. Scan sets its "shard" key to
	// Config.Shard ("i/n", or "" unsharded), so readers can tell how many
	// shards a group declared.
	Meta map[string]any
	// BadLines, when set, is called once Targets is exhausted and returns
	// how many invalid target lines it skipped: the run is then partial.
	BadLines func() int
}

// Scan scans p.Targets, records a run of kind "scan" (group p.Group)
// holding one observation per endpoint and the DER of each certificate
// served (records.ObservationItems), and calls emit, when not nil, with
// each observation. The run ends complete; partial when target lines
// were skipped; interrupted when ctx ended first (what was seen stays
// recorded); failed when the scan or the store failed. With env.Store nil
// nothing is recorded. The error is non-nil whenever the scan did not run
// to its end or its records could not be written.
func Scan(ctx context.Context, env Env, p ScanParams, emit func(scanner.Observation) error) (Outcome, error) {
	start := time.Now()
	out := Outcome{Stage: "scan"}
	if p.Targets == nil {
		return out, errors.New("scan: no targets")
	}
	cfg := p.Config
	if cfg.Logger == nil {
		cfg.Logger = env.logger()
	}
	if cfg.Now == nil {
		cfg.Now = env.now
	}
	bar := newScanBar(env)
	if bar != nil {
		next := cfg.Queued
		cfg.Queued = func(n int64, final bool) {
			if next != nil {
				next(n, final)
			}
			bar.queued(n, final)
		}
	}
	sc, err := scanner.New(cfg)
	if err != nil {
		return out, fmt.Errorf("scan: %w", err)
	}

	rec, err := begin(ctx, env, &out, p.Group, p.Meta, map[string]any{"shard": shardText(cfg.Shard)})
	if err != nil {
		return out, err
	}
	if rec != nil {
		defer rec.Close()
	}

	seen := records.NewCertSet() // certificates already in the run (recent ones)
	// Targets read from stdin block until a line or EOF comes: an
	// interrupt must not wait for either.
	stats, scanErr := sc.Scan(ctx, scanner.UntilDone(ctx, p.Targets), func(o scanner.Observation) error {
		bar.done()
		if rec != nil {
			items, err := records.ObservationItems(o, seen)
			if err != nil {
				return err
			}
			if err := rec.Add(items...); err != nil {
				return fmt.Errorf("store: %w", err)
			}
			o.UseEncoding(items[0].Data) // the output writes what was stored
		}
		if emit != nil {
			return emit(o)
		}
		return nil
	})
	bar.close()
	if w := stats.Window; w.Ceiling > 0 {
		env.logger().Info("scan concurrency adapted to handshake latency",
			"ceiling", w.Ceiling, "lowest", w.Lowest, "highest", w.Highest, "final", w.Final)
	}

	bad := 0
	if p.BadLines != nil {
		bad = p.BadLines()
	}
	out.Status, out.Note = store.StatusComplete, summarize(stats)
	switch {
	case scanErr != nil && ctx.Err() != nil:
		out.Status, out.Note = store.StatusInterrupted, "interrupted: "+out.Note
	case scanErr != nil:
		out.Status, out.Note = store.StatusFailed, scanErr.Error()
	case bad > 0:
		out.Status, out.Note = store.StatusPartial, fmt.Sprintf("%d invalid target lines skipped; %s", bad, out.Note)
	}
	err = finish(ctx, env, rec, &out, start)
	if scanErr != nil {
		return out, fmt.Errorf("scan: %w", scanErr)
	}
	return out, err
}

// begin starts the run of out.Stage in env.Store, or returns nil when
// env.Store is nil (nothing is recorded). The run's meta is meta with
// the stage's own keys (own) over it.
func begin(ctx context.Context, env Env, out *Outcome, group string, meta, own map[string]any) (*store.Recorder, error) {
	if env.Store == nil {
		return nil, nil
	}
	m := make(map[string]any, len(meta)+len(own))
	for k, v := range meta {
		m[k] = v
	}
	for k, v := range own {
		m[k] = v
	}
	rec, err := store.Begin(ctx, env.Store, store.RunSpec{Kind: out.Stage, Group: group, Meta: m},
		store.RecorderOptions{BatchSize: batchSize, BatchInterval: batchInterval})
	if err != nil {
		return nil, fmt.Errorf("%s: begin run: %w", out.Stage, err)
	}
	out.RunID = rec.ID()
	return rec, nil
}

// finish records how a stage ended: it writes what is still queued (a
// failed write makes the outcome failed: a run never claims items it
// could not write) and finishes rec's run (rec may be nil: nothing is
// recorded). The error is the store's.
func finish(ctx context.Context, env Env, rec *store.Recorder, out *Outcome, start time.Time) error {
	var err error
	if rec != nil {
		if ferr := rec.Flush(); ferr != nil {
			out.Status, out.Note = store.StatusFailed, "store: "+ferr.Error()
			err = fmt.Errorf("%s run %d: store: %w", out.Stage, rec.ID(), ferr)
		}
		if ferr := rec.Finish(ctx, out.Status, out.Note); ferr != nil {
			if err == nil {
				out.Status, out.Note = store.StatusFailed, ferr.Error()
				err = fmt.Errorf("%s: %w", out.Stage, ferr)
			}
		} else {
			env.logger().Info(out.Stage+" recorded", "run", rec.ID(), "status", out.Status, "note", out.Note)
		}
	}
	out.Took = time.Since(start)
	out.TookText = out.Took.Round(time.Millisecond).String()
	return err
}

// shardText is a shard as ParseShard reads it: "i/n", or "" unsharded.
func shardText(s scanner.Shard) string {
	if s.Count == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// summarize is a scan's note: endpoints, how many served a chain, and the
// failures by kind.
func summarize(s scanner.Stats) string {
	parts := []string{fmt.Sprintf("%d endpoints, %d with a chain", s.Endpoints, s.OK)}
	kinds := make([]string, 0, len(s.Errors))
	for k := range s.Errors {
		kinds = append(kinds, string(k))
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%d %s", s.Errors[scanner.ErrorKind(k)], k))
	}
	return strings.Join(parts, ", ")
}
