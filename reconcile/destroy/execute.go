package destroy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/internal/guard"
	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store"
)

// Audit log steps written by this package (beside guard's).
const (
	StepDryRun           = "dry_run"
	StepAttempt          = "attempt" // intent, written before the source is called
	StepDestroyed        = "destroyed"
	StepScheduled        = "scheduled"
	StepFailed           = "failed"
	StepAlreadyDestroyed = "already_destroyed"
	StepRefusedInUse     = "refused_in_use"
	StepVerified         = "verified"
	StepUnverified       = "unverified"
	StepExecuted         = "executed" // summary of one execution
)

// Outcome is what became of one action.
type Outcome string

// Outcomes.
const (
	OutcomeWouldDestroy     Outcome = "would_destroy" // dry run
	OutcomeDestroyed        Outcome = "destroyed"
	OutcomeScheduled        Outcome = "scheduled"
	OutcomeAlreadyDestroyed Outcome = "already_destroyed"
	OutcomeRefusedInUse     Outcome = "refused_in_use"
	OutcomeFailed           Outcome = "failed"
)

// Detail is the JSON detail of a destroy.* audit entry: plans, hashes,
// key identifiers and outcomes, never key material.
type Detail struct {
	PlanID   string         `json:"plan_id,omitempty"`
	PlanHash string         `json:"plan_hash,omitempty"`
	Approver string         `json:"approver,omitempty"`
	Why      string         `json:"why,omitempty"`
	Counts   map[string]int `json:"counts,omitempty"`

	Action            int                        `json:"action,omitempty"` // 1-based
	Source            string                     `json:"source,omitempty"`
	Name              string                     `json:"name,omitempty"`
	SPKISHA256        string                     `json:"spki_sha256,omitempty"`
	Refs              []string                   `json:"refs,omitempty"`
	Grounds           []string                   `json:"grounds,omitempty"`
	Executor          string                     `json:"executor,omitempty"`
	Reason            string                     `json:"reason,omitempty"`
	PendingWindowDays int                        `json:"pending_window_days,omitempty"`
	Objects           []inventory.DestroyOutcome `json:"objects,omitempty"`
	DeletionDate      *time.Time                 `json:"deletion_date,omitempty"`
	Remaining         string                     `json:"remaining,omitempty"`
	Error             string                     `json:"error,omitempty"`
	DurationMS        int64                      `json:"duration_ms,omitempty"`
}

// ExecOptions control Execute and Verify.
type ExecOptions struct {
	// Apply destroys for real; without it Execute is a dry run.
	Apply bool
	// Actor is who runs it (recorded in the audit log).
	Actor string
	// Estate returns the estate as it is now: no key in use is destroyed.
	Estate func(ctx context.Context) (*reconcile.Snapshot, error)
	// Open opens the inventory source of that name, with the
	// credentials of the configuration.
	Open func(ctx context.Context, name string) (inventory.Source, error)
}

// ActionReport is the outcome of one action.
type ActionReport struct {
	Action     int                        `json:"action"`
	Source     string                     `json:"source"`
	Name       string                     `json:"name"`
	SPKISHA256 string                     `json:"spki_sha256,omitempty"`
	Outcome    Outcome                    `json:"outcome"`
	Message    string                     `json:"message,omitempty"`
	Objects    []inventory.DestroyOutcome `json:"objects,omitempty"`
	// Verified is set after a verification read: true when the source no
	// longer lists the key.
	Verified  *bool  `json:"verified,omitempty"`
	Remaining string `json:"remaining,omitempty"`
	AuditID   int64  `json:"audit_id,omitempty"`
}

// Report is the outcome of one Execute or Verify.
type Report struct {
	PlanID   string         `json:"plan_id"`
	PlanHash string         `json:"plan_hash"`
	Approval guard.Approval `json:"approval"`
	DryRun   bool           `json:"dry_run"`
	Actions  []ActionReport `json:"actions"`
	Counts   map[string]int `json:"counts"`
}

// Failed is how many actions failed, were refused, or are not verified.
func (r *Report) Failed() int {
	n := r.Counts[string(OutcomeFailed)] + r.Counts[string(OutcomeRefusedInUse)]
	for _, a := range r.Actions {
		if a.Verified != nil && !*a.Verified && a.Outcome != OutcomeScheduled {
			n++
		}
	}
	return n
}

