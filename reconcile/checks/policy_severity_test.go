package checks

import (
	"strings"
	"testing"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store/records"
)

// TestPolicySeverityOverride: policy.severity sets the severity of every
// finding of the checks it names, and only theirs; Policy.Check refuses
// an unknown check ID or severity.
func TestPolicySeverityOverride(t *testing.T) {
	snap := func(p reconcile.Policy) reconcile.Snapshot {
		return reconcile.Snapshot{Now: now, Policy: p, Observations: []records.Observation{obs("a:443", cert("a", "s1")), obs("b:443", cert("b", "s2"))}}
	}
	s := snap(reconcile.Policy{})
	base := reconcile.Run(&s, reconcile.Options{Checks: []string{"unmanaged-key"}})
	if len(base.Findings) != 2 || base.Findings[0].Severity == reconcile.Low {
		t.Fatalf("without override: %+v", base.Findings)
	}
	p := reconcile.Policy{Severity: map[string]reconcile.Severity{"unmanaged-key": "Low", "weak-key": "critical"}}
	if err := p.Check(); err != nil {
		t.Fatal(err)
	}
	s = snap(p)
	res := reconcile.Run(&s, reconcile.Options{Checks: []string{"unmanaged-key"}})
	if len(res.Findings) != 2 {
		t.Fatalf("%d findings, want 2", len(res.Findings))
	}
	for _, f := range res.Findings {
		if f.Severity != reconcile.Low {
			t.Errorf("%s %s: severity %s, want low", f.Check, f.Subject, f.Severity)
		}
	}

	bad := reconcile.Policy{Severity: map[string]reconcile.Severity{"no-such-check": "low", "unmanaged-key": "urgent"}}
	err := bad.Check()
	if err == nil || !strings.Contains(err.Error(), `unknown check "no-such-check"`) || !strings.Contains(err.Error(), `policy.severity.unmanaged-key: unknown severity "urgent"`) {
		t.Errorf("Check: %v", err)
	}
}
