// Package revoke plans, approves and executes certificate revocations,
// and keeps the whole story in the store's append-only audit log.
//
// The life of a revocation:
//
//  1. A Plan is built from findings that policy marks revocable
//     (FromFindings: by default unauthorized-issuance and weak-key) or from
//     certificates named explicitly (FromCertificates). Each Action names
//     the certificate (sha256, serial, issuer, names, and the PEM itself),
//     the RFC 5280 §5.3.1 reason, the findings that justify it and the
//     executor that will carry it out. The plan's Hash is the SHA-256 of
//     its canonical JSON; Record writes the plan to the audit log
//     ("revoke.plan_created").
//  2. Approve binds an approver's identity to the exact plan hash
//     ("revoke.approved"). An approval naming another hash, a plan whose
//     content no longer matches the hash recorded at creation, or a plan
//     the store never saw, is refused ("revoke.approval_refused").
//  3. Execute refuses a plan without a matching approval
//     ("revoke.refused") and is a dry run unless ExecOptions.Apply is set.
//     When applying, it writes the intent ("revoke.attempt") before calling
//     the CA — a failed write means no call — and the outcome after
//     ("revoke.revoked", "revoke.already_revoked", "revoke.failed").
//     Certificates the audit log already shows revoked are not sent again.
//  4. Revocations reads the recorded revocations back as
//     reconcile.Revocation values, for the revoked-but-deployed check.
//
// Executors: ACME (RFC 8555 §7.6 revokeCert through
// golang.org/x/crypto/acme, signed with the account key or with the
// certificate's own key) and an exec hook for CAs without ACME. Secrets
// (account keys, certificate keys) never reach the plan, the audit log or
// a hook's environment.
package revoke