// Summary says in one line what happened.
func (r *Report) Summary() string {
	if r.DryRun {
		return fmt.Sprintf("dry run of plan %s (approved by %s): nothing was destroyed; add --apply to destroy", r.PlanID, r.Approval.Approver)
	}
	c := r.Counts
	verified := 0
	for _, a := range r.Actions {
		if a.Verified != nil && *a.Verified {
			verified++
		}
	}
	return fmt.Sprintf("plan %s: %d destroyed, %d scheduled, %d already destroyed, %d refused (in use), %d failed; %d verified gone",
		r.PlanID, c[string(OutcomeDestroyed)], c[string(OutcomeScheduled)], c[string(OutcomeAlreadyDestroyed)], c[string(OutcomeRefusedInUse)], c[string(OutcomeFailed)], verified)
}

func (r *Report) add(ar ActionReport) {
	r.Actions = append(r.Actions, ar)
	r.Counts[string(ar.Outcome)]++
}

func actionDetail(p *Plan, hash string, i int, a Action) Detail {
	d := Detail{PlanID: p.ID, PlanHash: hash, Action: i + 1, Source: a.Source, Name: a.Name, SPKISHA256: a.SPKISHA256,
		Refs: a.Refs(), Executor: a.Executor, Reason: a.Reason, PendingWindowDays: a.PendingWindowDays}
	for _, g := range a.Grounds {
		d.Grounds = append(d.Grounds, g.Kind)
	}
	return d
}

// target is the audit target of an action: its source and key.
func (a Action) target() string {
	if a.SPKISHA256 != "" {
		return a.Source + "|" + a.SPKISHA256
	}
	return a.Source + "|" + strings.Join(a.Refs(), ",")
}

// sources opens the sources the plan's actions name, once each.
type sources struct {
	open   func(ctx context.Context, name string) (inventory.Source, error)
	byName map[string]inventory.Source
	errs   map[string]error
}

func (s *sources) get(ctx context.Context, name string) (inventory.Source, error) {
	if src, ok := s.byName[name]; ok {
		return src, nil
	}
	if err, ok := s.errs[name]; ok {
		return nil, err
	}
	var src inventory.Source
	err := errors.New("no way to open inventory sources was given")
	if s.open != nil {
		src, err = s.open(ctx, name)
	}
	if err != nil {
		err = fmt.Errorf("source %s: %w", name, err)
		s.errs[name] = err
		return nil, err
	}
	s.byName[name] = src
	return src, nil
}

func (s *sources) close() {
	for _, src := range s.byName {
		_ = src.Close()
	}
}

