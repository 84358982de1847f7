package reports

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

// The terminal forms of findings and scan results summarise: findings
// grouped by severity and check with their counts, failed endpoints
// counted by kind. Every record is listed too with WithDetails
// (--verbose); `keyaudit report` lists them always.

// findingGroup is the findings of one severity and check.
type findingGroup struct {
	sev        reconcile.Severity
	check      string
	suppressed bool
	count      int
	example    reconcile.Finding
}

// groupFindings groups fs by severity, check and suppression, most
// severe first, then by check; each group's example is its first finding
// in report order.
func groupFindings(fs []reconcile.Finding) []findingGroup {
	fs = slices.Clone(fs)
	reconcile.Sort(fs)
	var out []findingGroup
	idx := map[[3]string]int{}
	for _, f := range fs {
		k := [3]string{string(f.Severity), f.Check, fmt.Sprint(f.Suppressed)}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, findingGroup{sev: f.Severity, check: f.Check, suppressed: f.Suppressed, example: f})
		}
		out[i].count++
	}
	slices.SortStableFunc(out, func(a, b findingGroup) int {
		if a.suppressed != b.suppressed {
			if a.suppressed {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(b.sev.Rank(), a.sev.Rank()), strings.Compare(a.check, b.check))
	})
	return out
}

// countLine reads "9 findings: 1 critical, 4 high, 2 medium (1 suppressed)",
// naming only the severities present.
func countLine(fs []reconcile.Finding) string {
	by := map[reconcile.Severity]int{}
	sup := 0
	for _, f := range fs {
		if f.Suppressed {
			sup++
			continue
		}
		by[f.Severity]++
	}
	var parts []string
	for _, sev := range reconcile.Severities {
		if by[sev] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", by[sev], sev))
		}
	}
	line := fmt.Sprintf("%d findings", len(fs))
	if len(fs) == 1 {
		line = "1 finding"
	}
	if len(parts) > 0 {
		line += ": " + strings.Join(parts, ", ")
	}
	if sup > 0 {
		line += fmt.Sprintf(" (%d suppressed)", sup)
	}
	return line
}

