package inventory

import (
	"context"
	"time"
)

// Destroyer is implemented by the sources whose keys keyaudit can
// destroy: PKCS#11 tokens (C_DestroyObject), KMIP servers (Revoke, then
// Destroy) and AWS KMS (ScheduleKeyDeletion). Only reconcile/destroy
// calls it, for an approved plan, after writing its intent to the audit
// log. A Destroyer acts on exactly the objects it is given, each matched
// to what the source holds now by class, identifier, label and key
// fingerprint: an object that no longer matches is left alone.
type Destroyer interface {
	Destroy(ctx context.Context, r DestroyRequest) []DestroyOutcome
}

// DestroyRequest names the objects of one key — its private key, public
// key and certificate objects — as an inventory read listed them.
type DestroyRequest struct {
	Objects []Key
	// Reason is the revocation reason a KMIP server records before
	// Destroy: RevokeKeyCompromise or RevokeCessation.
	Reason string
	// PendingWindow is AWS KMS's waiting period before deletion (7 to 30
	// days).
	PendingWindow time.Duration
}

// Revocation reasons of a DestroyRequest.
const (
	RevokeKeyCompromise = "key-compromise"
	RevokeCessation     = "cessation-of-operation"
)

// Outcomes of one object.
const (
	DestroyDestroyed   = "destroyed"    // the source destroyed it
	DestroyScheduled   = "scheduled"    // deletion is scheduled (AWS KMS waiting period)
	DestroyAlreadyGone = "already_gone" // the source no longer holds it
	DestroyFailed      = "failed"
)

// DestroyOutcome is what became of one object of a DestroyRequest.
type DestroyOutcome struct {
	Ref     string `json:"ref"`
	Outcome string `json:"outcome"`
	Message string `json:"message,omitempty"`
	// DeletionDate is when a scheduled deletion happens.
	DeletionDate *time.Time `json:"deletion_date,omitempty"`
}
