package revoke

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store"
)

// Audit log actions written by this package.
const (
	ActionPlanCreated     = "revoke.plan_created"
	ActionApproved        = "revoke.approved"
	ActionApprovalRefused = "revoke.approval_refused"
	ActionRefused         = "revoke.refused" // execution refused (no approval, modified plan, missing executor)
	ActionDryRun          = "revoke.dry_run"
	ActionAttempt         = "revoke.attempt" // intent, written before the CA is called
	ActionRevoked         = "revoke.revoked"
	ActionAlreadyRevoked  = "revoke.already_revoked"
	ActionFailed          = "revoke.failed"
	ActionExecuted        = "revoke.executed" // summary of one execution
)

// ActionPrefix is shared by every action above.
const ActionPrefix = "revoke."

// RevocationSource is the reconcile.Revocation source of revocations
// keyaudit performed or confirmed.
const RevocationSource = "keyaudit revoke"

// Errors of approval and execution. Each is wrapped with the specifics.
var (
	ErrNotRecorded  = errors.New("plan not recorded in the store")
	ErrHashMismatch = errors.New("plan hash mismatch")
	ErrNotApproved  = errors.New("revocation refused")
	ErrNoApprover   = errors.New("approval needs the approver's identity")
)

// Detail is the JSON detail of a revoke.* audit entry. It never holds
// key material: plans, hashes, certificate identifiers, outcomes.
type Detail struct {
	PlanID   string `json:"plan_id,omitempty"`
	PlanHash string `json:"plan_hash,omitempty"`
	// Plan is the whole plan (plan_created only), so the store alone can
	// show what was approved.
	Plan *Plan `json:"plan,omitempty"`

	Approver  string `json:"approver,omitempty"`
	GivenHash string `json:"given_hash,omitempty"`
	Why       string `json:"why,omitempty"`

	Action     int      `json:"action,omitempty"` // 1-based index in the plan
	CertSHA256 string   `json:"cert_sha256,omitempty"`
	Serial     string   `json:"serial,omitempty"`
	Issuer     string   `json:"issuer,omitempty"`
	Names      []string `json:"names,omitempty"`
	Reason     *Reason  `json:"reason,omitempty"`
	Findings   []string `json:"findings,omitempty"` // check:fingerprint
	Executor   string   `json:"executor,omitempty"`
	Auth       string   `json:"auth,omitempty"`
	Directory  string   `json:"directory,omitempty"`

	// Outcome fields.
	Source      string `json:"source,omitempty"` // already revoked: "ca" or "audit #N"
	HTTPStatus  int    `json:"http_status,omitempty"`
	ProblemType string `json:"problem_type,omitempty"`
	Error       string `json:"error,omitempty"`
	ExitCode    *int   `json:"exit_code,omitempty"`
	Output      string `json:"output,omitempty"` // hook output, truncated
	DurationMS  int64  `json:"duration_ms,omitempty"`

	// Summary (executed, dry_run).
	Counts map[string]int `json:"counts,omitempty"`
}

func appendAudit(ctx context.Context, st store.Store, actor, action, target string, d Detail) (store.AuditEntry, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return store.AuditEntry{}, err
	}
	if strings.TrimSpace(actor) == "" {
		actor = "(unknown)"
	}
	e, err := st.AppendAudit(ctx, store.AuditEntry{Actor: actor, Action: action, Target: target, Detail: b})
	if err != nil {
		return e, fmt.Errorf("audit log: %w", err)
	}
	return e, nil
}

// Summary renders the detail of audit entry e in one short line of
// key=value pairs (the detail as it is when it is not a Detail).
func Summary(e store.AuditEntry) string {
	var d Detail
	if err := json.Unmarshal(e.Detail, &d); err != nil {
		return string(e.Detail)
	}
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	if e.Target != d.PlanID {
		add("plan", d.PlanID)
	}
	add("hash", ShortHash(d.PlanHash))
	add("approver", d.Approver)
	add("serial", d.Serial)
	if d.Reason != nil {
		add("reason", d.Reason.Name)
	}
	add("via", d.Executor)
	add("source", d.Source)
	if d.HTTPStatus != 0 {
		add("http", strconv.Itoa(d.HTTPStatus))
	}
	add("error", d.Error)
	add("why", d.Why)
	if d.Plan != nil {
		add("actions", strconv.Itoa(len(d.Plan.Actions)))
	}
	for _, k := range []string{"revoked", "already_revoked", "failed", "would_revoke"} {
		if n, ok := d.Counts[k]; ok {
			add(k, strconv.Itoa(n))
		}
	}
	return strings.Join(parts, " ")
}