// Execute carries out plan p if, and only if, the audit log holds an
// approval of its exact hash. Before anything is destroyed it re-reads
// the estate: an action whose key is in use now is refused and recorded;
// when the estate cannot show what is in use, the whole plan is refused.
// Applying, it opens every source first (a plan is not half-applied for
// want of a credential), writes each action's intent before calling its
// source and the outcome after, then reads the source again to verify
// the key is gone. A key the audit log already shows destroyed and
// verified is not sent again.
func Execute(ctx context.Context, st store.Store, p *Plan, o ExecOptions) (*Report, error) {
	computed := p.ComputeHash()
	rep := &Report{PlanID: p.ID, PlanHash: computed, DryRun: !o.Apply, Actions: []ActionReport{}, Counts: map[string]int{}}
	appr, err := Kind.Authorize(ctx, st, p, o.Actor)
	if err != nil {
		return rep, err
	}
	rep.Approval = appr
	if o.Estate == nil {
		return rep, errors.New("execution needs the estate, to re-check that no key is in use")
	}
	snap, err := o.Estate(ctx)
	if err != nil {
		return rep, fmt.Errorf("reading the estate to re-check use: %w", err)
	}
	if why := unusedReason(snap); why != "" && slices.ContainsFunc(p.Actions, func(a Action) bool { return a.SPKISHA256 != "" }) {
		return rep, Kind.Refuse(ctx, st, p, o.Actor, fmt.Errorf("cannot execute plan %s: %s", p.ID, why))
	}
	srcs := &sources{open: o.Open, byName: map[string]inventory.Source{}, errs: map[string]error{}}
	defer srcs.close()
	var problems []string
	notReady := map[int]string{}
	for i, a := range p.Actions {
		src, err := srcs.get(ctx, a.Source)
		if err == nil {
			if _, ok := src.(inventory.Destroyer); !ok {
				err = fmt.Errorf("source %s cannot destroy keys", a.Source)
			}
		}
		if err != nil {
			notReady[i] = err.Error()
			problems = append(problems, fmt.Sprintf("action %d (%s): %v", i+1, a.Name, err))
		}
	}
	if o.Apply && len(problems) > 0 {
		return rep, Kind.Refuse(ctx, st, p, o.Actor, fmt.Errorf("cannot execute plan %s: %s", p.ID, strings.Join(problems, "; ")))
	}
	done, err := verifiedTargets(ctx, st)
	if err != nil {
		return rep, err
	}
	record := func(step, target string, d Detail) (store.AuditEntry, error) {
		return guard.Append(context.WithoutCancel(ctx), st, o.Actor, Kind.Action(step), target, d)
	}
	for i, a := range p.Actions {
		ar := ActionReport{Action: i + 1, Source: a.Source, Name: a.Name, SPKISHA256: a.SPKISHA256}
		d := actionDetail(p, computed, i, a)
		if id, ok := done[a.target()]; ok {
			ar.Outcome, ar.Message = OutcomeAlreadyDestroyed, fmt.Sprintf("destroyed and verified already (audit #%d)", id)
			if o.Apply {
				if _, err := record(StepAlreadyDestroyed, a.target(), d); err != nil {
					return rep, err
				}
			}
			rep.add(ar)
			continue
		}
		if why, used := snap.InUse(a.SPKISHA256); used {
			ar.Outcome, ar.Message = OutcomeRefusedInUse, "key in use: "+why
			if o.Apply {
				d.Why = ar.Message
				e, err := record(StepRefusedInUse, a.target(), d)
				if err != nil {
					return rep, err
				}
				ar.AuditID = e.ID
			}
			rep.add(ar)
			continue
		}
		if !o.Apply {
			ar.Outcome, ar.Message = OutcomeWouldDestroy, fmt.Sprintf("would destroy %d objects through %s", len(a.Objects), a.Executor)
			if why, bad := notReady[i]; bad {
				ar.Message += "; not ready: " + why
			}
			rep.add(ar)
			continue
		}
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("interrupted before action %d: %w", i+1, err)
		}
		// Intent first: no record, no call.
		if _, err := guard.Append(ctx, st, o.Actor, Kind.Action(StepAttempt), a.target(), d); err != nil {
			return rep, fmt.Errorf("action %d not attempted: %w", i+1, err)
		}
		src, _ := srcs.get(ctx, a.Source)
		start := time.Now()
		outs := src.(inventory.Destroyer).Destroy(ctx, inventory.DestroyRequest{Objects: a.Objects, Reason: a.Reason, PendingWindow: time.Duration(a.PendingWindowDays) * 24 * time.Hour})
		d.DurationMS = time.Since(start).Milliseconds()
		d.Objects = outs
		ar.Objects = outs
		ar.Outcome, ar.Message, d.DeletionDate = summarize(outs)
		step := map[Outcome]string{OutcomeDestroyed: StepDestroyed, OutcomeScheduled: StepScheduled, OutcomeFailed: StepFailed}[ar.Outcome]
		if ar.Outcome == OutcomeFailed {
			d.Error = ar.Message
		}
		e, err := record(step, a.target(), d)
		if err != nil {
			rep.add(ar)
			return rep, fmt.Errorf("action %d: outcome %s not recorded: %w", i+1, ar.Outcome, err)
		}
		ar.AuditID = e.ID
		if err := verifyAction(ctx, src, a, &ar, record, d); err != nil {
			rep.add(ar)
			return rep, err
		}
		rep.add(ar)
	}
	step := StepExecuted
	if !o.Apply {
		step = StepDryRun
	}
	if _, err := guard.Append(context.WithoutCancel(ctx), st, o.Actor, Kind.Action(step), p.ID, Detail{PlanID: p.ID, PlanHash: computed, Approver: appr.Approver, Counts: rep.Counts}); err != nil {
		return rep, err
	}
	return rep, nil
}

