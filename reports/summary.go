package reports

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/keyaudit/keyaudit/reconcile"
)

// SummaryLimit bounds MarkdownSummary's output in bytes: GitHub refuses a
// pull request comment of 65,536 characters or more, and a byte is at most
// one character. The margin leaves room for a heading a CI step adds.
const SummaryLimit = 60000

// Summary sizes: rows before "… and N more".
const (
	summaryTopFindings = 25
	summaryChangeRows  = 15
	summaryCellRunes   = 120
	// Byte budgets of the lists, so that long change lists cannot crowd
	// out the top findings.
	summaryChangeBytes = 5000
	summaryTopBytes    = 25000
)

// MarkdownSummary writes a short report for a pull request comment or a
// CI job summary: the verdict, counts by severity, what changed since the
// last audit (findings opened, reopened, escalated and resolved by this
// reconcile), the most severe findings and the counts per check. However
// many findings there are, it stays under SummaryLimit bytes: lists are
// cut with a count of what was left out.
func MarkdownSummary(w io.Writer, r *Report, opts Options) error {
	s := Summarize(r, opts)
	b := &summaryBuilder{limit: SummaryLimit}
	footer := fmt.Sprintf("\n<sub>%s %s · run %d · fail-on %s · the full report: keyaudit report --run %d --format html</sub>\n",
		md(r.tool().Name), md(r.tool().Version), r.Run.ID, md(s.FailOn), r.Run.ID)
	b.reserve = len(footer)

	b.line(fmt.Sprintf("### keyaudit: %s", md(verdict(s))))
	b.line("")
	if s.Incomplete {
		var notes []string
		for _, st := range r.Run.Stages {
			if st.Status != StageComplete && st.Status != StageSkipped {
				notes = append(notes, md(truncate(stageLine(st), summaryCellRunes)))
			}
		}
		b.line("> [!WARNING]")
		b.line("> Some inputs were not complete, so the absence of a finding is not evidence of compliance: " + strings.Join(notes, "; "))
		b.line("")
	}
	b.line("| Critical | High | Medium | Low | Info | Suppressed |")
	b.line("|---:|---:|---:|---:|---:|---:|")
	b.line(fmt.Sprintf("| %d | %d | %d | %d | %d | %d |", s.BySeverity.Critical, s.BySeverity.High, s.BySeverity.Medium, s.BySeverity.Low, s.BySeverity.Info, s.Suppressed))
	b.line("")
	b.line(fmt.Sprintf("%d keys · %d endpoints (%d failed) · %d certificates · %d CT sightings", s.Keys, s.Endpoints, s.EndpointsBad, s.Certificates, s.Sightings))
	b.line("")

	if line := OwnerLine(r.Findings); line != "" {
		b.line(cell(strings.ToUpper(line[:1]) + line[1:] + "."))
		b.line("")
	}

	// Changes since the last audit.
	byFP := make(map[string]reconcile.Finding, len(r.Findings))
	for _, f := range r.Findings {
		byFP[f.Fingerprint()] = f
	}
	changed := map[string][]reconcile.Finding{}
	for fp, ev := range r.Changes {
		if f, ok := byFP[fp]; ok {
			changed[ev] = append(changed[ev], f)
		}
	}
	for _, fs := range changed {
		reconcile.Sort(fs)
	}
	b.line("#### Since the last audit")
	b.line("")
	counts := fmt.Sprintf("%d new, %d reopened, %d escalated, %d resolved", len(changed[reconcile.EventOpened]),
		len(changed[reconcile.EventReopened]), len(changed[reconcile.EventEscalated]), len(r.Resolved))
	if len(changed)+len(r.Resolved) == 0 {
		counts = "No finding opened, reopened, escalated or resolved."
	}
	b.line(counts)
	b.line("")
	for _, ev := range []struct{ event, label string }{{reconcile.EventOpened, "New"}, {reconcile.EventReopened, "Reopened"}, {reconcile.EventEscalated, "Escalated"}} {
		fs := changed[ev.event]
		if len(fs) == 0 {
			continue
		}
		b.line(fmt.Sprintf("<details><summary>%s (%d)</summary>", ev.label, len(fs)))
		b.line("")
		b.list(len(fs), summaryChangeRows, summaryChangeBytes, func(i int) string { return "- " + findingLine(fs[i]) })
		b.line("")
		b.line("</details>")
		b.line("")
	}
	if len(r.Resolved) > 0 {
		b.line(fmt.Sprintf("<details><summary>Resolved (%d)</summary>", len(r.Resolved)))
		b.line("")
		b.list(len(r.Resolved), summaryChangeRows, summaryChangeBytes, func(i int) string {
			t := r.Resolved[i]
			return fmt.Sprintf("- `%s` %s — %s", mdCode(t.Finding.Check), cell(cmp.Or(t.Finding.Subject, t.Finding.Endpoint)), cell(ResolutionText(t)))
		})
		b.line("")
		b.line("</details>")
		b.line("")
	}

	// The most severe open findings, new ones first within a severity.
	var open []reconcile.Finding
	for _, f := range r.sortedFindings() {
		if !f.Suppressed {
			open = append(open, f)
		}
	}
	isNew := func(f reconcile.Finding) int {
		switch r.Changes[f.Fingerprint()] {
		case reconcile.EventOpened, reconcile.EventReopened, reconcile.EventEscalated:
			return 0
		}
		return 1
	}
	slices.SortStableFunc(open, func(a, c reconcile.Finding) int {
		return cmp.Or(c.Severity.Rank()-a.Severity.Rank(), isNew(a)-isNew(c))
	})
	b.line(fmt.Sprintf("#### Top findings (%d of %d unsuppressed)", min(len(open), summaryTopFindings), len(open)))
	b.line("")
	if len(open) == 0 {
		b.line("No unsuppressed findings.")
	} else {
		b.line("| Severity | Check | Subject | Endpoint | Message |")
		b.line("|---|---|---|---|---|")
		b.list(len(open), summaryTopFindings, summaryTopBytes, func(i int) string {
			f := open[i]
			sev := string(f.Severity)
			if f.Severity.AtLeast(reconcile.High) {
				sev = "**" + sev + "**"
			}
			if isNew(f) == 0 {
				sev += " (" + r.Changes[f.Fingerprint()] + ")"
			}
			return fmt.Sprintf("| %s | `%s` | %s | %s | %s |", sev, mdCode(truncate(f.Check, 60)), cell(f.Subject), cell(f.Endpoint), cell(f.Message))
		})
	}
	b.line("")

	// Counts per check, the most severe checks first.
	type checkCount struct {
		id    string
		worst reconcile.Severity
		n     Counts
		total int
	}
	per := map[string]*checkCount{}
	for _, f := range open {
		c := per[f.Check]
		if c == nil {
			c = &checkCount{id: f.Check, worst: f.Severity}
			per[f.Check] = c
		}
		c.n.add(f.Severity)
		c.total++
		if f.Severity.Rank() > c.worst.Rank() {
			c.worst = f.Severity
		}
	}
	checks := make([]*checkCount, 0, len(per))
	for _, c := range per {
		checks = append(checks, c)
	}
	slices.SortFunc(checks, func(a, c *checkCount) int {
		return cmp.Or(c.worst.Rank()-a.worst.Rank(), c.total-a.total, strings.Compare(a.id, c.id))
	})
	if len(checks) > 0 {
		b.line("<details><summary>Findings by check</summary>")
		b.line("")
		b.line("| Check | Critical | High | Medium | Low | Info |")
		b.line("|---|---:|---:|---:|---:|---:|")
		b.list(len(checks), len(checks), SummaryLimit, func(i int) string {
			c := checks[i]
			return fmt.Sprintf("| `%s` | %d | %d | %d | %d | %d |", mdCode(truncate(c.id, 60)), c.n.Critical, c.n.High, c.n.Medium, c.n.Low, c.n.Info)
		})
		b.line("")
		b.line("</details>")
	}
	b.reserve = 0
	b.line(strings.TrimSuffix(footer, "\n"))
	_, err := io.WriteString(w, b.String())
	return err
}