// Entry is a decoded revoke.* audit entry.
type Entry struct {
	store.AuditEntry
	D Detail
}

// Entries calls fn for every revoke.* audit entry, oldest first.
func Entries(ctx context.Context, st store.Store, fn func(Entry) error) error {
	return st.Audit(ctx, func(e store.AuditEntry) error {
		if !strings.HasPrefix(e.Action, ActionPrefix) {
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

// Record writes the plan to the audit log (revoke.plan_created), with
// the plan itself in the detail. A plan must be recorded before it can be
// approved.
func Record(ctx context.Context, st store.Store, p *Plan) (store.AuditEntry, error) {
	if err := p.Validate(); err != nil {
		return store.AuditEntry{}, err
	}
	h := p.ComputeHash()
	if p.Hash != h {
		return store.AuditEntry{}, fmt.Errorf("%w: plan %s says %s, its content hashes to %s", ErrHashMismatch, p.ID, ShortHash(p.Hash), ShortHash(h))
	}
	return appendAudit(ctx, st, p.CreatedBy, ActionPlanCreated, p.ID, Detail{PlanID: p.ID, PlanHash: h, Plan: p, Counts: map[string]int{"actions": len(p.Actions), "skipped": len(p.Skipped)}})
}

// LoadPlan returns the plan recorded under id (the latest record if it
// was recorded more than once).
func LoadPlan(ctx context.Context, st store.Store, id string) (*Plan, error) {
	var p *Plan
	err := Entries(ctx, st, func(e Entry) error {
		if e.Action == ActionPlanCreated && e.Target == id && e.D.Plan != nil {
			p = e.D.Plan
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, fmt.Errorf("%w: no plan %s", ErrNotRecorded, id)
	}
	return p, nil
}

// recordedHashes are the hashes plan id was recorded with.
func recordedHashes(ctx context.Context, st store.Store, id string) ([]string, error) {
	var hs []string
	err := Entries(ctx, st, func(e Entry) error {
		if e.Action == ActionPlanCreated && e.Target == id {
			hs = append(hs, e.D.PlanHash)
		}
		return nil
	})
	return hs, err
}

// Approval binds an approver to one exact plan hash.
type Approval struct {
	PlanID   string    `json:"plan_id"`
	PlanHash string    `json:"plan_hash"`
	Approver string    `json:"approver"`
	Time     time.Time `json:"time"`
	AuditID  int64     `json:"audit_id"`
}

// Approve records approver's approval of plan p, whose hash the approver
// states (hash: what they reviewed). It is refused — and the refusal
// recorded — when the approver is empty, the plan is malformed, hash is
// not the hash of p's content, p's content changed since it was recorded,
// or p was never recorded in st.
func Approve(ctx context.Context, st store.Store, p *Plan, approver, hash string) (Approval, error) {
	approver = strings.TrimSpace(approver)
	given := NormalizeHash(hash)
	computed := p.ComputeHash()
	refuse := func(err error) (Approval, error) {
		d := Detail{PlanID: p.ID, PlanHash: computed, Approver: approver, GivenHash: given, Why: err.Error()}
		if _, aerr := appendAudit(ctx, st, approver, ActionApprovalRefused, p.ID, d); aerr != nil {
			return Approval{}, errors.Join(err, aerr)
		}
		return Approval{}, err
	}
	if approver == "" {
		return refuse(ErrNoApprover)
	}
	if given == "" {
		return refuse(fmt.Errorf("%w: approving needs the hash of the plan that was reviewed (plan %s hashes to %s)", ErrHashMismatch, p.ID, computed))
	}
	if err := p.Validate(); err != nil {
		return refuse(err)
	}
	if given != computed {
		return refuse(fmt.Errorf("%w: approval is for plan hash %s but plan %s hashes to %s: it is another plan or was modified", ErrHashMismatch, ShortHash(given), p.ID, ShortHash(computed)))
	}
	if p.Hash != computed {
		return refuse(fmt.Errorf("%w: plan %s was modified after it was created (it says %s, its content hashes to %s)", ErrHashMismatch, p.ID, ShortHash(p.Hash), ShortHash(computed)))
	}
	hs, err := recordedHashes(ctx, st, p.ID)
	if err != nil {
		return Approval{}, err
	}
	if len(hs) == 0 {
		return refuse(fmt.Errorf("%w: plan %s was never recorded in this store (create it with keyaudit revoke plan against the same store)", ErrNotRecorded, p.ID))
	}
	found := false
	for _, h := range hs {
		found = found || h == computed
	}
	if !found {
		return refuse(fmt.Errorf("%w: plan %s was recorded as %s; this content hashes to %s: it was modified after creation", ErrHashMismatch, p.ID, ShortHash(hs[len(hs)-1]), ShortHash(computed)))
	}
	e, err := appendAudit(ctx, st, approver, ActionApproved, p.ID, Detail{PlanID: p.ID, PlanHash: computed, Approver: approver})
	if err != nil {
		return Approval{}, err
	}
	return Approval{PlanID: p.ID, PlanHash: computed, Approver: approver, Time: e.Time, AuditID: e.ID}, nil
}

// FindApproval returns the latest approval of plan p's exact content. An
// approval of the same plan ID with another hash is reported as
// ErrHashMismatch (the plan changed after approval), none at all as
// ErrNotApproved.
func FindApproval(ctx context.Context, st store.Store, p *Plan) (Approval, error) {
	computed := p.ComputeHash()
	var match *Approval
	var other string
	err := Entries(ctx, st, func(e Entry) error {
		if e.Action != ActionApproved || e.Target != p.ID {
			return nil
		}
		if e.D.PlanHash == computed {
			match = &Approval{PlanID: p.ID, PlanHash: computed, Approver: e.D.Approver, Time: e.Time, AuditID: e.ID}
		} else {
			other = e.D.PlanHash
		}
		return nil
	})
	if err != nil {
		return Approval{}, err
	}
	if match != nil {
		return *match, nil
	}
	if other != "" {
		return Approval{}, fmt.Errorf("%w: plan %s was approved as %s but now hashes to %s: it was modified after approval", ErrHashMismatch, p.ID, ShortHash(other), ShortHash(computed))
	}
	return Approval{}, fmt.Errorf("%w: plan %s (sha256:%s) has no approval; approve it with: keyaudit revoke approve PLAN --approver NAME --hash %s", ErrNotApproved, p.ID, ShortHash(computed), computed)
}

// revokedEntry is what the audit log says of one certificate.
type revokedEntry struct {
	auditID int64
	time    time.Time
	d       Detail
}

// knownRevoked maps certificate sha256 to the first audit entry that
// recorded it revoked (by keyaudit, or found already revoked at the CA).
func knownRevoked(ctx context.Context, st store.Store) (map[string]revokedEntry, error) {
	out := map[string]revokedEntry{}
	err := Entries(ctx, st, func(e Entry) error {
		if e.Action != ActionRevoked && e.Action != ActionAlreadyRevoked {
			return nil
		}
		if _, ok := out[e.Target]; !ok {
			out[e.Target] = revokedEntry{auditID: e.ID, time: e.Time, d: e.D}
		}
		return nil
	})
	return out, err
}

// Revocations reads back every certificate keyaudit revoked, or found
// already revoked at its CA, as reconcile.Revocation values (one per
// certificate, the earliest record), for the revoked-but-deployed check.
func Revocations(ctx context.Context, st store.Store) ([]reconcile.Revocation, error) {
	var out []reconcile.Revocation
	seen := map[string]bool{}
	err := Entries(ctx, st, func(e Entry) error {
		if e.Action != ActionRevoked && e.Action != ActionAlreadyRevoked {
			return nil
		}
		if seen[e.Target] {
			return nil
		}
		seen[e.Target] = true
		r := reconcile.Revocation{CertSHA256: e.Target, Serial: e.D.Serial, RevokedAt: e.Time, Source: RevocationSource}
		if e.D.Reason != nil {
			r.Reason = e.D.Reason.Name
		}
		if e.Action == ActionAlreadyRevoked {
			// The CA had it revoked already: when, and why, is the CA's.
			r.Source = RevocationSource + " (already revoked at the CA)"
			r.Reason = "unknown"
		}
		out = append(out, r)
		return nil
	})
	return out, err
}
