package reports

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

// Formats of a whole Report (see Render), besides the stream formats.
const (
	FormatSARIF    = "sarif"
	FormatJUnit    = "junit"
	FormatMarkdown = "markdown"
	FormatHTML     = "html"
	FormatCBOM     = "cbom"
)

// ReportFormats lists the formats Render accepts, in the order `keyaudit
// report --help` shows them.
var ReportFormats = []string{FormatTable, FormatJSON, FormatJSONL, FormatCSV, FormatSARIF, FormatJUnit, FormatMarkdown, FormatHTML, FormatCBOM, FormatPrometheus}

// FailNone is the Options.FailOn value with which no finding fails.
const FailNone reconcile.Severity = "none"

// Report is everything one report shows: the reconcile run it is about,
// its findings and the records the findings were computed from. Renderers
// read it and never change it.
type Report struct {
	// Tool names the program and its version (SARIF driver, CBOM tool).
	Tool Tool `json:"tool"`
	// GeneratedAt is when the report was made; injected so that output is
	// reproducible.
	GeneratedAt time.Time `json:"generated_at"`
	Run         RunInfo   `json:"run"`

	// Rules describe the checks (from the reconcile registry, see
	// RulesFromChecks); findings of a check absent here still render.
	Rules []Rule `json:"rules"`

	Findings     []reconcile.Finding   `json:"findings"`
	Keys         []records.Key         `json:"keys"`
	Observations []records.Observation `json:"observations"`
	CAA          []records.CAAResult   `json:"caa"`
	Sightings    []records.Sighting    `json:"sightings"`
	// Resolved are the findings the reconcile resolved, each with the
	// evidence it resolved on ("resolved since the last audit").
	Resolved []reconcile.Transition `json:"resolved,omitempty"`
	// Changes are the other lifecycle events of the reconcile, by
	// finding fingerprint: opened, reopened or escalated (what changed
	// since the last audit, with Resolved).
	Changes map[string]string `json:"changes,omitempty"`
}

// Tool identifies keyaudit in machine-readable reports.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// URI is a home page, when there is one.
	URI string `json:"uri,omitempty"`
}

// RunInfo describes the run a report is about.
type RunInfo struct {
	ID      int64     `json:"id"`
	Kind    string    `json:"kind"`  // reconcile (or audit)
	Group   string    `json:"group"` // run group, when there is one
	Status  string    `json:"status"`
	Started time.Time `json:"started,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`
	Note    string    `json:"note,omitempty"`
	// Stages are the inputs and steps of the run, each complete, partial,
	// failed or skipped: a report never looks clean when one was not.
	Stages []Stage `json:"stages"`
}

// Stage statuses.
const (
	StageComplete = "complete"
	StagePartial  = "partial"
	StageFailed   = "failed"
	StageSkipped  = "skipped"
)

// Stage is one input or step of a run.
type Stage struct {
	Name   string `json:"name"` // inventory, scan, caa, ct, reconcile
	RunID  int64  `json:"run_id,omitempty"`
	Status string `json:"status"`
	Note   string `json:"note,omitempty"`
}

// Rule is the metadata of one check, for SARIF rules, JUnit suites and the
// appendix of human reports.
type Rule struct {
	ID          string             `json:"id"`
	Severity    reconcile.Severity `json:"severity"`
	Description string             `json:"description"`
	Help        string             `json:"help"`
	Citations   []string           `json:"citations"`
	Controls    []string           `json:"controls"`
}

