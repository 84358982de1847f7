package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/stage"
)

type reportOptions struct {
	req    stage.ReportRequest
	output string
	failOn string
}

func init() {
	subcommands = append(subcommands, newReportCmd)
}

func newReportCmd(a *app) *cobra.Command {
	o := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Render the findings, inventory and observations of a reconcile run",
		Long:  help("report"),
		Example: `  keyaudit report
  keyaudit report --format html -o audit.html
  keyaudit report --format sarif -o keyaudit.sarif --fail-on critical
  keyaudit report --run 42 --format csv --records keys`,
		Args: cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error {
			_, _, err := o.req.Parse()
			return cmp.Or(checkFailOn(o.failOn), invalid(err))
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runReport(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.req.Run, "run", "", "reconcile or audit run ID to report (default: the latest reconcile)")
	f.StringVar(&o.req.Format, "format", "table", "output format: "+strings.Join(reports.ReportFormats, ", "))
	f.StringVarP(&o.output, "output", "o", "", "write to this file instead of stdout (replaced only once the report is complete)")
	f.StringVar(&o.failOn, "fail-on", "high", "exit 1 when an unsuppressed finding is at or above this severity (critical, high, medium, low, info, none)")
	f.StringVar(&o.req.Records, "records", "", "csv only: findings (default), keys or endpoints")
	f.StringVar(&o.req.Now, "now", "", "report date, RFC 3339 (default: now); fixes the output for reproducible reports")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(reports.ReportFormats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (a *app) runReport(ctx context.Context, o *reportOptions) error {
	threshold, err := parseFailOn(o.failOn)
	if err != nil {
		return err
	}
	runID, now, err := o.req.Parse()
	if err != nil {
		return withCode(exitError, err)
	}
	opts := reports.Options{FailOn: threshold.Severity(), Records: o.req.Records}
	st, err := a.needStore(ctx, "report reads its run from the store", true)
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := stage.LoadReport(ctx, st, runID)
	if err != nil {
		return withCode(exitError, err)
	}
	r.GeneratedAt = now
	r.Tool = reports.Tool{Name: "keyaudit", Version: toolVersion()}
	r.Rules = reports.RulesFromChecks(reconcile.Checks())
	if dir, err := os.Getwd(); err == nil {
		opts.BaseDir = dir
	}

	if o.output == "" || o.output == "-" {
		if err := reports.Render(a.stdout, o.req.Format, r, opts); err != nil {
			return withCode(exitError, err)
		}
	} else if err := stage.WriteOutput(o.output, func(w io.Writer) error { return reports.Render(w, o.req.Format, r, opts) }); err != nil {
		return withCode(exitError, fmt.Errorf("-o: %w", err))
	}
	for _, f := range r.Findings {
		if opts.Fails(f) {
			return withCode(exitFindings, nil)
		}
	}
	return nil
}
