// Package guard keeps the approval trail of keyaudit's guarded actions —
// certificate revocation and key destruction — in the store's
// append-only, hash-chained audit log.
//
// A guarded plan is recorded in full ("<kind>.plan_created"), approved by
// a named person for one exact content hash ("<kind>.approved"), and only
// then executed. An approval quoting another hash, a plan edited after it
// was recorded, or a plan the store never saw is refused, and the refusal
// is recorded ("<kind>.approval_refused"). The packages that carry out
// the actions (reconcile/revoke, reconcile/destroy) own their plans and
// their execution; this package owns only the trail they share, so both
// refuse the same things in the same words.
package guard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/store"
)

// Errors of approval and execution. Each is wrapped with the specifics.
var (
	ErrNotRecorded  = errors.New("plan not recorded in the store")
	ErrHashMismatch = errors.New("plan hash mismatch")
	ErrNotApproved  = errors.New("execution refused")
	ErrNoApprover   = errors.New("approval needs the approver's identity")
)

// Plan is what a guarded plan offers the trail.
type Plan interface {
	// PlanID is the plan's identifier.
	PlanID() string
	// StatedHash is the hash the plan carries (informational: what
	// counts is ComputeHash).
	StatedHash() string
	// ComputeHash is the hex SHA-256 of the plan's canonical content.
	ComputeHash() string
	// Validate checks the plan is well formed.
	Validate() error
	// Creator is who created the plan.
	Creator() string
}

// Kind names one kind of guarded action in the audit log.
type Kind struct {
	// Name prefixes the audit actions: "revoke" gives "revoke.approved".
	Name string
	// Command is the CLI command of the kind, for messages
	// ("keyaudit revoke").
	Command string
}

// Action is the audit action name of step (plan_created, approved …).
func (k Kind) Action(step string) string { return k.Name + "." + step }

// Prefix is shared by every audit action of the kind.
func (k Kind) Prefix() string { return k.Name + "." }

// Steps written by this package.
const (
	StepPlanCreated     = "plan_created"
	StepApproved        = "approved"
	StepApprovalRefused = "approval_refused"
	StepRefused         = "refused"
)

// Detail is the part of an audit entry's JSON detail this package reads
// and writes. The packages of each kind extend it with their own fields
// under other names.
type Detail struct {
	PlanID    string          `json:"plan_id,omitempty"`
	PlanHash  string          `json:"plan_hash,omitempty"`
	Plan      json.RawMessage `json:"plan,omitempty"`
	Approver  string          `json:"approver,omitempty"`
	GivenHash string          `json:"given_hash,omitempty"`
	Why       string          `json:"why,omitempty"`
	Counts    map[string]int  `json:"counts,omitempty"`
}

