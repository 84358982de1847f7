package stage

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/keyaudit/keyaudit/notify"
	"github.com/keyaudit/keyaudit/reconcile"
	_ "github.com/keyaudit/keyaudit/reconcile/checks" // registers the checks
	"github.com/keyaudit/keyaudit/reconcile/destroy"
	"github.com/keyaudit/keyaudit/reconcile/revoke"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
)

// KindResolved is an item of a reconcile run: a finding it resolved, with
// the evidence (a reconcile.Transition).
const KindResolved = "resolved"

// ReconcileParams are a reconcile's inputs beyond the store.
type ReconcileParams struct {
	Policy       reconcile.Policy
	Suppressions []reconcile.Suppression
	Watch        []string
	CAs          *reconcile.CATable
	// Checks restricts the reconcile to these checks; findings of other
	// checks keep their state.
	Checks []string
	// Now is the reconcile's clock (zero: the Env's), for reproducing a
	// past audit.
	Now time.Time
	// Runs: see EstateOptions.
	Runs []int64
	// Revocations lists what is known to be revoked; nil: what keyaudit
	// revoked itself (its audit log).
	Revocations func(ctx context.Context, st store.Store) ([]reconcile.Revocation, error)
	// Destructions lists the key destructions carried out; nil: those of
	// keyaudit's audit log.
	Destructions func(ctx context.Context, st store.Store) ([]reconcile.Destruction, error)
	// Owners give every finding its owner (package notify); Router turns
	// the lifecycle's events into outbox notifications, written with
	// them (nil: none).
	Owners []notify.Owner
	Router *notify.Router
	Meta   map[string]any
}

// ReconcileResult is what a reconcile found.
type ReconcileResult struct {
	Outcome
	// Findings are the findings reported now (open, and suppressed ones
	// marked), first_seen as first recorded.
	Findings []reconcile.Finding
	// Events are the lifecycle transitions this reconcile made; Resolved
	// those that resolved a finding, with their evidence.
	Events   []reconcile.Transition
	Resolved []reconcile.Transition
	Snapshot *reconcile.Snapshot
}

