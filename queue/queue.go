package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/keyaudit/keyaudit/ctlog"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/scanner"
	"github.com/keyaudit/keyaudit/store"
)

// Defaults of Config.
const (
	DefaultScanWorkers = 1
	DefaultCTWorkers   = 4
	DefaultJobTimeout  = 2 * time.Hour
	DefaultSnooze      = 30 * time.Second
	DefaultMaxAttempts = 5
	defaultPoll        = time.Second
)

// riverMigrateLock serialises River migrations across processes
// ("keyriver" in ASCII).
const riverMigrateLock int64 = 0x6b65797269766572

// Migrate installs or upgrades River's tables (river_job, river_queue …)
// in the database of pool. Concurrent callers wait for each other.
func Migrate(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler) // River's default writes to stdout
	}
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: logger})
	if err != nil {
		return fmt.Errorf("queue: migrate: %w", err)
	}
	// River's migrations cannot share one transaction (a new enum value
	// must commit before use), so a session lock on a connection of its
	// own serialises migrating processes instead. It is tried, not
	// waited for: a waiter holding a connection could starve the
	// holder's migration of one in a small shared pool.
	var conn *pgxpool.Conn
	for {
		c, err := pool.Acquire(ctx)
		if err != nil {
			return fmt.Errorf("queue: migrate: %w", err)
		}
		var got bool
		if err := c.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, riverMigrateLock).Scan(&got); err != nil {
			c.Release()
			return fmt.Errorf("queue: migrate: lock: %w", err)
		}
		if got {
			conn = c
			break
		}
		c.Release()
		select {
		case <-ctx.Done():
			return fmt.Errorf("queue: migrate: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	defer conn.Release()
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, riverMigrateLock); err != nil {
			conn.Conn().Close(uctx) // closing releases the lock
		}
	}()
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("queue: migrate: %w", err)
	}
	return nil
}

// Enqueued is one job handed to the queue.
type Enqueued struct {
	JobID     int64  `json:"job_id"`
	Kind      string `json:"kind"`
	Queue     string `json:"queue"`
	Group     string `json:"group,omitempty"`
	Shard     string `json:"shard,omitempty"`
	Log       string `json:"log,omitempty"`
	Duplicate bool   `json:"duplicate"` // an equivalent job was already queued or running: nothing inserted
}

// EnqueuedColumns are the table and CSV columns of enqueued jobs.
var EnqueuedColumns = []reports.Column[Enqueued]{
	{Header: "JOB", Value: func(e Enqueued) string { return strconv.FormatInt(e.JobID, 10) }},
	{Header: "KIND", Value: func(e Enqueued) string { return e.Kind }},
	{Header: "GROUP", Value: func(e Enqueued) string { return e.Group }},
	{Header: "SHARD", Value: func(e Enqueued) string { return e.Shard }},
	{Header: "LOG", Value: func(e Enqueued) string { return e.Log }},
	{Header: "STATUS", Value: func(e Enqueued) string {
		if e.Duplicate {
			return "duplicate (already queued or running)"
		}
		return "queued"
	}},
}

// WriteEnqueued writes res to out and closes it.
func WriteEnqueued(out reports.Stream[Enqueued], res []Enqueued) error {
	for _, e := range res {
		if err := out.Write(e); err != nil {
			return err
		}
	}
	return out.Close()
}

// Enqueuer inserts jobs. It runs no workers.
type Enqueuer struct {
	rc *river.Client[pgx.Tx]
}

// NewEnqueuer returns an insert-only client on pool (River's tables must
// exist: see Migrate).
func NewEnqueuer(pool *pgxpool.Pool, logger *slog.Logger) (*Enqueuer, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return &Enqueuer{rc: rc}, nil
}

// EnqueueScan validates and inserts scan jobs, all in one transaction.
// maxAttempts ≤ 0 means DefaultMaxAttempts.
func (e *Enqueuer) EnqueueScan(ctx context.Context, maxAttempts int, jobs ...ScanArgs) ([]Enqueued, error) {
	params := make([]river.InsertManyParams, len(jobs))
	for i, a := range jobs {
		if err := a.Validate(); err != nil {
			return nil, err
		}
		params[i] = river.InsertManyParams{Args: a, InsertOpts: &river.InsertOpts{MaxAttempts: attempts(maxAttempts)}}
	}
	res, err := e.rc.InsertMany(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("queue: enqueue scan: %w", err)
	}
	out := make([]Enqueued, len(res))
	for i, r := range res {
		out[i] = Enqueued{JobID: r.Job.ID, Kind: KindScan, Queue: QueueScan, Group: jobs[i].Group, Shard: jobs[i].Shard, Duplicate: r.UniqueSkippedAsDuplicate}
	}
	return out, nil
}

