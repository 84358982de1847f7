package stage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/internal/guard"
	"github.com/keyaudit/keyaudit/inventory"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/reconcile/destroy"
	"github.com/keyaudit/keyaudit/reconcile/revoke"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/store"
)

// Key destruction is guarded like revocation: DestroyPlan records a plan
// built from the estate, DestroyApprove binds an approver to its exact
// hash, DestroyExecute acts on an approved plan only — re-checking that
// no key of it is in use, writing each intent to the audit log before the
// source is called — and verifies by reading the source again
// (reconcile/destroy).

// DestroyPlanParams are a destruction plan's inputs beyond the store.
type DestroyPlanParams struct {
	Options destroy.PlanOptions
	// Policy is the reconcile policy (cryptoperiods, orphan age).
	Policy reconcile.Policy
}

// destroyEstate is the estate as it is now, with what keyaudit revoked
// and destroyed.
func destroyEstate(ctx context.Context, st store.Store, now time.Time, pol reconcile.Policy) (*reconcile.Snapshot, error) {
	snap, err := LoadEstate(ctx, st, EstateOptions{Now: now, Policy: pol, Revocations: revoke.Revocations, Destructions: destroy.Destructions})
	if err != nil {
		return nil, err
	}
	snap.Policy = pol
	return snap, nil
}

