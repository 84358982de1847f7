package reports

import (
	"fmt"
	"io"
	"strconv"
)

// Table renders a report for a terminal (fitted to opts.Terminal, or to
// what TerminalOf says of w): a header with the verdict and the stages,
// findings grouped by severity and check with their counts, then every
// finding, the key inventory, the endpoints that answered and the failed
// ones counted by kind.
func Table(w io.Writer, r *Report, opts Options) error {
	t := TerminalOf(w)
	if opts.Terminal != nil {
		t = *opts.Terminal
	}
	s := Summarize(r, opts)
	ew := &errWriter{w: w}
	ew.printf("%s", wrapText(fmt.Sprintf("keyaudit report: run %d (%s, %s), generated %s", r.Run.ID, r.Run.Kind, r.Run.Status, fmtTime(r.GeneratedAt)), t.width(), "  "))
	for _, st := range r.Run.Stages {
		ew.printf("%s", wrapText("  stage "+sanitizeCell(stageLine(st)), t.width(), "    "))
	}
	ew.printf("%s", wrapText("Findings: "+severityLine(s), t.width(), "  "))
	v := verdict(s)
	switch {
	case s.Failed:
		v = t.paint(sgrBoldRed, v)
	case s.FailOn != string(FailNone):
		v = t.paint("1;32", v)
	}
	ew.printf("%s\n", v)
	if s.Incomplete {
		ew.printf("%s", t.paint(sgrYellow, wrapText("WARNING: some inputs were not complete; absence of a finding is not evidence of compliance", t.width(), "  ")))
	}
	if ew.err != nil {
		return ew.err
	}

	ew.printf("\n%s\n", t.paint(sgrBold, fmt.Sprintf("FINDINGS (%d)", len(r.Findings))))
	if len(r.Findings) > 0 {
		if err := writeFindingGroups(ew, t, r.Findings); err != nil {
			return err
		}
		var rows [][]string
		for _, f := range r.sortedFindings() {
			sev := string(f.Severity)
			if f.Suppressed {
				sev += " (suppressed)"
			}
			rows = append(rows, []string{sev, f.Check, f.Subject, f.Endpoint, f.Message})
		}
		ew.printf("\n")
		tt := textTable{header: []string{"SEVERITY", "CHECK", "SUBJECT", "ENDPOINT", "MESSAGE"}, rows: rows}
		if err := tt.render(ew, t); err != nil {
			return err
		}
	}

	keys := sortedKeys(r.Keys)
	ew.printf("\n%s\n", t.paint(sgrBold, fmt.Sprintf("INVENTORY (%d objects)", len(keys))))
	if len(keys) > 0 {
		var rows [][]string
		for _, k := range keys {
			rows = append(rows, []string{keySourceName(k), k.Label, string(k.Class), keyAlgorithm(k), k.Owner, k.Purpose,
				keyCreated(k), KeyState(k, r.GeneratedAt, r.Findings), KeyStorage(k), short(k.SPKISHA256, 16)})
		}
		tt := textTable{header: []string{"SOURCE", "LABEL", "CLASS", "ALGORITHM", "OWNER", "PURPOSE", "CREATED", "STATE", "STORED", "SPKI SHA-256"}, rows: rows}
		if err := tt.render(ew, t); err != nil {
			return err
		}
	}

	obs := sortedObservations(r.Observations)
	ew.printf("\n%s\n", t.paint(sgrBold, fmt.Sprintf("ENDPOINTS (%d, %d failed)", len(obs), s.EndpointsBad)))
	var rows [][]string
	for _, o := range obs {
		if o.Error != nil {
			continue
		}
		leaf, notAfter, key := "", "", ""
		if l := o.Leaf(); l != nil {
			leaf, notAfter, key = l.Subject, fmtDate(l.NotAfter), certAlgorithm(*l)
		}
		rows = append(rows, []string{o.Protocol + "://" + o.Target, o.IP, endpointTLS(o), leaf, notAfter, key})
	}
	if len(rows) > 0 {
		tt := textTable{header: []string{"ENDPOINT", "IP", "TLS", "LEAF SUBJECT", "NOT AFTER", "KEY"}, rows: rows}
		if err := tt.render(ew, t); err != nil {
			return err
		}
	}
	if len(rows) < len(obs) {
		if len(rows) > 0 {
			ew.printf("\n")
		}
		if err := writeFailureKinds(ew, t, obs); err != nil {
			return err
		}
	}
	return ew.err
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
