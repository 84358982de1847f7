package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/stage"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
)

type reportOptions struct {
	run     string
	format  string
	output  string
	failOn  string
	records string
	now     string
}

func init() {
	subcommands = append(subcommands, newReportCmd)
}

func newReportCmd(a *app) *cobra.Command {
	o := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Render the findings, inventory and observations of a reconcile run",
		Long: `Render a reconcile run from the store: its findings, and the inventory, scan,
CAA and CT runs it reconciled (the inputs it recorded; without them, the
latest finished run of each kind). --run names a reconcile run, or an audit
run (whose stages are then shown); the default is the latest reconcile.

Formats:
  table     terminal: verdict, stages, findings by severity, inventory, endpoints
  json      one document: schema, run, summary, rules, findings, keys,
            observations, caa, sightings (schema keyaudit-report/1)
  jsonl     one record per line, each with "record": report, finding, key,
            observation, caa or sighting
  csv       one table: --records findings (default), keys or endpoints;
            cells a spreadsheet would run as formulas are escaped
  sarif     SARIF 2.1.0 for GitHub code scanning (rules from the check registry)
  junit     JUnit XML: a test case per check and subject, failing at --fail-on
  markdown  for pull requests and tickets
  html      one self-contained page for reviewers: charts, compliance mapping
            (PCI DSS 4.0, NIST SP 800-57, HIPAA §164.312, GDPR Art. 32)
  cbom      CycloneDX 1.6 cryptography bill of materials

Exit codes: 0 nothing unsuppressed at or above --fail-on; 1 something is;
2 could not run (no such run, unreadable store, bad flags, unwritable -o).`,
		Example: `  keyaudit report
  keyaudit report --format html -o audit.html
  keyaudit report --format sarif -o keyaudit.sarif --fail-on critical
  keyaudit report --run 42 --format csv --records keys`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runReport(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.run, "run", "", "reconcile or audit run ID to report (default: the latest reconcile)")
	f.StringVar(&o.format, "format", "table", "output format: "+strings.Join(reports.ReportFormats, ", "))
	f.StringVarP(&o.output, "output", "o", "", "write to this file instead of stdout (replaced only once the report is complete)")
	f.StringVar(&o.failOn, "fail-on", "high", "exit 1 when an unsuppressed finding is at or above this severity (critical, high, medium, low, info, none)")
	f.StringVar(&o.records, "records", "", "csv only: findings (default), keys or endpoints")
	f.StringVar(&o.now, "now", "", "report date, RFC 3339 (default: now); fixes the output for reproducible reports")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(reports.ReportFormats, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (a *app) runReport(ctx context.Context, o *reportOptions) error {
	if _, ok := reports.Renderers[o.format]; !ok {
		return withCode(exitError, fmt.Errorf("--format %q: want one of %s", o.format, strings.Join(reports.ReportFormats, ", ")))
	}
	opts := reports.Options{FailOn: reports.FailNone, Records: o.records}
	if !strings.EqualFold(o.failOn, "none") {
		sev, err := reconcile.ParseSeverity(o.failOn)
		if err != nil {
			return withCode(exitError, fmt.Errorf("--fail-on: %w", err))
		}
		opts.FailOn = sev
	}
	switch o.records {
	case "", reports.RecordsFindings, reports.RecordsKeys, reports.RecordsEndpoints:
	default:
		return withCode(exitError, fmt.Errorf("--records %q: want findings, keys or endpoints", o.records))
	}
	now := time.Now().UTC()
	if o.now != "" {
		t, err := time.Parse(time.RFC3339, o.now)
		if err != nil {
			return withCode(exitError, fmt.Errorf("--now: %w", err))
		}
		now = t.UTC()
	}
	var runID int64
	if o.run != "" {
		id, err := strconv.ParseInt(o.run, 10, 64)
		if err != nil || id <= 0 {
			return withCode(exitError, fmt.Errorf("--run %q: not a run ID", o.run))
		}
		runID = id
	}
	if a.noStore {
		return withCode(exitError, errors.New("report reads its run from the store: --no-store cannot be used"))
	}
	st, err := a.openStoreRO(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := loadReport(ctx, st, runID)
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
		if err := reports.Render(a.stdout, o.format, r, opts); err != nil {
			return withCode(exitError, err)
		}
	} else if err := writeFileAtomic(o.output, func(w io.Writer) error { return reports.Render(w, o.format, r, opts) }); err != nil {
		return withCode(exitError, err)
	}
	for _, f := range r.Findings {
		if opts.Fails(f) {
			return withCode(exitFindings, nil)
		}
	}
	return nil
}

func toolVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

// writeFileAtomic writes a temporary file beside path and renames it over
// path once fn succeeded: a failed report never leaves half a file where
// a CI job or a reviewer expects a whole one.
func writeFileAtomic(path string, fn func(io.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("-o %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := fn(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("-o %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("-o %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("-o %s: %w", path, err)
	}
	return nil
}

// auditStageItem is a "stage" item of an audit run (cmd/keyaudit/audit.go).
type auditStageItem struct {
	Name   string `json:"stage"`
	Status string `json:"status"`
	RunID  int64  `json:"run_id"`
	Note   string `json:"note"`
}

// loadReport reads a report's records from the store: the reconcile run
// (runID, an audit run's reconcile stage, or the latest finished
// reconcile), its findings, and the input runs it recorded.
func loadReport(ctx context.Context, st store.Store, runID int64) (*reports.Report, error) {
	var recon store.Run
	var audit *store.Run
	var stages []reports.Stage
	switch {
	case runID != 0:
		r, err := st.GetRun(ctx, runID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("--run %d: no such run", runID)
		}
		if err != nil {
			return nil, err
		}
		switch r.Kind {
		case "reconcile":
			recon = r
		case "audit":
			audit = &r
			var reconID int64
			err := st.Items(ctx, r.ID, "stage", func(it store.Item) error {
				var s auditStageItem
				if err := json.Unmarshal(it.Data, &s); err != nil {
					return fmt.Errorf("audit run %d: stage %q: %w", r.ID, it.Key, err)
				}
				if s.Name == "reconcile" {
					reconID = s.RunID
				}
				stages = append(stages, reports.Stage{Name: s.Name, RunID: s.RunID, Status: s.Status, Note: s.Note})
				return nil
			})
			if err != nil {
				return nil, err
			}
			if reconID == 0 {
				return nil, fmt.Errorf("audit run %d has no reconcile stage to report", r.ID)
			}
			if recon, err = st.GetRun(ctx, reconID); err != nil {
				return nil, fmt.Errorf("audit run %d: reconcile run %d: %w", r.ID, reconID, err)
			}
		default:
			return nil, fmt.Errorf("run %d is a %s run: report reads a reconcile or audit run", r.ID, r.Kind)
		}
	default:
		r, err := store.Latest(ctx, st, "reconcile", store.StatusComplete, store.StatusPartial)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errors.New("the store holds no finished reconcile run: run keyaudit reconcile (or keyaudit audit) first")
		}
		if err != nil {
			return nil, err
		}
		recon = r
	}

	rep := &reports.Report{}
	if err := records.Decode(ctx, st, recon.ID, store.KindFinding, &rep.Findings); err != nil {
		return nil, fmt.Errorf("read findings of run %d: %w", recon.ID, err)
	}
	// A reconcile records the estate it read beside its findings.
	for _, err := range []error{
		records.Decode(ctx, st, recon.ID, store.KindObservation, &rep.Observations),
		records.Decode(ctx, st, recon.ID, store.KindKey, &rep.Keys),
		records.Decode(ctx, st, recon.ID, store.KindCAA, &rep.CAA),
		records.Decode(ctx, st, recon.ID, store.KindSighting, &rep.Sightings),
		records.Decode(ctx, st, recon.ID, stage.KindResolved, &rep.Resolved),
	} {
		if err != nil {
			return nil, fmt.Errorf("read run %d: %w", recon.ID, err)
		}
	}
	var meta struct {
		Inputs []reconcile.SourceStatus `json:"inputs"`
	}
	_ = json.Unmarshal(recon.Meta, &meta)
	if len(rep.Observations)+len(rep.Keys)+len(rep.CAA)+len(rep.Sightings) == 0 {
		// A reconcile from before the estate view recorded only the runs
		// it read: read them.
		for _, in := range meta.Inputs {
			if in.RunID == 0 {
				continue
			}
			var err error
			switch in.Kind {
			case "scan":
				err = records.Decode(ctx, st, in.RunID, store.KindObservation, &rep.Observations)
			case "inventory":
				err = records.Decode(ctx, st, in.RunID, store.KindKey, &rep.Keys)
			case "caa":
				err = records.Decode(ctx, st, in.RunID, store.KindCAA, &rep.CAA)
			case "ct":
				err = records.Decode(ctx, st, in.RunID, store.KindSighting, &rep.Sightings)
			}
			if err != nil {
				return nil, fmt.Errorf("read run %d: %w", in.RunID, err)
			}
		}
	}
	if audit == nil {
		for _, in := range meta.Inputs {
			stages = append(stages, reports.Stage{Name: in.Kind, RunID: in.RunID, Status: in.Status, Note: in.Note})
		}
	}
	if audit == nil {
		stages = append(stages, reports.Stage{Name: "reconcile", RunID: recon.ID, Status: string(recon.Status), Note: recon.Note})
		rep.Run = reports.RunInfo{ID: recon.ID, Kind: recon.Kind, Group: recon.Group, Status: string(recon.Status),
			Started: recon.Started, Ended: recon.Ended, Note: recon.Note, Stages: stages}
		return rep, nil
	}
	// An audit writes its reports before it finishes: judge it by its
	// stages while it is still running.
	status := string(audit.Status)
	if audit.Status == store.StatusRunning {
		status = reports.StageComplete
		for _, s := range stages {
			if s.Status != reports.StageComplete && s.Status != reports.StageSkipped {
				status = reports.StagePartial
			}
		}
	}
	rep.Run = reports.RunInfo{ID: audit.ID, Kind: audit.Kind, Group: audit.Group, Status: status,
		Started: audit.Started, Ended: audit.Ended, Note: audit.Note, Stages: stages}
	return rep, nil
}
