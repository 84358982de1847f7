// Package reconcile holds what was seen — certificates served on the
// network, certificates logged in CT, CAA records — against what the
// inventory says exists, and reports the difference as Findings.
//
// It is pure: a Snapshot in, Findings out, no I/O and an injected clock,
// so every check is a table test. Checks live one per file in
// reconcile/checks and register themselves (zlint style); Run executes
// every registered check, applies suppressions and carries first-seen
// dates over from the previous run (drift).
package reconcile
