package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyaudit/keyaudit/ctlog"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/scanner"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
)

type auditOptions struct {
	failOn  string
	reports []string // FORMAT=PATH
	stages  []string
	format  string
}

// auditStage is one step of an audit, run as the matching keyaudit
// command with the same config, so an audit does exactly what the
// separate commands would.
type auditStage struct {
	Name   string `json:"stage"`
	Kind   string `json:"-"` // run kind it records
	args   []string
	Status string `json:"status"` // complete, partial, failed, skipped
	RunID  int64  `json:"run_id,omitempty"`
	Note   string `json:"note,omitempty"`
	Took   string `json:"took"`
}

func init() {
	knownSections["audit"] = map[string]bool{"reports": true, "stages": true}
	subcommands = append(subcommands, newAuditCmd)
}

func newAuditCmd(a *app) *cobra.Command {
	o := &auditOptions{}
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Run the whole audit: inventory, scan, CT sync, CAA, reconcile, reports",
		Long: `Run every configured stage in order — inventory, scan, ct sync (bounded
catch-up), caa (for the watched domains and every watched name a certificate
was seen for), reconcile — then write the configured reports, and exit per
--fail-on. Each stage is the matching keyaudit command run with the same
config; a stage runs when its config section exists (inventory:, scan:
with targets, caa: or watch:, ct:). Each stage's outcome (complete, partial,
failed, skipped) is recorded in an "audit" run; a failed stage makes the
audit partial and its exit code 2, never silently clean.

Reports: audit.reports in the config, or --report FORMAT=PATH (repeatable),
e.g. --report html=audit.html --report sarif=keyaudit.sarif.

Exit codes: 0 nothing unsuppressed at or above --fail-on; 1 findings at or
above it; 2 a stage failed or the audit could not run.`,
		Example: `  keyaudit audit --config keyaudit.yaml
  keyaudit audit --config keyaudit.yaml --fail-on critical --report sarif=keyaudit.sarif`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ac struct {
				Reports []struct {
					Format string `yaml:"format"`
					Output string `yaml:"output"`
				} `yaml:"reports"`
				Stages []string `yaml:"stages"`
			}
			if err := a.section("audit", &ac); err != nil {
				return err
			}
			for _, r := range ac.Reports {
				o.reports = append(o.reports, r.Format+"="+r.Output)
			}
			if len(o.stages) == 0 {
				o.stages = ac.Stages
			}
			return a.runAudit(cmd.Context(), cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.failOn, "fail-on", "high", "exit 1 when an unsuppressed finding is at or above this severity (critical, high, medium, low, info, none)")
	f.StringArrayVar(&o.reports, "report", nil, "write a report: FORMAT=PATH (repeatable; formats of keyaudit report)")
	f.StringSliceVar(&o.stages, "stages", nil, "run only these stages (inventory, scan, caa, ct)")
	f.StringVar(&o.format, "format", "table", "format of the findings printed at the end: table, jsonl, json, csv")
	return cmd
}

// sub runs a keyaudit command in process with the audit's global flags
// and config; its stdout goes to out, its stderr to the audit's stderr.
func (a *app) sub(ctx context.Context, out io.Writer, args ...string) int {
	var global []string
	if a.configPath != "" {
		global = append(global, "--config", a.configPath)
	}
	if a.storeURL != "" {
		global = append(global, "--store", a.storeURL)
	}
	if a.verbose {
		global = append(global, "--verbose")
	}
	return run(ctx, append(global, args...), bytes.NewReader(nil), out, a.stderr)
}

