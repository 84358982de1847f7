package stage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/keyaudit/keyaudit/ctlog"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
)

// CTCursor names the store cursor of a CT log's verified position: the
// one name every CT sync uses (keyaudit ct sync and watch, keyaudit
// audit, queue workers), so they continue each other's work.
func CTCursor(logID string) string { return "ct:" + logID }

// CTParams are a CT sync's inputs.
type CTParams struct {
	// Config configures the monitor (ctlog.New validates it). A nil
	// Logger is taken from the Env.
	Config ctlog.Config
	// Logs are synced concurrently, each up to its current signed head
	// (bounded by Config.MaxEntries).
	Logs []ctlog.Log
	// From applies to a log without a stored position.
	From ctlog.Start
	// Mode is recorded in the run's meta: sync (the default), watch (one
	// round of keyaudit ct watch), queue.
	Mode string
	// Group is the run group the run joins ("": none).
	Group string
	// Meta is recorded with the run, under the stage's own keys (mode,
	// logs, watch, from, max_entries).
	Meta map[string]any
	// Positions holds the logs' positions when env.Store is nil; nil
	// keeps them for this sync only. keyaudit ct watch --no-store passes
	// the same Positions to each round.
	Positions *Positions
	// LogDone, when set, is called once per log when every log is done,
	// in the order of Logs.
	LogDone func(CTLogResult)
	// Flush, when set, is called once the sightings of one commit were
	// handed to emit: the output may buffer them (a broad watch emits
	// one per log entry) and write them out together.
	Flush func() error
}

// NewCTParams validates a CT sync's settings and returns its
// parameters: the logs lc names (ctlog.LogsConfig.Logs), the monitor's
// settings cfg (validated by ctlog.New) watching the domains of watch
// (ctlog.NewWatchlist; at least one), logs without a stored position
// starting at from (ctlog.ParseStart). Nothing is contacted; a log list
// file is read.
func NewCTParams(cfg ctlog.Config, lc ctlog.LogsConfig, watch []string, from string) (CTParams, error) {
	logs, err := lc.Logs()
	if err != nil {
		return CTParams{}, err
	}
	if cfg.Watch, err = ctlog.NewWatchlist(watch); err != nil {
		return CTParams{}, err
	}
	if cfg.Watch.Len() == 0 {
		return CTParams{}, errors.New("no watched domains: give --watch or a watch: list in the config")
	}
	if err := CheckCTSettings(cfg, watch, from); err != nil {
		return CTParams{}, err
	}
	start, _ := ctlog.ParseStart(from)
	return CTParams{Config: cfg, Logs: logs, From: start}, nil
}

// CheckCTSettings checks what NewCTParams checks without reading a log
// list or key file and without requiring a watched domain: the watched
// domains, the start position and the monitor's settings. keyaudit
// config check runs it on the ct-sync and ct-watch sections.
func CheckCTSettings(cfg ctlog.Config, watch []string, from string) error {
	if _, err := ctlog.NewWatchlist(watch); err != nil {
		return err
	}
	if _, err := ctlog.ParseStart(from); err != nil {
		return err
	}
	_, err := ctlog.New(cfg)
	return err
}

// CTLogResult is how one log ended in a sync.
type CTLogResult struct {
	Log    ctlog.Log
	Result ctlog.Result
	// Err is nil when the log was synced; a *ctlog.MisbehaviourError when
	// it misbehaved (its position did not move past the last verified
	// point); else why it could not be read or recorded.
	Err error
	// Status is the log's recorded status; nil when none was recorded
	// (the sync was interrupted, or its records could not be written).
	Status *records.LogStatus
}

// Positions keeps CT log positions in memory: where a sync without a
// store resumes. It is safe for concurrent use.
type Positions struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (p *Positions) get(logID string) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[logID]
}

func (p *Positions) set(logID string, state []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string][]byte{}
	}
	p.m[logID] = state
}

