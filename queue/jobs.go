package queue

import (
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/keyaudit/keyaudit/ctlog"
	"github.com/keyaudit/keyaudit/internal/dnsq"
	"github.com/keyaudit/keyaudit/scanner"
	"github.com/keyaudit/keyaudit/stage"
)

// River queues and job kinds.
const (
	QueueScan = "keyaudit_scan"
	QueueCT   = "keyaudit_ct"

	KindScan   = "keyaudit.scan"
	KindCTSync = "keyaudit.ct_sync"
)

// Limits on what one job carries (job arguments live in a database row).
const (
	maxTargetsPerJob = 100_000
	maxWatchPerJob   = 10_000
)

// activeStates are the states in which a job still counts as queued or
// running: uniqueness holds over them, and a job that completed, failed
// for good or was cancelled no longer blocks the next one.
var activeStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled,
}

// ScanArgs is a scan job: the settings of `keyaudit scan` for one shard
// of one run group. Durations are Go durations (nanoseconds in JSON).
type ScanArgs struct {
	Targets     []string      `json:"targets"`
	Ports       []int         `json:"ports,omitempty"`
	Protocol    string        `json:"protocol,omitempty"`
	Resolvers   []string      `json:"resolvers,omitempty"`
	Timeout     time.Duration `json:"timeout,omitempty"`
	DNSTimeout  time.Duration `json:"dns_timeout,omitempty"`
	Concurrency int           `json:"concurrency,omitempty"`
	Rate        float64       `json:"rate,omitempty"`
	PerIP       int           `json:"per_ip,omitempty"`
	Scope       []string      `json:"scope,omitempty"`
	// Shard is "i/n", or empty for the whole target space. A group whose
	// jobs are its n shards covers the targets exactly once.
	Shard string `json:"shard,omitempty" river:"unique"`
	// Group is the run group the job's run joins.
	Group string `json:"group" river:"unique"`
}

// Kind implements river.JobArgs.
func (ScanArgs) Kind() string { return KindScan }

// InsertOpts implements river.JobArgsWithInsertOpts: one shard of one
// group is queued at most once at a time.
func (ScanArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueScan, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: activeStates}}
}

// Validate rejects a scan job that could never run.
func (a ScanArgs) Validate() error {
	if len(a.Targets) == 0 {
		return errors.New("queue: scan job without targets")
	}
	if len(a.Targets) > maxTargetsPerJob {
		return fmt.Errorf("queue: scan job with %d targets (at most %d: split the list, or give CIDRs)", len(a.Targets), maxTargetsPerJob)
	}
	if a.Group == "" {
		return errors.New("queue: scan job without a run group")
	}
	for _, t := range a.Targets {
		if _, err := scanner.ParseSpec(t); err != nil {
			return err
		}
	}
	if _, err := scanner.ParseShard(a.Shard); err != nil {
		return err
	}
	if _, err := scanner.ParseScope(a.Scope); err != nil {
		return err
	}
	_, err := a.scannerConfig()
	return err
}

func (a ScanArgs) scannerConfig() (scanner.Config, error) {
	shard, err := scanner.ParseShard(a.Shard)
	if err != nil {
		return scanner.Config{}, err
	}
	scope, err := scanner.ParseScope(a.Scope)
	if err != nil {
		return scanner.Config{}, err
	}
	cfg := scanner.Config{
		Ports: a.Ports, Protocol: a.Protocol, Resolvers: a.Resolvers, Timeout: a.Timeout, DNSTimeout: a.DNSTimeout,
		Concurrency: a.Concurrency, Rate: a.Rate, PerIP: a.PerIP, Scope: scope, Shard: shard,
	}
	_, err = scanner.New(cfg) // validates
	return cfg, err
}

// resolversAllowed refuses a job whose DNS resolvers lie outside scope:
// a worker confined by --scope sends DNS queries only to addresses it may
// contact. Each resolver must be a literal IP, or IP:port; a host name
// would be resolved outside any scope and is refused. A job naming no
// resolvers uses the worker's own (the system's), which are the operator's
// choice and not checked. An empty scope allows every resolver.
func (a ScanArgs) resolversAllowed(scope scanner.Scope) error {
	if len(scope) == 0 {
		return nil
	}
	for _, r := range a.Resolvers {
		srv, err := dnsq.ParseServers([]string{r})
		if err != nil {
			return fmt.Errorf("queue: scan job %w: refused under the worker's --scope", err)
		}
		if ip := srv[0].IP; ip.IsUnspecified() || !scope.Allows(ip) {
			return fmt.Errorf("queue: scan job resolver %q is outside the worker's --scope: refused", r)
		}
	}
	return nil
}

// CTLog names a CT log in a job: what ctlog.NewLog needs.
type CTLog struct {
	URL string `json:"url"`
	// Key is the log's public key, base64 DER.
	Key         string     `json:"key"`
	Type        ctlog.Type `json:"type"`
	Origin      string     `json:"origin,omitempty"`
	Description string     `json:"description,omitempty"`
}

// NewCTLog describes l for a job.
func NewCTLog(l ctlog.Log) CTLog {
	return CTLog{URL: l.URL, Key: base64.StdEncoding.EncodeToString(l.KeyDER), Type: l.Type, Origin: l.Origin, Description: l.Description}
}

// Log rebuilds the ctlog.Log.
func (c CTLog) Log() (ctlog.Log, error) {
	l, err := ctlog.NewLog(c.URL, c.Key, c.Type)
	if err != nil {
		return ctlog.Log{}, err
	}
	l.Origin, l.Description = c.Origin, c.Description
	return l, nil
}

