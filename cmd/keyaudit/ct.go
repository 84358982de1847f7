package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/keyaudit/keyaudit/ctlog"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/stage"
)

// ctConfig is the structured top-level "ct:" config section.
//
//	ct:
//	  log-list: /etc/keyaudit/log_list.json
//	  states: [usable, qualified, readonly]
//	  logs:
//	    - url: https://ct.example/logs/2026h1/
//	      key: MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE…   # base64 DER, PEM or a file
//	      type: static                               # or rfc6962
//	      description: Example 2026h1
//	watch: [example.com, .example.org]
type ctConfig struct {
	LogList string        `yaml:"log-list"`
	States  []string      `yaml:"states"`
	Logs    []ctLogConfig `yaml:"logs"`
}

type ctLogConfig struct {
	URL         string `yaml:"url"`
	Key         string `yaml:"key"`
	Type        string `yaml:"type"`
	Description string `yaml:"description"`
	Origin      string `yaml:"origin"`
}

type ctOptions struct {
	logList     string
	states      []string
	logURLs     []string
	logKeys     []string
	logTypes    []string
	watch       []string
	from        string
	format      string
	batch       int
	parallel    int
	commitEvery int
	rate        float64
	maxEntries  uint64
	poll        time.Duration
	failOn      string
	issuers     bool
	group       string
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

Logs: --log URL --log-key KEY [--log-type rfc6962|static], repeatable (the
n-th --log-key and --log-type go with the n-th --log; a single --log-type
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
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var watch []string
		if err := a.section("watch", &watch); err != nil {
			return err
		}
		var cc ctConfig
		if err := a.section("ct", &cc); err != nil {
			return err
		}
		return a.runCT(cmd.Context(), mode, o, cc, append(watch, o.watch...))
	}
	o.register(cmd.Flags(), mode)
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(reports.StreamFormats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// register defines the flags of keyaudit ct sync or ct watch (mode) on
// f, bound to o.
func (o *ctOptions) register(f *pflag.FlagSet, mode string) {
	f.StringVar(&o.logList, "log-list", "", "Chrome log list v3 JSON file (logs and tiled_logs)")
	f.StringSliceVar(&o.states, "state", nil, "log list states to follow (default usable,qualified,readonly)")
	f.StringArrayVar(&o.logURLs, "log", nil, "log URL: RFC 6962 base URL or static-ct-api monitoring prefix (repeatable)")
	f.StringArrayVar(&o.logKeys, "log-key", nil, "public key of the n-th --log: a PEM/DER file or base64 DER (repeatable)")
	f.StringArrayVar(&o.logTypes, "log-type", nil, "type of the n-th --log: rfc6962 or static (one value applies to all)")
	f.StringArrayVar(&o.watch, "watch", nil, "watched domain: example.com (and subdomains) or .example.com (subdomains only) (repeatable)")
	f.StringVar(&o.from, "from", "end", "start position of a log without a stored one: start, end or an entry index")
	defFormat := "table"
	if mode == "watch" {
		defFormat = "jsonl"
	}
	f.StringVar(&o.format, "format", defFormat, "output format: table, jsonl, json, csv")
	f.IntVar(&o.batch, "batch-size", 256, "entries per RFC 6962 get-entries request")
	f.IntVar(&o.parallel, "parallel", 4, "requests in flight per log")
	f.IntVar(&o.commitEvery, "commit-every", 16384, "most entries verified between two commits of a log's position")
	f.Float64Var(&o.rate, "rate", 50, "requests per second per log")
	f.Uint64Var(&o.maxEntries, "max-entries", 0, "stop each log after this many entries (0: catch up fully)")
	f.StringVar(&o.failOn, "fail-on", "high", "exit 1 when a finding (log misbehaviour is critical) is at or above this severity, or none")
	f.BoolVar(&o.issuers, "fetch-issuers", false, "fetch and check the issuer certificate of each static-ct-api sighting")
	f.StringVar(&o.group, "run-group", "", "group name shared by related runs in the store")
	if mode == "watch" {
		f.DurationVar(&o.poll, "poll", 30*time.Second, "how often each log is polled for a new head")
	}
}

// ctLogs assembles the logs to follow from flags, the log list and the
// config, without duplicates (same log ID).
func ctLogs(o *ctOptions, cc ctConfig) ([]ctlog.Log, error) {
	var logs []ctlog.Log
	seen := map[string]bool{}
	add := func(l ctlog.Log) {
		if !seen[l.ID] {
			seen[l.ID] = true
			logs = append(logs, l)
		}
	}
	if len(o.logKeys) != len(o.logURLs) {
		return nil, fmt.Errorf("%d --log but %d --log-key: give one key per log", len(o.logURLs), len(o.logKeys))
	}
	if len(o.logTypes) > 1 && len(o.logTypes) != len(o.logURLs) {
		return nil, fmt.Errorf("%d --log but %d --log-type: give one type, or one per log", len(o.logURLs), len(o.logTypes))
	}
	for i, u := range o.logURLs {
		typ := ""
		if len(o.logTypes) == 1 {
			typ = o.logTypes[0]
		} else if len(o.logTypes) > 1 {
			typ = o.logTypes[i]
		}
		t, err := ctlog.ParseType(typ)
		if err != nil {
			return nil, err
		}
		l, err := ctlog.NewLog(u, o.logKeys[i], t)
		if err != nil {
			return nil, fmt.Errorf("--log %s: %w", u, err)
		}
		add(l)
	}
	for i, c := range cc.Logs {
		t, err := ctlog.ParseType(c.Type)
		if err != nil {
			return nil, fmt.Errorf("ct.logs[%d]: %w", i, err)
		}
		l, err := ctlog.NewLog(c.URL, c.Key, t)
		if err != nil {
			return nil, fmt.Errorf("ct.logs[%d]: %w", i, err)
		}
		l.Description, l.Origin = c.Description, c.Origin
		add(l)
	}
	listPath := o.logList
	if listPath == "" {
		listPath = cc.LogList
	}
	if listPath != "" {
		ll, err := ctlog.ReadLogList(listPath)
		if err != nil {
			return nil, err
		}
		states := o.states
		if len(states) == 0 {
			states = cc.States
		}
		ls, err := ll.Logs(states...)
		if err != nil {
			return nil, err
		}
		for _, l := range ls {
			add(l)
		}
	}
	if len(logs) == 0 {
		return nil, errors.New("no CT logs: give --log with --log-key, --log-list, or a ct: section in the config")
	}
	return logs, nil
}

// ctSightingColumns are the table and CSV columns of sightings.
var ctSightingColumns = []reports.Column[ctlog.Sighting]{
	{Header: "LOG", Value: func(s ctlog.Sighting) string { return s.Log }},
	{Header: "INDEX", Value: func(s ctlog.Sighting) string { return strconv.FormatUint(s.Index, 10) }},
	{Header: "TIMESTAMP", Value: func(s ctlog.Sighting) string { return s.Timestamp.Format(time.RFC3339) }},
	{Header: "PRECERT", Value: func(s ctlog.Sighting) string { return strconv.FormatBool(s.Precert) }},
	{Header: "NAMES", Value: func(s ctlog.Sighting) string { return strings.Join(s.Names, " ") }},
	{Header: "ISSUER", Value: func(s ctlog.Sighting) string { return s.Issuer }},
	{Header: "CERT SHA256", Value: func(s ctlog.Sighting) string { return s.CertSHA256 }},
	{Header: "SPKI SHA256", Value: func(s ctlog.Sighting) string { return s.SPKISHA256 }},
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
	var watch []string
	if err := a.section("watch", &watch); err != nil {
		return nil, ctConfig{}, nil, err
	}
	var cc ctConfig
	if err := a.section("ct", &cc); err != nil {
		return nil, ctConfig{}, nil, err
	}
	return o, cc, append(watch, o.watch...), nil
}

// ctParams validates o, the ct: section cc and the watched domains and
// returns the CT sync stage's parameters. Nothing is contacted; an
// invalid setting is exit 2. keyaudit audit calls it with
// ctOptionsFromConfig.
func (a *app) ctParams(o *ctOptions, cc ctConfig, watchList []string) (stage.CTParams, error) {
	logs, err := ctLogs(o, cc)
	if err != nil {
		return stage.CTParams{}, withCode(exitError, err)
	}
	watch, err := ctlog.NewWatchlist(watchList)
	if err != nil {
		return stage.CTParams{}, withCode(exitError, err)
	}
	if watch.Len() == 0 {
		return stage.CTParams{}, withCode(exitError, errors.New("no watched domains: give --watch or a watch: list in the config"))
	}
	from, err := ctlog.ParseStart(o.from)
	if err != nil {
		return stage.CTParams{}, withCode(exitError, err)
	}
	cfg := ctlog.Config{
		Watch: watch, BatchSize: o.batch, Parallel: o.parallel, CommitEvery: o.commitEvery,
		RateLimit: o.rate, MaxEntries: o.maxEntries, FetchIssuers: o.issuers, Logger: a.log,
	}
	if _, err := ctlog.New(cfg); err != nil { // validates
		return stage.CTParams{}, withCode(exitError, err)
	}
	return stage.CTParams{Config: cfg, Logs: logs, From: from, Group: o.group}, nil
}

func (a *app) runCT(ctx context.Context, mode string, o *ctOptions, cc ctConfig, watchList []string) error {
	p, err := a.ctParams(o, cc, watchList)
	if err != nil {
		return err
	}
	failOn := reconcile.Severity("")
	if !strings.EqualFold(o.failOn, "none") {
		if failOn, err = reconcile.ParseSeverity(o.failOn); err != nil {
			return withCode(exitError, fmt.Errorf("--fail-on: %w", err))
		}
	}
	out, err := reports.NewStream(a.stdout, o.format, ctSightingColumns)
	if err != nil {
		return withCode(exitError, err)
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	if st != nil {
		defer st.Close()
	}
	env := a.stageEnv(st)
	bars := newCTBars(a.stderr, mode == "sync")
	p.Config.Progress = bars.progress
	p.Mode = mode

	var failed, misbehaved int
	var runErr error
	if mode == "sync" {
		p.LogDone = func(r stage.CTLogResult) {
			switch {
			case ctlog.IsMisbehaviour(r.Err):
				misbehaved++
			case r.Err != nil:
				failed++
			}
		}
		_, runErr = stage.CTSync(ctx, env, p, out.Write)
	} else {
		misbehaved, runErr = a.watchCT(ctx, env, p, o.poll, out.Write)
	}
	bars.done()
	closeErr := out.Close()
	switch {
	case runErr != nil:
		return withCode(exitError, runErr)
	case closeErr != nil:
		return withCode(exitError, closeErr)
	case misbehaved > 0 && failOn != "" && reconcile.Critical.AtLeast(failOn):
		// A log's misbehaviour is a critical finding (ct-log-misbehaviour).
		return withCode(exitFindings, nil)
	case failed > 0:
		return withCode(exitError, fmt.Errorf("ct: %d of %d logs could not be synced", failed, len(p.Logs)))
	}
	return nil
}

// watchCT syncs p's logs every poll until ctx ends, each round a CT sync
// of its own; a log that misbehaves is no longer followed, one that
// could not be read is tried again at the next round. Without a store
// the positions are kept across rounds in memory. It returns how many
// logs misbehaved; the error is a round's that could not be recorded.
func (a *app) watchCT(ctx context.Context, env stage.Env, p stage.CTParams, poll time.Duration, emit func(ctlog.Sighting) error) (int, error) {
	if poll <= 0 {
		poll = 30 * time.Second
	}
	p.Positions = &stage.Positions{}
	misbehaved := 0
	for len(p.Logs) > 0 {
		var next []ctlog.Log
		p.LogDone = func(r stage.CTLogResult) {
			if ctlog.IsMisbehaviour(r.Err) {
				misbehaved++
				return
			}
			next = append(next, r.Log)
		}
		out, err := stage.CTSync(ctx, env, p, emit)
		if ctx.Err() != nil {
			return misbehaved, nil
		}
		if err != nil {
			return misbehaved, err
		}
		a.log.Debug("ct: watch round done", "run", out.RunID, "status", out.Status, "note", out.Note)
		p.Logs = next
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return misbehaved, nil
		case <-t.C:
		}
	}
	return misbehaved, nil
}

// ctBars draws one progress bar per log on a terminal.
type ctBars struct {
	p    *mpb.Progress
	mu   sync.Mutex
	bars map[string]*mpb.Bar
}

func newCTBars(w io.Writer, enabled bool) *ctBars {
	b := &ctBars{bars: map[string]*mpb.Bar{}}
	f, ok := w.(*os.File)
	if !enabled || !ok || !term.IsTerminal(int(f.Fd())) {
		return b
	}
	b.p = mpb.New(mpb.WithOutput(w), mpb.WithRefreshRate(200*time.Millisecond))
	return b
}

func (b *ctBars) progress(p ctlog.Progress) {
	if b.p == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	bar, ok := b.bars[p.Log.ID]
	if !ok {
		bar = b.p.AddBar(int64(p.Target-p.Started),
			mpb.PrependDecorators(decor.Name(p.Log.Name(), decor.WCSyncSpaceR)),
			mpb.AppendDecorators(decor.CountersNoUnit("%d / %d"), decor.Name(" "), decor.AverageSpeed(0, "%.0f/s")))
		b.bars[p.Log.ID] = bar
	}
	bar.SetTotal(int64(p.Target-p.Started), false)
	bar.SetCurrent(int64(p.Done - p.Started))
}

func (b *ctBars) done() {
	if b.p == nil {
		return
	}
	b.mu.Lock()
	for _, bar := range b.bars {
		bar.SetTotal(-1, true)
	}
	b.mu.Unlock()
	b.p.Wait()
}
