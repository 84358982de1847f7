package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyaudit/keyaudit/internal/config"
	"github.com/keyaudit/keyaudit/reconcile"
	_ "github.com/keyaudit/keyaudit/reconcile/checks" // registers the checks
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/stage"
	"github.com/keyaudit/keyaudit/store"
)

type reconcileOptions struct {
	runs   []string
	format string
	failOn string
	checks []string
	now    string
	ignore string
}

// reconcileConfig is the structured part of the config a reconcile uses.
type reconcileConfig struct {
	Policy       reconcile.Policy
	Suppressions []reconcile.Suppression
	Watch        []string
	CAs          []reconcile.CA
}

func init() {
	sectionNames["suppressions"] = true
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
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.reconcileConfig()
			if err != nil {
				return err
			}
			return a.runReconcile(cmd.Context(), o, cfg)
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

func (a *app) reconcileConfig() (reconcileConfig, error) {
	var c reconcileConfig
	if err := a.section("policy", &c.Policy); err != nil {
		return c, err
	}
	if err := a.section("suppressions", &c.Suppressions); err != nil {
		return c, err
	}
	if err := a.section("watch", &c.Watch); err != nil {
		return c, err
	}
	var cc struct {
		CAs []reconcile.CA `yaml:"cas"`
	}
	if err := a.section("caa", &cc); err != nil {
		return c, err
	}
	c.CAs = cc.CAs
	return c, nil
}

func (a *app) runReconcile(ctx context.Context, o *reconcileOptions, cfg reconcileConfig) error {
	threshold, err := parseFailOn(o.failOn)
	if err != nil {
		return err
	}
	if a.noStore {
		return withCode(exitError, errors.New("reconcile reads its inputs from the store: --no-store cannot be used"))
	}
	params, err := a.reconcileParams(o, cfg)
	if err != nil {
		return err
	}
	out, err := reports.NewStream(a.stdout, o.format, reports.FindingColumns)
	if err != nil {
		return withCode(exitError, err)
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	env := stage.Env{Store: st, Log: a.log, Stderr: a.stderr}
	if o.now != "" {
		t, _ := time.Parse(time.RFC3339, o.now) // checked by reconcileParams
		env.Now = func() time.Time { return t }
	}
	res, err := stage.Reconcile(ctx, env, params)
	if errors.Is(err, stage.ErrEmptyEstate) {
		return withCode(exitError, err)
	}
	if err != nil {
		return withCode(exitError, fmt.Errorf("reconcile: %w", err))
	}
	for _, f := range res.Findings {
		if err := out.Write(f); err != nil {
			return withCode(exitError, err)
		}
	}
	if err := out.Close(); err != nil {
		return withCode(exitError, err)
	}
	fmt.Fprintf(a.stderr, "keyaudit: reconcile run %d: %s\n", res.RunID, res.Note)
	for _, t := range res.Resolved {
		fmt.Fprintf(a.stderr, "keyaudit: resolved %s %s: %v\n", t.Finding.Check, t.Finding.Subject, t.Evidence["detail"])
	}
	return threshold.exit(res.Findings)
}

// reconcileParams validates a reconcile's options and config.
func (a *app) reconcileParams(o *reconcileOptions, cfg reconcileConfig) (stage.ReconcileParams, error) {
	var p stage.ReconcileParams
	for _, id := range o.checks {
		if _, ok := reconcile.Lookup(id); !ok {
			return p, withCode(exitError, fmt.Errorf("--check: unknown check %q (see keyaudit checks list)", id))
		}
	}
	if o.now != "" {
		if _, err := time.Parse(time.RFC3339, o.now); err != nil {
			return p, withCode(exitError, fmt.Errorf("--now: %w", err))
		}
	}
	table, err := reconcile.NewCATable(cfg.CAs)
	if err != nil {
		return p, withCode(exitError, fmt.Errorf("config caa.cas: %w", err))
	}
	ignorePath, explicit := o.ignore, o.ignore != ""
	if !explicit {
		ignorePath = config.DefaultIgnoreFile
	}
	ignored, err := config.LoadIgnoreFile(ignorePath, explicit)
	if err != nil {
		return p, withCode(exitError, err)
	}
	p = stage.ReconcileParams{Policy: cfg.Policy, Suppressions: append(cfg.Suppressions, ignored...), Watch: cfg.Watch, CAs: table,
		Checks: o.checks, Revocations: loadRevocations}
	for _, s := range o.runs {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return p, withCode(exitError, fmt.Errorf("--run %q: not a run ID", s))
		}
		p.Runs = append(p.Runs, id)
	}
	return p, nil
}

// loadRevocations is replaced when the revocation subsystem is linked in;
// by default no certificate is known to be revoked.
var loadRevocations = func(ctx context.Context, st store.Store) ([]reconcile.Revocation, error) { return nil, nil }

func newChecksCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "checks", Short: "The reconcile checks keyaudit runs"}
	var format string
	list := &cobra.Command{
		Use:   "list",
		Short: "List every registered check with its severity and citations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			type row struct {
				ID          string   `json:"id"`
				Severity    string   `json:"severity"`
				Description string   `json:"description"`
				Help        string   `json:"help"`
				Citations   []string `json:"citations"`
				Controls    []string `json:"controls"`
			}
			out, err := reports.NewStream(a.stdout, format, []reports.Column[row]{
				{Header: "ID", Value: func(r row) string { return r.ID }},
				{Header: "SEVERITY", Value: func(r row) string { return r.Severity }},
				{Header: "DESCRIPTION", Value: func(r row) string { return r.Description }},
				{Header: "CITATIONS", Value: func(r row) string { return strings.Join(r.Citations, "; ") }},
			})
			if err != nil {
				return withCode(exitError, err)
			}
			checks := reconcile.Checks()
			slices.SortFunc(checks, func(x, y *reconcile.Check) int {
				if d := y.Severity.Rank() - x.Severity.Rank(); d != 0 {
					return d
				}
				return strings.Compare(x.ID, y.ID)
			})
			for _, c := range checks {
				if err := out.Write(row{c.ID, string(c.Severity), c.Description, c.Help, c.Citations, c.Controls}); err != nil {
					return withCode(exitError, err)
				}
			}
			return out.Close()
		},
	}
	list.Flags().StringVar(&format, "format", "table", "output format: table, jsonl, json, csv")
	cmd.AddCommand(list)
	return cmd
}
