package reconcile_test

import (
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/certinfo"
	"github.com/keyaudit/keyaudit/reconcile"
	_ "github.com/keyaudit/keyaudit/reconcile/checks"
	"github.com/keyaudit/keyaudit/store/records"
)

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func served(ep, ip, spki, sha string, at time.Time) records.Observation {
	return records.Observation{Target: ep, Host: ep, IP: ip, Port: 443, Protocol: "tls", Time: at,
		Chain: []certinfo.Cert{{Subject: "CN=" + ep, SPKISHA256: spki, SHA256: sha}}}
}

func TestAdvance(t *testing.T) {
	all := func(string) bool { return true }
	f := reconcile.Finding{Check: "weak-key", Severity: reconcile.High, Subject: "CN=a", SPKISHA256: "k1", CertSHA256: "c1", Endpoint: "tls://a:443 (127.0.0.1)"}
	fp := f.Fingerprint()

	// First reconcile: opened, first_seen = now.
	s1 := &reconcile.Snapshot{Now: t0}
	tr, ev := reconcile.Advance(s1, reconcile.Result{Findings: []reconcile.Finding{f}}, all, nil)
	if len(tr) != 1 || tr[0].State != reconcile.StateOpen || !tr[0].FirstSeen.Equal(t0) || len(ev) != 1 || ev[0].Event != reconcile.EventOpened {
		t.Fatalf("open: %+v %+v", tr, ev)
	}
	stored := map[string]reconcile.Tracked{fp: tr[0]}

	// Next day, still reported: no event, first_seen kept.
	s2 := &reconcile.Snapshot{Now: t0.Add(24 * time.Hour)}
	tr, ev = reconcile.Advance(s2, reconcile.Result{Findings: []reconcile.Finding{f}}, all, stored)
	if len(ev) != 0 || !tr[0].FirstSeen.Equal(t0) || !tr[0].LastSeen.Equal(s2.Now) {
		t.Fatalf("unchanged: %+v %+v", tr, ev)
	}
	stored[fp] = tr[0]

	// A reconcile running another check leaves it alone.
	tr, ev = reconcile.Advance(&reconcile.Snapshot{Now: t0.Add(48 * time.Hour)}, reconcile.Result{}, func(c string) bool { return c == "zlint" }, stored)
	if len(tr) != 0 || len(ev) != 0 {
		t.Fatalf("other check: %+v %+v", tr, ev)
	}

	// Re-scanned and serving another key: resolved, saying so.
	at := t0.Add(50 * time.Hour)
	o := served("a:443", "127.0.0.1", "k2", "c2", at)
	s3 := &reconcile.Snapshot{Now: t0.Add(51 * time.Hour), Endpoints: []reconcile.EndpointState{
		reconcile.FoldEndpoint("tls|a:443|127.0.0.1", []reconcile.Attempt{{RunID: 9, Counted: true, Obs: o}}, 0, 1)}}
	tr, ev = reconcile.Advance(s3, reconcile.Result{}, all, stored)
	if len(ev) != 1 || ev[0].Event != reconcile.EventResolved || ev[0].Evidence["reason"] != "rescanned" || ev[0].Evidence["spki_sha256"] != "k2" {
		t.Fatalf("resolve: %+v", ev)
	}
	stored[fp] = tr[0]

	// Reported again: reopened, first_seen still the first.
	tr, ev = reconcile.Advance(&reconcile.Snapshot{Now: t0.Add(72 * time.Hour)}, reconcile.Result{Findings: []reconcile.Finding{f}}, all, stored)
	if len(ev) != 1 || ev[0].Event != reconcile.EventReopened || !tr[0].FirstSeen.Equal(t0) || tr[0].State != reconcile.StateOpen {
		t.Fatalf("reopen: %+v %+v", tr, ev)
	}
	stored[fp] = tr[0]

	// Severity rose: escalated.
	g := f
	g.Severity = reconcile.Critical
	_, ev = reconcile.Advance(&reconcile.Snapshot{Now: t0.Add(96 * time.Hour)}, reconcile.Result{Findings: []reconcile.Finding{g}}, all, stored)
	if len(ev) != 1 || ev[0].Event != reconcile.EventEscalated {
		t.Fatalf("escalate: %+v", ev)
	}

	// Suppressed: resolved with the suppression as evidence.
	h := f
	h.Suppressed, h.SuppressedBy = true, "accepted until renewal"
	_, ev = reconcile.Advance(&reconcile.Snapshot{Now: t0.Add(120 * time.Hour)}, reconcile.Result{Findings: []reconcile.Finding{h}}, all, stored)
	if len(ev) != 1 || ev[0].Event != reconcile.EventResolved || ev[0].Evidence["reason"] != "suppressed" {
		t.Fatalf("suppress: %+v", ev)
	}

	// A sticky check's finding is not resolved by its absence alone.
	k := reconcile.Finding{Check: "key-disappeared", Severity: reconcile.Medium, Subject: "hsm1/old", SPKISHA256: "k9"}
	st := map[string]reconcile.Tracked{k.Fingerprint(): {Finding: k, State: reconcile.StateOpen, FirstSeen: t0, LastSeen: t0, Since: t0}}
	if tr, ev := reconcile.Advance(&reconcile.Snapshot{Now: t0.Add(time.Hour)}, reconcile.Result{}, all, st); len(tr)+len(ev) != 0 {
		t.Fatalf("sticky resolved by absence: %+v %+v", tr, ev)
	}
}

func TestCanonicalEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"tls://legacy.example.test:8443 (127.0.1.7)": "tls://127.0.1.7:8443",
		"tls://127.0.1.7:8443":                       "tls://127.0.1.7:8443",
		"tls://[::1]:443":                            "tls://[::1]:443",
		"smtp://mail.example.test:25 (::1)":          "smtp://[::1]:25",
		"ct:log.example#7":                           "ct:log.example#7",
	} {
		if got := reconcile.CanonicalEndpoint(in); got != want {
			t.Errorf("CanonicalEndpoint(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOneFindingPerEndpointReachedTwice(t *testing.T) {
	byIP := served("127.0.1.7:8443", "127.0.1.7", "k1", "c1", t0)
	byIP.Host, byIP.TLSVersion = "127.0.1.7", "TLS 1.0"
	byName := served("legacy.example.test:8443", "127.0.1.7", "k1", "c1", t0)
	byName.TLSVersion = "TLS 1.0"
	s := &reconcile.Snapshot{Now: t0, Observations: []records.Observation{byIP, byName}}
	res := reconcile.Run(s, reconcile.Options{Checks: []string{"weak-tls-version"}})
	if len(res.Findings) != 1 {
		t.Fatalf("%d findings, want 1: %+v", len(res.Findings), res.Findings)
	}
	f := res.Findings[0]
	eps, _ := f.Evidence["endpoints"].([]string)
	if f.Endpoint != "tls://legacy.example.test:8443 (127.0.1.7)" || len(eps) != 2 {
		t.Errorf("merged finding: endpoint %q, endpoints %v", f.Endpoint, eps)
	}
}