// CTSync catches every log of p up to its current signed head, verifying
// signatures, Merkle roots and consistency, and records a run of kind
// "ct" (group p.Group). Each log's position is committed with the
// sightings it covers (records.SightingItems) in one transaction
// (store.Advance), so an interrupted sync resumes exactly where it
// stopped; emit, when not nil, gets each sighting once it is committed.
// When every log is done the run gets one store.KindLogStatus item per
// log, keyed by its URL (records.LogStatus): ok, misbehaviour (with the
// evidence: both heads) or unreachable. A log whose sync was interrupted
// gets none: its latest status stands.
//
// The run ends complete when every log was synced; partial when some
// misbehaved or could not be read; failed when none could be read or a
// position could not be committed; interrupted when ctx ended first. A
// log that misbehaved or could not be read is reported on env.Stderr and
// recorded, not returned as an error: the error is non-nil when the sync
// did not run to its end (ctx ended, a commit failed) or its records or
// output could not be written. With env.Store nil nothing is recorded
// and positions are kept in p.Positions. With env.Progress, each log's
// catch-up is drawn as a progress bar on env.Stderr when it is a
// terminal.
func CTSync(ctx context.Context, env Env, p CTParams, emit func(ctlog.Sighting) error) (Outcome, error) {
	start := time.Now()
	out := Outcome{Stage: "ct"}
	if len(p.Logs) == 0 {
		return out, errors.New("ct: no logs")
	}
	cfg := p.Config
	if cfg.Logger == nil {
		cfg.Logger = env.logger()
	}
	var bars *ctBars // set before the logs are synced
	if env.Progress {
		next := cfg.Progress
		cfg.Progress = func(pr ctlog.Progress) {
			if next != nil {
				next(pr)
			}
			if bars != nil {
				bars.progress(pr)
			}
		}
	}
	mon, err := ctlog.New(cfg)
	if err != nil {
		return out, fmt.Errorf("ct: %w", err)
	}
	mode := p.Mode
	if mode == "" {
		mode = "sync"
	}
	urls := make([]string, len(p.Logs))
	for i, l := range p.Logs {
		urls[i] = l.URL
	}
	var watch []string
	if cfg.Watch != nil {
		watch = cfg.Watch.Entries()
	}
	rec, err := begin(ctx, env, &out, p.Group, p.Meta, map[string]any{
		"mode": mode, "logs": urls, "watch": watch, "from": p.From.String(), "max_entries": cfg.MaxEntries,
	})
	if err != nil {
		return out, err
	}
	if rec != nil {
		defer rec.Close()
	}
	sink := &ctSink{emit: emit, flush: p.Flush, pos: p.Positions, failed: map[string]error{}}
	if sink.pos == nil {
		sink.pos = &Positions{}
	}
	if rec != nil {
		sink.st, sink.runID = env.Store, rec.ID()
	}

	bars = newCTBars(env)
	results := make([]CTLogResult, len(p.Logs))
	var wg sync.WaitGroup
	for i, l := range p.Logs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := mon.Sync(ctx, l, sink, p.From)
			results[i] = CTLogResult{Log: l, Result: res, Err: err}
		}()
	}
	wg.Wait()
	if bars != nil {
		bars.done()
	}

	log := env.logger()
	var failures, misbehaved []string
	var storeErr error
	var entries uint64
	for i := range results {
		r := &results[i]
		entries += r.Result.Entries
		var mis *ctlog.MisbehaviourError
		cerr := sink.commitErr(r.Log.ID)
		switch {
		case cerr != nil:
			// The store failed, not the log: nothing to say about it.
			r.Err = cerr
			if storeErr == nil {
				storeErr = cerr
			}
			fmt.Fprintf(env.stderr(), "keyaudit: ct: %s: %v\n", r.Log.Name(), cerr)
		case errors.As(r.Err, &mis):
			misbehaved = append(misbehaved, r.Log.Name())
			r.Status = misbehaviourStatus(r.Log, mis, env.now())
			fmt.Fprintf(env.stderr(), "keyaudit: CRITICAL log misbehaviour: %s: %s: %s\n", r.Log.Name(), mis.Kind, mis.Detail)
		case r.Err != nil && ctx.Err() != nil:
			// Interrupted: the log is neither fine nor unreachable.
		case r.Err != nil:
			// Unreachable, or not the log the configuration says
			// (ctlog.ConfigError: not a CT log at all, another origin):
			// either way it could not be synced, and it did not lie.
			failures = append(failures, fmt.Sprintf("%s: %v", r.Log.Name(), r.Err))
			r.Status = &records.LogStatus{Log: r.Log.URL, Status: records.LogUnreachable, Message: r.Err.Error(),
				Detail: map[string]any{"log_id": r.Log.ID}, Time: env.now().UTC()}
			var ce *ctlog.ConfigError
			if errors.As(r.Err, &ce) {
				r.Status.Kind = "config"
				if ce.Served != nil {
					r.Status.Detail["served_head"] = ce.Served
				}
			}
			fmt.Fprintf(env.stderr(), "keyaudit: ct: %s: %v\n", r.Log.Name(), r.Err)
		default:
			res := r.Result
			r.Status = &records.LogStatus{Log: r.Log.URL, Status: records.LogOK,
				Message: fmt.Sprintf("verified to tree size %d", res.To),
				Detail:  map[string]any{"log_id": r.Log.ID, "from": res.From, "to": res.To, "entries": res.Entries, "sightings": res.Sightings},
				Time:    env.now().UTC()}
			log.Info("ct: log synced", "log", r.Log.URL, "from", res.From, "to", res.To,
				"entries", res.Entries, "sightings", res.Sightings, "duplicates", res.Dups, "elapsed", res.Elapsed)
		}
		if r.Status != nil && rec != nil {
			it, err := logStatusItem(*r.Status)
			if err == nil {
				err = rec.Add(it)
			}
			if err != nil {
				r.Status = nil
				if storeErr == nil {
					storeErr = fmt.Errorf("store: %w", err)
				}
			}
		}
	}

	note := fmt.Sprintf("%d logs, %d entries, %d sightings", len(p.Logs), entries, sink.sightings())
	out.Status, out.Note = store.StatusComplete, note
	switch {
	case ctx.Err() != nil:
		out.Status, out.Note = store.StatusInterrupted, "interrupted: "+note
	case storeErr != nil:
		out.Status, out.Note = store.StatusFailed, storeErr.Error()
	case len(failures) == len(p.Logs):
		out.Status, out.Note = store.StatusFailed, note+"; failed: "+strings.Join(failures, "; ")
	case len(failures) > 0 || len(misbehaved) > 0:
		out.Status = store.StatusPartial
		if len(failures) > 0 {
			out.Note += "; failed: " + strings.Join(failures, "; ")
		}
		if len(misbehaved) > 0 {
			out.Note += fmt.Sprintf("; %d logs misbehaved: %s", len(misbehaved), strings.Join(misbehaved, ", "))
		}
	}
	err = finish(ctx, env, rec, &out, start)
	if err != nil {
		for i := range results {
			results[i].Status = nil // not recorded
		}
	}
	if p.LogDone != nil {
		for _, r := range results {
			p.LogDone(r)
		}
	}
	switch {
	case ctx.Err() != nil:
		return out, fmt.Errorf("ct: interrupted: %w", ctx.Err())
	case storeErr != nil:
		return out, fmt.Errorf("ct: %w", storeErr)
	case err != nil:
		return out, err
	case sink.emitErr != nil:
		return out, fmt.Errorf("ct: output: %w", sink.emitErr)
	}
	return out, nil
}

