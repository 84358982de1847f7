package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/stage"
	"github.com/keyaudit/keyaudit/store"
)

type runsOptions struct {
	filter store.RunFilter // --kind, --group, --limit; its Status comes from status
	status []string
	format string
}

func init() {
	subcommands = append(subcommands, newRunsCmd)
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
		Args:    cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error { return o.check() },
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runRuns(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.filter.Kind, "kind", "", "only runs of this kind: scan, inventory, caa, ct, reconcile, audit")
	f.StringVar(&o.filter.Group, "group", "", "only runs of this run group")
	f.StringSliceVar(&o.status, "status", nil, "only runs in these statuses: running, complete, partial, interrupted, failed")
	f.IntVar(&o.filter.Limit, "limit", 50, "at most this many runs (0: all)")
	f.StringVar(&o.format, "format", "table", "output format: table, jsonl, json, csv")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(reports.StreamFormats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// check validates o and sets its filter's statuses (exit 2 when invalid).
func (o *runsOptions) check() error {
	if o.filter.Limit < 0 {
		return withCode(exitError, errors.New("--limit must not be negative"))
	}
	var err error
	if o.filter.Status, err = stage.RunStatuses(o.status); err != nil {
		return withCode(exitError, fmt.Errorf("--status %w", err))
	}
	return checkFormat(o.format)
}

func (a *app) runRuns(ctx context.Context, o *runsOptions) error {
	out, err := reports.NewStream(a.stdout, o.format, reports.RunColumns)
	if err != nil {
		return withCode(exitError, err)
	}
	st, err := a.needStore(ctx, "runs lists the store", true)
	if err != nil {
		return err
	}
	defer st.Close()
	rows, err := stage.Runs(ctx, a.stageEnv(st), o.filter)
	if err != nil {
		return withCode(exitError, err)
	}
	return writeAll(out, rows)
}
