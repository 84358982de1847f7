package stage

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/notify"
	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/reports"
	"github.com/keyaudit/keyaudit/store"
)

// Notifications are routed by the reconcile that records their events
// (ReconcileParams.Router) and sent by Notify: keyaudit audit sends them
// at its end, keyaudit notify on its own (retries, a test message).

// NotificationFailures reads, for the estate, the sinks whose pending
// notifications failed at least maxAttempts times.
func NotificationFailures(maxAttempts int) func(ctx context.Context, st store.Store) ([]reconcile.NotificationFailure, error) {
	return func(ctx context.Context, st store.Store) ([]reconcile.NotificationFailure, error) {
		by := map[string]*reconcile.NotificationFailure{}
		err := st.Notifications(ctx, store.NotificationFilter{Status: store.NotificationPending, MinAttempts: maxAttempts}, func(n store.Notification) error {
			k := n.Route + "\x00" + n.Sink
			f, ok := by[k]
			if !ok {
				f = &reconcile.NotificationFailure{Route: n.Route, Sink: n.Sink, Oldest: n.Created}
				by[k] = f
			}
			f.Pending++
			f.Attempts = max(f.Attempts, n.Attempts)
			f.LastError = n.LastError
			if n.Created.Before(f.Oldest) {
				f.Oldest = n.Created
			}
			return nil
		})
		out := make([]reconcile.NotificationFailure, 0, len(by))
		for _, f := range by {
			out = append(out, *f)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Route+out[i].Sink < out[j].Route+out[j].Sink })
		return out, err
	}
}

// Notify sends what the outbox holds due now and says how it went on
// env.Stderr. A delivery that fails stays pending for a later attempt.
func Notify(ctx context.Context, env Env, s *notify.Sender) (notify.Result, error) {
	if env.Store == nil {
		return notify.Result{}, fmt.Errorf("notifications wait in the store's outbox: no store")
	}
	if s.Now == nil && env.Now != nil {
		s.Now = env.Now
	}
	if s.Log == nil {
		s.Log = env.Log
	}
	res, err := s.Drain(ctx, env.Store)
	for _, e := range res.Errors {
		fmt.Fprintf(env.stderr(), "keyaudit: notify: %s\n", reports.Printable(e))
	}
	return res, err
}

// notifyStage enqueues the failed stages' notifications, then sends
// everything due: the audit's last step.
func notifyStage(ctx context.Context, env Env, p AuditPlan, auditRun int64, stages []Outcome) Outcome {
	start := time.Now()
	o := Outcome{Stage: "notify", Status: store.StatusComplete}
	var failed []store.Notification
	for _, s := range stages {
		if s.Status != StageFailed && s.Status != store.StatusPartial {
			continue
		}
		run := s.RunID
		if run == 0 {
			run = auditRun
		}
		failed = append(failed, p.Reconcile.Router.StageFailed(notify.StageFailure{Stage: s.Stage, RunID: run, Status: string(s.Status), Note: s.Note}, env.now())...)
	}
	if _, err := env.Store.EnqueueNotifications(ctx, failed); err != nil {
		o.Status, o.Note = StageFailed, err.Error()
		return o
	}
	res, err := Notify(ctx, env, p.Notify)
	o.Note = fmt.Sprintf("%d sent, %d failed", res.Sent, res.Failed)
	switch {
	case err != nil:
		o.Status, o.Note = StageFailed, o.Note+": "+err.Error()
	case res.Failed > 0:
		o.Status = store.StatusPartial
		o.Note += " (kept in the outbox: keyaudit notify retries them)"
		if len(res.Errors) > 0 {
			o.Note += "; " + strings.Join(res.Errors[:min(2, len(res.Errors))], "; ")
		}
	}
	o.Took = time.Since(start)
	o.TookText = o.Took.Round(time.Millisecond).String()
	return o
}

// NotificationColumns are the table and CSV columns of the outbox.
var NotificationColumns = []reports.Column[store.Notification]{
	{Header: "ID", Value: func(n store.Notification) string { return strconv.FormatInt(n.ID, 10) }},
	{Header: "STATUS", Value: func(n store.Notification) string { return n.Status }},
	{Header: "ROUTE", Value: func(n store.Notification) string { return n.Route }},
	{Header: "SINK", Value: func(n store.Notification) string { return n.Sink }},
	{Header: "EVENT", Value: func(n store.Notification) string { return n.Event }},
	{Header: "OWNER", Value: func(n store.Notification) string { return n.Owner }},
	{Header: "ATTEMPTS", Value: func(n store.Notification) string { return strconv.Itoa(n.Attempts) }},
	{Header: "LAST ERROR", Value: func(n store.Notification) string { return n.LastError }},
}
