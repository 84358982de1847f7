package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyaudit/keyaudit/reconcile"
	"github.com/keyaudit/keyaudit/store"
)

// Router turns events into the notifications of the routes they match.
type Router struct {
	cfg    Config
	owners map[string]Owner
}

// NewRouter checks the owners and the notify section and builds their
// router. A nil *Router routes nothing.
func NewRouter(c Config, owners []Owner) (*Router, error) {
	if err := CheckOwners(owners); err != nil {
		return nil, err
	}
	if err := c.Check(owners); err != nil {
		return nil, err
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	r := &Router{cfg: c, owners: map[string]Owner{}}
	for _, o := range owners {
		r.owners[o.Name] = o
	}
	return r, nil
}

// MaxAttempts is how many failed attempts make a notification failing.
func (r *Router) MaxAttempts() int {
	if r == nil {
		return DefaultMaxAttempts
	}
	return r.cfg.MaxAttempts
}

// Lease is how long a sender holds a notification it sends.
func (r *Router) Lease() time.Duration {
	if r == nil || r.cfg.Lease == 0 {
		return DefaultLease
	}
	return r.cfg.Lease
}

// Sink returns the configured sink named name.
func (r *Router) Sink(name string) (Sink, bool) {
	if r == nil {
		return Sink{}, false
	}
	s, ok := r.cfg.Sinks[name]
	return s, ok
}

// Payload is what every notification carries (a webhook's JSON body).
type Payload struct {
	// ID is the idempotency key: the same event for the same route and
	// sink always has the same ID.
	ID    string    `json:"id"`
	Event string    `json:"event"`
	Time  time.Time `json:"time"`
	Route string    `json:"route"`
	RunID int64     `json:"run_id,omitempty"`
	// Finding is the finding the event is about (finding events).
	Finding     *reconcile.Finding `json:"finding,omitempty"`
	Fingerprint string             `json:"fingerprint,omitempty"`
	// Evidence is the transition's: why it resolved, what it was before.
	Evidence map[string]any `json:"evidence,omitempty"`
	Owner    *Owner         `json:"owner,omitempty"`
	// Contacts are further contacts for the event: the CAA iodef of the
	// domain of an unauthorized issuance.
	Contacts []string `json:"contacts,omitempty"`
	// Fix is the check's advice.
	Fix string `json:"fix,omitempty"`
	// Stage is the failed stage (stage-failed events).
	Stage *StageFailure `json:"stage,omitempty"`
	// Digest holds a daily digest's events (digest events).
	Digest *Digest `json:"digest,omitempty"`
}

// StageFailure is a stage that failed or ended partial.
type StageFailure struct {
	Stage  string `json:"stage"`
	RunID  int64  `json:"run_id,omitempty"`
	Status string `json:"status"`
	Note   string `json:"note,omitempty"`
}

// Summary is the event in one line.
func (p Payload) Summary() string {
	switch {
	case p.Finding != nil:
		f := p.Finding
		s := fmt.Sprintf("keyaudit: %s %s %s: %s", p.Event, f.Severity, f.Check, f.Subject)
		if f.Endpoint != "" {
			s += " at " + f.Endpoint
		}
		return s
	case p.Stage != nil:
		return fmt.Sprintf("keyaudit: stage %s %s", p.Stage.Stage, p.Stage.Status)
	case p.Digest != nil:
		owner := "findings without an owner"
		if p.Owner != nil {
			owner = p.Owner.Name
		}
		return fmt.Sprintf("keyaudit: daily digest for %s: %d events", owner, len(p.Digest.Items))
	}
	return "keyaudit: " + p.Event
}

// Key is the idempotency key of an event for a route's sink.
func Key(route, sink, event, subject string, runID int64) string {
	h := sha256.Sum256([]byte(strings.Join([]string{route, sink, event, subject, fmt.Sprint(runID)}, "\x00")))
	return "ka-" + hex.EncodeToString(h[:16])
}

func (r *Router) routeMatches(rt Route, event string, f *reconcile.Finding) bool {
	events := rt.Events
	if len(events) == 0 {
		events = DefaultEvents
	}
	if !slices.Contains(events, event) {
		return false
	}
	if f == nil {
		return len(rt.Checks) == 0 && len(rt.Domains) == 0 && (len(rt.Owners) == 0 || slices.Contains(rt.Owners, "-"))
	}
	if f.Suppressed {
		return false // suppressed findings never notify
	}
	if rt.Severity != "" {
		min, _ := reconcile.ParseSeverity(rt.Severity)
		if f.Severity.Rank() < min.Rank() {
			return false
		}
	}
	if len(rt.Checks) > 0 && !slices.Contains(rt.Checks, f.Check) {
		return false
	}
	if len(rt.Owners) > 0 {
		owner := f.Owner
		if owner == "" {
			owner = "-"
		}
		if !slices.Contains(rt.Owners, owner) {
			return false
		}
	}
	if len(rt.Domains) > 0 {
		host, _ := endpointHost(f.Endpoint)
		names := []string{host, subjectName(f.Subject)}
		ok := false
		for _, d := range rt.Domains {
			d = strings.ToLower(strings.TrimSuffix(d, "."))
			for _, n := range names {
				ok = ok || n != "" && (n == d || strings.HasSuffix(n, "."+d))
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (r *Router) build(rt Route, p Payload, subject string, created time.Time) []store.Notification {
	var out []store.Notification
	for _, sink := range rt.Sinks {
		if p.Finding != nil && p.Finding.Check == FailedCheck && strings.HasSuffix(p.Finding.Subject, "/"+sink) {
			continue // a failing sink is not told of its own failure
		}
		q := p
		q.Route, q.ID = rt.Name, Key(rt.Name, sink, p.Event, subject, p.RunID)
		b, err := json.Marshal(q)
		if err != nil {
			continue // a finding always encodes
		}
		owner := ""
		if p.Owner != nil {
			owner = p.Owner.Name
		}
		out = append(out, store.Notification{Key: q.ID, Route: rt.Name, Sink: sink, Event: p.Event, Fingerprint: p.Fingerprint,
			Owner: owner, Payload: b, Created: created, NextAttempt: created})
	}
	return out
}

// Notifications are the outbox notifications of one finding event of
// reconcile run runID: one per sink of every route it matches.
func (r *Router) Notifications(t reconcile.Transition, runID int64, now time.Time) []store.Notification {
	if r == nil {
		return nil
	}
	f := t.Finding
	var out []store.Notification
	for _, rt := range r.cfg.Routes {
		if rt.Digest != "" || !r.routeMatches(rt, t.Event, &f) {
			continue // a digest route sends the day's events at its hour (EnqueueDigests)
		}
		p := Payload{Event: t.Event, Time: now.UTC(), RunID: runID, Finding: &f, Fingerprint: t.Fingerprint, Evidence: t.Evidence}
		if o, ok := r.owners[f.Owner]; ok {
			p.Owner = &o
		} else if f.Owner != "" {
			p.Owner = &Owner{Name: f.Owner}
		}
		if c, ok := reconcile.Lookup(f.Check); ok {
			p.Fix = c.Help
		}
		if iodef, ok := f.Evidence["iodef"].([]string); ok {
			p.Contacts = iodef
		} else if list, ok := f.Evidence["iodef"].([]any); ok {
			for _, v := range list {
				if s, ok := v.(string); ok {
					p.Contacts = append(p.Contacts, s)
				}
			}
		}
		out = append(out, r.build(rt, p, t.Fingerprint, now.UTC())...)
	}
	return out
}

// StageFailed are the notifications of a stage of run runID that ended
// failed or partial, for the routes that take stage-failed events
// (routes restricted to checks or domains do not).
func (r *Router) StageFailed(sf StageFailure, now time.Time) []store.Notification {
	if r == nil {
		return nil
	}
	var out []store.Notification
	for _, rt := range r.cfg.Routes {
		if !r.routeMatches(rt, EventStageFailed, nil) {
			continue
		}
		p := Payload{Event: EventStageFailed, Time: now.UTC(), RunID: sf.RunID, Stage: &sf}
		out = append(out, r.build(rt, p, "stage:"+sf.Stage, now.UTC())...)
	}
	return out
}

// Test is a sample event for every sink of route name, sent through the
// outbox like any other (each call a new event).
func (r *Router) Test(name string, now time.Time) ([]store.Notification, error) {
	if r != nil {
		for _, rt := range r.cfg.Routes {
			if rt.Name != name {
				continue
			}
			f := reconcile.Finding{Check: "unauthorized-issuance", Severity: reconcile.Critical, Subject: "test.example.invalid",
				Message: "a test notification from keyaudit notify test: nothing is wrong", FirstSeen: now.UTC()}
			if len(rt.Owners) > 0 && rt.Owners[0] != "-" {
				f.Owner = rt.Owners[0]
			}
			p := Payload{Event: EventTest, Time: now.UTC(), Finding: &f, Fingerprint: f.Fingerprint()}
			if o, ok := r.owners[f.Owner]; ok {
				p.Owner = &o
			}
			return r.build(rt, p, "test:"+now.UTC().Format(time.RFC3339Nano), now.UTC()), nil
		}
	}
	return nil, fmt.Errorf("notify: no route named %q", name)
}

// FailedCheck is the check that reports failing notifications.
const FailedCheck = "notification-failed"