// CTSyncArgs is a CT-sync job: catch one log up, like `keyaudit ct sync`
// for that log. It is unique by LogID among queued and running jobs.
type CTSyncArgs struct {
	LogID string   `json:"log_id" river:"unique"`
	Log   CTLog    `json:"log"`
	Watch []string `json:"watch"`
	// From is where a log without a stored position starts: start, end or
	// an entry index.
	From         string  `json:"from,omitempty"`
	MaxEntries   uint64  `json:"max_entries,omitempty"`
	BatchSize    int     `json:"batch_size,omitempty"`
	Parallel     int     `json:"parallel,omitempty"`
	CommitEvery  int     `json:"commit_every,omitempty"`
	Rate         float64 `json:"rate,omitempty"`
	FetchIssuers bool    `json:"fetch_issuers,omitempty"`
	Group        string  `json:"group,omitempty"`
}

// Kind implements river.JobArgs.
func (CTSyncArgs) Kind() string { return KindCTSync }

// InsertOpts implements river.JobArgsWithInsertOpts: one job per log while
// queued or running (the unique key is the log ID alone).
func (CTSyncArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueCT, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: activeStates}}
}

// NewCTSyncArgs builds the job of log l.
func NewCTSyncArgs(l ctlog.Log, watch []string) CTSyncArgs {
	return CTSyncArgs{LogID: l.ID, Log: NewCTLog(l), Watch: watch}
}

// Validate rejects a CT-sync job that could never run.
func (a CTSyncArgs) Validate() error {
	l, err := a.Log.Log()
	if err != nil {
		return err
	}
	if l.ID != a.LogID {
		return fmt.Errorf("queue: ct-sync job: log ID %s does not match the log's key (%s)", a.LogID, l.ID)
	}
	if len(a.Watch) == 0 {
		return errors.New("queue: ct-sync job without watched domains")
	}
	if len(a.Watch) > maxWatchPerJob {
		return fmt.Errorf("queue: ct-sync job with %d watched domains (at most %d)", len(a.Watch), maxWatchPerJob)
	}
	if _, err := ctlog.NewWatchlist(a.Watch); err != nil {
		return err
	}
	_, err = ctlog.ParseStart(a.From)
	return err
}

// MaxShards is the most jobs ScanJobs splits one scan into.
const MaxShards = 4096

// ScanJobs splits the scan p describes into shards jobs of run group
// p.Group (default scan-<UTC time>), job i scanning shard i/shards; one
// job (shards 1) scans everything. The jobs carry p.Targets as written
// and the scanner settings of p.Config — ports, protocol, resolvers,
// timeouts, limits and scope (as CIDRs); what a job cannot carry
// (Resolver, Dial, Logger, Now) is left out, and p.Config must not be
// sharded itself. Unlike a scan, which skips bad target lines, a job's
// targets are fixed when it is queued: a line p.Targets skipped
// (p.BadLines) is an error. Every job is validated: an error means
// nothing should be queued.
func ScanJobs(p stage.ScanParams, shards int) ([]ScanArgs, error) {
	if shards < 1 || shards > MaxShards {
		return nil, fmt.Errorf("queue: shards must be between 1 and %d", MaxShards)
	}
	cfg := p.Config
	if cfg.Shard.Count > 1 {
		return nil, errors.New("queue: a scan split into shard jobs must not be sharded itself")
	}
	var targets, scope []string
	if p.Targets != nil {
		for sp := range p.Targets {
			targets = append(targets, sp.Raw)
		}
	}
	if p.BadLines != nil {
		if n := p.BadLines(); n > 0 {
			return nil, fmt.Errorf("queue: invalid target lines: %d (nothing queued)", n)
		}
	}
	for _, pr := range cfg.Scope {
		scope = append(scope, pr.String())
	}
	group := p.Group
	if group == "" {
		group = "scan-" + time.Now().UTC().Format("20060102T150405Z")
	}
	base := ScanArgs{
		Targets: targets, Ports: cfg.Ports, Protocol: cfg.Protocol, Resolvers: cfg.Resolvers, Timeout: cfg.Timeout,
		DNSTimeout: cfg.DNSTimeout, Concurrency: cfg.Concurrency, Rate: cfg.Rate, PerIP: cfg.PerIP, Scope: scope, Group: group,
	}
	jobs := make([]ScanArgs, shards)
	for i := range jobs {
		jobs[i] = base
		if shards > 1 {
			jobs[i].Shard = fmt.Sprintf("%d/%d", i+1, shards)
		}
		if err := jobs[i].Validate(); err != nil {
			return nil, err
		}
	}
	return jobs, nil
}

// CTSyncJobs builds one CT-sync job per log, watching watch, with the
// settings of t (From, MaxEntries … Group; its LogID, Log and Watch are
// those of each log). Every job is validated: an error names its log,
// and means nothing should be queued.
func CTSyncJobs(logs []ctlog.Log, watch []string, t CTSyncArgs) ([]CTSyncArgs, error) {
	if _, err := ctlog.ParseStart(t.From); err != nil {
		return nil, err
	}
	jobs := make([]CTSyncArgs, len(logs))
	for i, l := range logs {
		j := t
		j.LogID, j.Log, j.Watch = l.ID, NewCTLog(l), watch
		if err := j.Validate(); err != nil {
			return nil, fmt.Errorf("log %s: %w", l.URL, err)
		}
		jobs[i] = j
	}
	return jobs, nil
}
