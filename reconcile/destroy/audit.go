package destroy

import (
	"context"

	"github.com/keyaudit/keyaudit/internal/guard"
	"github.com/keyaudit/keyaudit/store"
)

// Record writes the plan, whole, to the audit log
// (destroy.plan_created). A plan must be recorded before it can be
// approved.
func Record(ctx context.Context, st store.Store, p *Plan) (store.AuditEntry, error) {
	return Kind.Record(ctx, st, p, map[string]int{"actions": len(p.Actions), "skipped": len(p.Skipped)})
}

// LoadPlan returns the plan recorded under id.
func LoadPlan(ctx context.Context, st store.Store, id string) (*Plan, error) {
	return guard.LoadPlan[Plan](ctx, Kind, st, id)
}

// Approve records approver's approval of plan p's exact hash, or refuses
// it and records the refusal (guard.Kind.Approve).
func Approve(ctx context.Context, st store.Store, p *Plan, approver, hash string) (guard.Approval, error) {
	return Kind.Approve(ctx, st, p, approver, hash)
}
