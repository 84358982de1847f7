package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/store"
)

func init() {
	subcommands = append(subcommands, newFindingsCmd)
}

// findingRow is one finding as `keyaudit findings` prints it.
type findingRow struct {
	reconcile.Finding
	Fingerprint string               `json:"fingerprint"`
	State       string               `json:"state"`
	LastSeen    time.Time            `json:"last_seen"`
	Since       time.Time            `json:"since"`
	Resolution  map[string]any       `json:"resolution,omitempty"`
	History     []store.FindingEvent `json:"history,omitempty"`
}

var findingRowColumns = []reports.Column[findingRow]{
	{Header: "STATE", Value: func(r findingRow) string { return r.State }},
	{Header: "SEVERITY", Value: func(r findingRow) string { return string(r.Severity) }},
	{Header: "CHECK", Value: func(r findingRow) string { return r.Check }},
	{Header: "SUBJECT", Value: func(r findingRow) string { return r.Subject }},
	{Header: "ENDPOINT", Value: func(r findingRow) string { return r.Endpoint }},
	{Header: "FIRST SEEN", Value: func(r findingRow) string { return r.FirstSeen.UTC().Format("2006-01-02 15:04") }},
	{Header: "SINCE", Value: func(r findingRow) string { return r.Since.UTC().Format("2006-01-02 15:04") }},
	{Header: "EVIDENCE", Value: func(r findingRow) string {
		if d, ok := r.Resolution["detail"].(string); ok {
			return d
		}
		return ""
	}},
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
	filter := store.FindingFilter{Check: check}
	switch strings.ToLower(state) {
	case "open", "resolved":
		filter.State = strings.ToLower(state)
	case "all", "":
	default:
		return withCode(exitError, fmt.Errorf("--state %q: want open, resolved or all", state))
	}
	if check != "" {
		if _, ok := reconcile.Lookup(check); !ok {
			return withCode(exitError, fmt.Errorf("--check: unknown check %q (see keyaudit checks list)", check))
		}
	}
	out, err := reports.NewStream(a.stdout, format, findingRowColumns, reports.SortRows)
	if err != nil {
		return withCode(exitError, err)
	}
	if a.noStore {
		return withCode(exitError, errors.New("findings reads the store: it cannot run with --no-store"))
	}
	st, err := a.openStoreRO(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	var rows []findingRow
	err = st.Findings(ctx, filter, func(r store.FindingRecord) error {
		row := findingRow{Fingerprint: r.Fingerprint, State: r.State, LastSeen: r.LastSeen, Since: r.Since}
		if err := json.Unmarshal(r.Data, &row.Finding); err != nil {
			return fmt.Errorf("finding %s: %w", r.Fingerprint, err)
		}
		row.FirstSeen = r.FirstSeen
		if r.State == store.FindingResolved && len(r.Evidence) > 0 {
			_ = json.Unmarshal(r.Evidence, &row.Resolution)
		}
		rows = append(rows, row)
		return nil
	})
	if err != nil {
		return withCode(exitError, err)
	}
	fs := make([]reconcile.Finding, len(rows))
	for i := range rows {
		fs[i] = rows[i].Finding
	}
	for _, row := range rows {
		if history {
			if err := st.FindingEvents(ctx, row.Fingerprint, func(e store.FindingEvent) error {
				row.History = append(row.History, e)
				return nil
			}); err != nil {
				return withCode(exitError, err)
			}
		}
		if err := out.Write(row); err != nil {
			return withCode(exitError, err)
		}
	}
	return out.Close()
}