func (a *app) runAudit(ctx context.Context, cmd *cobra.Command, o *auditOptions) error {
	if a.noStore {
		return withCode(exitError, errors.New("audit records every stage in the store: --no-store cannot be used"))
	}
	failNone := strings.EqualFold(o.failOn, "none")
	var failOn reconcile.Severity
	if !failNone {
		var err error
		if failOn, err = reconcile.ParseSeverity(o.failOn); err != nil {
			return withCode(exitError, fmt.Errorf("--fail-on: %w", err))
		}
	}
	type reportSpec struct{ format, path string }
	var specs []reportSpec
	for _, r := range o.reports {
		f, p, ok := strings.Cut(r, "=")
		if !ok || f == "" || p == "" {
			return withCode(exitError, fmt.Errorf("--report %q: want FORMAT=PATH", r))
		}
		specs = append(specs, reportSpec{f, p})
	}
	if len(specs) > 0 {
		if _, _, err := cmd.Root().Find([]string{"report"}); err != nil {
			return withCode(exitError, errors.New("reports requested but this keyaudit has no report command"))
		}
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	rec, err := store.Begin(ctx, st, store.RunSpec{Kind: "audit", Meta: map[string]any{"config": a.configPath, "stages": o.stages}}, store.RecorderOptions{})
	if err != nil {
		return withCode(exitError, err)
	}
	defer rec.Close()
	run := rec.Run()
	// runStage runs one stage and learns the run it made (never another
	// process's newest run of that kind).
	runStage := func(s *auditStage, out io.Writer, args ...string) int {
		var made []store.Run
		sctx := store.WithRunObserver(ctx, func(r store.Run) {
			if r.Kind == s.Kind {
				made = append(made, r)
			}
		})
		start := time.Now()
		code := a.sub(sctx, out, args...)
		s.Took = time.Since(start).Round(time.Millisecond).String()
		if len(made) > 0 {
			if r, err := st.GetRun(ctx, made[0].ID); err == nil {
				s.RunID, s.Status, s.Note = r.ID, string(r.Status), r.Note
				if r.Status == store.StatusInterrupted || r.Status == store.StatusRunning || r.Status == store.StatusAbandoned {
					s.Status = "failed"
				}
			}
		}
		return code
	}
	has := func(k string) bool { _, ok := a.config[k]; return ok }
	stages := []*auditStage{
		{Name: "inventory", Kind: "inventory", args: []string{"inventory", "--format", "jsonl"}},
		{Name: "scan", Kind: "scan", args: []string{"scan", "--format", "jsonl"}},
		{Name: "ct", Kind: "ct", args: []string{"ct", "sync", "--format", "jsonl", "--fail-on", "none"}},
		{Name: "caa", Kind: "caa", args: []string{"caa", "--format", "jsonl"}},
	}
	enabled := map[string]bool{"inventory": has("inventory"), "scan": has("scan"), "ct": has("ct"), "caa": has("caa") || has("watch")}
	if len(o.stages) > 0 {
		for k := range enabled {
			enabled[k] = false
		}
		for _, s := range o.stages {
			if _, ok := enabled[s]; !ok {
				return withCode(exitError, fmt.Errorf("--stages: unknown stage %q (inventory, scan, caa, ct)", s))
			}
			enabled[s] = true
		}
	}
	for _, s := range stages {
		if !enabled[s.Name] {
			s.Status, s.Note = "skipped", "not configured"
			continue
		}
		if ctx.Err() != nil {
			s.Status, s.Note = "failed", "interrupted"
			continue
		}
		if s.Name == "caa" {
			// Decide CAA for every watched name a certificate was seen for,
			// not only the watched domains themselves.
			names, err := a.seenNames(ctx, st, stages)
			if err != nil {
				return withCode(exitError, err)
			}
			s.args = append(s.args, names...)
		}
		fmt.Fprintf(a.stderr, "keyaudit: audit: %s …\n", s.Name)
		code := runStage(s, io.Discard, s.args...)
		if code == exitError && s.Status != "partial" {
			s.Status = "failed"
			if s.Note == "" {
				s.Note = "could not run (see the messages above)"
			}
		}
		if s.Status == "" {
			s.Status = "failed"
		}
	}
	// Reconcile what the stages recorded.
	recon := &auditStage{Name: "reconcile", Kind: "reconcile"}
	stages = append(stages, recon)
	if ctx.Err() == nil {
		fmt.Fprintln(a.stderr, "keyaudit: audit: reconcile …")
		var findingsOut bytes.Buffer
		code := runStage(recon, &findingsOut, "reconcile", "--fail-on", "none", "--format", "jsonl")
		if code != exitOK || recon.RunID == 0 {
			recon.Status, recon.Note = "failed", fmt.Sprintf("exit %d", code)
		}
	} else {
		recon.Status, recon.Note = "failed", "interrupted"
	}
	// Record the stages, then render the reports from the audit run, so
	// they show every stage's outcome, failed ones included.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	putStages := func() {
		for _, s := range stages {
			it := store.Item{Kind: "stage", Key: s.Name}
			if err := marshalInto(&it, s); err == nil {
				_ = st.Put(fctx, run.ID, it)
			}
		}
	}
	putStages()
	var written []string
	if recon.Status != "failed" {
		for _, spec := range specs {
			if dir := filepath.Dir(spec.path); dir != "" {
				_ = os.MkdirAll(dir, 0o755)
			}
			code := a.sub(ctx, io.Discard, "report", "--run", fmt.Sprint(run.ID), "--format", spec.format, "-o", spec.path, "--fail-on", o.failOn)
			if code != exitOK && code != exitFindings {
				stages = append(stages, &auditStage{Name: "report " + spec.format, Status: "failed", Note: "could not write " + spec.path})
				continue
			}
			written = append(written, spec.format+": "+spec.path)
		}
		putStages()
	}

	// Record the audit and print its summary.
	status, failed := store.StatusComplete, false
	for _, s := range stages {
		switch s.Status {
		case "failed":
			failed = true
			status = store.StatusPartial
		case "partial":
			status = store.StatusPartial
		}
	}
	var findings []reconcile.Finding
	if recon.RunID != 0 {
		if err := records.Decode(ctx, st, recon.RunID, store.KindFinding, &findings); err != nil {
			return withCode(exitError, err)
		}
		reconcile.Sort(findings)
	}
	note := auditNote(stages, findings)
	if err := rec.Finish(fctx, status, note); err != nil {
		return withCode(exitError, err)
	}

	stageTable := [][]string{}
	for _, s := range stages {
		id := ""
		if s.RunID != 0 {
			id = fmt.Sprint(s.RunID)
		}
		stageTable = append(stageTable, []string{s.Name, s.Status, id, s.Took, s.Note})
	}
	if o.format == "table" {
		fmt.Fprintf(a.stdout, "keyaudit audit run %d: %s — %s\n", run.ID, status, note)
		if err := reports.RenderTable(a.stdout, []string{"STAGE", "STATUS", "RUN", "TOOK", "NOTE"}, stageTable); err != nil {
			return withCode(exitError, err)
		}
	}
	out, err := reports.NewStream(a.stdout, o.format, findingColumns)
	if err != nil {
		return withCode(exitError, err)
	}
	for _, f := range findings {
		if err := out.Write(f); err != nil {
			return withCode(exitError, err)
		}
	}
	if err := out.Close(); err != nil {
		return withCode(exitError, err)
	}
	for _, w := range written {
		fmt.Fprintf(a.stderr, "keyaudit: audit: wrote %s\n", w)
	}
	if failed {
		return withCode(exitError, fmt.Errorf("audit run %d is partial: a stage failed", run.ID))
	}
	if !failNone {
		for _, f := range findings {
			if !f.Suppressed && f.Severity.AtLeast(failOn) {
				return withCode(exitFindings, nil)
			}
		}
	}
	return nil
}

