package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/keyaudit/keyaudit/ctlog"
	"github.com/keyaudit/keyaudit/scanner"
	"github.com/keyaudit/keyaudit/stage"
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
	if _, err := ctlog.New(mcfg); err != nil {
		return river.JobCancel(err)
	}
	// The run, the position committed with the sightings and the log's
	// status are the CT sync stage's, as keyaudit ct sync records them.
	var lr stage.CTLogResult
	env := stage.Env{Store: w.cfg.Store, Log: w.cfg.Logger}
	out, err := stage.CTSync(ctx, env, stage.CTParams{
		Config: mcfg, Logs: []ctlog.Log{l}, From: from, Mode: "queue", Group: a.Group,
		Meta:    w.meta(job.JobRow, nil),
		LogDone: func(r stage.CTLogResult) { lr = r },
	}, nil)
	if out.RunID == 0 && err != nil { // no run was begun
		return fmt.Errorf("queue: ct-sync job %d: %w", job.ID, err)
	}
	if ctlog.IsMisbehaviour(lr.Err) && err == nil {
		w.cfg.Logger.Warn("queue: ct log misbehaved", "job", job.ID, "run", out.RunID, "log", l.URL, "err", lr.Err)
		// Retrying cannot help: the log's position stays where it was
		// verified, and its recorded status says why.
		return river.JobCancel(lr.Err)
	}
	if err == nil {
		err = lr.Err
	}
	if err != nil {
		return fmt.Errorf("queue: ct-sync job %d (run %d): %w", job.ID, out.RunID, err)
	}
	w.cfg.Logger.Info("queue: ct-sync job done", "job", job.ID, "run", out.RunID, "log", l.URL, "from", lr.Result.From, "to", lr.Result.To, "sightings", lr.Result.Sightings)
	return nil
}
