package main

import (
	"cmp"
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/stage"
	"github.com/keyaudit/keyaudit/store"
)

func init() {
	subcommands = append(subcommands, newFindingsCmd)
}

func newFindingsCmd(a *app) *cobra.Command {
	var state, check, format string
	var history bool
	cmd := &cobra.Command{
		Use:   "findings",
		Short: "List findings across audits: open and resolved, with the evidence and history of each",
		Long: `List the findings the store tracks across reconciles. A finding is open from
the reconcile that first reports it (first_seen never moves), resolved only on
evidence it names (re-scanned and now serves another key, certificate expired
or revoked, key now in the inventory, endpoint gone, suppressed), and reopened
when it is reported again. --history adds every transition.

It only reads the store: a missing store is an error.`,
		Example: `  keyaudit findings
  keyaudit findings --state resolved --format jsonl --history
  keyaudit findings --check unauthorized-issuance`,
		Args: cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error {
			_, err := stage.FindingState(state)
			if err != nil {
				err = fmt.Errorf("--state %w", err)
			} else if check != "" {
				err = reconcile.UnknownCheck(check)
			}
			return cmp.Or(invalid(err), checkFormat(format))
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runFindings(cmd.Context(), state, check, format, history)
		},
	}
	f := cmd.Flags()
	f.StringVar(&state, "state", "open", "open, resolved or all")
	f.StringVar(&check, "check", "", "only this check")
	f.StringVar(&format, "format", "table", "output format: table, jsonl, json, csv")
	f.BoolVar(&history, "history", false, "include each finding's lifecycle events (jsonl/json)")
	return cmd
}

func (a *app) runFindings(ctx context.Context, state, check, format string, history bool) error {
	fstate, _ := stage.FindingState(state) // checked before it runs
	out, err := reports.NewFindingRowStream(a.stdout, format, reports.WithDetails(a.verbose))
	if err != nil {
		return withCode(exitError, err)
	}
	st, err := a.needStore(ctx, "findings reads the store", true)
	if err != nil {
		return err
	}
	defer st.Close()
	rows, err := stage.Findings(ctx, a.stageEnv(st), store.FindingFilter{State: fstate, Check: check}, history)
	if err != nil {
		return withCode(exitError, err)
	}
	return writeAll(out, rows)
}