// OwnerLine reads "by owner: web-team 17, platform-team 16, no owner 4"
// (unsuppressed findings, most first), or "" when no finding has an
// owner.
func OwnerLine(fs []reconcile.Finding) string {
	by := map[string]int{}
	owned := false
	for _, f := range fs {
		if f.Suppressed {
			continue
		}
		by[f.Owner]++
		owned = owned || f.Owner != ""
	}
	if !owned {
		return ""
	}
	names := make([]string, 0, len(by))
	for o := range by {
		names = append(names, o)
	}
	slices.SortFunc(names, func(a, b string) int {
		if (a == "") != (b == "") {
			if a == "" {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(by[b], by[a]), strings.Compare(a, b))
	})
	parts := make([]string, len(names))
	for i, o := range names {
		if o == "" {
			parts[i] = fmt.Sprintf("no owner %d", by[o])
		} else {
			parts[i] = fmt.Sprintf("%s %d", o, by[o])
		}
	}
	return "by owner: " + strings.Join(parts, ", ")
}

// writeFindingGroups writes the count line and one row per severity and
// check: the count and an example, elided to the line.
func writeFindingGroups(w io.Writer, t Terminal, fs []reconcile.Finding) error {
	ew := &errWriter{w: w}
	ew.printf("%s", wrapText(countLine(fs), t.width(), "  "))
	if line := OwnerLine(fs); line != "" {
		ew.printf("%s", wrapText(line, t.width(), "  "))
	}
	if len(fs) == 0 || ew.err != nil {
		return ew.err
	}
	tt := textTable{header: []string{"SEVERITY", "CHECK", "COUNT", "EXAMPLE"}, elide: map[int]bool{3: true}}
	for _, g := range groupFindings(fs) {
		sev := string(g.sev)
		if g.suppressed {
			sev += " (suppressed)"
		}
		tt.rows = append(tt.rows, []string{sev, g.check, fmt.Sprintf("%5d", g.count), findingExample(g.example)})
	}
	return tt.render(ew, t)
}

// findingExample is a finding in one line: what, where, and the message.
func findingExample(f reconcile.Finding) string {
	what := f.Subject
	if f.Endpoint != "" && what == "" {
		what = f.Endpoint
	} else if f.Endpoint != "" {
		what += " at " + f.Endpoint
	}
	if what == "" {
		return f.Message
	}
	return what + ": " + f.Message
}

// detailsHint tells how to see every record.
const detailsHint = "(every finding: --verbose, or keyaudit report)\n"

// summaryStream buffers records and writes their summary table on Close,
// then, with details, the table of every record.
type summaryStream[T any] struct {
	w       io.Writer
	cfg     streamConfig
	cols    []Column[T]
	rows    []T
	summary func(io.Writer, Terminal, []T) error
	// full lists every record; nil: the cols table of all rows.
	full func(io.Writer, Terminal, []T) error
	hint string
}

// encodingHolder is a record that can carry the JSON of its store item
// for the JSONL stream (records.Observation and records.Sighting).
type encodingHolder interface{ UseEncoding([]byte) }

func (s *summaryStream[T]) Write(v T) error {
	// Kept until Close: without its encoding, a record holds no more than
	// its fields (a scan of 100,000 endpoints would otherwise keep every
	// observation's JSON too).
	if h, ok := any(&v).(encodingHolder); ok {
		h.UseEncoding(nil)
	}
	s.rows = append(s.rows, v)
	return nil
}

func (s *summaryStream[T]) Close() error {
	t := *s.cfg.term
	if err := s.summary(s.w, t, s.rows); err != nil {
		return err
	}
	if len(s.rows) == 0 {
		return nil
	}
	if !s.cfg.details {
		if s.hint != "" {
			_, err := io.WriteString(s.w, s.hint)
			return err
		}
		return nil
	}
	if _, err := io.WriteString(s.w, "\n"); err != nil {
		return err
	}
	if s.full != nil {
		return s.full(s.w, t, s.rows)
	}
	return s.table(t, s.rows)
}

func (s *summaryStream[T]) table(t Terminal, rows []T) error {
	tt := textTable{header: headers(s.cols)}
	for _, v := range rows {
		row := make([]string, len(s.cols))
		for i, c := range s.cols {
			row[i] = c.Value(v)
		}
		tt.rows = append(tt.rows, row)
	}
	if s.cfg.sort {
		sortRows(tt.rows)
	}
	return tt.render(s.w, t)
}

// NewFindingStream is NewStream for findings: its table form writes the
// findings grouped by severity and check with their counts, and every
// finding only WithDetails.
func NewFindingStream(w io.Writer, format string, opts ...StreamOption) (Stream[reconcile.Finding], error) {
	return newFindingStream(w, format, FindingColumns, func(f reconcile.Finding) reconcile.Finding { return f }, opts)
}

// NewFindingRowStream is NewFindingStream for the findings the store
// tracks (keyaudit findings).
func NewFindingRowStream(w io.Writer, format string, opts ...StreamOption) (Stream[FindingRow], error) {
	return newFindingStream(w, format, FindingRowColumns, func(r FindingRow) reconcile.Finding { return r.Finding }, opts)
}

func newFindingStream[T any](w io.Writer, format string, cols []Column[T], finding func(T) reconcile.Finding, opts []StreamOption) (Stream[T], error) {
	if format != FormatTable && format != "" {
		return NewStream(w, format, cols, opts...)
	}
	return &summaryStream[T]{w: w, cfg: streamOptions(w, opts), cols: cols, hint: detailsHint,
		summary: func(w io.Writer, t Terminal, rows []T) error {
			fs := make([]reconcile.Finding, len(rows))
			for i, r := range rows {
				fs[i] = finding(r)
			}
			return writeFindingGroups(w, t, fs)
		},
		full: func(w io.Writer, t Terminal, rows []T) error {
			rows = slices.Clone(rows)
			slices.SortStableFunc(rows, func(a, b T) int { return compareFindings(finding(a), finding(b)) })
			tt := textTable{header: headers(cols)}
			for _, v := range rows {
				row := make([]string, len(cols))
				for i, c := range cols {
					row[i] = c.Value(v)
				}
				tt.rows = append(tt.rows, row)
			}
			return tt.render(w, t)
		},
	}, nil
}

// NewObservationStream is NewStream for scan results: its table form
// lists the endpoints that answered and counts the failed ones by kind
// (refused: 244), with an example of each; every failed endpoint is
// listed only WithDetails.
func NewObservationStream(w io.Writer, format string, opts ...StreamOption) (Stream[records.Observation], error) {
	if format != FormatTable && format != "" {
		return NewStream(w, format, ObservationColumns, opts...)
	}
	opts = append(opts, SortRows)
	s := &summaryStream[records.Observation]{w: w, cfg: streamOptions(w, opts), cols: ObservationColumns}
	s.summary = func(w io.Writer, t Terminal, obs []records.Observation) error {
		var ok []records.Observation
		for _, o := range obs {
			if o.Error == nil {
				ok = append(ok, o)
			}
		}
		ew := &errWriter{w: w}
		ew.printf("%d endpoints, %d answered, %d failed\n", len(obs), len(ok), len(obs)-len(ok))
		if len(ok) > 0 && ew.err == nil {
			tt := textTable{header: []string{"ENDPOINT", "TLS", "SUBJECT", "KEY", "EXPIRES"}}
			for _, o := range ok {
				row := []string{endpointName(o), o.TLSVersion, "", "", ""}
				if l := o.Leaf(); l != nil {
					row[2], row[3], row[4] = l.Subject, certAlgorithm(*l), fmtDate(l.NotAfter)
				}
				tt.rows = append(tt.rows, row)
			}
			sortRows(tt.rows)
			if err := tt.render(ew, t); err != nil {
				return err
			}
		}
		if len(ok) < len(obs) {
			if len(ok) > 0 {
				ew.printf("\n")
			}
			if err := writeFailureKinds(ew, t, obs); err != nil {
				return err
			}
			if !s.cfg.details {
				ew.printf("(every failed endpoint: --verbose, or --format jsonl)\n")
			}
		}
		return ew.err
	}
	s.full = func(w io.Writer, t Terminal, obs []records.Observation) error {
		var bad []records.Observation
		for _, o := range obs {
			if o.Error != nil {
				bad = append(bad, o)
			}
		}
		if len(bad) == 0 {
			return nil
		}
		tt := textTable{header: []string{"TARGET", "IP", "PROTOCOL", "ERROR"}}
		for _, o := range bad {
			tt.rows = append(tt.rows, []string{o.Target, o.IP, o.Protocol, endpointError(o)})
		}
		sortRows(tt.rows)
		return tt.render(w, t)
	}
	return s, nil
}

// failureKind is the failed endpoints of one error kind.
type failureKind struct {
	kind    string
	count   int
	example records.Observation
}

// failureKinds counts the failed observations by error kind, most
// frequent first; each example is the first by target.
func failureKinds(obs []records.Observation) []failureKind {
	idx := map[string]int{}
	var out []failureKind
	for _, o := range obs {
		if o.Error == nil {
			continue
		}
		k := string(o.Error.Kind)
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, failureKind{kind: k, example: o})
		}
		out[i].count++
		if ex := out[i].example; o.Target < ex.Target || o.Target == ex.Target && o.IP < ex.IP {
			out[i].example = o
		}
	}
	slices.SortFunc(out, func(a, b failureKind) int {
		return cmp.Or(cmp.Compare(b.count, a.count), strings.Compare(a.kind, b.kind))
	})
	return out
}

// writeFailureKinds writes the failed endpoints as counts by kind.
func writeFailureKinds(w io.Writer, t Terminal, obs []records.Observation) error {
	tt := textTable{header: []string{"FAILED", "COUNT", "EXAMPLE"}, elide: map[int]bool{2: true}}
	for _, k := range failureKinds(obs) {
		ex := k.example
		tt.rows = append(tt.rows, []string{k.kind + ":", fmt.Sprintf("%5d", k.count), endpointName(ex) + ": " + ex.Error.Message})
	}
	return tt.render(w, t)
}

// compareFindings orders findings as reconcile.Sort does.
func compareFindings(a, b reconcile.Finding) int {
	return cmp.Or(cmp.Compare(b.Severity.Rank(), a.Severity.Rank()), strings.Compare(a.Check, b.Check),
		strings.Compare(a.Subject, b.Subject), strings.Compare(a.Endpoint, b.Endpoint), strings.Compare(a.CertSHA256, b.CertSHA256))
}

// endpointName is proto://target, with the IP when the target does not
// show it.
func endpointName(o records.Observation) string {
	s := o.Protocol + "://" + o.Target
	if o.IP != "" && !strings.Contains(o.Target, o.IP) {
		s += " (" + o.IP + ")"
	}
	return s
}
