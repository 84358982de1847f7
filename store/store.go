package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ErrNotFound is returned when a run, cursor or item does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrRunClosed is returned by Heartbeat for a run that is no longer
// running.
var ErrRunClosed = errors.New("store: run is no longer running")

// ErrNoStore is returned when a read-only open names a store that does
// not exist.
var ErrNoStore = errors.New("store: no store at this path")

// RunStatus is the outcome of a run.
type RunStatus string

// Run statuses. A run that is still "running" with no end time after its
// process died is incomplete: it keeps what it wrote.
const (
	StatusRunning     RunStatus = "running"
	StatusComplete    RunStatus = "complete"
	StatusPartial     RunStatus = "partial"     // ran, but some sources or stages failed
	StatusInterrupted RunStatus = "interrupted" // cancelled (signal, deadline) before the end
	StatusFailed      RunStatus = "failed"      // could not do its job
	// StatusAbandoned is a run whose holder stopped renewing its lease
	// (the process died): marked so by the next process that looks
	// (AbandonStale). What it wrote is kept but never read as evidence.
	StatusAbandoned RunStatus = "abandoned"
)

// Finished lists the statuses of runs that ended with their holder alive
// (every status but running and abandoned).
var Finished = []RunStatus{StatusComplete, StatusPartial, StatusInterrupted, StatusFailed}

// Complete reports whether s means every part of the run finished.
func (s RunStatus) Complete() bool { return s == StatusComplete }

// Item kinds written by keyaudit's producers.
const (
	KindObservation = "observation" // records.Observation
	// KindKey is one key of an inventory (records.Key), keyed
	// "<source name>|<ref>": the name of the source that listed it (the
	// key of its KindSourceStatus item) and its Ref, so readers tell
	// which source a key came from. Runs from before per-source statuses
	// keyed it by Ref alone.
	KindKey = "key" // records.Key
	KindCAA = "caa" // records.CAAResult
	// KindSighting is a records.Sighting; the item carries the
	// certificate's DER (Item.DER; in Data as "der", base64, in stores
	// written between the two changes of 2026-12; records.ItemDER reads
	// both).
	KindSighting = "sighting"
	KindFinding  = "finding" // reconcile.Finding
	// KindSourceError is how an inventory source that failed ended, in
	// runs from before KindSourceStatus; no longer written.
	KindSourceError = "source_error"
	// KindCertificate holds one certificate's DER (Item.DER, Data {};
	// Data {"der": base64} in older stores), keyed by its sha256, once per
	// run: scans and reconciles write them, CT runs before 2026-12 did.
	KindCertificate = "certificate"
	// KindSourceStatus is how one inventory source ended in a run
	// (inventory.Result), keyed by source name: the estate view takes a
	// source's keys from its latest complete read.
	KindSourceStatus = "source_status"
	// KindLogStatus is how one CT log ended in a sync (ok or an issue),
	// keyed by log URL.
	KindLogStatus = "log_status"
	// KindStage is one stage of an audit run.
	KindStage = "stage"
)

// Run is one execution of a keyaudit command that produces records.
type Run struct {
	ID      int64     `json:"id"`
	Kind    string    `json:"kind"`  // scan, inventory, caa, ct, reconcile, audit
	Group   string    `json:"group"` // shards of one logical run share a group
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
	Status  RunStatus `json:"status"`
	Note    string    `json:"note,omitempty"`
	// Meta is free-form JSON describing the run (arguments, shard, host).
	Meta json.RawMessage `json:"meta,omitempty"`
	// Holder names the process holding the run (host:pid); Heartbeat is
	// when it last renewed its lease.
	Holder    string    `json:"holder,omitempty"`
	Heartbeat time.Time `json:"heartbeat,omitzero"`
}

// RunSpec describes a run to begin.
type RunSpec struct {
	Kind   string
	Group  string
	Meta   any
	Holder string // host:pid; Recorder fills it in
}

// Item is one record of a run.
type Item struct {
	Kind       string
	Key        string // natural key within (run, kind); a later Put with the same key replaces
	SPKISHA256 string
	CertSHA256 string
	Data       json.RawMessage
	// DER is the certificate an item carries (CT sightings, certificate
	// items), stored as bytes beside Data rather than as base64 inside
	// it: a quarter fewer bytes to write, and nothing to encode. nil for
	// the other kinds, and for items written before it existed (their
	// DER, if any, is in Data; records.ItemDER reads both).
	DER []byte
}

// RunFilter selects runs.
type RunFilter struct {
	Kind   string
	Group  string
	Status []RunStatus // empty: any
	Limit  int         // 0: no limit
}

// AuditEntry is one line of the append-only audit log.
type AuditEntry struct {
	ID     int64           `json:"id"`
	Time   time.Time       `json:"time"`
	Actor  string          `json:"actor"`
	Action string          `json:"action"`
	Target string          `json:"target"`
	Detail json.RawMessage `json:"detail,omitempty"`
	// PrevHash and Hash chain the entry to the one before it (see
	// ChainEntry). Entries written before the chain existed have neither.
	PrevHash string `json:"prev_hash,omitempty"`
	Hash     string `json:"hash,omitempty"`
}

