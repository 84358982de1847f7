package reports

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store"
)

// csvOf renders rows as the CSV stream does.
func csvOf[T any](t *testing.T, cols []Column[T], rows ...T) string {
	t.Helper()
	var b bytes.Buffer
	s, err := NewStream(&b, FormatCSV, cols)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := s.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestFindingRowColumns(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 30, 0, 0, time.FixedZone("x", 3600))
	r := FindingRow{Finding: reconcile.Finding{Check: "weak-key", Severity: reconcile.High, Subject: "CN=a", Endpoint: "127.0.0.1:443", FirstSeen: at},
		State: "resolved", Since: at.Add(time.Hour), Resolution: map[string]any{"detail": "endpoint gone"}}
	want := "STATE,SEVERITY,CHECK,SUBJECT,ENDPOINT,FIRST SEEN,SINCE,EVIDENCE\n" +
		"resolved,high,weak-key,CN=a,127.0.0.1:443,2026-03-01 11:30,2026-03-01 12:30,endpoint gone\n" +
		"open,,,,,0001-01-01 00:00,0001-01-01 00:00,\n"
	if got := csvOf(t, FindingRowColumns, r, FindingRow{State: "open"}); got != want {
		t.Errorf("got\n%swant\n%s", got, want)
	}
}

func TestRunColumns(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rows := []RunRow{
		{Run: store.Run{ID: 7, Kind: "scan", Group: "g", Status: store.StatusComplete, Started: start, Ended: start.Add(time.Minute)},
			Counts: map[string]int64{store.KindFinding: 1, store.KindObservation: 3, "other": 9}},
		{Run: store.Run{ID: 8, Kind: "ct", Status: store.StatusAbandoned, Started: start, Note: "no heartbeat"}, Counts: map[string]int64{}},
	}
	want := "ID,KIND,GROUP,STATUS,STARTED,ENDED,RECORDS,NOTE\n" +
		"7,scan,g,complete,2026-03-01T12:00:00Z,2026-03-01T12:01:00Z,observation=3 finding=1,\n" +
		"8,ct,,abandoned,2026-03-01T12:00:00Z,,,no heartbeat\n"
	if got := csvOf(t, RunColumns, rows...); got != want {
		t.Errorf("got\n%swant\n%s", got, want)
	}
}

func TestRulesBySeverity(t *testing.T) {
	cs := []*reconcile.Check{
		{ID: "b-low", Severity: reconcile.Low},
		{ID: "z-critical", Severity: reconcile.Critical, Citations: []string{"RFC 1", "RFC 2"}},
		{ID: "a-low", Severity: reconcile.Low},
		{ID: "m-high", Severity: reconcile.High},
	}
	var ids []string
	for _, r := range RulesBySeverity(cs) {
		ids = append(ids, r.ID)
	}
	if got := strings.Join(ids, " "); got != "z-critical m-high a-low b-low" {
		t.Errorf("order %s, want most severe first, then by ID", got)
	}
	want := "ID,SEVERITY,DESCRIPTION,CITATIONS\nz-critical,critical,,RFC 1; RFC 2\n"
	if got := csvOf(t, RuleColumns, RulesBySeverity(cs[1:2])...); got != want {
		t.Errorf("got\n%swant\n%s", got, want)
	}
}

func TestCATableColumns(t *testing.T) {
	ca := reconcile.CA{Name: "Corp CA", Organizations: []string{"Example Corp", "Example Ltd"}, Identifiers: []string{"pki.example.com", "ca.example"}, Source: "config"}
	want := "CA,ISSUER ORGANISATIONS,CAA IDENTIFIERS,SOURCE\nCorp CA,Example Corp; Example Ltd,pki.example.com ca.example,config\n"
	if got := csvOf(t, CATableColumns, ca); got != want {
		t.Errorf("got\n%swant\n%s", got, want)
	}
}
