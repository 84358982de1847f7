package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// TestTerminalOfPipe: a writer that is no terminal gets no colour, the
// default width, or $COLUMNS when set (a CI log piped through a shell).
func TestTerminalOfPipe(t *testing.T) {
	var b bytes.Buffer
	if got := terminalOf(&b, env(nil)); got != (Terminal{Width: DefaultWidth}) {
		t.Errorf("buffer: %+v", got)
	}
	if got := terminalOf(&b, env(map[string]string{"COLUMNS": "132"})); got != (Terminal{Width: 132}) {
		t.Errorf("COLUMNS=132: %+v", got)
	}
	if got := terminalOf(&b, env(map[string]string{"COLUMNS": "wide"})); got.Width != DefaultWidth {
		t.Errorf("COLUMNS=wide: %+v", got)
	}
	if got := terminalOf(&b, env(map[string]string{"COLUMNS": "3"})); got.Width != minWidth {
		t.Errorf("COLUMNS=3: %+v", got)
	}
}

// maxLine is the widest line of s, in columns.
func maxLine(s string) int {
	m := 0
	for _, l := range strings.Split(s, "\n") {
		m = max(m, displayWidth(l))
	}
	return m
}

// TestTableFitsWidth renders the report and each stream table at 80 and
// 100 columns: no line is wider, and no long host name is cut inside a
// label.
func TestTableFitsWidth(t *testing.T) {
	for _, width := range []int{80, 100, 60} {
		tm := Terminal{Width: width}
		var b bytes.Buffer
		if err := Table(&b, fixtureReport(), Options{Terminal: &tm}); err != nil {
			t.Fatal(err)
		}
		if m := maxLine(b.String()); m > width {
			t.Errorf("report at %d columns has a line of %d:\n%s", width, m, b.String())
		}
		if strings.Contains(b.String(), "\x1b") {
			t.Errorf("colour without a terminal")
		}
		// Host names break between labels, never inside one.
		for _, l := range strings.Split(b.String(), "\n") {
			l = strings.TrimSpace(l)
			for _, frag := range []string{"exampl\n", "examp", "exam "} {
				if strings.HasSuffix(l, strings.TrimSpace(frag)) {
					t.Errorf("at %d columns a host name is cut inside a label: %q", width, l)
				}
			}
		}
	}
}

func TestWrapCell(t *testing.T) {
	for _, c := range []struct {
		in    string
		width int
		want  []string
	}{
		{"short", 10, []string{"short"}},
		{"certificate expires in 20 days", 12, []string{"certificate", "expires in", "20 days"}},
		{"tls://www.example.test:443", 12, []string{"tls://www.", "example.", "test:443"}},
		{"abcdefghijklmnop", 5, []string{"abcde", "fghij", "klmno", "p"}},
	} {
		got := wrapCell(c.in, c.width)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("wrapCell(%q, %d) = %q, want %q", c.in, c.width, got, c.want)
		}
		for _, l := range got {
			if displayWidth(l) > c.width {
				t.Errorf("line %q wider than %d", l, c.width)
			}
		}
	}
}