// Store is implemented by every backend. All methods are safe for
// concurrent use.
type Store interface {
	BeginRun(ctx context.Context, spec RunSpec) (Run, error)
	FinishRun(ctx context.Context, id int64, status RunStatus, note string) error
	GetRun(ctx context.Context, id int64) (Run, error)
	// Runs lists runs, newest first.
	Runs(ctx context.Context, f RunFilter) ([]Run, error)
	// Heartbeat renews the lease of a running run. It returns ErrRunClosed
	// when the run is no longer running (another process found its
	// lease expired and marked it abandoned).
	Heartbeat(ctx context.Context, id int64) error
	// AbandonStale marks every running run whose last heartbeat is older
	// than lease as abandoned, and returns them.
	AbandonStale(ctx context.Context, lease time.Duration) ([]Run, error)

	// KindItems calls fn for every item of kind written by a run whose
	// status is one of statuses, ordered by item key, then run, then
	// insertion: the history of each key in turn, for the estate view.
	KindItems(ctx context.Context, kind string, statuses []RunStatus, fn func(runID int64, it Item) error) error
	// LatestItems is KindItems over the runs of runKind, keeping for each
	// key only its latest n items (by run, then insertion) and telling fn
	// the key's first run among them: the estate view reads what it needs
	// of each key's history, not all of it, however many runs the store
	// holds.
	LatestItems(ctx context.Context, runKind, kind string, statuses []RunStatus, n int, fn func(runID, firstRun int64, it Item) error) error

	// Put writes items of a run in one transaction.
	Put(ctx context.Context, runID int64, items ...Item) error
	// Items calls fn for each item of kind in run, in insertion order,
	// streaming (memory does not grow with the run's size).
	Items(ctx context.Context, runID int64, kind string, fn func(Item) error) error
	// Count returns the number of items of kind in run.
	Count(ctx context.Context, runID int64, kind string) (int64, error)

	// Cursor returns the saved position named name (a CT log's verified
	// tree state, say), or ErrNotFound.
	Cursor(ctx context.Context, name string) ([]byte, error)
	// Advance writes items and moves cursor name to value in one
	// transaction, so a crash leaves either both or neither.
	Advance(ctx context.Context, runID int64, name string, value []byte, items ...Item) error

	// AppendAudit appends to the audit log; entries are never changed.
	// The backend assigns the ID and chains the entry to the last one
	// (ChainEntry) in the transaction that inserts it, so concurrent
	// appenders cannot fork the chain. It returns the entry as stored.
	AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	// Audit calls fn for every audit entry, oldest first.
	Audit(ctx context.Context, fn func(AuditEntry) error) error

	// Findings calls fn for every stored finding (FindingFilter selects).
	Findings(ctx context.Context, f FindingFilter, fn func(FindingRecord) error) error
	// FindingEvents calls fn for the lifecycle events of a finding
	// (every finding when fingerprint is empty), oldest first.
	FindingEvents(ctx context.Context, fingerprint string, fn func(FindingEvent) error) error
	// UpdateFindings runs fn with the stored findings of checks (every
	// check when empty) in one exclusive write transaction and writes
	// what it returns: concurrent reconciles are serialised, each seeing
	// the other's result.
	UpdateFindings(ctx context.Context, checks []string, fn func(current map[string]FindingRecord) ([]FindingRecord, []FindingEvent, error)) error

	// EnqueueNotifications adds notifications to the outbox outside a
	// findings update (a failed stage, a test message); UpdateFindings
	// adds those of its events (FindingEvent.Notify) in its own
	// transaction. A notification whose Key the store holds already is
	// left as it is. It returns how many were added.
	EnqueueNotifications(ctx context.Context, ns []Notification) (int, error)
	// ClaimNotifications leases to holder, until now+lease, up to limit
	// pending notifications due at now (NextAttempt not after now) that no
	// other holder's lease covers, oldest first. Two senders never hold
	// one notification at once; a sender that dies loses its lease.
	ClaimNotifications(ctx context.Context, holder string, now time.Time, lease time.Duration, limit int) ([]Notification, error)
	// FinishNotification records one attempt of notification id at time
	// at: sent, or failed with errMsg and retried from next. The lease
	// ends.
	FinishNotification(ctx context.Context, id int64, sent bool, errMsg string, at, next time.Time) error
	// Notifications calls fn for the outbox's notifications (the filter
	// selects), oldest first.
	Notifications(ctx context.Context, f NotificationFilter, fn func(Notification) error) error

	Close() error
}

// Latest returns the newest run of kind whose status is one of statuses
// (any status when none is given), or ErrNotFound.
func Latest(ctx context.Context, s Store, kind string, statuses ...RunStatus) (Run, error) {
	runs, err := s.Runs(ctx, RunFilter{Kind: kind, Status: statuses, Limit: 1})
	if err != nil {
		return Run{}, err
	}
	if len(runs) == 0 {
		return Run{}, ErrNotFound
	}
	return runs[0], nil
}

// PutJSON marshals v and writes it as one item.
func PutJSON(ctx context.Context, s Store, runID int64, kind, key, spki, cert string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.Put(ctx, runID, Item{Kind: kind, Key: key, SPKISHA256: spki, CertSHA256: cert, Data: b})
}
