package stage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/ctlog"
	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/scanner"
	"github.com/keyaudit/keyaudit/scanner/caa"
	"github.com/keyaudit/keyaudit/store"
	"github.com/keyaudit/keyaudit/store/records"
)

// InputKinds are the run kinds the estate view is made of.
var InputKinds = []string{"scan", "inventory", "caa", "ct", "validity"}

// EstateOptions tune LoadEstate.
type EstateOptions struct {
	Now    time.Time
	Policy reconcile.Policy
	// Runs name runs (reconcile --run) that replace the estate's entry for
	// their kind: that kind's part of the view is the estate as it stood
	// after the run (later runs of the kind are left out). The other kinds
	// still come from the view. A running or abandoned run is refused.
	Runs []int64
	// Revocations lists what keyaudit knows to be revoked (nil: none).
	Revocations func(ctx context.Context, st store.Store) ([]reconcile.Revocation, error)
	// Destructions lists the key destructions keyaudit carried out (nil:
	// none).
	Destructions func(ctx context.Context, st store.Store) ([]reconcile.Destruction, error)
	// NotificationFailures lists the sinks whose notifications keep
	// failing (nil: none).
	NotificationFailures func(ctx context.Context, st store.Store) ([]reconcile.NotificationFailure, error)
}

// ErrEmptyEstate is returned when the store holds nothing to reconcile.
var ErrEmptyEstate = errors.New("nothing to reconcile: the store holds no scan, inventory, CT or CAA results yet (run keyaudit audit, or scan/inventory/ct sync/caa first)")

// estate reads the store into a snapshot.
type estate struct {
	st   store.Store
	o    EstateOptions
	runs map[int64]store.Run
	snap *reconcile.Snapshot
	// contributing runs of each kind (their items are in the view).
	contrib map[string]map[int64]bool
	// Departed says why a certificate left the view (expired, revoked).
	departed map[string]string
	asOf     map[string]int64 // kind → run, from o.Runs
	// refreshed runs were looked up again while the view was read.
	refreshed map[int64]bool
	// own are the revocations keyaudit recorded (keyaudit revoke), the
	// first of the snapshot's: they take a certificate out of the CT
	// view; a revocation the validity stage learnt from the CA does not.
	own int
}

