package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyaudit/keyaudit/internal/config"
	"github.com/keyaudit/keyaudit/reconcile"
	_ "github.com/keyaudit/keyaudit/reconcile/checks" // registers the checks
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/stage"
)

type reconcileOptions struct {
	runs   []string
	format string
	failOn string
	checks []string
	now    string
	ignore string
	params stage.ReconcileParams // checked, from the flags and the config
}

func init() {
	subcommands = append(subcommands, newReconcileCmd, newChecksCmd)
}

func newReconcileCmd(a *app) *cobra.Command {
	o := &reconcileOptions{}
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Hold what was seen (scans, CT, CAA) against the inventory and report findings",
		Long: `Reconcile reads the latest finished run of each kind from the store — scan,
inventory, caa, ct (a run's whole --run-group when it has one) — or the runs
named with --run, runs every registered check, records the findings as a run
of kind "reconcile", and prints them.

Policy (key sizes, lifetimes, cryptoperiods, allowed CAs) comes from the
config's "policy:" section, accepted findings from "suppressions:", watched
domains from "watch:". A finding already present in the previous reconcile
keeps its first_seen date.

Exit codes: 0 nothing unsuppressed at or above --fail-on; 1 something is;
2 could not run.`,
		Example: `  keyaudit reconcile --config keyaudit.yaml
  keyaudit reconcile --run 12 --run 13 --format json -o findings.json
  keyaudit reconcile --fail-on critical --ignore-file .keyauditignore.yaml`,
		Args: cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error {
			cfg, err := a.reconcileConfig()
			if err == nil {
				o.params, err = a.reconcileParams(o, cfg)
			}
			return cmp.Or(err, checkFailOn(o.failOn), checkFormat(o.format))
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runReconcile(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.runs, "run", nil, "run ID to read instead of the latest of its kind (repeatable)")
	f.StringVar(&o.format, "format", "table", "output format: table, jsonl, json, csv")
	f.StringVar(&o.failOn, "fail-on", "high", "exit 1 when an unsuppressed finding is at or above this severity (critical, high, medium, low, info, none)")
	f.StringArrayVar(&o.checks, "check", nil, "run only this check (repeatable; see keyaudit checks list)")
	f.StringVar(&o.now, "now", "", "reconcile as of this RFC 3339 time instead of now (reproducing a past audit)")
	f.StringVar(&o.ignore, "ignore-file", "", "accepted risks: a YAML list of {check, subject|endpoint|spki_sha256|cert_sha256|fingerprint, reason, until} (default "+config.DefaultIgnoreFile+" when it exists)")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(reports.StreamFormats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// reconcileConfig reads the parameters of a reconcile the config gives:
// policy, suppressions, watched names and the CA table.
func (a *app) reconcileConfig() (stage.ReconcileParams, error) {
	var p stage.ReconcileParams
	if err := a.section("policy", &p.Policy); err != nil {
		return p, err
	}
	if err := p.Policy.Check(); err != nil {
		return p, a.configError(err)
	}
	if node, ok := a.config["suppressions"]; ok {
		var err error
		if p.Suppressions, err = config.DecodeSuppressions(node); err != nil {
			return p, withCode(exitError, fmt.Errorf("config %s: suppressions: %w", a.configPath, err))
		}
	}
	cc, watch, err := a.caaConfig()
	p.Watch, p.CAs = watch, cc.table
	if err != nil {
		return p, err
	}
	p.Owners, p.Router, err = a.notifyConfig()
	return p, err
}

func (a *app) runReconcile(ctx context.Context, o *reconcileOptions) error {
	threshold, err := parseFailOn(o.failOn)
	if err != nil {
		return err
	}
	out, err := reports.NewFindingStream(a.stdout, o.format, reports.WithDetails(a.verbose))
	if err != nil {
		return withCode(exitError, err)
	}
	st, err := a.needStore(ctx, "reconcile reads its inputs from the store", false)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := stage.Reconcile(ctx, a.stageEnv(st), o.params)
	if errors.Is(err, stage.ErrEmptyEstate) {
		return withCode(exitError, err)
	}
	if err != nil {
		return withCode(exitError, fmt.Errorf("reconcile: %w", err))
	}
	if err := writeAll(out, res.Findings); err != nil {
		return err
	}
	res.WriteSummary(a.stderr)
	return threshold.exit(res.Findings)
}

// reconcileParams completes p, what reconcileConfig read, with a
// reconcile's options, validated.
func (a *app) reconcileParams(o *reconcileOptions, p stage.ReconcileParams) (stage.ReconcileParams, error) {
	if err := reconcile.UnknownCheck(o.checks...); err != nil {
		return p, withCode(exitError, err)
	}
	if o.now != "" {
		t, err := time.Parse(time.RFC3339, o.now)
		if err != nil {
			return p, withCode(exitError, fmt.Errorf("--now: %w", err))
		}
		p.Now = t
	}
	ignored, err := config.IgnoreFile(o.ignore)
	if err != nil {
		return p, withCode(exitError, err)
	}
	p.Suppressions, p.Checks = slices.Concat(p.Suppressions, ignored), o.checks
	if p.Runs, err = stage.RunIDs(o.runs); err != nil {
		return p, withCode(exitError, fmt.Errorf("--run %w", err))
	}
	return p, nil
}

func newChecksCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "checks", Short: "The reconcile checks keyaudit runs",
		Example: `  keyaudit checks list
  keyaudit checks list --format json`}
	var format string
	list := &cobra.Command{
		Use:   "list",
		Short: "List every registered check with its severity and citations",
		Example: `  keyaudit checks list
  keyaudit checks list --format csv -o checks.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := reports.NewStream(a.stdout, format, reports.RuleColumns)
			if err != nil {
				return withCode(exitError, err)
			}
			return writeAll(out, reports.RulesBySeverity(reconcile.Checks()))
		},
	}
	list.Flags().StringVar(&format, "format", "table", "output format: table, jsonl, json, csv")
	cmd.AddCommand(list)
	return cmd
}
