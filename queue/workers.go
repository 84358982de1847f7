package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/keyaudit/keyaudit/ctlog"
	"github.com/keyaudit/keyaudit/scanner"
	"github.com/keyaudit/keyaudit/stage"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
)

// scanWorker runs scan jobs.
type scanWorker struct {
	river.WorkerDefaults[ScanArgs]
	w *Worker
}

func (s *scanWorker) Timeout(*river.Job[ScanArgs]) time.Duration { return s.w.cfg.JobTimeout }

// Work scans the job's targets (its shard of them) into a new run of the
// job's group. A job that can never succeed (invalid arguments) is
// cancelled rather than retried; an interrupted or failed one is retried,
// into a new run: readers take the group's complete runs.
func (s *scanWorker) Work(ctx context.Context, job *river.Job[ScanArgs]) error {
	w := s.w
	a := job.Args
	if err := a.Validate(); err != nil {
		return river.JobCancel(err)
	}
	cfg, err := a.scannerConfig()
	if err != nil {
		return river.JobCancel(err)
	}
	// A job may only narrow the worker's scope. Refuse, rather than
	// scan, when nothing is left, and when the job's resolvers would send
	// DNS outside what the worker may contact.
	if cfg.Scope, err = intersect(cfg.Scope, w.cfg.Scope); err != nil {
		return river.JobCancel(fmt.Errorf("queue: scan job %d: %w", job.ID, err))
	}
	if len(w.cfg.Scope) > 0 {
		if err := a.resolversAllowed(cfg.Scope); err != nil {
			return river.JobCancel(fmt.Errorf("queue: scan job %d: %w", job.ID, err))
		}
	}
	cfg.Logger = w.cfg.Logger
	if w.cfg.Scanner != nil {
		w.cfg.Scanner(&cfg)
	}
	if _, err := scanner.New(cfg); err != nil {
		return river.JobCancel(err)
	}
	specs := func(yield func(scanner.Spec) bool) {
		for _, t := range a.Targets {
			sp, err := scanner.ParseSpec(t)
			if err != nil { // validated above
				continue
			}
			if !yield(sp) {
				return
			}
		}
	}
	env := stage.Env{Store: w.cfg.Store, Log: w.cfg.Logger}
	out, err := stage.Scan(ctx, env, stage.ScanParams{Config: cfg, Targets: specs, Group: a.Group, Meta: w.meta(job.JobRow, map[string]any{
		"targets": a.Targets, "ports": a.Ports, "scope": a.Scope,
	})}, nil)
	if out.RunID == 0 && err != nil { // no run was begun
		return fmt.Errorf("queue: scan job %d: %w", job.ID, err)
	}
	w.cfg.Logger.Info("queue: scan job done", "job", job.ID, "run", out.RunID, "group", a.Group, "shard", a.Shard, "status", out.Status, "note", out.Note)
	if err != nil {
		return fmt.Errorf("queue: scan job %d (run %d): %w", job.ID, out.RunID, err)
	}
	return nil
}

// ctWorker runs CT-sync jobs.
type ctWorker struct {
	river.WorkerDefaults[CTSyncArgs]
	w *Worker
}

func (c *ctWorker) Timeout(*river.Job[CTSyncArgs]) time.Duration { return c.w.cfg.JobTimeout }

// ctLockKey is the advisory lock a worker holds on a log while it syncs.
const ctLockKey = `hashtextextended('keyaudit:ct:' || $1::text, 0)`