// TestColour: severities are coloured on a terminal, and nothing else
// carries an escape; without colour there is none at all.
func TestColour(t *testing.T) {
	fs := fixtureReport().Findings
	var plain, col bytes.Buffer
	for _, c := range []struct {
		b *bytes.Buffer
		t Terminal
	}{{&plain, Terminal{Width: 80}}, {&col, Terminal{Width: 80, Color: true}}} {
		s, err := NewFindingStream(c.b, FormatTable, WithTerminal(c.t), WithDetails(true))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if err := s.Write(f); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(plain.String(), "\x1b[") {
		t.Errorf("escape without colour:\n%s", plain.String())
	}
	if !strings.Contains(col.String(), "\x1b[1;31mcritical\x1b[0m") || !strings.Contains(col.String(), "\x1b[31mhigh\x1b[0m") {
		t.Errorf("severities not coloured:\n%q", col.String())
	}
	// The hostile subject's own escape is neutralised either way.
	if strings.Contains(col.String(), "\x1b[31m|") {
		t.Errorf("a subject's escape reached the terminal")
	}
}

// TestFindingStreamGroups: the table form counts findings by severity
// and check first, and lists each finding only with details.
func TestFindingStreamGroups(t *testing.T) {
	var fs []reconcile.Finding
	for i := range 30 {
		fs = append(fs, reconcile.Finding{Check: "certificate-expiring", Severity: reconcile.Medium,
			Subject: fmt.Sprintf("CN=host%02d.example.test", i), Message: "certificate expires in 20 days"})
	}
	fs = append(fs, reconcile.Finding{Check: "weak-crypto", Severity: reconcile.High, Subject: "CN=legacy.example.test", Message: "RSA-1024 key"})
	for _, details := range []bool{false, true} {
		var b bytes.Buffer
		s, _ := NewFindingStream(&b, FormatTable, WithTerminal(Terminal{Width: 80}), WithDetails(details))
		for _, f := range fs {
			_ = s.Write(f)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if !strings.HasPrefix(out, "31 findings: 1 high, 30 medium\n") {
			t.Errorf("count line:\n%s", out)
		}
		lines := strings.Split(out, "\n")
		if len(lines) < 4 || !strings.HasPrefix(lines[2], "high") || !strings.Contains(lines[2], "weak-crypto") ||
			!strings.HasPrefix(lines[3], "medium") || !strings.Contains(lines[3], "   30  ") {
			t.Errorf("groups, most severe first, with counts:\n%s", out)
		}
		if got := strings.Count(out, "host2"); details != (got > 1) {
			t.Errorf("details=%v: subjects listed %d times:\n%s", details, got, out)
		}
		if m := maxLine(out); m > 80 {
			t.Errorf("line of %d columns:\n%s", m, out)
		}
	}
}

// TestObservationStreamCounts: 244 refused endpoints are one line
// "refused: 244", not 244 rows.
func TestObservationStreamCounts(t *testing.T) {
	var obs []records.Observation
	for i := range 244 {
		obs = append(obs, records.Observation{Target: fmt.Sprintf("203.0.113.%d:443", i), IP: fmt.Sprintf("203.0.113.%d", i), Protocol: "tls",
			Error: &records.ScanError{Kind: records.ScanRefused, Message: "connection refused"}})
	}
	obs = append(obs, records.Observation{Target: "slow.example.test:443", Protocol: "tls", Error: &records.ScanError{Kind: records.ScanTimeout, Message: "no answer within 5s"}})
	obs = append(obs, fixtureReport().Observations[0])
	var b bytes.Buffer
	s, _ := NewObservationStream(&b, FormatTable, WithTerminal(Terminal{Width: 80}))
	for _, o := range obs {
		_ = s.Write(o)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "246 endpoints, 1 answered, 245 failed") || !strings.Contains(out, "refused:    244  tls://203.0.113.0:443") ||
		!strings.Contains(out, "timeout:      1") || strings.Count(out, "203.0.113.") > 1 {
		t.Errorf("failures not counted by kind:\n%s", out)
	}
}

// TestObservationSummaryKeepsNoEncoding: the table form keeps every
// observation until it closes, and keeps none of the encodings a scan
// attached for the JSONL output.
func TestObservationSummaryKeepsNoEncoding(t *testing.T) {
	var b bytes.Buffer
	s, err := NewObservationStream(&b, FormatTable, WithTerminal(Terminal{Width: 80}))
	if err != nil {
		t.Fatal(err)
	}
	o := records.Observation{Target: "127.0.0.1:443", IP: "127.0.0.1", Port: 443, Protocol: "tls"}
	o.UseEncoding([]byte(`{"not":"this observation"}`))
	if err := s.Write(o); err != nil {
		t.Fatal(err)
	}
	kept := s.(*summaryStream[records.Observation]).rows[0]
	got, err := kept.AppendJSON(nil)
	want, _ := json.Marshal(kept)
	if err != nil || string(got) != string(want) {
		t.Fatalf("kept observation encodes as %s, want %s", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