// EnqueueCTSync validates and inserts CT-sync jobs, one per log, in one
// transaction. A log whose job is still queued or running gets no second
// one (Duplicate).
func (e *Enqueuer) EnqueueCTSync(ctx context.Context, maxAttempts int, jobs ...CTSyncArgs) ([]Enqueued, error) {
	params := make([]river.InsertManyParams, len(jobs))
	for i, a := range jobs {
		if err := a.Validate(); err != nil {
			return nil, err
		}
		params[i] = river.InsertManyParams{Args: a, InsertOpts: &river.InsertOpts{MaxAttempts: attempts(maxAttempts)}}
	}
	res, err := e.rc.InsertMany(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("queue: enqueue ct-sync: %w", err)
	}
	out := make([]Enqueued, len(res))
	for i, r := range res {
		out[i] = Enqueued{JobID: r.Job.ID, Kind: KindCTSync, Queue: QueueCT, Group: jobs[i].Group, Log: jobs[i].Log.URL, Duplicate: r.UniqueSkippedAsDuplicate}
	}
	return out, nil
}

func attempts(n int) int {
	if n <= 0 {
		return DefaultMaxAttempts
	}
	return n
}

// Config configures a Worker. The zero value of every optional field is
// the documented default.
type Config struct {
	// Pool is the PostgreSQL pool River runs on (required). It needs
	// room for River's own connections plus one per running CT-sync job
	// (the log's lock): see PoolSize.
	Pool *pgxpool.Pool
	// Store receives the runs, observations and sightings (required);
	// normally the PostgreSQL store on the same database.
	Store store.Store
	// ScanWorkers and CTWorkers are the jobs of each kind worked at once
	// (defaults 1 and 4); a negative value serves no jobs of that kind.
	ScanWorkers int
	CTWorkers   int
	// JobTimeout bounds one job (default 2 h). River rescues a job
	// running for an hour longer than that as stuck.
	JobTimeout time.Duration
	// RescueAfter is how long a job may stay "running" before it is
	// rescued and retried by another worker: its worker died (kill -9,
	// a lost node). At least JobTimeout; default JobTimeout + 1 minute.
	RescueAfter time.Duration
	// Snooze is how long a CT-sync job waits when its log's lock is held
	// by another worker (default 30 s).
	Snooze time.Duration
	// PollInterval is how often idle workers look for jobs when no
	// notification arrives (default 1 s).
	PollInterval time.Duration
	// Scope, when set, bounds every scan job: a job may only narrow it,
	// never widen it (jobs come from whoever can write to the database).
	// A job whose scope shares no address with it, or whose resolvers lie
	// outside the two scopes' intersection, is cancelled unscanned; a job
	// naming no resolvers uses the worker's system resolvers.
	Scope scanner.Scope
	// Scanner, when set, adjusts each scan job's scanner.Config last
	// (tests set Dial; embedders set a Resolver).
	Scanner func(*scanner.Config)
	// CT, when set, adjusts each CT-sync job's ctlog.Config last.
	CT func(*ctlog.Config)
	// Name identifies this worker in run metadata (default host:pid).
	Name string
	// Logger receives progress and River's own lines (nil discards).
	Logger *slog.Logger
}

// PoolSize is the least connection pool size a Worker with cfg needs.
func PoolSize(cfg Config) int {
	scan, ct := workers(cfg.ScanWorkers, DefaultScanWorkers), workers(cfg.CTWorkers, DefaultCTWorkers)
	// River: notifier, producers, leader/maintenance; each scan job one
	// writer; each CT job its lock and a writer.
	return 6 + scan + 2*ct
}

func workers(n, def int) int {
	switch {
	case n < 0:
		return 0
	case n == 0:
		return def
	}
	return n
}

// Worker works scan and CT-sync jobs.
type Worker struct {
	cfg   Config
	rc    *river.Client[pgx.Tx]
	kinds []string
}

