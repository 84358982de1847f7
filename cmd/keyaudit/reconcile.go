package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyaudit/keyaudit/reconcile"
	_ "github.com/keyaudit/keyaudit/reconcile/checks" // registers the checks
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/scanner/caa"
	"github.com/keyaudit/keyaudit/store"
)

// inputKinds are the run kinds a reconcile reads.
var inputKinds = []string{"scan", "inventory", "caa", "ct"}

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
	CAs          []caa.CA
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
	f.StringVar(&o.ignore, "ignore-file", "", "accepted risks: a YAML list of {check, subject|endpoint|spki_sha256|cert_sha256|fingerprint, reason, until} (default "+defaultIgnoreFile+" when it exists)")
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
		CAs []caa.CA `yaml:"cas"`
	}
	if err := a.section("caa", &cc); err != nil {
		return c, err
	}
	c.CAs = cc.CAs
	return c, nil
}

// findingColumns are the table and CSV columns of findings.
var findingColumns = []reports.Column[reconcile.Finding]{
	{Header: "SEVERITY", Value: func(f reconcile.Finding) string {
		if f.Suppressed {
			return string(f.Severity) + " (suppressed)"
		}
		return string(f.Severity)
	}},
	{Header: "CHECK", Value: func(f reconcile.Finding) string { return f.Check }},
	{Header: "SUBJECT", Value: func(f reconcile.Finding) string { return f.Subject }},
	{Header: "ENDPOINT", Value: func(f reconcile.Finding) string { return f.Endpoint }},
	{Header: "MESSAGE", Value: func(f reconcile.Finding) string { return f.Message }},
	{Header: "SPKI SHA-256", Value: func(f reconcile.Finding) string { return f.SPKISHA256 }},
}

func (a *app) runReconcile(ctx context.Context, o *reconcileOptions, cfg reconcileConfig) error {
	failOn, failNone := reconcile.Severity(""), strings.EqualFold(o.failOn, "none")
	if !failNone {
		var err error
		if failOn, err = reconcile.ParseSeverity(o.failOn); err != nil {
			return withCode(exitError, fmt.Errorf("--fail-on: %w", err))
		}
	}
	for _, id := range o.checks {
		if _, ok := reconcile.Lookup(id); !ok {
			return withCode(exitError, fmt.Errorf("--check: unknown check %q (see keyaudit checks list)", id))
		}
	}
	now := time.Now()
	if o.now != "" {
		t, err := time.Parse(time.RFC3339, o.now)
		if err != nil {
			return withCode(exitError, fmt.Errorf("--now: %w", err))
		}
		now = t
	}
	table, err := caa.NewTable(cfg.CAs)
	if err != nil {
		return withCode(exitError, fmt.Errorf("config caa.cas: %w", err))
	}
	ignorePath, explicit := o.ignore, o.ignore != ""
	if !explicit {
		ignorePath = defaultIgnoreFile
	}
	ignored, err := loadIgnoreFile(ignorePath, explicit)
	if err != nil {
		return withCode(exitError, err)
	}
	cfg.Suppressions = append(cfg.Suppressions, ignored...)
	if a.noStore {
		return withCode(exitError, errors.New("reconcile reads its inputs from the store: --no-store cannot be used"))
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	out, err := reports.NewStream(a.stdout, o.format, findingColumns)
	if err != nil {
		return withCode(exitError, err)
	}
	snap, err := loadSnapshot(ctx, st, o.runs)
	if err != nil {
		return withCode(exitError, err)
	}
	snap.Now, snap.Policy, snap.Watched, snap.CAs = now, cfg.Policy, cfg.Watch, table
	prev, err := previousFindings(ctx, st)
	if err != nil {
		return withCode(exitError, err)
	}
	res := reconcile.Run(snap, reconcile.Options{Checks: o.checks, Suppressions: cfg.Suppressions, Previous: prev})

	run, err := st.BeginRun(ctx, store.RunSpec{Kind: "reconcile", Meta: map[string]any{"inputs": snap.Sources, "checks": o.checks, "now": now}})
	if err != nil {
		return withCode(exitError, err)
	}
	items := make([]store.Item, 0, len(res.Findings))
	for _, f := range res.Findings {
		it := store.Item{Kind: store.KindFinding, Key: f.Fingerprint(), SPKISHA256: f.SPKISHA256, CertSHA256: f.CertSHA256}
		if err := marshalInto(&it, f); err != nil {
			return withCode(exitError, err)
		}
		items = append(items, it)
	}
	status := store.StatusComplete
	for _, s := range snap.Sources {
		if s.Status != string(store.StatusComplete) {
			status = store.StatusPartial
		}
	}
	note := fmt.Sprintf("%d findings (%d new, %d resolved) from %d inputs", len(res.Findings), len(res.New), len(res.Resolved), len(snap.Sources))
	if err := st.Put(ctx, run.ID, items...); err != nil {
		_ = st.FinishRun(context.WithoutCancel(ctx), run.ID, store.StatusFailed, err.Error())
		return withCode(exitError, err)
	}
	if err := st.FinishRun(ctx, run.ID, status, note); err != nil {
		return withCode(exitError, err)
	}
	for _, f := range res.Findings {
		if err := out.Write(f); err != nil {
			return withCode(exitError, err)
		}
	}
	if err := out.Close(); err != nil {
		return withCode(exitError, err)
	}
	if len(snap.Sources) == 0 {
		fmt.Fprintln(a.stderr, "keyaudit: reconcile: the store holds no scan, inventory, caa or ct run yet")
	}
	if !failNone {
		for _, f := range res.Findings {
			if !f.Suppressed && f.Severity.AtLeast(failOn) {
				return withCode(exitFindings, nil)
			}
		}
	}
	return nil
}

// inputRuns picks the runs a reconcile reads: the named ones, else for
// each kind the latest finished (complete or partial) run, with the rest
// of its run group.
func inputRuns(ctx context.Context, st store.Store, named []string) ([]store.Run, error) {
	var runs []store.Run
	if len(named) > 0 {
		for _, s := range named {
			id, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("--run %q: not a run ID", s)
			}
			r, err := st.GetRun(ctx, id)
			if err != nil {
				return nil, fmt.Errorf("--run %d: %w", id, err)
			}
			runs = append(runs, r)
		}
		return runs, nil
	}
	for _, kind := range inputKinds {
		r, err := store.Latest(ctx, st, kind, store.StatusComplete, store.StatusPartial)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if r.Group == "" {
			runs = append(runs, r)
			continue
		}
		group, err := st.Runs(ctx, store.RunFilter{Kind: kind, Group: r.Group, Status: []store.RunStatus{store.StatusComplete, store.StatusPartial}})
		if err != nil {
			return nil, err
		}
		runs = append(runs, group...)
	}
	return runs, nil
}