// Work catches one log up. The job owns the log through a session
// advisory lock held for the whole sync: River's uniqueness already keeps
// a second job for the log out of the queue, and the lock keeps out a
// rescued copy of a job still running elsewhere. A job that finds the
// lock taken snoozes. Positions and sightings commit together, so a job
// cut short resumes where it stopped.
func (c *ctWorker) Work(ctx context.Context, job *river.Job[CTSyncArgs]) error {
	w := c.w
	a := job.Args
	if err := a.Validate(); err != nil {
		return river.JobCancel(err)
	}
	l, _ := a.Log.Log()
	watch, _ := ctlog.NewWatchlist(a.Watch)
	from, _ := ctlog.ParseStart(a.From)

	conn, err := w.cfg.Pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("queue: ct-sync job %d: %w", job.ID, err)
	}
	defer conn.Release()
	var owned bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+ctLockKey+`)`, l.ID).Scan(&owned); err != nil {
		return fmt.Errorf("queue: ct-sync job %d: lock log: %w", job.ID, err)
	}
	if !owned {
		w.cfg.Logger.Info("queue: ct log owned by another worker; snoozing", "job", job.ID, "log", l.URL, "for", w.cfg.Snooze)
		return river.JobSnooze(w.cfg.Snooze)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		var released bool
		if err := conn.QueryRow(uctx, `SELECT pg_advisory_unlock(`+ctLockKey+`)`, l.ID).Scan(&released); err != nil || !released {
			// Never hand a connection that may still hold the lock back
			// to the pool: closing it releases the lock.
			conn.Conn().Close(uctx)
		}
	}()

	mcfg := ctlog.Config{
		Watch: watch, BatchSize: a.BatchSize, Parallel: a.Parallel, CommitEvery: a.CommitEvery,
		RateLimit: a.Rate, MaxEntries: a.MaxEntries, FetchIssuers: a.FetchIssuers, Logger: w.cfg.Logger,
	}
	if w.cfg.CT != nil {
		w.cfg.CT(&mcfg)
	}
	mon, err := ctlog.New(mcfg)
	if err != nil {
		return river.JobCancel(err)
	}
	st := w.cfg.Store
	run, err := st.BeginRun(ctx, store.RunSpec{Kind: "ct", Group: a.Group, Meta: w.meta(job.JobRow, map[string]any{
		"mode": "queue", "logs": []string{l.URL}, "watch": watch.Entries(), "from": from.String(), "max_entries": a.MaxEntries,
	})})
	if err != nil {
		return fmt.Errorf("queue: ct-sync job %d: %w", job.ID, err)
	}
	sink := &ctSink{st: st, runID: run.ID}
	res, syncErr := mon.Sync(ctx, l, sink, from)
	note := fmt.Sprintf("1 logs, %d entries, %d sightings", res.Entries, sink.sightings())
	var mis *ctlog.MisbehaviourError
	switch {
	case errors.As(syncErr, &mis):
		if w.cfg.Misbehaviour != nil {
			it, err := w.cfg.Misbehaviour(l, mis)
			if err == nil {
				fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				err = st.Put(fctx, run.ID, it)
				cancel()
			}
			if err != nil {
				w.finish(ctx, run.ID, store.StatusFailed, "recording misbehaviour: "+err.Error())
				return fmt.Errorf("queue: ct-sync job %d: %w", job.ID, err)
			}
		}
		w.finish(ctx, run.ID, store.StatusPartial, note+"; 1 logs misbehaved: "+syncErr.Error())
		// Retrying cannot help: the log's position stays where it was
		// verified, and the finding says why.
		return river.JobCancel(syncErr)
	case syncErr != nil && ctx.Err() != nil:
		w.finish(ctx, run.ID, store.StatusInterrupted, "interrupted: "+note)
		return fmt.Errorf("queue: ct-sync job %d: %w", job.ID, syncErr)
	case syncErr != nil:
		w.finish(ctx, run.ID, store.StatusFailed, note+"; failed: "+l.Name()+": "+syncErr.Error())
		return fmt.Errorf("queue: ct-sync job %d: %w", job.ID, syncErr)
	}
	if err := w.finish(ctx, run.ID, store.StatusComplete, note); err != nil {
		return err
	}
	w.cfg.Logger.Info("queue: ct-sync job done", "job", job.ID, "run", run.ID, "log", l.URL, "from", res.From, "to", res.To, "sightings", sink.sightings())
	return nil
}

// ctSink commits a log's position and its sightings in one transaction.
type ctSink struct {
	st    store.Store
	runID int64
	mu    sync.Mutex
	count int
}

func (s *ctSink) Load(ctx context.Context, l ctlog.Log) ([]byte, error) {
	b, err := s.st.Cursor(ctx, CTCursor(l.ID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return b, err
}

func (s *ctSink) Commit(ctx context.Context, l ctlog.Log, state []byte, ss []ctlog.Sighting) error {
	items, err := records.SightingItems(ss)
	if err != nil {
		return err
	}
	if err := s.st.Advance(ctx, s.runID, CTCursor(l.ID), state, items...); err != nil {
		return err
	}
	s.mu.Lock()
	s.count += len(ss)
	s.mu.Unlock()
	return nil
}

func (s *ctSink) sightings() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}