// misbehaviourStatus is the recorded status of a log that misbehaved,
// with the evidence: the last verified head and the one served.
func misbehaviourStatus(l ctlog.Log, m *ctlog.MisbehaviourError, now time.Time) *records.LogStatus {
	d := map[string]any{"log_id": l.ID, "kind": string(m.Kind), "detail": m.Detail}
	msg := m.Detail
	if m.Index >= 0 {
		d["index"] = m.Index
		msg += fmt.Sprintf(" (entry %d)", m.Index)
	}
	if m.Trusted != nil {
		d["trusted_head"] = m.Trusted
	}
	if m.Served != nil {
		d["served_head"] = m.Served
	}
	if m.Err != nil {
		d["error"] = m.Err.Error()
	}
	return &records.LogStatus{Log: l.URL, Status: records.LogMisbehaviour, Kind: string(m.Kind),
		Message: msg, Detail: d, Time: now.UTC()}
}

// logStatusItem is the store item of a log's status, keyed by its URL.
func logStatusItem(ls records.LogStatus) (store.Item, error) {
	return jsonItem(store.Item{Kind: store.KindLogStatus, Key: ls.Log}, ls)
}

// ctSink commits a log's position with its sightings to the store in one
// transaction (or keeps the position in memory without a store), then
// hands the sightings to emit.
type ctSink struct {
	st    store.Store // nil: positions in pos
	runID int64
	pos   *Positions
	emit  func(ctlog.Sighting) error
	flush func() error // nil: emit writes at once

	mu      sync.Mutex
	count   int
	emitErr error
	failed  map[string]error // log ID → its commit's error
}

func (s *ctSink) Load(ctx context.Context, l ctlog.Log) ([]byte, error) {
	if s.st == nil {
		return s.pos.get(l.ID), nil
	}
	b, err := s.st.Cursor(ctx, CTCursor(l.ID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, s.fail(ctx, l, fmt.Errorf("store: load position of %s: %w", l.URL, err))
	}
	return b, nil
}

func (s *ctSink) Commit(ctx context.Context, l ctlog.Log, state []byte, ss []ctlog.Sighting) error {
	if s.st == nil {
		s.pos.set(l.ID, state)
	} else {
		items, err := records.SightingItems(ss)
		if err == nil {
			err = s.st.Advance(ctx, s.runID, CTCursor(l.ID), state, items...)
		}
		for i := range items {
			ss[i].UseEncoding(items[i].Data) // the output writes what was stored
		}
		if err != nil {
			return s.fail(ctx, l, fmt.Errorf("store: commit position of %s: %w", l.URL, err))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count += len(ss)
	// The position is committed: an output failure is reported at the
	// end and does not stop the log.
	for _, x := range ss {
		if s.emit == nil || s.emitErr != nil {
			break
		}
		s.emitErr = s.emit(x)
	}
	if s.flush != nil && s.emitErr == nil && len(ss) > 0 {
		s.emitErr = s.flush()
	}
	return nil
}

// fail notes that the store failed l (unless ctx ended: that is an
// interruption) and returns err.
func (s *ctSink) fail(ctx context.Context, l ctlog.Log, err error) error {
	if ctx.Err() == nil {
		s.mu.Lock()
		s.failed[l.ID] = err
		s.mu.Unlock()
	}
	return err
}

// commitErr is the store's failure of log logID, if any.
func (s *ctSink) commitErr(logID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed[logID]
}

func (s *ctSink) sightings() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}
