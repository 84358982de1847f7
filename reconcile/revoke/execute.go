package revoke

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/store"
)

// Outcome is what became of one action.
type Outcome string

// Outcomes.
const (
	OutcomeWouldRevoke    Outcome = "would_revoke" // dry run
	OutcomeRevoked        Outcome = "revoked"
	OutcomeAlreadyRevoked Outcome = "already_revoked"
	OutcomeFailed         Outcome = "failed"
)

// Request is one action handed to an executor.
type Request struct {
	PlanID   string
	PlanHash string
	Index    int // 1-based
	Action   Action
}

// Result is an executor's answer. A failure is a Result, not an error:
// it is recorded and the next action goes on.
type Result struct {
	Outcome     Outcome
	Message     string
	HTTPStatus  int
	ProblemType string
	ExitCode    *int
	Output      string
}

// Executor carries out revocations with one CA mechanism.
type Executor interface {
	// Check says, before anything is sent to any CA, whether the
	// executor can carry out the action (keys present, directory as
	// planned).
	Check(a Action) error
	// Revoke asks the CA to revoke the action's certificate.
	Revoke(ctx context.Context, r Request) Result
}

// ExecOptions control Execute.
type ExecOptions struct {
	// Apply revokes for real; without it Execute is a dry run that checks
	// the approval and the executors and calls nothing.
	Apply bool
	// Actor is who runs the execution (recorded in the audit log).
	Actor string
	// Executors by name (acme, hook).
	Executors map[string]Executor
}

// ActionReport is the outcome of one action.
type ActionReport struct {
	Action     int      `json:"action"`
	CertSHA256 string   `json:"cert_sha256"`
	Serial     string   `json:"serial"`
	Names      []string `json:"names"`
	Reason     string   `json:"reason"`
	Executor   string   `json:"executor"`
	Outcome    Outcome  `json:"outcome"`
	Message    string   `json:"message,omitempty"`
	AuditID    int64    `json:"audit_id,omitempty"`
}

// Report is the outcome of one Execute.
type Report struct {
	PlanID   string         `json:"plan_id"`
	PlanHash string         `json:"plan_hash"`
	Approval Approval       `json:"approval"`
	DryRun   bool           `json:"dry_run"`
	Actions  []ActionReport `json:"actions"`
	Counts   map[string]int `json:"counts"`
}

// Failed is the number of failed actions.
func (r *Report) Failed() int { return r.Counts[string(OutcomeFailed)] }

// Summary says in one line what the execution did: nothing, for a dry
// run, else how many actions revoked, found revoked already, or failed.
func (r *Report) Summary() string {
	if r.DryRun {
		return fmt.Sprintf("dry run of plan %s (approved by %s): nothing was sent; add --apply to revoke", r.PlanID, r.Approval.Approver)
	}
	c := r.Counts
	return fmt.Sprintf("plan %s: %d revoked, %d already revoked, %d failed", r.PlanID,
		c[string(OutcomeRevoked)], c[string(OutcomeAlreadyRevoked)], c[string(OutcomeFailed)])
}

