package main

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/scanner"
	"github.com/keyaudit/keyaudit/stage"
	"github.com/keyaudit/keyaudit/store"
)

type scanOptions struct {
	ports       string
	protocol    string
	resolvers   []string
	timeout     time.Duration
	dnsTimeout  time.Duration
	concurrency int
	rate        float64
	perIP       int
	scope       []string
	shard       string
	format      string
	group       string
	targetsFile string
	targets     []string // config: scan.targets
}

func init() {
	knownSections["scan"] = map[string]bool{"targets": true}
	subcommands = append(subcommands, newScanCmd)
}

func newScanCmd(a *app) *cobra.Command {
	o := &scanOptions{}
	cmd := &cobra.Command{
		Use:   "scan [flags] TARGET...",
		Short: "Scan TLS and STARTTLS endpoints and record every certificate chain served",
		Long: `Scan hosts, IPs, CIDRs and ports over TLS and STARTTLS, recording the
certificate chain, key and TLS parameters of every endpoint.

TARGET is a hostname, an IP, a CIDR (IPv4 or IPv6), host:port, [v6]:port, or
proto://host[:port] with proto one of tls, smtp, imap, pop3, ftp, ldap,
postgres, mysql, xmpp. "-" reads targets from stdin, one per line, also as
zgrab2-style "IP, NAME" pairs (the name is sent as SNI). Names resolve to
every A and AAAA record; each address is scanned with the name as SNI.

Every attempted endpoint yields exactly one record; failures carry
error.kind: timeout, refused, reset, handshake, starttls, dns, scope or
cancelled (the scan was stopped first).`,
		Example: `  keyaudit scan example.com
  keyaudit scan --ports 443,8443,25 --scope 10.0.0.0/16 10.0.0.0/24
  keyaudit scan --format jsonl --no-store smtp://mail.example.com imap://mail.example.com
  cat targets.txt | keyaudit scan --shard 1/4 -`,
		PreRunE: func(*cobra.Command, []string) error { return a.checkScan(o) },
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runScan(cmd.Context(), o, args)
		},
	}
	o.register(cmd.Flags())
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(reports.StreamFormats, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("protocol", cobra.FixedCompletions(append([]string{"auto"}, scanner.Protocols...), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// register defines the flags of keyaudit scan on f, bound to o.
func (o *scanOptions) register(f *pflag.FlagSet) {
	f.StringVar(&o.ports, "ports", "443", "ports for targets without one: list and ranges, e.g. 443,8443,25-26")
	f.StringVar(&o.protocol, "protocol", "auto", "protocol for targets without proto://: auto (infer STARTTLS from well-known ports) or "+strings.Join(scanner.Protocols, ", "))
	f.StringArrayVar(&o.resolvers, "resolver", nil, "DNS resolver ip[:port], optionally udp: or tcp: prefixed (repeatable; default: the system's)")
	f.DurationVar(&o.timeout, "timeout", 5*time.Second, "one deadline per endpoint covering connect, STARTTLS and handshake")
	f.DurationVar(&o.dnsTimeout, "dns-timeout", 0, "deadline for resolving one name (default: --timeout)")
	f.IntVar(&o.concurrency, "concurrency", 100, "most endpoints in flight; fewer while handshake latency shows starved CPUs")
	f.Float64Var(&o.rate, "rate", 0, "new connections per second (0: unlimited)")
	f.IntVar(&o.perIP, "per-ip", 8, "concurrent connections to one IP")
	f.StringArrayVar(&o.scope, "scope", nil, "CIDR the scan may contact (repeatable); anything outside is refused with error kind scope and never contacted")
	f.StringVar(&o.shard, "shard", "", "scan only shard i of n (\"i/n\"), split deterministically by endpoint")
	f.StringVar(&o.format, "format", "table", "output format: table, jsonl, json, csv")
	f.StringVar(&o.group, "run-group", "", "group name shared by the shards of one logical run")
	f.StringVar(&o.targetsFile, "targets-file", "", "read targets from FILE, one per line (like -)")
}

func (a *app) runScan(ctx context.Context, o *scanOptions, args []string) error {
	p, err := a.scanParams(o, args)
	if err != nil {
		return err
	}
	out, err := reports.NewObservationStream(a.stdout, o.format, reports.WithDetails(a.verbose))
	if err != nil {
		return withCode(exitError, err)
	}
	return runStage(ctx, a, out, func(env stage.Env, emit func(scanner.Observation) error) error {
		_, err := stage.Scan(ctx, env, p, emit)
		return err
	})
}

// runStage runs a stage from the CLI: it opens the store, runs the stage
// (run) with each result written to out, and closes out. A stage that failed or an output that could not be
// written is exit 2.
func runStage[T any](ctx context.Context, a *app, out reports.Stream[T], run func(stage.Env, func(T) error) error) error {
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	if st != nil {
		defer st.Close()
	}
	runErr := run(a.stageEnv(st), out.Write)
	closeErr := out.Close()
	return invalid(cmp.Or(runErr, closeErr))
}

// writeAll writes rows to out and closes it; a failure is exit 2.
func writeAll[T any](out reports.Stream[T], rows []T) error {
	for _, r := range rows {
		if err := out.Write(r); err != nil {
			return withCode(exitError, err)
		}
	}
	return invalid(out.Close())
}

// stageEnv is the environment the stages run with from the CLI: progress
// is drawn when stderr is a terminal.
func (a *app) stageEnv(st store.Store) stage.Env {
	return stage.Env{Store: st, Log: a.log, Stderr: a.stderr, Progress: true}
}

// scanConfig parses the scanner settings of o (exit 2 when invalid).
func (a *app) scanConfig(o *scanOptions) (scanner.Config, error) {
	cfg, err := scanner.Settings{
		Ports: o.ports, Protocol: o.protocol, Resolvers: o.resolvers, Timeout: o.timeout, DNSTimeout: o.dnsTimeout,
		Concurrency: o.concurrency, Rate: o.rate, PerIP: o.perIP, Scope: o.scope, Shard: o.shard,
	}.Config()
	if err != nil {
		return scanner.Config{}, withCode(exitError, err)
	}
	cfg.Logger = a.log
	return cfg, nil
}

// checkScan validates o and the config's scan.targets (read into o) as
// scanParams does, reading nothing from stdin or a targets file.
func (a *app) checkScan(o *scanOptions) error {
	_, err := a.scanConfig(o)
	if err == nil {
		err = a.scanTargets("scan", o)
	}
	if err == nil && len(o.targets) > 0 {
		_, err = scanner.ParseTargets(o.targets, nil, "")
	}
	return cmp.Or(invalid(err), checkFormat(o.format))
}

// scanParams validates o and the targets — o.targets (the config's
// scan.targets), then args; "-" reads a.stdin, o.targetsFile a file — and
// returns the scan stage's parameters. Nothing is contacted or opened for
// writing; an invalid setting or target is exit 2. Invalid lines of stdin
// or the targets file are reported on a.stderr and skipped (the run is
// then partial). keyaudit audit calls it with the options read from the
// config (scanOptionsFromConfig) and no args.
func (a *app) scanParams(o *scanOptions, args []string) (stage.ScanParams, error) {
	cfg, err := a.scanConfig(o)
	if err != nil {
		return stage.ScanParams{}, err
	}
	all := append(append([]string{}, o.targets...), args...)
	ts, err := scanner.ParseTargets(all, a.stdin, o.targetsFile)
	if err != nil {
		return stage.ScanParams{}, withCode(exitError, err)
	}
	ts.Skip = func(err error) { fmt.Fprintf(a.stderr, "keyaudit: %v (skipped)\n", err) }
	return stage.ScanParams{
		Config: cfg, Targets: ts.All(), Group: o.group,
		Meta: map[string]any{
			"targets": all, "targets_file": o.targetsFile, "ports": o.ports, "scope": o.scope,
		},
		BadLines: ts.Skipped,
	}, nil
}

// scanOptionsFromConfig returns the scan options `keyaudit scan` would
// run with from the config alone: the flags' defaults, the config's scan
// section over them, and its scan.targets. keyaudit audit passes them to
// scanParams.
func (a *app) scanOptionsFromConfig() (*scanOptions, error) {
	o := &scanOptions{}
	fs := pflag.NewFlagSet("scan", pflag.ContinueOnError)
	o.register(fs)
	if err := a.applySection(fs, "scan"); err != nil {
		return nil, err
	}
	return o, a.scanTargets("scan", o)
}

// scanTargets reads the targets of the config's section (scan,
// enqueue-scan) into o.targets.
func (a *app) scanTargets(section string, o *scanOptions) error {
	return a.section(section, &struct {
		Targets *[]string `yaml:"targets"`
	}{&o.targets})
}

// applySection applies the config's section name to fs, flags already
// set left alone: what setup does for the command being run, for a
// command's options read from the config alone.
func (a *app) applySection(fs *pflag.FlagSet, name string) error {
	return a.configError(a.config.ApplySection(fs, name, knownSections[name], a.sections))
}