// summarize folds the objects' outcomes into the action's: failed when
// any object failed, scheduled when any deletion is scheduled, destroyed
// when each object is destroyed or already gone.
func summarize(outs []inventory.DestroyOutcome) (Outcome, string, *time.Time) {
	var failed, msgs []string
	var date *time.Time
	scheduled := false
	for _, o := range outs {
		switch o.Outcome {
		case inventory.DestroyFailed:
			failed = append(failed, o.Ref+": "+o.Message)
		case inventory.DestroyScheduled:
			scheduled = true
			if o.DeletionDate != nil {
				date = o.DeletionDate
			}
		}
		if m := o.Outcome + " (" + o.Message + ")"; o.Message != "" && !slices.Contains(msgs, m) {
			msgs = append(msgs, m)
		}
	}
	switch {
	case len(failed) > 0:
		return OutcomeFailed, strings.Join(failed, "; "), date
	case scheduled:
		msg := "deletion scheduled"
		if date != nil {
			msg += " for " + date.UTC().Format(time.RFC3339)
		}
		msg += ": " + strings.Join(msgs, ", ")
		return OutcomeScheduled, msg, date
	}
	return OutcomeDestroyed, strings.Join(msgs, ", "), date
}

// verifyAction reads src again and records whether the action's key is
// gone from it (destroy.verified) or what remains (destroy.unverified).
func verifyAction(ctx context.Context, src inventory.Source, a Action, ar *ActionReport, record func(step, target string, d Detail) (store.AuditEntry, error), d Detail) error {
	gone, remaining := stillListed(ctx, src, a)
	ar.Verified, ar.Remaining = &gone, remaining
	d.Objects, d.Remaining = nil, remaining
	step := StepUnverified
	if gone {
		step = StepVerified
	}
	if _, err := record(step, a.target(), d); err != nil {
		return fmt.Errorf("action %d: verification not recorded: %w", ar.Action, err)
	}
	return nil
}

// stillListed reads the source whole: the key is gone when the read is
// complete and lists neither any of the action's objects nor, for an
// asymmetric key, any object with its SPKI.
func stillListed(ctx context.Context, src inventory.Source, a Action) (bool, string) {
	refs := a.Refs()
	var left []string
	res := src.Keys(ctx, func(k inventory.Key) error {
		if slices.Contains(refs, k.Ref) || a.SPKISHA256 != "" && k.SPKISHA256 == a.SPKISHA256 {
			s := fmt.Sprintf("%s %s", k.Class, k.Ref)
			if k.State != "" {
				s += " (" + k.State
				if k.DeletionDate != nil {
					s += " until " + k.DeletionDate.UTC().Format(time.DateOnly)
				}
				s += ")"
			}
			left = append(left, s)
		}
		return nil
	})
	if res.Status != inventory.StatusComplete {
		return false, fmt.Sprintf("the verification read of %s was %s: %s", src.Name(), res.Status, res.Error)
	}
	if len(left) > 0 {
		return false, "still listed: " + strings.Join(left, "; ")
	}
	return true, ""
}

