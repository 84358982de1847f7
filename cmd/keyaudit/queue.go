package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keyaudit/keyaudit/queue"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/store/postgres"
)

func init() {
	knownSections["enqueue-scan"] = map[string]bool{"targets": true}
	subcommands = append(subcommands, newEnqueueCmd, newWorkerCmd)
}

const queueHelp = `The queue is River (github.com/riverqueue/river) in the PostgreSQL database of
the store: --store postgres://… or KEYAUDIT_STORE. Its tables are created on
first use.`

func newEnqueueCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "enqueue",
		Short: "Queue scan and CT-sync jobs for keyaudit worker processes",
		Long: `Queue jobs for keyaudit worker processes to pull, instead of running the work
here. ` + queueHelp,
		Example: `  keyaudit enqueue scan --shards 8 --run-group nightly --ports 443,8443 10.0.0.0/16
  keyaudit enqueue ct-sync --log-list log_list.json --watch example.com --from end`,
	}
	cmd.AddCommand(newEnqueueScanCmd(a), newEnqueueCTSyncCmd(a))
	return cmd
}

type enqueueScanOptions struct {
	scanOptions
	shards      int
	maxAttempts int
}

func newEnqueueScanCmd(a *app) *cobra.Command {
	o := &enqueueScanOptions{}
	scanFlags := pflag.NewFlagSet("scan", pflag.ContinueOnError)
	o.register(scanFlags)
	cmd := &cobra.Command{
		Use:   "scan [flags] TARGET...",
		Short: "Queue a scan, split into --shards jobs of one run group",
		Long: `Queue a scan of TARGET... (as for keyaudit scan) as --shards jobs, job i
scanning shard i/n of the targets, all writing into one run group (--run-group,
or a generated name printed with the jobs). Workers pull the jobs; the group
reads back as one logical run. A shard of a group already queued or running
is not queued twice. The scan flags are keyaudit scan's: --concurrency, --rate
and --per-ip apply per job, and a worker's --scope bounds a job's further.

` + queueHelp,
		Example: `  keyaudit enqueue scan --shards 8 --run-group nightly-$(date +%F) --ports 443,8443 10.0.0.0/16
  keyaudit worker --until-empty`,
		PreRunE: func(*cobra.Command, []string) error {
			if o.shards < 1 || o.shards > queue.MaxShards {
				return withCode(exitError, fmt.Errorf("--shards must be between 1 and %d", queue.MaxShards))
			}
			_, err := a.scanConfig(&o.scanOptions)
			return cmp.Or(err, checkFormat(o.format))
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.scanTargets("enqueue-scan", &o.scanOptions); err != nil {
				return err
			}
			// The scan: section configures queued scans too (what its own
			// section and the command line set wins), so one config
			// serves `keyaudit scan` and `keyaudit enqueue scan`; its
			// shard is keyaudit scan's alone.
			if err := a.applySection(scanFlags, "scan"); err != nil {
				return err
			}
			o.shard = ""
			if len(o.targets) == 0 {
				if err := a.scanTargets("scan", &o.scanOptions); err != nil {
					return err
				}
			}
			return a.runEnqueueScan(cmd.Context(), o, args)
		},
	}
	// keyaudit scan's flags, but --shard: --shards splits a queued scan.
	f := cmd.Flags()
	scanFlags.VisitAll(func(fl *pflag.Flag) {
		if fl.Name != "shard" {
			f.AddFlag(fl)
		}
	})
	f.IntVar(&o.shards, "shards", 1, "number of jobs; job i scans shard i/n")
	f.IntVar(&o.maxAttempts, "max-attempts", queue.DefaultMaxAttempts, "attempts per job before it is given up")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(reports.StreamFormats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (a *app) runEnqueueScan(ctx context.Context, o *enqueueScanOptions, args []string) error {
	p, err := a.scanParams(&o.scanOptions, args)
	if err != nil {
		return err
	}
	jobs, err := queue.ScanJobs(p, o.shards)
	if err != nil {
		return withCode(exitError, err)
	}
	return a.enqueue(ctx, o.format, func(enq *queue.Enqueuer) ([]queue.Enqueued, error) {
		return enq.EnqueueScan(ctx, o.maxAttempts, jobs...)
	})
}

// enqueue writes the jobs insert queued to stdout in format, the output
// checked before the queue is opened.
func (a *app) enqueue(ctx context.Context, format string, insert func(*queue.Enqueuer) ([]queue.Enqueued, error)) error {
	out, err := reports.NewStream(a.stdout, format, queue.EnqueuedColumns)
	if err != nil {
		return withCode(exitError, err)
	}
	st, enq, err := a.openQueue(ctx, 0)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := insert(enq)
	if err == nil {
		err = queue.WriteEnqueued(out, res)
	}
	return invalid(err)
}

// enqueueCTOptions are the logs and watched domains of ct sync (ctOptions)
// and the settings every job carries (job).
type enqueueCTOptions struct {
	ctOptions
	job         queue.CTSyncArgs
	maxAttempts int
}

func newEnqueueCTSyncCmd(a *app) *cobra.Command {
	o := &enqueueCTOptions{}
	cmd := &cobra.Command{
		Use:   "ct-sync [flags]",
		Short: "Queue one CT-sync job per log",
		Long: `Queue one job per CT log (logs and watched domains as for keyaudit ct sync:
--log/--log-key/--log-type, --log-list, the config's ct: and watch:). A worker
catches the log up and commits its position with the sightings, exactly as
keyaudit ct sync does, and continues from the same stored position. A log
whose job is still queued or running gets no second job, and a worker holds a
lock on the log while it syncs: one worker at a time advances a log.

` + queueHelp,
		Example: `  keyaudit enqueue ct-sync --log-list log_list.json --watch example.com --from end
  keyaudit worker --ct-workers 8`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var watch []string
			if err := a.section("watch", &watch); err != nil {
				return err
			}
			var cc ctConfig
			if err := a.section("ct", &cc); err != nil {
				return err
			}
			return a.runEnqueueCT(cmd.Context(), o, cc, append(watch, o.watch...))
		},
	}
	f := cmd.Flags()
	registerLogFlags(f, &o.logs, &o.watch, &o.job.From)
	f.IntVar(&o.job.BatchSize, "batch-size", 0, "entries per RFC 6962 get-entries request (default 256)")
	f.IntVar(&o.job.Parallel, "parallel", 0, "requests in flight per log (default 4)")
	f.IntVar(&o.job.CommitEvery, "commit-every", 0, "most entries verified between two commits of a log's position (default 16384)")
	f.Float64Var(&o.job.Rate, "rate", 0, "requests per second per log (default 50)")
	f.Uint64Var(&o.job.MaxEntries, "max-entries", 0, "stop each job after this many entries (0: catch up fully)")
	f.BoolVar(&o.job.FetchIssuers, "fetch-issuers", false, "fetch and check the issuer certificate of each static-ct-api sighting")
	f.StringVar(&o.job.Group, "run-group", "", "run group of the jobs' runs")
	f.IntVar(&o.maxAttempts, "max-attempts", queue.DefaultMaxAttempts, "attempts per job before it is given up")
	f.StringVar(&o.format, "format", "table", "output format: table, jsonl, json, csv")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(reports.StreamFormats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (a *app) runEnqueueCT(ctx context.Context, o *enqueueCTOptions, cc ctConfig, watch []string) error {
	logs, err := o.logs.Over(cc).Logs()
	if err != nil {
		return withCode(exitError, err)
	}
	if len(watch) == 0 {
		return withCode(exitError, errors.New("no watched domains: give --watch or a watch: list in the config"))
	}
	jobs, err := queue.CTSyncJobs(logs, watch, o.job)
	if err != nil {
		return withCode(exitError, err)
	}
	return a.enqueue(ctx, o.format, func(enq *queue.Enqueuer) ([]queue.Enqueued, error) {
		return enq.EnqueueCTSync(ctx, o.maxAttempts, jobs...)
	})
}

// workerOptions are the worker's settings and how long it runs.
type workerOptions struct {
	queue.WorkerSettings
	untilEmpty bool
}

func newWorkerCmd(a *app) *cobra.Command {
	o := &workerOptions{}
	cmd := &cobra.Command{
		Use:   "worker [flags]",
		Short: "Work queued scan and CT-sync jobs until stopped",
		Long: `Pull and work the jobs of keyaudit enqueue: scan jobs write their
observations into a run of the job's run group, CT-sync jobs catch one log up
each. Runs until interrupted (SIGTERM or Ctrl-C: jobs in progress get 30 s to
finish, then are cancelled and retried later by any worker), or with
--until-empty until no job is queued, running or waiting for a retry.

Jobs come from whoever can write to the database: --scope bounds every scan
job this worker runs (a job can only narrow it).

` + queueHelp,
		Example: `  KEYAUDIT_STORE=postgres://keyaudit@db/keyaudit keyaudit worker --scope 10.0.0.0/8
  keyaudit worker --scan-workers 0 --ct-workers 8 --until-empty`,
		Args: cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error {
			_, err := o.Config()
			return invalid(err)
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runWorker(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.ScanWorkers, "scan-workers", queue.DefaultScanWorkers, "scan jobs worked at once (0: none)")
	f.IntVar(&o.CTWorkers, "ct-workers", queue.DefaultCTWorkers, "CT-sync jobs worked at once (0: none)")
	f.DurationVar(&o.Worker.JobTimeout, "job-timeout", queue.DefaultJobTimeout, "longest one job may run")
	f.DurationVar(&o.Worker.RescueAfter, "rescue-after", 0, "retry a job still running after this long: its worker died (default: --job-timeout + 1m)")
	f.DurationVar(&o.Worker.Snooze, "snooze", queue.DefaultSnooze, "wait before retrying a CT log another worker is syncing")
	f.DurationVar(&o.Worker.PollInterval, "poll", time.Second, "how often to look for jobs when none is announced")
	f.BoolVar(&o.untilEmpty, "until-empty", false, "exit once no job is queued, running or waiting for a retry")
	f.StringArrayVar(&o.Scope, "scope", nil, "CIDR every scan job is confined to (repeatable)")
	f.StringVar(&o.Worker.Name, "name", "", "worker name recorded with its runs (default host:pid)")
	return cmd
}

func (a *app) runWorker(ctx context.Context, o *workerOptions) error {
	cfg, err := o.Config()
	if err != nil {
		return invalid(err)
	}
	cfg.Logger = a.log
	st, _, err := a.openQueue(ctx, queue.PoolSize(cfg))
	if err != nil {
		return err
	}
	defer st.Close()
	w, err := queue.NewStoreWorker(ctx, st, cfg)
	if err == nil && o.untilEmpty {
		err = w.RunUntilEmpty(ctx)
	} else if err == nil {
		err = w.Run(ctx)
	}
	return invalid(err)
}

// openQueue opens the queue on the PostgreSQL store (--store or
// KEYAUDIT_STORE) with at least minConns pooled connections.
func (a *app) openQueue(ctx context.Context, minConns int) (*postgres.Store, *queue.Enqueuer, error) {
	if a.noStore {
		return nil, nil, withCode(exitError, errors.New("the job queue lives in the store: it cannot run with --no-store"))
	}
	st, enq, err := queue.Open(ctx, cmp.Or(a.storeURL, os.Getenv("KEYAUDIT_STORE")), minConns, a.log)
	if errors.Is(err, queue.ErrNotPostgres) {
		err = errors.New("the job queue needs a PostgreSQL store: --store postgres://… or KEYAUDIT_STORE")
	}
	if err != nil {
		return nil, nil, withCode(exitError, err)
	}
	return st, enq, nil
}