// Reconcile runs every registered check (or p.Checks) over the estate
// view and advances the findings lifecycle, recording a run of kind
// "reconcile" that holds the estate it read and the findings, so reports
// of it are reproducible. It returns ErrEmptyEstate when there is nothing
// to reconcile.
func Reconcile(ctx context.Context, env Env, p ReconcileParams) (ReconcileResult, error) {
	start := time.Now()
	out := ReconcileResult{Outcome: Outcome{Stage: "reconcile"}}
	st := env.Store
	if st == nil {
		return out, fmt.Errorf("reconcile reads the estate from the store: no store")
	}
	now := p.Now
	if now.IsZero() {
		now = env.now()
	}
	if p.Revocations == nil {
		p.Revocations = revoke.Revocations
	}
	if p.Destructions == nil {
		p.Destructions = destroy.Destructions
	}
	snap, err := LoadEstate(ctx, st, EstateOptions{Now: now, Policy: p.Policy, Runs: p.Runs, Revocations: p.Revocations, Destructions: p.Destructions,
		NotificationFailures: NotificationFailures(p.Router.MaxAttempts())})
	if err != nil {
		return out, err
	}
	snap.Watched, snap.CAs = p.Watch, p.CAs
	out.Snapshot = snap

	res := reconcile.Run(snap, reconcile.Options{Checks: p.Checks, Suppressions: p.Suppressions})
	notify.Assign(p.Owners, snap, res.Findings)

	meta := map[string]any{"inputs": snap.Sources, "checks": p.Checks, "now": now, "runs": p.Runs}
	for k, v := range p.Meta {
		meta[k] = v
	}
	rec, err := store.Begin(ctx, st, store.RunSpec{Kind: "reconcile", Meta: meta}, store.RecorderOptions{BatchSize: 1000})
	if err != nil {
		return out, err
	}
	defer rec.Close()
	out.RunID = rec.ID()

	ran := func(string) bool { return true }
	if len(p.Checks) > 0 {
		want := map[string]bool{}
		for _, c := range p.Checks {
			want[c] = true
		}
		ran = func(c string) bool { return want[c] }
	}
	var tracked []reconcile.Tracked
	err = st.UpdateFindings(ctx, p.Checks, func(cur map[string]store.FindingRecord) ([]store.FindingRecord, []store.FindingEvent, error) {
		fresh := make(map[string]reconcile.Tracked, len(cur))
		for fp, r := range cur {
			t, err := trackedOf(r)
			if err != nil {
				return nil, nil, err
			}
			fresh[fp] = t
		}
		var events []reconcile.Transition
		tracked, events = reconcile.Advance(snap, res, ran, fresh)
		out.Events = events
		recs := make([]store.FindingRecord, 0, len(tracked))
		for _, t := range tracked {
			r, err := recordOf(t, rec.ID())
			if err != nil {
				return nil, nil, err
			}
			recs = append(recs, r)
		}
		evs := make([]store.FindingEvent, 0, len(events))
		for _, e := range events {
			b, err := json.Marshal(e.Evidence)
			if err != nil {
				return nil, nil, err
			}
			evs = append(evs, store.FindingEvent{Fingerprint: e.Fingerprint, Time: now.UTC(), RunID: rec.ID(), Event: e.Event, Evidence: b,
				Notify: p.Router.Notifications(e, rec.ID(), now)})
		}
		return recs, evs, nil
	})
	if err != nil {
		_ = rec.Finish(ctx, store.StatusFailed, "findings: "+err.Error())
		return out, err
	}
	firstSeen := make(map[string]time.Time, len(tracked))
	for _, t := range tracked {
		firstSeen[t.Finding.Fingerprint()] = t.FirstSeen
	}
	out.Findings = res.Findings
	for i := range out.Findings {
		if fs, ok := firstSeen[out.Findings[i].Fingerprint()]; ok {
			out.Findings[i].FirstSeen = fs
		}
	}
	for _, e := range out.Events {
		if e.Event == reconcile.EventResolved {
			out.Resolved = append(out.Resolved, e)
		}
	}
	if err := writeReconcileItems(rec, snap, out); err != nil {
		_ = rec.Finish(ctx, store.StatusFailed, err.Error())
		return out, err
	}
	out.Status = store.StatusComplete
	for _, s := range snap.Sources {
		if s.Status != string(store.StatusComplete) {
			out.Status = store.StatusPartial
		}
	}
	opened := 0
	for _, e := range out.Events {
		if e.Event == reconcile.EventOpened || e.Event == reconcile.EventReopened {
			opened++
		}
	}
	out.Note = fmt.Sprintf("%d findings (%d opened or reopened, %d resolved) over %d endpoints, %d keys, %d CT sightings, %d CAA results",
		len(out.Findings), opened, len(out.Resolved), len(snap.Endpoints), len(snap.Keys), len(snap.Sightings), len(snap.CAA))
	if err := rec.Finish(ctx, out.Status, out.Note); err != nil {
		return out, err
	}
	for _, s := range snap.Sources {
		if s.Status != string(store.StatusComplete) {
			fmt.Fprintf(env.stderr(), "keyaudit: reconcile: %s input is %s: %s\n", s.Kind, s.Status, s.Note)
		}
	}
	env.logger().Info("reconcile recorded", "run", out.RunID, "status", out.Status, "findings", len(out.Findings), "resolved", len(out.Resolved))
	out.Took = time.Since(start)
	out.TookText = out.Took.Round(time.Millisecond).String()
	return out, nil
}