// NewWorker validates cfg and builds a Worker (River's tables must exist:
// see Migrate).
func NewWorker(cfg Config) (*Worker, error) {
	if cfg.Pool == nil || cfg.Store == nil {
		return nil, errors.New("queue: worker needs a pool and a store")
	}
	if cfg.JobTimeout < 0 || cfg.Snooze < 0 || cfg.PollInterval < 0 {
		return nil, errors.New("queue: job timeout, snooze and poll interval must not be negative")
	}
	if cfg.JobTimeout == 0 {
		cfg.JobTimeout = DefaultJobTimeout
	}
	if cfg.Snooze == 0 {
		cfg.Snooze = DefaultSnooze
	}
	if cfg.RescueAfter == 0 {
		cfg.RescueAfter = cfg.JobTimeout + time.Minute
	}
	if cfg.RescueAfter < cfg.JobTimeout {
		return nil, fmt.Errorf("queue: rescue-after (%s) must not be shorter than the job timeout (%s)", cfg.RescueAfter, cfg.JobTimeout)
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = defaultPoll
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Name == "" {
		host, _ := os.Hostname()
		cfg.Name = host + ":" + strconv.Itoa(os.Getpid())
	}
	w := &Worker{cfg: cfg}
	ws := river.NewWorkers()
	queues := map[string]river.QueueConfig{}
	if n := workers(cfg.ScanWorkers, DefaultScanWorkers); n > 0 {
		river.AddWorker(ws, &scanWorker{w: w})
		queues[QueueScan] = river.QueueConfig{MaxWorkers: n, FetchPollInterval: cfg.PollInterval}
		w.kinds = append(w.kinds, KindScan)
	}
	if n := workers(cfg.CTWorkers, DefaultCTWorkers); n > 0 {
		river.AddWorker(ws, &ctWorker{w: w})
		queues[QueueCT] = river.QueueConfig{MaxWorkers: n, FetchPollInterval: cfg.PollInterval}
		w.kinds = append(w.kinds, KindCTSync)
	}
	if len(queues) == 0 {
		return nil, errors.New("queue: worker serves no queue")
	}
	rc, err := river.NewClient(riverpgxv5.New(cfg.Pool), &river.Config{
		Queues: queues, Workers: ws, Logger: cfg.Logger, JobTimeout: cfg.JobTimeout, RescueStuckJobsAfter: cfg.RescueAfter,
		FetchPollInterval: cfg.PollInterval, FetchCooldown: min(100*time.Millisecond, cfg.PollInterval),
		SoftStopTimeout: 30 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	w.rc = rc
	return w, nil
}

// Run works jobs until ctx ends, then stops gracefully: jobs in progress
// get 30 s to finish before they are cancelled (an interrupted job is
// retried later, by any worker).
func (w *Worker) Run(ctx context.Context) error {
	return w.run(ctx, false)
}

// RunUntilEmpty works jobs until no job it serves is queued, running or
// waiting for a retry, or until ctx ends.
func (w *Worker) RunUntilEmpty(ctx context.Context) error {
	return w.run(ctx, true)
}

func (w *Worker) run(ctx context.Context, untilEmpty bool) error {
	// River's own context must outlive ctx so that Stop is graceful.
	if err := w.rc.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("queue: start: %w", err)
	}
	var runErr error
	if untilEmpty {
		runErr = w.waitEmpty(ctx)
	} else {
		<-ctx.Done()
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := w.rc.Stop(stopCtx); err != nil && runErr == nil {
		runErr = fmt.Errorf("queue: stop: %w", err)
	}
	return runErr
}

func (w *Worker) waitEmpty(ctx context.Context) error {
	params := river.NewJobListParams().Kinds(w.kinds...).States(activeStates...).First(1)
	t := time.NewTicker(w.cfg.PollInterval)
	defer t.Stop()
	idle := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		res, err := w.rc.JobList(ctx, params)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("queue: list jobs: %w", err)
		}
		if len(res.Jobs) > 0 {
			idle = 0
			continue
		}
		// Twice in a row: a job completing now may enqueue nothing, but a
		// retry is only visible once its attempt has been recorded.
		if idle++; idle >= 2 {
			return nil
		}
	}
}

// meta is what a job's store run records about the job.
func (w *Worker) meta(job *rivertype.JobRow, extra map[string]any) map[string]any {
	m := map[string]any{"job_id": job.ID, "job_kind": job.Kind, "attempt": job.Attempt, "worker": w.cfg.Name}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// errNoOverlap is why a scan job whose scope and the worker's have no
// address in common is refused: there is nothing it may contact.
var errNoOverlap = errors.New("queue: scan job scope does not overlap the worker's --scope: refusing to scan")

// intersect bounds a job's scope by the worker's: the result allows an
// address only when both do. Empty job scope: the worker's. When both are
// set but share no address, it returns errNoOverlap: there is no Scope
// value meaning "nothing" (an empty one allows everything), so such a job
// must not reach a scanner at all.
func intersect(job, worker scanner.Scope) (scanner.Scope, error) {
	if len(worker) == 0 {
		return job, nil
	}
	if len(job) == 0 {
		return worker, nil
	}
	var out scanner.Scope
	for _, a := range job {
		for _, b := range worker {
			if !a.Overlaps(b) {
				continue
			}
			if a.Bits() >= b.Bits() {
				out = append(out, a)
			} else {
				out = append(out, b)
			}
		}
	}
	if len(out) == 0 {
		return nil, errNoOverlap
	}
	return out, nil
}
