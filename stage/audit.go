package stage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/notify"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
)

// Stage statuses of an audit beyond the run statuses.
const (
	StageSkipped = "skipped"
	StageFailed  = "failed"
)

// AuditStep is one input stage of an audit: Run runs it (with no output of
// its own) and returns how it ended; Skip, when set, says why it does not
// run. Run errors mean the stage could not run.
type AuditStep struct {
	Name string
	Skip string
	// Run gets the outcomes of the steps before it (the CAA stage decides
	// for the names the scan and CT stages saw).
	Run func(ctx context.Context, env Env, before []Outcome) (Outcome, error)
}

// ReportSpec is one report an audit writes.
type ReportSpec struct {
	Format string
	Path   string
	// Configured reports (the config's audit.reports) may create their
	// folder anywhere; others only inside the working directory.
	Configured bool
}

// AuditPlan is what an audit does, in order: the input stages, the
// reconcile, the reports.
type AuditPlan struct {
	Steps     []AuditStep
	Reconcile ReconcileParams
	Reports   []ReportSpec
	// ReportOptions are the renderers' options (fail-on for JUnit, …).
	ReportOptions reports.Options
	// Tool names keyaudit in the reports.
	Tool reports.Tool
	Meta map[string]any
	// Notify, when set, sends the outbox's notifications at the end
	// (the reconcile's events and the failed stages').
	Notify *notify.Sender
}

// AuditResult is how an audit ended.
type AuditResult struct {
	RunID    int64
	Status   store.RunStatus
	Note     string
	Stages   []Outcome
	Findings []reconcile.Finding
	Written  []string // format: path
	// Failed is set when a stage could not run: the audit is partial and
	// never silently clean.
	Failed bool
}

// Audit runs an audit: every step in order, the reconcile of the estate
// they updated, the reports — recording each stage's outcome in a run of
// kind "audit", so reports show failed stages too. Each step's runs are
// the ones it made itself: concurrent audits never pick up each other's.
func Audit(ctx context.Context, env Env, p AuditPlan) (AuditResult, error) {
	var res AuditResult
	st := env.Store
	if st == nil {
		return res, errors.New("audit records every stage in the store: no store")
	}
	rec, err := store.Begin(ctx, st, store.RunSpec{Kind: "audit", Meta: p.Meta}, store.RecorderOptions{})
	if err != nil {
		return res, err
	}
	defer rec.Close()
	res.RunID = rec.ID()
	log := env.logger()
	for _, step := range p.Steps {
		o := Outcome{Stage: step.Name}
		switch {
		case step.Skip != "":
			o.Status, o.Note = StageSkipped, step.Skip
		case ctx.Err() != nil:
			o.Status, o.Note = StageFailed, "interrupted"
		default:
			fmt.Fprintf(env.stderr(), "keyaudit: audit: %s …\n", step.Name)
			start := time.Now()
			got, err := step.Run(ctx, env, res.Stages)
			if got.Stage == "" {
				got.Stage = step.Name
			}
			o = got
			o.Took = time.Since(start)
			o.TookText = o.Took.Round(time.Millisecond).String()
			switch {
			case err != nil && o.Status != store.StatusPartial:
				o.Status, o.Note = StageFailed, err.Error()
			case o.Status == store.StatusInterrupted || o.Status == store.StatusRunning || o.Status == store.StatusAbandoned || o.Status == "":
				o.Status = StageFailed
			}
			log.Info("audit: stage done", "stage", o.Stage, "run", o.RunID, "status", o.Status)
		}
		res.Stages = append(res.Stages, o)
	}

	recon := Outcome{Stage: "reconcile", Status: StageFailed, Note: "interrupted"}
	var rr ReconcileResult
	if ctx.Err() == nil {
		fmt.Fprintln(env.stderr(), "keyaudit: audit: reconcile …")
		rr, err = Reconcile(ctx, env, p.Reconcile)
		recon = rr.Outcome
		if err != nil {
			recon.Status, recon.Note = StageFailed, err.Error()
		}
		res.Findings = rr.Findings
	}
	res.Stages = append(res.Stages, recon)

	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := putStages(fctx, rec, res.Stages); err != nil {
		return res, err
	}
	if recon.Status != StageFailed {
		for _, spec := range p.Reports {
			err := writeReport(ctx, st, res.RunID, spec, p)
			if err != nil {
				res.Stages = append(res.Stages, Outcome{Stage: "report " + spec.Format, Status: StageFailed, Note: err.Error()})
				continue
			}
			res.Written = append(res.Written, spec.Format+": "+spec.Path)
		}
		if err := putStages(fctx, rec, res.Stages); err != nil {
			return res, err
		}
	}
	if p.Notify != nil {
		fmt.Fprintln(env.stderr(), "keyaudit: audit: notify …")
		res.Stages = append(res.Stages, notifyStage(ctx, env, p, res.RunID, res.Stages))
		if err := putStages(fctx, rec, res.Stages); err != nil {
			return res, err
		}
	}
	res.Status = store.StatusComplete
	for _, s := range res.Stages {
		switch s.Status {
		case StageFailed:
			res.Failed = true
			res.Status = store.StatusPartial
		case store.StatusPartial:
			res.Status = store.StatusPartial
		}
	}
	reconcile.Sort(res.Findings)
	res.Note = auditNote(res.Stages, res.Findings)
	if err := rec.Finish(fctx, res.Status, res.Note); err != nil {
		return res, err
	}
	return res, nil
}

