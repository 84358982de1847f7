package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyaudit/keyaudit/internal/estate"
	"github.com/keyaudit/keyaudit/reports"
)

// openFindings lists the store's findings in state ("open", "resolved").
func listFindings(t *testing.T, ctx context.Context, cfg, state string) map[string]reports.FindingRow {
	t.Helper()
	r := runCLI(t, ctx, "", "--config", cfg, "findings", "--state", state, "--format", "jsonl", "--history")
	if r.code != 0 {
		t.Fatalf("findings: exit %d\n%s", r.code, r.stderr)
	}
	out := map[string]reports.FindingRow{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if line == "" {
			continue
		}
		var f reports.FindingRow
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		out[f.Fingerprint] = f
	}
	return out
}

func byCheck(fs map[string]reports.FindingRow, check string) []reports.FindingRow {
	var out []reports.FindingRow
	for _, f := range fs {
		if f.Check == check {
			out = append(out, f)
		}
	}
	return out
}

// TestEstateAcrossRuns is the estate view over time, on the demo estate
// (real SoftHSM, TesseraCT, Knot, Postfix, Dovecot): a second audit with
// nothing new in CT forgets nothing; an ad-hoc scan of one endpoint and a
// reconcile leave every other finding open with its first_seen and call
// nothing gone; a stopped endpoint is gone after exactly two complete
// scans, with evidence naming both; a re-keyed endpoint resolves its old
// finding with "now serves …" and opens a new one.
func TestEstateAcrossRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: the whole demo estate, several runs")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	d, au, dir := demoAudit(t, ctx, "127.0.5", "127.0.6", 9446)
	cfg := au.Config

	// 1. The first audit.
	if r := runCLI(t, ctx, "", "--config", cfg, "audit", "--format", "jsonl"); r.code != 1 {
		t.Fatalf("audit 1: exit %d\n%s", r.code, r.stderr)
	}
	first := listFindings(t, ctx, cfg, "open")
	firstResolved := listFindings(t, ctx, cfg, "resolved") // suppressed ones
	rogue := byCheck(first, "unauthorized-issuance")
	if len(rogue) != 1 {
		t.Fatalf("audit 1: unauthorized-issuance findings: %d, want 1", len(rogue))
	}

	// A revocation plan from the estate's findings finds the rogue
	// certificate's DER (recorded with the reconcile) without --cert; the
	// negative-serial certificate, which does not parse, is left out
	// with a warning instead of failing the plan.
	planPath := filepath.Join(dir, "plan.json")
	if r := runCLI(t, ctx, "", "--config", cfg, "revoke", "plan", "--from-findings", "latest", "--reason", "keyCompromise", "-o", planPath); r.code != 0 ||
		!strings.Contains(r.stdout, "shop.example.test") {
		t.Errorf("revoke plan --from-findings latest: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// 2. The next day's audit: CT has nothing new, nothing changed.
	if r := runCLI(t, ctx, "", "--config", cfg, "audit", "--format", "jsonl"); r.code != 1 {
		t.Fatalf("audit 2: exit %d\n%s", r.code, r.stderr)
	}
	second := listFindings(t, ctx, cfg, "open")
	for fp, f := range first {
		g, ok := second[fp]
		if !ok {
			t.Errorf("audit 2: %s %s %s no longer open", f.Check, f.Subject, f.Endpoint)
			continue
		}
		if !g.FirstSeen.Equal(f.FirstSeen) {
			t.Errorf("audit 2: %s %s: first_seen moved %s → %s", f.Check, f.Subject, f.FirstSeen, g.FirstSeen)
		}
	}
	for fp, f := range listFindings(t, ctx, cfg, "resolved") {
		if _, ok := firstResolved[fp]; !ok {
			t.Errorf("audit 2: resolved %s %s %s: %v", f.Check, f.Subject, f.Endpoint, f.Resolution)
		}
	}

	// 3. An ad-hoc scan of one endpoint, then a reconcile.
	store := filepath.Join(dir, "keyaudit.db")
	if r := runCLI(t, ctx, "", "--store", store, "scan", "--scope", "127.0.5.0/27", "--format", "jsonl", "127.0.5.1:443"); r.code != 0 {
		t.Fatalf("ad-hoc scan: exit %d\n%s", r.code, r.stderr)
	}
	if r := runCLI(t, ctx, "", "--config", cfg, "reconcile", "--format", "jsonl"); r.code != 1 {
		t.Fatalf("reconcile after ad-hoc scan: exit %d\n%s", r.code, r.stderr)
	}
	third := listFindings(t, ctx, cfg, "open")
	for fp, f := range first {
		g, ok := third[fp]
		if !ok {
			t.Errorf("after ad-hoc scan: %s %s %s no longer open", f.Check, f.Subject, f.Endpoint)
		} else if !g.FirstSeen.Equal(f.FirstSeen) {
			t.Errorf("after ad-hoc scan: %s %s: first_seen moved", f.Check, f.Subject)
		}
	}
	if gone := byCheck(third, "endpoint-gone"); len(gone) != 0 {
		t.Errorf("after ad-hoc scan: endpoint-gone %v", gone)
	}

	// 4. Stop one endpoint (ECDSA P-256, .2:443) and scan twice: after the
	// first scan it is not gone yet, after the second it is, naming both.
	stopped := "127.0.5.2:443"
	if err := d.StopServer(stopped); err != nil {
		t.Fatal(err)
	}
	var scans []int64
	for i := 0; i < 2; i++ {
		r := runCLI(t, ctx, "", "--config", cfg, "audit", "--stages", "scan", "--format", "jsonl")
		if r.code != 1 {
			t.Fatalf("scan-only audit %d: exit %d\n%s", i+1, r.code, r.stderr)
		}
		scans = append(scans, latestRunID(t, ctx, cfg, "scan"))
		gone := byCheck(listFindings(t, ctx, cfg, "open"), "endpoint-gone")
		if i == 0 && len(gone) != 0 {
			t.Fatalf("gone after one failed attempt: %v", gone)
		}
		if i == 1 {
			if len(gone) != 1 || !strings.Contains(gone[0].Endpoint, stopped) {
				t.Fatalf("endpoint-gone after two failed attempts: %+v, want exactly %s", gone, stopped)
			}
			for _, id := range scans {
				if !strings.Contains(gone[0].Message, fmt.Sprint(id)) {
					t.Errorf("endpoint-gone evidence %q does not name scan run %d", gone[0].Message, id)
				}
			}
		}
	}

	// 5. Re-key the RSA-1024 endpoint (.9:443): weak-key resolves with
	// "now serves …", and the new certificate opens its own findings.
	open := listFindings(t, ctx, cfg, "open")
	weak := byCheck(open, "weak-key")
	if len(weak) != 1 {
		t.Fatalf("weak-key findings before re-keying: %d, want 1", len(weak))
	}
	spki, _, err := d.ReplaceLeaf("127.0.5.9:443", estate.Leaf{CN: "weak.example.test", Key: estate.ECDSA256})
	if err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, ctx, "", "--config", cfg, "audit", "--stages", "scan", "--format", "jsonl"); r.code != 1 {
		t.Fatalf("audit after re-keying: exit %d\n%s", r.code, r.stderr)
	}
	resolved := listFindings(t, ctx, cfg, "resolved")
	w, ok := resolved[weak[0].Fingerprint]
	if !ok {
		t.Fatalf("weak-key not resolved after re-keying")
	}
	if w.Resolution["reason"] != "rescanned" || !strings.Contains(fmt.Sprint(w.Resolution["detail"]), "now serves") ||
		w.Resolution["spki_sha256"] != spki {
		t.Errorf("weak-key resolution evidence: %v", w.Resolution)
	}
	if len(w.History) < 2 || w.History[len(w.History)-1].Event != "resolved" {
		t.Errorf("weak-key history: %+v", w.History)
	}
	found := false
	for _, f := range listFindings(t, ctx, cfg, "open") {
		if f.SPKISHA256 == spki && f.Check == "unmanaged-key" {
			found = true
		}
	}
	if !found {
		t.Errorf("no unmanaged-key finding opened for the new key %s", spki)
	}
}

// latestRunID returns the newest run of kind in the config's store.
func latestRunID(t *testing.T, ctx context.Context, cfg, kind string) int64 {
	t.Helper()
	r := runCLI(t, ctx, "", "--config", cfg, "runs", "--kind", kind, "--format", "jsonl")
	if r.code != 0 {
		t.Fatalf("runs: exit %d\n%s", r.code, r.stderr)
	}
	line, _, _ := strings.Cut(r.stdout, "\n")
	var run struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal([]byte(line), &run); err != nil {
		t.Fatalf("runs: %q: %v", line, err)
	}
	return run.ID
}
