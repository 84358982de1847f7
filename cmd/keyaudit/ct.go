package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/keyaudit/keyaudit/ctlog"
	"github.com/keyaudit/keyaudit/internal/config"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/stage"
)

// ctConfig is the top-level "ct:" config section.
type ctConfig = ctlog.LogsConfig

// ctOptions are the flags of keyaudit ct sync and ct watch: the logs
// (logs) and the monitor's settings (cfg) are bound to the flags.
type ctOptions struct {
	logs                        ctlog.LogsConfig
	cfg                         ctlog.Config
	watch                       []string
	from, format, failOn, group string
	poll                        time.Duration
}

func init() {
	subcommands = append(subcommands, newCTCmd)
}

func newCTCmd(a *app) *cobra.Command {
	ct := &cobra.Command{
		Use:   "ct",
		Short: "Follow Certificate Transparency logs for certificates issued for watched names",
		Long: `Follow Certificate Transparency logs — RFC 6962 (get-sth, get-entries) and
static-ct-api (checkpoint and tiles) — and record every certificate and
precertificate whose SAN or CN names a watched domain.

Nothing a log serves is trusted before it is verified: each signed tree head
is checked against the log's key, the Merkle tree is rebuilt from every entry
and compared with the signed root, and each new head must be consistent with
the last verified one. A log that fails is reported and its position does
not move. Each sync records every log's status (ok, misbehaviour,
unreachable); that of a log that misbehaved carries both heads as evidence,
and reconcile reports it as a critical "ct-log-misbehaviour" finding.
Positions are stored with the sightings they cover in one transaction: an
interrupted sync resumes exactly where it stopped.`,
		Example: `  keyaudit ct sync --log-list log_list.json --watch example.com --from end
  keyaudit ct watch --log-list log_list.json --watch example.com --format jsonl`,
	}
	ct.AddCommand(newCTSubCmd(a, "sync"), newCTSubCmd(a, "watch"))
	return ct
}

