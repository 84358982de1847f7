package ctlog

import (
	"errors"
	"fmt"
)

// MisbehaviourKind names what a log did wrong.
type MisbehaviourKind string

// Kinds of log misbehaviour.
const (
	// BadSignature: a tree head or checkpoint whose signature does not
	// verify under the log's key (or is missing).
	BadSignature MisbehaviourKind = "bad-signature"
	// RootMismatch: the entries the log served do not hash to the root it
	// signed (an entry inserted, dropped, reordered or changed).
	RootMismatch MisbehaviourKind = "root-mismatch"
	// InconsistentHeads: a new signed head does not extend the last
	// verified one (a fork, a rewritten history, a shrunk tree).
	InconsistentHeads MisbehaviourKind = "inconsistent-heads"
	// Malformed: a signed head, entry or tile that does not parse or has
	// the wrong shape (wrong entry count, wrong leaf index).
	Malformed MisbehaviourKind = "malformed-data"
	// Rollback: the log's signed head moved backwards — it signed a
	// smaller tree after the verified one, or went back to a smaller head
	// and no longer serves what proves the verified tree (its tiles, or a
	// consistency proof to it): a rollback, or a fork to a shorter
	// history. Suspected, not proven: the evidence is both heads.
	Rollback MisbehaviourKind = "suspected-rollback"
	// BadTimestamp: a signed head whose timestamp is further in the
	// future than the allowed clock skew, or older than the verified head
	// although its tree is larger (timestamps and sizes move together).
	BadTimestamp MisbehaviourKind = "bad-timestamp"
	// OriginChanged: the log now signs checkpoints for another origin
	// than the one of its verified head.
	OriginChanged MisbehaviourKind = "origin-changed"
)

// MisbehaviourError reports a log serving something its signed
// commitments contradict. It is evidence: both heads are included. The
// log's position is not moved past it.
type MisbehaviourError struct {
	LogURL string           `json:"log"`
	LogID  string           `json:"log_id"`
	Kind   MisbehaviourKind `json:"kind"`
	// Trusted is the last verified head (nil on first contact); Served is
	// the head the log served that could not be reconciled with it or
	// with the entries (nil when the head itself could not be read).
	Trusted *Head `json:"trusted_head,omitempty"`
	Served  *Head `json:"served_head,omitempty"`
	// Index is the first entry concerned, or -1.
	Index  int64  `json:"index"`
	Detail string `json:"detail"`
	Err    error  `json:"-"`
}

func (e *MisbehaviourError) Error() string {
	s := fmt.Sprintf("ctlog: log misbehaviour: %s: %s: %s", e.LogURL, e.Kind, e.Detail)
	if e.Index >= 0 {
		s += fmt.Sprintf(" (entry %d)", e.Index)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *MisbehaviourError) Unwrap() error { return e.Err }

// ConfigError says what a log serves shows that the configuration does
// not describe it: the URL answers, but not as a CT log (an HTML page or
// random bytes where its signed head belongs) and no head of it was ever
// verified, or its checkpoints are signed for another origin than the one
// configured (--log-origin, the config, the log list). Nothing the log
// signed was contradicted, so it is not misbehaviour: the log could not
// be synced, and its position does not move.
type ConfigError struct {
	LogURL string
	Detail string
	// Served is the head the log served, when it verified (an origin
	// mismatch); nil otherwise.
	Served *Head
	Err    error
}

func (e *ConfigError) Error() string {
	s := fmt.Sprintf("ctlog: %s: %s", e.LogURL, e.Detail)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ConfigError) Unwrap() error { return e.Err }

// FetchError is a request to a log that failed after retries.
type FetchError struct {
	URL    string
	Status int // HTTP status, 0 when no response
	Err    error
}

func (e *FetchError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("ctlog: fetch %s: HTTP %d: %v", e.URL, e.Status, e.Err)
	}
	return fmt.Sprintf("ctlog: fetch %s: %v", e.URL, e.Err)
}

func (e *FetchError) Unwrap() error { return e.Err }

// ErrNotFound is a 404 from a log.
var ErrNotFound = errors.New("not found")

// ErrTooLarge is a response beyond the size cap.
var ErrTooLarge = errors.New("response too large")

// IsMisbehaviour reports whether err carries a *MisbehaviourError.
func IsMisbehaviour(err error) bool {
	var m *MisbehaviourError
	return errors.As(err, &m)
}