// findingLine is one finding in a list.
func findingLine(f reconcile.Finding) string {
	where := cmp.Or(f.Endpoint, f.Subject)
	return fmt.Sprintf("**%s** `%s` %s — %s", f.Severity, mdCode(truncate(f.Check, 60)), cell(where), cell(f.Message))
}

// cell is a table cell or list text: cut to summaryCellRunes, escaped.
func cell(s string) string { return md(truncate(s, summaryCellRunes)) }

// summaryBuilder collects lines up to limit bytes, keeping reserve bytes
// for what must still come.
type summaryBuilder struct {
	strings.Builder
	limit, reserve int
}

// line adds one line if it fits.
func (b *summaryBuilder) line(s string) bool {
	if b.Len()+len(s)+1+b.reserve > b.limit {
		return false
	}
	b.WriteString(s)
	b.WriteByte('\n')
	return true
}

// list adds up to max of n rows made by row, at most maxBytes of them,
// then "… and N more" for the rest; rows that do not fit count as left
// out.
func (b *summaryBuilder) list(n, max, maxBytes int, row func(int) string) {
	const moreLen = 40 // room kept for the "and N more" line
	b.reserve += moreLen
	shown, start := 0, b.Len()
	for i := 0; i < n && i < max; i++ {
		text := row(i)
		if b.Len()-start+len(text) > maxBytes || !b.line(text) {
			break
		}
		shown++
	}
	b.reserve -= moreLen
	if shown < n {
		b.line(fmt.Sprintf("\n… and %d more", n-shown))
	}
}
