package reports

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/keyaudit/keyaudit/reconcile"
)

// githubCommentLimit is the most characters GitHub accepts in a pull
// request comment (65,536 is refused).
const githubCommentLimit = 65535

// withChanges marks some of the fixture's findings as changed by its
// reconcile.
func withChanges(r *Report) *Report {
	r.Changes = map[string]string{}
	for _, f := range r.Findings {
		switch f.Check {
		case "unauthorized-issuance":
			r.Changes[f.Fingerprint()] = reconcile.EventOpened
		case "certificate-expired":
			r.Changes[f.Fingerprint()] = reconcile.EventEscalated
		case "orphaned-key":
			r.Changes[f.Fingerprint()] = reconcile.EventReopened
		}
	}
	return r
}

func TestMarkdownSummaryGolden(t *testing.T) {
	out := render(t, FormatMarkdown, withChanges(fixtureReport()), Options{Summary: true})
	golden(t, "report.summary.md.golden", out)
	s := string(out)
	for _, want := range []string{"FAIL: 5 unsuppressed findings at or above high", "1 new, 1 reopened, 1 escalated, 1 resolved",
		"| 1 | 4 | 2 | 1 | 0 | 1 |", "**critical** (opened)", "rescanned: re-scanned"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	if strings.Contains(s, "<script") || strings.Contains(s, "@everyone") || strings.ContainsRune(s, 0x1b) {
		t.Error("summary carries unescaped certificate text")
	}
	empty := render(t, FormatMarkdown, &Report{GeneratedAt: fixedNow, Run: RunInfo{ID: 1, Kind: "reconcile", Status: "complete"}}, Options{Summary: true})
	if !strings.Contains(string(empty), "No unsuppressed findings.") || !strings.Contains(string(empty), "No finding opened") {
		t.Errorf("empty summary:\n%s", empty)
	}
}

// TestMarkdownSummaryLimit: 10,000 findings with long, escape-heavy text
// (every character of which md expands), all of them new, and as many
// resolved, still make a comment GitHub accepts, which says what it left
// out.
func TestMarkdownSummaryLimit(t *testing.T) {
	r := &Report{GeneratedAt: fixedNow, Run: RunInfo{ID: 7, Kind: "reconcile", Status: "complete"}, Changes: map[string]string{}}
	long := strings.Repeat("<&@#|", 400)
	sevs := reconcile.Severities
	for i := range 10000 {
		f := reconcile.Finding{Check: fmt.Sprintf("check-%03d-%s", i%300, strings.Repeat("x", 80)), Severity: sevs[i%len(sevs)],
			Subject: fmt.Sprintf("CN=host%05d.example.test %s", i, long), Endpoint: fmt.Sprintf("tls://host%05d.example.test:443 (127.0.%d.%d)", i, i/250, i%250),
			Message: long}
		r.Findings = append(r.Findings, f)
		r.Changes[f.Fingerprint()] = []string{reconcile.EventOpened, reconcile.EventReopened, reconcile.EventEscalated}[i%3]
		r.Resolved = append(r.Resolved, reconcile.Transition{Event: reconcile.EventResolved, Finding: f, Evidence: map[string]any{"reason": "rescanned", "detail": long}})
	}
	out := render(t, FormatMarkdown, r, Options{Summary: true})
	if len(out) > SummaryLimit || utf8.RuneCount(out) > githubCommentLimit {
		t.Fatalf("summary is %d bytes, %d characters", len(out), utf8.RuneCount(out))
	}
	s := string(out)
	for _, want := range []string{"| 2000 | 2000 | 2000 | 2000 | 2000 | 0 |", "3334 new, 3333 reopened, 3333 escalated, 10000 resolved",
		"Top findings (25 of 10000 unsuppressed)", "keyaudit report --run 7"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	// Every list is cut, and says by how much: four change lists, the top
	// findings and the checks.
	if n := len(regexp.MustCompile(`(?m)^… and [0-9]+ more$`).FindAllString(s, -1)); n != 6 {
		t.Errorf("%d lists say what they left out, want 6", n)
	}
	if top := s[strings.Index(s, "#### Top findings"):]; strings.Count(top, "\n| **critical**") < 5 {
		t.Error("fewer than 5 top findings shown")
	}
	if t.Failed() {
		t.Logf("%d bytes; lines with more:\n%s", len(out), grepLines(s, "more"))
	}
	if strings.Count(s, "<details>") != strings.Count(s, "</details>") {
		t.Error("a details block is left open")
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) || strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
