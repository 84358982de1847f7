package store

import (
	"encoding/json"
	"time"
)

// Finding lifecycle states.
const (
	FindingOpen     = "open"
	FindingResolved = "resolved"
)

// Finding lifecycle events.
const (
	EventOpened    = "opened"
	EventResolved  = "resolved"
	EventReopened  = "reopened"
	EventEscalated = "escalated" // severity rose
)

// FindingRecord is a finding as the store keeps it across reconciles: its
// latest content (Data, a reconcile.Finding as JSON), its state and the
// evidence of its last transition. FirstSeen never moves.
type FindingRecord struct {
	Fingerprint string          `json:"fingerprint"`
	Check       string          `json:"check"`
	Severity    string          `json:"severity"`
	State       string          `json:"state"` // open, resolved
	FirstSeen   time.Time       `json:"first_seen"`
	LastSeen    time.Time       `json:"last_seen"`
	Since       time.Time       `json:"since"`  // when State was entered
	RunID       int64           `json:"run_id"` // the reconcile that last changed it
	Data        json.RawMessage `json:"data"`
	Evidence    json.RawMessage `json:"evidence,omitempty"` // of the last transition
}

// FindingEvent is one transition of a finding.
type FindingEvent struct {
	ID          int64           `json:"id"`
	Fingerprint string          `json:"fingerprint"`
	Time        time.Time       `json:"time"`
	RunID       int64           `json:"run_id"`
	Event       string          `json:"event"`
	Evidence    json.RawMessage `json:"evidence,omitempty"`
	// Notify are the outbox notifications of this event, written in the
	// same transaction (UpdateFindings) so that an event is never
	// recorded without its messages, nor the messages without it.
	Notify []Notification `json:"-"`
}

// FindingFilter selects findings.
type FindingFilter struct {
	State string // open, resolved; empty: any
	Check string
	// ChangedBy keeps the findings whose last transition was made by
	// this reconcile run (0: any).
	ChangedBy int64
}
