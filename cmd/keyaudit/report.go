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
	req     stage.ReportRequest
	output  string
	failOn  string
	summary bool
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
  keyaudit report --format markdown --summary -o comment.md
  keyaudit report --run 42 --format csv --records keys`,
		Args: cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error {
			_, _, err := o.req.Parse()
			if err == nil && o.summary && o.req.Format != reports.FormatMarkdown {
				err = fmt.Errorf("--summary: only with --format markdown")
			}
			if o.failOn != "" {
				if ferr := checkFailOn(o.failOn); ferr != nil {
					return ferr
				}
			}
			return invalid(err)
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runReport(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.req.Run, "run", "", "reconcile or audit run ID to report (default: the latest reconcile)")
	f.StringVar(&o.req.Format, "format", "table", "output format: "+strings.Join(reports.ReportFormats, ", "))
	f.StringVarP(&o.output, "output", "o", "", "write to this file instead of stdout (replaced only once the report is complete)")
	f.StringVar(&o.failOn, "fail-on", "", "exit 1 when an unsuppressed finding is at or above this severity (critical, high, medium, low, info, none); unset, report exits 0 and JUnit and verdicts use high")
	f.BoolVar(&o.summary, "summary", false, "markdown only: a summary for a pull request comment (counts, top findings, changes since the last audit; under 65,536 characters)")
	f.StringVar(&o.req.Records, "records", "", "csv only: findings (default), keys or endpoints")
	f.StringVar(&o.req.Now, "now", "", "report date, RFC 3339 (default: now); fixes the output for reproducible reports")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(reports.ReportFormats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (a *app) runReport(ctx context.Context, o *reportOptions) error {
	// Rendering is not a gate: without --fail-on, report exits 0 and
	// JUnit and verdicts use the default threshold.
	threshold, err := parseFailOn(cmp.Or(o.failOn, "high"))
	if err != nil {
		return err
	}
	runID, now, err := o.req.Parse()
	if err != nil {
		return withCode(exitError, err)
	}
	opts := reports.Options{FailOn: threshold.Severity(), Records: o.req.Records, Summary: o.summary,
		Locate: stage.ConfigLocator(a.configPath, a.config)}
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
	if o.failOn == "" {
		return nil
	}
	return threshold.exit(r.Findings)
}