// Verify reads again the sources of every action of p that was attempted
// and is not verified yet, and records what it finds. It acts on
// nothing.
func Verify(ctx context.Context, st store.Store, p *Plan, o ExecOptions) (*Report, error) {
	computed := p.ComputeHash()
	rep := &Report{PlanID: p.ID, PlanHash: computed, Actions: []ActionReport{}, Counts: map[string]int{}}
	if strings.TrimSpace(o.Actor) == "" {
		return rep, errors.New("verification needs the identity of who runs it")
	}
	if err := p.Validate(); err != nil {
		return rep, err
	}
	state, err := Destructions(ctx, st)
	if err != nil {
		return rep, err
	}
	byAction := map[int]reconcile.Destruction{}
	for _, d := range state {
		if d.PlanID == p.ID {
			byAction[d.Action] = d
		}
	}
	srcs := &sources{open: o.Open, byName: map[string]inventory.Source{}, errs: map[string]error{}}
	defer srcs.close()
	record := func(step, target string, d Detail) (store.AuditEntry, error) {
		return guard.Append(context.WithoutCancel(ctx), st, o.Actor, Kind.Action(step), target, d)
	}
	for i, a := range p.Actions {
		ar := ActionReport{Action: i + 1, Source: a.Source, Name: a.Name, SPKISHA256: a.SPKISHA256}
		ds, ok := byAction[i+1]
		switch {
		case !ok:
			ar.Outcome, ar.Message = OutcomeWouldDestroy, "not executed yet"
			rep.add(ar)
			continue
		case ds.Verified:
			ar.Outcome, ar.Message = OutcomeAlreadyDestroyed, "verified gone at "+ds.VerifiedAt.UTC().Format(time.RFC3339)
			rep.add(ar)
			continue
		}
		ar.Outcome = Outcome(ds.Outcome)
		src, err := srcs.get(ctx, a.Source)
		if err != nil {
			f := false
			ar.Verified, ar.Remaining = &f, err.Error()
			rep.add(ar)
			continue
		}
		if err := verifyAction(ctx, src, a, &ar, record, actionDetail(p, computed, i, a)); err != nil {
			return rep, err
		}
		rep.add(ar)
	}
	return rep, nil
}

// Entry is a decoded destroy.* audit entry.
type Entry struct {
	store.AuditEntry
	D Detail
}

// Entries calls fn for every destroy.* audit entry, oldest first.
func Entries(ctx context.Context, st store.Store, fn func(Entry) error) error {
	prefix := Kind.Prefix()
	return st.Audit(ctx, func(e store.AuditEntry) error {
		if !strings.HasPrefix(e.Action, prefix) {
			return nil
		}
		var d Detail
		if len(e.Detail) > 0 {
			if err := json.Unmarshal(e.Detail, &d); err != nil {
				return fmt.Errorf("audit entry %d (%s): %w", e.ID, e.Action, err)
			}
		}
		return fn(Entry{AuditEntry: e, D: d})
	})
}

// verifiedTargets maps the targets whose destruction was verified to the
// audit entry that verified it.
func verifiedTargets(ctx context.Context, st store.Store) (map[string]int64, error) {
	out := map[string]int64{}
	err := Entries(ctx, st, func(e Entry) error {
		if e.Action == Kind.Action(StepVerified) {
			if _, ok := out[e.Target]; !ok {
				out[e.Target] = e.ID
			}
		}
		return nil
	})
	return out, err
}

// Destructions reads back every destruction keyaudit attempted, one per
// plan action (its latest outcome and verification), for reconcile.
func Destructions(ctx context.Context, st store.Store) ([]reconcile.Destruction, error) {
	type key struct {
		plan   string
		action int
	}
	idx := map[key]int{}
	var out []reconcile.Destruction
	err := Entries(ctx, st, func(e Entry) error {
		step := strings.TrimPrefix(e.Action, Kind.Prefix())
		k := key{e.D.PlanID, e.D.Action}
		switch step {
		case StepDestroyed, StepScheduled, StepFailed:
			i, ok := idx[k]
			if !ok {
				i = len(out)
				idx[k] = i
				out = append(out, reconcile.Destruction{})
			}
			d := &out[i]
			verified, at := d.Verified, d.VerifiedAt
			*d = reconcile.Destruction{PlanID: e.D.PlanID, Action: e.D.Action, Source: e.D.Source, SPKISHA256: e.D.SPKISHA256, Name: e.D.Name,
				Refs: e.D.Refs, Outcome: step, At: e.Time, DeletionDate: e.D.DeletionDate, Verified: verified, VerifiedAt: at}
		case StepVerified, StepUnverified:
			i, ok := idx[k]
			if !ok {
				return nil
			}
			d := &out[i]
			if step == StepVerified {
				d.Verified, d.VerifiedAt, d.Remaining = true, e.Time, ""
			} else if !d.Verified {
				d.Remaining = e.D.Remaining
			}
		}
		return nil
	})
	return out, err
}
