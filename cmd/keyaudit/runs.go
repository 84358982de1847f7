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

	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/store"
)

type runsOptions struct {
	kind   string
	group  string
	status []string
	limit  int
	format string
}

func init() {
	subcommands = append(subcommands, newRunsCmd)
}

// itemKinds are the record kinds counted per run, in display order.
var itemKinds = []string{store.KindObservation, store.KindKey, store.KindCAA, store.KindSighting, store.KindFinding, store.KindSourceError}

var runStatuses = []store.RunStatus{store.StatusRunning, store.StatusComplete, store.StatusPartial, store.StatusInterrupted, store.StatusFailed, store.StatusAbandoned}

// runRow is one run as `keyaudit runs` prints it.
type runRow struct {
	store.Run
	// Counts holds the number of records of each kind the run wrote
	// (kinds with none are left out).
	Counts map[string]int64 `json:"counts"`
}

var runsColumns = []reports.Column[runRow]{
	{Header: "ID", Value: func(r runRow) string { return strconv.FormatInt(r.ID, 10) }},
	{Header: "KIND", Value: func(r runRow) string { return r.Kind }},
	{Header: "GROUP", Value: func(r runRow) string { return r.Group }},
	{Header: "STATUS", Value: func(r runRow) string { return string(r.Status) }},
	{Header: "STARTED", Value: func(r runRow) string { return r.Started.UTC().Format(time.RFC3339) }},
	{Header: "ENDED", Value: func(r runRow) string {
		if r.Ended.IsZero() {
			return ""
		}
		return r.Ended.UTC().Format(time.RFC3339)
	}},
	{Header: "RECORDS", Value: func(r runRow) string {
		var parts []string
		for _, k := range itemKinds {
			if n := r.Counts[k]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s=%d", k, n))
			}
		}
		return strings.Join(parts, " ")
	}},
	{Header: "NOTE", Value: func(r runRow) string { return r.Note }},
}

func newRunsCmd(a *app) *cobra.Command {
	o := &runsOptions{}
	cmd := &cobra.Command{
		Use:   "runs [flags]",
		Short: "List the runs recorded in the store, newest first",
		Long: `List the runs recorded in the store, newest first: ID, kind, run group,
status, start and end, and how many records of each kind the run wrote.

The shards of one sharded scan (keyaudit scan --shard i/n --run-group NAME)
are separate runs of one group: --group NAME lists them, and readers such
as reconcile read the union of the group.`,
		Example: `  keyaudit runs
  keyaudit runs --kind scan --group nightly-2026-11-25 --format jsonl
  KEYAUDIT_STORE=postgres://keyaudit@db.internal/keyaudit keyaudit runs --status failed,interrupted`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runRuns(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.kind, "kind", "", "only runs of this kind: scan, inventory, caa, ct, reconcile, audit")
	f.StringVar(&o.group, "group", "", "only runs of this run group")
	f.StringSliceVar(&o.status, "status", nil, "only runs in these statuses: running, complete, partial, interrupted, failed")
	f.IntVar(&o.limit, "limit", 50, "at most this many runs (0: all)")
	f.StringVar(&o.format, "format", "table", "output format: table, jsonl, json, csv")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(reports.StreamFormats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (a *app) runRuns(ctx context.Context, o *runsOptions) error {
	filter := store.RunFilter{Kind: o.kind, Group: o.group, Limit: o.limit}
	if o.limit < 0 {
		return withCode(exitError, errors.New("--limit must not be negative"))
	}
	for _, s := range o.status {
		st := store.RunStatus(strings.ToLower(strings.TrimSpace(s)))
		if !slices.Contains(runStatuses, st) {
			return withCode(exitError, fmt.Errorf("--status %q: want running, complete, partial, interrupted, failed or abandoned", s))
		}
		filter.Status = append(filter.Status, st)
	}
	out, err := reports.NewStream(a.stdout, o.format, runsColumns)
	if err != nil {
		return withCode(exitError, err)
	}
	if a.noStore {
		return withCode(exitError, errors.New("runs lists the store: it cannot run with --no-store"))
	}
	st, err := a.openStoreRO(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	runs, err := st.Runs(ctx, filter)
	if err != nil {
		return withCode(exitError, err)
	}
	lease := store.Lease()
	for _, r := range runs {
		if r.Status == store.StatusRunning && !r.Heartbeat.IsZero() && time.Since(r.Heartbeat) > lease {
			// Read-only: shown as the next writer will mark it.
			r.Status = store.StatusAbandoned
			r.Note = fmt.Sprintf("no heartbeat from %s since %s (lease %s)", r.Holder, r.Heartbeat.UTC().Format(time.RFC3339), lease)
		}
		row := runRow{Run: r, Counts: map[string]int64{}}
		for _, k := range itemKinds {
			n, err := st.Count(ctx, r.ID, k)
			if err != nil {
				return withCode(exitError, err)
			}
			if n > 0 {
				row.Counts[k] = n
			}
		}
		if err := out.Write(row); err != nil {
			return withCode(exitError, err)
		}
	}
	if err := out.Close(); err != nil {
		return withCode(exitError, err)
	}
	return nil
}
