package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyaudit/keyaudit/queue"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/scanner"
	"github.com/keyaudit/keyaudit/store"
)

// maxStdinLine caps one line of targets read from stdin.
const maxStdinLine = 4096

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
error.kind: timeout, refused, reset, handshake, starttls, dns or scope.`,
		Example: `  keyaudit scan example.com
  keyaudit scan --ports 443,8443,25 --scope 10.0.0.0/16 10.0.0.0/24
  keyaudit scan --format jsonl --no-store smtp://mail.example.com imap://mail.example.com
  cat targets.txt | keyaudit scan --shard 1/4 -`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.section("scan", &struct {
				Targets *[]string `yaml:"targets"`
			}{&o.targets}); err != nil {
				return err
			}
			return a.runScan(cmd.Context(), o, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.ports, "ports", "443", "ports for targets without one: list and ranges, e.g. 443,8443,25-26")
	f.StringVar(&o.protocol, "protocol", "auto", "protocol for targets without proto://: auto (infer STARTTLS from well-known ports) or "+strings.Join(scanner.Protocols, ", "))
	f.StringArrayVar(&o.resolvers, "resolver", nil, "DNS resolver ip[:port] (repeatable; default: the system's)")
	f.DurationVar(&o.timeout, "timeout", 5*time.Second, "one deadline per endpoint covering connect, STARTTLS and handshake")
	f.DurationVar(&o.dnsTimeout, "dns-timeout", 0, "deadline for resolving one name (default: --timeout)")
	f.IntVar(&o.concurrency, "concurrency", 100, "endpoints scanned at once")
	f.Float64Var(&o.rate, "rate", 0, "new connections per second (0: unlimited)")
	f.IntVar(&o.perIP, "per-ip", 8, "concurrent connections to one IP")
	f.StringArrayVar(&o.scope, "scope", nil, "CIDR the scan may contact (repeatable); anything outside is refused with error kind scope and never contacted")
	f.StringVar(&o.shard, "shard", "", "scan only shard i of n (\"i/n\"), split deterministically by endpoint")
	f.StringVar(&o.format, "format", "table", "output format: table, jsonl, json, csv")
	f.StringVar(&o.group, "run-group", "", "group name shared by the shards of one logical run")
	f.StringVar(&o.targetsFile, "targets-file", "", "read targets from FILE, one per line (like -)")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(reports.StreamFormats, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("protocol", cobra.FixedCompletions(append([]string{"auto"}, scanner.Protocols...), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// scanColumns are the table and CSV columns of observations.
var scanColumns = []reports.Column[scanner.Observation]{
	{Header: "TARGET", Value: func(o scanner.Observation) string { return o.Target }},
	{Header: "IP", Value: func(o scanner.Observation) string { return o.IP }},
	{Header: "PROTOCOL", Value: func(o scanner.Observation) string { return o.Protocol }},
	{Header: "TLS", Value: func(o scanner.Observation) string { return o.TLSVersion }},
	{Header: "SUBJECT", Value: func(o scanner.Observation) string {
		if l := o.Leaf(); l != nil {
			return l.Subject
		}
		return ""
	}},
	{Header: "KEY", Value: func(o scanner.Observation) string {
		if l := o.Leaf(); l != nil {
			if l.Curve != "" && l.Curve != l.KeyType {
				return l.KeyType + " " + l.Curve
			}
			return l.KeyType + " " + strconv.Itoa(l.KeyBits)
		}
		return ""
	}},
	{Header: "EXPIRES", Value: func(o scanner.Observation) string {
		if l := o.Leaf(); l != nil {
			return l.NotAfter.Format("2006-01-02")
		}
		return ""
	}},
	{Header: "SPKI SHA-256", Value: func(o scanner.Observation) string {
		if l := o.Leaf(); l != nil && len(l.SPKISHA256) >= 16 {
			return l.SPKISHA256[:16]
		}
		return ""
	}},
	{Header: "ERROR", Value: func(o scanner.Observation) string {
		if o.Error != nil {
			return string(o.Error.Kind) + ": " + o.Error.Message
		}
		return ""
	}},
}

func (a *app) runScan(ctx context.Context, o *scanOptions, args []string) error {
	ports, err := scanner.ParsePorts(o.ports)
	if err != nil {
		return withCode(exitError, fmt.Errorf("--ports: %w", err))
	}
	scope, err := scanner.ParseScope(o.scope)
	if err != nil {
		return withCode(exitError, fmt.Errorf("--scope: %w", err))
	}
	shard, err := scanner.ParseShard(o.shard)
	if err != nil {
		return withCode(exitError, fmt.Errorf("--shard: %w", err))
	}
	sc, err := scanner.New(scanner.Config{
		Ports: ports, Protocol: o.protocol, Resolvers: o.resolvers, Timeout: o.timeout, DNSTimeout: o.dnsTimeout,
		Concurrency: o.concurrency, Rate: o.rate, PerIP: o.perIP, Scope: scope, Shard: shard, Logger: a.log,
	})
	if err != nil {
		return withCode(exitError, err)
	}
	// Validate the command-line targets before touching anything.
	var fixed []scanner.Spec
	readStdin := false
	all := append(append([]string{}, o.targets...), args...)
	for _, t := range all {
		if t == "-" {
			readStdin = true
			continue
		}
		sp, err := scanner.ParseSpec(t)
		if err != nil {
			return withCode(exitError, err)
		}
		fixed = append(fixed, sp)
	}
	var listFile io.Reader
	if o.targetsFile != "" {
		f, err := os.Open(o.targetsFile)
		if err != nil {
			return withCode(exitError, fmt.Errorf("--targets-file: %w", err))
		}
		defer f.Close()
		listFile = f
	}
	if len(fixed) == 0 && !readStdin && listFile == nil {
		return withCode(exitError, errors.New("no targets: give TARGET arguments, - for stdin, --targets-file, or scan.targets in the config"))
	}
	out, err := reports.NewStream(a.stdout, o.format, scanColumns, reports.SortRows)
	if err != nil {
		return withCode(exitError, err)
	}

	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	var run store.Run
	var batch *store.Batcher
	if st != nil {
		defer st.Close()
		run, err = st.BeginRun(ctx, store.RunSpec{Kind: "scan", Group: o.group, Meta: map[string]any{
			"targets": all, "targets_file": o.targetsFile, "ports": o.ports, "shard": o.shard, "scope": o.scope,
		}})
		if err != nil {
			return withCode(exitError, err)
		}
		batch = store.NewBatcher(ctx, st, run.ID, 256, 500*time.Millisecond)
	}

	var badLines []string
	specs := func(yield func(scanner.Spec) bool) {
		for _, sp := range fixed {
			if !yield(sp) {
				return
			}
		}
		for _, r := range []struct {
			name string
			r    io.Reader
			on   bool
		}{{"stdin", a.stdin, readStdin}, {o.targetsFile, listFile, listFile != nil}} {
			if !r.on {
				continue
			}
			for sp, err := range readTargets(r.r, r.name) {
				if err != nil {
					fmt.Fprintf(a.stderr, "keyaudit: %v (skipped)\n", err)
					badLines = append(badLines, err.Error())
					continue
				}
				if !yield(sp) {
					return
				}
			}
		}
	}
	prog := newProgress(a.stderr, "scan")
	storedCerts := map[string]bool{}
	stats, scanErr := sc.Scan(ctx, specs, func(ob scanner.Observation) error {
		prog.inc()
		if batch != nil {
			// The same records a queue worker writes for a scan job.
			items, err := queue.ObservationItems(ob, storedCerts)
			if err != nil {
				return err
			}
			for _, it := range items {
				if err := batch.Add(it); err != nil {
					return err
				}
			}
		}
		return out.Write(ob)
	})
	prog.done()
	closeErr := out.Close()

	status, note := store.StatusComplete, summarize(stats)
	switch {
	case scanErr != nil && ctx.Err() != nil:
		status, note = store.StatusInterrupted, "interrupted: "+note
	case scanErr != nil:
		status, note = store.StatusFailed, scanErr.Error()
	case len(badLines) > 0:
		status, note = store.StatusPartial, fmt.Sprintf("%d invalid target lines skipped; %s", len(badLines), note)
	}
	if st != nil {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := batch.Flush(); err != nil {
			return withCode(exitError, fmt.Errorf("store: %w", err))
		}
		if err := st.FinishRun(fctx, run.ID, status, note); err != nil {
			return withCode(exitError, err)
		}
		a.log.Info("scan recorded", "run", run.ID, "status", status)
	}
	if scanErr != nil {
		return withCode(exitError, scanErr)
	}
	if closeErr != nil {
		return withCode(exitError, closeErr)
	}
	return nil
}

func summarize(s scanner.Stats) string {
	parts := []string{fmt.Sprintf("%d endpoints, %d with a chain", s.Endpoints, s.OK)}
	kinds := make([]string, 0, len(s.Errors))
	for k := range s.Errors {
		kinds = append(kinds, string(k))
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%d %s", s.Errors[scanner.ErrorKind(k)], k))
	}
	return strings.Join(parts, ", ")
}

// readTargets yields the targets of r, one per line; blank lines and
// #-comments are skipped, bad lines are yielded as errors.
func readTargets(r io.Reader, name string) iter.Seq2[scanner.Spec, error] {
	return func(yield func(scanner.Spec, error) bool) {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 1024), maxStdinLine)
		n := 0
		for sc.Scan() {
			n++
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			sp, err := scanner.ParseSpec(line)
			if err != nil {
				err = fmt.Errorf("%s line %d: %w", name, n, err)
			}
			if !yield(sp, err) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			yield(scanner.Spec{}, fmt.Errorf("%s line %d: %w", name, n+1, err))
		}
	}
}