// Execute carries out plan p if, and only if, the audit log holds an
// approval of its exact hash. It refuses (and records the refusal) a
// plan without one, a plan whose content no longer matches its hash, and
// — when applying — a plan an executor cannot carry out, before sending
// anything. Each action's intent is written before its CA is called and
// its outcome after; when the intent cannot be written nothing is sent.
// A certificate the audit log already shows revoked is reported as
// already revoked without calling the CA again.
func Execute(ctx context.Context, st store.Store, p *Plan, o ExecOptions) (*Report, error) {
	computed := p.ComputeHash()
	rep := &Report{PlanID: p.ID, PlanHash: computed, DryRun: !o.Apply, Actions: []ActionReport{}, Counts: map[string]int{}}
	appr, err := Kind.Authorize(ctx, st, p, o.Actor)
	if err != nil {
		return rep, err
	}
	rep.Approval = appr

	// Preflight: every executor must be able to act before any CA is
	// called, so a plan is not half-applied for want of a key.
	notReady := map[int]string{}
	var problems []string
	for i, a := range p.Actions {
		ex, ok := o.Executors[a.Executor]
		var perr error
		if !ok || ex == nil {
			perr = fmt.Errorf("the %s executor is not configured", a.Executor)
		} else {
			perr = ex.Check(a)
		}
		if perr != nil {
			notReady[i] = perr.Error()
			problems = append(problems, fmt.Sprintf("action %d (%s): %v", i+1, ShortHash(a.Certificate.SHA256), perr))
		}
	}
	if o.Apply && len(problems) > 0 {
		return rep, Kind.Refuse(ctx, st, p, o.Actor, fmt.Errorf("cannot execute plan %s: %s", p.ID, strings.Join(problems, "; ")))
	}

	known, err := knownRevoked(ctx, st)
	if err != nil {
		return rep, err
	}
	for i, a := range p.Actions {
		ar := ActionReport{Action: i + 1, CertSHA256: a.Certificate.SHA256, Serial: a.Certificate.Serial, Names: a.Certificate.Names, Reason: a.Reason.Name, Executor: a.Executor}
		d := actionDetail(p, computed, i, a)
		if k, ok := known[a.Certificate.SHA256]; ok {
			ar.Outcome = OutcomeAlreadyRevoked
			ar.Message = fmt.Sprintf("already revoked (audit #%d, %s)", k.auditID, k.time.UTC().Format(time.RFC3339))
			if o.Apply {
				d.Source = fmt.Sprintf("audit #%d", k.auditID)
				e, err := appendAudit(ctx, st, o.Actor, ActionAlreadyRevoked, a.Certificate.SHA256, d)
				if err != nil {
					return rep, err
				}
				ar.AuditID = e.ID
			}
			rep.add(ar)
			continue
		}
		if !o.Apply {
			ar.Outcome = OutcomeWouldRevoke
			ar.Message = fmt.Sprintf("would ask %s to revoke", describeExecutor(a))
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
		if _, err := appendAudit(ctx, st, o.Actor, ActionAttempt, a.Certificate.SHA256, d); err != nil {
			return rep, fmt.Errorf("action %d not attempted: %w", i+1, err)
		}
		start := time.Now()
		res := o.Executors[a.Executor].Revoke(ctx, Request{PlanID: p.ID, PlanHash: computed, Index: i + 1, Action: a})
		d.DurationMS = time.Since(start).Milliseconds()
		d.HTTPStatus, d.ProblemType, d.ExitCode, d.Output = res.HTTPStatus, res.ProblemType, res.ExitCode, res.Output
		action := ActionFailed
		switch res.Outcome {
		case OutcomeRevoked:
			action = ActionRevoked
		case OutcomeAlreadyRevoked:
			action = ActionAlreadyRevoked
			d.Source = "ca"
		default:
			res.Outcome = OutcomeFailed
			d.Error = res.Message
		}
		ar.Outcome, ar.Message = res.Outcome, res.Message
		e, err := appendAudit(context.WithoutCancel(ctx), st, o.Actor, action, a.Certificate.SHA256, d)
		if err != nil {
			rep.add(ar)
			return rep, fmt.Errorf("action %d: outcome %s not recorded: %w", i+1, res.Outcome, err)
		}
		ar.AuditID = e.ID
		if res.Outcome != OutcomeFailed {
			known[a.Certificate.SHA256] = revokedEntry{auditID: e.ID, time: e.Time, d: d}
		}
		rep.add(ar)
	}
	summary := ActionExecuted
	if !o.Apply {
		summary = ActionDryRun
	}
	if _, err := appendAudit(context.WithoutCancel(ctx), st, o.Actor, summary, p.ID, Detail{PlanID: p.ID, PlanHash: computed, Approver: appr.Approver, Counts: rep.Counts}); err != nil {
		return rep, err
	}
	return rep, nil
}

func (r *Report) add(ar ActionReport) {
	r.Actions = append(r.Actions, ar)
	r.Counts[string(ar.Outcome)]++
}

func actionDetail(p *Plan, hash string, i int, a Action) Detail {
	reason := a.Reason
	d := Detail{
		PlanID: p.ID, PlanHash: hash, Action: i + 1,
		CertSHA256: a.Certificate.SHA256, Serial: a.Certificate.Serial, Issuer: a.Certificate.Issuer, Names: a.Certificate.Names,
		Reason: &reason, Executor: a.Executor, Auth: a.Auth, Directory: a.Directory,
	}
	for _, f := range a.Findings {
		d.Findings = append(d.Findings, f.Check+":"+f.Fingerprint)
	}
	return d
}

func describeExecutor(a Action) string {
	switch a.Executor {
	case ExecutorACME:
		s := "the ACME CA (" + a.Auth
		if a.Directory != "" {
			s += ", " + a.Directory
		}
		return s + ")"
	case ExecutorHook:
		return "the hook"
	}
	return a.Executor
}