// writeReconcileItems records what the reconcile read and found.
func writeReconcileItems(rec *store.Recorder, snap *reconcile.Snapshot, r ReconcileResult) error {
	add := func(kind, key, spki, cert string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode %s: %w", kind, err)
		}
		return rec.Add(store.Item{Kind: kind, Key: key, SPKISHA256: spki, CertSHA256: cert, Data: b})
	}
	for _, f := range r.Findings {
		if err := add(store.KindFinding, f.Fingerprint(), f.SPKISHA256, f.CertSHA256, f); err != nil {
			return err
		}
	}
	// The certificates the findings name, so that a revocation plan from
	// this reconcile's findings needs no --cert for what keyaudit saw.
	certs := map[string]bool{}
	for _, f := range r.Findings {
		der := snap.CertDER[f.CertSHA256]
		if f.CertSHA256 == "" || der == nil || certs[f.CertSHA256] {
			continue
		}
		certs[f.CertSHA256] = true
		it, err := records.CertificateItem(der, f.CertSHA256, f.SPKISHA256)
		if err != nil {
			return err
		}
		if err := rec.Add(it); err != nil {
			return err
		}
	}
	for _, t := range r.Resolved {
		if err := add(KindResolved, t.Fingerprint, t.Finding.SPKISHA256, t.Finding.CertSHA256, t); err != nil {
			return err
		}
	}
	for _, o := range snap.Observations {
		spki, cert := "", ""
		if l := o.Leaf(); l != nil {
			spki, cert = l.SPKISHA256, l.SHA256
		}
		if err := add(store.KindObservation, records.ObservationKey(o), spki, cert, o); err != nil {
			return err
		}
	}
	for i, k := range snap.Keys {
		if err := add(store.KindKey, fmt.Sprintf("%d|%s", i, k.Ref), k.SPKISHA256, k.CertSHA256, k); err != nil {
			return err
		}
	}
	for i, c := range snap.CAA {
		if err := add(store.KindCAA, fmt.Sprintf("%d|%s", i, c.Name), "", "", c); err != nil {
			return err
		}
	}
	for _, sg := range snap.Sightings {
		if err := add(store.KindSighting, sg.ItemKey(), sg.SPKISHA256, sg.CertSHA256, sg); err != nil {
			return err
		}
	}
	return nil
}

func trackedOf(r store.FindingRecord) (reconcile.Tracked, error) {
	t := reconcile.Tracked{State: r.State, FirstSeen: r.FirstSeen, LastSeen: r.LastSeen, Since: r.Since}
	if err := json.Unmarshal(r.Data, &t.Finding); err != nil {
		return t, fmt.Errorf("stored finding %s: %w", r.Fingerprint, err)
	}
	if len(r.Evidence) > 0 && string(r.Evidence) != "{}" && string(r.Evidence) != "null" {
		if err := json.Unmarshal(r.Evidence, &t.Evidence); err != nil {
			return t, fmt.Errorf("stored finding %s: evidence: %w", r.Fingerprint, err)
		}
	}
	t.Finding.FirstSeen = r.FirstSeen
	return t, nil
}

func recordOf(t reconcile.Tracked, runID int64) (store.FindingRecord, error) {
	t.Finding.FirstSeen = t.FirstSeen
	data, err := json.Marshal(t.Finding)
	if err != nil {
		return store.FindingRecord{}, err
	}
	ev, err := json.Marshal(t.Evidence)
	if err != nil {
		return store.FindingRecord{}, err
	}
	return store.FindingRecord{Fingerprint: t.Finding.Fingerprint(), Check: t.Finding.Check, Severity: string(t.Finding.Severity), State: t.State,
		FirstSeen: t.FirstSeen, LastSeen: t.LastSeen, Since: t.Since, RunID: runID, Data: data, Evidence: ev}, nil
}

// WriteSummary says on w which run the reconcile recorded and what it
// resolved, with the evidence.
func (r ReconcileResult) WriteSummary(w io.Writer) {
	fmt.Fprintf(w, "keyaudit: reconcile run %d: %s\n", r.RunID, r.Note)
	for _, t := range r.Resolved {
		fmt.Fprintf(w, "keyaudit: resolved %s %s: %v\n", t.Finding.Check, t.Finding.Subject, t.Evidence["detail"])
	}
}