// Hash is the hex SHA-256 of v's JSON encoding, for ComputeHash.
func Hash(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("guard: plan does not encode: " + err.Error())
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// NormalizeHash accepts "sha256:HEX" or "HEX" in any case.
func NormalizeHash(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	return strings.TrimPrefix(h, "sha256:")
}

// ShortHash is the first 16 hex digits, for messages.
func ShortHash(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	return h
}

// Append writes one audit entry whose detail is d's JSON. An empty actor
// is recorded as "(unknown)".
func Append(ctx context.Context, st store.Store, actor, action, target string, d any) (store.AuditEntry, error) {
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

// entries calls fn for every audit entry of kind k whose target is id.
func (k Kind) entries(ctx context.Context, st store.Store, id string, fn func(e store.AuditEntry, d Detail) error) error {
	prefix := k.Prefix()
	return st.Audit(ctx, func(e store.AuditEntry) error {
		if e.Target != id || !strings.HasPrefix(e.Action, prefix) {
			return nil
		}
		var d Detail
		if len(e.Detail) > 0 {
			if err := json.Unmarshal(e.Detail, &d); err != nil {
				return fmt.Errorf("audit entry %d (%s): %w", e.ID, e.Action, err)
			}
		}
		return fn(e, d)
	})
}

// Record writes plan p, whole, to the audit log (<kind>.plan_created). A
// plan must be recorded before it can be approved.
func (k Kind) Record(ctx context.Context, st store.Store, p Plan, counts map[string]int) (store.AuditEntry, error) {
	if err := p.Validate(); err != nil {
		return store.AuditEntry{}, err
	}
	h := p.ComputeHash()
	if p.StatedHash() != h {
		return store.AuditEntry{}, fmt.Errorf("%w: plan %s says %s, its content hashes to %s", ErrHashMismatch, p.PlanID(), ShortHash(p.StatedHash()), ShortHash(h))
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return store.AuditEntry{}, err
	}
	return Append(ctx, st, p.Creator(), k.Action(StepPlanCreated), p.PlanID(), Detail{PlanID: p.PlanID(), PlanHash: h, Plan: raw, Counts: counts})
}

// Load returns the JSON of the plan recorded under id (the latest record
// when it was recorded more than once).
func (k Kind) Load(ctx context.Context, st store.Store, id string) (json.RawMessage, error) {
	var raw json.RawMessage
	err := k.entries(ctx, st, id, func(e store.AuditEntry, d Detail) error {
		if e.Action == k.Action(StepPlanCreated) && len(d.Plan) > 0 {
			raw = d.Plan
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, fmt.Errorf("%w: no plan %s", ErrNotRecorded, id)
	}
	return raw, nil
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
func (k Kind) Approve(ctx context.Context, st store.Store, p Plan, approver, hash string) (Approval, error) {
	approver = strings.TrimSpace(approver)
	given := NormalizeHash(hash)
	computed := p.ComputeHash()
	id := p.PlanID()
	refuse := func(err error) (Approval, error) {
		d := Detail{PlanID: id, PlanHash: computed, Approver: approver, GivenHash: given, Why: err.Error()}
		if _, aerr := Append(ctx, st, approver, k.Action(StepApprovalRefused), id, d); aerr != nil {
			return Approval{}, errors.Join(err, aerr)
		}
		return Approval{}, err
	}
	if approver == "" {
		return refuse(ErrNoApprover)
	}
	if given == "" {
		return refuse(fmt.Errorf("%w: approving needs the hash of the plan that was reviewed (plan %s hashes to %s)", ErrHashMismatch, id, computed))
	}
	if err := p.Validate(); err != nil {
		return refuse(err)
	}
	if given != computed {
		return refuse(fmt.Errorf("%w: approval is for plan hash %s but plan %s hashes to %s: it is another plan or was modified", ErrHashMismatch, ShortHash(given), id, ShortHash(computed)))
	}
	if p.StatedHash() != computed {
		return refuse(fmt.Errorf("%w: plan %s was modified after it was created (it says %s, its content hashes to %s)", ErrHashMismatch, id, ShortHash(p.StatedHash()), ShortHash(computed)))
	}
	var hs []string
	err := k.entries(ctx, st, id, func(e store.AuditEntry, d Detail) error {
		if e.Action == k.Action(StepPlanCreated) {
			hs = append(hs, d.PlanHash)
		}
		return nil
	})
	if err != nil {
		return Approval{}, err
	}
	if len(hs) == 0 {
		return refuse(fmt.Errorf("%w: plan %s was never recorded in this store (create it with %s plan against the same store)", ErrNotRecorded, id, k.Command))
	}
	found := false
	for _, h := range hs {
		found = found || h == computed
	}
	if !found {
		return refuse(fmt.Errorf("%w: plan %s was recorded as %s; this content hashes to %s: it was modified after creation", ErrHashMismatch, id, ShortHash(hs[len(hs)-1]), ShortHash(computed)))
	}
	e, err := Append(ctx, st, approver, k.Action(StepApproved), id, Detail{PlanID: id, PlanHash: computed, Approver: approver})
	if err != nil {
		return Approval{}, err
	}
	return Approval{PlanID: id, PlanHash: computed, Approver: approver, Time: e.Time, AuditID: e.ID}, nil
}

// FindApproval returns the latest approval of plan p's exact content. An
// approval of the same plan ID with another hash is reported as
// ErrHashMismatch (the plan changed after approval), none at all as
// ErrNotApproved.
func (k Kind) FindApproval(ctx context.Context, st store.Store, p Plan) (Approval, error) {
	computed := p.ComputeHash()
	id := p.PlanID()
	var match *Approval
	var other string
	err := k.entries(ctx, st, id, func(e store.AuditEntry, d Detail) error {
		if e.Action != k.Action(StepApproved) {
			return nil
		}
		if d.PlanHash == computed {
			match = &Approval{PlanID: id, PlanHash: computed, Approver: d.Approver, Time: e.Time, AuditID: e.ID}
		} else {
			other = d.PlanHash
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
		return Approval{}, fmt.Errorf("%w: plan %s was approved as %s but now hashes to %s: it was modified after approval", ErrHashMismatch, id, ShortHash(other), ShortHash(computed))
	}
	return Approval{}, fmt.Errorf("%w: plan %s (sha256:%s) has no approval; approve it with: %s approve PLAN --approver NAME --hash %s", ErrNotApproved, id, ShortHash(computed), k.Command, computed)
}

// Authorize checks, before anything is executed, that p is well formed,
// unmodified and approved, and names who runs it. A refusal is recorded
// (<kind>.refused) and returned.
func (k Kind) Authorize(ctx context.Context, st store.Store, p Plan, actor string) (Approval, error) {
	computed := p.ComputeHash()
	refuse := func(err error) (Approval, error) {
		if _, aerr := Append(ctx, st, actor, k.Action(StepRefused), p.PlanID(), Detail{PlanID: p.PlanID(), PlanHash: computed, Why: err.Error()}); aerr != nil {
			return Approval{}, errors.Join(err, aerr)
		}
		return Approval{}, err
	}
	if strings.TrimSpace(actor) == "" {
		return refuse(errors.New("execution needs the identity of who runs it"))
	}
	if err := p.Validate(); err != nil {
		return refuse(err)
	}
	if p.StatedHash() != computed {
		return refuse(fmt.Errorf("%w: plan %s was modified after it was created (it says %s, its content hashes to %s)", ErrHashMismatch, p.PlanID(), ShortHash(p.StatedHash()), ShortHash(computed)))
	}
	appr, err := k.FindApproval(ctx, st, p)
	if err != nil {
		if errors.Is(err, ErrNotApproved) || errors.Is(err, ErrHashMismatch) {
			return refuse(err)
		}
		return Approval{}, err
	}
	return appr, nil
}

// Refuse records a refusal to execute p (<kind>.refused) and returns err.
func (k Kind) Refuse(ctx context.Context, st store.Store, p Plan, actor string, err error) error {
	if _, aerr := Append(ctx, st, actor, k.Action(StepRefused), p.PlanID(), Detail{PlanID: p.PlanID(), PlanHash: p.ComputeHash(), Why: err.Error()}); aerr != nil {
		return errors.Join(err, aerr)
	}
	return err
}
