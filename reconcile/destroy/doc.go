// Package destroy plans, approves, executes and verifies the destruction
// of keys held in HSMs and key managers, and keeps the whole story in the
// store's append-only audit log, beside revocations (package guard).
//
// The life of a destruction:
//
//  1. Build proposes keys from the estate (a reconcile.Snapshot): keys
//     orphaned — served nowhere and in no unexpired CT certificate —
//     for longer than a policy age, keys past their cryptoperiod, keys a
//     key manager marks compromised, and keys the operator names. A key
//     whose SPKI is served, or is in a CT-logged certificate that has not
//     expired, is never proposed; nor is any key when the estate lacks a
//     complete scan or its CT input is partial (absence proves nothing
//     then). Each Action names the inventory source and every object of
//     the key there (private key, public key, certificate), the grounds,
//     and the executor (pkcs11, kmip, awskms). The plan's hash covers all
//     of it; Record writes it to the audit log ("destroy.plan_created").
//  2. Approve binds an approver to the exact hash ("destroy.approved").
//  3. Execute refuses a plan without a matching approval, and is a dry
//     run unless told to apply. It re-checks, against the estate as it is
//     at execution time, that no key of the plan is in use; a key that is
//     is refused ("destroy.refused_in_use") and left alone. It writes the
//     intent ("destroy.attempt") before calling the source — a failed
//     write means no call — and the outcome after ("destroy.destroyed",
//     "destroy.scheduled", "destroy.failed").
//  4. Verify reads the source again: the key is verified gone
//     ("destroy.verified") only when a complete read lists none of its
//     objects; otherwise "destroy.unverified" says what remains. Until a
//     destruction is verified, reconcile's key-destruction-unverified
//     finding stays open; a key destroyed by an approved plan does not
//     raise key-disappeared.
//
// Key material never passes through this package: the sources destroy
// objects by handle or identifier inside the HSM or key manager.
package destroy
