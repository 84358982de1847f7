package reports

import (
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/keyaudit/keyaudit/reconcile"
)

// JUnit XML as CI systems read it (Jenkins, GitLab, GitHub test
// reporters): <testsuites> of <testsuite> of <testcase>.
type junitSuites struct {
	XMLName   xml.Name     `xml:"testsuites"`
	Name      string       `xml:"name,attr"`
	Tests     int          `xml:"tests,attr"`
	Failures  int          `xml:"failures,attr"`
	Errors    int          `xml:"errors,attr"`
	Skipped   int          `xml:"skipped,attr"`
	Time      string       `xml:"time,attr"`
	Timestamp string       `xml:"timestamp,attr,omitempty"`
	Suites    []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr,omitempty"`
	Type    string `xml:"type,attr,omitempty"`
	Body    string `xml:",chardata"`
}

// JUnit writes one test suite per check and one test case per check and
// subject: it fails when an unsuppressed finding about the subject is at
// or above Options.FailOn, is skipped when every finding about it is
// suppressed, and passes otherwise (its findings in system-out). A check
// without findings is one passing case, so the CI view shows what ran.
func JUnit(w io.Writer, r *Report, opts Options) error {
	ts := rfc3339(r.GeneratedAt)
	if len(ts) > 19 {
		ts = ts[:19] // JUnit's timestamp has no zone
	}
	all := junitSuites{Name: "keyaudit", Time: "0", Timestamp: ts}
	bySubject := map[string]map[string][]reconcile.Finding{}
	var order = map[string][]string{}
	for _, f := range r.sortedFindings() {
		if bySubject[f.Check] == nil {
			bySubject[f.Check] = map[string][]reconcile.Finding{}
		}
		subj := f.Subject
		if subj == "" {
			subj = f.Endpoint
		}
		if _, ok := bySubject[f.Check][subj]; !ok {
			order[f.Check] = append(order[f.Check], subj)
		}
		bySubject[f.Check][subj] = append(bySubject[f.Check][subj], f)
	}
	for _, ru := range r.allRules() {
		suite := junitSuite{Name: ru.ID, Time: "0", Timestamp: ts,
			Properties: []junitProperty{{"severity", string(ru.Severity)}, {"fail_on", string(opts.failOn())}}}
		if len(ru.Controls) > 0 {
			suite.Properties = append(suite.Properties, junitProperty{"controls", strings.Join(ru.Controls, "; ")})
		}
		class := "keyaudit." + ru.ID
		subjects := order[ru.ID]
		slices.Sort(subjects)
		if len(subjects) == 0 {
			suite.Cases = append(suite.Cases, junitCase{Name: "no findings", Classname: class, Time: "0"})
		}
		for _, subj := range subjects {
			fs := bySubject[ru.ID][subj]
			c := junitCase{Name: subj, Classname: class, Time: "0"}
			var failing, open []reconcile.Finding
			for _, f := range fs {
				if opts.Fails(f) {
					failing = append(failing, f)
				}
				if !f.Suppressed {
					open = append(open, f)
				}
			}
			switch {
			case len(failing) > 0:
				c.Failure = &junitMessage{Message: failing[0].Message, Type: string(failing[0].Severity), Body: junitBody(fs)}
				suite.Failures++
			case len(open) == 0:
				c.Skipped = &junitMessage{Message: "suppressed: " + fs[0].SuppressedBy, Body: junitBody(fs)}
				suite.Skipped++
			default:
				c.SystemOut = junitBody(fs)
			}
			suite.Cases = append(suite.Cases, c)
		}
		suite.Tests = len(suite.Cases)
		all.Tests += suite.Tests
		all.Failures += suite.Failures
		all.Skipped += suite.Skipped
		all.Suites = append(all.Suites, suite)
	}
	ew := &errWriter{w: w}
	ew.printf("%s", xml.Header)
	enc := xml.NewEncoder(ew)
	enc.Indent("", "  ")
	if err := enc.Encode(all); err != nil {
		return fmt.Errorf("reports: junit: %w", err)
	}
	ew.printf("\n")
	return ew.err
}

// junitBody lists the findings of one case, one block each.
func junitBody(fs []reconcile.Finding) string {
	var b strings.Builder
	for i, f := range fs {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "[%s] %s\n", f.Severity, f.Message)
		for _, kv := range [][2]string{{"endpoint", f.Endpoint}, {"spki_sha256", f.SPKISHA256}, {"cert_sha256", f.CertSHA256},
			{"source", f.Source}, {"controls", strings.Join(f.Controls, "; ")}, {"first_seen", rfc3339(f.FirstSeen)}, {"fingerprint", f.Fingerprint()}} {
			if kv[1] != "" {
				fmt.Fprintf(&b, "%s: %s\n", kv[0], kv[1])
			}
		}
		if f.Suppressed {
			fmt.Fprintf(&b, "suppressed: %s\n", f.SuppressedBy)
		}
	}
	return b.String()
}
