package store

import (
	"encoding/json"
	"time"
)

// Notification statuses. A notification stays pending until a sink
// accepted it; failures only push its next attempt back.
const (
	NotificationPending = "pending"
	NotificationSent    = "sent"
)

// Notification is one message in the outbox: an event (a finding
// opened, reopened, escalated or resolved; a stage that failed) for one
// sink of one route. It is written in the transaction that records the
// event (FindingEvent.Notify) and sent afterwards, so a crash between
// the two loses nothing; Key, its idempotency key, is unique in the
// store and travels with the message (a webhook header, the e-mail
// Message-ID), so a message sent again after a crash between sending and
// marking it sent is recognised by its receiver.
type Notification struct {
	ID          int64           `json:"id"`
	Key         string          `json:"key"`
	Route       string          `json:"route"`
	Sink        string          `json:"sink"`
	Event       string          `json:"event"`
	Fingerprint string          `json:"fingerprint,omitempty"`
	Owner       string          `json:"owner,omitempty"`
	Payload     json.RawMessage `json:"payload"`
	Created     time.Time       `json:"created"`
	Status      string          `json:"status"`
	Attempts    int             `json:"attempts"`
	NextAttempt time.Time       `json:"next_attempt"`
	LastError   string          `json:"last_error,omitempty"`
	SentAt      time.Time       `json:"sent_at,omitzero"`
}

// NotificationFilter selects notifications.
type NotificationFilter struct {
	Status string // pending, sent; empty: any
	Route  string
	// MinAttempts keeps those attempted at least this often (0: any).
	MinAttempts int
}
