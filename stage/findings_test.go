package stage

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store"
)

func TestFindingsState(t *testing.T) {
	for in, want := range map[string]string{"open": "open", "RESOLVED": "resolved", "all": "", "": "", "All": ""} {
		if got, err := FindingState(in); err != nil || got != want {
			t.Errorf("FindingState(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := FindingState("closed"); err == nil || err.Error() != `"closed": want open, resolved or all` {
		t.Errorf("FindingState(closed): %v", err)
	}
}

// putFindings stores tracked findings and their events as a reconcile
// would.
func putFindings(t *testing.T, st store.Store, recs []store.FindingRecord, events []store.FindingEvent) {
	t.Helper()
	err := st.UpdateFindings(context.Background(), nil, func(map[string]store.FindingRecord) ([]store.FindingRecord, []store.FindingEvent, error) {
		return recs, events, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func findingRecord(t *testing.T, f reconcile.Finding, state string, first, since time.Time, evidence string) store.FindingRecord {
	t.Helper()
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	r := store.FindingRecord{Fingerprint: f.Fingerprint(), Check: f.Check, Severity: string(f.Severity), State: state,
		FirstSeen: first, LastSeen: since, Since: since, Data: data}
	if evidence != "" {
		r.Evidence = json.RawMessage(evidence)
	}
	return r
}

func TestFindingsRows(t *testing.T) {
	ctx := context.Background()
	st := tempStore(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	open := reconcile.Finding{Check: "weak-key", Severity: reconcile.High, Subject: "CN=a", Endpoint: "127.0.0.1:443", Message: "weak"}
	gone := reconcile.Finding{Check: "expired-certificate", Severity: reconcile.Medium, Subject: "CN=b", Message: "expired"}
	putFindings(t, st, []store.FindingRecord{
		findingRecord(t, open, store.FindingOpen, t0, t0.Add(time.Hour), ""),
		findingRecord(t, gone, store.FindingResolved, t0, t0.Add(2*time.Hour), `{"detail":"endpoint gone"}`),
	}, []store.FindingEvent{
		{Fingerprint: open.Fingerprint(), Time: t0, Event: store.EventOpened},
		{Fingerprint: gone.Fingerprint(), Time: t0, Event: store.EventOpened},
		{Fingerprint: gone.Fingerprint(), Time: t0.Add(2 * time.Hour), Event: store.EventResolved, Evidence: json.RawMessage(`{"detail":"endpoint gone"}`)},
	})
	env := Env{Store: st}

	rows, err := Findings(ctx, env, store.FindingFilter{}, false)
	if err != nil || len(rows) != 2 {
		t.Fatalf("Findings = %+v, %v", rows, err)
	}
	byCheck := map[string]int{}
	for i, r := range rows {
		byCheck[r.Check] = i
		if r.History != nil {
			t.Errorf("%s: history without asking: %v", r.Check, r.History)
		}
		if !r.FirstSeen.Equal(t0) {
			t.Errorf("%s: first_seen %v, want the stored %v", r.Check, r.FirstSeen, t0)
		}
	}
	o, g := rows[byCheck["weak-key"]], rows[byCheck["expired-certificate"]]
	if o.State != store.FindingOpen || o.Fingerprint != open.Fingerprint() || o.Resolution != nil || o.Endpoint != open.Endpoint {
		t.Errorf("open row %+v", o)
	}
	if g.State != store.FindingResolved || g.Resolution["detail"] != "endpoint gone" || !g.Since.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("resolved row %+v", g)
	}

	rows, err = Findings(ctx, env, store.FindingFilter{State: store.FindingResolved}, true)
	if err != nil || len(rows) != 1 || rows[0].Check != "expired-certificate" {
		t.Fatalf("resolved with history: %+v, %v", rows, err)
	}
	if h := rows[0].History; len(h) != 2 || h[0].Event != store.EventOpened || h[1].Event != store.EventResolved {
		t.Errorf("history %+v", h)
	}

	// A stored finding that does not decode is an error naming it.
	bad := findingRecord(t, reconcile.Finding{Check: "x", Subject: "CN=c"}, store.FindingOpen, t0, t0, "")
	bad.Data = json.RawMessage(`"not a finding"`)
	putFindings(t, st, []store.FindingRecord{bad}, nil)
	if _, err := Findings(ctx, env, store.FindingFilter{}, false); err == nil || !strings.HasPrefix(err.Error(), "finding "+bad.Fingerprint+": ") {
		t.Errorf("undecodable finding: %v", err)
	}
	if _, err := Findings(ctx, Env{}, store.FindingFilter{}, false); err == nil {
		t.Error("no store: no error")
	}
}