// DestroyPlan builds a destruction plan from the estate and records it
// in the audit log (destroy.plan_created): the keys the options' grounds
// name, less those in use. A plan without any action is an error, its
// skipped keys listed on env.Stderr.
func DestroyPlan(ctx context.Context, env Env, p DestroyPlanParams) (*destroy.Plan, error) {
	st, err := revokeStore(env)
	if err != nil {
		return nil, err
	}
	opts := p.Options
	opts.CreatedBy = cmp.Or(opts.CreatedBy, osUser())
	if opts.Now.IsZero() {
		opts.Now = env.now()
	}
	snap, err := destroyEstate(ctx, st, opts.Now, p.Policy)
	if err != nil {
		return nil, err
	}
	var checks []string
	for _, c := range destroy.GroundChecks {
		checks = append(checks, c)
	}
	res := reconcile.Run(snap, reconcile.Options{Checks: checks})
	since := map[string]time.Time{}
	for _, c := range checks {
		err := st.Findings(ctx, store.FindingFilter{State: "open", Check: c}, func(r store.FindingRecord) error {
			since[r.Fingerprint] = r.Since
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	plan, err := destroy.Build(snap, destroy.Inputs{Findings: res.Findings, OpenSince: func(fp string) (time.Time, bool) {
		t, ok := since[fp]
		return t, ok
	}}, opts)
	if err != nil {
		return nil, err
	}
	for _, s := range plan.Skipped {
		fmt.Fprintf(env.stderr(), "keyaudit: not planned: %s (%s): %s\n", reports.Printable(s.Name), reports.Printable(s.Source), reports.Printable(s.Why))
	}
	if len(plan.Actions) == 0 {
		return nil, fmt.Errorf("no key to destroy (%d candidates skipped)", len(plan.Skipped))
	}
	if _, err := destroy.Record(ctx, st, plan); err != nil {
		return nil, err
	}
	return plan, nil
}

// SaveDestroyPlan writes the plan to output ("" or "-": stdout) and its
// summary and hash, which the approver must quote, to stderr (to stdout
// when the plan went to a file).
func SaveDestroyPlan(p *destroy.Plan, output string, stdout, stderr io.Writer) error {
	msg, err := guard.Save(p, output, stdout, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(msg, "plan %s: %d keys to destroy, %d skipped\n", p.ID, len(p.Actions), len(p.Skipped))
	for i, a := range p.Actions {
		var gs []string
		for _, g := range a.Grounds {
			gs = append(gs, g.Kind)
		}
		fmt.Fprintf(msg, "  %d. %s %s in %s (%d objects; %s)\n", i+1, reports.Printable(a.KeyType), reports.Printable(a.Name), reports.Printable(a.Source), len(a.Objects), strings.Join(gs, ", "))
	}
	fmt.Fprintf(msg, "hash sha256:%s\napprove with: keyaudit destroy approve %s --approver NAME --hash %s\n", p.Hash, p.ID, p.Hash)
	return nil
}

// loadDestroyPlan reads the plan in file arg or, when no such file
// exists and arg is a plan ID, the plan recorded in the store.
func loadDestroyPlan(ctx context.Context, st store.Store, arg string) (*destroy.Plan, error) {
	if _, err := os.Stat(arg); err != nil && strings.HasPrefix(arg, "dp-") {
		return destroy.LoadPlan(ctx, st, arg)
	}
	return destroy.ReadPlanFile(arg)
}

// DestroyApprove records the approval of a plan's exact hash
// (destroy.approved), or refuses it and records the refusal.
func DestroyApprove(ctx context.Context, env Env, p RevokeApproveParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	st, err := revokeStore(env)
	if err != nil {
		return err
	}
	plan, err := loadDestroyPlan(ctx, st, p.Plan)
	if err != nil {
		return err
	}
	ap, err := destroy.Approve(ctx, st, plan, p.Approver, p.Hash)
	if err != nil {
		return fmt.Errorf("approval refused: %w", err)
	}
	fmt.Fprintf(env.stderr(), "keyaudit: plan %s (sha256:%s) approved by %s (audit #%d)\n", ap.PlanID, revoke.ShortHash(ap.PlanHash), reports.Printable(ap.Approver), ap.AuditID)
	return nil
}

// DestroyExecParams name the plan to execute or verify, and how to open
// the inventory sources it names.
type DestroyExecParams struct {
	Plan  string
	Apply bool
	// Verify only reads the sources again (keyaudit destroy verify).
	Verify bool
	// Policy is the reconcile policy the estate is read with.
	Policy reconcile.Policy
	// Sources are the configured inventory sources, opened by the
	// caller (which closes them).
	Sources []inventory.Opened
}

// ErrDestroyIncomplete is returned when an execution or verification
// left an action failed, refused or not verified: exit 1, the report
// says which.
var ErrDestroyIncomplete = errors.New("destruction incomplete")

// DestroyExecute executes (or, p.Verify, verifies) an approved plan and
// writes the report to w as JSON when format is json, else as lines.
func DestroyExecute(ctx context.Context, env Env, p DestroyExecParams, w io.Writer) (*destroy.Report, error) {
	st, err := revokeStore(env)
	if err != nil {
		return nil, err
	}
	plan, err := loadDestroyPlan(ctx, st, p.Plan)
	if err != nil {
		return nil, err
	}
	o := destroy.ExecOptions{Apply: p.Apply, Actor: osUser(),
		Estate: func(ctx context.Context) (*reconcile.Snapshot, error) {
			return destroyEstate(ctx, st, env.now(), p.Policy)
		},
		Open: func(_ context.Context, name string) (inventory.Source, error) {
			var names []string
			for _, s := range p.Sources {
				if s.Source.Name() == name {
					return s.Source, nil
				}
				names = append(names, s.Source.Name())
			}
			return nil, fmt.Errorf("no configured inventory source is named %s (configured: %s)", name, strings.Join(names, ", "))
		}}
	var rep *destroy.Report
	if p.Verify {
		rep, err = destroy.Verify(ctx, st, plan, o)
	} else {
		rep, err = destroy.Execute(ctx, st, plan, o)
	}
	if rep != nil {
		for _, a := range rep.Actions {
			line := fmt.Sprintf("%d. %s (%s): %s", a.Action, a.Name, a.Source, a.Outcome)
			if a.Message != "" {
				line += ": " + a.Message
			}
			if a.Verified != nil {
				if *a.Verified {
					line += "; verified gone"
				} else {
					line += "; NOT verified: " + a.Remaining
				}
			}
			fmt.Fprintln(w, reports.Printable(line))
		}
		if err == nil {
			fmt.Fprintln(w, rep.Summary())
		}
	}
	if err != nil {
		return rep, err
	}
	if rep.Failed() > 0 {
		return rep, fmt.Errorf("%w: %d actions failed, were refused or are not verified", ErrDestroyIncomplete, rep.Failed())
	}
	return rep, nil
}