func putStages(ctx context.Context, rec *store.Recorder, stages []Outcome) error {
	for _, s := range stages {
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		if err := rec.Add(store.Item{Kind: store.KindStage, Key: s.Stage, Data: b}); err != nil {
			return err
		}
	}
	return rec.Flush()
}

// writeReport renders the audit run (its stages, its reconcile) to a file.
func writeReport(ctx context.Context, st store.Store, auditRun int64, spec ReportSpec, p AuditPlan) error {
	if _, ok := reports.Renderers[spec.Format]; !ok {
		return fmt.Errorf("unknown report format %q (want one of %s)", spec.Format, strings.Join(reports.ReportFormats, ", "))
	}
	r, err := LoadReport(ctx, st, auditRun)
	if err != nil {
		return err
	}
	r.GeneratedAt, r.Tool, r.Rules = time.Now().UTC(), p.Tool, reports.RulesFromChecks(reconcile.Checks())
	opts := p.ReportOptions
	if opts.BaseDir == "" {
		if dir, err := os.Getwd(); err == nil {
			opts.BaseDir = dir
		}
	}
	if err := spec.prepareDir(); err != nil {
		return err
	}
	return WriteOutput(spec.Path, func(w io.Writer) error { return reports.Render(w, spec.Format, r, opts) })
}

