package reports

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// tableCellMax is the widest a cell of the report tables grows before it
// wraps: long messages and subjects would otherwise make lines no
// terminal shows.
const tableCellMax = 48

// Table renders a report for a terminal: a header with the verdict and the
// stages, findings by severity, then the key inventory and the endpoints.
func Table(w io.Writer, r *Report, opts Options) error {
	s := Summarize(r, opts)
	ew := &errWriter{w: w}
	ew.printf("keyaudit report: run %d (%s, %s), generated %s\n", r.Run.ID, r.Run.Kind, r.Run.Status, fmtTime(r.GeneratedAt))
	for _, st := range r.Run.Stages {
		ew.printf("  stage %s\n", sanitizeCell(stageLine(st)))
	}
	ew.printf("Findings: %s\n", severityLine(s))
	ew.printf("%s\n", verdict(s))
	if s.Incomplete {
		ew.printf("WARNING: some inputs were not complete; absence of a finding is not evidence of compliance\n")
	}
	if ew.err != nil {
		return ew.err
	}

	ew.printf("\nFINDINGS (%d)\n", len(r.Findings))
	if len(r.Findings) > 0 {
		var rows [][]string
		for _, f := range r.sortedFindings() {
			sev := strings.ToUpper(string(f.Severity))
			if f.Suppressed {
				sev = "(" + string(f.Severity) + ", suppressed)"
			}
			rows = append(rows, []string{sev, f.Check, f.Subject, f.Endpoint, f.Message})
		}
		if err := renderWrapped(ew, []string{"SEVERITY", "CHECK", "SUBJECT", "ENDPOINT", "MESSAGE"}, rows); err != nil {
			return err
		}
	}

	keys := sortedKeys(r.Keys)
	ew.printf("\nINVENTORY (%d objects)\n", len(keys))
	if len(keys) > 0 {
		var rows [][]string
		for _, k := range keys {
			rows = append(rows, []string{keySourceName(k), k.Label, string(k.Class), keyAlgorithm(k), k.Owner, k.Purpose,
				keyCreated(k), KeyState(k, r.GeneratedAt, r.Findings), KeyStorage(k), short(k.SPKISHA256, 16)})
		}
		if err := renderWrapped(ew, []string{"SOURCE", "LABEL", "CLASS", "ALGORITHM", "OWNER", "PURPOSE", "CREATED", "STATE", "STORED", "SPKI SHA-256"}, rows); err != nil {
			return err
		}
	}

	obs := sortedObservations(r.Observations)
	ew.printf("\nENDPOINTS (%d, %d failed)\n", len(obs), s.EndpointsBad)
	if len(obs) > 0 {
		var rows [][]string
		for _, o := range obs {
			leaf, notAfter, key := "", "", ""
			if l := o.Leaf(); l != nil {
				leaf, notAfter, key = l.Subject, fmtDate(l.NotAfter), certAlgorithm(*l)
			}
			rows = append(rows, []string{o.Protocol + "://" + o.Target, o.IP, endpointTLS(o), leaf, notAfter, key, endpointError(o)})
		}
		if err := renderWrapped(ew, []string{"ENDPOINT", "IP", "TLS", "LEAF SUBJECT", "NOT AFTER", "KEY", "ERROR"}, rows); err != nil {
			return err
		}
	}
	return ew.err
}

// renderWrapped writes a table whose long cells wrap at tableCellMax.
// Cells are stripped of control characters first.
func renderWrapped(w io.Writer, header []string, rows [][]string) error {
	t := tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNormal),
		tablewriter.WithRowMaxWidth(tableCellMax),
	)
	t.Header(toAny(header)...)
	for _, row := range rows {
		clean := make([]string, len(row))
		for i, c := range row {
			clean[i] = sanitizeCell(c)
		}
		if err := t.Append(clean); err != nil {
			return fmt.Errorf("reports: table: %w", err)
		}
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("reports: table: %w", err)
	}
	return nil
}

// errWriter remembers the first write error, so a renderer checks once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
