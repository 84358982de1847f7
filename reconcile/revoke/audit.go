package revoke

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/internal/guard"
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

// Errors of approval and execution (package guard's: the trail is
// shared with key destruction). Each is wrapped with the specifics.
var (
	ErrNotRecorded  = guard.ErrNotRecorded
	ErrHashMismatch = guard.ErrHashMismatch
	ErrNotApproved  = guard.ErrNotApproved
	ErrNoApprover   = guard.ErrNoApprover
)

// Kind is revocation's name in the guarded-action trail.
var Kind = guard.Kind{Name: "revoke", Command: "keyaudit revoke"}

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
	return guard.Append(ctx, st, actor, action, target, d)
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
	return Kind.Record(ctx, st, p, map[string]int{"actions": len(p.Actions), "skipped": len(p.Skipped)})
}

// LoadPlan returns the plan recorded under id (the latest record if it
// was recorded more than once).
func LoadPlan(ctx context.Context, st store.Store, id string) (*Plan, error) {
	return guard.LoadPlan[Plan](ctx, Kind, st, id)
}

// Approval binds an approver to one exact plan hash.
type Approval = guard.Approval

// Approve records approver's approval of plan p, whose hash the approver
// states (hash: what they reviewed). It is refused — and the refusal
// recorded — when the approver is empty, the plan is malformed, hash is
// not the hash of p's content, p's content changed since it was recorded,
// or p was never recorded in st (guard.Kind.Approve).
func Approve(ctx context.Context, st store.Store, p *Plan, approver, hash string) (Approval, error) {
	return Kind.Approve(ctx, st, p, approver, hash)
}

// FindApproval returns the latest approval of plan p's exact content. An
// approval of the same plan ID with another hash is reported as
// ErrHashMismatch (the plan changed after approval), none at all as
// ErrNotApproved.
func FindApproval(ctx context.Context, st store.Store, p *Plan) (Approval, error) {
	return Kind.FindApproval(ctx, st, p)
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