// LoadEstate builds the estate view: every endpoint's latest state, each
// inventory source's latest complete read, every CT sighting still live,
// each name's latest CAA decision, each CT log's latest status — whatever
// run saw them. Runs whose holder died are marked abandoned first.
func LoadEstate(ctx context.Context, st store.Store, o EstateOptions) (*reconcile.Snapshot, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	o.Policy = o.Policy.WithDefaults()
	if _, err := st.AbandonStale(ctx, store.Lease()); err != nil {
		return nil, err
	}
	all, err := st.Runs(ctx, store.RunFilter{})
	if err != nil {
		return nil, err
	}
	e := &estate{st: st, o: o, runs: make(map[int64]store.Run, len(all)), contrib: map[string]map[int64]bool{}, departed: map[string]string{}, asOf: map[string]int64{}, refreshed: map[int64]bool{},
		snap: &reconcile.Snapshot{Now: o.Now, Policy: o.Policy}}
	for _, r := range all {
		e.runs[r.ID] = r
	}
	for _, id := range o.Runs {
		r, ok := e.runs[id]
		if !ok {
			return nil, fmt.Errorf("run %d: %w", id, store.ErrNotFound)
		}
		if !slices.Contains(InputKinds, r.Kind) {
			return nil, fmt.Errorf("run %d is a %s run: reconcile reads scan, inventory, caa, ct and validity runs", id, r.Kind)
		}
		if r.Status == store.StatusRunning || r.Status == store.StatusAbandoned {
			return nil, fmt.Errorf("run %d is %s: only a finished run can be reconciled", id, r.Status)
		}
		if prev, dup := e.asOf[r.Kind]; dup && prev != id {
			return nil, fmt.Errorf("runs %d and %d are both %s runs: name one run per kind", prev, id, r.Kind)
		}
		e.asOf[r.Kind] = id
	}
	if o.Revocations != nil {
		if e.snap.Revocations, err = o.Revocations(ctx, st); err != nil {
			return nil, fmt.Errorf("revocations: %w", err)
		}
		e.own = len(e.snap.Revocations)
	}
	if o.Destructions != nil {
		if e.snap.Destructions, err = o.Destructions(ctx, st); err != nil {
			return nil, fmt.Errorf("destructions: %w", err)
		}
	}
	if o.NotificationFailures != nil {
		if e.snap.NotificationFailures, err = o.NotificationFailures(ctx, st); err != nil {
			return nil, fmt.Errorf("notifications: %w", err)
		}
	}
	for _, step := range []func(context.Context) error{e.endpoints, e.inventory, e.validity, e.sightings, e.logs, e.caa, e.certDER} {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	s := e.snap
	s.Departed = e.departed
	s.Reindex()
	if len(s.Endpoints) == 0 && len(s.Keys) == 0 && len(s.Sightings) == 0 && len(s.CAA) == 0 && len(s.LogIssues) == 0 && len(s.Sources) == 0 {
		return nil, ErrEmptyEstate
	}
	return s, nil
}

// run returns run id as it is now: a run listed as running when the
// estate began may have finished since (its items are then read, and its
// status must be too).
func (e *estate) run(ctx context.Context, id int64) store.Run {
	r, ok := e.runs[id]
	if ok && (e.refreshed[id] || r.Status != store.StatusRunning && r.Status != store.StatusAbandoned) {
		return r
	}
	// Once per run and view: a run still running (a CT sync writing
	// sightings now) is not looked up again for each of its items.
	e.refreshed[id] = true
	if fresh, err := e.st.GetRun(ctx, id); err == nil {
		e.runs[id] = fresh
		return fresh
	}
	return r
}

// latest streams the latest n items of each key of kind (from runs of
// runKind). Under reconcile --run for runKind, later runs are left out of
// the view, so the whole history is read and cut there instead.
func (e *estate) latest(ctx context.Context, runKind, kind string, statuses []store.RunStatus, n int, fn func(runID, firstRun int64, it store.Item) error) error {
	if _, ok := e.asOf[runKind]; !ok {
		return e.st.LatestItems(ctx, runKind, kind, statuses, n, fn)
	}
	return e.st.KindItems(ctx, kind, statuses, func(runID int64, it store.Item) error {
		if e.run(ctx, runID).Kind != runKind || !e.visible(runKind, runID) {
			return nil
		}
		return fn(runID, 0, it)
	})
}

// visible reports whether run id of kind belongs in the view.
func (e *estate) visible(kind string, id int64) bool {
	if asOf, ok := e.asOf[kind]; ok && id > asOf {
		return false
	}
	return true
}

func (e *estate) addContrib(kind string, id int64) {
	m := e.contrib[kind]
	if m == nil {
		m = map[int64]bool{}
		e.contrib[kind] = m
	}
	m[id] = true
}

func counted(s store.RunStatus) bool { return s == store.StatusComplete || s == store.StatusPartial }

// endpoints folds every observation of every finished scan run.
func (e *estate) endpoints(ctx context.Context) error {
	var baseline int64
	for id, r := range e.runs {
		if r.Kind == "scan" && r.Status == store.StatusComplete && e.visible("scan", id) && (baseline == 0 || id < baseline) {
			baseline = id
		}
	}
	var key string
	var h reconcile.History
	flush := func() {
		if len(h.Attempts) == 0 {
			return
		}
		st := reconcile.FoldHistory(key, h, e.o.Policy.GoneAfter, baseline)
		e.snap.Endpoints = append(e.snap.Endpoints, st)
		if ob, run := st.Effective(); ob != nil {
			e.snap.Observations = append(e.snap.Observations, *ob)
			e.addContrib("scan", run)
		}
		h = reconcile.History{}
	}
	// The latest attempts of each endpoint are enough to tell whether it
	// is gone (GoneAfter of them), changed or new: the view costs the same
	// on the hundredth run as on the second.
	window := max(e.o.Policy.GoneAfter, 2) + 6
	err := e.latest(ctx, "scan", store.KindObservation, store.Finished, window, func(runID, firstRun int64, it store.Item) error {
		r := e.run(ctx, runID)
		if r.Kind != "scan" || !e.visible("scan", runID) {
			return nil
		}
		if it.Key != key {
			flush()
			key = it.Key
			h.FirstRun = firstRun
			if fr, ok := e.runs[firstRun]; ok {
				h.FirstSeen = fr.Started
			}
		}
		ob, err := records.DecodeObservation(it)
		if err != nil {
			return fmt.Errorf("run %d: %w", runID, err)
		}
		h.Attempts = append(h.Attempts, reconcile.Attempt{RunID: runID, Counted: counted(r.Status), Obs: ob})
		return nil
	})
	if err != nil {
		return fmt.Errorf("estate: endpoints: %w", err)
	}
	flush()
	// Explain every contributing run that was not complete, and every run
	// group that lacks a shard.
	groups := map[string]bool{}
	var notes []reconcile.SourceStatus
	for id := range e.contrib["scan"] {
		r := e.runs[id]
		if r.Status != store.StatusComplete {
			notes = append(notes, reconcile.SourceStatus{Kind: "scan", RunID: id, Status: string(r.Status), Note: r.Note})
		}
		if r.Group != "" && !groups[r.Group] {
			groups[r.Group] = true
			if st := e.groupStatus(ctx, r.Group); st != nil {
				notes = append(notes, *st)
			}
		}
	}
	if len(e.snap.Endpoints) > 0 {
		e.snap.Sources = append(e.snap.Sources, reconcile.SourceStatus{Kind: "scan", Status: string(store.StatusComplete),
			Note: fmt.Sprintf("estate: %d endpoints from %d runs", len(e.snap.Endpoints), len(e.contrib["scan"]))})
	}
	sort.Slice(notes, func(i, j int) bool { return notes[i].RunID < notes[j].RunID })
	e.snap.Sources = append(e.snap.Sources, notes...)
	return nil
}

// groupStatus says what a scan run group lacks: a group is complete only
// when every shard it declared ("i/n" in its runs' meta) has a complete
// (or partial) run. nil when it lacks nothing.
func (e *estate) groupStatus(ctx context.Context, group string) *reconcile.SourceStatus {
	n := 0
	done := map[int]bool{}
	bad := map[int]string{}
	var last int64
	for id, r := range e.runs {
		if r.Kind != "scan" || r.Group != group || !e.visible("scan", id) {
			continue
		}
		r = e.run(ctx, id)
		var meta struct {
			Shard string `json:"shard"`
		}
		_ = json.Unmarshal(r.Meta, &meta)
		i, of := 1, 1
		if meta.Shard != "" {
			if sh, err := scanner.ParseShard(meta.Shard); err == nil && sh.Count > 0 {
				i, of = sh.Index, sh.Count
			}
		}
		if of > n {
			n = of
		}
		if id > last {
			last = id
		}
		if counted(r.Status) {
			done[i] = true
		} else {
			bad[i] = fmt.Sprintf("shard %d/%d %s (run %d)", i, of, r.Status, id)
		}
	}
	var missing []string
	for i := 1; i <= n; i++ {
		if done[i] {
			continue
		}
		if b, ok := bad[i]; ok {
			missing = append(missing, b)
		} else {
			missing = append(missing, fmt.Sprintf("shard %d/%d never ran", i, n))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &reconcile.SourceStatus{Kind: "scan", RunID: last, Status: string(store.StatusPartial),
		Note: fmt.Sprintf("run group %s is incomplete: %s; its endpoints keep their previous state, none is called gone", group, strings.Join(missing, ", "))}
}

// inventory takes each source's keys from its latest complete read.
func (e *estate) inventory(ctx context.Context) error {
	var invRuns []store.Run
	for id, r := range e.runs {
		if r.Kind == "inventory" && r.Status != store.StatusRunning && r.Status != store.StatusAbandoned && e.visible("inventory", id) {
			invRuns = append(invRuns, r)
		}
	}
	sort.Slice(invRuns, func(i, j int) bool { return invRuns[i].ID > invRuns[j].ID }) // newest first
	chosen := map[string]int64{}                                                      // source → its latest complete read
	previous := map[string]int64{}                                                    // source → the complete read before it
	latestFailed := map[string]inventory.Result{}
	latestRun := map[string]int64{}
	sourcesOf := map[int64]map[string]bool{}
	// source → read → the PKCS#11 tokens it read: from its status, else
	// (a read from before tokens were recorded) the label and serial its
	// keys carry.
	tokens := map[string]map[int64][]records.Token{}
	recorded := map[int64]bool{}
	for _, r := range invRuns {
		var statuses []inventory.Result
		err := e.st.Items(ctx, r.ID, store.KindSourceStatus, func(it store.Item) error {
			var res inventory.Result
			if err := json.Unmarshal(it.Data, &res); err != nil {
				return fmt.Errorf("run %d: source status %q: %w", r.ID, it.Key, err)
			}
			if res.Source == "" {
				res.Source = it.Key
			}
			statuses = append(statuses, res)
			return nil
		})
		if err != nil {
			return fmt.Errorf("estate: inventory: %w", err)
		}
		if len(statuses) == 0 { // a run from before per-source statuses: one source
			st := inventory.StatusComplete
			if r.Status != store.StatusComplete {
				st = inventory.Status(r.Status)
			}
			statuses = []inventory.Result{{Source: "", Status: st, Error: r.Note}}
		}
		sourcesOf[r.ID] = map[string]bool{}
		for _, res := range statuses {
			sourcesOf[r.ID][res.Source] = true
			if len(res.Tokens) > 0 {
				if tokens[res.Source] == nil {
					tokens[res.Source] = map[int64][]records.Token{}
				}
				tokens[res.Source][r.ID] = res.Tokens
				recorded[r.ID] = true
			}
			if _, ok := latestRun[res.Source]; !ok {
				latestRun[res.Source] = r.ID
			}
			complete := res.Status == inventory.StatusComplete && r.Status != store.StatusFailed
			if _, ok := chosen[res.Source]; ok {
				if _, ok := previous[res.Source]; !ok && complete {
					previous[res.Source] = r.ID
				}
				continue
			}
			if complete {
				chosen[res.Source] = r.ID
				continue
			}
			if _, ok := latestFailed[res.Source]; !ok && latestRun[res.Source] == r.ID {
				latestFailed[res.Source] = res
			}
		}
	}
	// readKeys calls fn for the keys that run id read from the sources in
	// want (by item key).
	readKeys := func(id int64, want map[string]bool, fn func(src, key string, k inventory.Key)) error {
		return e.st.Items(ctx, id, store.KindKey, func(it store.Item) error {
			src := ""
			if i := strings.IndexByte(it.Key, '|'); i >= 0 && sourcesOf[id][it.Key[:i]] {
				src = it.Key[:i]
			}
			if !want[src] {
				return nil
			}
			var k inventory.Key
			if err := json.Unmarshal(it.Data, &k); err != nil {
				return fmt.Errorf("run %d: key %q: %w", id, it.Key, err)
			}
			fn(src, it.Key, k)
			return nil
		})
	}
	bySource := func(m map[string]int64) map[int64]map[string]bool {
		out := map[int64]map[string]bool{}
		for src, id := range m {
			if out[id] == nil {
				out[id] = map[string]bool{}
			}
			out[id][src] = true
		}
		return out
	}
	current := map[string]int{}       // item keys (source|ref) listed now → index in snap.Keys
	currentSrc := map[string]string{} // item key → its source
	addToken := func(src string, id int64, k *inventory.Key) {
		if recorded[id] || k.Source != "pkcs11" || k.Token == "" && k.TokenSerial == "" {
			return
		}
		if tokens[src] == nil {
			tokens[src] = map[int64][]records.Token{}
		}
		ti := records.Token{Label: k.Token, Serial: k.TokenSerial}
		if !slices.Contains(tokens[src][id], ti) {
			tokens[src][id] = append(tokens[src][id], ti)
		}
	}
	unread := map[string]int{} // item key → index in snap.Keys of a key pending deletion whose public key the source could not read
	for id, want := range bySource(chosen) {
		if err := readKeys(id, want, func(src, key string, k inventory.Key) {
			current[key], currentSrc[key] = len(e.snap.Keys), src
			addToken(src, id, &k)
			if k.SPKISHA256 == "" && strings.HasPrefix(k.State, "pending_") && strings.HasSuffix(k.State, "deletion") && k.Class != inventory.ClassSecretKey {
				unread[key] = len(e.snap.Keys)
			}
			e.snap.Keys = append(e.snap.Keys, k)
			e.snap.KeySources = append(e.snap.KeySources, src)
		}); err != nil {
			return fmt.Errorf("estate: inventory: %w", err)
		}
		e.addContrib("inventory", id)
	}
	if err := e.earlierSPKI(ctx, unread); err != nil {
		return fmt.Errorf("estate: inventory: %w", err)
	}
	// Keys the previous complete read of a source listed and its latest
	// does not: they disappeared (destroyed, moved, or tampered with).
	// Keys listed by both reads whose record changed, and keys only the
	// latest lists (they appeared), are drift between the same two reads.
	before := map[string]bool{}
	for id, want := range bySource(previous) {
		if err := readKeys(id, want, func(src, key string, k inventory.Key) {
			addToken(src, id, &k)
			i, ok := current[key]
			if !ok {
				e.snap.Disappeared = append(e.snap.Disappeared, reconcile.DisappearedKey{Key: k, Source: src, LastRun: id, Run: chosen[src]})
				return
			}
			before[key] = true
			if after := e.snap.Keys[i]; !reflect.DeepEqual(k, after) {
				e.snap.Changed = append(e.snap.Changed, reconcile.KeyChange{Before: k, After: after, Source: src, PrevRun: id, Run: chosen[src]})
			}
		}); err != nil {
			return fmt.Errorf("estate: inventory: %w", err)
		}
	}
	for key, i := range current {
		src := currentSrc[key]
		if prev, ok := previous[src]; ok && !before[key] {
			e.snap.Appeared = append(e.snap.Appeared, reconcile.AppearedKey{Key: e.snap.Keys[i], Source: src, PrevRun: prev, Run: chosen[src]})
		}
	}
	for src, reads := range tokens {
		if _, ok := previous[src]; ok {
			e.snap.TokenChanges = append(e.snap.TokenChanges, tokenChanges(src, previous[src], chosen[src], reads[previous[src]], reads[chosen[src]])...)
		}
	}
	sort.Slice(e.snap.Disappeared, func(i, j int) bool { return e.snap.Disappeared[i].Key.Ref < e.snap.Disappeared[j].Key.Ref })
	sort.Slice(e.snap.Appeared, func(i, j int) bool { return e.snap.Appeared[i].Key.Ref < e.snap.Appeared[j].Key.Ref })
	sort.Slice(e.snap.Changed, func(i, j int) bool { return e.snap.Changed[i].After.Ref < e.snap.Changed[j].After.Ref })
	sort.Slice(e.snap.TokenChanges, func(i, j int) bool {
		a, b := e.snap.TokenChanges[i], e.snap.TokenChanges[j]
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		return a.Before.Serial+"\x00"+a.Before.Label < b.Before.Serial+"\x00"+b.Before.Label
	})
	srcNames := make([]string, 0, len(latestFailed))
	for s := range latestFailed {
		srcNames = append(srcNames, s)
	}
	sort.Strings(srcNames)
	for _, s := range srcNames {
		res := latestFailed[s]
		kept := "no earlier complete read: its keys are unknown"
		if id, ok := chosen[s]; ok {
			kept = fmt.Sprintf("keeping its complete read of run %d", id)
		}
		name := s
		if name == "" {
			name = "inventory"
		}
		e.snap.Sources = append(e.snap.Sources, reconcile.SourceStatus{Kind: "inventory", RunID: latestRun[s], Status: string(store.StatusPartial),
			Note: fmt.Sprintf("source %s was %s in run %d: %s; %s", name, res.Status, latestRun[s], res.Error, kept)})
	}
	if len(chosen) > 0 {
		e.snap.Sources = append(e.snap.Sources, reconcile.SourceStatus{Kind: "inventory", Status: string(store.StatusComplete),
			Note: fmt.Sprintf("estate: %d keys from %d sources", len(e.snap.Keys), len(chosen))})
	}
	return nil
}

// tokenChanges pairs the tokens a source's previous read named with its
// latest read's: a serial that now carries another label, model or
// firmware/hardware version was re-initialised or updated; a label now
// carried by another serial (one the previous read did not have) is
// another device. A token in both reads as it was, or in only one, is no
// change. Fields only one read recorded are not compared.
func tokenChanges(src string, prevRun, run int64, before, after []records.Token) []reconcile.TokenChange {
	var out []reconcile.TokenChange
	serials := map[string]bool{}
	for _, b := range before {
		serials[b.Serial] = true
	}
	for _, b := range before {
		for _, a := range after {
			var fields []string
			switch {
			case a.Serial == b.Serial && a.Serial != "":
				fields = tokenDiff(b, a)
			case a.Label == b.Label && a.Label != "" && !serials[a.Serial]:
				fields = append([]string{"serial"}, tokenDiff(b, a)...)
			}
			if len(fields) > 0 {
				out = append(out, reconcile.TokenChange{Before: b, After: a, Fields: fields, Source: src, PrevRun: prevRun, Run: run})
			}
		}
	}
	return out
}

// tokenDiff names the fields other than the serial both tokens record
// and that differ.
func tokenDiff(b, a records.Token) []string {
	var out []string
	for _, f := range []struct{ name, b, a string }{
		{"label", b.Label, a.Label}, {"manufacturer", b.Manufacturer, a.Manufacturer}, {"model", b.Model, a.Model},
		{"firmware_version", b.FirmwareVersion, a.FirmwareVersion}, {"hardware_version", b.HardwareVersion, a.HardwareVersion},
	} {
		if f.b != "" && f.a != "" && f.b != f.a {
			out = append(out, f.name)
		}
	}
	return out
}

// sightings accumulates every CT sighting ever committed — a sighting is
// committed with the log position past it, so even a run that died kept
// it — until its certificate expires or keyaudit revokes it. One its CA
// revoked otherwise (a verified OCSP answer or CRL) stays: a rogue
// certificate is still an issuance to answer for, and its findings say
// it is revoked.
func (e *estate) sightings(ctx context.Context) error {
	all := append(append([]store.RunStatus{}, store.Finished...), store.StatusRunning, store.StatusAbandoned)
	own := make(map[string]*reconcile.Revocation, e.own)
	for i := range e.snap.Revocations[:e.own] {
		own[e.snap.Revocations[i].CertSHA256] = &e.snap.Revocations[i]
	}
	last := ""
	err := e.latest(ctx, "ct", store.KindSighting, all, 1, func(runID, _ int64, it store.Item) error {
		if it.Key == last || e.run(ctx, runID).Kind != "ct" || !e.visible("ct", runID) {
			return nil
		}
		last = it.Key
		var sg ctlog.Sighting
		if err := json.Unmarshal(it.Data, &sg); err != nil {
			return fmt.Errorf("run %d: sighting %q: %w", runID, it.Key, err)
		}
		if !sg.NotAfter.IsZero() && sg.NotAfter.Before(e.o.Now) {
			e.departed[sg.CertSHA256] = "certificate expired " + sg.NotAfter.UTC().Format(time.RFC3339)
			return nil
		}
		if rv, ok := own[sg.CertSHA256]; ok {
			e.departed[sg.CertSHA256] = fmt.Sprintf("certificate revoked %s (%s)", rv.RevokedAt.UTC().Format(time.RFC3339), rv.Source)
			return nil
		}
		e.snap.Sightings = append(e.snap.Sightings, sg)
		e.addContrib("ct", runID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("estate: ct: %w", err)
	}
	return nil
}

// logs keeps each CT log's latest status; an issue stays until a later
// sync of that log succeeds.
func (e *estate) logs(ctx context.Context) error {
	latest := map[string]records.LogStatus{}
	latestRun := map[string]int64{}
	var order []string
	err := e.latest(ctx, "ct", store.KindLogStatus, store.Finished, 1, func(runID, _ int64, it store.Item) error {
		if e.run(ctx, runID).Kind != "ct" || !e.visible("ct", runID) {
			return nil
		}
		var ls records.LogStatus
		if err := json.Unmarshal(it.Data, &ls); err != nil {
			return fmt.Errorf("run %d: log status %q: %w", runID, it.Key, err)
		}
		if _, ok := latest[it.Key]; !ok {
			order = append(order, it.Key)
		}
		latest[it.Key], latestRun[it.Key] = ls, runID // ordered by run within a key
		return nil
	})
	if err != nil {
		return fmt.Errorf("estate: ct logs: %w", err)
	}
	var unread []string
	for _, k := range order {
		ls := latest[k]
		if ls.Status == records.LogOK {
			continue
		}
		if ls.Status != records.LogMisbehaviour {
			// A log that could not be read (down, not a log at all, the
			// wrong origin) broke no promise: it is a gap in the CT input,
			// reported as such, not a critical finding against the log.
			why := ls.Message
			if ls.Kind != "" {
				why = ls.Kind + ": " + why
			}
			unread = append(unread, fmt.Sprintf("%s (%s)", ls.Log, why))
			continue
		}
		kind := ls.Kind
		if kind == "" {
			kind = ls.Status
		}
		d := ls.Detail
		if d == nil {
			d = map[string]any{}
		}
		d["run"] = latestRun[k]
		e.snap.LogIssues = append(e.snap.LogIssues, reconcile.LogIssue{Log: ls.Log, Kind: kind, Message: ls.Message, Detail: d})
	}
	if len(order) > 0 || len(e.snap.Sightings) > 0 {
		st := reconcile.SourceStatus{Kind: "ct", Status: string(store.StatusComplete),
			Note: fmt.Sprintf("estate: %d live sightings, %d logs (%d misbehaving)", len(e.snap.Sightings), len(order), len(e.snap.LogIssues))}
		if len(unread) > 0 {
			st.Status = string(store.StatusPartial)
			st.Note += fmt.Sprintf("; %d not read at their latest sync: %s", len(unread), strings.Join(unread, "; "))
		}
		e.snap.Sources = append(e.snap.Sources, st)
	}
	return nil
}

// caa keeps each name's latest decision; a later failed lookup is kept
// beside it (caa-lookup-failed) but does not erase it.
func (e *estate) caa(ctx context.Context) error {
	var key string
	var good, bad []caa.Result
	var goodRun, badRun int64
	flush := func() {
		e.snap.CAA = append(e.snap.CAA, good...)
		if badRun > goodRun {
			e.snap.CAA = append(e.snap.CAA, bad...)
		}
		good, bad, goodRun, badRun = nil, nil, 0, 0
	}
	// The latest lookups of a name: its latest decision is among them
	// unless it failed that many times running.
	err := e.latest(ctx, "caa", store.KindCAA, store.Finished, 8, func(runID, _ int64, it store.Item) error {
		if e.run(ctx, runID).Kind != "caa" || !e.visible("caa", runID) {
			return nil
		}
		if it.Key != key {
			flush()
			key = it.Key
		}
		var r caa.Result
		if err := json.Unmarshal(it.Data, &r); err != nil {
			return fmt.Errorf("run %d: caa %q: %w", runID, it.Key, err)
		}
		if r.Error != nil {
			if runID != badRun {
				bad, badRun = nil, runID
			}
			bad = append(bad, r)
			return nil
		}
		if runID != goodRun {
			good, goodRun = nil, runID
		}
		good = append(good, r)
		return nil
	})
	if err != nil {
		return fmt.Errorf("estate: caa: %w", err)
	}
	flush()
	return nil
}

// certDER loads the DER of the leaves served now (for zlint) and of the
// live CT sightings (so a reconcile can record the certificates its
// findings name, for revocation plans), from the runs that saw them.
func (e *estate) certDER(ctx context.Context) error {
	want := map[string]bool{}
	for i := range e.snap.Observations {
		if l := e.snap.Observations[i].Leaf(); l != nil {
			want[l.SHA256] = true
		}
	}
	for i := range e.snap.Sightings {
		if c := e.snap.Sightings[i].CertSHA256; c != "" {
			want[c] = true
		}
	}
	if len(want) == 0 {
		return nil
	}
	e.snap.CertDER = make(map[string][]byte, len(want))
	type source struct {
		id   int64
		kind string // the item kind holding DER in that run
	}
	var srcs []source
	for id := range e.contrib["scan"] {
		srcs = append(srcs, source{id, store.KindCertificate})
	}
	// A CT run keeps each certificate with its sighting; one by an earlier
	// keyaudit kept certificate items, as scans do.
	for id := range e.contrib["ct"] {
		srcs = append(srcs, source{id, store.KindSighting}, source{id, store.KindCertificate})
	}
	sort.SliceStable(srcs, func(i, j int) bool { return srcs[i].id > srcs[j].id })
	for _, src := range srcs {
		err := e.st.Items(ctx, src.id, src.kind, func(it store.Item) error {
			sha := it.CertSHA256
			if it.Kind == store.KindCertificate {
				sha = it.Key // keyed by its hash, in every version
			}
			if !want[sha] || e.snap.CertDER[sha] != nil {
				return nil
			}
			_, der, err := records.ItemDER(it)
			if err != nil || der == nil {
				return err
			}
			e.snap.CertDER[sha] = der
			return nil
		})
		if err != nil {
			return fmt.Errorf("estate: run %d: %w", src.id, err)
		}
		if len(e.snap.CertDER) == len(want) {
			break
		}
	}
	return nil
}

// earlierSPKI gives a key manager's key whose public key it no longer
// serves (AWS KMS refuses GetPublicKey for a key pending deletion) the
// fingerprint of the latest earlier read that had one, so a key about to
// be destroyed is still matched with the certificates using it. unread
// maps item keys to indexes in e.snap.Keys; the history is read only
// when one such key exists.
func (e *estate) earlierSPKI(ctx context.Context, unread map[string]int) error {
	if len(unread) == 0 {
		return nil
	}
	found := map[string]string{}
	err := e.st.KindItems(ctx, store.KindKey, []store.RunStatus{store.StatusComplete, store.StatusPartial}, func(runID int64, it store.Item) error {
		if _, ok := unread[it.Key]; ok && it.SPKISHA256 != "" {
			if r, ok := e.runs[runID]; ok && r.Kind == "inventory" && e.visible("inventory", runID) {
				found[it.Key] = it.SPKISHA256 // history is in run order: the latest wins
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for key, spki := range found {
		k := &e.snap.Keys[unread[key]]
		k.SPKISHA256, k.SPKISource = spki, records.SPKIFromEarlierRead
		k.AddNote("public key not readable now: fingerprint from an earlier inventory read")
	}
	return nil
}