func newCTSubCmd(a *app, mode string) *cobra.Command {
	o := &ctOptions{}
	cmd := &cobra.Command{
		Use:  mode + " [flags]",
		Args: cobra.NoArgs,
	}
	if mode == "sync" {
		cmd.Short = "Catch every log up to its current tree head, verify, record, exit"
		cmd.Long = `Catch every configured log up to its current signed tree head (bounded by
--max-entries per log), verifying signatures, Merkle roots and consistency,
record the sightings and positions in the store, print the sightings, exit.

Watched domains: --watch example.com covers example.com and every subdomain;
--watch .example.com covers subdomains only. Also the config's top-level
watch: list. IDNs may be given in Unicode.

Logs: --log URL --log-key KEY [--log-type rfc6962|static] [--log-origin O],
repeatable (the n-th --log-key, --log-type, --log-origin go with the n-th --log; one --log-type
applies to all), a Chrome log list v3 (--log-list, both logs and tiled_logs,
in the states of --state), or the config's ct: section.

--from applies to logs without a stored position: start (entry 0), end (only
entries logged from now on), or an entry index.

Exit codes: 0 done; 1 a log misbehaved (critical finding at or above
--fail-on); 2 bad input, or a log could not be synced.`
		cmd.Example = `  keyaudit ct sync --log-list log_list.json --watch example.com --from end
  keyaudit ct sync --log https://ct.example/2026h1/ --log-key key.pem --log-type static --watch example.com --from start --format jsonl`
	} else {
		cmd.Short = "Keep following the logs until interrupted"
		cmd.Long = `Like ct sync, but keep following: sync every log every --poll (each round
recorded as a ct run of its own) and print new sightings as their positions
commit, until interrupted (Ctrl-C). A log that misbehaves is reported and no
longer followed; transient failures are retried at the next poll.`
		cmd.Example = `  keyaudit ct watch --log-list log_list.json --watch example.com --format jsonl`
	}
	cmd.PreRunE = func(*cobra.Command, []string) error { return a.checkCT(o) }
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return a.runCT(cmd.Context(), mode, o)
	}
	o.register(cmd.Flags(), mode)
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(reports.StreamFormats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// registerLogFlags defines the flags naming CT logs, watched domains and
// where a new log starts (ct sync, ct watch, enqueue ct-sync).
func registerLogFlags(f *pflag.FlagSet, logs *ctlog.LogsConfig, watch *[]string, from *string) {
	f.StringVar(&logs.LogList, "log-list", "", "Chrome log list v3 JSON file (logs and tiled_logs)")
	f.StringSliceVar(&logs.States, "state", nil, "log list states to follow (default usable,qualified,readonly)")
	f.StringArrayVar(&logs.URLs, "log", nil, "log URL: RFC 6962 base URL or static-ct-api monitoring prefix (repeatable)")
	f.StringArrayVar(&logs.Keys, "log-key", nil, "public key of the n-th --log: a PEM/DER file or base64 DER (repeatable)")
	f.StringArrayVar(&logs.Types, "log-type", nil, "type of the n-th --log: rfc6962 or static (one value applies to all)")
	f.StringArrayVar(&logs.Origins, "log-origin", nil, "checkpoint origin the n-th --log (static) must sign (default: the log list's, else the first verified)")
	f.StringArrayVar(watch, "watch", nil, "watched domain: example.com (and subdomains) or .example.com (subdomains only) (repeatable)")
	f.StringVar(from, "from", "end", "start position of a log without a stored one: start, end or an entry index")
}

// register defines the flags of keyaudit ct sync or ct watch (mode) on
// f, bound to o.
func (o *ctOptions) register(f *pflag.FlagSet, mode string) {
	registerLogFlags(f, &o.logs, &o.watch, &o.from)
	defFormat := "table"
	if mode == "watch" {
		defFormat = "jsonl"
	}
	f.StringVar(&o.format, "format", defFormat, "output format: table, jsonl, json, csv")
	f.IntVar(&o.cfg.BatchSize, "batch-size", 256, "entries per RFC 6962 get-entries request")
	f.IntVar(&o.cfg.Parallel, "parallel", 4, "requests in flight per log")
	f.IntVar(&o.cfg.CommitEvery, "commit-every", 16384, "most entries verified between two commits of a log's position")
	f.Float64Var(&o.cfg.RateLimit, "rate", 50, "requests per second per log")
	f.Uint64Var(&o.cfg.MaxEntries, "max-entries", 0, "stop each log after this many entries (0: catch up fully)")
	f.StringVar(&o.failOn, "fail-on", "high", "exit 1 when a finding (log misbehaviour is critical) is at or above this severity, or none")
	f.BoolVar(&o.cfg.FetchIssuers, "fetch-issuers", false, "fetch and check the issuer certificate of each static-ct-api sighting")
	f.StringVar(&o.group, "run-group", "", "group name shared by related runs in the store")
	if mode == "watch" {
		f.DurationVar(&o.poll, "poll", 30*time.Second, "how often each log is polled for a new head")
	}
}

// ctOptionsFromConfig returns the options, the ct: section and the watch
// list (watch: and ct-sync.watch) `keyaudit ct sync` would run with from
// the config alone: the flags' defaults with the config's ct-sync section
// over them. keyaudit audit passes them to ctParams.
func (a *app) ctOptionsFromConfig() (*ctOptions, ctConfig, []string, error) {
	o := &ctOptions{}
	fs := pflag.NewFlagSet("ct-sync", pflag.ContinueOnError)
	o.register(fs, "sync")
	if err := a.applySection(fs, "ct-sync"); err != nil {
		return nil, ctConfig{}, nil, err
	}
	cc, watch, err := a.ctSections(o)
	return o, cc, watch, err
}

// ctLogsElsewhere warns of the CT commands' sections that name the logs
// to follow: the ct: section is their one home, shared by ct sync, ct
// watch, the audit and the queue. The keys still apply, as the flags
// they set.
func ctLogsElsewhere(cfg config.File) []string {
	var out []string
	for _, sec := range []string{"ct-sync", "ct-watch", "enqueue-ct-sync"} {
		node, ok := cfg[sec]
		if !ok {
			continue
		}
		var keys map[string]yaml.Node
		if node.Decode(&keys) != nil {
			continue
		}
		for key, home := range map[string]string{"log-list": "ct.log-list", "state": "ct.states"} {
			if _, ok := keys[key]; ok {
				out = append(out, fmt.Sprintf("%s.%s: set %s instead (the logs every CT command follows live in ct:)", sec, key, home))
			}
		}
	}
	sort.Strings(out)
	return out
}

// ctSections reads the config's ct: section and the watched domains:
// its watch: list and o's.
func (a *app) ctSections(o *ctOptions) (cc ctConfig, watch []string, err error) {
	if err = a.section("watch", &watch); err == nil {
		err = a.section("ct", &cc)
	}
	return cc, append(watch, o.watch...), err
}

// checkCT validates o, the config's ct: section and watch list as ctParams
// does, reading no log list or key file.
func (a *app) checkCT(o *ctOptions) error {
	_, watch, err := a.ctSections(o)
	if err == nil {
		err = invalid(stage.CheckCTSettings(o.cfg, watch, o.from))
	}
	return cmp.Or(err, checkFailOn(o.failOn), checkFormat(o.format))
}

// ctParams validates o, the ct: section cc and the watched domains and
// returns the CT sync stage's parameters. Nothing is contacted; an
// invalid setting is exit 2. keyaudit audit calls it with
// ctOptionsFromConfig.
func (a *app) ctParams(o *ctOptions, cc ctConfig, watchList []string) (stage.CTParams, error) {
	p, err := stage.NewCTParams(o.cfg, o.logs.Over(cc), watchList, o.from)
	if err != nil {
		return stage.CTParams{}, withCode(exitError, err)
	}
	p.Group = o.group
	return p, nil
}

// runCT runs keyaudit ct sync or ct watch (mode) with the flags o.
func (a *app) runCT(ctx context.Context, mode string, o *ctOptions) error {
	cc, watch, err := a.ctSections(o)
	if err != nil {
		return err
	}
	p, err := a.ctParams(o, cc, watch)
	if err != nil {
		return err
	}
	fail, err := parseFailOn(o.failOn)
	if err != nil {
		return err
	}
	// Sightings are written out once their commit is (one write per
	// commit rather than per sighting: a broad watch has one per entry).
	bw := bufio.NewWriterSize(a.stdout, 64<<10)
	out, err := reports.NewStream(bw, o.format, reports.SightingColumns, reports.WithTerminal(reports.TerminalOf(a.stdout)))
	if err != nil {
		return withCode(exitError, err)
	}
	p.Flush = bw.Flush
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	if st != nil {
		defer st.Close()
	}
	env := a.stageEnv(st)
	env.Progress, p.Mode = mode == "sync", mode
	var tally stage.CTTally
	if mode == "sync" {
		p.LogDone = tally.Add
		_, err = stage.CTSync(ctx, env, p, out.Write)
	} else {
		tally, err = stage.CTWatch(ctx, env, p, o.poll, out.Write)
		tally.Failed = 0 // tried again at the next round
	}
	closeErr := cmp.Or(out.Close(), bw.Flush())
	switch {
	case err != nil:
		return withCode(exitError, err)
	case closeErr != nil:
		return withCode(exitError, closeErr)
	case tally.Misbehaved > 0 && fail.Exceeded([]reconcile.Finding{{Severity: reconcile.Critical}}):
		// A log's misbehaviour is a critical finding (ct-log-misbehaviour).
		return withCode(exitFindings, nil)
	case tally.Failed > 0:
		return withCode(exitError, fmt.Errorf("ct: %d of %d logs could not be synced", tally.Failed, len(p.Logs)))
	}
	return nil
}