// seenNames are the DNS names, under the watched domains, of the
// certificates this audit's scan and CT stages recorded.
func (a *app) seenNames(ctx context.Context, st store.Store, stages []*auditStage) ([]string, error) {
	var watch []string
	if err := a.section("watch", &watch); err != nil {
		return nil, err
	}
	snap := &reconcile.Snapshot{Watched: watch}
	seen := map[string]bool{}
	var names []string
	add := func(n string) {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if n == "" || seen[n] || !snap.Watches(n) || strings.ContainsAny(n, ":@/ ") {
			return
		}
		seen[n] = true
		names = append(names, n)
	}
	for _, s := range stages {
		if s.RunID == 0 {
			continue
		}
		switch s.Kind {
		case "scan":
			var obs []scanner.Observation
			if err := records.Decode(ctx, st, s.RunID, store.KindObservation, &obs); err != nil {
				return nil, err
			}
			for _, o := range obs {
				if l := o.Leaf(); l != nil {
					for _, n := range l.SANs {
						add(n)
					}
				}
				if o.Host != o.IP {
					add(o.Host)
				}
			}
		case "ct":
			var ss []ctlog.Sighting
			if err := records.Decode(ctx, st, s.RunID, store.KindSighting, &ss); err != nil {
				return nil, err
			}
			for _, sg := range ss {
				for _, n := range sg.Names {
					add(n)
				}
			}
		}
	}
	sort.Strings(names)
	return names, nil
}

func auditNote(stages []*auditStage, fs []reconcile.Finding) string {
	count := map[reconcile.Severity]int{}
	for _, f := range fs {
		if !f.Suppressed {
			count[f.Severity]++
		}
	}
	var parts []string
	for _, s := range reconcile.Severities {
		if count[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", count[s], s))
		}
	}
	var bad []string
	for _, s := range stages {
		if s.Status == "failed" || s.Status == "partial" {
			bad = append(bad, s.Name+" "+s.Status)
		}
	}
	note := "no findings"
	if len(parts) > 0 {
		note = strings.Join(parts, ", ")
	}
	if len(bad) > 0 {
		note += "; " + strings.Join(bad, ", ")
	}
	return note
}