// loadSnapshot reads the inputs of a reconcile from the store.
func loadSnapshot(ctx context.Context, st store.Store, named []string) (*reconcile.Snapshot, error) {
	runs, err := inputRuns(ctx, st, named)
	if err != nil {
		return nil, err
	}
	s := &reconcile.Snapshot{}
	for _, r := range runs {
		s.Sources = append(s.Sources, reconcile.SourceStatus{Kind: r.Kind, RunID: r.ID, Status: string(r.Status), Note: r.Note})
		var err error
		switch r.Kind {
		case "scan":
			err = decodeItems(ctx, st, r.ID, store.KindObservation, &s.Observations)
		case "inventory":
			err = decodeItems(ctx, st, r.ID, store.KindKey, &s.Keys)
		case "caa":
			err = decodeItems(ctx, st, r.ID, store.KindCAA, &s.CAA)
		case "ct":
			if err = decodeItems(ctx, st, r.ID, store.KindSighting, &s.Sightings); err == nil {
				var fs []reconcile.Finding
				err = decodeItems(ctx, st, r.ID, store.KindFinding, &fs)
				for _, f := range fs {
					if f.Check == "ct-log-misbehaviour" {
						kind, _ := f.Evidence["kind"].(string)
						s.LogIssues = append(s.LogIssues, reconcile.LogIssue{Log: f.Subject, Kind: kind, Message: f.Message, Detail: f.Evidence})
					}
				}
			}
		default:
			return nil, fmt.Errorf("run %d is a %s run: reconcile reads scan, inventory, caa and ct runs", r.ID, r.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("read run %d: %w", r.ID, err)
		}
	}
	if err := loadScanHistory(ctx, st, runs, s); err != nil {
		return nil, err
	}
	revs, err := loadRevocations(ctx, st)
	if err != nil {
		return nil, err
	}
	s.Revocations = revs
	return s, nil
}

// loadScanHistory fills what the zlint and drift checks read beyond the
// observations: the DER of the leaves served in the scan runs (only
// those, to bound memory), and the observations of the previous complete
// scan — the newest complete scan run older than every scan run in use and
// of another run group, with the rest of its group.
func loadScanHistory(ctx context.Context, st store.Store, runs []store.Run, s *reconcile.Snapshot) error {
	var oldest int64
	groups := map[string]bool{}
	var scans []store.Run
	for _, r := range runs {
		if r.Kind != "scan" {
			continue
		}
		scans = append(scans, r)
		if oldest == 0 || r.ID < oldest {
			oldest = r.ID
		}
		if r.Group != "" {
			groups[r.Group] = true
		}
	}
	if len(scans) == 0 {
		return nil
	}
	leaves := map[string]bool{}
	for i := range s.Observations {
		if l := s.Observations[i].Leaf(); l != nil {
			leaves[l.SHA256] = true
		}
	}
	s.CertDER = make(map[string][]byte, len(leaves))
	for _, r := range scans {
		err := st.Items(ctx, r.ID, store.KindCertificate, func(it store.Item) error {
			if !leaves[it.Key] || s.CertDER[it.Key] != nil {
				return nil
			}
			var v struct {
				DER []byte `json:"der"`
			}
			if err := json.Unmarshal(it.Data, &v); err != nil {
				return fmt.Errorf("%s %q: %w", store.KindCertificate, it.Key, err)
			}
			s.CertDER[it.Key] = v.DER
			return nil
		})
		if err != nil {
			return fmt.Errorf("read run %d: %w", r.ID, err)
		}
	}

	done, err := st.Runs(ctx, store.RunFilter{Kind: "scan", Status: []store.RunStatus{store.StatusComplete}})
	if err != nil {
		return err
	}
	var prev *store.Run
	for i := range done { // newest first
		if done[i].ID < oldest && (done[i].Group == "" || !groups[done[i].Group]) {
			prev = &done[i]
			break
		}
	}
	if prev == nil {
		return nil
	}
	members := []store.Run{*prev}
	if prev.Group != "" {
		if members, err = st.Runs(ctx, store.RunFilter{Kind: "scan", Group: prev.Group}); err != nil {
			return err
		}
	}
	status := reconcile.SourceStatus{Kind: "scan", RunID: prev.ID, Status: string(store.StatusComplete), Note: prev.Note}
	for _, m := range members {
		if m.Status != store.StatusComplete && m.Status != store.StatusPartial {
			// A failed or unfinished shard: the group saw only part of
			// the estate, so its absences prove nothing.
			status.Status, status.Note = string(store.StatusPartial), fmt.Sprintf("run %d of group %s is %s", m.ID, prev.Group, m.Status)
			continue
		}
		if m.Status != store.StatusComplete {
			status.Status, status.Note = string(m.Status), fmt.Sprintf("run %d of group %s: %s", m.ID, prev.Group, m.Note)
		}
		if err := decodeItems(ctx, st, m.ID, store.KindObservation, &s.PreviousObservations); err != nil {
			return fmt.Errorf("read run %d: %w", m.ID, err)
		}
	}
	s.PreviousScan = &status
	return nil
}

// loadRevocations is replaced when the revocation subsystem is linked in;
// by default no certificate is known to be revoked.
var loadRevocations = func(ctx context.Context, st store.Store) ([]reconcile.Revocation, error) { return nil, nil }

func decodeItems[T any](ctx context.Context, st store.Store, runID int64, kind string, into *[]T) error {
	return st.Items(ctx, runID, kind, func(it store.Item) error {
		var v T
		if err := json.Unmarshal(it.Data, &v); err != nil {
			return fmt.Errorf("%s %q: %w", kind, it.Key, err)
		}
		*into = append(*into, v)
		return nil
	})
}

// previousFindings are those of the latest reconcile, for drift.
func previousFindings(ctx context.Context, st store.Store) ([]reconcile.Finding, error) {
	r, err := store.Latest(ctx, st, "reconcile", store.StatusComplete, store.StatusPartial)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var fs []reconcile.Finding
	return fs, decodeItems(ctx, st, r.ID, store.KindFinding, &fs)
}

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