// SeenNames are the DNS names under the watched domains that the given
// scan and CT runs saw (leaf SANs, scanned host names, CT names), for
// the CAA stage: CAA is decided for every watched name a certificate was
// seen for, not only the watched domains themselves.
func SeenNames(ctx context.Context, st store.Store, watch []string, runs []Outcome) ([]string, error) {
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
	for _, o := range runs {
		if o.RunID == 0 {
			continue
		}
		switch o.Stage {
		case "scan":
			err := st.Items(ctx, o.RunID, store.KindObservation, func(it store.Item) error {
				ob, err := records.DecodeObservation(it)
				if err != nil {
					return err
				}
				if l := ob.Leaf(); l != nil {
					for _, n := range l.SANs {
						add(n)
					}
				}
				if ob.Host != ob.IP {
					add(ob.Host)
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		case "ct":
			err := st.Items(ctx, o.RunID, store.KindSighting, func(it store.Item) error {
				sg, err := records.DecodeSighting(it)
				if err != nil {
					return err
				}
				for _, n := range sg.Names {
					add(n)
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
	}
	sort.Strings(names)
	return names, nil
}

func auditNote(stages []Outcome, fs []reconcile.Finding) string {
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
		if s.Status == StageFailed || s.Status == store.StatusPartial {
			bad = append(bad, s.Stage+" "+string(s.Status))
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

// AuditStages are an audit's input stages, in the order they run.
var AuditStages = []string{"inventory", "scan", "ct", "caa", "validity"}

// SelectStages says why each input stage does not run ("" when it runs):
// without requested, the configured stages run; with it, exactly those.
func SelectStages(configured map[string]bool, requested []string) (map[string]string, error) {
	run := maps.Clone(configured)
	if len(requested) > 0 {
		run = map[string]bool{}
		for _, s := range requested {
			if !slices.Contains(AuditStages, s) {
				return nil, fmt.Errorf("--stages: unknown stage %q (%s)", s, strings.Join(AuditStages, ", "))
			}
			run[s] = true
		}
	}
	skip := map[string]string{}
	for _, s := range AuditStages {
		if !run[s] {
			skip[s] = "not configured"
		}
	}
	return skip, nil
}

// AuditSection is the config's "audit:" section.
type AuditSection struct {
	Reports []struct {
		Format string `yaml:"format"`
		Output string `yaml:"output"`
	} `yaml:"reports"`
	Stages []string `yaml:"stages"`
}

// ReportValues are the section's reports as FORMAT=PATH values.
func (s AuditSection) ReportValues() []string {
	out := make([]string, 0, len(s.Reports))
	for _, r := range s.Reports {
		out = append(out, r.Format+"="+r.Output)
	}
	return out
}

// AuditReports parses the config's audit.reports and the --report values
// given (FORMAT=PATH each), in that order.
func AuditReports(configured, given []string) ([]ReportSpec, error) {
	c, err := ParseReportSpecs(configured, true)
	if err != nil {
		return nil, err
	}
	g, err := ParseReportSpecs(given, false)
	return append(c, g...), err
}

// ParseReportSpecs parses --report values, FORMAT=PATH (configured: from
// the config's audit.reports).
func ParseReportSpecs(values []string, configured bool) ([]ReportSpec, error) {
	var out []ReportSpec
	for _, v := range values {
		f, path, ok := strings.Cut(v, "=")
		if !ok || f == "" || path == "" {
			return nil, fmt.Errorf("--report %q: want FORMAT=PATH", v)
		}
		if _, ok := reports.Renderers[f]; !ok {
			return nil, fmt.Errorf("--report %q: unknown format (want one of %s)", v, strings.Join(reports.ReportFormats, ", "))
		}
		spec := ReportSpec{Format: f, Path: path, Configured: configured}
		if _, err := spec.dir(); err != nil {
			return nil, err
		}
		out = append(out, spec)
	}
	return out, nil
}

// dir returns the report's folder and whether keyaudit may create it: a
// missing folder is created only inside the working directory; elsewhere
// it must exist (a typo must not make directories across the system).
func (s ReportSpec) dir() (create bool, err error) {
	dir, err := filepath.Abs(filepath.Dir(s.Path))
	if err != nil {
		return false, fmt.Errorf("--report %s: %w", s.Path, err)
	}
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return false, fmt.Errorf("--report %s: %s is not a directory", s.Path, dir)
		}
		return false, nil
	}
	if s.Configured {
		return true, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return false, fmt.Errorf("--report %s: %w", s.Path, err)
	}
	if rel, err := filepath.Rel(wd, dir); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return false, fmt.Errorf("--report %s: directory %s does not exist (keyaudit creates report folders only inside the working directory)", s.Path, dir)
	}
	return true, nil
}

func (s ReportSpec) prepareDir() error {
	create, err := s.dir()
	if err != nil || !create {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.Path), 0o755); err != nil {
		return fmt.Errorf("report %s: %w", s.Path, err)
	}
	return nil
}

// WriteTable prints the audit's verdict and a table of its stages.
func (r AuditResult) WriteTable(w io.Writer) error {
	rows := make([][]string, 0, len(r.Stages))
	for _, s := range r.Stages {
		id := ""
		if s.RunID != 0 {
			id = fmt.Sprint(s.RunID)
		}
		rows = append(rows, []string{s.Stage, string(s.Status), id, s.TookText, s.Note})
	}
	fmt.Fprintf(w, "keyaudit audit run %d: %s — %s\n", r.RunID, r.Status, r.Note)
	return reports.RenderTable(w, []string{"STAGE", "STATUS", "RUN", "TOOK", "NOTE"}, rows)
}