// RulesFromChecks converts the reconcile registry's metadata to rules.
func RulesFromChecks(cs []*reconcile.Check) []Rule {
	out := make([]Rule, 0, len(cs))
	for _, c := range cs {
		out = append(out, Rule{ID: c.ID, Severity: c.Severity, Description: c.Description, Help: c.Help,
			Citations: slices.Clone(c.Citations), Controls: slices.Clone(c.Controls)})
	}
	slices.SortFunc(out, func(a, b Rule) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Options tune rendering. The zero value is the documented default.
type Options struct {
	// FailOn is the severity at or above which an unsuppressed finding
	// fails (JUnit failures, the verdict line of human reports). Zero
	// means high, as `--fail-on`'s default; FailNone means nothing fails.
	FailOn reconcile.Severity
	// Records selects what the csv format writes: "findings" (default),
	// "keys" or "endpoints".
	Records string
	// BaseDir makes absolute file paths under it relative in SARIF
	// locations (GitHub resolves them against the repository root); a
	// file outside it is not in the repository.
	BaseDir string
	// Locate finds the config line that configures what a finding is
	// about, for SARIF locations; nil: none.
	Locate Locator
	// Summary makes the markdown format the short summary for a pull
	// request comment (see MarkdownSummary).
	Summary bool
	// Terminal lays the table format out; nil: TerminalOf the writer.
	Terminal *Terminal
}

func (o Options) failOn() reconcile.Severity {
	if o.FailOn == "" {
		return reconcile.High
	}
	return o.FailOn
}

// Fails reports whether f fails the run under o: unsuppressed and at or
// above FailOn.
func (o Options) Fails(f reconcile.Finding) bool {
	t := o.failOn()
	return t != FailNone && !f.Suppressed && f.Severity.AtLeast(t)
}

// Renderer writes one report format.
type Renderer func(w io.Writer, r *Report, opts Options) error

// Renderers maps each format of ReportFormats to its renderer.
var Renderers = map[string]Renderer{
	FormatTable:    Table,
	FormatJSON:     JSON,
	FormatJSONL:    JSONL,
	FormatCSV:      CSV,
	FormatSARIF:    SARIF,
	FormatJUnit:    JUnit,
	FormatMarkdown: Markdown,
	FormatHTML:     HTML,
	FormatCBOM:     CBOM,
	// FormatPrometheus is registered by prometheus.go.
}

func init() { Renderers[FormatPrometheus] = Prometheus }

// Render writes r in format.
func Render(w io.Writer, format string, r *Report, opts Options) error {
	fn, ok := Renderers[format]
	if !ok {
		return fmt.Errorf("reports: unknown format %q (want one of %s)", format, strings.Join(ReportFormats, ", "))
	}
	return fn(w, r, opts)
}

// tool returns the tool, defaulting its name.
func (r *Report) tool() Tool {
	t := r.Tool
	if t.Name == "" {
		t.Name = "keyaudit"
	}
	if t.Version == "" {
		t.Version = "devel"
	}
	return t
}

// sortedFindings returns the findings in report order: severity (most
// severe first), check, subject, endpoint.
func (r *Report) sortedFindings() []reconcile.Finding {
	fs := slices.Clone(r.Findings)
	reconcile.Sort(fs)
	return fs
}

// allRules returns the rules plus a bare one for each check that has
// findings but no metadata, sorted by ID.
func (r *Report) allRules() []Rule {
	out := slices.Clone(r.Rules)
	have := map[string]bool{}
	for _, ru := range out {
		have[ru.ID] = true
	}
	for _, f := range r.Findings {
		if !have[f.Check] {
			have[f.Check] = true
			out = append(out, Rule{ID: f.Check, Severity: f.Severity, Description: f.Check, Controls: f.Controls})
		}
	}
	slices.SortFunc(out, func(a, b Rule) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Counts are findings per severity.
type Counts struct {
	Critical int `json:"critical"`
	High     int `json:"high"`
	Medium   int `json:"medium"`
	Low      int `json:"low"`
	Info     int `json:"info"`
}

func (c *Counts) add(s reconcile.Severity) {
	switch s {
	case reconcile.Critical:
		c.Critical++
	case reconcile.High:
		c.High++
	case reconcile.Medium:
		c.Medium++
	case reconcile.Low:
		c.Low++
	default:
		c.Info++
	}
}

// Of returns the count of one severity.
func (c Counts) Of(s reconcile.Severity) int {
	switch s {
	case reconcile.Critical:
		return c.Critical
	case reconcile.High:
		return c.High
	case reconcile.Medium:
		return c.Medium
	case reconcile.Low:
		return c.Low
	}
	return c.Info
}

// Summary is what a reader wants first.
type Summary struct {
	Findings   int `json:"findings"`
	Suppressed int `json:"suppressed"`
	// BySeverity counts unsuppressed findings.
	BySeverity Counts `json:"by_severity"`
	FailOn     string `json:"fail_on"`
	// Failing counts unsuppressed findings at or above FailOn.
	Failing      int  `json:"failing"`
	Failed       bool `json:"failed"`
	Keys         int  `json:"keys"`
	Endpoints    int  `json:"endpoints"`
	EndpointsBad int  `json:"endpoints_failed"`
	Certificates int  `json:"certificates"`
	Sightings    int  `json:"sightings"`
	// Incomplete is true when a stage was not complete.
	Incomplete bool `json:"incomplete"`
}

// Summarize counts r's findings and records under opts.
func Summarize(r *Report, opts Options) Summary {
	s := Summary{Findings: len(r.Findings), FailOn: string(opts.failOn()), Keys: len(r.Keys),
		Endpoints: len(r.Observations), Sightings: len(r.Sightings), Certificates: len(certificates(r))}
	for _, f := range r.Findings {
		if f.Suppressed {
			s.Suppressed++
			continue
		}
		s.BySeverity.add(f.Severity)
		if opts.Fails(f) {
			s.Failing++
		}
	}
	s.Failed = s.Failing > 0
	for _, o := range r.Observations {
		if o.Error != nil {
			s.EndpointsBad++
		}
	}
	s.Incomplete = r.Run.Status != "" && r.Run.Status != StageComplete
	for _, st := range r.Run.Stages {
		if st.Status != StageComplete && st.Status != StageSkipped {
			s.Incomplete = true
		}
	}
	return s
}

// verdict is the one-line outcome of a report.
func verdict(s Summary) string {
	switch {
	case s.FailOn == string(FailNone):
		return fmt.Sprintf("%d unsuppressed findings (--fail-on none)", s.Findings-s.Suppressed)
	case s.Failed:
		return fmt.Sprintf("FAIL: %d unsuppressed findings at or above %s", s.Failing, s.FailOn)
	}
	return fmt.Sprintf("PASS: no unsuppressed finding at or above %s", s.FailOn)
}

// severityLine reads "1 critical, 3 high, 2 medium, 1 low, 0 info (1 suppressed)".
func severityLine(s Summary) string {
	var parts []string
	for _, sev := range reconcile.Severities {
		parts = append(parts, fmt.Sprintf("%d %s", s.BySeverity.Of(sev), sev))
	}
	line := strings.Join(parts, ", ")
	if s.Suppressed > 0 {
		line += fmt.Sprintf(" (%d suppressed)", s.Suppressed)
	}
	return line
}

func stageLine(st Stage) string {
	s := st.Name + " " + st.Status
	if st.RunID != 0 {
		s += fmt.Sprintf(" (run %d)", st.RunID)
	}
	if st.Note != "" {
		s += ": " + st.Note
	}
	return s
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func fmtDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

func fmtDatePtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return fmtDate(*t)
}

func short(hex string, n int) string {
	if len(hex) > n {
		return hex[:n]
	}
	return hex
}

// truncate cuts s to n runes, marking the cut with an ellipsis.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// ResolutionText says in one line what a resolved finding resolved on.
func ResolutionText(t reconcile.Transition) string {
	reason, _ := t.Evidence["reason"].(string)
	detail, _ := t.Evidence["detail"].(string)
	switch {
	case detail != "" && reason != "":
		return reason + ": " + detail
	case reason == "suppressed":
		by, _ := t.Evidence["suppressed_by"].(string)
		return "suppressed: " + by
	case reason != "":
		return reason
	}
	return detail
}
