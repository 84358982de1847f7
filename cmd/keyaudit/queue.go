package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/keyaudit/keyaudit/ctlog"
	"github.com/keyaudit/keyaudit/queue"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/scanner"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/postgres"
)

func init() {
	for _, s := range []string{"enqueue-scan", "enqueue-ct-sync", "worker"} {
		sectionNames[s] = true
	}
	knownSections["enqueue-scan"] = map[string]bool{"targets": true}
	subcommands = append(subcommands, newEnqueueCmd, newWorkerCmd)
}

// enqueuedColumns are the table and CSV columns of enqueued jobs.
var enqueuedColumns = []reports.Column[queue.Enqueued]{
	{Header: "JOB", Value: func(e queue.Enqueued) string { return strconv.FormatInt(e.JobID, 10) }},
	{Header: "KIND", Value: func(e queue.Enqueued) string { return e.Kind }},
	{Header: "GROUP", Value: func(e queue.Enqueued) string { return e.Group }},
	{Header: "SHARD", Value: func(e queue.Enqueued) string { return e.Shard }},
	{Header: "LOG", Value: func(e queue.Enqueued) string { return e.Log }},
	{Header: "STATUS", Value: func(e queue.Enqueued) string {
		if e.Duplicate {
			return "duplicate (already queued or running)"
		}
		return "queued"
	}},
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
	cmd := &cobra.Command{
		Use:   "scan [flags] TARGET...",
		Short: "Queue a scan, split into --shards jobs of one run group",
		Long: `Queue a scan of TARGET... (as for keyaudit scan) as --shards jobs, job i
scanning shard i/n of the targets, all writing into one run group (--run-group,
or a generated name printed with the jobs). Workers pull the jobs; the group
reads back as one logical run. A shard of a group already queued or running
is not queued twice.

` + queueHelp,
		Example: `  keyaudit enqueue scan --shards 8 --run-group nightly-$(date +%F) --ports 443,8443 10.0.0.0/16
  keyaudit worker --until-empty`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.section("enqueue-scan", &struct {
				Targets *[]string `yaml:"targets"`
			}{&o.targets}); err != nil {
				return err
			}
			// The scan: section configures queued scans too (what its own
			// section and the command line set wins), so one config
			// serves `keyaudit scan` and `keyaudit enqueue scan`.
			if err := a.inheritScanSection(cmd.Flags()); err != nil {
				return err
			}
			if len(o.targets) == 0 {
				if err := a.section("scan", &struct {
					Targets *[]string `yaml:"targets"`
				}{&o.targets}); err != nil {
					return err
				}
			}
			return a.runEnqueueScan(cmd.Context(), o, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.ports, "ports", "443", "ports for targets without one: list and ranges, e.g. 443,8443,25-26")
	f.StringVar(&o.protocol, "protocol", "auto", "protocol for targets without proto://: auto or "+strings.Join(scanner.Protocols, ", "))
	f.StringArrayVar(&o.resolvers, "resolver", nil, "DNS resolver ip[:port] for the workers (repeatable; default: each worker's)")
	f.DurationVar(&o.timeout, "timeout", 5*time.Second, "one deadline per endpoint covering connect, STARTTLS and handshake")
	f.DurationVar(&o.dnsTimeout, "dns-timeout", 0, "deadline for resolving one name (default: --timeout)")
	f.IntVar(&o.concurrency, "concurrency", 100, "endpoints one job scans at once")
	f.Float64Var(&o.rate, "rate", 0, "new connections per second per job (0: unlimited)")
	f.IntVar(&o.perIP, "per-ip", 8, "concurrent connections to one IP per job")
	f.StringArrayVar(&o.scope, "scope", nil, "CIDR the jobs may contact (repeatable); a worker's --scope bounds it further")
	f.IntVar(&o.shards, "shards", 1, "number of jobs; job i scans shard i/n")
	f.StringVar(&o.group, "run-group", "", "run group of the jobs (default: scan-<UTC time>)")
	f.StringVar(&o.targetsFile, "targets-file", "", "read targets from FILE, one per line")
	f.IntVar(&o.maxAttempts, "max-attempts", queue.DefaultMaxAttempts, "attempts per job before it is given up")
	f.StringVar(&o.format, "format", "table", "output format: table, jsonl, json, csv")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(reports.StreamFormats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (a *app) runEnqueueScan(ctx context.Context, o *enqueueScanOptions, args []string) error {
	if o.shards < 1 || o.shards > 4096 {
		return withCode(exitError, errors.New("--shards must be between 1 and 4096"))
	}
	ports, err := scanner.ParsePorts(o.ports)
	if err != nil {
		return withCode(exitError, fmt.Errorf("--ports: %w", err))
	}
	targets := append(append([]string{}, o.targets...), args...)
	var lists []struct {
		name string
		r    io.Reader
	}
	kept := targets[:0]
	for _, t := range targets {
		if t == "-" {
			lists = append(lists, struct {
				name string
				r    io.Reader
			}{"stdin", a.stdin})
			continue
		}
		kept = append(kept, t)
	}
	targets = kept
	if o.targetsFile != "" {
		f, err := os.Open(o.targetsFile)
		if err != nil {
			return withCode(exitError, fmt.Errorf("--targets-file: %w", err))
		}
		defer f.Close()
		lists = append(lists, struct {
			name string
			r    io.Reader
		}{o.targetsFile, f})
	}
	for _, l := range lists {
		for sp, err := range readTargetLines(l.r, l.name) {
			if err != nil {
				return withCode(exitError, err)
			}
			targets = append(targets, sp)
		}
	}
	if len(targets) == 0 {
		return withCode(exitError, errors.New("no targets: give TARGET arguments, - for stdin, or --targets-file"))
	}
	group := o.group
	if group == "" {
		group = "scan-" + time.Now().UTC().Format("20060102T150405Z")
	}
	base := queue.ScanArgs{
		Targets: targets, Ports: ports, Protocol: o.protocol, Resolvers: o.resolvers, Timeout: o.timeout,
		DNSTimeout: o.dnsTimeout, Concurrency: o.concurrency, Rate: o.rate, PerIP: o.perIP, Scope: o.scope, Group: group,
	}
	jobs := make([]queue.ScanArgs, o.shards)
	for i := range jobs {
		jobs[i] = base
		if o.shards > 1 {
			jobs[i].Shard = fmt.Sprintf("%d/%d", i+1, o.shards)
		}
		if err := jobs[i].Validate(); err != nil {
			return withCode(exitError, err)
		}
	}
	out, err := reports.NewStream(a.stdout, o.format, enqueuedColumns)
	if err != nil {
		return withCode(exitError, err)
	}
	st, enq, err := a.openQueue(ctx, 0)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := enq.EnqueueScan(ctx, o.maxAttempts, jobs...)
	if err != nil {
		return withCode(exitError, err)
	}
	return writeEnqueued(out, res)
}

// inheritScanSection applies the config's scan: keys that are also flags
// of fs and not set yet.
func (a *app) inheritScanSection(fs *pflag.FlagSet) error {
	node, ok := a.config["scan"]
	if !ok || node.Kind != yaml.MappingNode {
		return nil
	}
	sub := map[string]yaml.Node{}
	if err := node.Decode(&sub); err != nil {
		return withCode(exitError, fmt.Errorf("config %s: scan: %w", a.configPath, err))
	}
	for k := range sub {
		if fs.Lookup(k) == nil {
			delete(sub, k)
		}
	}
	if err := applyConfig(fs, sub, nil); err != nil {
		return withCode(exitError, fmt.Errorf("config %s: scan: %w", a.configPath, err))
	}
	return nil
}

// readTargetLines yields the target lines of r (blank lines and
// #-comments skipped), each checked; unlike scan, a bad line is an error:
// nothing is queued.
func readTargetLines(r io.Reader, name string) func(func(string, error) bool) {
	return func(yield func(string, error) bool) {
		for sp, err := range readTargets(r, name) {
			if err != nil {
				yield("", err)
				return
			}
			if !yield(sp.Raw, nil) {
				return
			}
		}
	}
}

func writeEnqueued(out reports.Stream[queue.Enqueued], res []queue.Enqueued) error {
	for _, e := range res {
		if err := out.Write(e); err != nil {
			return withCode(exitError, err)
		}
	}
	if err := out.Close(); err != nil {
		return withCode(exitError, err)
	}
	return nil
}

type enqueueCTOptions struct {
	ctOptions
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
	f.StringVar(&o.logList, "log-list", "", "Chrome log list v3 JSON file (logs and tiled_logs)")
	f.StringSliceVar(&o.states, "state", nil, "log list states to follow (default usable,qualified,readonly)")
	f.StringArrayVar(&o.logURLs, "log", nil, "log URL: RFC 6962 base URL or static-ct-api monitoring prefix (repeatable)")
	f.StringArrayVar(&o.logKeys, "log-key", nil, "public key of the n-th --log: a PEM/DER file or base64 DER (repeatable)")
	f.StringArrayVar(&o.logTypes, "log-type", nil, "type of the n-th --log: rfc6962 or static (one value applies to all)")
	f.StringArrayVar(&o.watch, "watch", nil, "watched domain: example.com (and subdomains) or .example.com (subdomains only) (repeatable)")
	f.StringVar(&o.from, "from", "end", "start position of a log without a stored one: start, end or an entry index")
	f.IntVar(&o.batch, "batch-size", 0, "entries per RFC 6962 get-entries request (default 256)")
	f.IntVar(&o.parallel, "parallel", 0, "requests in flight per log (default 4)")
	f.IntVar(&o.commitEvery, "commit-every", 0, "most entries verified between two commits of a log's position (default 16384)")
	f.Float64Var(&o.rate, "rate", 0, "requests per second per log (default 50)")
	f.Uint64Var(&o.maxEntries, "max-entries", 0, "stop each job after this many entries (0: catch up fully)")
	f.BoolVar(&o.issuers, "fetch-issuers", false, "fetch and check the issuer certificate of each static-ct-api sighting")
	f.StringVar(&o.group, "run-group", "", "run group of the jobs' runs")
	f.IntVar(&o.maxAttempts, "max-attempts", queue.DefaultMaxAttempts, "attempts per job before it is given up")
	f.StringVar(&o.format, "format", "table", "output format: table, jsonl, json, csv")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(reports.StreamFormats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (a *app) runEnqueueCT(ctx context.Context, o *enqueueCTOptions, cc ctConfig, watch []string) error {
	logs, err := ctLogs(&o.ctOptions, cc)
	if err != nil {
		return withCode(exitError, err)
	}
	if len(watch) == 0 {
		return withCode(exitError, errors.New("no watched domains: give --watch or a watch: list in the config"))
	}
	if _, err := ctlog.ParseStart(o.from); err != nil {
		return withCode(exitError, err)
	}
	jobs := make([]queue.CTSyncArgs, len(logs))
	for i, l := range logs {
		j := queue.NewCTSyncArgs(l, watch)
		j.From, j.MaxEntries, j.BatchSize, j.Parallel, j.CommitEvery = o.from, o.maxEntries, o.batch, o.parallel, o.commitEvery
		j.Rate, j.FetchIssuers, j.Group = o.rate, o.issuers, o.group
		if err := j.Validate(); err != nil {
			return withCode(exitError, fmt.Errorf("log %s: %w", l.URL, err))
		}
		jobs[i] = j
	}
	out, err := reports.NewStream(a.stdout, o.format, enqueuedColumns)
	if err != nil {
		return withCode(exitError, err)
	}
	st, enq, err := a.openQueue(ctx, 0)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := enq.EnqueueCTSync(ctx, o.maxAttempts, jobs...)
	if err != nil {
		return withCode(exitError, err)
	}
	return writeEnqueued(out, res)
}

type workerOptions struct {
	scanWorkers int
	ctWorkers   int
	jobTimeout  time.Duration
	rescueAfter time.Duration
	snooze      time.Duration
	poll        time.Duration
	untilEmpty  bool
	scope       []string
	name        string
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runWorker(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.scanWorkers, "scan-workers", queue.DefaultScanWorkers, "scan jobs worked at once (0: none)")
	f.IntVar(&o.ctWorkers, "ct-workers", queue.DefaultCTWorkers, "CT-sync jobs worked at once (0: none)")
	f.DurationVar(&o.jobTimeout, "job-timeout", queue.DefaultJobTimeout, "longest one job may run")
	f.DurationVar(&o.rescueAfter, "rescue-after", 0, "retry a job still running after this long: its worker died (default: --job-timeout + 1m)")
	f.DurationVar(&o.snooze, "snooze", queue.DefaultSnooze, "wait before retrying a CT log another worker is syncing")
	f.DurationVar(&o.poll, "poll", time.Second, "how often to look for jobs when none is announced")
	f.BoolVar(&o.untilEmpty, "until-empty", false, "exit once no job is queued, running or waiting for a retry")
	f.StringArrayVar(&o.scope, "scope", nil, "CIDR every scan job is confined to (repeatable)")
	f.StringVar(&o.name, "name", "", "worker name recorded with its runs (default host:pid)")
	return cmd
}

func (a *app) runWorker(ctx context.Context, o *workerOptions) error {
	scope, err := scanner.ParseScope(o.scope)
	if err != nil {
		return withCode(exitError, fmt.Errorf("--scope: %w", err))
	}
	if o.scanWorkers < 0 || o.ctWorkers < 0 || o.scanWorkers+o.ctWorkers == 0 {
		return withCode(exitError, errors.New("--scan-workers and --ct-workers must not be negative, and one must be positive"))
	}
	cfg := queue.Config{
		ScanWorkers: workerCount(o.scanWorkers), CTWorkers: workerCount(o.ctWorkers),
		JobTimeout: o.jobTimeout, RescueAfter: o.rescueAfter, Snooze: o.snooze, PollInterval: o.poll, Scope: scope, Name: o.name, Logger: a.log,
		Misbehaviour: func(l ctlog.Log, m *ctlog.MisbehaviourError) (store.Item, error) {
			f := misbehaviourFinding(l, m, time.Now())
			it := store.Item{Kind: store.KindFinding, Key: f.Check + "|" + f.Subject + "|" + f.Fingerprint()}
			return it, marshalInto(&it, f)
		},
	}
	st, _, err := a.openQueue(ctx, queue.PoolSize(cfg))
	if err != nil {
		return err
	}
	defer st.Close()
	// Runs of jobs whose worker died are marked abandoned; this worker's
	// runs renew their lease while it works.
	if _, err := st.AbandonStale(ctx, store.Lease()); err != nil {
		return withCode(exitError, err)
	}
	cfg.Pool, cfg.Store = st.Pool(), store.Leased(st)
	w, err := queue.NewWorker(cfg)
	if err != nil {
		return withCode(exitError, err)
	}
	if o.untilEmpty {
		err = w.RunUntilEmpty(ctx)
	} else {
		err = w.Run(ctx)
	}
	if err != nil {
		return withCode(exitError, err)
	}
	return nil
}

// workerCount maps the CLI's 0 ("none") to the queue's negative.
func workerCount(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// openQueue opens the PostgreSQL store (with at least minConns pooled
// connections unless the URL sets pool_max_conns), migrates River's
// tables, and returns an enqueuer on it.
func (a *app) openQueue(ctx context.Context, minConns int) (*postgres.Store, *queue.Enqueuer, error) {
	if a.noStore {
		return nil, nil, withCode(exitError, errors.New("the job queue lives in the store: it cannot run with --no-store"))
	}
	u := a.storeURL
	if u == "" {
		u = os.Getenv("KEYAUDIT_STORE")
	}
	scheme, _, _ := strings.Cut(u, "://")
	if scheme != "postgres" && scheme != "postgresql" {
		return nil, nil, withCode(exitError, errors.New("the job queue needs a PostgreSQL store: --store postgres://… or KEYAUDIT_STORE"))
	}
	if minConns > 0 {
		u = withPoolSize(u, minConns)
	}
	st, err := postgres.Open(ctx, u)
	if err != nil {
		return nil, nil, withCode(exitError, err)
	}
	if err := queue.Migrate(ctx, st.Pool(), a.log); err != nil {
		st.Close()
		return nil, nil, withCode(exitError, err)
	}
	enq, err := queue.NewEnqueuer(st.Pool(), a.log)
	if err != nil {
		st.Close()
		return nil, nil, withCode(exitError, err)
	}
	return st, enq, nil
}

// withPoolSize sets pgx's pool_max_conns to n in a postgres:// URL that
// does not set it.
func withPoolSize(raw string, n int) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw // Open reports it
	}
	q := u.Query()
	if q.Has("pool_max_conns") {
		return raw
	}
	q.Set("pool_max_conns", strconv.Itoa(n))
	u.RawQuery = q.Encode()
	return u.String()
}
